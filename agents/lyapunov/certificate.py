"""``certificate.json``: what a verified region of attraction claims, tied to the exact files.

A certificate states the box ``B``, the level ``rho``, the decrease rate ``kappa``, the hole, the
back-end and its precision, per-box verified / falsified / timeout counts, the counterexamples, the
wall time, the verified volume fraction, the plant's parameters, and SHA-256 hashes of the plant's
parameters, the controller and the Lyapunov function -- each module's hash covers its definition
(class, activation, eps, every non-tensor setting of it and its sub-modules) and its tensors (names,
shapes, values) -- with the command that re-verifies it and the claim in words (:func:`claim_text`).

:func:`recheck` checks the whole claim from the objects at hand: the hashes and the plant's
parameters equal to the certificate's; ``V(x_eq) = 0`` and ``eps > 0`` (so ``V >= eps |x - x_eq|_2``);
a region that is not vacuous (``rho > 0``, ``0 <= hole <= MAX_HOLE_SHARE`` of the box's smallest
half-width, a state of the box outside the hole with ``V <= rho``, at least one box verified); the
claim text equal to what the numbers prove; and the verifier run again at the stated level. Every
failure is named; the certificate holds only if there is none.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.lyapunov.verifier import ClosedLoop, VerificationResult, verify_with
from agents.verification.certificates import (hash_json, hash_mismatches, hash_tensors, installed_versions,
                                              read_certificate)

VERSION = 2  # 1: the hashes covered the modules' tensors only (not activation, eps): refused, re-train
MAX_HOLE_SHARE = 0.1  # the hole may be at most this share of the box's smallest half-width
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


def module_definition(module: torch.nn.Module) -> dict[str, Any]:
    """What defines ``module`` besides its tensors: per sub-module (the module itself as ``""``) its
    class and every public setting that is a number, string, bool or None (activation, eps ...)."""
    definition: dict[str, Any] = {}
    for name, sub in module.named_modules():
        settings: dict[str, Any] = {"class": f"{type(sub).__module__}.{type(sub).__qualname__}"}
        for key, value in sorted(vars(sub).items()):
            if key.startswith("_") or key == "training":
                continue
            if value is None or isinstance(value, (bool, int, float, str)):
                settings[key] = value
        definition[name] = settings
    return definition


def hash_module(module: torch.nn.Module) -> str:
    """SHA-256 of a module's definition (:func:`module_definition`: classes, activation, eps ...) and
    its state (names, shapes and float64 values, in order)."""
    return hash_json({"definition": module_definition(module), "tensors": hash_tensors(module.state_dict())})


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
        "claim": claim_text(result.rho, result.kappa, result.hole, getattr(loop.lyapunov, "eps", None)),
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


def claim_text(rho: float, kappa: float, hole: float, eps: float | None) -> str:
    """What a verified certificate at these numbers proves, in words (the certificate's ``claim``)."""
    proved = (f"for every x in the box B with V(x) <= {rho!r} and |x - x_eq|_inf > {hole!r}: "
              f"V(x+) <= (1 - {kappa!r}) V(x) and x+ in B (x+ the closed loop's next state, input saturation "
              f"included); V(x_eq) = 0")
    if eps is not None:
        proved += f" and V(x) >= {eps!r} |x - x_eq|_2 (by the construction of V)"
    start = f"every trajectory starting in S = {{x in B : V(x) <= {rho!r}}}"
    if kappa > 0 and eps is not None and eps > 0 and hole > 0:
        # outside the hole V > eps * hole, and V shrinks by (1 - kappa) per step: at most floor(L) + 1 steps
        steps = math.floor(math.log(eps * hole / rho) / math.log1p(-kappa)) + 1 if rho > eps * hole else 0
        consequence = (f"{start} stays in S until it enters the hole |x - x_eq|_inf <= {hole!r}, which it does "
                       f"within {steps} steps; nothing is claimed once it is in the hole (neither that it stays "
                       f"there nor stability of x_eq)")
    elif kappa > 0 and eps is not None and eps > 0:
        consequence = f"{start} stays in S and converges to x_eq"
    else:
        consequence = (f"{start} stays in S until it enters the hole |x - x_eq|_inf <= {hole!r}; no convergence "
                       f"is claimed (kappa = 0 or no lower bound on V)")
    return f"{proved}. Hence {consequence}."


def vacuity_problems(loop: ClosedLoop, box_low: Any, box_high: Any, rho: float, kappa: float,
                     hole: float, samples: int = 20_000, seed: int = 0) -> list[str]:
    """What makes the claim on this box vacuous or not the one stated: ``rho <= 0``; kappa outside
    ``[0, 1)``; a hole below 0 or above :data:`MAX_HOLE_SHARE` of the box's smallest half-width;
    ``V(x_eq) != 0``; ``eps <= 0``; no state of the box outside the hole with ``V <= rho`` (among the
    axis segments from x_eq and ``samples`` uniform states)."""
    problems = []
    low, high = np.asarray(box_low, dtype=np.float64), np.asarray(box_high, dtype=np.float64)
    x_eq = np.asarray(loop.system.x_eq, dtype=np.float64)
    if low.shape != x_eq.shape or high.shape != x_eq.shape or not np.all((low < x_eq) & (x_eq < high)):
        return [f"the box {low.tolist()} .. {high.tolist()} does not hold the equilibrium {x_eq.tolist()} inside"]
    if not rho > 0:
        problems.append(f"rho is {rho!r}: the level must be > 0 (the region {{V <= rho}} is otherwise at most x_eq)")
    if not 0 <= kappa < 1:
        problems.append(f"kappa is {kappa!r}: it must lie in [0, 1)")
    half_width = float(np.min(high - low)) / 2
    if not 0 <= hole <= MAX_HOLE_SHARE * half_width:
        problems.append(f"the hole {hole!r} is not small against the box: it must lie in [0, "
                        f"{MAX_HOLE_SHARE:g} x the smallest half-width {half_width:g}] = [0, "
                        f"{MAX_HOLE_SHARE * half_width:g}]")
    with torch.no_grad():
        at_equilibrium = float(loop.lyapunov(torch.as_tensor(x_eq)[None])[0])
    if at_equilibrium != 0.0:
        problems.append(f"V(x_eq) = {at_equilibrium!r}, not 0")
    eps = getattr(loop.lyapunov, "eps", None)
    if eps is not None and not eps > 0:
        problems.append(f"V's eps is {eps!r}: V > 0 off x_eq needs eps > 0")
    if problems:
        return problems
    generator = torch.Generator().manual_seed(seed)
    lo, hi, centre = torch.as_tensor(low), torch.as_tensor(high), torch.as_tensor(x_eq)
    t = torch.linspace(0, 1, 201, dtype=torch.float64)[1:, None]
    axis_points = [centre + t * (end - centre) * torch.eye(len(x_eq), dtype=torch.float64)[i]
                   for i in range(len(x_eq)) for end in (lo, hi)]
    x = torch.cat([*axis_points, lo + (hi - lo) * torch.rand(samples, len(x_eq), generator=generator,
                                                             dtype=torch.float64)])
    with torch.no_grad():
        witness = ((x - centre).abs().amax(-1) > hole) & (loop.lyapunov(x) <= rho)
    if not bool(witness.any()):
        problems.append(f"no state of the box outside the hole has V <= rho = {rho!r} (searched {len(x)} "
                        f"states): the region is empty and the claim vacuous")
    return problems


def read(path: Path) -> dict[str, Any]:
    """A certificate file, checked for the fields a claim needs (a ValueError naming what is wrong)."""
    return read_certificate(path, REQUIRED, "Lyapunov", version=VERSION, finite=("rho", "kappa", "hole"))


def recheck(certificate: dict[str, Any], loop: ClosedLoop, **options: Any) -> tuple[bool, list[str], VerificationResult | None]:
    """Compare the hashes with ``loop``'s and re-verify at the stated level. Returns
    ``(holds, problems, result)``; ``problems`` names every mismatch."""
    recorded = certificate["hashes"] if isinstance(certificate["hashes"], dict) else {}
    problems = hash_mismatches(recorded, hashes(loop))
    problems += parameter_mismatches(certificate.get("dynamics_parameters"), system_parameters(loop.system))
    stated = certificate["result"] if isinstance(certificate["result"], dict) else {}
    if stated.get("status") != "verified":
        problems.append(f"the certificate records status {stated.get('status')!r}, not 'verified'")
    rho, kappa, hole = float(certificate["rho"]), float(certificate["kappa"]), float(certificate["hole"])
    eps = getattr(loop.lyapunov, "eps", None)
    if "eps" in certificate and certificate["eps"] != eps:
        problems.append(f"the certificate states eps = {certificate['eps']!r}; the saved V has eps = {eps!r}")
    vacuous = vacuity_problems(loop, certificate["box_low"], certificate["box_high"], rho, kappa, hole)
    problems += vacuous
    if certificate.get("claim") != claim_text(rho, kappa, hole, eps):
        problems.append(f"the claim text is not what these numbers prove; it must read: "
                        f"{claim_text(rho, kappa, hole, eps)!r}")
    if vacuous:  # the verifier's own checks would refuse these numbers with a traceback-free ValueError anyway
        return False, problems, None
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
    elif result.verified < 1:
        problems.append("re-verification verified 0 boxes: the claim covers no state")
    return not problems, problems, result


def parameter_mismatches(stated: Any, actual: dict[str, Any]) -> list[str]:
    """A problem naming each plant parameter where the certificate's ``dynamics_parameters`` differ
    from the plant the run's config builds (compared as JSON)."""
    actual = json.loads(json.dumps(actual))
    if not isinstance(stated, dict):
        return ["the certificate lacks the plant's dynamics_parameters"]
    differing = sorted(key for key in set(stated) | set(actual) if stated.get(key) != actual.get(key))
    if not differing:
        return []
    shown = "; ".join(f"{key}: certificate {stated.get(key)!r}, plant {actual.get(key)!r}" for key in differing[:5])
    return [f"the certificate's dynamics_parameters differ from the plant the run's config builds ({shown})"]
