"""Baseline controllers of the hybrid car (the source paper's comparison): LQR per mode, nonlinear MPC
and one common control Lyapunov function for all modes.

All three act on the deviation ``e = x - x_eq(p)`` from steady cornering on the observed reference
(:mod:`agents.hybrid_roa.base`) and share its agent surface (``predict``, ``learn`` as a plain drive,
``save`` / ``load``).

- :class:`HybridLQRAgent` (``agent=hybrid_lqr``): the discrete LQR gain of the mode the car is in
  (friction from the observation) at the observed speed and curvature, saturated to the input box.
- :class:`HybridMPCAgent` (``agent=hybrid_mpc``): single-shooting nonlinear MPC on the car's torch
  model (the env's Euler step with its clipping) over ``horizon`` steps, re-planned every
  ``replan_every`` steps and applied open loop in between; it sees the road preview and switches
  the predicted mode and curvature where the car is predicted to reach the next segment.
- :class:`CommonCLFAgent` (``agent=hybrid_clf``): ``V(e) = e' P e`` with ``P`` the LQR cost matrix of
  one design mode, the same ``V`` on every road; the input is the design LQR input moved as little
  as possible to make ``dV/dt <= -rate V`` under the true mode's linearisation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.optimize
import torch

from agents.base import refuse_unknown
from agents.hybrid_roa.base import (DEFAULT_Q, DEFAULT_R, CarControllerAgent, LQRSchedule, deviation,
                                    hyperparameters_of, integer, weights)
from envs.hybrid.car import GRAVITY, MIN_SPEED
from envs.hybrid.car_env import FIELD, reference_params


class HybridLQRAgent(CarControllerAgent):
    """LQR per mode: ``u = u_eq - K(p) e`` with ``K(p)`` the discrete LQR gain of the car linearised
    about steady cornering for the observed parameters ``p`` (the mode the car is in), saturated.

    Args:
        env: the car_hybrid env (``rlkit/CarHybrid-v0``), plain, wrapped or in a VecEnv.
        Q: the LQR's 7 state weights (x, y, steering, speed, heading, yaw rate, slip), non-negative.
        R: its 2 input weights (steering rate, acceleration), positive.
    """

    def __init__(self, env: Any = None, seed: int | None = None, device: Any = "auto", verbose: int = 0, *,
                 Q: Sequence[float] = DEFAULT_Q, R: Sequence[float] = DEFAULT_R, **unknown: Any) -> None:
        refuse_unknown(type(self), unknown)
        Q, R = weights("Q", Q, 7, False), weights("R", R, 2, True)
        super().__init__(env, seed, device, verbose, hyperparameters_of(HybridLQRAgent.__init__, locals()))
        self.schedule = LQRSchedule(self.system, self.hyperparameters["Q"], self.hyperparameters["R"])

    def control(self, obs: np.ndarray) -> np.ndarray:
        params, e, _, u_eq = deviation(self.system, obs)
        return self.schedule.control(params, e, u_eq)


class HybridMPCAgent(CarControllerAgent):
    """Nonlinear MPC with the road preview.

    Each plan minimises, over ``horizon`` inputs within ``+-input_limit``,
    ``sum_k e_k' Q e_k + (u_k - u_eq,k)' R (u_k - u_eq,k) + e_N' P e_N`` by single shooting through
    ``system.step`` (Euler with the env's clipping), where ``e_k`` is the predicted deviation from
    steady cornering and ``P`` the LQR cost-to-go at the end of the horizon. The predicted mode and
    curvature switch to the next segment's at the first step where the car, at its current speed,
    has covered ``distance_to_switch`` (the yaw-rate error, and without reference commands the speed
    error, shift as the env shifts them). L-BFGS-B, ``maxiter`` iterations, on the exact cost and
    gradient of :meth:`cost_and_gradient` (a forward pass on Python floats through the env's own
    ``dynamics_scalar`` and a hand-written adjoint pass; :meth:`cost` is the same cost in torch),
    started from the cheaper of the previous plan shifted by ``replan_every`` steps (padded with its
    last input) and the LQR rollout; the result is never worse than that start.

    Between re-plans each row of the batch applies its stored plan open loop. A row re-plans after
    ``replan_every`` steps, when ``predict(..., episode_start=...)`` marks a new episode for it, when
    the batch size changes, and at the start of ``learn`` (during ``learn`` a new episode is read from
    the VecEnv's ``buf_dones`` where it has one, as SB3's DummyVecEnv). The stored plans are not saved:
    a loaded agent re-plans on its first step.

    Args:
        env: the car_hybrid env (``rlkit/CarHybrid-v0``), plain, wrapped or in a VecEnv.
        horizon: steps of the plan (of the env's dt, 0.01 s).
        replan_every: steps between re-plans, at most ``horizon``.
        maxiter: L-BFGS-B iterations per plan.
        Q: the stage cost's 7 state weights (x, y, steering, speed, heading, yaw rate, slip), non-negative;
            also the LQR's for the terminal cost and the start plan.
        R: its 2 input weights (steering rate, acceleration), positive.
    """

    def __init__(self, env: Any = None, seed: int | None = None, device: Any = "auto", verbose: int = 0, *,
                 horizon: int = 20, replan_every: int = 10, maxiter: int = 30,
                 Q: Sequence[float] = DEFAULT_Q, R: Sequence[float] = DEFAULT_R, **unknown: Any) -> None:
        refuse_unknown(type(self), unknown)
        horizon = integer("horizon", horizon, 1)
        replan_every, maxiter = integer("replan_every", replan_every, 1, horizon), integer("maxiter", maxiter, 1)
        Q, R = weights("Q", Q, 7, False), weights("R", R, 2, True)
        super().__init__(env, seed, device, verbose, hyperparameters_of(HybridMPCAgent.__init__, locals()))
        hp = self.hyperparameters
        self.horizon, self.replan_every, self.maxiter = hp["horizon"], hp["replan_every"], hp["maxiter"]
        self.schedule = LQRSchedule(self.system, hp["Q"], hp["R"])
        self.Q = torch.tensor(hp["Q"], dtype=torch.float64)
        self.R = torch.tensor(hp["R"], dtype=torch.float64)
        self._Q_weights, self._R_weights = tuple(hp["Q"]), tuple(hp["R"])
        car = self.system.vehicle
        self._vehicle_constants = (car.cornering_stiffness, car.front, car.rear, car.cg_height, car.wheelbase,
                                   GRAVITY, self.system.dt)
        self.solves, self.solve_time = 0, 0.0
        self._logged = (0, 0.0)
        self._clear_plans()
        self._episode_start: Any = None

    def _clear_plans(self) -> None:
        self.plans: np.ndarray | None = None  # (N, horizon, 2)
        self.plan_step = np.zeros(0, dtype=int)  # per row: the index of the next input to apply

    # -- acting -------------------------------------------------------------------------------
    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        self._episode_start = episode_start
        try:
            return super().predict(observation, state, episode_start, deterministic)
        finally:
            self._episode_start = None

    def _actions(self, env: Any) -> np.ndarray:
        return self.predict(self._last_obs, episode_start=getattr(env, "buf_dones", None))[0]

    def _before_learning(self) -> None:
        self._clear_plans()

    def control(self, obs: np.ndarray) -> np.ndarray:
        n = len(obs)
        new_episode = np.zeros(n, dtype=bool)
        if self.plans is None or len(self.plans) != n:
            self.plans = np.zeros((n, self.horizon, 2))
            self.plan_step = np.full(n, self.replan_every, dtype=int)
            new_episode[:] = True
        if self._episode_start is not None:
            starts = np.asarray(self._episode_start, dtype=bool).reshape(-1)
            if len(starts) not in (1, n):
                raise ValueError(f"episode_start must hold one flag per observation ({n}); got {len(starts)}")
            new_episode |= np.broadcast_to(starts, (n,))
        for row in np.flatnonzero(new_episode | (self.plan_step >= self.replan_every)):
            previous = None if new_episode[row] else self.plans[row]
            self.plans[row] = self.solve(obs[row], previous, int(self.plan_step[row]))
            self.plan_step[row] = 0
        u = self.plans[np.arange(n), self.plan_step]
        self.plan_step += 1
        return u.copy()

    # -- the optimal control problem ----------------------------------------------------------
    def prediction_parameters(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """(parameters before, after the switch, the first step on the next segment) for one observation
        (``horizon + 1`` when the car does not reach the next segment within the horizon)."""
        before = reference_params(obs)
        following = obs.copy()
        following[FIELD["mu_scale"]] = obs[FIELD["next_mu_scale"]]
        following[FIELD["curvature"]] = obs[FIELD["next_curvature"]]
        if not self.reference_commands:  # the env moves the reference to the segment's nominal speed
            following[FIELD["reference_speed"]] = obs[FIELD["next_speed"]]
        after = reference_params(following)
        speed = obs[FIELD["reference_speed"]] + obs[FIELD["speed_error"]]
        distance = obs[FIELD["distance_to_switch"]]
        if speed <= 0:
            return before, after, self.horizon + 1
        switch = max(math.ceil(distance / (speed * self.system.dt) - 1e-9), 0)
        return before, after, min(switch, self.horizon + 1)

    def problem(self, obs: np.ndarray) -> dict[str, Any]:
        """What the cost of one observation's plans needs: the start, per-step parameters,
        equilibria and the terminal cost matrix."""
        before, after, switch = self.prediction_parameters(obs)
        both = torch.from_numpy(np.stack([before, after]))
        x_eq, u_eq = self.system.equilibrium(both)
        which = [0 if k < switch else 1 for k in range(self.horizon + 1)]
        _, P = self.schedule.gain_and_cost(after if which[-1] else before)
        shift = torch.zeros(7, dtype=torch.float64)
        shift[3] = -(after[0] - before[0])
        shift[5] = -(after[1] - before[1])
        return {"x0": torch.from_numpy(obs[:7].copy()), "params": both, "x_eq": x_eq, "u_eq": u_eq,
                "which": which, "switch": switch, "shift": shift, "P": torch.from_numpy(P),
                "gains": [self.schedule.gain_and_cost(p)[0] for p in (before, after)],
                # the same data as Python floats for the fast path (cost_and_gradient, lqr_rollout)
                "floats": {"x0": tuple(obs[:7].tolist()), "params": [tuple(p) for p in both.tolist()],
                           "x_eq": [tuple(x) for x in x_eq.tolist()], "u_eq": [tuple(u) for u in u_eq.tolist()],
                           "shift": tuple(shift.tolist()), "P_sym": P + P.T}}

    def cost(self, problem: dict[str, Any], u: torch.Tensor) -> torch.Tensor:
        """The plan's cost for inputs ``u`` (horizon, 2)."""
        x, total = problem["x0"], torch.zeros((), dtype=torch.float64)
        for k in range(self.horizon):
            i = problem["which"][k]
            if k == problem["switch"]:
                x = x + problem["shift"]
            e, du = x - problem["x_eq"][i], u[k] - problem["u_eq"][i]
            total = total + (self.Q * e * e).sum() + (self.R * du * du).sum()
            x = self.system.step(x, u[k], problem["params"][i])
        if problem["switch"] == self.horizon:
            x = x + problem["shift"]
        e = x - problem["x_eq"][problem["which"][self.horizon]]
        return total + e @ problem["P"] @ e

    def lqr_rollout(self, problem: dict[str, Any]) -> np.ndarray:
        """The saturated LQR's inputs along its own predicted trajectory (horizon, 2)."""
        limit = self.system.input_limit
        floats = problem["floats"]
        x, inputs = floats["x0"], []
        for k in range(self.horizon):
            i = problem["which"][k]
            if k == problem["switch"]:
                x = tuple(a + b for a, b in zip(x, floats["shift"]))
            (K0, K1), (u0, u1) = problem["gains"][i] @ np.subtract(x, floats["x_eq"][i]), floats["u_eq"][i]
            u = (min(max(u0 - K0, -limit), limit), min(max(u1 - K1, -limit), limit))
            inputs.append(u)
            x = self.system.step_scalar(x, u, floats["params"][i])
        return np.array(inputs)

    def cost_and_gradient(self, problem: dict[str, Any], u: np.ndarray,
                          gradient: bool = True) -> tuple[float, np.ndarray | None]:
        """:meth:`cost` for inputs ``u`` (horizon, 2) and its gradient (horizon, 2), without torch.

        The forward pass steps ``system.dynamics_scalar`` with the env's clipping; the backward pass
        propagates the adjoint through each Euler step's Jacobian, written out from
        ``envs.hybrid.car.error_dynamics``. Clips pass the gradient as ``torch.clamp`` does: inside
        the bounds and on them, not beyond (the inputs, the steering angle, the speed floor).
        """
        system, floats = self.system, problem["floats"]
        dt, limit, stop = system.dt, system.input_limit, system.vehicle.max_steering
        which, switch, shift = problem["which"], problem["switch"], floats["shift"]
        Q, (R0, R1) = self._Q_weights, self._R_weights
        u = np.asarray(u, dtype=np.float64).reshape(self.horizon, 2).tolist()
        x, total, tape = floats["x0"], 0.0, []
        for k in range(self.horizon):
            i = which[k]
            if k == switch:
                x = tuple(a + b for a, b in zip(x, shift))
            x_eq, u_eq = floats["x_eq"][i], floats["u_eq"][i]
            e = [a - b for a, b in zip(x, x_eq)]
            u0, u1 = u[k]
            du0, du1 = u0 - u_eq[0], u1 - u_eq[1]
            total += sum(q * a * a for q, a in zip(Q, e)) + R0 * du0 * du0 + R1 * du1 * du1
            c0, c1 = min(max(u0, -limit), limit), min(max(u1, -limit), limit)
            f = system.dynamics_scalar(x, (c0, c1), floats["params"][i])
            steer = x[2] + dt * f[2]
            if gradient:
                tape.append((x, c1, c0 == u0, c1 == u1, -stop <= steer <= stop, e, du0, du1, i))
            x = (x[0] + dt * f[0], x[1] + dt * f[1], min(max(steer, -stop), stop), x[3] + dt * f[3],
                 x[4] + dt * f[4], x[5] + dt * f[5], x[6] + dt * f[6])
        if switch == self.horizon:
            x = tuple(a + b for a, b in zip(x, shift))
        e_end = np.subtract(x, floats["x_eq"][which[self.horizon]])
        P_e = floats["P_sym"] @ e_end  # (P + P') e: the gradient of e' P e
        total += 0.5 * float(e_end @ P_e)
        if not gradient:
            return total, None
        adjoint, grad = P_e.tolist(), np.empty((self.horizon, 2))
        modes = [self._mode_constants(params) for params in floats["params"]]
        for k in range(self.horizon - 1, -1, -1):
            x, c1, free0, free1, free_steer, e, du0, du1, i = tape[k]
            adjoint, g0, g1 = self._step_adjoint(x, c1, modes[i], adjoint, free_steer)
            grad[k, 0] = 2.0 * R0 * du0 + (g0 if free0 else 0.0)
            grad[k, 1] = 2.0 * R1 * du1 + (g1 if free1 else 0.0)
            adjoint = [a + 2.0 * q * b for a, q, b in zip(adjoint, Q, e)]
        return total, grad

    def _step_adjoint(self, x: tuple, accel: float, mode: tuple, adjoint: list,
                      free_steer: bool) -> tuple[list, float, float]:
        """(J_x' adjoint, then J_u' adjoint's two entries) of one Euler step ``x + dt f(x, u)`` with the
        steering clip at state ``x`` and (clipped) acceleration ``accel``, for the constants ``mode`` of
        :meth:`_mode_constants`; the partial derivatives of ``error_dynamics`` are written out term by term."""
        _, _, delta, ve, psi_e, psi_e_dot, beta = x
        v_ref, omega_ref, mu_L, yaw_gain = mode
        c, lf, lr, h, L, g, dt = self._vehicle_constants
        l0, l1, l2, l3, l4, l5, l6 = adjoint
        if not free_steer:
            l2 = 0.0
        speed = ve + v_ref
        floor_grad = 1.0 if speed >= MIN_SPEED else 0.0  # torch.clamp(min=...) passes it on the bound
        v = max(speed, MIN_SPEED)
        psi_dot = psi_e_dot + omega_ref
        load_f, load_r = g * lr - accel * h, g * lf + accel * h
        sum_1 = lf**2 * c * load_f + lr**2 * c * load_r
        diff = lr * c * load_r - lf * c * load_f
        sum_2 = c * load_r + c * load_f
        # psi_ddot = -yaw_gain / v * sum_1 * psi_dot + yaw_gain * diff * beta + yaw_gain * lf * c * load_f * delta
        a_r = -yaw_gain / v * sum_1
        a_b = yaw_gain * diff
        a_d = yaw_gain * lf * c * load_f
        a_v = yaw_gain / v**2 * sum_1 * psi_dot * floor_grad
        a_a = yaw_gain * c * h * (-(lr**2 - lf**2) / v * psi_dot + L * beta - lf * delta)
        # beta_dot = (mu / (v^2 L) * diff - 1) psi_dot - mu / (v L) * sum_2 * beta + mu / (v L) * c load_f delta
        mu_v, mu_v2 = mu_L / v, mu_L / v**2
        b_r = mu_v2 * diff - 1.0
        b_b = -mu_v * sum_2
        b_d = mu_v * c * load_f
        b_v = (-2.0 * mu_L / v**3 * diff * psi_dot + mu_v2 * (sum_2 * beta - c * load_f * delta)) * floor_grad
        b_a = c * h * (mu_v2 * L * psi_dot - mu_v * delta)
        angle = psi_e + beta
        cos, sin = math.cos(angle), math.sin(angle)
        d0, d1, d5, d6 = dt * l0, dt * l1, dt * l5, dt * l6
        along = speed * (cos * d1 - sin * d0)  # through the heading error and the slip alike
        back = [
            l0 - omega_ref * d1,
            omega_ref * d0 + l1,
            l2 + a_d * d5 + b_d * d6,
            cos * d0 + sin * d1 + l3 + a_v * d5 + b_v * d6,
            along + l4,
            dt * l4 + l5 + a_r * d5 + b_r * d6,
            along + a_b * d5 + l6 + b_b * d6,
        ]
        return back, dt * l2, dt * l3 + a_a * d5 + b_a * d6

    def _mode_constants(self, params: tuple) -> tuple:
        """(v_ref, omega_ref, mu / wheelbase, yaw gain) of one parameter vector, for :meth:`_step_adjoint`."""
        car = self.system.vehicle
        v_ref, omega_ref, _, mu_scale = params
        mu = mu_scale * car.tyre_friction
        return v_ref, omega_ref, mu / car.wheelbase, mu * car.mass / (car.yaw_inertia * car.wheelbase)

    def solve(self, obs: np.ndarray, previous: np.ndarray | None = None, used: int = 0) -> np.ndarray:
        """An optimised plan (horizon, 2) for one observation; ``previous`` is the last plan of which
        ``used`` inputs have been applied."""
        start_time = time.perf_counter()
        problem = self.problem(obs)
        limit = self.system.input_limit

        def value(u: np.ndarray) -> float:
            return self.cost_and_gradient(problem, u, gradient=False)[0]

        starts = [self.lqr_rollout(problem)]
        if previous is not None and used < self.horizon:
            rest = previous[used:]
            starts.append(np.concatenate([rest, np.repeat(rest[-1:], used, axis=0)]))
        start_value, start = min(((value(u), u) for u in starts), key=lambda pair: pair[0])

        def value_and_gradient(u: np.ndarray) -> tuple[float, np.ndarray]:
            total, grad = self.cost_and_gradient(problem, u)
            return total, grad.reshape(-1)

        result = scipy.optimize.minimize(value_and_gradient, start.reshape(-1), jac=True, method="L-BFGS-B",
                                         bounds=[(-limit, limit)] * (2 * self.horizon),
                                         options={"maxiter": self.maxiter})
        plan = np.clip(result.x, -limit, limit).reshape(self.horizon, 2)
        if not (np.isfinite(result.fun) and value(plan) <= start_value):
            plan = start
        self.solves += 1
        self.solve_time += time.perf_counter() - start_time
        return plan

    def _record_logs(self, logger: Any) -> None:
        solves, seconds = self.solves - self._logged[0], self.solve_time - self._logged[1]
        logger.record("mpc/solves", self.solves)
        if solves:
            logger.record("mpc/mean_solve_time_ms", 1000.0 * seconds / solves)
        self._logged = (self.solves, self.solve_time)


class CommonCLFAgent(CarControllerAgent):
    """One control Lyapunov function for all modes, enforced by a CLF-QP.

    ``V(e) = e' P e`` with ``P`` the LQR cost matrix of the design mode (``design_mode``) at the
    observed speed and curvature: the same ``V`` whatever the friction. ``e`` is the deviation from
    the true mode's steady cornering (the point the car can hold). The input solves

        min |u - u_lqr|^2  s.t.  dV/dt = 2 e' P (A e + B (u - u_eq)) <= -rate V,  |u_i| <= input_limit

    with ``u_lqr = u_eq - K e`` the design mode's LQR input and ``A``, ``B`` the true mode's
    linearisation: one affine constraint ``a'u <= b`` and the box, solved exactly in closed form
    (where no input in the box meets the constraint, the box input that lowers ``dV/dt`` most).

    Args:
        env: the car_hybrid env (``rlkit/CarHybrid-v0``), plain, wrapped or in a VecEnv.
        rate: the required decrease, ``dV/dt <= -rate V`` (>= 0).
        design_mode: the mode whose LQR gives ``P`` and the nominal input (``normal`` or ``icy``).
        Q: the design LQR's 7 state weights (x, y, steering, speed, heading, yaw rate, slip), non-negative.
        R: its 2 input weights (steering rate, acceleration), positive.
    """

    def __init__(self, env: Any = None, seed: int | None = None, device: Any = "auto", verbose: int = 0, *,
                 rate: float = 1.0, design_mode: str = "normal", Q: Sequence[float] = DEFAULT_Q,
                 R: Sequence[float] = DEFAULT_R, **unknown: Any) -> None:
        refuse_unknown(type(self), unknown)
        try:
            rate = float(rate)
        except (TypeError, ValueError):
            raise ValueError(f"rate must be a non-negative number (got {rate!r})") from None
        if not (math.isfinite(rate) and rate >= 0):
            raise ValueError(f"rate must be a non-negative number (got {rate!r})")
        Q, R = weights("Q", Q, 7, False), weights("R", R, 2, True)
        super().__init__(env, seed, device, verbose, hyperparameters_of(CommonCLFAgent.__init__, locals()))
        hp = self.hyperparameters
        if not isinstance(hp["design_mode"], str) or hp["design_mode"] not in self.system.modes:
            raise ValueError(f"design_mode must be one of the car's modes {sorted(self.system.modes)} "
                             f"(got {hp['design_mode']!r})")
        self.rate = hp["rate"]
        self.design_mu = self.system.mu_scale(hp["design_mode"])
        self.schedule = LQRSchedule(self.system, hp["Q"], hp["R"])
        self._linearisations: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def linearisation(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Continuous-time (A, B) about steady cornering, cached on the parameters rounded as the gains."""
        key = tuple(np.round(np.asarray(params, dtype=np.float64), self.schedule.resolution))
        if key not in self._linearisations:
            A, B, _, _ = self.system.linearize_mode(torch.tensor(key, dtype=torch.float64))
            self._linearisations[key] = (A, B)
        return self._linearisations[key]

    def constraint(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per row: (a, b, u_lqr, V) of the CLF constraint a'u <= b."""
        params, e, _, u_eq = deviation(self.system, obs)
        n = len(obs)
        a, b, u_lqr, V = np.empty((n, 2)), np.empty(n), np.empty((n, 2)), np.empty(n)
        for row in range(n):
            design = params[row].copy()
            design[3] = self.design_mu
            K, P = self.schedule.gain_and_cost(design)
            A, B = self.linearisation(params[row])
            Pe = P @ e[row]
            V[row] = e[row] @ Pe
            a[row] = 2.0 * B.T @ Pe
            b[row] = -self.rate * V[row] - 2.0 * Pe @ A @ e[row] + a[row] @ u_eq[row]
            u_lqr[row] = u_eq[row] - K @ e[row]
        return a, b, u_lqr, V

    def control(self, obs: np.ndarray) -> np.ndarray:
        a, b, u_lqr, _ = self.constraint(obs)
        limit = self.system.input_limit
        return np.stack([clf_qp(a[row], b[row], u_lqr[row], limit) for row in range(len(obs))])


def clf_qp(a: np.ndarray, b: float, u_ref: np.ndarray, limit: float) -> np.ndarray:
    """argmin |u - u_ref|^2 over the box |u_i| <= limit subject to a'u <= b (2 inputs), in closed form;
    where the box holds no such u, the box corner minimising a'u."""
    boxed = np.clip(u_ref, -limit, limit)
    if a @ boxed <= b:
        return boxed
    norm2 = float(a @ a)
    if norm2 == 0.0:  # b < 0 = a'u for every u: nothing is feasible
        return boxed
    # the optimum lies on the line a'u = b: u = base + t d, d perpendicular to a
    base, direction = a * (b / norm2), np.array([-a[1], a[0]]) / math.sqrt(norm2)
    low, high = -math.inf, math.inf
    for i in range(2):
        if abs(direction[i]) < 1e-15:
            if abs(base[i]) > limit:
                low, high = 1.0, 0.0
            continue
        ends = sorted(((-limit - base[i]) / direction[i], (limit - base[i]) / direction[i]))
        low, high = max(low, ends[0]), min(high, ends[1])
    if low > high:  # the line misses the box: decrease V as fast as the box allows
        return -limit * np.sign(a)
    t = float(np.clip(direction @ (u_ref - base), low, high))
    return np.clip(base + t * direction, -limit, limit)
