"""The double integrator of the YANN tutorial: a natively discrete linear plant.

``x+ = A x + B u`` with ``A = [[1, 1], [0, 1]]``, ``B = [[0], [1]]``, stage cost ``x'x + 0.01 u^2``
(Q = I, R = 0.01), ``|u| <= 1``, ``|x_i| <= 10`` and ``|x_1 + 2 x_2| <= 25``: the standard
multi-parametric MPC example (its explicit N = 10 solution: 115 regions in the reference, 113 with ppopt 1.6.12 here).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from envs.control.env import ControlEnv
from envs.control.system import ControlSystem


class DoubleIntegrator(ControlSystem):
    """``x+ = A x + B u`` (position, velocity; one force input), natively discrete.

    ``dt`` is 1 (one step of the discrete model); ``integrator`` is accepted for uniformity and has
    no effect, and :meth:`f` raises: the discrete model is not the sampled continuous double
    integrator (that one has B = [[0.5], [1]]). The polytopic constraint is
    ``H_x = [[1, 2], [-1, -2]]``, ``h_x = [25, 25]``.
    """

    A = np.array([[1.0, 1.0], [0.0, 1.0]])  # for reference; _advance writes them out
    B = np.array([[0.0], [1.0]])

    def __init__(self, *, x_max: float = 10.0, u_max: float = 1.0, polytope_bound: float = 25.0,
                 Q: Any = 1.0, R: Any = 0.01, integrator: str = "rk4",
                 name: str = "double_integrator") -> None:
        for key, value in (("x_max", x_max), ("u_max", u_max), ("polytope_bound", polytope_bound)):
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name}: {key} must be a positive number, got {value!r}")
        super().__init__(
            state_names=("position", "velocity"),
            input_names=("force",),
            dt=1.0,
            x_eq=(0.0, 0.0),
            u_eq=(0.0,),
            state_low=(-x_max, -x_max),
            state_high=(x_max, x_max),
            input_low=(-u_max,),
            input_high=(u_max,),
            Q=Q,
            R=R,
            H_x=[[1.0, 2.0], [-1.0, -2.0]],
            h_x=[polytope_bound, polytope_bound],
            integrator=integrator,
            name=name,
        )

    def _advance(self, x, u, xp):
        (position, velocity), (force,) = x, u
        return position + velocity, velocity + force


class DoubleIntegratorEnv(ControlEnv):
    """Regulate the YANN tutorial's double integrator to the origin under state constraints.

    ## Description
    The :class:`DoubleIntegrator` (``env.unwrapped.system``): ``x+ = [[1, 1], [0, 1]] x + [0, 1]' u``
    with |u| <= 1, |x_i| <= 10 and |x_1 + 2 x_2| <= 25.

    ## Action Space
    ``Box(-1, 1, (1,))``, mapped onto u in [-u_max, u_max] (the identity for u_max = 1).

    ## Observation Space
    ``(position, velocity)`` (``"physical"``, default) or divided by x_max (``"normalized"``).

    ## Rewards
    ``-(x_1^2 + x_2^2 + 0.01 u^2)`` at the state before the step, minus ``violation_penalty`` at a
    violating step.

    ## Starting State
    Uniform on position in [-6, 6], velocity in [-2, 2]: every such state can be brought to rest
    inside the constraints with |u| <= 1 (the worst, 6 + 2 + 1 = 9 <= 10).

    ## Episode End
    Truncated after ``episode_steps`` (50; a good controller settles in about 15). Terminated at a
    violation of the box or the polytope if ``terminate_on_violation``.

    ## Arguments
    - ``x_max`` (10), ``u_max`` (1), ``polytope_bound`` (25): the constraints.
    - ``episode_steps`` (50), ``initial_state_low`` / ``initial_state_high`` (above).
    - ``observation_scaling``, ``terminate_on_violation``, ``violation_penalty``, ``render_mode``:
      see :class:`ControlEnv`.

    ## Version History
    - v0: initial version.
    """

    def __init__(
        self,
        x_max: float = 10.0,
        u_max: float = 1.0,
        polytope_bound: float = 25.0,
        episode_steps: int = 50,
        initial_state_low=(-6.0, -2.0),
        initial_state_high=(6.0, 2.0),
        observation_scaling: str = "physical",
        terminate_on_violation: bool = False,
        violation_penalty: float = 0.0,
        render_mode: str | None = None,
    ) -> None:
        system = DoubleIntegrator(x_max=x_max, u_max=u_max, polytope_bound=polytope_bound)
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
