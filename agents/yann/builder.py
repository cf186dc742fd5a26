"""A YANN from plain matrices: the explicit linear MPC of ``x+ = A x + B u`` as an exact network.

    from agents.yann import yann_from_matrices

    network = yann_from_matrices(A=[[1, 1], [0, 1]], B=[[0.5], [1]], Q=1.0, R=0.1, N=10,
                                 x_low=[-10, -5], x_high=[10, 5], u_low=[-1], u_high=[1])
    u = network(torch.tensor([3.0, -1.0], dtype=torch.float64))   # the MPC's first input

The problem is the condensed linear MPC of :class:`agents.mpc.LinearMPCProblem`: stage cost
``x' Q x + u' R u`` over ``N`` steps, terminal cost from the discrete Riccati equation (or a given
matrix), states kept in ``[x_low, x_high]`` at every predicted step and inputs in
``[u_low, u_high]``. It is solved offline with ppopt (:class:`agents.mpc.ExplicitSolution`); the
network then maps a state to the optimal first input exactly (ppopt's point location, boundaries
included) and, outside the set of states from which the constraints can be met, to the saturated
LQR ``clip(K x, u_low, u_high)``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from agents.yann.network import YANN


def yann_from_solution(solution: Any) -> YANN:
    """The YANN of an :class:`agents.mpc.ExplicitSolution`: its regions and laws (on its parameter
    ``theta``: the state, or state and reference when tracking), ppopt's point-location tolerance
    and region order (so it evaluates as ppopt does), and the saturated LQR as fallback."""
    problem = solution.problem
    fallback = (*problem.lqr_affine_law(), problem.input_low, problem.input_high)
    return YANN(solution.regions, domain=(solution.theta_low, solution.theta_high), fallback=fallback,
                tolerance=solution.point_location_tolerance)


def yann_from_matrices(
    A: Any,
    B: Any,
    Q: Any,
    R: Any,
    N: int,
    x_low: Any,
    x_high: Any,
    u_low: Any,
    u_high: Any,
    *,
    terminal_cost: Any = "dare",
    cache_dir: str | os.PathLike | None = None,
    return_solution: bool = False,
) -> YANN | tuple[YANN, Any]:
    """The explicit MPC of a discrete linear system as a :class:`~agents.yann.network.YANN`.

    Arguments
    ---------
    A, B
        The model ``x+ = A x + B u``: ``A`` (n, n), ``B`` (n, m) (a vector of length n is one input).
    Q, R
        Stage weights: ``Q`` (n, n) symmetric positive semi-definite, ``R`` (m, m) symmetric positive
        definite; a number means that multiple of the identity.
    N
        The horizon, an integer >= 1.
    x_low, x_high
        The state box, (n,) each, finite (an explicit solution needs a bounded set of states).
    u_low, u_high
        The input box, (m,) each (``-inf``/``inf`` for an unbounded side).
    terminal_cost
        ``"dare"`` (the discrete Riccati solution, the default) or an (n, n) matrix.
    cache_dir
        Where to keep the solved mp-QP (keyed by a hash of the problem; arrays, no pickle), so the
        same call is fast the next time; None: solve every time.
    return_solution
        Also return the :class:`agents.mpc.ExplicitSolution` (its regions, ``evaluate``, ``value``).

    Returns the network (float64; ``network(x)`` for a state (n,) or a batch (b, n) gives the first
    input (m,) or (b, m)), or ``(network, solution)``.

    Raises ``ValueError`` naming the argument when a matrix has the wrong shape or holds NaN or
    infinities, when the state box is unbounded or empty, when ``N`` is not a positive integer, and
    :class:`agents.mpc.MPCSetupError` (a ``ValueError``) when the problem cannot be posed (e.g. the
    boxes exclude the origin, or ``(A, B)`` is not stabilisable for the Riccati terminal cost).
    """
    from agents.mpc import ExplicitSolution, LinearMPCProblem

    A = _matrix("A", A)
    n = A.shape[0]
    if A.shape != (n, n):
        raise ValueError(f"A must be square (n, n), got shape {A.shape}")
    B = np.asarray(B, dtype=np.float64)
    if B.ndim == 1 and B.shape == (n,):
        B = B.reshape(n, 1)
    B = _matrix("B", B)
    if B.shape[0] != n:
        raise ValueError(f"B must have n = {n} rows (A is {n}x{n}), got shape {B.shape}")
    m = B.shape[1]
    Q = _weight("Q", Q, n)
    R = _weight("R", R, m)
    if isinstance(N, bool) or not isinstance(N, (int, np.integer)) or N < 1:
        raise ValueError(f"N (the horizon) must be an integer >= 1, got {N!r}")
    x_low, x_high = _box("x", x_low, x_high, n, bounded=True)
    u_low, u_high = _box("u", u_low, u_high, m, bounded=False)
    if not isinstance(terminal_cost, str):
        terminal_cost = _weight("terminal_cost", terminal_cost, n)
    problem = LinearMPCProblem(A, B, Q, R, int(N), state_low=x_low, state_high=x_high, input_low=u_low,
                               input_high=u_high, terminal_cost=terminal_cost)
    solution = ExplicitSolution.solve(problem, cache_dir=cache_dir)
    network = yann_from_solution(solution)
    return (network, solution) if return_solution else network


def _matrix(name: str, value: Any) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a matrix of numbers, got {value!r}") from None
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(f"{name} must be a non-empty 2-D matrix, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds NaN or infinite entries: {array.tolist()}")
    return array


def _weight(name: str, value: Any, size: int) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        array = array * np.eye(size)
    if array.shape != (size, size):
        raise ValueError(f"{name} must be ({size}, {size}) or a number, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds NaN or infinite entries: {array.tolist()}")
    return array


def _box(name: str, low: Any, high: Any, size: int, bounded: bool) -> tuple[np.ndarray, np.ndarray]:
    sides = []
    for side, value in ((f"{name}_low", low), (f"{name}_high", high)):
        array = np.asarray(value, dtype=np.float64)
        if array.ndim == 0 and size == 1:
            array = array.reshape(1)
        if array.shape != (size,):
            raise ValueError(f"{side} must have shape ({size},), got {array.shape}")
        if np.any(np.isnan(array)):
            raise ValueError(f"{side} holds NaN: {array.tolist()}")
        if bounded and not np.all(np.isfinite(array)):
            raise ValueError(f"{side} must be finite: an explicit MPC covers a bounded set of states, got "
                             f"{array.tolist()}")
        sides.append(array)
    low, high = sides
    if np.any(low > high):
        raise ValueError(f"the {name} box is empty where {name}_low > {name}_high: {low.tolist()} > {high.tolist()}")
    return low, high
