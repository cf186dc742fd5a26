"""``agent=hybrid_roa``: per-mode neural controllers and Lyapunov functions, an RoA-level network and
the RoA planner (the method of "Hybrid Systems Neural Control with Region-of-Attraction Planner"), as
an rlkit agent on the hybrid car.

``learn`` pretrains each mode's pair on its LQR, fits the RoA levels, trains each pair jointly
(:mod:`agents.hybrid_roa.training`; ``total_timesteps`` counts training states, ``batch`` per
iteration, shared between the modes) and refits the levels. Acting: every ``replan_every`` steps (and
at an episode start) the planner picks a target reference (speed, offset); every step the reference
ramps toward it and the mode's controller tracks the moved reference.
In an env without reference commands (``env=car_hybrid``) the planner is off and the agent is its
per-mode neural controllers alone.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

from agents.loop import connect_callback
from agents.hybrid_roa.base import CarControllerAgent, LQRSchedule, deviation
from agents.hybrid_roa.networks import ModeController, ModeLyapunov, RoALevel, context
from agents.hybrid_roa.planner import RoAPlanner
from agents.hybrid_roa.training import (Ranges, empirical_levels, fit_roa_level, pretrain, sample_params,
                                        train_jointly)
from envs.hybrid.car_env import FIELD

DEFAULTS: dict[str, Any] = dict(
    controller_hidden=[64, 64], lyapunov_hidden=[64, 64], lyapunov_features=16, level_hidden=[32, 32],
    pretrain_iterations=2000, pretrain_lr=3e-3, batch=256, lr=1e-3, decrease_rate=0.05, decrease_steps=10,
    margin=0.01, anchor_weight=1.0, controller_lr_share=0.02, rollout_steps=400, level_contexts=48,
    level_states=128, k=3.0, replan_every=10, refine_steps=0, n_speeds=20, n_offsets=5,
    lookahead_s=3.0, ramp_accel=7.0, ramp_offset_rate=1.0, speed_weight=0.05, offset_weight=0.01, speed_range=[3.0, 30.0], max_offset=1.5,
    Q=None, R=None,
)


class HybridRoAAgent(CarControllerAgent):
    def __init__(self, policy: Any = None, env: Any = None, seed: int | None = None, device: Any = "auto",
                 verbose: int = 0, **hyperparameters: Any) -> None:
        unknown = set(hyperparameters) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown hybrid_roa settings {sorted(unknown)}; allowed: {sorted(DEFAULTS)}")
        super().__init__(policy, env, seed, device, verbose, **{**DEFAULTS, **hyperparameters})
        self.seed = 0 if seed is None else int(seed)
        self._setup()

    def _setup(self) -> None:
        h = self.hyperparameters
        for name in ("batch", "pretrain_iterations", "rollout_steps", "replan_every", "level_contexts", "level_states"):
            if not isinstance(h[name], int) or h[name] < 1:
                raise ValueError(f"hybrid_roa: {name} must be a positive integer (got {h[name]!r})")
        if h["refine_steps"] < 0:
            raise ValueError(f"hybrid_roa: refine_steps must be >= 0 (got {h['refine_steps']})")
        torch.manual_seed(self.seed)
        limit = self.system.input_limit
        self.modes = list(self.system.modes)
        self.controllers = {m: ModeController(h["controller_hidden"], limit).double() for m in self.modes}
        self.lyapunovs = {m: ModeLyapunov(h["lyapunov_hidden"], h["lyapunov_features"]).double() for m in self.modes}
        self.level = RoALevel(h["level_hidden"]).double()
        self.planner = RoAPlanner(
            self.system, self.lyapunovs, self.level, speed_range=tuple(h["speed_range"]),
            max_offset=h["max_offset"], n_speeds=h["n_speeds"], n_offsets=h["n_offsets"], k=h["k"],
            refine_steps=h["refine_steps"], speed_weight=h["speed_weight"], offset_weight=h["offset_weight"],
            lookahead_s=h["lookahead_s"], ramp_accel=h["ramp_accel"], ramp_offset_rate=h["ramp_offset_rate"])
        self.trained = False
        self.training_wall_time_s = 0.0
        self._targets: np.ndarray | None = None
        self._since_plan: np.ndarray | None = None
        self._numpy_controllers: dict | None = None

    # -- training -------------------------------------------------------------------------------
    def _ranges(self) -> Ranges:
        h = self.hyperparameters
        return Ranges(speed=tuple(h["speed_range"]), rollout_steps=h["rollout_steps"])

    def fit_levels(self, gen: torch.Generator) -> float:
        """Empirical RoA levels per mode over sampled contexts, then the level network fitted to them."""
        h, ranges = self.hyperparameters, self._ranges()
        params, levels = [], []
        for mode in self.modes:
            p = sample_params(gen, h["level_contexts"], self.system.mu_scale(mode), ranges)
            params.append(p)
            levels.append(empirical_levels(self.system, self.controllers[mode], self.lyapunovs[mode], p,
                                           h["level_states"], ranges, gen))
        return fit_roa_level(self.level, torch.cat(params), torch.cat(levels))

    def learn(self, total_timesteps: int, callback: Any = None, progress_bar: bool = False,
              reset_num_timesteps: bool = True) -> HybridRoAAgent:
        h = self.hyperparameters
        if reset_num_timesteps:
            self.num_timesteps = 0
        gen = torch.Generator().manual_seed(self.seed + self.num_timesteps)
        callback = connect_callback(self, callback, progress_bar) if callback is not None else None
        if callback is not None:
            callback.on_training_start(locals(), globals())
        started = time.perf_counter()
        self._numpy_controllers = None
        ranges = self._ranges()
        schedule = LQRSchedule(self.system, *(w for w in (h["Q"], h["R"]) if w is not None))
        if not self.trained:
            for mode in self.modes:
                mu = self.system.mu_scale(mode)
                fit = pretrain(self.system, schedule, self.controllers[mode], self.lyapunovs[mode], mu, ranges,
                               h["pretrain_iterations"], h["pretrain_lr"])
                self.logger.record(f"hybrid_roa/pretrain_relative_error_{mode}", fit)
                # V's level 1 at the median empirical RoA edge, so the classification target is level 1
                p = sample_params(gen, h["level_contexts"], mu, ranges)
                edge = empirical_levels(self.system, self.controllers[mode], self.lyapunovs[mode], p,
                                        h["level_states"], ranges, gen)
                self.lyapunovs[mode].level_scale.mul_(float(edge.median()))
            self.trained = True
        iterations = max(1, math.ceil(int(total_timesteps) / (h["batch"] * len(self.modes))))
        stopped = False

        def after_iteration(record: dict) -> bool:
            nonlocal stopped
            self.num_timesteps += h["batch"]
            self._numpy_controllers = None  # the weights changed: evaluations take a new snapshot
            for key, value in record.items():
                self.logger.record(f"hybrid_roa/{key}", value)
            if callback is not None:
                callback.on_rollout_start()
                stopped = not callback.on_step()
            self.logger.dump(self.num_timesteps)
            return not stopped

        for mode in self.modes:
            if stopped:
                break
            self.fit_levels(gen)  # evaluations during training use the levels of the current V
            train_jointly(self.system, schedule, self.controllers[mode], self.lyapunovs[mode],
                          self.system.mu_scale(mode), ranges, iterations, h["batch"], h["lr"], gen,
                          decrease_rate=h["decrease_rate"], decrease_steps=h["decrease_steps"], margin=h["margin"],
                          anchor_weight=h["anchor_weight"], controller_lr_share=h["controller_lr_share"],
                          after_iteration=after_iteration)
        self.logger.record("hybrid_roa/level_fit_log_mse", self.fit_levels(gen))
        self.training_wall_time_s += time.perf_counter() - started
        self.logger.record("hybrid_roa/training_wall_time_s", self.training_wall_time_s)
        self.logger.dump(self.num_timesteps)
        if callback is not None:
            callback.on_training_end()
        return self

    # -- acting ---------------------------------------------------------------------------------
    def control(self, obs: np.ndarray) -> np.ndarray:
        params, e, _, u_eq = deviation(self.system, obs)
        ctx = context(params)
        u = np.empty((len(obs), 2))
        modes = np.array([self.planner.mode_of(mu) for mu in obs[:, FIELD["mu_scale"]]])
        if self._numpy_controllers is None:  # snapshots of the trained weights, taken at the first act
            self._numpy_controllers = {m: c.numpy_policy() for m, c in self.controllers.items()}
        for mode in set(modes):
            rows = modes == mode
            u[rows] = self._numpy_controllers[mode](e[rows], ctx[rows], u_eq[rows])
        return u

    def reference(self, obs: np.ndarray) -> np.ndarray:
        """The reference commands: every ``replan_every`` steps the planner sets a target (speed, offset)
        per row; each step the reference ramps toward it."""
        n, every = len(obs), self.hyperparameters["replan_every"]
        if self._targets is None or len(self._targets) != n:
            self._targets = np.zeros((n, 2))
            self._since_plan = np.full(n, every)
        for row in np.flatnonzero(self._since_plan >= every):
            speed, offset, _ = self.planner.plan(obs[row])
            self._targets[row] = (speed, offset)
            self._since_plan[row] = 0
        self._since_plan += 1
        return np.array([self.planner.command(o, target) for o, target in zip(obs, self._targets)])

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        if episode_start is not None and self._since_plan is not None:
            starts = np.asarray(episode_start, dtype=bool).reshape(-1)
            if len(starts) == len(self._since_plan):
                self._since_plan[starts] = self.hyperparameters["replan_every"]
        return super().predict(observation, state, episode_start, deterministic)

    def timing_summary(self) -> dict[str, float]:
        """For summary.json: the wall seconds of training (pretraining, level fits, joint training)."""
        return {"train_s": round(self.training_wall_time_s, 3)}

    def _record_logs(self, logger: Any) -> None:
        logger.record("hybrid_roa/plans", self.planner.plans)
        logger.record("hybrid_roa/infeasible_plans", self.planner.infeasible)

    # -- saving ---------------------------------------------------------------------------------
    def get_parameters(self) -> dict[str, Any]:
        return {f"{kind}_{mode}": net.state_dict() for kind, nets in (("controller", self.controllers),
                ("lyapunov", self.lyapunovs)) for mode, net in nets.items()} | {"level": self.level.state_dict()}

    def _state(self) -> Any:
        return {"parameters": self.get_parameters(), "trained": self.trained,
                "training_wall_time_s": self.training_wall_time_s}

    def _restore(self, state: Any) -> None:
        parameters = state["parameters"]
        for mode in self.modes:
            self.controllers[mode].load_state_dict(parameters[f"controller_{mode}"])
            self.lyapunovs[mode].load_state_dict(parameters[f"lyapunov_{mode}"])
        self.level.load_state_dict(parameters["level"])
        self._numpy_controllers = None
        self.trained, self.training_wall_time_s = state["trained"], state["training_wall_time_s"]
