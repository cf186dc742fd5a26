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
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from agents.base import refuse_unknown
from agents.hybrid_roa.base import CarControllerAgent, LQRSchedule, deviation, hyperparameters_of, weights
from agents.hybrid_roa.networks import ModeController, ModeLyapunov, RoALevel, context
from agents.hybrid_roa.planner import RoAPlanner
from agents.hybrid_roa.training import (Ranges, empirical_levels, fit_roa_level, pretrain, sample_params,
                                        train_jointly)
from agents.loop import IterationLoop
from envs.hybrid.car_env import FIELD


class HybridRoAAgent(CarControllerAgent):
    """Per-mode neural controllers and Lyapunov functions, an RoA-level network and the RoA planner.

    Args:
        env: the car_hybrid env (``rlkit/CarHybrid-v0``); with ``reference_commands`` (``env=car_hybrid_planned``)
            the planner moves the reference, without it the agent is its per-mode controllers alone.
        seed: seeds the networks' initialisation and the training samples (None: 0).
        controller_hidden: widths of each mode's controller network.
        lyapunov_hidden: widths of each mode's Lyapunov network.
        lyapunov_features: features of V's nonlinear part.
        level_hidden: widths of the RoA-level network c(mu, v_ref, curvature).
        pretrain_iterations: full-batch fits of the gain and cost networks to the LQR grid, per mode (not
            counted in total_timesteps).
        pretrain_lr: Adam's learning rate in pretraining.
        batch: states per joint-training iteration (``total_timesteps`` counts these states, over both modes).
        lr: Adam's learning rate of V in joint training.
        decrease_rate: V(x+) <= (1 - rate) V(x) - margin inside the RoA, x+ after ``decrease_steps`` steps.
        decrease_steps: closed-loop steps of the decrease condition.
        margin: the classification and decrease margin.
        anchor_weight: pull of the controller toward the mode's LQR during joint training.
        controller_lr_share: the controller's learning rate as a share of ``lr``.
        rollout_steps: a sampled state is inside the empirical RoA when its rollout of this many steps
            (400: 4 s) converges.
        level_contexts: reference contexts per mode for the RoA-level fit.
        level_states: sampled states per context.
        k: the planner asks for V <= c / k (chosen on roads of seeds 0-24: k 2 -> 68 % valid, 3 -> 72 %).
        replan_every: steps between plans.
        refine_steps: gradient steps refining the best candidate when no grid candidate lands (3: the
            same valid rate on the bench roads, 3x the time per step).
        n_speeds: candidate target speeds, 3 m/s .. the segment's nominal speed.
        n_offsets: candidate target offsets, -max_offset .. max_offset.
        lookahead_s: plan for the next segment when it is this close (seconds at the car's speed).
        ramp_accel: m/s^2: the reference's speed moves toward the target at this rate (inputs reach 8).
        ramp_offset_rate: m/s: and its offset at this rate.
        speed_weight: the planner's pull toward the nominal speed.
        offset_weight: the planner's pull toward the centreline.
        speed_range: [low, high] m/s of the trained contexts and the planner's targets.
        max_offset: the largest target offset (m).
        Q: the LQR's 7 state weights (None: ``agents.hybrid_roa.base.DEFAULT_Q``).
        R: the LQR's 2 input weights (None: ``DEFAULT_R``).
    """

    def __init__(self, env: Any = None, seed: int | None = None, device: Any = "auto", verbose: int = 0, *,
                 controller_hidden: Sequence[int] = (64, 64), lyapunov_hidden: Sequence[int] = (64, 64),
                 lyapunov_features: int = 16, level_hidden: Sequence[int] = (32, 32),
                 pretrain_iterations: int = 2000, pretrain_lr: float = 3e-3, batch: int = 256, lr: float = 1e-3,
                 decrease_rate: float = 0.05, decrease_steps: int = 10, margin: float = 0.01,
                 anchor_weight: float = 1.0, controller_lr_share: float = 0.02, rollout_steps: int = 400,
                 level_contexts: int = 48, level_states: int = 128, k: float = 3.0, replan_every: int = 10,
                 refine_steps: int = 0, n_speeds: int = 20, n_offsets: int = 5, lookahead_s: float = 3.0,
                 ramp_accel: float = 7.0, ramp_offset_rate: float = 1.0, speed_weight: float = 0.05,
                 offset_weight: float = 0.01, speed_range: Sequence[float] = (3.0, 30.0), max_offset: float = 1.5,
                 Q: Sequence[float] | None = None, R: Sequence[float] | None = None, **unknown: Any) -> None:
        refuse_unknown(type(self), unknown)
        for name, value in (("batch", batch), ("pretrain_iterations", pretrain_iterations),
                            ("rollout_steps", rollout_steps), ("replan_every", replan_every),
                            ("level_contexts", level_contexts), ("level_states", level_states)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"hybrid_roa: {name} must be a positive integer (got {value!r})")
        if refine_steps < 0:
            raise ValueError(f"hybrid_roa: refine_steps must be >= 0 (got {refine_steps})")
        controller_hidden, lyapunov_hidden, level_hidden, speed_range = (
            list(controller_hidden), list(lyapunov_hidden), list(level_hidden), list(speed_range))
        Q = None if Q is None else weights("Q", Q, 7, False)
        R = None if R is None else weights("R", R, 2, True)
        super().__init__(env, seed, device, verbose, hyperparameters_of(HybridRoAAgent.__init__, locals()))
        self.seed = 0 if seed is None else int(seed)
        torch.manual_seed(self.seed)
        limit = self.system.input_limit
        self.modes = list(self.system.modes)
        self.controllers = {m: ModeController(controller_hidden, limit).double() for m in self.modes}
        self.lyapunovs = {m: ModeLyapunov(lyapunov_hidden, lyapunov_features).double() for m in self.modes}
        self.level = RoALevel(level_hidden).double()
        self.planner = RoAPlanner(
            self.system, self.lyapunovs, self.level, speed_range=tuple(speed_range), max_offset=max_offset,
            n_speeds=n_speeds, n_offsets=n_offsets, k=k, refine_steps=refine_steps, speed_weight=speed_weight,
            offset_weight=offset_weight, lookahead_s=lookahead_s, ramp_accel=ramp_accel,
            ramp_offset_rate=ramp_offset_rate)
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
        loop = IterationLoop(self, total_timesteps, callback, progress_bar, reset_num_timesteps, "hybrid_roa")
        gen = torch.Generator().manual_seed(self.seed + self.num_timesteps)
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

        def after_iteration(record: dict) -> bool:
            self._numpy_controllers = None  # the weights changed: evaluations take a new snapshot
            return loop.after_iteration(h["batch"], record)

        for mode in self.modes:
            if loop.stopped:
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
        loop.finish()
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

    def checkpoint_state(self) -> dict[str, Any]:
        return super().checkpoint_state() | {"parameters": self.get_parameters(), "trained": self.trained,
                                             "training_wall_time_s": self.training_wall_time_s}

    def restore_checkpoint(self, state: dict[str, Any]) -> None:
        parameters = state["parameters"]
        for mode in self.modes:
            self.controllers[mode].load_state_dict(parameters[f"controller_{mode}"])
            self.lyapunovs[mode].load_state_dict(parameters[f"lyapunov_{mode}"])
        self.level.load_state_dict(parameters["level"])
        self._numpy_controllers = None
        self.trained, self.training_wall_time_s = state["trained"], state["training_wall_time_s"]
