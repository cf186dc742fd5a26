"""Training of the per-mode controller and Lyapunov function, and of the RoA-level network.

1. ``pretrain``: fit the controller's gain network to each mode's LQR gains (scheduled over speed and
   curvature) and V's quadratic part to the LQR's cost-to-go ``e' P e``, as the source paper
   initialises both.
2. ``train_jointly``: the paper's losses on states whose closed-loop rollout converges (the empirical
   region of attraction) or not: classification (V < 1 inside, V > 1 outside), decrease over
   ``decrease_steps`` steps (V(x+) <= (1 - rate) V(x) - margin inside) and monotonicity along rays
   (V(0.8 e) <= V(e)); the controller is trained through the decrease term, anchored to the LQR.
3. ``fit_roa_level``: per sampled reference context, the largest level of V under which every sampled
   state converges; a network c(mu, v_ref, curvature) fitted to those levels (in log space).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from agents.hybrid_roa.base import LQRSchedule
from agents.hybrid_roa.networks import STATE_SCALE, ModeController, ModeLyapunov, RoALevel, context
from envs.hybrid.car import CarTracking

MAX_CURVATURE = 0.11  # 1/m: the sharpest random-road turn (1.5 x 30 degrees over 7.5 m) is 0.105
CONVERGED = 0.2  # |e / STATE_SCALE|_inf at the end of a rollout below which it counts as converged


@dataclass
class Ranges:
    speed: tuple[float, float] = (3.0, 30.0)
    curvature: float = MAX_CURVATURE
    rollout_steps: int = 400  # 4 s: how long a state gets to converge to count as inside the RoA
    max_lateral_error: float = 3.0


def sample_params(gen: torch.Generator, n: int, mu_scale: float, ranges: Ranges) -> torch.Tensor:
    speed = ranges.speed[0] + (ranges.speed[1] - ranges.speed[0]) * torch.rand(n, generator=gen, dtype=torch.float64)
    curvature = ranges.curvature * (2 * torch.rand(n, generator=gen, dtype=torch.float64) - 1)
    zero = torch.zeros(n, dtype=torch.float64)
    return torch.stack([speed, speed * curvature, zero, torch.full((n,), mu_scale, dtype=torch.float64)], -1)


def sample_deviations(gen: torch.Generator, n: int, max_radius: float = 3.0) -> torch.Tensor:
    """Deviations of every size up to ``max_radius`` x STATE_SCALE (log-uniform radius, box direction)."""
    direction = 2 * torch.rand(n, 7, generator=gen, dtype=torch.float64) - 1
    radius = torch.exp(torch.empty(n, 1, dtype=torch.float64).uniform_(np.log(0.03), np.log(max_radius), generator=gen))
    return direction * radius * torch.tensor(STATE_SCALE, dtype=torch.float64)


def closed_loop_step(system: CarTracking, controller: ModeController, x: torch.Tensor, params: torch.Tensor,
                     x_eq: torch.Tensor, u_eq: torch.Tensor, ctx: torch.Tensor, frozen: tuple | None = None) -> torch.Tensor:
    return system.step(x, controller(x - x_eq, ctx, u_eq, frozen), params)


def converges(system: CarTracking, controller: ModeController, e0: torch.Tensor, params: torch.Tensor,
              ranges: Ranges) -> torch.Tensor:
    """Whether each state's rollout under the mode's controller converges (constant reference)."""
    x_eq, u_eq = system.equilibrium(params)
    ctx = context(params)
    x = x_eq + e0
    stayed = torch.ones(len(e0), dtype=torch.bool)
    with torch.no_grad():
        frozen = controller.frozen_parts(ctx)
        for _ in range(ranges.rollout_steps):
            x = closed_loop_step(system, controller, x, params, x_eq, u_eq, ctx, frozen)
            x = torch.where(torch.isfinite(x), x, torch.full_like(x, 1e6)).clamp(-1e6, 1e6)
            stayed &= x[:, 1].abs() < ranges.max_lateral_error
    scale = torch.tensor(STATE_SCALE, dtype=torch.float64)
    return stayed & (((x - x_eq) / scale).abs().amax(-1) < CONVERGED)


def lqr_targets(schedule: LQRSchedule, params: torch.Tensor, e: torch.Tensor, u_eq: torch.Tensor,
                limit: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(saturated LQR inputs, LQR costs e' P e) for each row (params on a grid: the gains are cached)."""
    inputs, costs = [], []
    for p, row, ue in zip(params.numpy(), e.numpy(), u_eq.numpy()):
        K, P = schedule.gain_and_cost(p)
        inputs.append(np.clip(ue - K @ row, -limit, limit))
        costs.append(row @ P @ row)
    return torch.tensor(np.array(inputs)), torch.tensor(np.array(costs))


def lqr_grid(schedule: LQRSchedule, mu_scale: float, ranges: Ranges) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """(params, K's, P's) of the mode's LQR on a speed x curvature grid (1.5 m/s x 9 curvatures)."""
    speeds = np.arange(ranges.speed[0], ranges.speed[1] + 1e-9, 1.5)
    curvatures = np.linspace(-ranges.curvature, ranges.curvature, 9)
    params = np.array([(v, v * k, 0.0, mu_scale) for v in speeds for k in curvatures])
    gains, costs = zip(*(schedule.gain_and_cost(p) for p in params))
    return torch.from_numpy(params), np.array(gains), np.array(costs)


def pretrain(system: CarTracking, schedule: LQRSchedule, controller: ModeController, lyapunov: ModeLyapunov,
             mu_scale: float, ranges: Ranges, iterations: int, lr: float) -> float:
    """Fit the controller's gain network to the mode's LQR gains and V's factor network to the Cholesky
    factor of its cost-to-go P (both in scaled coordinates, P normalised), over the grid; the
    nonlinear parts stay at zero. Returns the mean relative squared error of the fit."""
    params, gains, costs = lqr_grid(schedule, mu_scale, ranges)
    scale = np.asarray(STATE_SCALE)
    gain_target = torch.from_numpy(gains * scale / system.input_limit)  # u / limit = -K_s s
    scaled_costs = costs * np.outer(scale, scale)
    cost_scale = float(np.median(np.trace(scaled_costs, axis1=1, axis2=2)) / len(scale))
    factor_target = torch.from_numpy(np.linalg.cholesky(scaled_costs / cost_scale))
    ctx = context(params)
    weights = [1.0 / t.pow(2).mean(0).clamp(min=1e-8) for t in (gain_target, factor_target)]
    optimizer = torch.optim.Adam([*controller.gain.parameters(), *lyapunov.factor.parameters()], lr=lr)
    loss = torch.tensor(0.0)
    for _ in range(iterations):
        gain_error = (controller.gains(ctx) - gain_target) ** 2 * weights[0]
        factor = lyapunov.factor(ctx).unflatten(-1, factor_target.shape[-2:]) * lyapunov.lower
        factor_error = ((factor - factor_target) ** 2 * weights[1])[:, lyapunov.lower]
        loss = gain_error.mean() + factor_error.mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return float(loss.detach())


def train_jointly(system: CarTracking, schedule: LQRSchedule, controller: ModeController, lyapunov: ModeLyapunov,
                  mu_scale: float, ranges: Ranges, iterations: int, batch: int, lr: float, gen: torch.Generator,
                  decrease_rate: float = 0.05, decrease_steps: int = 10, margin: float = 0.01,
                  anchor_weight: float = 1.0, controller_lr_share: float = 0.02, relabel_every: int = 50,
                  pool: int = 2048, after_iteration: Callable[[dict], bool] | None = None) -> dict:
    """The joint training (see the module docstring); ``after_iteration(record)`` returning False stops it.
    The controller learns at ``controller_lr_share`` of V's rate: it starts as a working LQR and the
    decrease term alone, at V's rate, degraded it (fewer converging states) in trials."""
    optimizer = torch.optim.Adam([{"params": controller.parameters(), "lr": lr * controller_lr_share},
                                  {"params": lyapunov.parameters(), "lr": lr}])
    record: dict = {}
    pool_params = pool_e = pool_in = None
    for iteration in range(iterations):
        if iteration % relabel_every == 0:
            pool_params = sample_params(gen, pool, mu_scale, ranges)
            pool_e = sample_deviations(gen, pool, 3.0)
            pool_in = converges(system, controller, pool_e, pool_params, ranges).double()
        rows = torch.randint(pool, (batch,), generator=gen)
        params, e, inside = pool_params[rows], pool_e[rows], pool_in[rows]
        x_eq, u_eq = system.equilibrium(params)
        ctx = context(params)
        v = lyapunov(e, ctx)
        classification = (inside * torch.relu(v - 1 + margin) + (1 - inside) * torch.relu(1 + margin - v)).mean()
        x = x_eq + e
        for _ in range(decrease_steps):
            x = closed_loop_step(system, controller, x, params, x_eq, u_eq, ctx)
        v_next = lyapunov(x - x_eq, ctx)
        decrease = (inside * torch.relu(v_next - (1 - decrease_rate) * v + margin * v.detach().clamp(max=1))).mean()
        monotonic = torch.relu(lyapunov(0.8 * e, ctx) - v).mean()
        with torch.no_grad():
            u_lqr, _ = lqr_targets(schedule, _snap(params), e, u_eq, system.input_limit)
        anchor = (((controller(e, ctx, u_eq) - u_lqr) / system.input_limit) ** 2 * inside.unsqueeze(-1)).mean()
        loss = classification + decrease + monotonic + anchor_weight * anchor
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([*controller.parameters(), *lyapunov.parameters()], 10.0)
        optimizer.step()
        record = {name: float(value.detach()) for name, value in (
            ("loss", loss), ("classification", classification), ("decrease", decrease), ("monotonic", monotonic),
            ("anchor", anchor), ("inside_share", inside.mean()))}
        if after_iteration is not None and not after_iteration(record):
            break
    return record


def _snap(params: torch.Tensor) -> torch.Tensor:
    """Parameters rounded to the pretraining grid's neighbourhood (0.5 m/s, 0.005 1/m) so gains are cached."""
    speed = torch.round(params[:, 0] * 2) / 2
    curvature = torch.round(params[:, 1] / params[:, 0] / 0.005) * 0.005
    return torch.stack([speed, speed * curvature, params[:, 2], params[:, 3]], -1)


def empirical_levels(system: CarTracking, controller: ModeController, lyapunov: ModeLyapunov, params: torch.Tensor,
                     n_states: int, ranges: Ranges, gen: torch.Generator) -> torch.Tensor:
    """Per parameter row: the smallest V among sampled states that do not converge (every sampled state
    below it converges); the largest sampled V when all converge."""
    n = len(params)
    rows = params.repeat_interleave(n_states, 0)
    e = sample_deviations(gen, len(rows), 3.0)
    inside = converges(system, controller, e, rows, ranges).view(n, n_states)
    with torch.no_grad():
        v = lyapunov(e, context(rows)).view(n, n_states)
    outside_v = torch.where(inside, torch.full_like(v, torch.inf), v).amin(-1)
    return torch.where(torch.isinf(outside_v), v.amax(-1), outside_v)


def fit_roa_level(level: RoALevel, params: torch.Tensor, levels: torch.Tensor, iterations: int = 500,
                  lr: float = 1e-2) -> float:
    """Fit c(params) to the empirical levels in log space; returns the final mean squared log error."""
    optimizer = torch.optim.Adam(level.parameters(), lr=lr)
    target = torch.log(levels.clamp(min=1e-3))
    loss = torch.tensor(0.0)
    for _ in range(iterations):
        loss = ((torch.log(level(params)) - target) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return float(loss.detach())
