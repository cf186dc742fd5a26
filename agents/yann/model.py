"""What YANN-RL knows before it learns: the linear optimal-control problem of the plant, solved
explicitly, and the affine maps between the agent's and the plant's coordinates.

:class:`LinearOCP` is plain numpy (picklable, saved with the agent), built once from a control
environment by :meth:`LinearOCP.from_env`: the plant is linearised at its equilibrium
(:class:`agents.mpc.LinearMPCProblem`) and the mp-QP solved with ppopt
(:class:`agents.mpc.ExplicitSolution`). When the env observes its reference the problem tracks it
(:func:`agents.mpc.tracking_problem`). Coordinates:

- plant state ``x`` and input ``u`` are absolute (the explicit solution's regions and laws are too);
- the explicit solution's parameter ``theta`` is ``x`` (regulation) or ``(x, x_ref)`` (tracking);
- the environment's observation maps to ``x`` by ``x = S_obs obs + s_obs`` and, when it observes its
  reference, to ``x_ref`` by ``S_ref obs + s_ref``; so ``theta = S_theta obs + s_theta``;
- the policy's action ``a`` is SB3's normalised action in [-1, 1] (``a = -1`` at the action space's
  low bound), and ``a = C_u u + c_u``: the env's ``input_to_action`` followed by SB3's scaling.

These maps are read off the environment's own conversion methods (``observation_to_state``,
``observation_to_reference``, ``input_to_action``) by probing them at basis points; they must be
affine (the control envs' are: identity or box scaling), which is checked at random points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.mpc.plant import DEFAULT_REFERENCE_MARGIN

AFFINE_CHECK_POINTS = 8
AFFINE_TOLERANCE = 1e-8


def _affine_map(function: Any, width: int, name: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(M, b)`` with ``function(v) = M v + b`` for ``v`` of length ``width``; refuses a function
    that is not affine."""
    origin = np.asarray(function(np.zeros(width)), dtype=np.float64).reshape(-1)
    columns = [np.asarray(function(np.eye(width)[i]), dtype=np.float64).reshape(-1) - origin for i in range(width)]
    M = np.stack(columns, axis=1) if columns else np.zeros((len(origin), 0))
    for v in rng.uniform(-3.0, 3.0, size=(AFFINE_CHECK_POINTS, width)):
        expected = M @ v + origin
        got = np.asarray(function(v), dtype=np.float64).reshape(-1)
        if not np.allclose(got, expected, rtol=AFFINE_TOLERANCE, atol=AFFINE_TOLERANCE * (1 + np.abs(expected).max())):
            raise ValueError(
                f"YANN agents need an affine {name}; the env's is not (at {v.tolist()} it gives "
                f"{got.tolist()}, the affine fit {expected.tolist()})"
            )
    return M, origin


def _box_scaling(low: np.ndarray, high: np.ndarray, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre and half-width that map the box to [-1, 1] (half-width 1 around ``centre`` where a
    side is infinite)."""
    finite = np.isfinite(low) & np.isfinite(high) & (high > low)
    mid = np.where(finite, (low + high) / 2.0, centre)
    half = np.where(finite, (high - low) / 2.0, 1.0)
    return mid, half


@dataclass(frozen=True, eq=False)
class LinearOCP:
    """The linear problem's explicit solution and the coordinate maps (module docstring).

    Fields
    ------
    regions: ``(E_r, f_r, K_r, k_r)`` per region (absolute theta), in ppopt's order.
    values: ``(P_r, q_r, c_r)`` per region: the MPC cost ``V(theta) = theta'P_r theta + q_r'theta + c_r``.
    tolerance: ppopt's point-location tolerance.
    domain: ``(low, high)``, the box of parameters theta the solution covers.
    lqr_gain, lqr_offset, input_low, input_high: the saturated LQR ``clip(K theta + k, low, high)``.
    P_lqr: the Riccati matrix (the LQR value ``(x - x_eq)' P (x - x_eq)``, tracking ``(x - x_ref)' P (x - x_ref)``).
    A, B, x_eq, u_eq: the linear model ``x+ - x_eq = A (x - x_eq) + B (u - u_eq)``.
    Q, R, x_ref, u_ref: the stage cost ``(x - x_ref)'Q(x - x_ref) + (u - u_ref)'R(u - u_ref)``; when
        tracking, ``x_ref`` is the observed reference and ``u_ref`` the model's reference input
        ``u_eq + reference_gain (x_ref - x_eq)`` instead (the env's own reference input is not
        observed), and these fields are unused.
    S_obs, s_obs, S_ref, s_ref, C_u, c_u: the coordinate maps (``S_ref`` None without a reference).
    state_mid, state_half: the box scaling of states used for the residual layers' features.
    horizon: N.
    tracking: whether theta includes the reference.
    reference_gain: ``L_r`` (m, n) of the reference input (tracking).
    """

    regions: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
    values: list[tuple[np.ndarray, np.ndarray, float]]
    tolerance: float
    domain: tuple[np.ndarray, np.ndarray]
    lqr_gain: np.ndarray
    lqr_offset: np.ndarray
    input_low: np.ndarray
    input_high: np.ndarray
    P_lqr: np.ndarray
    A: np.ndarray
    B: np.ndarray
    x_eq: np.ndarray
    u_eq: np.ndarray
    Q: np.ndarray
    R: np.ndarray
    x_ref: np.ndarray
    u_ref: np.ndarray
    S_obs: np.ndarray
    s_obs: np.ndarray
    S_ref: np.ndarray | None
    s_ref: np.ndarray | None
    C_u: np.ndarray
    c_u: np.ndarray
    state_mid: np.ndarray
    state_half: np.ndarray
    horizon: int
    tracking: bool = False  # defaults: a LinearOCP pickled before tracking existed regulates
    reference_gain: np.ndarray | None = None

    @property
    def n_states(self) -> int:
        return self.A.shape[0]

    @property
    def n_inputs(self) -> int:
        return self.B.shape[1]

    @property
    def n_regions(self) -> int:
        return len(self.regions)

    @property
    def n_parameters(self) -> int:
        """The length of theta: ``n`` or ``2 n`` (tracking)."""
        return self.n_states * (2 if self.tracking else 1)

    @property
    def parameter_map(self) -> tuple[np.ndarray, np.ndarray]:
        """``(S_theta, s_theta)``: the explicit solution's parameter ``theta = S_theta obs + s_theta``."""
        if not self.tracking:
            return self.S_obs, self.s_obs
        return np.vstack([self.S_obs, self.S_ref]), np.concatenate([self.s_obs, self.s_ref])

    @property
    def value_fallback(self) -> tuple[np.ndarray, np.ndarray, float]:
        """The LQR value as a quadratic ``(P, q, c)`` in theta, for theta outside every region."""
        P, x_eq = self.P_lqr, self.x_eq
        if not self.tracking:
            return P, -2.0 * P @ x_eq, float(x_eq @ P @ x_eq)
        D = np.hstack([np.eye(self.n_states), -np.eye(self.n_states)])  # x - x_ref
        return D.T @ P @ D, np.zeros(2 * self.n_states), 0.0

    @property
    def n_features(self) -> int:
        """Width of the residual layers' input: the scaled state, and the scaled reference if observed."""
        return self.n_states * (1 if self.S_ref is None else 2)

    @property
    def feature_map(self) -> tuple[np.ndarray, np.ndarray]:
        """``(W, b)``: features ``W obs + b``, the state (and reference) scaled by the state box."""
        maps = [(self.S_obs, self.s_obs)] + ([] if self.S_ref is None else [(self.S_ref, self.s_ref)])
        W = np.vstack([M / self.state_half[:, None] for M, _ in maps])
        b = np.concatenate([(s - self.state_mid) / self.state_half for _, s in maps])
        return W, b

    @classmethod
    def from_solution(cls, solution: Any, interface: Any, action_low: np.ndarray, action_high: np.ndarray,
                      seed: int = 0) -> LinearOCP:
        """From an :class:`agents.mpc.ExplicitSolution` and an :class:`agents.mpc.PlantInterface`;
        ``action_low``/``action_high`` are the bounds of the action space SB3 normalises."""
        problem = solution.problem
        system, model_env = interface.system, interface.model_env
        n, m = problem.n_states, problem.n_inputs
        rng = np.random.default_rng(seed)
        obs_width = int(np.prod(interface.observation_space.shape))
        S_obs, s_obs = _affine_map(model_env.observation_to_state, obs_width, "observation_to_state", rng)
        S_ref = s_ref = None
        if getattr(model_env, "observe_reference", False) and callable(getattr(model_env, "observation_to_reference", None)):
            S_ref, s_ref = _affine_map(model_env.observation_to_reference, obs_width, "observation_to_reference", rng)
        C_env, c_env = _affine_map(model_env.input_to_action, m, "input_to_action", rng)
        # SB3's normalisation of the env action: a = 2 (a_env - low) / (high - low) - 1
        low, high = np.asarray(action_low, dtype=np.float64), np.asarray(action_high, dtype=np.float64)
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
            raise ValueError(f"YANN agents need a bounded action space, got low {low}, high {high}")
        scale = 2.0 / (high - low)
        C_u, c_u = scale[:, None] * C_env, scale * (c_env - low) - 1.0
        if S_obs.shape != (n, obs_width) or C_u.shape != (m, m):
            raise ValueError(f"the env's conversions do not match the system: {S_obs.shape} observation map, "
                             f"{C_u.shape} input map for {n} states and {m} inputs")
        tracking = bool(getattr(problem, "tracking", False))
        if tracking and S_ref is None:
            raise ValueError("a tracking MPC needs an env that observes its reference (observe_reference)")
        state_mid, state_half = _box_scaling(problem.state_low, problem.state_high, problem.x_eq)
        x_ref = np.asarray(getattr(system, "x_ref", problem.x_eq), dtype=np.float64).reshape(n)
        u_ref = np.asarray(getattr(system, "u_ref", problem.u_eq), dtype=np.float64).reshape(m)
        lqr_gain, lqr_offset = problem.lqr_affine_law()
        return cls(
            regions=[(r.E, r.f, r.K, r.k) for r in solution.regions],
            values=[(r.value_P, r.value_q, float(r.value_c)) for r in solution.regions],
            tolerance=solution.point_location_tolerance,
            domain=(solution.theta_low.copy(), solution.theta_high.copy()),
            lqr_gain=lqr_gain,
            lqr_offset=lqr_offset,
            input_low=problem.input_low.copy(),
            input_high=problem.input_high.copy(),
            P_lqr=problem.P.copy(),
            A=problem.A.copy(), B=problem.B.copy(), x_eq=problem.x_eq.copy(), u_eq=problem.u_eq.copy(),
            Q=problem.Q.copy(), R=problem.R.copy(), x_ref=x_ref, u_ref=u_ref,
            S_obs=S_obs, s_obs=s_obs, S_ref=S_ref, s_ref=s_ref, C_u=C_u, c_u=c_u,
            state_mid=state_mid, state_half=state_half, horizon=problem.horizon,
            tracking=tracking, reference_gain=problem.reference_gain.copy(),
        )

    @classmethod
    def from_env(cls, env: Any, horizon: int = 10, cache_dir: str | None = None, verbose: int = 0,
                 track_reference: bool | None = None, reference_set: str = "schedule",
                 reference_margin: float = DEFAULT_REFERENCE_MARGIN) -> tuple[LinearOCP, Any]:
        """Linearise the env's control system, solve its explicit MPC (or read it from
        ``cache_dir``) and read the coordinate maps. Returns the problem and the explicit solution.
        The MPC tracks the observed reference as :func:`agents.mpc.tracking_problem` decides
        (``track_reference``, ``reference_set``, ``reference_margin``).

        Raises ``ValueError`` for an env without a control system (naming what is needed)."""
        from agents.mpc import ExplicitSolution, plant_interface, tracking_problem

        interface = plant_interface(env)
        problem = tracking_problem(interface, horizon, track_reference, reference_set, reference_margin)
        solution = ExplicitSolution.solve(problem, cache_dir=cache_dir, verbose=verbose)
        space = interface.action_space
        return cls.from_solution(solution, interface, space.low, space.high), solution
