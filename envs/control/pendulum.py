"""The clipped pendulum: Gymnasium's Pendulum-v1 as a control system with saturated torque.

The YANN-RL paper's pendulum constants are not published; these are Gymnasium Pendulum-v1's
(g = 10, m = l = 1, dt = 0.05, |u| <= 2, the same dynamics and cost), a documented default.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.control.env import ControlEnv
from envs.control.system import ControlSystem


class ClippedPendulum(ControlSystem):
    """A rod pendulum driven by a torque clipped to ``|u| <= max_torque``.

    State (theta, theta_dot) with theta = 0 upright (the equilibrium, x_eq = 0, u_eq = 0), wrapped
    to [-pi, pi) after every step; input the torque u. Dynamics as in Gymnasium's Pendulum-v1:
    ``dtheta/dt = theta_dot``, ``dtheta_dot/dt = 3 g / (2 l) sin(theta) + 3 / (m l^2) u``, here
    integrated by RK4 (Gymnasium takes one semi-implicit Euler step and clips the speed; this model
    keeps f smooth and counts ``|theta_dot| > max_speed`` as a state-box violation instead). Stage
    cost as Pendulum-v1's: ``theta^2 + 0.1 theta_dot^2 + 0.001 u^2`` (Q = diag(1, 0.1), R = 0.001).
    """

    def __init__(
        self,
        *,
        g: float = 10.0,
        m: float = 1.0,
        l: float = 1.0,  # noqa: E741 (the physics symbol)
        dt: float = 0.05,
        max_torque: float = 2.0,
        max_speed: float = 8.0,
        integrator: str = "rk4",
        substeps: int = 1,
        Q: Any = (1.0, 0.1),
        R: Any = 0.001,
        name: str = "pendulum_clipped",
    ) -> None:
        for key, value in (("g", g), ("m", m), ("l", l), ("max_torque", max_torque), ("max_speed", max_speed)):
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name}: {key} must be a positive number, got {value!r}")
        self.g, self.m, self.l = float(g), float(m), float(l)
        self.max_torque, self.max_speed = float(max_torque), float(max_speed)
        super().__init__(
            state_names=("theta", "theta_dot"),
            input_names=("torque",),
            dt=dt,
            x_eq=(0.0, 0.0),
            u_eq=(0.0,),
            state_low=(-np.pi, -max_speed),
            state_high=(np.pi, max_speed),
            input_low=(-max_torque,),
            input_high=(max_torque,),
            Q=Q,
            R=R,
            integrator=integrator,
            substeps=substeps,
            name=name,
        )

    def _rhs(self, x, u, xp):
        (theta, theta_dot), (torque,) = x, u
        return theta_dot, 1.5 * self.g / self.l * xp.sin(theta) + 3.0 / (self.m * self.l**2) * torque

    def _post_step(self, x, xp):
        theta, theta_dot = x
        return (theta + np.pi) % (2.0 * np.pi) - np.pi, theta_dot  # % is floor-mod for all backends


class ClippedPendulumEnv(ControlEnv):
    """Swing up and balance a pendulum with a clipped torque (Gymnasium Pendulum-v1 conventions).

    ## Description
    The :class:`ClippedPendulum` (``env.unwrapped.system``): g = 10, m = l = 1, dt = 0.05 s,
    |torque| <= 2 N m (too weak to lift the pendulum straight up from below |theta| ~ 0.41 rad: it
    must swing), regulated to the upright equilibrium theta = 0, theta_dot = 0.

    ## Action Space
    ``Box(-1, 1, (1,))``, mapped onto the torque in [-max_torque, max_torque].

    ## Observation Space
    ``(theta, theta_dot)`` in rad and rad/s with theta in [-pi, pi) (``"physical"``, default; theta
    jumps from pi to -pi hanging down), or mapped from the box [-pi, pi] x [-max_speed, max_speed]
    onto [-1, 1] (``"normalized"``).

    ## Rewards
    ``-(theta^2 + 0.1 theta_dot^2 + 0.001 u^2)`` at the state before the step, Pendulum-v1's reward
    (between about -16.3 and 0), minus ``violation_penalty`` at a violating step.

    ## Starting State
    Uniform on theta in [-pi, pi], theta_dot in [-1, 1] (as Pendulum-v1).

    ## Episode End
    Truncated after ``episode_steps`` (200). The only constraint that can be violated is
    ``|theta_dot| <= max_speed`` (8 rad/s); terminated there if ``terminate_on_violation``.

    ## Arguments
    - ``g`` (10), ``m`` (1), ``l`` (1), ``dt`` (0.05), ``max_torque`` (2), ``max_speed`` (8):
      see :class:`ClippedPendulum`. ``integrator`` ("rk4" or "euler"), ``substeps`` (1).
    - ``episode_steps`` (200), ``initial_state_low`` / ``initial_state_high`` (above).
    - ``observation_scaling``, ``terminate_on_violation``, ``violation_penalty``, ``render_mode``:
      see :class:`ControlEnv`.

    ## Version History
    - v0: initial version.
    """

    def __init__(
        self,
        g: float = 10.0,
        m: float = 1.0,
        l: float = 1.0,  # noqa: E741
        dt: float = 0.05,
        max_torque: float = 2.0,
        max_speed: float = 8.0,
        integrator: str = "rk4",
        substeps: int = 1,
        episode_steps: int = 200,
        initial_state_low=(-np.pi, -1.0),
        initial_state_high=(np.pi, 1.0),
        observation_scaling: str = "physical",
        terminate_on_violation: bool = False,
        violation_penalty: float = 0.0,
        render_mode: str | None = None,
    ) -> None:
        system = ClippedPendulum(g=g, m=m, l=l, dt=dt, max_torque=max_torque, max_speed=max_speed,
                                 integrator=integrator, substeps=substeps)
        super().__init__(
            system,
            episode_steps=episode_steps,
            initial_state_low=initial_state_low,
            initial_state_high=initial_state_high,
            observation_scaling=observation_scaling,
            terminate_on_violation=terminate_on_violation,
            violation_penalty=violation_penalty,
            render_mode=render_mode,
        )
