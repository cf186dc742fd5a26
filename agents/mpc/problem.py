"""The condensed linear MPC problem around an equilibrium, regulating or tracking a reference.

Coordinates
-----------
Everything in this module is written in *deviation* coordinates around the equilibrium:
``dx = x - x_eq`` and ``du = u - u_eq``. The linear model is ``dx+ = A dx + B du``; the
constraints the user gives in absolute coordinates (boxes, ``H_x x <= h_x``, ``H_u u <= h_u``) are
shifted into deviation coordinates once, here.

The problem has a *parameter* ``theta`` that the optimal input sequence depends on:

- **regulation** (``tracking=False``, the default): ``theta = dx_0``; the MPC steers the plant to
  its equilibrium. With horizon ``N`` and decision ``U = [du_0; ...; du_{N-1}]``::

      J(theta, U) = sum_{k=0}^{N-1} (dx_k' Q dx_k + du_k' R du_k) + dx_N' P dx_N

- **tracking** (``tracking=True``): ``theta = (dx_0, dr)`` with ``dr = x_ref - x_eq`` the
  reference state (``2 n`` parameters). The reference input is the one that best holds ``dr`` at
  rest in the linear model, by least squares: ``du_r = L_r dr`` with
  ``L_r = -pinv(B) (A - I)`` (exact when ``dr`` is a steady state of the linear model; a reference
  that is a steady state of the *nonlinear* plant generally is not, and then no input holds it
  exactly). The cost is::

      J(theta, U) = sum_{k=0}^{N-1} ((dx_k - dr)' Q (dx_k - dr) + (du_k - du_r)' R (du_k - du_r))
                    + (dx_N - dr)' P (dx_N - dr)

  The state target stays ``dr`` itself (not the linear model's nearest steady state): ``dr`` is
  what the environment's stage cost measures against. With ``dr = 0`` the tracking problem is the
  regulation problem.

Both have the constraints on ``dx_1 .. dx_N`` and ``du_0 .. du_{N-1}``, and the terminal weight
``P`` from the discrete algebraic Riccati equation, so that for regulation without active
constraints the MPC is the infinite-horizon LQR. The stage cost has no factor 1/2: it is the
control system's own ``stage_cost``, so the optimal value ``V(theta) = min_U J`` is in the units of
the environment's (negated) reward. Condensing ``X = [dx_1; ...; dx_N] = Phi dx_0 + Gamma U`` gives::

    J = 1/2 U' H U + theta' F' U + 1/2 theta' Y theta,      G U <= W + S theta

(see :class:`CondensedQP`). ``theta`` itself is restricted to the *parameter set*
``{theta : theta_A theta <= theta_b}``: the initial state in the state box and ``H_x``, and (when
tracking) the reference in the reference box. It bounds the region an explicit solution covers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg

EQUILIBRIUM_TOLERANCE = 1e-6  # relative: ||F(x_eq, u_eq) - x_eq|| <= tol * max(1, ||x_eq||)
CONSTRAINT_TOLERANCE = 1e-9


class MPCSetupError(ValueError):
    """The MPC problem cannot be posed: bad shapes, empty constraint sets, no valid
    linearisation point, no stabilising terminal cost."""


@dataclass(frozen=True, eq=False)
class CondensedQP:
    """``min_U 1/2 U'HU + theta'F'U + 1/2 theta'Y theta  s.t.  G U <= W + S theta`` (deviation
    coordinates; ``theta = dx_0`` for regulation, ``(dx_0, dr)`` for tracking).

    Shapes, with ``p`` parameters (``n`` or ``2 n``), ``m`` inputs, horizon ``N`` and ``c``
    constraint rows: H (Nm, Nm), F (Nm, p), Y (p, p), G (c, Nm), W (c,), S (c, p). The optimal
    value ``V(theta)`` of this QP is the MPC cost ``J`` including the stage cost of ``dx_0``.
    """

    H: np.ndarray
    F: np.ndarray
    Y: np.ndarray
    G: np.ndarray
    W: np.ndarray
    S: np.ndarray

    def objective(self, theta: np.ndarray, U: np.ndarray) -> float:
        theta, U = np.asarray(theta, dtype=np.float64), np.asarray(U, dtype=np.float64).ravel()
        return float(0.5 * U @ self.H @ U + theta @ self.F.T @ U + 0.5 * theta @ self.Y @ theta)


def _matrix(name: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0 and len(shape) == 2 and shape[0] == shape[1]:
        array = array * np.eye(shape[0])  # a scalar weight means that multiple of the identity
    if array.shape != shape:
        raise MPCSetupError(f"{name} has shape {array.shape}, expected {shape}")
    if not np.all(np.isfinite(array)):
        raise MPCSetupError(f"{name} has non-finite entries: {array.tolist()}")
    return array


def _bounds(name: str, low: Any, high: Any, size: int) -> tuple[np.ndarray, np.ndarray]:
    low = np.full(size, -np.inf) if low is None else np.asarray(low, dtype=np.float64).reshape(-1)
    high = np.full(size, np.inf) if high is None else np.asarray(high, dtype=np.float64).reshape(-1)
    for side, array in ((f"{name}_low", low), (f"{name}_high", high)):
        if array.shape != (size,):
            raise MPCSetupError(f"{side} has shape {array.shape}, expected ({size},)")
        if np.any(np.isnan(array)):
            raise MPCSetupError(f"{side} contains NaN: {array.tolist()}")
    empty = np.flatnonzero(low > high)
    if len(empty):
        i = int(empty[0])
        raise MPCSetupError(
            f"infeasible MPC set-up: the {name} box is empty ({name}_low[{i}] = {low[i]} > "
            f"{name}_high[{i}] = {high[i]})"
        )
    return low, high


def _polytope(name: str, H: Any, h: Any, size: int) -> tuple[np.ndarray, np.ndarray]:
    if H is None and h is None:
        return np.zeros((0, size)), np.zeros(0)
    if H is None or h is None:
        raise MPCSetupError(f"give both H_{name} and h_{name} (or neither)")
    H = np.atleast_2d(np.asarray(H, dtype=np.float64))
    h = np.asarray(h, dtype=np.float64).reshape(-1)
    if H.shape[1] != size or H.shape[0] != h.shape[0]:
        raise MPCSetupError(f"H_{name} {H.shape} and h_{name} {h.shape} do not describe constraints on {size} values")
    if not (np.all(np.isfinite(H)) and np.all(np.isfinite(h))):
        raise MPCSetupError(f"H_{name} and h_{name} must be finite")
    return H, h


def _box_rows(low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The finite sides of ``low <= v <= high`` as rows ``M v <= b``."""
    eye = np.eye(len(low))
    upper, lower = np.isfinite(high), np.isfinite(low)
    return np.vstack([eye[upper], -eye[lower]]), np.concatenate([high[upper], -low[lower]])


class LinearMPCProblem:
    """A linear MPC problem around the equilibrium ``(x_eq, u_eq)``, regulating to it or tracking a
    reference state; see the module docstring.

    Arguments (absolute coordinates except ``A``, ``B``, which act on deviations)
    ---------------------------------------------------------------------------
    A, B: the discrete linear model ``dx+ = A dx + B du``.
    Q, R: stage weights (``R`` positive definite; a scalar means a multiple of the identity).
    horizon: ``N >= 1``.
    x_eq, u_eq: the equilibrium (zero by default).
    state_low, state_high, input_low, input_high: boxes (None or +-inf for no bound).
    H_x, h_x, H_u, h_u: optional polytopes ``H_x x <= h_x``, ``H_u u <= h_u``.
    terminal_cost: ``"dare"`` (the Riccati solution) or an explicit (n, n) matrix.
    tracking: pose the tracking problem (parameter ``(x, x_ref)``) instead of regulation.
    reference_low, reference_high: the reference box, absolute (tracking only; default: the state
        box). An explicit solution covers references in it; it must be bounded for one.

    Raises :class:`MPCSetupError` (a ``ValueError``) when the problem cannot be posed, in
    particular when the constraints exclude the equilibrium (then no input sequence can keep the
    plant at rest and the feasible set is empty or does not contain the target).
    """

    def __init__(
        self,
        A: Any,
        B: Any,
        Q: Any,
        R: Any,
        horizon: int,
        x_eq: Any = None,
        u_eq: Any = None,
        state_low: Any = None,
        state_high: Any = None,
        input_low: Any = None,
        input_high: Any = None,
        H_x: Any = None,
        h_x: Any = None,
        H_u: Any = None,
        h_u: Any = None,
        terminal_cost: Any = "dare",
        tracking: bool = False,
        reference_low: Any = None,
        reference_high: Any = None,
    ) -> None:
        A = np.atleast_2d(np.asarray(A, dtype=np.float64))
        n = A.shape[0]
        B = np.asarray(B, dtype=np.float64)
        B = B.reshape(n, -1) if B.ndim < 2 else B
        m = B.shape[1]
        self.A = _matrix("A", A, (n, n))
        self.B = _matrix("B", B, (n, m))
        self.Q = _matrix("Q", Q, (n, n))
        self.R = _matrix("R", R, (m, m))
        if not np.allclose(self.Q, self.Q.T) or np.linalg.eigvalsh(self.Q).min() < -1e-10:
            raise MPCSetupError(f"Q must be symmetric positive semi-definite, got {self.Q.tolist()}")
        if not np.allclose(self.R, self.R.T) or np.linalg.eigvalsh(self.R).min() <= 0:
            raise MPCSetupError(f"R must be symmetric positive definite, got {self.R.tolist()}")
        if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
            raise MPCSetupError(f"horizon must be an integer >= 1, got {horizon!r}")
        self.horizon = int(horizon)
        self.x_eq = _matrix("x_eq", np.zeros(n) if x_eq is None else np.reshape(x_eq, -1), (n,))
        self.u_eq = _matrix("u_eq", np.zeros(m) if u_eq is None else np.reshape(u_eq, -1), (m,))
        self.state_low, self.state_high = _bounds("state", state_low, state_high, n)
        self.input_low, self.input_high = _bounds("input", input_low, input_high, m)
        self.H_x, self.h_x = _polytope("x", H_x, h_x, n)
        self.H_u, self.h_u = _polytope("u", H_u, h_u, m)
        self._check_equilibrium_is_admissible()
        self.P = self._terminal_cost(terminal_cost)
        self.K_lqr = -np.linalg.solve(self.R + self.B.T @ self.P @ self.B, self.B.T @ self.P @ self.A)
        self.tracking = bool(tracking)
        if not self.tracking and (reference_low is not None or reference_high is not None):
            raise MPCSetupError("reference_low/reference_high need tracking=True")
        if self.tracking:
            self.reference_low, self.reference_high = _bounds(
                "reference",
                self.state_low if reference_low is None else reference_low,
                self.state_high if reference_high is None else reference_high, n,
            )
        else:
            self.reference_low = self.reference_high = None
        # du_r = L_r dr: the least-squares input that holds dr at rest in the linear model
        self.reference_gain = -np.linalg.pinv(self.B) @ (self.A - np.eye(n))
        self._qp: CondensedQP | None = None

    def __setstate__(self, state: dict[str, Any]) -> None:
        # problems pickled before tracking existed are regulation problems
        state.setdefault("tracking", False)
        state.setdefault("reference_low", None)
        state.setdefault("reference_high", None)
        if "reference_gain" not in state:
            n = state["A"].shape[0]
            state["reference_gain"] = -np.linalg.pinv(state["B"]) @ (state["A"] - np.eye(n))
        self.__dict__.update(state)

    # -- set-up checks ----------------------------------------------------------------------
    def _check_equilibrium_is_admissible(self) -> None:
        tol = CONSTRAINT_TOLERANCE
        checks = [
            ("state box", self.state_low - tol <= self.x_eq, "state_low", self.state_low, self.x_eq),
            ("state box", self.x_eq <= self.state_high + tol, "state_high", self.state_high, self.x_eq),
            ("input box", self.input_low - tol <= self.u_eq, "input_low", self.input_low, self.u_eq),
            ("input box", self.u_eq <= self.input_high + tol, "input_high", self.input_high, self.u_eq),
            ("H_x x <= h_x", self.H_x @ self.x_eq <= self.h_x + tol, "h_x", self.h_x, self.H_x @ self.x_eq),
            ("H_u u <= h_u", self.H_u @ self.u_eq <= self.h_u + tol, "h_u", self.h_u, self.H_u @ self.u_eq),
        ]
        for what, holds, bound_name, bound, value in checks:
            broken = np.flatnonzero(~holds)
            if len(broken):
                i = int(broken[0])
                raise MPCSetupError(
                    f"infeasible MPC set-up: the {what} constraint excludes the equilibrium "
                    f"(x_eq = {self.x_eq.tolist()}, u_eq = {self.u_eq.tolist()}; row {i}: value "
                    f"{value[i]:.6g} against {bound_name}[{i}] = {bound[i]:.6g}); the MPC regulates "
                    f"to the equilibrium, so it must satisfy every constraint"
                )

    def _terminal_cost(self, terminal_cost: Any) -> np.ndarray:
        n = self.A.shape[0]
        if isinstance(terminal_cost, str):
            if terminal_cost != "dare":
                raise MPCSetupError(f"unknown terminal_cost {terminal_cost!r}; allowed: 'dare' or an (n, n) matrix")
            try:
                P = scipy.linalg.solve_discrete_are(self.A, self.B, self.Q, self.R)
            except (np.linalg.LinAlgError, ValueError) as error:
                raise MPCSetupError(
                    f"no terminal cost: the discrete algebraic Riccati equation has no stabilising "
                    f"solution for this (A, B, Q, R) ({error}); (A, B) must be stabilisable and "
                    f"(A, Q) detectable"
                ) from None
            if not np.all(np.isfinite(P)):
                raise MPCSetupError("no terminal cost: the Riccati solution is not finite")
            return 0.5 * (P + P.T)
        return _matrix("terminal_cost", terminal_cost, (n, n))

    # -- constructors -----------------------------------------------------------------------
    @classmethod
    def from_system(cls, system: Any, horizon: int, terminal_cost: Any = "dare", tracking: bool = False,
                    reference_low: Any = None, reference_high: Any = None) -> LinearMPCProblem:
        """Linearise a :class:`envs.control.system.ControlSystem` at its equilibrium (``tracking``
        and the reference box: see the class).

        Refuses a system whose equilibrium is not a fixed point of its discrete dynamics or whose
        Jacobians there are not finite.
        """
        import torch

        name = getattr(system, "name", type(system).__name__)
        x_eq = np.asarray(system.x_eq, dtype=np.float64).reshape(-1)
        u_eq = np.asarray(system.u_eq, dtype=np.float64).reshape(-1)
        if x_eq.shape != (system.n_states,) or u_eq.shape != (system.n_inputs,):
            raise MPCSetupError(
                f"system {name}: x_eq has shape {x_eq.shape} and u_eq {u_eq.shape}, expected "
                f"({system.n_states},) and ({system.n_inputs},)"
            )
        if not (np.all(np.isfinite(x_eq)) and np.all(np.isfinite(u_eq))):
            raise MPCSetupError(
                f"system {name}: no valid linearisation point, x_eq = {x_eq.tolist()}, u_eq = {u_eq.tolist()}"
            )
        with torch.no_grad():
            x_next = system.discrete_step(torch.as_tensor(x_eq), torch.as_tensor(u_eq))
        x_next = np.asarray(x_next.detach().cpu().numpy() if torch.is_tensor(x_next) else x_next, dtype=np.float64)
        drift = float(np.linalg.norm(x_next - x_eq)) if np.all(np.isfinite(x_next)) else np.inf
        if not drift <= EQUILIBRIUM_TOLERANCE * max(1.0, float(np.linalg.norm(x_eq))):
            raise MPCSetupError(
                f"system {name}: (x_eq, u_eq) = ({x_eq.tolist()}, {u_eq.tolist()}) is not an "
                f"equilibrium: ||F(x_eq, u_eq) - x_eq|| = {drift:.3g} (allowed "
                f"{EQUILIBRIUM_TOLERANCE:g} relative), so there is no valid linearisation point"
            )
        A, B = system.linearize(x_eq, u_eq)
        A, B = np.asarray(A, dtype=np.float64), np.asarray(B, dtype=np.float64)
        if not (np.all(np.isfinite(A)) and np.all(np.isfinite(B))):
            raise MPCSetupError(
                f"system {name}: the Jacobians at the equilibrium are not finite "
                f"(A = {A.tolist()}, B = {B.tolist()})"
            )
        # linear safety constraints (the CSTR's temperature band) become state constraints of the
        # MPC, so it keeps the plant safe by construction rather than by luck
        H_x, h_x = getattr(system, "H_x", None), getattr(system, "h_x", None)
        safety = system.linear_safety() if hasattr(system, "linear_safety") else None
        if safety is not None:
            G, g = safety
            H_x = G if H_x is None else np.vstack([H_x, G])
            h_x = g if h_x is None else np.concatenate([h_x, g])
        return cls(
            A, B, system.Q, system.R, horizon,
            x_eq=x_eq, u_eq=u_eq,
            state_low=system.state_low, state_high=system.state_high,
            input_low=system.input_low, input_high=system.input_high,
            H_x=H_x, h_x=h_x,
            H_u=getattr(system, "H_u", None), h_u=getattr(system, "h_u", None),
            terminal_cost=terminal_cost,
            tracking=tracking, reference_low=reference_low, reference_high=reference_high,
        )

    # -- sizes ------------------------------------------------------------------------------
    @property
    def n_states(self) -> int:
        return self.A.shape[0]

    @property
    def n_inputs(self) -> int:
        return self.B.shape[1]

    @property
    def n_parameters(self) -> int:
        """The length of ``theta``: ``n`` (regulation) or ``2 n`` (tracking)."""
        return self.n_states * (2 if self.tracking else 1)

    @property
    def theta_eq(self) -> np.ndarray:
        """The absolute ``theta`` at which the deviation ``theta`` is zero: ``x_eq`` (regulation)
        or ``(x_eq, x_eq)`` (tracking)."""
        return np.tile(self.x_eq, 2) if self.tracking else self.x_eq.copy()

    def parameters_of(self, x: Any, x_ref: Any = None) -> np.ndarray:
        """Absolute ``theta`` from absolute states (batched over leading axes): ``x`` for
        regulation, ``(x, x_ref)`` for tracking (``x_ref`` required then, refused otherwise)."""
        x = np.asarray(x, dtype=np.float64)
        if not self.tracking:
            if x_ref is not None:
                raise ValueError("this MPC problem regulates to its equilibrium; it takes no reference "
                                 "(pose it with tracking=True to track one)")
            return x
        if x_ref is None:
            raise ValueError("this MPC problem tracks a reference: pass x_ref with the state")
        x_ref = np.broadcast_to(np.asarray(x_ref, dtype=np.float64), x.shape)
        return np.concatenate([x, x_ref], axis=-1)

    def reference_input(self, x_ref: Any) -> np.ndarray:
        """The reference input ``u_r = u_eq + L_r (x_ref - x_eq)`` (absolute, batched over rows)."""
        return self.u_eq + (np.asarray(x_ref, dtype=np.float64) - self.x_eq) @ self.reference_gain.T

    # -- constraints in deviation coordinates -----------------------------------------------
    def state_constraints(self) -> tuple[np.ndarray, np.ndarray]:
        """``(M, b)`` with ``M dx <= b`` equivalent to the state box and ``H_x x <= h_x``."""
        M_box, b_box = _box_rows(self.state_low - self.x_eq, self.state_high - self.x_eq)
        return np.vstack([M_box, self.H_x]), np.concatenate([b_box, self.h_x - self.H_x @ self.x_eq])

    def input_constraints(self) -> tuple[np.ndarray, np.ndarray]:
        """``(M, b)`` with ``M du <= b`` equivalent to the input box and ``H_u u <= h_u``."""
        M_box, b_box = _box_rows(self.input_low - self.u_eq, self.input_high - self.u_eq)
        return np.vstack([M_box, self.H_u]), np.concatenate([b_box, self.h_u - self.H_u @ self.u_eq])

    def reference_constraints(self) -> tuple[np.ndarray, np.ndarray]:
        """``(M, b)`` with ``M dr <= b`` equivalent to the reference box (tracking only)."""
        if not self.tracking:
            raise ValueError("a regulation problem has no reference")
        return _box_rows(self.reference_low - self.x_eq, self.reference_high - self.x_eq)

    def parameter_set(self) -> tuple[np.ndarray, np.ndarray]:
        """``(theta_A, theta_b)``: the parameters ``theta_A theta <= theta_b`` (deviation) the
        problem is posed for: the initial state's constraints, and the reference box when tracking."""
        M_x, b_x = self.state_constraints()
        if not self.tracking:
            return M_x, b_x
        M_r, b_r = self.reference_constraints()
        return scipy.linalg.block_diag(M_x, M_r), np.concatenate([b_x, b_r])

    def parameter_maps(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(T_x, T_u, T_0)``: the targets the cost measures against, as linear maps of ``theta``
        (deviation): the stacked state targets ``[dr; ...; dr] = T_x theta`` (N n, p) of
        ``dx_1 .. dx_N``, the stacked input targets ``[du_r; ...] = T_u theta`` (N m, p) and the
        target ``dr = T_0 theta`` (n, p) of ``dx_0``. All zero for regulation."""
        n, m, N, p = self.n_states, self.n_inputs, self.horizon, self.n_parameters
        if not self.tracking:
            return np.zeros((N * n, p)), np.zeros((N * m, p)), np.zeros((n, p))
        T_x = np.hstack([np.zeros((N * n, n)), np.tile(np.eye(n), (N, 1))])
        T_u = np.hstack([np.zeros((N * m, n)), np.tile(self.reference_gain, (N, 1))])
        T_0 = np.hstack([np.zeros((n, n)), np.eye(n)])
        return T_x, T_u, T_0

    # -- condensing -------------------------------------------------------------------------
    def prediction_matrices(self) -> tuple[np.ndarray, np.ndarray]:
        """``(Phi, Gamma)`` with ``[dx_1; ...; dx_N] = Phi dx_0 + Gamma U``."""
        n, m, N = self.n_states, self.n_inputs, self.horizon
        powers = [np.eye(n)]
        for _ in range(N):
            powers.append(self.A @ powers[-1])
        Phi = np.vstack(powers[1:])
        Gamma = np.zeros((N * n, N * m))
        for i in range(N):  # block row i predicts dx_{i+1}
            for j in range(i + 1):
                Gamma[i * n:(i + 1) * n, j * m:(j + 1) * m] = powers[i - j] @ self.B
        return Phi, Gamma

    def condensed(self) -> CondensedQP:
        """The condensed QP (computed once)."""
        if self._qp is None:
            self._qp = self._condense()
        return self._qp

    def _condense(self) -> CondensedQP:
        n, m, N, p = self.n_states, self.n_inputs, self.horizon, self.n_parameters
        Phi, Gamma = self.prediction_matrices()
        Q_bar = scipy.linalg.block_diag(*([self.Q] * (N - 1) + [self.P]))
        R_bar = scipy.linalg.block_diag(*([self.R] * N))
        # the weighted errors as maps of theta (plus Gamma U, or U): states X - T_x theta, inputs
        # U - T_u theta, the first state dx_0 - T_0 theta
        T_x, T_u, T_0 = self.parameter_maps()
        select_x0 = np.hstack([np.eye(n), np.zeros((n, p - n))])
        E_x, E_0 = Phi @ select_x0 - T_x, select_x0 - T_0
        H = 2.0 * (Gamma.T @ Q_bar @ Gamma + R_bar)
        F = 2.0 * (Gamma.T @ Q_bar @ E_x - R_bar @ T_u)
        Y = 2.0 * (E_0.T @ self.Q @ E_0 + E_x.T @ Q_bar @ E_x + T_u.T @ R_bar @ T_u)

        M_x, b_x = self.state_constraints()
        M_u, b_u = self.input_constraints()
        G_rows, W_rows, S_rows = [], [], []
        for k in range(N):
            block = np.zeros((len(b_u), N * m))
            block[:, k * m:(k + 1) * m] = M_u
            G_rows.append(block)
            W_rows.append(b_u)
            S_rows.append(np.zeros((len(b_u), p)))
        for k in range(N):  # M_x dx_{k+1} <= b_x with dx_{k+1} = Phi_k dx_0 + Gamma_k U
            G_rows.append(M_x @ Gamma[k * n:(k + 1) * n])
            W_rows.append(b_x)
            S_rows.append(-M_x @ Phi[k * n:(k + 1) * n] @ select_x0)
        G = np.vstack(G_rows) if G_rows else np.zeros((0, N * m))
        W = np.concatenate(W_rows) if W_rows else np.zeros(0)
        S = np.vstack(S_rows) if S_rows else np.zeros((0, p))
        return CondensedQP(0.5 * (H + H.T), F, 0.5 * (Y + Y.T), G, W, S)

    # -- the cost by simulation (the specification the condensed form must meet) ------------
    def rollout_cost(self, dx0: Any, U: Any, dr: Any = None) -> float:
        """``J(theta, U)`` by simulating the linear model step by step (``dr``: the reference in
        deviation coordinates, tracking problems only; zero by default)."""
        n, m = self.n_states, self.n_inputs
        dx = np.asarray(dx0, dtype=np.float64).reshape(n)
        U = np.asarray(U, dtype=np.float64).reshape(self.horizon, m)
        dr = np.zeros(n) if dr is None else np.asarray(dr, dtype=np.float64).reshape(n)
        du_r = self.reference_gain @ dr if self.tracking else np.zeros(m)
        cost = 0.0
        for du in U:
            cost += (dx - dr) @ self.Q @ (dx - dr) + (du - du_r) @ self.R @ (du - du_r)
            dx = self.A @ dx + self.B @ du
        return float(cost + (dx - dr) @ self.P @ (dx - dr))

    def lqr_input(self, x: Any, x_ref: Any = None) -> np.ndarray:
        """The saturated LQR law, batched over rows (absolute coordinates): regulation
        ``clip(u_eq + K (x - x_eq), input box)``; tracking ``clip(u_r + K (x - x_ref), input box)``
        with the reference input ``u_r`` (:meth:`reference_input`). It ignores ``H_u``: it
        saturates to the box only."""
        x = np.asarray(x, dtype=np.float64)
        self.parameters_of(x, x_ref)  # refuses a missing or unexpected reference
        if self.tracking:
            u = self.reference_input(x_ref) + (x - np.asarray(x_ref, dtype=np.float64)) @ self.K_lqr.T
        else:
            u = self.u_eq + (x - self.x_eq) @ self.K_lqr.T
        return np.clip(u, self.input_low, self.input_high)

    def lqr_affine_law(self) -> tuple[np.ndarray, np.ndarray]:
        """``(K_theta, k_theta)`` with the unsaturated LQR ``u = K_theta theta + k_theta`` in
        absolute ``theta`` (see :meth:`lqr_input`)."""
        K = self.K_lqr
        if not self.tracking:
            return K.copy(), self.u_eq - K @ self.x_eq
        L = self.reference_gain
        return np.hstack([K, L - K]), self.u_eq - L @ self.x_eq

    # -- identity ---------------------------------------------------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        """Every number that defines the problem (for hashing and saving)."""
        return {
            "A": self.A, "B": self.B, "Q": self.Q, "R": self.R, "P": self.P,
            "horizon": np.array([self.horizon]), "x_eq": self.x_eq, "u_eq": self.u_eq,
            "state_low": self.state_low, "state_high": self.state_high,
            "input_low": self.input_low, "input_high": self.input_high,
            "H_x": self.H_x, "h_x": self.h_x, "H_u": self.H_u, "h_u": self.h_u,
            # regulation problems hash as they did before tracking existed (their caches stay valid)
            **({"tracking": np.array([1.0]), "reference_low": self.reference_low,
                "reference_high": self.reference_high, "reference_gain": self.reference_gain}
               if self.tracking else {}),
        }

    def to_state(self) -> dict[str, Any]:
        """The problem as plain arrays and numbers (a checkpoint's state tree); :meth:`from_state`
        rebuilds exactly this problem (the terminal cost is stored, not solved again)."""
        state: dict[str, Any] = {
            name: getattr(self, name).copy()
            for name in ("A", "B", "Q", "R", "x_eq", "u_eq", "state_low", "state_high", "input_low", "input_high",
                         "H_x", "h_x", "H_u", "h_u")
        }
        state.update(horizon=self.horizon, terminal_cost=self.P.copy(), tracking=self.tracking,
                     reference_low=None if self.reference_low is None else self.reference_low.copy(),
                     reference_high=None if self.reference_high is None else self.reference_high.copy())
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LinearMPCProblem:
        """The problem :meth:`to_state` described (a ``MPCSetupError`` if the numbers are not one)."""
        return cls(**state)

    def fingerprint(self) -> str:
        """A SHA-256 of :meth:`arrays` (exact bytes)."""
        import hashlib

        digest = hashlib.sha256()
        for key, value in self.arrays().items():
            array = np.ascontiguousarray(value, dtype=np.float64)
            digest.update(key.encode())
            digest.update(str(array.shape).encode())
            digest.update(array.tobytes())
        return digest.hexdigest()

    def __repr__(self) -> str:
        return (f"LinearMPCProblem(n_states={self.n_states}, n_inputs={self.n_inputs}, "
                f"horizon={self.horizon}, {'tracking' if self.tracking else 'regulation'}, fingerprint={self.fingerprint()[:12]})")
