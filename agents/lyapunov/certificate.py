"""``certificate.json``: what a verified region of attraction claims, tied to the exact files.

A certificate states the box ``B``, the level ``rho``, the decrease rate ``kappa``, the hole, the
back-end and its precision, per-box verified / falsified / timeout counts, the counterexamples, the
wall time, the verified volume fraction, and SHA-256 hashes of the plant's parameters, the
controller and the Lyapunov function, with the command that re-verifies it. :func:`recheck`
recomputes the hashes from the objects at hand and re-runs the verifier at the stated level: a
certificate holds only if both agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.lyapunov.verifier import ClosedLoop, VerificationResult, verify_with
from agents.verification.certificates import (hash_json, hash_mismatches, hash_tensors, installed_versions,
                                              read_certificate)

VERSION = 1
BACKEND_DESCRIPTIONS = {
    "bounds": "rlkit-bounds: forward linear bound propagation with interval arithmetic, float64, branch and bound",
    "z3": "z3 nonlinear real arithmetic (QF_NRA), exact rationals of the float64 weights, one query",
}
BACKEND = BACKEND_DESCRIPTIONS["bounds"]
REQUIRED = ("version", "backend", "box_low", "box_high", "rho", "kappa", "hole", "result", "hashes")


def sampled_region_share(lyapunov: Any, box_low: Any, box_high: Any, rho: float, samples: int = 100_000,
                         seed: int = 12345) -> float:
    """The share of the box where ``V <= rho`` (the hole included), from ``samples`` uniform states
    with a fixed seed: a sampled figure, not part of the proof; 0 when no level verified."""
    if not rho > 0:
        return 0.0
    generator = torch.Generator().manual_seed(seed)
    low, high = torch.as_tensor(np.asarray(box_low, dtype=np.float64)), torch.as_tensor(np.asarray(box_high, dtype=np.float64))
    x = low + (high - low) * torch.rand(samples, len(low), generator=generator, dtype=torch.float64)
    with torch.no_grad():
        return float((lyapunov(x) <= rho).double().mean())


def hash_module(module: torch.nn.Module) -> str:
    """SHA-256 of a module's state (names, shapes, dtypes and float64 values, in order)."""
    return hash_tensors(module.state_dict())


def system_parameters(system: Any) -> dict[str, Any]:
    """The plant's numbers that define its dynamics: its class, step, integrator, boxes and every
    scalar attribute."""
    parameters: dict[str, Any] = {"class": f"{type(system).__module__}.{type(system).__qualname__}"}
    for name, value in sorted(vars(system).items()):
        if isinstance(value, bool) or value is None:
            parameters[name] = value
        elif isinstance(value, (int, float, str)):
            parameters[name] = value
        elif isinstance(value, np.ndarray) and value.dtype.kind in "fi" and value.size <= 64:
            parameters[name] = value.tolist()
        elif isinstance(value, tuple) and all(isinstance(v, (int, float, str)) for v in value):
            parameters[name] = list(value)
    return parameters


def hash_system(system: Any) -> str:
    return hash_json(system_parameters(system))


def hashes(loop: ClosedLoop) -> dict[str, str]:
    return {"dynamics": hash_system(loop.system), "controller": hash_module(loop.controller),
            "lyapunov": hash_module(loop.lyapunov)}


def versions() -> dict[str, str]:
    """The versions the verification ran with (read from the installed distributions)."""
    return {"torch": torch.__version__, **installed_versions(("rlkit", "z3-solver"))}


def build(loop: ClosedLoop, result: VerificationResult, box_low: Any, box_high: Any, command: str,
          backend: str = "bounds", **extra: Any) -> dict[str, Any]:
    """The certificate of a verification ``result`` of ``loop`` on the box by ``backend``."""
    return {
        "version": VERSION,
        "backend_name": backend,
        "backend": BACKEND_DESCRIPTIONS[backend],
        "backend_versions": versions(),
        "system": loop.system.name,
        "box_low": [float(v) for v in np.asarray(box_low, dtype=np.float64)],
        "box_high": [float(v) for v in np.asarray(box_high, dtype=np.float64)],
        "rho": result.rho, "kappa": result.kappa, "hole": result.hole,
        "claim": ("for x in the box with V(x) <= rho outside |x - x_eq|_inf <= hole: "
                  "V(x+) - V(x) <= -kappa V(x) and x+ in the box; V(x_eq) = 0 and V(x) >= eps |x - x_eq|_2 "
                  "by the construction of V"),
        "result": {
            "status": result.status, "verified_boxes": result.verified, "falsified_boxes": result.falsified,
            "timeout_boxes": result.timeout, "hole_boxes": result.excluded,
            "verified_volume_fraction": result.verified_volume_fraction,
            "timeout_volume_fraction": result.timeout_volume_fraction,
            "boxes_bounded": result.boxes_bounded, "wall_time_s": round(result.wall_time_s, 3),
            "counterexamples": result.counterexamples,
        },
        "hashes": hashes(loop),
        "dynamics_parameters": system_parameters(loop.system),
        "reverify": command,
        **extra,
    }


def read(path: Path) -> dict[str, Any]:
    """A certificate file, checked for the fields a claim needs (a ValueError naming what is wrong)."""
    return read_certificate(path, REQUIRED, "Lyapunov", version=VERSION, finite=("rho", "kappa", "hole"))


def recheck(certificate: dict[str, Any], loop: ClosedLoop, **options: Any) -> tuple[bool, list[str], VerificationResult | None]:
    """Compare the hashes with ``loop``'s and re-verify at the stated level. Returns
    ``(holds, problems, result)``; ``problems`` names every mismatch."""
    recorded = certificate["hashes"] if isinstance(certificate["hashes"], dict) else {}
    problems = hash_mismatches(recorded, hashes(loop))
    if certificate["result"].get("status") != "verified":
        problems.append(f"the certificate records status {certificate['result'].get('status')!r}, not 'verified'")
    backend = certificate.get("backend_name", "bounds")
    if backend == "z3":
        options = {"timeout_s": options.get("timeout_s", 60.0)}
    else:
        options.pop("timeout_s", None)
    result = verify_with(backend, loop, certificate["box_low"], certificate["box_high"], rho=certificate["rho"],
                         kappa=certificate["kappa"], hole=certificate["hole"], **options)
    if not result.holds:
        problems.append(f"re-verification at rho={certificate['rho']} gave {result.status} "
                        f"({result.falsified} falsified, {result.timeout} timed-out boxes)")
    return not problems, problems, result
