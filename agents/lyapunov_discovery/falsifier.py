"""The falsifier of a candidate Lyapunov function ``V`` for an autonomous system ``dx/dt = f(x)`` on a
box ``D`` around the equilibrium 0: it searches for states of ``D`` (outside a small ball around 0, where
the conditions degenerate) with ``V(x) <= 0`` or ``dV/dt = grad V(x) . f(x) >= 0`` -- or, for the weak
(non-strict) decrease of Lyapunov stability, ``dV/dt > 0`` (beyond :data:`WEAK_TOLERANCE`, the float
noise of an exactly vanishing dV/dt).

The search is uniform sampling (plus samples on coordinate subspaces), then signed-gradient ascent (an
adversarial attack) from the worst samples on the larger of the two violations, projected back into ``D``
and out of the ball. ``V(0) = 0``
is checked exactly at the origin. Finding nothing is evidence, not proof; a sound verifier decides.
The share of samples meeting both conditions is the candidate's score for the generative policy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from agents.lyapunov_discovery.region import region_around_origin, sample_with_subspaces

ATTACK_STEP = 0.02  # signed step of the attack, as a fraction of the box's width per dimension
DECREASES = ("strict", "weak")  # dV/dt < 0 (asymptotic stability) or dV/dt <= 0 (stability)
WEAK_TOLERANCE = 1e-9  # float noise allowed in a weak decrease that is exactly 0 (e.g. dV/dt = -omega^2)


def decrease_margin(decrease: str) -> float:
    """How far above 0 ``dV/dt`` may go before the falsifier calls it a violation."""
    if decrease not in DECREASES:
        raise ValueError(f"unknown decrease {decrease!r}; allowed: {', '.join(DECREASES)}")
    return 0.0 if decrease == "strict" else WEAK_TOLERANCE


@dataclass
class FalsifierResult:
    """What the search found.

    Attributes:
        value_at_origin: ``V(0)`` (a Lyapunov function has 0).
        satisfied_share: share of the samples meeting both conditions (the score).
        counterexamples: [k, n] states breaking a condition, worst first (sampled or attacked).
        violation: [k] their violation ``max(-V, dV/dt)`` (>= 0).
    """

    value_at_origin: float
    satisfied_share: float
    counterexamples: torch.Tensor
    violation: torch.Tensor

    @property
    def falsified(self) -> bool:
        return len(self.counterexamples) > 0 or abs(self.value_at_origin) > 1e-9


def lie_derivative(V: Callable[[torch.Tensor], torch.Tensor], f: Callable[[torch.Tensor], torch.Tensor],
                   x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(V(x), dV/dt = grad V(x) . f(x)) at states x (B, n), differentiable in x."""
    if not x.requires_grad:
        x = x.detach().requires_grad_(True)
    value = V(x)
    if not value.requires_grad:  # V does not depend on x (a constant candidate): dV/dt = 0
        return value.expand(len(x)), torch.zeros(len(x), dtype=x.dtype)
    (gradient,) = torch.autograd.grad(value.sum(), x, create_graph=True)
    return value, (gradient * f(x)).sum(-1)


def violation(V: Callable, f: Callable, x: torch.Tensor, decrease: str = "strict") -> torch.Tensor:
    """``max(-V(x), dV/dt(x) - margin)``: >= 0 where a Lyapunov condition fails, (B,)."""
    margin = decrease_margin(decrease)
    value, derivative = lie_derivative(V, f, x)
    return torch.maximum(-value, derivative - margin)


def falsify(V: Callable[[torch.Tensor], torch.Tensor], f: Callable[[torch.Tensor], torch.Tensor],
            low: np.ndarray, high: np.ndarray, ball: float = 0.05, n_samples: int = 2000, attack_starts: int = 64,
            attack_steps: int = 30, seed: int = 0, decrease: str = "strict") -> FalsifierResult:
    """Search the box [low, high] outside the ball ``|x|_inf <= ball * (high - low) / 2`` (a fraction of
    the box's half-width per dimension) for states where ``V`` fails; see the module docstring."""
    low, high, radius_array = region_around_origin(low, high, ball)
    low_t, high_t, radius = torch.as_tensor(low), torch.as_tensor(high), torch.as_tensor(radius_array)
    generator = torch.Generator().manual_seed(seed)
    origin = torch.zeros(1, len(low_t), dtype=torch.float64)
    value_at_origin = float(V(origin)[0].detach())

    x = sample_with_subspaces(low, high, radius_array, n_samples, generator)
    sampled = violation(V, f, x, decrease).detach()
    satisfied_share = float((sampled < 0).double().mean())

    # the attack: signed-gradient ascent on the violation from the worst samples
    starts = x[torch.argsort(sampled, descending=True)[:attack_starts]].clone()
    step = ATTACK_STEP * (high_t - low_t)
    for _ in range(attack_steps):
        starts.requires_grad_(True)
        (gradient,) = torch.autograd.grad(violation(V, f, starts, decrease).sum(), starts)
        with torch.no_grad():
            starts = torch.clamp(starts + step * gradient.sign(), low_t, high_t)
            inside = (starts.abs() <= radius).all(-1)  # pushed into the ball: back onto its surface
            scale = (starts[inside].abs() / radius).max(-1, keepdim=True).values.clamp_min(1e-12)
            starts[inside] = starts[inside] / scale
    attacked = violation(V, f, starts, decrease).detach()
    candidates = torch.cat([x, starts.detach()])
    scores = torch.cat([sampled, attacked])
    bad = scores >= 0
    order = torch.argsort(scores[bad], descending=True)
    return FalsifierResult(value_at_origin, satisfied_share, candidates[bad][order], scores[bad][order])
