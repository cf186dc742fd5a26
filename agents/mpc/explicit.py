"""The explicit solution of the condensed MPC problem: a piecewise-affine control law over polytopes.

Solved with ppopt (an mp-QP in the problem's parameter, geometric algorithm, the free glpk and daqp
solvers). The parameter ``theta`` is the plant state ``x`` for a regulation problem and the pair
``(x, x_ref)`` (state, then reference state; ``p = 2 n`` numbers) for a tracking problem. ppopt
works in the problem's deviation coordinates (``theta - theta_eq`` with ``theta_eq = x_eq`` or
``(x_eq, x_eq)``); this module hands out every region and law in **absolute** coordinates, the
states and inputs the plant itself uses:

    region r:            {theta : E_r theta <= f_r}
    first input:         u = K_r theta + k_r
    whole input sequence [u_0; ...; u_{N-1}] = K_seq_r theta + k_seq_r
    optimal cost         V(theta) = theta' P_r theta + q_r' theta + c_r   (the MPC cost J of :mod:`.problem`)

so a network built from the regions maps plant states (and references) to plant inputs with no
shift. Shapes, for ``p`` parameters, ``m`` inputs, horizon ``N`` and ``c_r`` region facets:
E_r (c_r, p), f_r (c_r,), K_r (m, p), k_r (m,), K_seq_r (N m, p), k_seq_r (N m,), P_r (p, p),
q_r (p,), c_r a float.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from agents.mpc.problem import LinearMPCProblem, MPCSetupError

SOLVERS = {"lp": "glpk", "qp": "daqp"}  # free solvers; ppopt's default wants gurobi
ALGORITHM = "geometric"
CACHE_FORMAT = 2  # 1: pickled ppopt solutions (never opened now: their file names differ)
CACHE_CLASS = "ExplicitSolution"  # the class name a cache file holds (agents.checkpoint's format)
STATE_FORMAT = 1  # of to_state()
LOCATE_CHUNK = 256  # parameters per vectorised containment test (bounds its memory)
DEFAULT_CACHE_DIR = "~/.cache/rlkit/explicit_mpc"


class OutsideFeasibleSetError(ValueError):
    """A state outside the set the explicit solution covers."""


@dataclass(frozen=True, eq=False)
class Region:
    """One critical region in absolute ``theta`` coordinates (see the module docstring).

    Unpacks as the tuple ``(E, f, K, k)``: ``for E, f, K, k in solution.regions``.
    """

    E: np.ndarray
    f: np.ndarray
    K: np.ndarray
    k: np.ndarray
    K_seq: np.ndarray
    k_seq: np.ndarray
    value_P: np.ndarray
    value_q: np.ndarray
    value_c: float
    active_set: tuple[int, ...]

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.E, self.f, self.K, self.k))

    def contains(self, x: np.ndarray, tol: float = 0.0) -> np.ndarray:
        """Whether ``E x <= f + tol`` for each row of ``x``."""
        return np.all(np.atleast_2d(x) @ self.E.T <= self.f + tol, axis=1)

    def input(self, x: np.ndarray) -> np.ndarray:
        return np.atleast_2d(x) @ self.K.T + self.k

    def value(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(x)
        return np.einsum("bi,ij,bj->b", x, self.value_P, x) + x @ self.value_q + self.value_c


def _region_in_absolute_coordinates(critical_region: Any, problem: LinearMPCProblem) -> Region:
    qp = problem.condensed()
    x_eq, m, N = problem.theta_eq, problem.n_inputs, problem.horizon  # x_eq: the shift of theta
    E = np.asarray(critical_region.E, dtype=np.float64)
    f = np.asarray(critical_region.f, dtype=np.float64).reshape(-1)
    A_dev = np.asarray(critical_region.A, dtype=np.float64)  # U = A_dev dx + b_dev
    b_dev = np.asarray(critical_region.b, dtype=np.float64).reshape(-1)
    K_seq = A_dev
    k_seq = b_dev + np.tile(problem.u_eq, N) - A_dev @ x_eq
    # V(dx) = 1/2 U'HU + dx'F'U + 1/2 dx'Y dx with U = A_dev dx + b_dev, as dx'M dx + l'dx + c
    cross = qp.F.T @ A_dev
    M = 0.5 * (A_dev.T @ qp.H @ A_dev + qp.Y) + 0.5 * (cross + cross.T)
    l = A_dev.T @ qp.H @ b_dev + qp.F.T @ b_dev
    c = 0.5 * b_dev @ qp.H @ b_dev
    return Region(
        E=E,
        f=f + E @ x_eq,
        K=K_seq[:m].copy(),
        k=k_seq[:m].copy(),
        K_seq=K_seq,
        k_seq=k_seq,
        value_P=M,
        value_q=l - 2.0 * M @ x_eq,
        value_c=float(c + x_eq @ M @ x_eq - l @ x_eq),
        active_set=tuple(int(i) for i in critical_region.active_set),
    )


def parameter_box(problem: LinearMPCProblem) -> tuple[np.ndarray, np.ndarray]:
    """The bounding box ``(low, high)`` (absolute theta) of the problem's parameter set, by linear
    programming; refuses an unbounded or empty set, which an explicit solution cannot cover."""
    from scipy.optimize import linprog

    theta_A, theta_b = problem.parameter_set()
    n, theta_eq = problem.n_parameters, problem.theta_eq
    low, high = np.empty(n), np.empty(n)
    for i in range(n):
        for sign, out in ((1.0, low), (-1.0, high)):
            cost = np.zeros(n)
            cost[i] = sign
            result = linprog(cost, A_ub=theta_A, b_ub=theta_b, bounds=[(None, None)] * n, method="highs")
            if result.status == 2:
                raise MPCSetupError("infeasible MPC set-up: the state constraints describe an empty set")
            if (result.status == 3 or not result.success) and i >= problem.n_states:
                raise MPCSetupError(
                    f"explicit MPC needs a bounded reference set, but reference state "
                    f"{i - problem.n_states} is unbounded; give finite reference_low/reference_high"
                )
            if result.status == 3 or not result.success:
                raise MPCSetupError(
                    f"explicit MPC needs a bounded state set, but state {i} is unbounded "
                    f"({'below' if sign > 0 else 'above'}); give the system finite state_low/state_high "
                    f"or a bounding H_x"
                )
            out[i] = sign * result.fun + theta_eq[i]
    return low, high


class ExplicitSolution:
    """The explicit MPC law of ``problem`` (see the module docstring for the coordinates).

    Every query takes absolute parameters ``theta``: the state ``x`` for a regulation problem, the
    concatenation ``(x, x_ref)`` for a tracking one (:meth:`LinearMPCProblem.parameters_of` builds
    it), shape (p,) or (batch, p).

    Attributes
    ----------
    problem: the :class:`LinearMPCProblem`.
    regions: list of :class:`Region`, absolute theta coordinates, in ppopt's order.
    n_regions: ``len(regions)``.
    n_parameters: ``p``, the length of theta.
    theta_low, theta_high: the bounding box of the parameters covered (absolute).
    theta_A, theta_b: the parameter set the mp-QP was posed on, ``theta_A theta <= theta_b`` (absolute).
    x_eq, u_eq, theta_eq: the equilibrium of the problem and its theta.
    ppopt_solution: ppopt's ``Solution`` (deviation coordinates), used for point location.
    solve_time_s: seconds ppopt took (None when read from the cache).
    """

    def __init__(self, problem: LinearMPCProblem, ppopt_solution: Any, solve_time_s: float | None = None) -> None:
        critical_regions = list(getattr(ppopt_solution, "critical_regions", None) or [])
        if not critical_regions:
            raise MPCSetupError(
                f"the explicit solution of {problem!r} has no regions: ppopt found no initial state "
                f"with a feasible input sequence; check the constraints and the horizon"
            )
        self.problem = problem
        self.ppopt_solution = ppopt_solution
        self.solve_time_s = solve_time_s
        self.regions = [_region_in_absolute_coordinates(cr, problem) for cr in critical_regions]
        self._index = {id(cr): i for i, cr in enumerate(critical_regions)}
        theta_A, theta_b = problem.parameter_set()
        self.theta_A, self.theta_b = theta_A, theta_b + theta_A @ problem.theta_eq
        self.theta_low, self.theta_high = parameter_box(problem)

    def __getstate__(self) -> dict[str, Any]:  # copy.deepcopy
        state = dict(self.__dict__)
        del state["_index"]  # keyed by object ids, which a copy changes
        state.pop("_facets", None)  # derived, rebuilt on demand
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._index = {id(cr): i for i, cr in enumerate(self.ppopt_solution.critical_regions)}

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def solve(cls, problem: LinearMPCProblem, cache_dir: str | os.PathLike | None = None,
              verbose: int = 0) -> ExplicitSolution:
        """Solve the mp-QP with ppopt, or read the solution cached under ``cache_dir`` (None: no
        cache). The cache key is a hash of the problem's numbers, ppopt's version and the
        algorithm; a cache file is arrays and JSON in rlkit's checkpoint format
        (:mod:`agents.checkpoint`), so opening one never runs code."""
        parameter_box(problem)  # refuse an unbounded state set before ppopt sees it
        path = _cache_path(problem, cache_dir)
        if path is not None and path.is_file():
            from agents.checkpoint import load_agent

            try:
                _, state = load_agent(path, CACHE_CLASS, CACHE_FORMAT)
                if state["problem"] == problem.fingerprint():
                    return cls.from_state(problem, state["solution"])
            except (ValueError, KeyError, TypeError, OSError):  # truncated or foreign: solve again, overwrite
                pass
        start = time.perf_counter()
        ppopt_solution = _solve_with_ppopt(problem, verbose)
        solution = cls(problem, ppopt_solution, solve_time_s=time.perf_counter() - start)
        if path is not None:
            try:
                _write_cache(path, problem, solution)
            except OSError as error:  # a read-only cache costs time, not correctness
                warnings.warn(f"cannot cache the explicit MPC solution at {path}: {error}", stacklevel=2)
        return solution

    def to_state(self) -> dict[str, Any]:
        """The solution as plain arrays and numbers (ppopt's critical regions, deviation
        coordinates: ``x = A theta + b``, ``lambda = C theta + d`` on ``E theta <= f``, and their
        index sets), for a checkpoint or the cache; :meth:`from_state` rebuilds it."""
        ppopt_solution = self.ppopt_solution
        regions = []
        for cr in ppopt_solution.critical_regions:
            if getattr(cr, "y_fixation", None) is not None:
                raise ValueError("an explicit solution with integer variables cannot be saved")
            regions.append({
                **{name: np.array(getattr(cr, name), dtype=np.float64) for name in ("A", "b", "C", "d", "E", "f")},
                **{name: [int(i) for i in getattr(cr, name)] for name in ("active_set", "omega_set", "lambda_set")},
                "regular_set": [[int(i) for i in group] for group in cr.regular_set],
            })
        return {"format": STATE_FORMAT, "regions": regions,
                "is_overlapping": bool(getattr(ppopt_solution, "is_overlapping", False)),
                "point_location_tolerance": float(ppopt_solution.point_location_tolerance)}

    @classmethod
    def from_state(cls, problem: LinearMPCProblem, state: dict[str, Any]) -> ExplicitSolution:
        """The solution of ``problem`` that :meth:`to_state` described: it evaluates exactly as
        the one saved. Raises ValueError for a state of another format or an empty one."""
        from ppopt.critical_region import CriticalRegion
        from ppopt.solution import Solution

        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"an explicit MPC solution of state format {state.get('format')}; this rlkit reads "
                             f"format {STATE_FORMAT}")
        regions = [CriticalRegion(A=r["A"], b=r["b"], C=r["C"], d=r["d"], E=r["E"], f=r["f"],
                                  active_set=list(r["active_set"]), omega_set=list(r["omega_set"]),
                                  lambda_set=list(r["lambda_set"]),
                                  regular_set=[list(group) for group in r["regular_set"]])
                   for r in state["regions"]]
        ppopt_solution = Solution(_ppopt_program(problem), regions, is_overlapping=bool(state["is_overlapping"]),
                                  point_location_tolerance=float(state["point_location_tolerance"]))
        return cls(problem, ppopt_solution)

    # -- queries ----------------------------------------------------------------------------
    @property
    def n_regions(self) -> int:
        return len(self.regions)

    @property
    def x_eq(self) -> np.ndarray:
        return self.problem.x_eq

    @property
    def u_eq(self) -> np.ndarray:
        return self.problem.u_eq

    @property
    def theta_eq(self) -> np.ndarray:
        return self.problem.theta_eq

    @property
    def n_parameters(self) -> int:
        return self.problem.n_parameters

    @property
    def tracking(self) -> bool:
        return self.problem.tracking

    @property
    def point_location_tolerance(self) -> float:
        return float(self.ppopt_solution.point_location_tolerance)

    def _states(self, x: Any) -> tuple[np.ndarray, bool]:
        x = np.asarray(x, dtype=np.float64)
        single = x.ndim == 1
        x = np.atleast_2d(x)
        p = self.problem.n_parameters
        what = "a (state, reference) pair" if self.problem.tracking else "a state"
        if x.ndim != 2 or x.shape[1] != p:
            raise ValueError(f"expected {what} of shape ({p},) or a batch (batch, {p}), got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"states must be finite, got {x[~np.all(np.isfinite(x), axis=1)][0].tolist()}")
        return x, single

    def in_parameter_set(self, theta: Any) -> np.ndarray:
        """Whether each theta satisfies the constraints the mp-QP was posed on (the state's, and
        the reference box when tracking)."""
        theta, _ = self._states(theta)
        return np.all(theta @ self.theta_A.T <= self.theta_b + self.point_location_tolerance, axis=1)

    in_state_set = in_parameter_set  # the name from before tracking existed

    def _padded_facets(self) -> tuple[np.ndarray, np.ndarray]:
        """Every region's ``E``, ``f`` (deviation coordinates, as ppopt holds them) padded to a
        common row count with ``0 theta <= 1``, flattened for one matrix product: (p, R C), (R C,)."""
        if getattr(self, "_facets", None) is None:
            regions = self.ppopt_solution.critical_regions
            width, p = max(len(cr.f) for cr in regions), self.problem.n_parameters
            E = np.zeros((len(regions), width, p))
            f = np.ones((len(regions), width))
            for r, cr in enumerate(regions):
                E[r, :len(cr.f)] = cr.E
                f[r, :len(cr.f)] = np.asarray(cr.f, dtype=np.float64).reshape(-1)
            self._facets = (E.reshape(-1, p).T.copy(), f.reshape(-1))
        return self._facets

    def locate(self, x: Any) -> np.ndarray | int:
        """The index of the region ppopt's point location picks for each theta, -1 for none.

        ppopt's rule, vectorised: the regions with ``E theta - f < tolerance`` hold theta; of
        several (a shared facet, within the tolerance), ppopt's own choice (for a solution marked
        overlapping, the one whose optimal objective is lowest, the last of equals; otherwise the
        first), computed with ppopt's region and objective for those few states only."""
        x, single = self._states(x)
        dx = x - self.problem.theta_eq
        solution = self.ppopt_solution
        regions, tolerance = solution.critical_regions, solution.point_location_tolerance
        E, f = self._padded_facets()
        indices = np.full(len(x), -1, dtype=np.int64)
        for start in range(0, len(x), LOCATE_CHUNK):
            chunk = dx[start:start + LOCATE_CHUNK]
            slack = (chunk @ E - f).reshape(len(chunk), len(regions), -1)
            inside = np.all(slack < tolerance, axis=2)
            count = inside.sum(1)
            first = np.argmax(inside, axis=1)
            indices[start:start + len(chunk)] = np.where(count > 0, first, -1)
            if not getattr(solution, "is_overlapping", False):
                continue
            for row in np.flatnonzero(count > 1):
                theta = chunk[row].reshape(-1, 1)
                best, best_index = float("inf"), -1
                for index in np.flatnonzero(inside[row]):
                    objective = solution.program.evaluate_objective(regions[index].evaluate(theta), theta)
                    if objective <= best:
                        best, best_index = objective, int(index)
                indices[start + row] = best_index
        return int(indices[0]) if single else indices

    def locate_with_ppopt(self, x: Any) -> np.ndarray | int:
        """:meth:`locate` by ppopt's own ``Solution.get_region``, one theta at a time (slow; the
        specification the vectorised one is tested against)."""
        x, single = self._states(x)
        dx = x - self.problem.theta_eq
        indices = np.full(len(x), -1, dtype=np.int64)
        for row, theta in enumerate(dx):
            critical_region = self.ppopt_solution.get_region(theta.reshape(-1, 1))
            if critical_region is not None:
                indices[row] = self._index[id(critical_region)]
        return int(indices[0]) if single else indices

    def _sequence(self, x: Any, outside: str) -> tuple[np.ndarray, bool, np.ndarray]:
        if outside not in ("raise", "nan"):
            raise ValueError(f"outside must be 'raise' or 'nan', got {outside!r}")
        x, single = self._states(x)
        located = np.atleast_1d(self.locate(x))
        missing = np.flatnonzero(located < 0)
        if len(missing) and outside == "raise":
            state = x[missing[0]]
            problem = self.problem
            box = f"the box {problem.state_low.tolist()} .. {problem.state_high.tolist()}"
            if problem.tracking:
                box += (f" and references in {problem.reference_low.tolist()} .. "
                        f"{problem.reference_high.tolist()}")
            what = "(state, reference)" if problem.tracking else "state"
            where = (
                f"outside the state constraints the explicit solution was computed for ({box}"
                + (" and H_x x <= h_x)" if len(problem.h_x) else ")")
                if not self.in_parameter_set(state)[0]
                else "inside the state constraints but outside the feasible set (no input sequence "
                "keeps the constraints over the horizon)"
            )
            raise OutsideFeasibleSetError(
                f"{what} {state.tolist()} is {where}; pass outside='nan' to get NaN there, or use a "
                f"fallback such as the saturated LQR"
            )
        dx = x - self.problem.theta_eq
        U = np.full((len(x), self.problem.horizon * self.problem.n_inputs), np.nan)
        critical_regions = self.ppopt_solution.critical_regions
        for row in np.flatnonzero(located >= 0):
            critical_region = critical_regions[located[row]]
            U[row] = critical_region.evaluate(dx[row].reshape(-1, 1)).reshape(-1)
        return U, single, dx

    def feasible_samples(self, count: int, seed: int = 0) -> np.ndarray:
        """``count`` parameters theta (states, or states and references) drawn uniformly from the
        solution's bounding box, kept where some region holds them (test and benchmark inputs)."""
        rng = np.random.default_rng(seed)
        kept: list[np.ndarray] = []
        total = 0
        while total < count:
            candidates = rng.uniform(self.theta_low, self.theta_high, size=(max(2 * count, 256), len(self.theta_low)))
            inside = np.zeros(len(candidates), dtype=bool)
            for region in self.regions:
                inside |= region.contains(candidates)
            kept.append(candidates[inside])
            total += int(inside.sum())
        return np.concatenate(kept)[:count]

    def evaluate(self, x: Any, outside: str = "raise") -> np.ndarray:
        """The first optimal input ``u_0`` (absolute) at ``theta`` (absolute; shape (p,) or
        (batch, p): the state, or state and reference), with ppopt's own point location and region law. A state in no region raises
        :class:`OutsideFeasibleSetError` (``outside='raise'``) or gives a row of NaN (``'nan'``)."""
        U, single, _ = self._sequence(x, outside)
        u = U[:, :self.problem.n_inputs] + self.problem.u_eq
        return u[0] if single else u

    def evaluate_sequence(self, x: Any, outside: str = "raise") -> np.ndarray:
        """The whole optimal input sequence, shape (N, m) or (batch, N, m), absolute."""
        U, single, _ = self._sequence(x, outside)
        u = U.reshape(len(U), self.problem.horizon, self.problem.n_inputs) + self.problem.u_eq
        return u[0] if single else u

    def value(self, x: Any, outside: str = "raise") -> np.ndarray | float:
        """The optimal MPC cost ``V(theta)`` (NaN outside with ``outside='nan'``)."""
        U, single, dx = self._sequence(x, outside)
        qp = self.problem.condensed()
        values = (0.5 * np.einsum("bi,ij,bj->b", U, qp.H, U) + np.einsum("bi,ji,bj->b", dx, qp.F, U)
                  + 0.5 * np.einsum("bi,ij,bj->b", dx, qp.Y, dx))
        return float(values[0]) if single else values

    def __repr__(self) -> str:
        return f"ExplicitSolution({self.n_regions} regions, {self.problem!r})"


def _ppopt_program(problem: LinearMPCProblem) -> Any:
    """ppopt's mp-QP of the condensed problem (deviation coordinates)."""
    from ppopt.mpqp_program import MPQP_Program
    from ppopt.solver import Solver

    qp = problem.condensed()
    theta_A, theta_b = problem.parameter_set()
    Nm = qp.H.shape[0]
    quiet = contextlib.redirect_stdout(io.StringIO())
    with quiet:  # ppopt may print while it processes the constraints
        return MPQP_Program(
            A=qp.G, b=qp.W.reshape(-1, 1), c=np.zeros((Nm, 1)), H=qp.F, Q=qp.H,
            A_t=theta_A, b_t=theta_b.reshape(-1, 1), F=qp.S, Q_t=qp.Y, solver=Solver(dict(SOLVERS)),
        )


def _solve_with_ppopt(problem: LinearMPCProblem, verbose: int) -> Any:
    from ppopt.mp_solvers.solve_mpqp import mpqp_algorithm, solve_mpqp

    program = _ppopt_program(problem)
    quiet = contextlib.nullcontext() if verbose >= 2 else contextlib.redirect_stdout(io.StringIO())
    with quiet:  # ppopt prints progress lines
        return solve_mpqp(program, mpqp_algorithm[ALGORITHM])


def _cache_path(problem: LinearMPCProblem, cache_dir: str | os.PathLike | None) -> Path | None:
    if cache_dir is None:
        return None
    from importlib.metadata import version

    key = hashlib.sha256(
        f"{CACHE_FORMAT}|ppopt {version('ppopt')}|{ALGORITHM}|{sorted(SOLVERS.items())}|"
        f"{problem.fingerprint()}".encode()
    ).hexdigest()
    return Path(cache_dir).expanduser() / f"explicit-{key[:32]}.zip"


def _write_cache(path: Path, problem: LinearMPCProblem, solution: ExplicitSolution) -> None:
    """The solution at ``path``, written atomically (a reader never sees half a file)."""
    from agents.checkpoint import save_agent

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".partial.zip")
    os.close(handle)
    try:
        save_agent(partial, CACHE_CLASS, CACHE_FORMAT, {},
                   {"problem": problem.fingerprint(), "solution": solution.to_state()})
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise
