"""The region-of-attraction planner: ahead of a mode switch, move the reference (speed, lateral offset)
so that the car is inside the current mode's RoA now and lands inside the next mode's RoA at the switch.

For each candidate command ``(v, d)`` (a grid of speeds up to the segment's nominal one, or the car's speed when
it is faster, times a grid of offsets) the planner re-expresses the car's state about the moved reference, imagines the current mode's
closed loop up to the switch (at most ``imagine_steps`` steps of the model), re-expresses the landing
state about the next segment's reference under the next mode, and scores

    J = relu(V1 - c1 / k) + relu(V2 - c2 / k) + speed_weight (1 - v / v_nominal)^2 + offset_weight (d / d_max)^2

with the per-mode Lyapunov functions V and the RoA-level network c (the source paper's objective plus a
pull toward the nominal reference). The best candidate is refined by a few gradient steps through the
imagined rollout. When no candidate reaches J's RoA terms = 0 there is no feasible landing point: the
planner falls back to the least-violating command and counts it (``infeasible``), with one logged warning.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch

from agents.hybrid_roa.networks import ModeController, ModeLyapunov, RoALevel, context
from envs.hybrid.car import CarTracking
from envs.hybrid.car_env import FIELD

log = logging.getLogger(__name__)


class RoAPlanner:
    def __init__(self, system: CarTracking, controllers: dict[str, ModeController], lyapunovs: dict[str, ModeLyapunov],
                 level: RoALevel, speed_range: tuple[float, float] = (3.0, 30.0), max_offset: float = 1.5,
                 n_speeds: int = 10, n_offsets: int = 5, k: float = 1.2, imagine_steps: int = 30,
                 refine_steps: int = 2, refine_lr: float = 0.3, speed_weight: float = 0.05,
                 offset_weight: float = 0.01, lookahead_s: float = 2.0) -> None:
        if n_speeds < 1 or n_offsets < 1:
            raise ValueError(f"the planner needs at least one speed and one offset candidate (got {n_speeds}, {n_offsets})")
        if not k >= 1.0:
            raise ValueError(f"k (the safety factor dividing the RoA level) must be >= 1 (got {k})")
        low, high = speed_range
        if not 0 < low <= high:
            raise ValueError(f"speed_range must be (low, high) with 0 < low <= high (got {speed_range})")
        self.system, self.controllers, self.lyapunovs, self.level = system, controllers, lyapunovs, level
        self.speed_range, self.max_offset = (float(low), float(high)), float(max_offset)
        self.n_speeds, self.n_offsets, self.k = int(n_speeds), int(n_offsets), float(k)
        self.imagine_steps, self.refine_steps, self.refine_lr = int(imagine_steps), int(refine_steps), float(refine_lr)
        self.speed_weight, self.offset_weight, self.lookahead_s = float(speed_weight), float(offset_weight), float(lookahead_s)
        self.mode_mu = {name: system.mu_scale(name) for name in controllers}
        self.plans = self.infeasible = 0
        self._warned = False

    def mode_of(self, mu_scale: float) -> str:
        return min(self.mode_mu, key=lambda name: abs(self.mode_mu[name] - mu_scale))

    def objective(self, obs: np.ndarray, speed: torch.Tensor, offset: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(J, the RoA terms alone) for candidate commands (N,) from one observation."""
        f = FIELD
        x0 = torch.as_tensor(obs[:7], dtype=torch.float64).expand(len(speed), 7)
        v0, d0 = float(obs[f["reference_speed"]]), float(obs[f["offset"]])
        kappa, kappa_next = float(obs[f["curvature"]]), float(obs[f["next_curvature"]])
        omega0 = v0 * kappa / (1.0 - d0 * kappa)
        omega = speed * kappa / (1.0 - offset * kappa)
        zero = torch.zeros_like(speed)
        # the env's bookkeeping when the reference moves: speed, lateral and yaw-rate errors shift
        x = x0 + torch.stack([zero, -(offset - d0), zero, -(speed - v0), zero, -(omega - omega0), zero], -1)
        mode_now, mode_next = self.mode_of(obs[f["mu_scale"]]), self.mode_of(obs[f["next_mu_scale"]])
        params = torch.stack([speed, omega, zero, torch.full_like(speed, self.mode_mu[mode_now])], -1)
        x_eq, u_eq = self.system.equilibrium(params)
        ctx = context(params)
        roa = torch.relu(self.lyapunovs[mode_now](x - x_eq, ctx) - self.level(params) / self.k)
        car_speed = max(v0 + float(obs[f["speed_error"]]), 1.0)
        time_to_switch = float(obs[f["distance_to_switch"]]) / car_speed
        if time_to_switch <= self.lookahead_s:
            steps = min(self.imagine_steps, math.ceil(time_to_switch / self.system.dt))
            controller = self.controllers[mode_now]
            for _ in range(steps):
                x = self.system.step(x, controller(x - x_eq, ctx, u_eq), params)
            omega_next = speed * kappa_next / (1.0 - offset * kappa_next)
            x = x - torch.stack([zero, zero, zero, zero, zero, omega_next - omega, zero], -1)
            params_next = torch.stack([speed, omega_next, zero, torch.full_like(speed, self.mode_mu[mode_next])], -1)
            x_eq_next, _ = self.system.equilibrium(params_next)
            v_next = self.lyapunovs[mode_next](x - x_eq_next, context(params_next))
            roa = roa + torch.relu(v_next - self.level(params_next) / self.k)
        nominal = max(float(obs[f["nominal_speed"]]), self.speed_range[0])
        pull = self.speed_weight * (1 - speed / nominal) ** 2 + self.offset_weight * (offset / max(self.max_offset, 1e-9)) ** 2
        return roa + pull, roa

    def plan(self, obs: np.ndarray) -> tuple[float, float, bool]:
        """(speed, offset, feasible) for one observation."""
        f = FIELD
        nominal = float(np.clip(obs[f["nominal_speed"]], *self.speed_range))
        # up to the nominal speed, or the car's own speed when it is faster (slowing down takes time)
        car_speed = float(obs[f["reference_speed"]] + obs[f["speed_error"]])
        top = float(np.clip(max(nominal, car_speed), *self.speed_range))
        speeds = np.linspace(self.speed_range[0], top, self.n_speeds)
        offsets = np.linspace(-self.max_offset, self.max_offset, self.n_offsets) if self.n_offsets > 1 else np.zeros(1)
        grid_v, grid_d = (torch.tensor(a.reshape(-1), dtype=torch.float64) for a in np.meshgrid(speeds, offsets))
        with torch.no_grad():
            total, roa = self.objective(obs, grid_v, grid_d)
        best = int(torch.argmin(total))
        speed, offset, best_total, best_roa = float(grid_v[best]), float(grid_d[best]), float(total[best]), float(roa[best])
        if self.refine_steps > 0:
            command = torch.tensor([speed, offset], dtype=torch.float64, requires_grad=True)
            optimizer = torch.optim.Adam([command], lr=self.refine_lr)
            for _ in range(self.refine_steps):
                value, _ = self.objective(obs, command[:1], command[1:])
                optimizer.zero_grad()
                value.sum().backward()
                optimizer.step()
                with torch.no_grad():
                    command[0].clamp_(self.speed_range[0], top)
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
