"""The control-system interface: what an agent may know about a plant.

A :class:`ControlSystem` is a discrete-time plant ``x+ = F(x, u)`` obtained from continuous
dynamics ``dx/dt = f(x, u)`` by a fixed integrator (RK4 by default, explicit Euler as an option;
``substeps`` equal substeps per step ``dt``, shortened where a stiff plant would make them
unstable); a natively discrete system defines ``F`` directly.

It also carries the control problem: the equilibrium (``x_eq``, ``u_eq``), state and input boxes,
optional polytopic constraints ``H_x x <= h_x`` and ``H_u u <= h_u``, the quadratic stage cost
``(x - x_ref)' Q (x - x_ref) + (u - u_ref)' R (u - u_ref)`` and safety constraints ``g(x) <= 0``.

The public methods take torch tensors (batched over leading dimensions, differentiable, computed in
the tensor's dtype; float64 is what the tests check) or numpy arrays (float64 numpy out). The model
is written once, per component, against a backend (TORCH, NUMPY, or SCALAR for one state in Python
floats, the env's fast path), so the path the environments step with and the torch path agents
differentiate cannot drift apart (tested to 1e-9).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

INTEGRATORS = ("rk4", "euler")

Array = Any  # a torch.Tensor or a numpy.ndarray


class NUMPY:
    """numpy arrays of shape (...)."""

    exp, sin, cos, sqrt, abs = np.exp, np.sin, np.cos, np.sqrt, np.abs
    minimum, maximum, where, any = np.minimum, np.maximum, np.where, np.any

    @staticmethod
    def stack(parts):
        return np.stack(np.broadcast_arrays(*parts), -1)

    @staticmethod
    def stack_axis(arrays, axis):
        return np.stack(arrays, axis)

    @staticmethod
    def full_like(like, value):
        return np.full(np.shape(like), value, dtype=np.float64)

    @staticmethod
    def detach(value):
        return value

    @staticmethod
    def all_finite(parts):
        return all(np.isfinite(p).all() for p in parts)


class TORCH:
    """torch tensors of shape (...), differentiable."""

    exp, sin, cos, sqrt, abs, where = torch.exp, torch.sin, torch.cos, torch.sqrt, torch.abs, torch.where

    @staticmethod
    def minimum(a, b):
        return torch.clamp(a, max=b)

    @staticmethod
    def maximum(a, b):
        return torch.clamp(a, min=b)

    @staticmethod
    def any(value):
        return bool(value.any())

    @staticmethod
    def stack(parts):
        return torch.stack(torch.broadcast_tensors(*parts), -1)

    @staticmethod
    def stack_axis(tensors, axis):
        return torch.stack(tensors, axis)

    @staticmethod
    def full_like(like, value):
        return torch.full_like(like, value)

    @staticmethod
    def detach(value):
        return value.detach()

    @staticmethod
    def all_finite(parts):
        return all(bool(torch.isfinite(p).all()) for p in parts)


class SCALAR:
    """Python floats: one state, fast."""

    exp, sin, cos, sqrt, abs = math.exp, math.sin, math.cos, math.sqrt, abs
    minimum, maximum, any = min, max, bool

    @staticmethod
    def where(condition, a, b):
        return a if condition else b

    @staticmethod
    def stack(parts):
        return np.array(parts, dtype=np.float64)

    @staticmethod
    def full_like(like, value):
        return float(value)

    @staticmethod
    def detach(value):
        return value

    @staticmethod
    def all_finite(parts):
        return all(math.isfinite(p) for p in parts)


class _SympyBackend:
    """SymPy expressions: the model's exact symbolic form (certificates, exact checks). SymPy is
    imported on first use; the functions are SymPy's own."""

    FUNCTIONS = {"exp": "exp", "sin": "sin", "cos": "cos", "sqrt": "sqrt", "abs": "Abs", "minimum": "Min",
                 "maximum": "Max"}

    def __getattr__(self, name: str) -> Any:
        if name not in self.FUNCTIONS:
            raise AttributeError(f"the SymPy backend has no {name!r}")
        import sympy

        return getattr(sympy, self.FUNCTIONS[name])

    @staticmethod
    def where(condition, a, b):
        import sympy

        return sympy.Piecewise((a, condition), (b, True))

    @staticmethod
    def stack(parts):
        return list(parts)

    @staticmethod
    def full_like(like, value):
        import sympy

        return sympy.Float(value)

    @staticmethod
    def detach(value):
        return value


SYMPY = _SympyBackend()


def _float_vector(value: Any, length: int, what: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        array = np.full(length, float(array))
    if array.shape != (length,):
        raise ValueError(f"{what} must have {length} entries, got shape {array.shape}")
    return array


def _float_matrix(value: Any, shape: tuple[int, int], what: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        array = float(array) * np.eye(shape[0])
    elif array.ndim == 1 and shape[0] == shape[1] and array.shape == (shape[0],):
        array = np.diag(array)
    if array.shape != shape:
        raise ValueError(f"{what} must have shape {shape}, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what} must be finite")
    return array


class ControlSystem:
    """A plant with its control problem; subclasses define the dynamics.

    Subclasses call ``super().__init__(...)`` with the keyword arguments below and implement
    ``_rhs(x, u, xp)``: the continuous right-hand side on tuples of state and input components,
    returning the tuple of derivatives, computed with the backend ``xp`` (``xp.exp``, ``xp.sin``,
    ...). A natively discrete plant implements ``_advance(x, u, xp)`` (one step, same conventions)
    instead; ``_post_step(x, xp)`` may map a state to its canonical form (e.g. wrap an angle),
    ``_safety(x, xp)`` returns the safety constraints, and a stiff plant sets ``stiff = True`` and
    defines ``_stiffness(x, xp)``.

    Args:
        state_names, input_names: names of the state and input components (their order).
        dt: step length of the discrete plant (the system's time unit; minutes for the CSTR).
        x_eq, u_eq: the equilibrium used by default for :meth:`linearize`.
        state_low, state_high: the state constraint box (may be infinite on a side); the
            environment counts its violations.
        input_low, input_high: the input box (finite: the environment maps actions onto it).
        Q, R: stage-cost weights (a matrix, a vector for a diagonal, or a scalar times identity).
        integrator: ``"rk4"`` (default) or ``"euler"``.
        substeps: integrator steps per ``dt`` (for stiff plants).
        H_x, h_x, H_u, h_u: optional polytopic constraints ``H_x x <= h_x``, ``H_u u <= h_u``.
        x_ref, u_ref: the default reference of the stage cost (the equilibrium if omitted).
        name: a short name for messages.
    """

    def __init__(
        self,
        *,
        state_names: Sequence[str],
        input_names: Sequence[str],
        dt: float,
        x_eq: Any,
        u_eq: Any,
        state_low: Any,
        state_high: Any,
        input_low: Any,
        input_high: Any,
        Q: Any,
        R: Any,
        integrator: str = "rk4",
        substeps: int = 1,
        H_x: Any = None,
        h_x: Any = None,
        H_u: Any = None,
        h_u: Any = None,
        x_ref: Any = None,
        u_ref: Any = None,
        name: str = "system",
    ) -> None:
        self.name = name
        self.state_names = tuple(state_names)
        self.input_names = tuple(input_names)
        n, m = len(self.state_names), len(self.input_names)
        if n == 0 or m == 0:
            raise ValueError(f"{name}: a control system needs at least one state and one input")
        if integrator not in INTEGRATORS:
            raise ValueError(f"unknown integrator {integrator!r}; allowed: {', '.join(INTEGRATORS)}")
        self.integrator = integrator
        if not (np.isfinite(dt) and dt > 0):
            raise ValueError(f"{name}: dt must be a positive number, got {dt!r}")
        self.dt = float(dt)
        if int(substeps) != substeps or substeps < 1:
            raise ValueError(f"{name}: substeps must be a positive integer, got {substeps!r}")
        self.substeps = int(substeps)

        self.x_eq = _float_vector(x_eq, n, f"{name}: x_eq")
        self.u_eq = _float_vector(u_eq, m, f"{name}: u_eq")
        self.state_low = _float_vector(state_low, n, f"{name}: state_low")
        self.state_high = _float_vector(state_high, n, f"{name}: state_high")
        self.input_low = _float_vector(input_low, m, f"{name}: input_low")
        self.input_high = _float_vector(input_high, m, f"{name}: input_high")
        if not np.all(self.state_low < self.state_high):
            raise ValueError(f"{name}: state_low must be below state_high componentwise")
        if not (np.all(np.isfinite(self.input_low)) and np.all(np.isfinite(self.input_high))
                and np.all(self.input_low < self.input_high)):
            raise ValueError(f"{name}: the input box must be finite with input_low < input_high")

        self.Q = _float_matrix(Q, (n, n), f"{name}: Q")
        self.R = _float_matrix(R, (m, m), f"{name}: R")
        if not np.allclose(self.Q, self.Q.T) or np.linalg.eigvalsh(self.Q).min() < -1e-12:
            raise ValueError(f"{name}: Q must be symmetric positive semi-definite")
        if not np.allclose(self.R, self.R.T) or np.linalg.eigvalsh(self.R).min() <= 0:
            raise ValueError(f"{name}: R must be symmetric positive definite")

        self.H_x, self.h_x = self._polytope(H_x, h_x, n, "H_x", "h_x")
        self.H_u, self.h_u = self._polytope(H_u, h_u, m, "H_u", "h_u")
        self.x_ref = self.x_eq.copy() if x_ref is None else _float_vector(x_ref, n, f"{name}: x_ref")
        self.u_ref = self.u_eq.copy() if u_ref is None else _float_vector(u_ref, m, f"{name}: u_ref")

    def _polytope(self, H: Any, h: Any, width: int, H_name: str, h_name: str):
        if H is None and h is None:
            return None, None
        if H is None or h is None:
            raise ValueError(f"{self.name}: give both {H_name} and {h_name}, or neither")
        H = np.atleast_2d(np.asarray(H, dtype=np.float64))
        if H.ndim != 2 or H.shape[1] != width:
            raise ValueError(f"{self.name}: {H_name} must have shape (k, {width}), got {H.shape}")
        return H, _float_vector(h, H.shape[0], f"{self.name}: {h_name}")

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, states={self.state_names}, "
                f"inputs={self.input_names}, dt={self.dt}, integrator={self.integrator!r})")

    # -- sizes -----------------------------------------------------------------------------
    @property
    def n_states(self) -> int:
        return len(self.state_names)

    @property
    def n_inputs(self) -> int:
        return len(self.input_names)

    @property
    def n_safety(self) -> int:
        """How many safety constraints :meth:`safety` returns."""
        return len(self._safety(tuple(self.x_eq.tolist()), SCALAR))

    # -- checking arguments ----------------------------------------------------------------
    def _check(self, value: Array, width: int, what: str) -> Array:
        """``value`` as a float array of shape (..., width), finite; torch stays torch."""
        names = self.state_names if what == "x" else self.input_names
        if isinstance(value, torch.Tensor):
            if not value.is_floating_point():
                value = value.to(torch.float64)
            finite = bool(torch.isfinite(value).all())
        else:
            value = np.asarray(value, dtype=np.float64)
            finite = bool(np.isfinite(value).all())
        if value.ndim == 0 or value.shape[-1] != width:
            raise ValueError(f"{self.name}: {what} must have shape (..., {width}) "
                             f"({', '.join(names)}), got shape {tuple(value.shape)}")
        if not finite:
            raise ValueError(f"{self.name}: {what} contains NaN or inf")
        return value

    def check_state(self, x: Array) -> Array:
        return self._check(x, self.n_states, "x")

    def check_input(self, u: Array) -> Array:
        return self._check(u, self.n_inputs, "u")

    def check_in_box(self, x: Any, what: str = "state") -> np.ndarray:
        """``x`` as a float64 array, or a ValueError naming the components outside the state box."""
        x = np.asarray(self.check_state(x), dtype=np.float64)
        outside = (x < self.state_low) | (x > self.state_high)
        if outside.any():
            bad = sorted({self.state_names[i] for i in np.nonzero(outside)[-1]})
            box = ", ".join(f"{s} in [{lo:g}, {hi:g}]" for s, lo, hi in
                            zip(self.state_names, self.state_low, self.state_high))
            raise ValueError(f"{self.name}: {what} {x.tolist()} is outside the state box "
                             f"({', '.join(bad)}); allowed: {box}")
        return x

    @staticmethod
    def _xp(value: Array):
        return TORCH if isinstance(value, torch.Tensor) else NUMPY

    # -- dynamics --------------------------------------------------------------------------
    # The model is written once, per component: ``_rhs(x, u, xp)`` takes and returns tuples of
    # state / input components (tensors, arrays or Python floats) and computes with ``xp``, one of
    # the backends TORCH, NUMPY, SCALAR below. The env steps single states with SCALAR (plain
    # floats are about ten times faster than numpy on 2-vectors); agents use TORCH.
    def _rhs(self, x: tuple, u: tuple, xp) -> tuple:
        raise NotImplementedError(
            f"{self.name} is natively discrete: it has no continuous dynamics f; use discrete_step"
        )

    def _post_step(self, x: tuple, xp) -> tuple:
        """Map a state to its canonical form after a step (e.g. wrap an angle)."""
        return x

    # A stiff plant sets ``stiff = True`` and defines ``_stiffness(x, xp)``, an upper bound of the
    # spectral radius of df/dx at x: a substep is then also kept below STABLE_STEP / stiffness so the
    # explicit integrator stays stable (and roughly accurate) where the plant runs away.
    stiff = False
    # h * stiffness below these keeps RK4 (stable to about 2.78 on the real axis) and Euler (2)
    # stable with margin for the stiffness growing within a substep; for the CSTR's runaway, RK4 at
    # 0.75 stays within about 0.01 K of a converged solution at the peak
    STABLE_STEP = {"rk4": 0.75, "euler": 0.5}
    MAX_SUBSTEPS = 100_000

    def _stiffness(self, x: tuple, xp) -> Any:
        raise NotImplementedError

    def _increment(self, x: tuple, u: tuple, h: Any, xp) -> tuple:
        k1 = self._rhs(x, u, xp)
        if self.integrator == "euler":
            return tuple(a + h * b for a, b in zip(x, k1))
        k2 = self._rhs(tuple(a + (0.5 * h) * b for a, b in zip(x, k1)), u, xp)
        k3 = self._rhs(tuple(a + (0.5 * h) * b for a, b in zip(x, k2)), u, xp)
        k4 = self._rhs(tuple(a + h * b for a, b in zip(x, k3)), u, xp)
        return tuple(a + (h / 6.0) * (b1 + 2.0 * b2 + 2.0 * b3 + b4)
                     for a, b1, b2, b3, b4 in zip(x, k1, k2, k3, k4))

    def _advance(self, x: tuple, u: tuple, xp) -> tuple:
        """One step ``dt`` on components; natively discrete systems override this."""
        h = self.dt / self.substeps
        if not self.stiff:
            for _ in range(self.substeps):
                x = self._increment(x, u, h, xp)
            return self._post_step(x, xp)
        # Stability-limited substeps, per batch element: equal substeps dt / substeps wherever the
        # plant is not stiff (so F is smooth there and linearize is exact), shorter ones where it
        # is. The substep length carries no gradient.
        limit = self.STABLE_STEP[self.integrator]
        done_below = 1e-9 * self.dt
        remaining = xp.full_like(x[0], self.dt)
        for _ in range(self.MAX_SUBSTEPS):
            active = remaining > done_below
            if not xp.any(active):
                return self._post_step(x, xp)
            stiffness = self._stiffness(tuple(xp.detach(c) for c in x), xp)
            step = xp.where(active, xp.minimum(xp.minimum(limit / stiffness, remaining), h), 0.0 * remaining)
            x = self._increment(x, u, step, xp)
            if not xp.all_finite(x):
                raise FloatingPointError(f"{self.name}: the state became NaN or inf while integrating")
            remaining = remaining - step
        raise RuntimeError(f"{self.name}: more than {self.MAX_SUBSTEPS} substeps in one step "
                           f"(the plant is too stiff at this state)")

    def step_components(self, x: tuple, u: tuple, xp: Any) -> tuple:
        """One step on tuples of state and input components computed with a caller's backend
        ``xp`` (for instance a verifier's bound arithmetic, which needs ``sin``, ``cos``, ``exp``
        and ``stack``); unchecked. Only for smooth plants: a stiff plant's adaptive substeps branch
        on values."""
        if self.stiff:
            raise ValueError(f"{self.name} takes stiffness-limited substeps, which a bound backend cannot "
                             f"follow; use a fixed number of substeps")
        return self._advance(tuple(x), tuple(u), xp)

    def _step(self, x: Array, u: Array, xp) -> Array:
        """One step on arrays of shape (..., n) and (..., m) (already checked and broadcast)."""
        n, m = self.n_states, self.n_inputs
        parts = self._advance(tuple(x[..., i] for i in range(n)), tuple(u[..., j] for j in range(m)), xp)
        return xp.stack(parts)

    def step_state(self, x: np.ndarray, u: np.ndarray) -> np.ndarray:
        """The fast path the env uses: one step of a single state (shapes (n,), (m,), float64,
        unchecked), in Python floats."""
        parts = self._advance(tuple(x.tolist()), tuple(u.tolist()), SCALAR)
        return np.array(parts, dtype=np.float64)

    def _pair(self, x: Array, u: Array) -> tuple[Array, Array]:
        """Checked (x, u) of one kind (torch if either is) with broadcast leading dimensions."""
        if isinstance(x, torch.Tensor) or isinstance(u, torch.Tensor):
            like = x if isinstance(x, torch.Tensor) else u
            dtype = like.dtype if like.is_floating_point() else torch.float64
            x = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x, dtype=np.float64), dtype=dtype)
            u = u if isinstance(u, torch.Tensor) else torch.as_tensor(np.asarray(u, dtype=np.float64), dtype=dtype)
        x, u = self.check_state(x), self.check_input(u)
        if x.shape[:-1] != u.shape[:-1]:
            lead = np.broadcast_shapes(tuple(x.shape[:-1]), tuple(u.shape[:-1]))
            if isinstance(x, torch.Tensor):
                x, u = x.expand(*lead, x.shape[-1]), u.expand(*lead, u.shape[-1])
            else:
                x, u = np.broadcast_to(x, (*lead, x.shape[-1])), np.broadcast_to(u, (*lead, u.shape[-1]))
        return x, u

    def f(self, x: Array, u: Array) -> Array:
        """Continuous-time dynamics dx/dt at (x, u), batched over (broadcast) leading dimensions."""
        x, u = self._pair(x, u)
        xp = self._xp(x)
        parts = self._rhs(tuple(x[..., i] for i in range(self.n_states)),
                          tuple(u[..., j] for j in range(self.n_inputs)), xp)
        return xp.stack(parts)

    def symbolic_f(self) -> tuple[list, list, list]:
        """The continuous dynamics in SymPy: (state symbols, input symbols, [dx_i/dt]), the symbols
        named as the state and input components (real)."""
        import sympy

        states = [sympy.Symbol(name, real=True) for name in self.state_names]
        inputs = [sympy.Symbol(name, real=True) for name in self.input_names]
        return states, inputs, list(self._rhs(tuple(states), tuple(inputs), SYMPY))

    def discrete_step(self, x: Array, u: Array) -> Array:
        """The state one step ``dt`` later, with the system's integrator, batched over (broadcast)
        leading dimensions."""
        x, u = self._pair(x, u)
        return self._step(x, u, self._xp(x))

    def rollout(self, x0: Array, inputs: Array) -> Array:
        """States x_0..x_T under the inputs u_0..u_{T-1} (shape (..., T, m)); shape (..., T+1, n)."""
        x = self.check_state(x0)
        inputs = self.check_input(inputs)
        xp = self._xp(x)
        states = [x]
        for t in range(inputs.shape[-2]):
            x = self._step(*self._pair(x, inputs[..., t, :]), xp)
            states.append(x)
        return xp.stack_axis(states, -2)

    def _point(self, x: Any, u: Any) -> tuple[torch.Tensor, torch.Tensor]:
        x0 = torch.as_tensor(self.x_eq if x is None else np.asarray(x, dtype=np.float64), dtype=torch.float64)
        u0 = torch.as_tensor(self.u_eq if u is None else np.asarray(u, dtype=np.float64), dtype=torch.float64)
        if x0.shape != (self.n_states,) or u0.shape != (self.n_inputs,):
            raise ValueError(f"{self.name}: linearize at one point: x of shape ({self.n_states},) and u of "
                             f"shape ({self.n_inputs},), got {tuple(x0.shape)} and {tuple(u0.shape)}")
        return self.check_state(x0), self.check_input(u0)

    def linearize(self, x: Any = None, u: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """The discrete Jacobians ``A = dF/dx``, ``B = dF/du`` of :meth:`discrete_step` at (x, u),
        the equilibrium (x_eq, u_eq) by default, by automatic differentiation (float64 numpy)."""
        x0, u0 = self._point(x, u)
        A, B = torch.autograd.functional.jacobian(lambda a, b: self._step(a, b, TORCH), (x0, u0))
        return A.numpy().copy(), B.numpy().copy()

    def continuous_jacobian(self, x: Any = None, u: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """The Jacobians ``df/dx``, ``df/du`` of the continuous dynamics at (x, u) (default: the
        equilibrium); its eigenvalues tell open-loop stability."""
        x0, u0 = self._point(x, u)
        A, B = torch.autograd.functional.jacobian(lambda a, b: self.f(a, b), (x0, u0))
        return A.numpy().copy(), B.numpy().copy()

    def equilibrium_residual(self, x: Any = None, u: Any = None) -> float:
        """``max |F(x, u) - x|`` (default: at the equilibrium); about 0 at an equilibrium."""
        x0, u0 = self._point(x, u)
        return float(np.max(np.abs(self.step_state(x0.numpy(), u0.numpy()) - x0.numpy())))

    # -- the control problem ---------------------------------------------------------------
    def stage_cost(self, x: Array, u: Array, x_ref: Any = None, u_ref: Any = None) -> Array:
        """``(x - x_ref)' Q (x - x_ref) + (u - u_ref)' R (u - u_ref)``, shape (...); the references
        default to the system's ``x_ref``, ``u_ref``."""
        x, u = self.check_state(x), self.check_input(u)
        return self._stage_cost(x, u, self.x_ref if x_ref is None else x_ref,
                                self.u_ref if u_ref is None else u_ref)

    def _stage_cost(self, x: Array, u: Array, x_ref: Any, u_ref: Any) -> Array:
        if isinstance(x, torch.Tensor):
            as_t = lambda a: torch.as_tensor(np.asarray(a) if not isinstance(a, torch.Tensor) else a,  # noqa: E731
                                             dtype=x.dtype)
            dx, du = x - as_t(x_ref), u - as_t(u_ref)
            Q, R = as_t(self.Q), as_t(self.R)
            return ((dx @ Q) * dx).sum(-1) + ((du @ R) * du).sum(-1)
        dx, du = x - x_ref, u - u_ref
        return ((dx @ self.Q) * dx).sum(-1) + ((du @ self.R) * du).sum(-1)

    def safety(self, x: Array) -> Array:
        """Safety constraints ``g(x) <= 0`` (safe where every entry is <= 0), shape (..., n_g);
        none by default."""
        x = self.check_state(x)
        xp = self._xp(x)
        parts = self._safety(tuple(x[..., i] for i in range(self.n_states)), xp)
        return xp.stack(parts) if parts else x[..., :0]

    def _safety(self, x: tuple, xp) -> tuple:
        return ()

    def linear_safety(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The safety constraints as ``G x <= g`` where they are linear in the state, so that a
        controller built on a model (MPC) can enforce them; None where they are not (or none)."""
        return None

    @property
    def constraint_names(self) -> tuple[str, ...]:
        """Names of the entries of :meth:`state_constraints`, in order."""
        names = [f"{s} >= {lo:g}" for s, lo in zip(self.state_names, self.state_low) if np.isfinite(lo)]
        names += [f"{s} <= {hi:g}" for s, hi in zip(self.state_names, self.state_high) if np.isfinite(hi)]
        if self.H_x is not None:
            names += [f"H_x[{i}] x <= {h:g}" for i, h in enumerate(self.h_x)]
        names += [f"g[{i}](x) <= 0" for i in range(self.n_safety)]
        return tuple(names)

    def state_constraints(self, x: Array) -> Array:
        """Every state constraint as ``c(x) <= 0``, shape (..., n_c), in :attr:`constraint_names`
        order: the finite sides of the state box, then ``H_x x - h_x``, then ``g(x)``."""
        x = self.check_state(x)
        return self._xp(x).stack(self._constraints(tuple(x[..., i] for i in range(self.n_states)), self._xp(x)))

    def state_constraints_of(self, x: np.ndarray) -> np.ndarray:
        """The fast path the env uses: :meth:`state_constraints` of one state (shape (n,), unchecked)."""
        return np.array(self._constraints(tuple(x.tolist()), SCALAR), dtype=np.float64)

    def _constraints(self, x: tuple, xp) -> list:
        parts = [lo - c for c, lo in zip(x, self.state_low.tolist()) if math.isfinite(lo)]
        parts += [c - hi for c, hi in zip(x, self.state_high.tolist()) if math.isfinite(hi)]
        if self.H_x is not None:
            for row, h in zip(self.H_x.tolist(), self.h_x.tolist()):
                parts.append(sum(w * c for w, c in zip(row, x)) - h)
        parts += list(self._safety(x, xp))
        return parts

    def input_constraints(self, u: Array) -> Array:
        """``H_u u - h_u`` (<= 0 where satisfied), shape (..., k); empty without H_u. The input box
        itself holds by construction in the environment."""
        u = self.check_input(u)
        if self.H_u is None:
            return u[..., :0]
        if isinstance(u, torch.Tensor):
            return u @ torch.as_tensor(self.H_u, dtype=u.dtype).T - torch.as_tensor(self.h_u, dtype=u.dtype)
        return u @ self.H_u.T - self.h_u
