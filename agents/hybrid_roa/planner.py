"""The region-of-attraction planner: before a mode switch, choose the reference's speed and lateral
offset so that the car is inside the current mode's RoA on the way and lands inside the next mode's
RoA at the switch.

The reference is never moved abruptly: the agent ramps the commanded speed toward the planned target at
``ramp_accel`` (m/s^2) and the offset at ``ramp_offset_rate`` (m/s), so the car keeps a small tracking
error while the reference slows down. A candidate target ``(v, d)`` (a grid of speeds up to the
segment's nominal one times a grid of offsets) is scored by where the ramp can take the reference by the
switch (``v_land``, ``d_land``, at the car's time to the switch) and by the car's current deviation
``e`` from steady cornering, carried to the switch (the mode's controller is taken to hold it there, a
cheap stand-in for simulating the approach, which an earlier version did at ~10x the cost):

    V1 = V_mode(e about the current segment at (v_land, d_land)),
    V2 = V_next(the same car state about the next segment at (v_land, d_land), under the next mode),
    J  = relu(V1 - c1 / k) + relu(V2 - c2 / k) + speed_weight (1 - v / v_nominal)^2 + offset_weight (d / d_max)^2

with the per-mode Lyapunov functions V and the RoA-level network c(mu, v, curvature) (the source
paper's objective, plus a pull toward the nominal reference; among candidates that miss the regions,
ties go to the slower one). Far from a switch (beyond ``lookahead_s``) only the current mode's term
counts. When the grid's best candidate does not land, it is refined by ``refine_steps`` gradient steps
on J (0 by default: on the benchmark roads refining did not change the valid rate and tripled the time
per step); if still none lands there is no feasible landing
point: the planner falls back to the least-violating command and counts it (``infeasible``), with one
logged warning.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from agents.hybrid_roa.networks import ModeLyapunov, RoALevel, context
from envs.hybrid.car import CarTracking
from envs.hybrid.car_env import FIELD

log = logging.getLogger(__name__)
SLOWER_TIE_BREAK = 1e-3


def ramp(current: float, target: torch.Tensor, max_change: float) -> torch.Tensor:
    """``target`` reached from ``current`` by at most ``max_change``."""
    return current + torch.clamp(target - current, -max_change, max_change)


class RoAPlanner:
    def __init__(self, system: CarTracking, lyapunovs: dict[str, ModeLyapunov],
                 level: RoALevel, speed_range: tuple[float, float] = (3.0, 30.0), max_offset: float = 1.5,
                 n_speeds: int = 20, n_offsets: int = 5, k: float = 3.0, refine_steps: int = 0,
                 refine_lr: float = 0.5, speed_weight: float = 0.05, offset_weight: float = 0.01,
                 lookahead_s: float = 3.0, ramp_accel: float = 7.0, ramp_offset_rate: float = 1.0) -> None:
        if n_speeds < 1 or n_offsets < 1:
            raise ValueError(f"the planner needs at least one speed and one offset candidate (got {n_speeds}, {n_offsets})")
        if not k >= 1.0:
            raise ValueError(f"k (the safety factor dividing the RoA level) must be >= 1 (got {k})")
        low, high = speed_range
        if not 0 < low <= high:
            raise ValueError(f"speed_range must be (low, high) with 0 < low <= high (got {speed_range})")
        if not (ramp_accel > 0 and ramp_offset_rate > 0):
            raise ValueError(f"ramp_accel and ramp_offset_rate must be positive (got {ramp_accel}, {ramp_offset_rate})")
        self.system, self.lyapunovs, self.level = system, lyapunovs, level
        self.speed_range, self.max_offset = (float(low), float(high)), float(max_offset)
        self.n_speeds, self.n_offsets, self.k = int(n_speeds), int(n_offsets), float(k)
        self.refine_steps, self.refine_lr = int(refine_steps), float(refine_lr)
        self.speed_weight, self.offset_weight, self.lookahead_s = float(speed_weight), float(offset_weight), float(lookahead_s)
        self.ramp_accel, self.ramp_offset_rate = float(ramp_accel), float(ramp_offset_rate)
        self.mode_mu = {name: system.mu_scale(name) for name in lyapunovs}
        self.plans = self.infeasible = 0
        self._warned = False

    def mode_of(self, mu_scale: float) -> str:
        return min(self.mode_mu, key=lambda name: abs(self.mode_mu[name] - mu_scale))

    def _params(self, speed: torch.Tensor, offset: torch.Tensor, curvature: float, mu: float) -> torch.Tensor:
        omega = speed * curvature / (1.0 - offset * curvature)
        zero = torch.zeros_like(speed)
        return torch.stack([speed, omega, zero, torch.full_like(speed, mu)], -1)

    def _terms(self, mode: str, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        x_eq, _ = self.system.equilibrium(params)
        return torch.relu(self.lyapunovs[mode](x - x_eq, context(params)) - self.level(params) / self.k)

    def objective(self, obs: np.ndarray, speed: torch.Tensor, offset: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(J, the RoA terms alone) for candidate targets (N,) from one observation."""
        f = FIELD
        x_now = torch.as_tensor(np.asarray(obs[:7], dtype=np.float64))
        v0, d0 = float(obs[f["reference_speed"]]), float(obs[f["offset"]])
        kappa, kappa_next = float(obs[f["curvature"]]), float(obs[f["next_curvature"]])
        mode_now, mode_next = self.mode_of(obs[f["mu_scale"]]), self.mode_of(obs[f["next_mu_scale"]])
        mu_now, mu_next = self.mode_mu[mode_now], self.mode_mu[mode_next]
        # the car's deviation from steady cornering now, carried along as the reference ramps
        x_eq_now, _ = self.system.equilibrium(self._params(torch.tensor([v0], dtype=torch.float64), torch.tensor([d0], dtype=torch.float64), kappa, mu_now))
        e_now = x_now - x_eq_now[0]
        car_speed = max(v0 + float(obs[f["speed_error"]]), 1.0)
        time_to_switch = float(obs[f["distance_to_switch"]]) / car_speed
        horizon = min(time_to_switch, self.lookahead_s)
        v_land = ramp(v0, speed, self.ramp_accel * horizon)
        d_land = ramp(d0, offset, self.ramp_offset_rate * horizon)
        params_now = self._params(v_land, d_land, kappa, mu_now)
        x_eq_land, _ = self.system.equilibrium(params_now)
        x_land = x_eq_land + e_now
        roa = self._terms(mode_now, x_land, params_now)
        if time_to_switch <= self.lookahead_s:
            params_next = self._params(v_land, d_land, kappa_next, mu_next)
            # re-expressed about the next segment's reference: its turn rate differs
            shift = torch.zeros_like(x_land)
            shift[:, 5] = params_next[:, 1] - params_now[:, 1]
            roa = roa + self._terms(mode_next, x_land - shift, params_next)
        nominal = max(float(obs[f["nominal_speed"]]), self.speed_range[0])
        pull = self.speed_weight * (1 - speed / nominal) ** 2 + self.offset_weight * (offset / max(self.max_offset, 1e-9)) ** 2
        # where a candidate misses the regions, the slower one of equal violation is the safer fallback
        return roa + torch.where(roa > 0, SLOWER_TIE_BREAK * speed / nominal, pull), roa

    def plan(self, obs: np.ndarray) -> tuple[float, float, bool]:
        """(target speed, target offset, feasible) for one observation."""
        f = FIELD
        nominal = float(np.clip(obs[f["nominal_speed"]], *self.speed_range))
        speeds = np.linspace(self.speed_range[0], nominal, self.n_speeds)
        offsets = np.linspace(-self.max_offset, self.max_offset, self.n_offsets) if self.n_offsets > 1 else np.zeros(1)
        grid_v, grid_d = (torch.tensor(a.reshape(-1), dtype=torch.float64) for a in np.meshgrid(speeds, offsets))
        with torch.no_grad():
            total, roa = self.objective(obs, grid_v, grid_d)
        best = int(torch.argmin(total))
        speed, offset, best_total, best_roa = float(grid_v[best]), float(grid_d[best]), float(total[best]), float(roa[best])
        if self.refine_steps > 0 and best_roa > 0.0:  # the grid found no landing point: refine the best
            command = torch.tensor([speed, offset], dtype=torch.float64, requires_grad=True)
            optimizer = torch.optim.Adam([command], lr=self.refine_lr)
            for _ in range(self.refine_steps):
                value, _ = self.objective(obs, command[:1], command[1:])
                optimizer.zero_grad()
                value.sum().backward()
                optimizer.step()
                with torch.no_grad():
                    command[0].clamp_(self.speed_range[0], nominal)
                    command[1].clamp_(-self.max_offset, self.max_offset)
            with torch.no_grad():
                value, value_roa = self.objective(obs, command[:1], command[1:])
            if float(value) < best_total:
                speed, offset = float(command[0].detach()), float(command[1].detach())
                best_total, best_roa = float(value), float(value_roa)
        self.plans += 1
        feasible = best_roa <= 0.0
        if not feasible:
            self.infeasible += 1
            if not self._warned:
                log.warning("RoA planner: no candidate lands inside both regions of attraction; falling back to the "
                            "least-violating command (speed %.2f m/s, offset %.2f m); later cases are only counted",
                            speed, offset)
                self._warned = True
        return speed, offset, feasible

    def command(self, obs: np.ndarray, target: tuple[float, float]) -> tuple[float, float]:
        """The next step's reference command: the current reference ramped toward ``target``."""
        dt = self.system.dt
        speed, offset = float(obs[FIELD["reference_speed"]]), float(obs[FIELD["offset"]])
        max_speed_change, max_offset_change = self.ramp_accel * dt, self.ramp_offset_rate * dt
        return (speed + min(max(target[0] - speed, -max_speed_change), max_speed_change),
                offset + min(max(target[1] - offset, -max_offset_change), max_offset_change))
