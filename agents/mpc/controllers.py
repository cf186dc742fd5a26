"""State-feedback controllers built from a :class:`~agents.mpc.problem.LinearMPCProblem`.

Each maps absolute states to absolute inputs, batched: ``control(x, x_ref=None) -> (u, fallback)``
with ``x`` of shape (batch, n), ``u`` of shape (batch, m) and ``fallback`` a boolean mask of the
rows where the controller could not apply its own law and used the saturated LQR instead. A
tracking problem (``problem.tracking``) needs the reference states ``x_ref`` (batch, n) too; a
regulation problem refuses them.

- :class:`LQRController`: ``u = clip(u_eq + K (x - x_eq), input box)`` (regulation) or
  ``clip(u_r + K (x - x_ref), input box)`` (tracking, ``u_r`` the reference input), ``K`` from the
  DARE. It never falls back; its saturation ignores ``H_u`` (the box only).
- :class:`OnlineMPCController`: solves the condensed QP with daqp at every call; falls back when the
  QP is infeasible from ``x`` (or daqp fails).
- :class:`ExplicitMPCController`: evaluates the :class:`~agents.mpc.explicit.ExplicitSolution` at
  ``theta = x`` or ``(x, x_ref)``; falls back outside its regions (outside the parameter set or
  its feasible part).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.mpc.explicit import ExplicitSolution
from agents.mpc.problem import LinearMPCProblem

DAQP_OPTIMAL = 1
DAQP_SOFT_OPTIMAL = 2


def _batch(x: Any, n: int, what: str = "states") -> np.ndarray:
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    if x.ndim != 2 or x.shape[1] != n:
        raise ValueError(f"expected {what} of shape (batch, {n}), got {x.shape}")
    return x


def _parameters(problem: LinearMPCProblem, x: Any, x_ref: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """The batched states and references (None for a regulation problem), checked."""
    x = _batch(x, problem.n_states)
    if x_ref is not None:
        x_ref = np.broadcast_to(_batch(x_ref, problem.n_states, "references"), x.shape)
    problem.parameters_of(x, x_ref)  # refuses a missing or unexpected reference
    return x, x_ref


class LQRController:
    """The infinite-horizon LQR of the problem's (A, B, Q, R), saturated to the input box."""

    def __init__(self, problem: LinearMPCProblem) -> None:
        self.problem = problem

    def control(self, x: Any, x_ref: Any = None) -> tuple[np.ndarray, np.ndarray]:
        x, x_ref = _parameters(self.problem, x, x_ref)
        return self.problem.lqr_input(x, x_ref), np.zeros(len(x), dtype=bool)


class OnlineMPCController:
    """The MPC law by solving the condensed QP with daqp from each state.

    It solves from any state, also outside the state box (only the predicted states ``dx_1..dx_N``
    are constrained); a state from which no input sequence satisfies the constraints gets the
    saturated LQR. ``primal_tol`` is daqp's feasibility tolerance.
    """

    def __init__(self, problem: LinearMPCProblem, primal_tol: float = 1e-10) -> None:
        self.problem = problem
        self.primal_tol = primal_tol
        qp = problem.condensed()
        self._H = np.ascontiguousarray(qp.H)
        # rows with G = 0 constrain only the initial state: daqp sees the others, these are checked
        coupled = np.any(np.abs(qp.G) > 0.0, axis=1)
        self._G = np.ascontiguousarray(qp.G[coupled])
        self._W, self._S = qp.W[coupled], qp.S[coupled]
        self._W0, self._S0 = qp.W[~coupled], qp.S[~coupled]
        self._lower = np.full(len(self._W), -1e30)

    def solve(self, x: Any, x_ref: Any = None) -> np.ndarray | None:
        """The optimal input sequence ``U`` (deviation coordinates, shape (N m,)) from one absolute
        state (and reference, for tracking), or None when the QP is infeasible."""
        import daqp

        qp = self.problem.condensed()
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        x_ref = None if x_ref is None else np.asarray(x_ref, dtype=np.float64).reshape(-1)
        dx = self.problem.parameters_of(x, x_ref) - self.problem.theta_eq
        if np.any(self._W0 + self._S0 @ dx < -self.primal_tol):
            return None
        f = np.ascontiguousarray(qp.F @ dx)
        if len(self._W) == 0:
            return np.linalg.solve(self._H, -f)
        upper = np.ascontiguousarray(self._W + self._S @ dx)
        U, _, exitflag, _ = daqp.solve(self._H, f, self._G, upper, self._lower, primal_tol=self.primal_tol)
        if exitflag not in (DAQP_OPTIMAL, DAQP_SOFT_OPTIMAL):
            return None
        return np.asarray(U, dtype=np.float64)

    def control(self, x: Any, x_ref: Any = None) -> tuple[np.ndarray, np.ndarray]:
        x, x_ref = _parameters(self.problem, x, x_ref)
        m = self.problem.n_inputs
        u = np.empty((len(x), m))
        fallback = np.zeros(len(x), dtype=bool)
        for row, state in enumerate(x):
            ref = None if x_ref is None else x_ref[row]
            finite = np.all(np.isfinite(state)) and (ref is None or np.all(np.isfinite(ref)))
            U = self.solve(state, ref) if finite else None
            if U is None:
                fallback[row] = True
                u[row] = self.problem.lqr_input(state, ref)
            else:
                u[row] = self.problem.u_eq + U[:m]
        return u, fallback


class ExplicitMPCController:
    """The explicit MPC law (ppopt point location) with the saturated LQR outside its regions."""

    def __init__(self, solution: ExplicitSolution) -> None:
        self.solution = solution
        self.problem = solution.problem

    def control(self, x: Any, x_ref: Any = None) -> tuple[np.ndarray, np.ndarray]:
        x, x_ref = _parameters(self.problem, x, x_ref)
        theta = self.problem.parameters_of(x, x_ref)
        u = np.empty((len(x), self.problem.n_inputs))
        finite = np.all(np.isfinite(theta), axis=1)
        u[~finite] = np.nan
        if finite.any():
            u[finite] = self.solution.evaluate(theta[finite], outside="nan")
        fallback = np.any(np.isnan(u), axis=1)
        if fallback.any():
            u[fallback] = self.problem.lqr_input(x[fallback], None if x_ref is None else x_ref[fallback])
        return u, fallback
