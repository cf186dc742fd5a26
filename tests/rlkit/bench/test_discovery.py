"""rlkit bench discovery, shrunk to seconds: the table agrees with the per-seed runs it summarises, every
expression it reports is proved again independently, bad options are named."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import sympy

from rlkit.bench import discovery, run_suite


def test_tiny_suite_writes_a_table_that_matches_its_runs(tmp_path):
    out = run_suite("discovery", ["cases=[stable_linear:strict]", "seeds=2", "iterations=30", "batch_size=100",
                                  "max_length=9", "learning_rate=3e-3", "workers=1", f"runs_root={tmp_path}"])
    table = pd.read_csv(out / "results.csv")
    runs = json.loads((out / "runs.json").read_text())
    assert list(table.columns) == discovery.COLUMNS and len(runs) == 2
    row = table.iloc[0]
    found = [r for r in runs if r["verified"]]
    assert row["verified"] == f"{len(found)}/2" and row["success_rate"] == len(found) / 2
    assert len(found) >= 1  # the stable linear system is the easy case
    assert row["median_s_to_verified"] == pytest.approx(float(np.median([r["search_s"] for r in found])))
    from agents.lyapunov_discovery.verifier import verify
    from envs.control.autonomous import make_system

    system = make_system("stable_linear")
    states, rhs = system.symbolic_f()
    for r in found:  # each reported function, parsed from the table's text, is proved again
        V = sympy.sympify(r["expression"], locals={str(s): s for s in states})
        assert r["expression"] in row["expressions"]
        assert verify(V, states, rhs, *system.region).holds
    assert (out / "success.png").read_bytes()[:4] == b"\x89PNG"


def test_summary_on_known_runs():
    runs = [{"system": "s", "decrease": "weak", "seed": k, "states": 2, "verified": k < 2, "iterations_run": 10,
             "search_s": 1.0 + k, "wall_s": 2.0, **({"expression": "x1**2", "iteration": 3 + k, "z3": "proved",
                                                     "refused": 1} if k < 2 else {})} for k in range(4)]
    (row,) = discovery.summarise(runs)
    assert row["verified"] == "2/4" and row["success_rate"] == 0.5
    assert row["median_s_to_verified"] == 1.5 and (row["min_s"], row["max_s"]) == (1.0, 2.0)
    assert row["median_iteration"] == 3.5 and row["refused_by_verifier"] == 2
    assert row["s_per_iteration"] == pytest.approx((1 + 2 + 3 + 4) / 40) and row["expressions"] == "x1**2 (x2)"


def test_bad_options_are_named(tmp_path):
    with pytest.raises(ValueError, match="a case is <system>:<decrease>"):
        discovery.run(tmp_path, cases=["lorenz:strict"])
    with pytest.raises(ValueError, match="seeds must be an integer >= 1"):
        discovery.run(tmp_path, seeds=0)
