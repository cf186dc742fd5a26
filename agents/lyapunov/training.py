"""Counterexample-guided training of a neural controller and Lyapunov function together.

Each iteration (after Yang, Dai et al. 2024, simplified):

1. draw ``batch`` states uniform on the box minus the hole, and run the falsifier
   (:func:`agents.lyapunov.falsifier.find_counterexamples`) on the current networks; its
   counterexamples join a bounded buffer (the newest kept), so the hardest states found so far
   keep being trained on;
2. on the drawn and buffered states, penalise a failure of the conditions the certificate claims
   on the sublevel set ``{V <= rho}``: ``failure = relu(V(x+) - (1 - kappa) V(x) + margin)``
   (decrease with a margin) plus how far the successor ``x+`` leaves the box (invariance). A state
   satisfies the claim if it has no failure OR lies outside the sublevel set, so the penalty is
   ``min(failure, relu(rho - V(x)))`` (Yang, Dai et al.'s form): a failing state deep inside the set
   is fixed, one near its edge may instead be pushed out (needed where no input can help: near the
   box's faces the Euler step ``theta+ = theta + dt theta_dot`` leaves the box whatever ``u`` is);
3. on states drawn from a candidate region (the box shrunk towards the equilibrium by
   ``candidate_scale``) penalise ``relu(V(x) / rho - 1)``, which pulls the sublevel set over the
   candidate region so the certified region grows;
4. on the drawn box states lying just outside the sublevel set (``rho < V <= boundary_band * rho``)
   penalise ``relu(V(x) / rho - 1)`` with weight ``boundary_weight``: this pulls the level set's edge
   outwards wherever it is, not only over a fixed candidate region, so the set grows until the
   conditions (step 2, which pushes failing states out) stop it -- the edge settles where the two
   balance, which is where the certifiable region ends;
5. take one Adam step on both networks' parameters.

The region terms' weights follow the falsifier (``region_growth`` > 1): after an iteration in which
it found no counterexample they are multiplied by ``region_growth``, after one in which it did they
are divided by it (kept between ``1 / region_growth_limit`` and ``region_growth_limit`` times the
given weights). The level set therefore grows while the conditions hold on it and stops as soon as
they break, as a rho schedule would, without changing the level ``rho`` the verifier starts from.
The level ``rho`` is fixed here; the verifier finds the largest level it can certify afterwards.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import numpy as np
import torch

from agents.lyapunov.falsifier import box_excess, check_region, find_counterexamples, sample_box


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def _non_negative(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a non-negative number, got {value!r}")
    return float(value)


def _converging(system: Any, controller: torch.nn.Module, states: torch.Tensor, steps: int, low: torch.Tensor,
                high: torch.Tensor, x_eq: torch.Tensor, scale: float) -> torch.Tensor:
    """The states whose closed-loop trajectory under the current controller stays in the box for
    ``steps`` steps and ends within 5 % of the box's half-widths of the equilibrium: an estimate of
    the controller's region of attraction, the target the level set is pulled over."""
    with torch.no_grad():
        x = states
        inside = torch.ones(len(x), dtype=torch.bool)
        for _ in range(steps):
            x = system.discrete_step(x, controller(x))
            inside &= ((x >= low) & (x <= high)).all(-1)
        near = ((x - x_eq).abs() <= 0.05 * (high - low) / 2).all(-1)
    return states[inside & near]


def train_lyapunov(system: Any, controller: torch.nn.Module, lyapunov: torch.nn.Module, box_low: Any,
                   box_high: Any, kappa: float, rho: float, hole: float, iterations: int, batch: int, lr: float,
                   seed: int, callback: Callable[[int, dict], Any] | None = None, *, margin: float = 1e-3,
                   box_weight: float = 1.0, roa_weight: float = 0.1, candidate_scale: float = 0.5,
                   candidate_rollout: int = 0,
                   falsifier_samples: int | None = None, pgd_steps: int = 10,
                   buffer_size: int | None = None, boundary_weight: float = 0.0, boundary_band: float = 1.5,
                   region_growth: float = 1.0, region_growth_limit: float = 100.0) -> dict[str, Any]:
    """Train ``controller`` and ``lyapunov`` in place; returns the history.

    Args:
        system: the plant (``discrete_step``, ``x_eq``; see :class:`envs.control.system.ControlSystem`).
        controller, lyapunov: modules called as ``controller(x)``, ``lyapunov(x)`` (e.g.
            :class:`~agents.lyapunov.networks.NeuralController`,
            :class:`~agents.lyapunov.networks.NeuralLyapunov`); both are trained.
        box_low, box_high: the region B (must contain the equilibrium inside).
        kappa: the decrease rate, in [0, 1). rho: the level of the sublevel set ``V <= rho``.
        hole: half-width of the cube around the equilibrium excluded from the decrease condition.
        iterations, batch, lr: Adam steps, states drawn per step, learning rate.
        seed: makes the run deterministic (sampling and falsifier; the networks' initialisation is
            theirs).
        callback: called as ``callback(iteration, record)`` after each step with that step's
            record (the history's keys, one value each); returning ``False`` stops training.
        margin: the decrease margin (in V's units). box_weight, roa_weight: weights of the
            invariance and region-growth terms. candidate_scale: the candidate region is the box
            scaled by this factor about the equilibrium, in (0, 1].
        falsifier_samples, pgd_steps: the falsifier's search per iteration (default: ``batch``
            starts, 10 steps). buffer_size: counterexamples kept (default ``4 * batch``).
        boundary_weight, boundary_band: weight of the level-set growth term (step 4) and the band
            ``(rho, boundary_band * rho]`` of V it acts on (> 1).
        region_growth, region_growth_limit: the adaptive factor on both region terms' weights
            (>= 1; 1 keeps them fixed) and its bound (>= 1).

    Returns a dict of lists, one entry per iteration: ``loss`` (total), ``condition_loss`` (step 2
    of the module docstring), ``roa_loss`` (step 3), ``violations`` (counterexamples the falsifier
    found before the step), ``worst_violation`` (their largest score, 0 if none),
    ``level_set_fraction`` (share of the drawn states with ``V <= rho``), ``boundary_loss`` (step
    4), ``region_scale`` (the adaptive factor used in the step), ``wall_time`` (seconds since the
    start); and ``iterations`` (the steps done).
    """
    low, high, hole, kappa, rho = check_region(system, box_low, box_high, hole, kappa, rho)
    if not math.isfinite(rho):
        raise ValueError("rho must be finite for training (the region-growth term is relu(V / rho - 1))")
    iterations = _positive_int(iterations, "iterations")
    batch = _positive_int(batch, "batch")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    margin = _non_negative(margin, "margin")
    box_weight = _non_negative(box_weight, "box_weight")
    roa_weight = _non_negative(roa_weight, "roa_weight")
    if not (isinstance(candidate_scale, (int, float)) and 0 < candidate_scale <= 1):
        raise ValueError(f"candidate_scale must be a number in (0, 1], got {candidate_scale!r}")
    if isinstance(candidate_rollout, bool) or not isinstance(candidate_rollout, (int, np.integer)) or candidate_rollout < 0:
        raise ValueError(f"candidate_rollout must be an integer >= 0, got {candidate_rollout!r}")
    boundary_weight = _non_negative(boundary_weight, "boundary_weight")
    if not (isinstance(boundary_band, (int, float)) and math.isfinite(boundary_band) and boundary_band > 1):
        raise ValueError(f"boundary_band must be a number > 1, got {boundary_band!r}")
    for value, what in ((region_growth, "region_growth"), (region_growth_limit, "region_growth_limit")):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 1):
            raise ValueError(f"{what} must be a number >= 1, got {value!r}")
    falsifier_samples = batch if falsifier_samples is None else _positive_int(falsifier_samples, "falsifier_samples")
    buffer_size = 4 * batch if buffer_size is None else _positive_int(buffer_size, "buffer_size")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if callback is not None and not callable(callback):
        raise ValueError(f"callback must be callable or None, got {callback!r}")

    x_eq = torch.as_tensor(np.asarray(system.x_eq, dtype=np.float64))
    candidate_low = x_eq + candidate_scale * (low - x_eq)
    candidate_high = x_eq + candidate_scale * (high - x_eq)
    generator = torch.Generator().manual_seed(int(seed))
    parameters = [p for module in (controller, lyapunov) for p in module.parameters() if p.requires_grad]
    if not parameters:
        raise ValueError("neither the controller nor the Lyapunov function has trainable parameters")
    optimizer = torch.optim.Adam(parameters, lr=lr)
    buffer = torch.zeros(0, len(x_eq), dtype=torch.float64)
    history: dict[str, Any] = {key: [] for key in ("loss", "condition_loss", "roa_loss", "violations",
                                                   "worst_violation", "level_set_fraction", "boundary_loss",
                                                   "region_scale", "wall_time")}
    region_scale = 1.0
    start = time.perf_counter()
    for iteration in range(iterations):
        found = find_counterexamples(system, controller, lyapunov, low, high, rho=rho, kappa=kappa, hole=hole,
                                     n_samples=falsifier_samples, pgd_steps=pgd_steps,
                                     seed=int(torch.randint(2**31 - 1, (), generator=generator)))
        buffer = torch.cat([buffer, found.states])[-buffer_size:]
        states = torch.cat([sample_box(low, high, x_eq, hole, batch, generator), buffer])
        candidates = sample_box(candidate_low, candidate_high, x_eq, 0.0, batch, generator)
        if candidate_rollout:
            candidates = _converging(system, controller, sample_box(low, high, x_eq, 0.0, batch, generator),
                                     candidate_rollout, low, high, x_eq, candidate_scale)

        value = lyapunov(states)
        successor = system.discrete_step(states, controller(states))
        violation = lyapunov(successor) - (1.0 - kappa) * value
        # the claim holds at x if the conditions do or x is outside {V <= rho}: the smaller penalty
        failure = torch.relu(violation + margin) + box_weight * box_excess(successor, low, high)
        outside_penalty = torch.relu(rho - value)
        condition_loss = torch.minimum(failure, outside_penalty).mean()
        roa_loss = (torch.relu(lyapunov(candidates) / rho - 1.0).mean() if len(candidates)
                    else torch.zeros((), dtype=torch.float64))
        # the drawn states just outside the level set: pulling them in moves the set's edge outwards
        drawn_value = value[:batch]
        near_edge = (drawn_value > rho) & (drawn_value <= boundary_band * rho)
        boundary_loss = (torch.relu(drawn_value / rho - 1.0) * near_edge).sum() / max(int(near_edge.sum()), 1)
        loss = condition_loss + region_scale * (roa_weight * roa_loss + boundary_weight * boundary_loss)

        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

        record = {
            "loss": loss.item(), "condition_loss": condition_loss.item(),
            "roa_loss": roa_loss.item(), "violations": len(found),
            "worst_violation": float(found.score[0]) if len(found) else 0.0,
            "level_set_fraction": float((value[:batch] <= rho).double().mean()),
            "boundary_loss": boundary_loss.item(), "region_scale": region_scale,
            "wall_time": time.perf_counter() - start,
        }
        for key, number in record.items():
            history[key].append(number)
        # grow the region terms while the falsifier finds nothing, back off when it finds something
        region_scale *= region_growth if len(found) == 0 else 1.0 / region_growth
        region_scale = min(max(region_scale, 1.0 / region_growth_limit), region_growth_limit)
        if callback is not None and callback(iteration, record) is False:
            break
    history["iterations"] = len(history["loss"])
    return history
