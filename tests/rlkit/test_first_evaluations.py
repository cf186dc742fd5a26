"""The same seed gives the same run across a rebuild of rlkit's internals: one small run per agent
family, its evaluation rows compared digit for digit with those recorded before the rebuild
(``first_evaluations.py`` says how they were recorded and when to record them again)."""

import json

import pytest

from first_evaluations import CASES, RECORD, evaluation_rows

RECORDED = json.loads(RECORD.read_text())["cases"]


def test_every_case_has_a_record():
    assert sorted(RECORDED) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_run_evaluates_exactly_as_recorded(name, tmp_path):
    assert evaluation_rows(name, tmp_path) == RECORDED[name]
