"""Sound verification of a discrete-time Lyapunov certificate by branch and bound over boxes.

The claim checked, for a plant ``x+ = F(x, u)``, a controller ``u = pi(x)`` and a function ``V``:
for every ``x`` in the box ``B`` with ``V(x) <= rho`` and outside the hole
``|x - x_eq|_inf <= hole``,

    V(F(x, pi(x))) - (1 - kappa) V(x) <= 0      (decrease)
    F(x, pi(x)) in B                            (the successor stays in the box)

so ``{x in B : V(x) <= rho}`` is forward invariant and every trajectory from it converges to the
hole (to the equilibrium when the hole is empty). ``V(x_eq) = 0`` and ``V(x) >= eps |x - x_eq|_2``
hold by the construction of :class:`agents.lyapunov.networks.NeuralLyapunov`.

Each box of a queue is bounded with :mod:`agents.lyapunov.bounds` (the same code as the torch
model, run on sound linear bounds). A box is *verified* when ``V > rho`` on all of it, or when the
decrease bound is <= 0 and the successor's bounds lie inside ``B``; *falsified* when a concrete
point of it (its centre, evaluated in float64) has ``V <= rho`` and violates a condition -- a real
counterexample, not a bound artefact; *excluded* when it lies inside the hole; otherwise it is split
in two along its widest side (relative to ``B``), until ``max_depth`` splits, where it counts as a
*timeout* (the queue and the budgets: :mod:`agents.verification.boxes`). The claim holds only when no
box is falsified and none timed out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from agents.lyapunov.bounds import BOUND_OPS, BOUND_XP, Bounds
from agents.lyapunov.ops import TORCH_OPS
from agents.verification.boxes import BoxQueue, Budget


@dataclass
class ClosedLoop:
    """The plant, the controller and the Lyapunov function, each runnable on tensors and bounds.

    ``controller(x, ops)`` and ``lyapunov(x, ops)`` take ``x`` of shape [..., n]; the plant is a
    :class:`envs.control.system.ControlSystem` (smooth: its step is evaluated component-wise).
    """

    system: Any
    controller: Callable[..., Any]
    lyapunov: Callable[..., Any]

    def step(self, x: Any, ops: Any, xp: Any) -> Any:
        n, m = self.system.n_states, self.system.n_inputs
        u = self.controller(x, ops)
        parts = self.system.step_components(tuple(x[..., i] for i in range(n)),
                                            tuple(u[..., j] for j in range(m)), xp)
        return ops.stack(list(parts))

    def evaluate(self, x: torch.Tensor, kappa: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(x_next, decrease, V)`` on float64 tensors, where decrease = V(x+) - (1 - kappa) V(x)."""
        from envs.control.system import TORCH

        with torch.no_grad():
            x_next = self.step(x, TORCH_OPS, TORCH)
            value = self.lyapunov(x, TORCH_OPS)
            return x_next, self.lyapunov(x_next, TORCH_OPS) - (1 - kappa) * value, value

    def bound(self, lo: torch.Tensor, hi: torch.Tensor, kappa: float) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Elementwise bounds over each box of ``x_next``, the decrease and ``V``."""
        with torch.no_grad():
            x = Bounds.input(lo, hi)
            x_next = self.step(x, BOUND_OPS, BOUND_XP)
            value = self.lyapunov(x, BOUND_OPS)
            decrease = self.lyapunov(x_next, BOUND_OPS) - value.scale(1 - kappa)
            return {"x_next": x_next.interval(), "decrease": decrease.interval(), "V": value.interval()}


@dataclass
class VerificationResult:
    status: str                       # "verified", "falsified" or "timeout"
    rho: float
    kappa: float
    hole: float
    verified: int = 0                 # boxes
    falsified: int = 0
    timeout: int = 0
    excluded: int = 0                 # boxes inside the hole
    verified_volume_fraction: float = 0.0
    timeout_volume_fraction: float = 0.0
    counterexamples: list[dict[str, Any]] = field(default_factory=list)
    wall_time_s: float = 0.0
    boxes_bounded: int = 0

    @property
    def holds(self) -> bool:
        return self.status == "verified"


def _check_problem(box_low: np.ndarray, box_high: np.ndarray, x_eq: np.ndarray, kappa: float, rho: float,
                   hole: float) -> None:
    if box_low.shape != box_high.shape or box_low.shape != x_eq.shape:
        raise ValueError(f"the box needs {x_eq.shape[0]} lower and upper limits, got {box_low.shape} and {box_high.shape}")
    if not np.all(box_low < box_high):
        raise ValueError("the box needs low < high in every dimension")
    if not np.all((box_low < x_eq) & (x_eq < box_high)):
        raise ValueError(f"the box [{box_low.tolist()}, {box_high.tolist()}] does not contain the equilibrium "
                         f"{x_eq.tolist()} in its interior")
    if not 0 <= kappa < 1:
        raise ValueError(f"kappa must be in [0, 1), got {kappa}")
    if not rho > 0:
        raise ValueError(f"rho must be > 0, got {rho}")
    if hole < 0:
        raise ValueError(f"hole must be >= 0, got {hole}")


def verify(loop: ClosedLoop, box_low: Any, box_high: Any, rho: float, kappa: float, hole: float = 0.0,
           max_depth: int = 40, batch: int = 8192, max_boxes: int = 2_000_000, initial_splits: int = 2,
           max_counterexamples: int = 20) -> VerificationResult:
    """Branch and bound over ``[box_low, box_high]`` (see the module docstring)."""
    started = time.perf_counter()
    box_low = np.asarray(box_low, dtype=np.float64)
    box_high = np.asarray(box_high, dtype=np.float64)
    x_eq = np.asarray(loop.system.x_eq, dtype=np.float64)
    _check_problem(box_low, box_high, x_eq, kappa, rho, hole)
    low_t, high_t, eq_t = (torch.as_tensor(v) for v in (box_low, box_high, x_eq))
    total_volume = float(torch.prod(high_t - low_t))
    n = len(box_low)

    # the first boxes: a regular grid of initial_splits per side
    edges = [torch.linspace(float(box_low[i]), float(box_high[i]), initial_splits + 1, dtype=torch.float64)
             for i in range(n)]
    cells = torch.cartesian_prod(*[torch.arange(initial_splits)] * n).reshape(-1, n)
    queue = BoxQueue(box_low, box_high)
    queue.push(torch.stack([edges[i][cells[:, i]] for i in range(n)], -1).numpy(),
               torch.stack([edges[i][cells[:, i] + 1] for i in range(n)], -1).numpy())
    budget = Budget(max_depth=max_depth, max_boxes=max_boxes)

    result = VerificationResult(status="verified", rho=float(rho), kappa=float(kappa), hole=float(hole))
    verified_volume = timeout_volume = 0.0
    while len(queue):
        lo_np, hi_np, depth = queue.take(batch)
        lo, hi = torch.from_numpy(lo_np), torch.from_numpy(hi_np)
        volume = torch.prod(hi - lo, -1)

        in_hole = ((lo - eq_t).abs().amax(-1) <= hole) & ((hi - eq_t).abs().amax(-1) <= hole) if hole > 0 else \
            torch.zeros(len(lo), dtype=torch.bool)
        bounds = loop.bound(lo, hi, kappa)
        v_low, _ = bounds["V"]
        _, decrease_high = bounds["decrease"]
        next_low, next_high = bounds["x_next"]
        outside_level = v_low > rho
        stays = ((next_low >= low_t) & (next_high <= high_t)).all(-1)
        proven = ~in_hole & (outside_level | ((decrease_high <= 0) & stays))

        undecided = ~in_hole & ~proven
        centre = (lo + hi) / 2
        x_next_c, decrease_c, value_c = loop.evaluate(centre, kappa)
        centre_in_hole = (centre - eq_t).abs().amax(-1) <= hole
        leaves = ~((x_next_c >= low_t) & (x_next_c <= high_t)).all(-1)
        violates = undecided & (value_c <= rho) & ~centre_in_hole & ((decrease_c > 0) | leaves)
        exhausted = undecided & ~violates & torch.from_numpy(budget.too_deep(depth))
        split = undecided & ~violates & ~exhausted

        result.excluded += int(in_hole.sum())
        result.verified += int(proven.sum())
        verified_volume += float(volume[proven].sum())
        result.falsified += int(violates.sum())
        result.timeout += int(exhausted.sum())
        timeout_volume += float(volume[exhausted].sum())
        for index in violates.nonzero().flatten().tolist()[: max(0, max_counterexamples - len(result.counterexamples))]:
            result.counterexamples.append({
                "x": centre[index].tolist(), "V": float(value_c[index]), "decrease": float(decrease_c[index]),
                "x_next": x_next_c[index].tolist(), "leaves_box": bool(leaves[index])})

        if bool(split.any()):
            if not budget.allows(queue.taken + 2 * int(split.sum())):  # out of budget: the rest time out
                result.timeout += int(split.sum())
                timeout_volume += float(volume[split].sum())
            else:
                chosen = split.numpy()
                queue.split(lo_np[chosen], hi_np[chosen], depth[chosen])
    result.boxes_bounded = queue.taken

    result.verified_volume_fraction = verified_volume / total_volume
    result.timeout_volume_fraction = timeout_volume / total_volume
    result.status = "falsified" if result.falsified else ("timeout" if result.timeout else "verified")
    result.wall_time_s = time.perf_counter() - started
    return result


BACKENDS = ("bounds", "z3")
LOWEST_LEVEL = 1e-12  # largest_rho gives up below this fraction of its upper end


def verify_with(backend: str, loop: ClosedLoop, box_low: Any, box_high: Any, rho: float, kappa: float,
                hole: float = 0.0, timeout_s: float = 60.0, **options: Any) -> VerificationResult:
    """:func:`verify` (``"bounds"``: any model the bound arithmetic covers) or
    :func:`agents.lyapunov.z3_backend.verify_z3` (``"z3"``: polynomial and piecewise-linear models,
    one exact query with ``timeout_s``)."""
    if backend == "z3":
        from agents.lyapunov.z3_backend import verify_z3

        return verify_z3(loop, box_low, box_high, rho, kappa, hole, timeout_s=timeout_s)
    if backend != "bounds":
        raise ValueError(f"unknown verification back-end {backend!r}; allowed: {', '.join(BACKENDS)}")
    return verify(loop, box_low, box_high, rho, kappa, hole, **options)


def largest_rho(loop: ClosedLoop, box_low: Any, box_high: Any, kappa: float, hole: float = 0.0,
                rho_high: float | None = None, tolerance: float = 0.02, backend: str = "bounds",
                **options: Any) -> tuple[float, VerificationResult]:
    """The largest level ``rho`` (to ``tolerance`` relative) whose sublevel set verifies, by bisection.

    ``rho_high`` defaults to the largest ``V`` on the box's corners and a grid (an upper end). When no
    level verifies, the bisection from 0 stops once its upper end is ``LOWEST_LEVEL`` times the first
    (about 40 halvings, not the thousand down to float underflow) and returns ``(0.0, the last failed
    attempt)``."""
    box_low = np.asarray(box_low, dtype=np.float64)
    box_high = np.asarray(box_high, dtype=np.float64)
    if rho_high is None:
        grid = torch.cartesian_prod(*[torch.linspace(float(a), float(b), 21, dtype=torch.float64)
                                      for a, b in zip(box_low, box_high)])
        with torch.no_grad():
            rho_high = float(loop.lyapunov(grid, TORCH_OPS).max())
    low, high, best = 0.0, float(rho_high), None
    attempt = verify_with(backend, loop, box_low, box_high, high, kappa, hole, **options)
    if attempt.holds:
        return high, attempt
    floor = LOWEST_LEVEL * high
    while high - low > tolerance * high and high > floor:
        middle = (low + high) / 2
        attempt = verify_with(backend, loop, box_low, box_high, middle, kappa, hole, **options)
        if attempt.holds:
            low, best = middle, attempt
        else:
            high = middle
    return (low, best) if best is not None else (0.0, attempt)
