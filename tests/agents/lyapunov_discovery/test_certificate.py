"""agents.lyapunov_discovery.certificate: a verified expression round-trips through certificate.json and
is proved again; a tampered expression, other dynamics and malformed files are refused by name."""

from __future__ import annotations

import json

import pytest
import sympy

from agents.lyapunov_discovery import certificate as certificates
from agents.lyapunov_discovery.sympy_form import to_tokens
from agents.lyapunov_discovery.verifier import verify
from envs.control.autonomous import Polynomial3D, StableLinear


def certified(tmp_path):
    system = Polynomial3D()
    states, rhs = system.symbolic_f()
    V = states[0] ** 2 + states[1] ** 2 + states[2] ** 2
    result = verify(V, states, rhs, *system.region)
    path = certificates.write(tmp_path / "certificate.json", certificates.build(system, V, result, 0.05, 30))
    return system, V, path


def test_round_trip_and_recheck(tmp_path):
    system, V, path = certified(tmp_path)
    certificate = certificates.read(path)
    assert certificate["expression"] == "x1**2 + x2**2 + x3**2" and certificate["result"]["holds"]
    holds, problems, result = certificates.recheck(certificate, system)
    assert holds and problems == [] and result.verified == certificate["result"]["verified"]


def test_tampering_and_bad_files_are_refused(tmp_path):
    system, V, path = certified(tmp_path)
    certificate = certificates.read(path)
    x1 = sympy.Symbol("x1", real=True)
    tampered = dict(certificate, expression_tokens=to_tokens(x1**2))  # not positive definite in 3-D
    holds, problems, _ = certificates.recheck(tampered, system)
    assert not holds and any("does not prove it again" in problem for problem in problems)
    holds, problems, _ = certificates.recheck(certificate, StableLinear())
    assert not holds and "for polynomial_3d, not stable_linear" in problems[0]

    class Changed(Polynomial3D):  # the same name, other dynamics
        def _rhs(self, x, xp):
            return -x[0], -x[1], -2.0 * x[2]

    holds, problems, _ = certificates.recheck(certificate, Changed())
    assert not holds and "dynamics differ from the certified ones" in problems[0]
    with pytest.raises(ValueError, match="no certificate at"):
        certificates.read(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="is not valid JSON"):
        certificates.read(tmp_path / "bad.json")
    (tmp_path / "partial.json").write_text(json.dumps({"version": 1}))
    with pytest.raises(ValueError, match="lacks .*not a Lyapunov-discovery certificate"):
        certificates.read(tmp_path / "partial.json")
