"""Single-track car tracking a reference point, in tracking-error coordinates, with road-friction modes.

The model is the single-track (bicycle) model with linear tyres of the CommonRoad vehicle models, in
the coordinates of the source paper's public code: with the reference point moving at speed
``v_ref`` and turn rate ``omega_ref`` (acceleration ``a_ref``), the state is

    x = [s_x - x_ref, s_y - y_ref, delta, v - v_ref, psi - psi_ref, psi_dot - omega_ref, beta]

(position errors in the reference's frame, steering angle, speed error, heading error, yaw-rate
error, side-slip angle) and the input is ``u = [steering rate, longitudinal acceleration]``. The
friction coefficient ``mu = mu_scale * 1.0489`` scales both tyres' lateral forces: the two modes
are a normal road (``mu_scale`` 1.0) and ice (0.1). Parameters of a vehicle: a = 1.156 m, b = 1.423 m,
m = 1093 kg, Iz = 1792 kg m^2 (the reference's numbers).

The parameter vector is ``[v_ref, omega_ref, a_ref, mu_scale]``. Speeds below ``MIN_SPEED`` are
treated as ``MIN_SPEED`` inside the tyre terms (the single-track model is singular at standstill;
the references here run at 3-30 m/s).
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from envs.hybrid.system import HybridSystem, Mode

GRAVITY = 9.81
MIN_SPEED = 0.5  # m/s, floor of the speed inside the tyre-force terms
FRICTION_MODES = {"normal": Mode("normal", {"mu_scale": 1.0}), "icy": Mode("icy", {"mu_scale": 0.1})}
PARAM_NAMES = ("v_ref", "omega_ref", "a_ref", "mu_scale")
STATE_NAMES = ("x_error", "y_error", "steering", "speed_error", "heading_error", "yaw_rate_error", "side_slip")


@dataclass(frozen=True)
class Vehicle:
    front: float = 1.156  # centre of gravity to front axle [m]
    rear: float = 1.423  # centre of gravity to rear axle [m]
    mass: float = 1093.0  # [kg]
    yaw_inertia: float = 1792.0  # [kg m^2]
    cg_height: float = 0.6137  # [m], load transfer under acceleration
    tyre_friction: float = 1.0489  # lateral friction coefficient at mu_scale = 1
    cornering_stiffness: float = 21.92 / 1.0489  # per unit friction and normal load [1/rad]
    max_steering: float = 1.066  # [rad]

    @property
    def wheelbase(self) -> float:
        return self.front + self.rear


def error_dynamics(car: Vehicle, x, u, params, cos, sin, speed_floor, power=operator.pow) -> tuple:
    """dx/dt component by component, written once for torch tensors, Python floats and (with libm's
    ``cos``, ``sin`` and ``power``, as the batched engine passes them) numpy arrays."""
    sxe, sye, delta, ve, psi_e, psi_e_dot, beta = x
    steer_rate, accel = u
    v_ref, omega_ref, a_ref, mu_scale = params
    speed = ve + v_ref
    v = speed_floor(speed)
    psi_dot = psi_e_dot + omega_ref
    mu = mu_scale * car.tyre_friction
    c, lf, lr, h, g, L = car.cornering_stiffness, car.front, car.rear, car.cg_height, GRAVITY, car.wheelbase
    # normal-load factors of the front and rear axle, shifted by the longitudinal acceleration
    load_f = g * lr - accel * h
    load_r = g * lf + accel * h
    yaw_gain = mu * car.mass / (car.yaw_inertia * L)
    psi_ddot = (-yaw_gain / v * (lf**2 * c * load_f + lr**2 * c * load_r) * psi_dot
                + yaw_gain * (lr * c * load_r - lf * c * load_f) * beta
                + yaw_gain * lf * c * load_f * delta)
    beta_dot = ((mu / (power(v, 2) * L) * (c * load_r * lr - c * load_f * lf) - 1.0) * psi_dot
                - mu / (v * L) * (c * load_r + c * load_f) * beta
                + mu / (v * L) * c * load_f * delta)
    return (
        speed * cos(psi_e + beta) - v_ref + omega_ref * sye,
        speed * sin(psi_e + beta) - omega_ref * sxe,
        steer_rate,
        accel - a_ref,
        psi_e_dot,
        psi_ddot,
        beta_dot,
    )


def steady_cornering(car: Vehicle, params, speed_floor) -> tuple:
    """(side slip, steering, a_ref) of steady cornering, for torch tensors or numpy arrays."""
    v_ref, omega_ref, a_ref, mu_scale = params
    v = speed_floor(v_ref)
    mu = mu_scale * car.tyre_friction
    c, lf, lr, g, L = car.cornering_stiffness, car.front, car.rear, GRAVITY, car.wheelbase
    load_f, load_r = g * lr - a_ref * car.cg_height, g * lf + a_ref * car.cg_height
    yaw_gain = mu * car.mass / (car.yaw_inertia * L)
    # rows: psi_ddot = 0 and beta_dot = 0 as a11 beta + a12 delta = b1, a21 beta + a22 delta = b2
    a11 = yaw_gain * (lr * c * load_r - lf * c * load_f)
    a12 = yaw_gain * lf * c * load_f
    b1 = yaw_gain / v * (lf**2 * c * load_f + lr**2 * c * load_r) * omega_ref
    a21 = -mu / (v * L) * (c * load_r + c * load_f)
    a22 = mu / (v * L) * c * load_f
    b2 = -(mu / (v**2 * L) * (c * load_r * lr - c * load_f * lf) - 1.0) * omega_ref
    det = a11 * a22 - a12 * a21
    return (b1 * a22 - a12 * b2) / det, (a11 * b2 - a21 * b1) / det, a_ref


class CarTracking(HybridSystem):
    """The car's tracking-error dynamics (7 states, 2 inputs) with the friction modes."""

    n_states = 7
    n_inputs = 2
    param_names = PARAM_NAMES
    modes = FRICTION_MODES

    def __init__(self, dt: float = 0.01, input_limit: float = 8.0, vehicle: Vehicle | None = None) -> None:
        if not dt > 0:
            raise ValueError(f"dt must be positive (got {dt})")
        if not input_limit > 0:
            raise ValueError(f"input_limit must be positive (got {input_limit})")
        self.dt = float(dt)
        self.input_limit = float(input_limit)
        self.vehicle = vehicle or Vehicle()

    def mu_scale(self, mode: str) -> float:
        return float(self.mode(mode).parameters["mu_scale"])

    def dynamics(self, x: torch.Tensor, u: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        parts = error_dynamics(self.vehicle, x.unbind(-1), u.unbind(-1), params.unbind(-1), torch.cos, torch.sin,
                               lambda value: torch.clamp(value, min=MIN_SPEED))
        return torch.stack(parts, dim=-1)

    def dynamics_scalar(self, x: tuple, u: tuple, params: tuple) -> tuple:
        """The same dynamics on Python floats (one state): the env's fast path."""
        return error_dynamics(self.vehicle, x, u, params, math.cos, math.sin, lambda value: max(value, MIN_SPEED))

    def step(self, x: torch.Tensor, u: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """Euler step with the inputs clipped to +-input_limit and the steering angle to its stops."""
        u = torch.clamp(u, -self.input_limit, self.input_limit)
        x_next = x + self.dt * self.dynamics(x, u, params)
        steer = torch.clamp(x_next[..., 2], -self.vehicle.max_steering, self.vehicle.max_steering)
        return torch.cat([x_next[..., :2], steer.unsqueeze(-1), x_next[..., 3:]], dim=-1)

    def step_scalar(self, x: tuple, u: tuple, params: tuple) -> tuple:
        """:meth:`step` on Python floats for one state (the env's and the MPC's fast path)."""
        limit, stop, dt = self.input_limit, self.vehicle.max_steering, self.dt
        u = (min(max(u[0], -limit), limit), min(max(u[1], -limit), limit))
        f = self.dynamics_scalar(x, u, params)
        return (x[0] + dt * f[0], x[1] + dt * f[1], min(max(x[2] + dt * f[2], -stop), stop), x[3] + dt * f[3],
                x[4] + dt * f[4], x[5] + dt * f[5], x[6] + dt * f[6])

    def equilibrium(self, params: Any) -> tuple[Any, Any]:
        """Steady cornering on the reference: (x_eq, u_eq) for parameters (..., 4), as torch float64
        tensors, or numpy arrays for a numpy input (the agents' fast path).

        On an arc the car keeps a steering angle and a side slip, with its heading turned by minus the
        slip so that it moves along the path (psi_e = -beta); the position, speed and yaw-rate errors
        are zero. Both equations of the yaw and slip dynamics are linear in (beta, delta) there.
        """
        if isinstance(params, np.ndarray):
            beta, delta, a_ref = steady_cornering(self.vehicle, np.moveaxis(params.astype(np.float64), -1, 0),
                                                  lambda v: np.maximum(v, MIN_SPEED))
            zero = np.zeros_like(beta)
            return (np.stack([zero, zero, delta, zero, -beta, zero, beta], axis=-1),
                    np.stack([zero, a_ref], axis=-1))
        params = torch.as_tensor(params, dtype=torch.float64)
        beta, delta, a_ref = steady_cornering(self.vehicle, params.unbind(-1), lambda v: torch.clamp(v, min=MIN_SPEED))
        zero = torch.zeros_like(beta)
        x_eq = torch.stack([zero, zero, delta, zero, -beta, zero, beta], dim=-1)
        u_eq = torch.stack([zero, a_ref], dim=-1)
        return x_eq, u_eq

    def linearize_mode(self, params: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(A, B, x_eq, u_eq) about steady cornering for one parameter vector (continuous time)."""
        x_eq, u_eq = self.equilibrium(params)
        A, B = self.linearize(x_eq, u_eq, torch.as_tensor(params, dtype=torch.float64))
        return A, B, x_eq.numpy(), u_eq.numpy()
