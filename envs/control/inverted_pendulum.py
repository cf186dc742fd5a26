"""The damped inverted pendulums of the Lyapunov-certified control papers, and their envs.

Two benchmark plants, both ``theta_ddot = (g / l) sin(theta) - d / (m l^2) theta_dot + u / (m l^2)``
with theta = 0 upright (the equilibrium, with u = 0) and no angle wrapping: a verifier bounds the
step map on a box of states, so the map must be smooth (an angle wrapped to [-pi, pi) is not).

- :class:`InvertedPendulum`: the pendulum of Yang, Dai et al. 2024, "Lyapunov-stable neural control
  for state and output feedback": explicit Euler with dt = 0.05 (one step, the paper's
  discretisation), |u| <= 6, verification box [-12, 12]^2.
- :class:`NLCPendulum`: the pendulum of Neural Lyapunov Control (Chang, Roohi, Gao 2019):
  m = 0.15, l = 0.5, friction b = 0.1; the paper is continuous-time, discretised here by explicit
  Euler with dt = 0.01; |u| <= 6 and the box [-6, 6]^2 (its annulus reaches |x| = 6).

The right-hand sides use only arithmetic on components and ``xp.sin``, so the sound verifier can
evaluate them on its own bound objects.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.control.env import ControlEnv
from envs.control.system import ControlSystem


class _DampedPendulum(ControlSystem):
    """A rod pendulum with viscous damping about its upright equilibrium; the two papers' plants
    differ only in constants, discretisation and boxes."""

    def __init__(
        self,
        *,
        g: float,
        m: float,
        l: float,  # noqa: E741 (the physics symbol)
        damping: float,
        damping_name: str,
        dt: float,
        max_torque: float,
        state_bound: float,
        integrator: str,
        substeps: int,
        Q: Any,
        R: Any,
        name: str,
    ) -> None:
        for key, value in (("g", g), ("m", m), ("l", l), ("max_torque", max_torque), ("state_bound", state_bound)):
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name}: {key} must be a positive number, got {value!r}")
        if not (np.isfinite(damping) and damping >= 0):
            raise ValueError(f"{name}: {damping_name} must be a number >= 0, got {damping!r}")
        self.g, self.m, self.l = float(g), float(m), float(l)
        self.max_torque, self.state_bound = float(max_torque), float(state_bound)
        inertia = self.m * self.l**2
        # theta_ddot = gravity_gain sin(theta) - damping_gain theta_dot + input_gain u
        self.gravity_gain = self.g / self.l
        self.damping_gain = float(damping) / inertia
        self.input_gain = 1.0 / inertia
        super().__init__(
            state_names=("theta", "theta_dot"),
            input_names=("torque",),
            dt=dt,
            x_eq=(0.0, 0.0),
            u_eq=(0.0,),
            state_low=(-state_bound, -state_bound),
            state_high=(state_bound, state_bound),
            input_low=(-max_torque,),
            input_high=(max_torque,),
            Q=Q,
            R=R,
            integrator=integrator,
            substeps=substeps,
            name=name,
        )

    def _rhs(self, x, u, xp):
        # values on the left of every product: the verifier's bound objects multiply by floats
        (theta, theta_dot), (torque,) = x, u
        theta_ddot = (xp.sin(theta) * self.gravity_gain - theta_dot * self.damping_gain
                      + torque * self.input_gain)
        return theta_dot, theta_ddot


class InvertedPendulum(_DampedPendulum):
    """The inverted pendulum of Yang, Dai et al. 2024 (Lyapunov-stable neural control).

    State (theta, theta_dot) in rad and rad/s, theta = 0 upright; input the torque u, ``|u| <=
    max_torque`` (6). Continuous dynamics ``dtheta/dt = theta_dot``, ``dtheta_dot/dt = (g / l)
    sin(theta) - beta / (m l^2) theta_dot + u / (m l^2)``, discretised by one explicit Euler step
    of dt = 0.05 (the paper's discretisation: ``theta+ = theta + dt theta_dot``, ``theta_dot+ =
    theta_dot + dt theta_ddot``). The state box [-12, 12]^2 is the paper's verification region;
    there is no angle wrapping (the step map is smooth, as the verifier needs). Stage cost
    ``x'Q x + R u^2`` with Q = I, R = 1.

    Constants: g = 9.81 and m = l = beta = 1 by default, the defaults of the authors'
    ``PendulumDynamics``. Their released state-feedback scripts (Verified-Intelligence/
    Lyapunov_Stable_NN_Controllers: ``examples/pendulum_state_training.py`` with
    ``config/pendulum_state_training.yaml``, and ``models.create_pendulum_model_state_feedback``)
    instantiate it with m = 0.15, l = 0.5, beta = 0.1 (the NLC constants) and initialise the
    controller by continuous LQR with Q = I, R = 100; pass ``m=0.15, l=0.5, beta=0.1`` to reproduce
    that plant. With the defaults, ``|u| <= 6`` cannot hold the pendulum still beyond
    ``|theta| = asin(6 / 9.81) ~ 0.66`` rad, so the region of attraction is a small part of the box.
    """

    def __init__(
        self,
        *,
        g: float = 9.81,
        m: float = 1.0,
        l: float = 1.0,  # noqa: E741 (the physics symbol)
        beta: float = 1.0,
        dt: float = 0.05,
        max_torque: float = 6.0,
        state_bound: float = 12.0,
        integrator: str = "euler",
        substeps: int = 1,
        Q: Any = (1.0, 1.0),
        R: Any = 1.0,
        name: str = "inverted_pendulum",
    ) -> None:
        self.beta = float(beta)
        super().__init__(g=g, m=m, l=l, damping=beta, damping_name="beta", dt=dt, max_torque=max_torque,
                         state_bound=state_bound, integrator=integrator, substeps=substeps, Q=Q, R=R,
                         name=name)


class NLCPendulum(_DampedPendulum):
    """The pendulum of Neural Lyapunov Control (Chang, Roohi, Gao 2019).

    State (theta, theta_dot), theta = 0 upright; input the torque u. Dynamics ``theta_ddot =
    (m g l sin(theta) - b theta_dot + u) / (m l^2)`` with m = 0.15, l = 0.5, b = 0.1 (friction),
    g = 9.81. The paper works in continuous time; this model takes one explicit Euler step of
    dt = 0.01 (short against the open-loop time constant 1 / 3.3 s, and a step map a verifier can
    bound exactly). The paper's controller is unsaturated; the input box ``|u| <= 6`` is added so
    that a saturated controller has a box to respect (6 is about eight times the torque m g l that holds
    the pendulum horizontal). The state box [-6, 6]^2 contains the paper's annulus
    0.5 <= |x| <= 6; no angle wrapping. Stage cost ``x'Q x + R u^2`` with Q = I, R = 1 (the paper
    states no cost).
    """

    def __init__(
        self,
        *,
        g: float = 9.81,
        m: float = 0.15,
        l: float = 0.5,  # noqa: E741 (the physics symbol)
        b: float = 0.1,
        dt: float = 0.01,
        max_torque: float = 6.0,
        state_bound: float = 6.0,
        integrator: str = "euler",
        substeps: int = 1,
        Q: Any = (1.0, 1.0),
        R: Any = 1.0,
        name: str = "nlc_pendulum",
    ) -> None:
        self.b = float(b)
        super().__init__(g=g, m=m, l=l, damping=b, damping_name="b", dt=dt, max_torque=max_torque,
                         state_bound=state_bound, integrator=integrator, substeps=substeps, Q=Q, R=R,
                         name=name)


class InvertedPendulumEnv(ControlEnv):
    """Balance the inverted pendulum of Yang, Dai et al. 2024 upright with a torque |u| <= 6.

    ## Description
    The :class:`InvertedPendulum` (``env.unwrapped.system``): g = 9.81, m = l = 1, damping
    beta = 1, one explicit Euler step of dt = 0.05 s per env step, regulated to the upright
    equilibrium theta = 0, theta_dot = 0. The angle is not wrapped.

    ## Action Space
    ``Box(-1, 1, (1,))``, mapped onto the torque in [-max_torque, max_torque] N m.

    ## Observation Space
    ``(theta, theta_dot)`` in rad and rad/s (``"physical"``, default), or mapped from the state box
    [-12, 12]^2 onto [-1, 1] (``"normalized"``).

    ## Rewards
    ``-(theta^2 + theta_dot^2 + u^2)`` (Q = I, R = 1) at the state before the step, minus
    ``violation_penalty`` at a step that leaves the state box.

    ## Starting State
    Uniform on theta in [-0.5, 0.5] rad, theta_dot in [-0.5, 0.5] rad/s (a saturated LQR
    controller balances the pendulum from every corner of this box).

    ## Episode End
    Truncated after ``episode_steps`` (200, i.e. 10 s). The constraints are the state box
    ``|theta|, |theta_dot| <= 12``; terminated at a violation if ``terminate_on_violation``.

    ## Arguments
    - ``g`` (9.81), ``m`` (1), ``l`` (1), ``beta`` (1), ``dt`` (0.05), ``max_torque`` (6),
      ``state_bound`` (12): see :class:`InvertedPendulum`. ``integrator`` ("euler" or "rk4"),
      ``substeps`` (1).
    - ``episode_steps`` (200), ``initial_state_low`` / ``initial_state_high`` (the starting box above).
    - ``observation_scaling``, ``terminate_on_violation``, ``violation_penalty``, ``render_mode``:
      see :class:`ControlEnv`.

    ## Version History
    - v0: initial version.
    """

    def __init__(
        self,
        g: float = 9.81,
        m: float = 1.0,
        l: float = 1.0,  # noqa: E741
        beta: float = 1.0,
        dt: float = 0.05,
        max_torque: float = 6.0,
        state_bound: float = 12.0,
        integrator: str = "euler",
        substeps: int = 1,
        episode_steps: int = 200,
        initial_state_low=(-0.5, -0.5),
        initial_state_high=(0.5, 0.5),
        observation_scaling: str = "physical",
        terminate_on_violation: bool = False,
        violation_penalty: float = 0.0,
        render_mode: str | None = None,
    ) -> None:
        system = InvertedPendulum(g=g, m=m, l=l, beta=beta, dt=dt, max_torque=max_torque,
                                  state_bound=state_bound, integrator=integrator, substeps=substeps)
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


class NLCPendulumEnv(ControlEnv):
    """Balance the Neural Lyapunov Control pendulum (Chang, Roohi, Gao 2019) upright.

    ## Description
    The :class:`NLCPendulum` (``env.unwrapped.system``): m = 0.15, l = 0.5, friction b = 0.1,
    g = 9.81, one explicit Euler step of dt = 0.01 s per env step, torque |u| <= 6, regulated to
    the upright equilibrium theta = 0, theta_dot = 0. The angle is not wrapped.

    ## Action Space
    ``Box(-1, 1, (1,))``, mapped onto the torque in [-max_torque, max_torque] N m.

    ## Observation Space
    ``(theta, theta_dot)`` in rad and rad/s (``"physical"``, default), or mapped from the state box
    [-6, 6]^2 onto [-1, 1] (``"normalized"``).

    ## Rewards
    ``-(theta^2 + theta_dot^2 + u^2)`` (Q = I, R = 1) at the state before the step, minus
    ``violation_penalty`` at a step that leaves the state box.

    ## Starting State
    Uniform on theta in [-0.5, 0.5] rad, theta_dot in [-0.5, 0.5] rad/s.

    ## Episode End
    Truncated after ``episode_steps`` (500, i.e. 5 s). The constraints are the state box
    ``|theta|, |theta_dot| <= 6``; terminated at a violation if ``terminate_on_violation``.

    ## Arguments
    - ``g`` (9.81), ``m`` (0.15), ``l`` (0.5), ``b`` (0.1), ``dt`` (0.01), ``max_torque`` (6),
      ``state_bound`` (6): see :class:`NLCPendulum`. ``integrator`` ("euler" or "rk4"),
      ``substeps`` (1).
    - ``episode_steps`` (500), ``initial_state_low`` / ``initial_state_high`` (the starting box above).
    - ``observation_scaling``, ``terminate_on_violation``, ``violation_penalty``, ``render_mode``:
      see :class:`ControlEnv`.

    ## Version History
    - v0: initial version.
    """

    def __init__(
        self,
        g: float = 9.81,
        m: float = 0.15,
        l: float = 0.5,  # noqa: E741
        b: float = 0.1,
        dt: float = 0.01,
        max_torque: float = 6.0,
        state_bound: float = 6.0,
        integrator: str = "euler",
        substeps: int = 1,
        episode_steps: int = 500,
        initial_state_low=(-0.5, -0.5),
        initial_state_high=(0.5, 0.5),
        observation_scaling: str = "physical",
        terminate_on_violation: bool = False,
        violation_penalty: float = 0.0,
        render_mode: str | None = None,
    ) -> None:
        system = NLCPendulum(g=g, m=m, l=l, b=b, dt=dt, max_torque=max_torque, state_bound=state_bound,
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


__all__ = ["InvertedPendulum", "InvertedPendulumEnv", "NLCPendulum", "NLCPendulumEnv"]
