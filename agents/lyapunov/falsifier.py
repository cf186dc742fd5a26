"""Falsification of a Lyapunov certificate candidate: search for states where it fails.

A candidate (controller ``pi``, Lyapunov function ``V``, level ``rho``) claims, on the region
``D = {x in box : |x - x_eq|_inf > hole, V(x) <= rho}``:

- decrease: ``V(F(x, pi(x))) - (1 - kappa) V(x) <= 0`` (:func:`decrease_violation`), and
- invariance: the successor ``F(x, pi(x))`` stays in the box.

:func:`find_counterexamples` looks for states of ``D`` breaking either, by uniform sampling followed by
projected gradient ascent (signed steps, as in adversarial attacks) on how badly they break. Finding
nothing is evidence, not proof: only the bound-propagation verifier proves a certificate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

# first signed step of the gradient ascent, as a fraction of the box's width per dimension; the step
# shrinks linearly to a tenth of it over the ascent so late steps refine instead of oscillating
PGD_STEP_FRACTION = 0.02


@dataclass
class Counterexamples:
    """States that break the certificate candidate, worst first.

    Attributes:
        states: [k, n] the states (inside the box, outside the hole, with ``V <= rho``).
        violation: [k] their decrease violation ``V(x+) - (1 - kappa) V(x)`` (> 0: no decrease).
        box_excess: [k] how far their successor lies outside the box (``max`` over dimensions of
            the distance to the box, in state units; > 0: the successor leaves the box).
        score: [k] ``max(violation, box_excess)``, the sort key (descending).
        n_searched: how many of the search's starts reached the searched region (inside the box,
            outside the hole, ``V <= rho``) at some step; the others contribute nothing.
    """

    states: torch.Tensor
    violation: torch.Tensor
    box_excess: torch.Tensor
    score: torch.Tensor
    n_searched: int

    def __len__(self) -> int:
        return int(self.states.shape[0])

    @property
    def decrease_violated(self) -> torch.Tensor:
        """[k] bool: the decrease condition fails at the state."""
        return self.violation > 0

    @property
    def leaves_box(self) -> torch.Tensor:
        """[k] bool: the successor leaves the box."""
        return self.box_excess > 0


def decrease_violation(system: Any, controller: Any, lyapunov: Any, x: torch.Tensor, kappa: float) -> torch.Tensor:
    """``V(F(x, pi(x))) - (1 - kappa) V(x)`` for ``x`` of shape [..., n] (torch, differentiable);
    positive where V does not decrease at rate ``kappa`` along the closed loop."""
    successor = system.discrete_step(x, controller(x))
    return lyapunov(successor) - (1.0 - kappa) * lyapunov(x)


def box_excess(x: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """How far ``x`` [..., n] lies outside the box (0 inside), the largest over dimensions."""
    return torch.clamp(torch.maximum(low - x, x - high), min=0.0).amax(-1)


def check_region(system: Any, box_low: Any, box_high: Any, hole: Any, kappa: Any = 0.0,
                 rho: Any = math.inf) -> tuple[torch.Tensor, torch.Tensor, float, float, float]:
    """The box as float64 tensors, and the checked hole, kappa and rho; ValueError naming a bad one."""
    n = len(np.asarray(system.x_eq))
    low = np.asarray(box_low, dtype=np.float64).reshape(-1)
    high = np.asarray(box_high, dtype=np.float64).reshape(-1)
    if low.shape != (n,) or high.shape != (n,):
        raise ValueError(f"box_low and box_high must have {n} entries (one per state), "
                         f"got shapes {low.shape} and {high.shape}")
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(low < high)):
        raise ValueError(f"the box must be finite with box_low < box_high, got {low.tolist()} and {high.tolist()}")
    x_eq = np.asarray(system.x_eq, dtype=np.float64)
    if not np.all((low < x_eq) & (x_eq < high)):
        raise ValueError(f"the box [{low.tolist()}, {high.tolist()}] must contain the equilibrium "
                         f"{x_eq.tolist()} in its interior")
    if not (isinstance(hole, (int, float)) and math.isfinite(hole) and hole >= 0):
        raise ValueError(f"hole must be a non-negative number (half-width of the excluded cube), got {hole!r}")
    if not np.all(x_eq - hole > low) or not np.all(x_eq + hole < high):
        raise ValueError(f"the hole (|x - x_eq|_inf <= {hole}) must lie inside the box")
    if not (isinstance(kappa, (int, float)) and 0.0 <= kappa < 1.0):
        raise ValueError(f"kappa (the decrease rate) must be a number in [0, 1), got {kappa!r}")
    if not (isinstance(rho, (int, float)) and rho > 0 and not math.isnan(rho)):
        raise ValueError(f"rho (the level of the sublevel set V <= rho) must be a positive number or inf, got {rho!r}")
    return torch.as_tensor(low), torch.as_tensor(high), float(hole), float(kappa), float(rho)


def _in_hole(x: torch.Tensor, x_eq: torch.Tensor, hole: float) -> torch.Tensor:
    """[...] bool: ``|x - x_eq|_inf <= hole`` (the excluded cube; empty for hole = 0 but x_eq)."""
    return (x - x_eq).abs().amax(-1) <= hole


def sample_box(low: torch.Tensor, high: torch.Tensor, x_eq: torch.Tensor, hole: float, count: int,
               generator: torch.Generator) -> torch.Tensor:
    """``count`` states uniform on the box minus the hole (float64, [count, n]), from ``generator``
    (rejection: states drawn in the hole are drawn again)."""
    def draw(k: int) -> torch.Tensor:
        return low + torch.rand(k, len(low), generator=generator, dtype=torch.float64) * (high - low)

    states = draw(count)
    for _ in range(1000):
        redraw = _in_hole(states, x_eq, hole)
        if not bool(redraw.any()):
            return states
        states[redraw] = draw(int(redraw.sum()))
    return _push_out_of_hole(states, x_eq, hole)  # a hole filling nearly all of the box


def _push_out_of_hole(x: torch.Tensor, x_eq: torch.Tensor, hole: float) -> torch.Tensor:
    """The nearest state outside the excluded cube: for a state in it, move the coordinate that is
    already farthest from the equilibrium just past the cube's face."""
    inside = _in_hole(x, x_eq, hole)
    if not bool(inside.any()):
        return x
    offset = x - x_eq
    farthest = offset.abs().argmax(-1, keepdim=True)
    side = torch.where(offset.gather(-1, farthest) < 0, -1.0, 1.0).to(x.dtype)
    # just past the face: the face itself belongs to the excluded cube
    past_face = max(hole * (1.0 + 1e-9), hole + 1e-300)
    moved = offset.scatter(-1, farthest, side * past_face) + x_eq
    return torch.where(inside[:, None], moved, x)


def _evaluate(system: Any, controller: Any, lyapunov: Any, x: torch.Tensor, kappa: float,
              low: torch.Tensor, high: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """V(x), the decrease violation and the successor's box excess at x."""
    value = lyapunov(x)
    successor = system.discrete_step(x, controller(x))
    violation = lyapunov(successor) - (1.0 - kappa) * value
    return value, violation, box_excess(successor, low, high)


def find_counterexamples(system: Any, controller: Any, lyapunov: Any, box_low: Any, box_high: Any,
                         rho: float, kappa: float, hole: float, n_samples: int = 4096, pgd_steps: int = 50,
                         seed: int = 0, tolerance: float = 0.0) -> Counterexamples:
    """States of ``{x in box : |x - x_eq|_inf > hole, V(x) <= rho}`` where V does not decrease at
    rate ``kappa`` or the successor leaves the box, worst first.

    ``n_samples`` uniform states are pushed by ``pgd_steps`` signed gradient steps up the score
    ``max(violation, box_excess)``, projected back onto the box minus the hole after every step; a
    state above the level ``rho`` steps down ``V`` instead until it is back in the sublevel set.
    Each start contributes the worst feasible state it visited if that one breaks a condition by
    more than ``tolerance``. ``rho = inf`` searches the whole box. Deterministic for a ``seed``.
    """
    low, high, hole, kappa, rho = check_region(system, box_low, box_high, hole, kappa, rho)
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    if isinstance(pgd_steps, bool) or not isinstance(pgd_steps, (int, np.integer)) or pgd_steps < 0:
        raise ValueError(f"pgd_steps must be a non-negative integer, got {pgd_steps!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be a non-negative number, got {tolerance!r}")
    x_eq = torch.as_tensor(np.asarray(system.x_eq, dtype=np.float64))
    generator = torch.Generator().manual_seed(int(seed))
    x = sample_box(low, high, x_eq, hole, int(n_samples), generator)

    best_score = torch.full((len(x),), -math.inf, dtype=torch.float64)
    best = {"states": x.clone(), "violation": torch.zeros(len(x), dtype=torch.float64),
            "box_excess": torch.zeros(len(x), dtype=torch.float64)}
    # the networks' parameters are not what is searched over: no gradient is kept for them
    parameters = [p for module in (controller, lyapunov) if isinstance(module, torch.nn.Module)
                  for p in module.parameters()]
    wanted = [p.requires_grad for p in parameters]
    for p in parameters:
        p.requires_grad_(False)
    try:
        for step in range(int(pgd_steps) + 1):
            x = x.detach().requires_grad_(step < pgd_steps)
            value, violation, excess = _evaluate(system, controller, lyapunov, x, kappa, low, high)
            score = torch.maximum(violation, excess)
            in_level_set = value <= rho
            feasible = in_level_set & ~_in_hole(x, x_eq, hole)
            with torch.no_grad():
                better = feasible & (score > best_score)
                best_score = torch.where(better, score, best_score)
                best["states"][better] = x[better]
                best["violation"][better] = violation[better]
                best["box_excess"][better] = excess[better]
            if step == pgd_steps:
                break
            # ascend the score inside the sublevel set, descend V outside it
            objective = torch.where(in_level_set, score, -(value - rho))
            (gradient,) = torch.autograd.grad(objective.sum(), x)
            shrink = 1.0 - 0.9 * step / max(pgd_steps - 1, 1)
            with torch.no_grad():
                x = x + PGD_STEP_FRACTION * shrink * (high - low) * torch.sign(gradient)
                x = _push_out_of_hole(torch.minimum(torch.maximum(x, low), high), x_eq, hole)
    finally:
        for p, flag in zip(parameters, wanted):
            p.requires_grad_(flag)

    found = best_score > tolerance
    order = torch.argsort(best_score[found], descending=True, stable=True)
    return Counterexamples(
        states=best["states"][found][order],
        violation=best["violation"][found][order],
        box_excess=best["box_excess"][found][order],
        score=best_score[found][order],
        n_searched=int(torch.isfinite(best_score).sum()),
    )
