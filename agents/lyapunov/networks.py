"""The networks of a Lyapunov-certified controller: a neural state feedback built on the LQR, a
neural Lyapunov function in Yang and Dai's form (2024), the quadratic LQR Lyapunov function, and the
LQR itself.

Every ``forward(x, ops=TORCH_OPS)`` is written against an ops backend
(:mod:`agents.lyapunov.ops`): the same code runs on torch tensors (training, falsification) and on
the verifier's bound objects. Values therefore only meet ``ops`` methods, ``+``/``-`` and scalings by
constants; anything computed from parameters alone (gains, offsets, ``phi(x_eq)``) is an ordinary
torch tensor and enters as a constant.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import scipy.linalg
import torch
from torch import nn

from agents.lyapunov.ops import TORCH_OPS

ACTIVATIONS = ("relu", "leaky_relu", "tanh")
LEAKY_RELU_SLOPE = 0.01
# an eigenvalue of A this close to the unit circle (or outside) counts as a mode that must be steerable
UNIT_CIRCLE_TOLERANCE = 1e-9


def _check_sizes(hidden: Sequence[int], what: str) -> tuple[int, ...]:
    sizes = tuple(hidden)
    if not all(isinstance(h, (int, np.integer)) and not isinstance(h, bool) and h >= 1 for h in sizes):
        raise ValueError(f"{what} must be a sequence of positive integers (hidden layer widths), got {hidden!r}")
    return tuple(int(h) for h in sizes)


def _check_positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


@contextlib.contextmanager
def _seeded(seed: int | None) -> Iterator[None]:
    """Initialise parameters from ``seed`` without touching the global torch random state
    (``None``: draw from the global state as torch does)."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


class MLP(nn.Module):
    """A multilayer perceptron: ``Linear -> activation`` for each hidden width, then a ``Linear``
    to ``out_features`` (no output activation).

    Args:
        in_features, out_features: input and output widths.
        hidden: hidden layer widths (may be empty: one affine map).
        activation: ``"relu"``, ``"leaky_relu"`` (slope 0.01) or ``"tanh"``.
        seed: initialise the weights from this seed (default: torch's global random state).
        dtype: parameter dtype (float64 by default, as the control systems compute).
    """

    def __init__(self, in_features: int, out_features: int, hidden: Sequence[int] = (16, 16),
                 activation: str = "relu", seed: int | None = None, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        in_features = _check_positive_int(in_features, "in_features")
        out_features = _check_positive_int(out_features, "out_features")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; allowed: {', '.join(ACTIVATIONS)}")
        self.activation = activation
        widths = (in_features, *_check_sizes(hidden, "hidden"), out_features)
        with _seeded(seed):
            self.layers = nn.ModuleList(nn.Linear(a, b, dtype=dtype) for a, b in zip(widths[:-1], widths[1:]))

    @property
    def in_features(self) -> int:
        return self.layers[0].in_features

    @property
    def out_features(self) -> int:
        return self.layers[-1].out_features

    def _activate(self, h: Any, ops: Any) -> Any:
        if self.activation == "relu":
            return ops.relu(h)
        if self.activation == "leaky_relu":
            return ops.leaky_relu(h, LEAKY_RELU_SLOPE)
        return ops.tanh(h)

    def forward(self, x: Any, ops: Any = TORCH_OPS) -> Any:
        """``x`` of shape [..., in_features] -> [..., out_features]."""
        h = x
        for layer in self.layers[:-1]:
            h = self._activate(ops.linear(h, layer.weight, layer.bias), ops)
        last = self.layers[-1]
        return ops.linear(h, last.weight, last.bias)


def _system_vector(system: Any, name: str) -> torch.Tensor:
    return torch.as_tensor(np.asarray(getattr(system, name), dtype=np.float64))


def lqr(system: Any, Q: Any = None, R: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """The discrete infinite-horizon LQR of ``system`` linearised at its equilibrium.

    ``(A, B) = system.linearize()``; ``Q`` and ``R`` default to the system's stage-cost weights (a
    matrix, a vector for a diagonal, or a scalar times the identity). Returns ``(K, P)``: the gain
    with ``u = u_eq + K (x - x_eq)`` (shape [m, n]) and the stabilising solution ``P`` of the discrete
    algebraic Riccati equation (shape [n, n]), so ``x' P x`` is the LQR's quadratic Lyapunov function.

    Raises ValueError when the linearisation is not stabilisable (a mode of ``A`` on or outside the
    unit circle that ``B`` cannot move, by the Popov-Belevitch-Hautus test) or when the Riccati
    equation has no stabilising solution for these weights.
    """
    A, B = (np.asarray(M, dtype=np.float64) for M in system.linearize())
    n, m = B.shape
    Q = _weight(system.Q if Q is None else Q, n, "Q")
    R = _weight(system.R if R is None else R, m, "R")
    if not np.allclose(Q, Q.T) or np.linalg.eigvalsh(Q).min() < -1e-12:
        raise ValueError(f"Q must be symmetric positive semi-definite, got {Q.tolist()}")
    if not np.allclose(R, R.T) or np.linalg.eigvalsh(R).min() <= 0:
        raise ValueError(f"R must be symmetric positive definite, got {R.tolist()}")
    name = getattr(system, "name", "system")
    # PBH: an eigenvalue lam with |lam| >= 1 is stabilisable iff rank [A - lam I, B] = n
    for lam in np.linalg.eigvals(A):
        if abs(lam) >= 1.0 - UNIT_CIRCLE_TOLERANCE:
            pencil = np.hstack([A - lam * np.eye(n), B.astype(complex)])
            if np.linalg.matrix_rank(pencil, tol=1e-9 * max(1.0, np.abs(pencil).max())) < n:
                raise ValueError(
                    f"{name}: no LQR, the linearisation at the equilibrium is not stabilisable: the mode "
                    f"with eigenvalue {complex(lam):.6g} (|lambda| = {abs(lam):.6g} >= 1) of A cannot be "
                    f"moved by the inputs (rank [A - lambda I, B] < {n}); every mode on or outside the unit "
                    f"circle must be reachable through B"
                )
    try:
        P = scipy.linalg.solve_discrete_are(A, B, Q, R)
    except (np.linalg.LinAlgError, ValueError) as error:
        raise ValueError(f"{name}: no LQR, the discrete Riccati equation has no stabilising solution for "
                         f"these (A, B, Q, R) ({error}); (A, B) must be stabilisable and (A, Q) detectable") from None
    P = 0.5 * (P + P.T)
    K = -np.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)
    radius = np.abs(np.linalg.eigvals(A + B @ K)).max()
    if not np.all(np.isfinite(P)) or radius >= 1.0:
        raise ValueError(f"{name}: no LQR, the Riccati solution does not stabilise the linearisation "
                         f"(closed-loop spectral radius {radius:.6g}); (A, Q) must be detectable")
    return K, P


def _weight(value: Any, size: int, what: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        array = float(array) * np.eye(size)
    elif array.ndim == 1 and array.shape == (size,):
        array = np.diag(array)
    if array.shape != (size, size) or not np.all(np.isfinite(array)):
        raise ValueError(f"{what} must be a finite ({size}, {size}) matrix, a vector of {size} or a scalar, "
                         f"got shape {array.shape}")
    return array


class NeuralController(nn.Module):
    """``u = clamp(u_eq + K (x - x_eq) + mlp(x) - mlp(x_eq), input_low, input_high)``.

    ``K`` starts as the LQR gain (trainable unless ``train_gain=False``) and the MLP's last layer
    starts at zero, so the untrained controller is exactly the saturated LQR; ``u(x_eq) = u_eq``
    holds for any weights (the equilibrium stays an equilibrium of the closed loop).

    Args:
        system: a control system (x_eq, u_eq, input_low, input_high, and for the default gain
            ``linearize``, Q, R; see :class:`envs.control.system.ControlSystem`).
        hidden, activation, seed, dtype: the MLP's (see :class:`MLP`).
        K: the initial gain [m, n] (default: :func:`lqr` of the system).
        train_gain: whether ``K`` is a trainable parameter (else a fixed buffer).
    """

    def __init__(self, system: Any, hidden: Sequence[int] = (8, 8), activation: str = "relu", K: Any = None,
                 train_gain: bool = True, seed: int | None = None, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        x_eq, u_eq = _system_vector(system, "x_eq"), _system_vector(system, "u_eq")
        n, m = len(x_eq), len(u_eq)
        gain = torch.as_tensor(np.asarray(lqr(system)[0] if K is None else K, dtype=np.float64), dtype=dtype)
        if gain.shape != (m, n):
            raise ValueError(f"K must have shape ({m}, {n}) (inputs, states), got {tuple(gain.shape)}")
        self.register_buffer("x_eq", x_eq.to(dtype))
        self.register_buffer("u_eq", u_eq.to(dtype))
        self.register_buffer("input_low", _system_vector(system, "input_low").to(dtype))
        self.register_buffer("input_high", _system_vector(system, "input_high").to(dtype))
        if train_gain:
            self.K = nn.Parameter(gain)
        else:
            self.register_buffer("K", gain)
        self.mlp = MLP(n, m, hidden, activation, seed=seed, dtype=dtype)
        last = self.mlp.layers[-1]
        with torch.no_grad():
            last.weight.zero_()
            last.bias.zero_()

    def offset(self) -> torch.Tensor:
        """The constant ``u_eq - K x_eq - mlp(x_eq)`` (a tensor of the parameters, shape [m])."""
        return self.u_eq - self.K @ self.x_eq - self.mlp(self.x_eq)

    def unsaturated(self, x: Any, ops: Any = TORCH_OPS) -> Any:
        """The control law before the input box: ``u_eq + K (x - x_eq) + mlp(x) - mlp(x_eq)``."""
        return ops.linear(x, self.K, self.offset()) + self.mlp(x, ops)

    def forward(self, x: Any, ops: Any = TORCH_OPS) -> Any:
        """``x`` of shape [..., n] -> the saturated input, shape [..., m]."""
        return ops.clamp(self.unsaturated(x, ops), self.input_low, self.input_high)


def _initial_shape_factor(P: np.ndarray, eps: float, rank: int) -> np.ndarray:
    """R [rank, n] with ``eps I + R' R`` proportional to ``P^(1/2)``, scaled to largest eigenvalue 1.

    The sublevel sets of ``|M d|_1`` are ``M^-1`` times a cross-polytope and those of ``d' P d`` are
    ``P^(-1/2)`` times a ball: ``M ~ P^(1/2)`` gives the piecewise-linear V the LQR ellipse's
    orientation and aspect ratio. Eigen-directions beyond ``rank`` (the flattest) are left to eps.
    """
    eigenvalues, vectors = np.linalg.eigh(0.5 * (P + P.T))
    root = np.sqrt(np.clip(eigenvalues, 0.0, None))
    target = root / root.max()
    order = np.argsort(target)[::-1]  # steepest directions first
    R = np.zeros((rank, len(P)))
    for row, index in enumerate(order[:rank]):
        R[row] = math.sqrt(max(target[index] - eps, 0.0)) * vectors[:, index]
    return R


class NeuralLyapunov(nn.Module):
    """``V(x) = |phi(x) - phi(x_eq)|_1 + |(eps I + R' R)(x - x_eq)|_1`` (Yang, Dai et al. 2024).

    ``phi`` is an MLP to ``out`` features, ``R`` a trainable [rank, n] matrix and ``eps > 0`` fixed.
    By construction, for any weights, ``V(x_eq) = 0`` and, as ``eps I + R' R`` has every eigenvalue
    >= eps, ``V(x) >= |(eps I + R' R)(x - x_eq)|_2 >= eps |x - x_eq|_2 >= eps / sqrt(n) |x - x_eq|_1``.
    (The tighter ``V >= eps |x - x_eq|_1`` does not follow from this form: ``M = I + R'R`` can map
    some ``d`` to ``|M d|_1 < |d|_1``.)

    ``R`` starts from the LQR Riccati matrix ``P`` (``eps I + R' R`` proportional to ``P^(1/2)``,
    largest eigenvalue 1; see :func:`_initial_shape_factor`), so the initial V has the quadratic LQR
    Lyapunov function's orientation; ``phi``'s last layer is scaled by ``phi_scale`` so that the
    random MLP only perturbs that shape at first.

    Args:
        system: a control system (x_eq; for the default P, ``linearize``, Q, R).
        hidden, activation, seed, dtype: ``phi``'s (see :class:`MLP`); ``out``: its output width.
        eps: the fixed positive-definiteness margin.
        rank: rows of R (default: the state dimension).
        P: the matrix the initial shape follows (default: the LQR's Riccati solution).
        phi_scale: factor on ``phi``'s initial last layer.
    """

    def __init__(self, system: Any, hidden: Sequence[int] = (16, 16), out: int = 8, activation: str = "relu",
                 eps: float = 0.01, rank: int | None = None, P: Any = None, phi_scale: float = 0.1,
                 seed: int | None = None, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        x_eq = _system_vector(system, "x_eq")
        n = len(x_eq)
        if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0):
            raise ValueError(f"eps must be a positive number, got {eps!r}")
        if not (isinstance(phi_scale, (int, float)) and math.isfinite(phi_scale) and phi_scale >= 0):
            raise ValueError(f"phi_scale must be a non-negative number, got {phi_scale!r}")
        rank = n if rank is None else _check_positive_int(rank, "rank")
        P = lqr(system)[1] if P is None else np.asarray(P, dtype=np.float64)
        if P.shape != (n, n) or not np.all(np.isfinite(P)) or not np.allclose(P, P.T):
            raise ValueError(f"P must be a finite symmetric ({n}, {n}) matrix, got shape {P.shape}")
        self.eps = float(eps)
        self.register_buffer("x_eq", x_eq.to(dtype))
        self.R = nn.Parameter(torch.as_tensor(_initial_shape_factor(P, self.eps, rank), dtype=dtype))
        self.phi = MLP(n, _check_positive_int(out, "out"), hidden, activation, seed=seed, dtype=dtype)
        with torch.no_grad():
            self.phi.layers[-1].weight.mul_(phi_scale)
            self.phi.layers[-1].bias.mul_(phi_scale)

    def shape_matrix(self) -> torch.Tensor:
        """``eps I + R' R`` [n, n] (symmetric, every eigenvalue >= eps)."""
        n = self.R.shape[1]
        return self.eps * torch.eye(n, dtype=self.R.dtype) + self.R.T @ self.R

    def forward(self, x: Any, ops: Any = TORCH_OPS) -> Any:
        """``x`` of shape [..., n] -> V, shape [...]."""
        M = self.shape_matrix()
        linear_part = ops.sum(ops.abs(ops.linear(x, M, -(M @ self.x_eq))))
        neural_part = ops.sum(ops.abs(self.phi(x, ops) - self.phi(self.x_eq)))
        return neural_part + linear_part


class QuadraticLyapunov(nn.Module):
    """``V(x) = (x - x_eq)' P (x - x_eq)`` for a symmetric positive semi-definite ``P`` (by default
    the LQR's Riccati solution, the classical certificate of the linearised closed loop), written as
    ``sum((L' (x - x_eq))^2)`` with ``P = L L'`` so that it uses ops only."""

    def __init__(self, system: Any, P: Any = None, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        x_eq = _system_vector(system, "x_eq")
        n = len(x_eq)
        P = lqr(system)[1] if P is None else np.asarray(P, dtype=np.float64)
        if P.shape != (n, n) or not np.all(np.isfinite(P)) or not np.allclose(P, P.T):
            raise ValueError(f"P must be a finite symmetric ({n}, {n}) matrix, got shape {P.shape}")
        eigenvalues, vectors = np.linalg.eigh(0.5 * (P + P.T))
        if eigenvalues.min() < -1e-12 * max(1.0, abs(eigenvalues).max()):
            raise ValueError(f"P must be positive semi-definite, its smallest eigenvalue is {eigenvalues.min():.6g}")
        factor = (vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))).T  # factor' factor = P
        self.register_buffer("P", torch.as_tensor(P, dtype=dtype))
        self.register_buffer("x_eq", x_eq.to(dtype))
        self.register_buffer("factor", torch.as_tensor(factor, dtype=dtype))

    def forward(self, x: Any, ops: Any = TORCH_OPS) -> Any:
        """``x`` of shape [..., n] -> V, shape [...]."""
        return ops.sum(ops.square(ops.linear(x, self.factor, -(self.factor @ self.x_eq))))
