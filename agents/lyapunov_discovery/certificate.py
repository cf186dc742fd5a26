"""The certificate of a discovered Lyapunov function: the expression as a token sequence (exact, see
:mod:`agents.lyapunov_discovery.sympy_form`) and its readable ``str``, the system's name and its SymPy
right-hand side, the region (box and ball), the decrease proved (strict or weak), the claim in words
(:data:`CLAIMS`), the verifier's counts and wall time. :func:`recheck` checks the whole claim from the
file against the system as the code defines it now: the stated dynamics match; ``V(0) = 0`` exactly; the readable ``expression`` is the proved one
(recomputed from the tokens); the region is not vacuous (``0 <= ball <= MAX_BALL``, a share of the
box's half-width per dimension, and at least one box verified); the claim text is the one for the stated
decrease; and the verifier proves it again. Nothing in the file is evaluated: the expression is rebuilt
token by token (:func:`~agents.lyapunov_discovery.sympy_form.parse_tokens`); the dynamics' ``srepr``
strings are only compared with the system's, never parsed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from agents.lyapunov_discovery.sympy_form import parse_tokens, to_tokens
from agents.lyapunov_discovery.verifier import VerificationResult, verify
from agents.verification.certificates import read_certificate, write_certificate

VERSION = 3  # 2: the claim said "asymptotic stability"; V(0), the readable form and the ball were not checked
BACKEND = ("rlkit interval branch and bound on SymPy expressions, float64 with outward rounding "
           "(np.nextafter), dV/dt differentiated by SymPy")
REQUIRED = ("version", "backend", "system", "dynamics", "expression_tokens", "box_low", "box_high", "ball",
            "decrease", "max_depth", "result")
MAX_DEPTH = 200  # splits per box a certificate may ask the re-check for
MAX_BALL = 0.1  # the excluded ball may be at most this share of the box's half-width (per dimension)
CLAIMS = {
    "strict": ("V(0) = 0, and at every x of the box B outside the ball |x_i| <= r_i (r = ball x the box's "
               "half-width per dimension): V(x) > 0 and dV/dt(x) < 0. Hence every trajectory that stays in B "
               "reaches the ball in finite time. No sublevel set of V is certified to lie in B, so this is no "
               "region of attraction, and nothing is claimed inside the ball (asymptotic stability of 0 is "
               "not proved)"),
    "weak": ("V(0) = 0, and at every x of the box B outside the ball |x_i| <= r_i (r = ball x the box's "
             "half-width per dimension): V(x) > 0 and dV/dt(x) <= 0. Hence V does not increase along a "
             "trajectory while it is in B outside the ball. No convergence is claimed, nothing inside the "
             "ball, and no sublevel set of V is certified to lie in B (stability of 0 is not proved)"),
}


def build(system: Any, expression: Any, result: VerificationResult, ball: float, max_depth: int,
          decrease: str = "strict", **extra: Any) -> dict[str, Any]:
    """The certificate of ``expression`` (in the system's state symbols) for ``system`` (an autonomous
    system) as a JSON-ready dict; ``extra`` entries (e.g. z3's verdict, the search's statistics) are kept."""
    import sympy

    _, rhs = system.symbolic_f()
    low, high = system.region
    return {"version": VERSION, "backend": BACKEND, "system": system.name,
            "dynamics": [sympy.srepr(f) for f in rhs], "expression": str(expression),
            "expression_tokens": to_tokens(expression), "box_low": low.tolist(), "box_high": high.tolist(),
            "ball": ball, "decrease": decrease, "claim": CLAIMS[decrease], "max_depth": max_depth,
            "result": {"holds": result.holds, "verified": result.verified, "falsified": result.falsified,
                       "timeouts": result.timeouts, "excluded": result.excluded, "wall_s": round(result.wall_s, 4)},
            **extra}


def write(path: Any, certificate: dict[str, Any]) -> Path:
    """Write ``certificate`` to ``path`` (atomically)."""
    return write_certificate(path, certificate)


def read(path: Any) -> dict[str, Any]:
    """A certificate file; a ValueError naming what is missing or malformed."""
    certificate = read_certificate(path, ("version",), "Lyapunov-discovery")
    if certificate["version"] in (1, 2) and "expression_srepr" in certificate:
        raise ValueError(f"{path} has certificate version {certificate['version']}; this rlkit reads {VERSION} "
                         f"(versions 1 and 2 stored V as srepr text and claimed asymptotic stability; train again "
                         f"to write a certificate of this version)")
    return read_certificate(path, REQUIRED, "Lyapunov-discovery", version=VERSION, finite=("ball",))


def expression_of(certificate: dict[str, Any], system: Any) -> Any:
    """The certified V rebuilt from its tokens (nothing in the file is evaluated:
    :func:`~agents.lyapunov_discovery.sympy_form.parse_tokens`), in ``system``'s state symbols."""
    states, _ = system.symbolic_f()
    return parse_tokens(certificate["expression_tokens"], states)


def recheck(certificate: dict[str, Any], system: Any) -> tuple[bool, list[str], VerificationResult | None]:
    """(holds, problems, the new verification) for ``certificate`` against ``system``: every failure
    named (see the module docstring)."""
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
    at_origin = expression.subs({state: 0 for state in states})
    if not (at_origin == 0 or at_origin.is_zero is True):
        problems.append(f"V(0) = {at_origin}, not 0")
    if certificate.get("expression") != str(expression):
        problems.append(f"the readable expression {str(certificate.get('expression'))[:80]!r} is not the proved one "
                        f"(expression_tokens read {str(expression)[:80]!r})")
    ball, decrease, depth = certificate["ball"], certificate["decrease"], certificate["max_depth"]
    if not 0 <= ball <= MAX_BALL:
        problems.append(f"the ball {ball!r} is not small against the box: it must lie in [0, {MAX_BALL:g}] "
                        f"(a share of the box's half-width)")
    if not (isinstance(decrease, str) and decrease in CLAIMS):
        problems.append(f"decrease {decrease!r} is not one of {', '.join(CLAIMS)}")
    elif certificate.get("claim") != CLAIMS[decrease]:
        problems.append(f"the claim text is not what a {decrease} certificate proves; it must read: "
                        f"{CLAIMS[decrease]!r}")
    if isinstance(depth, bool) or not isinstance(depth, int) or not 0 <= depth <= MAX_DEPTH:
        problems.append(f"max_depth {depth!r} must be an integer from 0 to {MAX_DEPTH}")
    if not (isinstance(decrease, str) and decrease in CLAIMS and ball >= 0 and isinstance(depth, int)
            and 0 <= depth <= MAX_DEPTH):  # the verifier cannot be run on these: named above
        return False, problems, None
    result = verify(expression, states, rhs, np.asarray(certificate["box_low"]), np.asarray(certificate["box_high"]),
                    ball=ball, max_depth=depth, decrease=decrease)
    if not result.holds:
        problems.append(f"the verifier does not prove it again ({result.falsified} falsified, "
                        f"{result.timeouts} timed-out boxes)")
    elif result.verified < 1:
        problems.append("the verifier verified 0 boxes: the claim covers no state")
    return not problems, problems, result
