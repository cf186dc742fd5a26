"""The certificate of a discovered Lyapunov function: the expression in SymPy form (exact ``srepr`` and
readable ``str``), the system's name and its SymPy right-hand side, the region (box and ball), the
decrease proved (strict: asymptotic stability; weak: stability), the verifier's counts and wall time.
:func:`recheck` rebuilds the expression from the file and runs the verifier again against the system as
the code defines it now: the certificate holds only if the stated dynamics still match and the proof
goes through again. Nothing in the file is evaluated: the expression is read by a strict parser of
its ``srepr`` (:mod:`agents.lyapunov_discovery.sympy_form`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from agents.lyapunov_discovery.sympy_form import parse_srepr
from agents.lyapunov_discovery.verifier import VerificationResult, verify
from agents.verification.certificates import read_certificate, write_certificate

VERSION = 2
BACKEND = ("rlkit interval branch and bound on SymPy expressions, float64 with outward rounding "
           "(np.nextafter), dV/dt differentiated by SymPy")
REQUIRED = ("version", "backend", "system", "dynamics", "expression_srepr", "box_low", "box_high", "ball",
            "decrease", "max_depth", "result")
CLAIMS = {"strict": "V > 0 and dV/dt < 0 on the box outside the ball (asymptotic stability)",
          "weak": "V > 0 and dV/dt <= 0 on the box outside the ball (stability in Lyapunov's sense)"}


def build(system: Any, expression: Any, result: VerificationResult, ball: float, max_depth: int,
          decrease: str = "strict", **extra: Any) -> dict[str, Any]:
    """The certificate of ``expression`` (in the system's state symbols) for ``system`` (an autonomous
    system) as a JSON-ready dict; ``extra`` entries (e.g. z3's verdict, the search's statistics) are kept."""
    import sympy

    _, rhs = system.symbolic_f()
    low, high = system.region
    return {"version": VERSION, "backend": BACKEND, "system": system.name,
            "dynamics": [sympy.srepr(f) for f in rhs], "expression": str(expression),
            "expression_srepr": sympy.srepr(expression), "box_low": low.tolist(), "box_high": high.tolist(),
            "ball": ball, "decrease": decrease, "claim": CLAIMS[decrease], "max_depth": max_depth,
            "result": {"holds": result.holds, "verified": result.verified, "falsified": result.falsified,
                       "timeouts": result.timeouts, "excluded": result.excluded, "wall_s": round(result.wall_s, 4)},
            **extra}


def write(path: Any, certificate: dict[str, Any]) -> Path:
    """Write ``certificate`` to ``path`` (atomically)."""
    return write_certificate(path, certificate)


def read(path: Any) -> dict[str, Any]:
    """A certificate file; a ValueError naming what is missing or malformed."""
    return read_certificate(path, REQUIRED, "Lyapunov-discovery", version=VERSION, finite=("ball",))


def expression_of(certificate: dict[str, Any], system: Any) -> Any:
    """The certified V rebuilt from its ``srepr`` by a strict parser (nothing in the file is
    evaluated: :func:`~agents.lyapunov_discovery.sympy_form.parse_srepr`), in ``system``'s state
    symbols."""
    states, _ = system.symbolic_f()
    return parse_srepr(certificate["expression_srepr"], states)


def recheck(certificate: dict[str, Any], system: Any) -> tuple[bool, list[str], VerificationResult | None]:
    """(holds, problems, the new verification) for ``certificate`` against ``system``."""
    import sympy

    problems = []
    if certificate["system"] != system.name:
        problems.append(f"the certificate is for {certificate['system']}, not {system.name}")
    states, rhs = system.symbolic_f()
    if [sympy.srepr(f) for f in rhs] != certificate["dynamics"]:
        problems.append(f"{system.name}'s dynamics differ from the certified ones")
    if problems:
        return False, problems, None
    expression = expression_of(certificate, system)
    result = verify(expression, states, rhs, np.asarray(certificate["box_low"]), np.asarray(certificate["box_high"]),
                    ball=certificate["ball"], max_depth=certificate["max_depth"], decrease=certificate["decrease"])
    if not result.holds:
        problems.append(f"the verifier does not prove it again ({result.falsified} falsified, "
                        f"{result.timeouts} timed-out boxes)")
    return not problems, problems, result
