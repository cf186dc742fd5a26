"""How fast a YANN evaluates an explicit MPC law, against ppopt's own point location.

Both sides get the same feasible states. The YANN takes a batch per call (under
``torch.inference_mode``, with the thread count torch has: one in rlkit); ppopt's point location
(:meth:`ppopt.solution.Solution.evaluate`, a scan of the regions) takes one state per call, so its
batch figure is ``batch`` calls. Each figure is the best of five timed repeats.

The systems: ``double_integrator`` (the YANN tutorial's), ``cstr`` (the CSTR regulated to its
0.87 mol/L steady state; theta = x, 2 numbers) and ``cstr_tracking`` (the CSTR env's tracking MPC;
theta = (x, x_ref), 4 numbers, references in the box around the setpoint schedule).

    python -m agents.yann.latency            # all three, batches 1 and 1024
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from agents.yann.network import YANN

SYSTEMS = ("double_integrator", "cstr", "cstr_tracking")


def _best_seconds_per_call(calls: Sequence[Callable[[], Any]], min_seconds: float, repeats: int = 7) -> float:
    """Best over ``repeats`` of the mean time of one call, cycling through ``calls``."""
    for call in calls[:3]:  # warm up
        call()
    rounds, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_seconds / repeats or rounds == 0:
        for call in calls:
            call()
        rounds += 1
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(rounds):
            for call in calls:
                call()
        best = min(best, (time.perf_counter() - start) / (rounds * len(calls)))
    return best


def time_yann_against(
    network: YANN, states: np.ndarray, reference: Callable[[np.ndarray], Any], batch: int, min_seconds: float = 1.0
) -> dict[str, float]:
    """Seconds per call and states per second of ``network`` on ``batch`` states per call, and of
    ``reference`` called once per state (a column, as ppopt takes it) on the same states.

    The states are split into consecutive batches and the calls cycle through them, so a figure is
    an average over where the states lie (ppopt's scan stops at the first region that holds one).
    """
    states = np.asarray(states, dtype=np.float64)
    if len(states) < batch:
        raise ValueError(f"need at least {batch} states, got {len(states)}")
    chunks = [states[i:i + batch] for i in range(0, len(states) - batch + 1, batch)]

    def yann_call(chunk: np.ndarray) -> Callable[[], None]:
        tensor = torch.as_tensor(chunk)

        def call() -> None:
            with torch.inference_mode():
                network(tensor)
        return call

    def reference_call(chunk: np.ndarray) -> Callable[[], None]:
        columns = [row.reshape(-1, 1) for row in chunk]

        def call() -> None:
            for column in columns:
                reference(column)
        return call

    yann = _best_seconds_per_call([yann_call(c) for c in chunks], min_seconds)
    ppopt = _best_seconds_per_call([reference_call(c) for c in chunks], min_seconds)
    return {
        "batch": batch,
        "yann_us_per_call": 1e6 * yann,
        "ppopt_us_per_call": 1e6 * ppopt,
        "yann_states_per_s": batch / yann,
        "ppopt_states_per_s": batch / ppopt,
        "speedup": ppopt / yann,
    }


def explicit_solution_for(system_name: str, horizon: int = 10, cache_dir: str | None = None) -> Any:
    """The explicit MPC solution of one of the control family's systems at its equilibrium
    (``cstr_tracking``: the tracking MPC of the CSTR tracking env, as its agents pose it)."""
    from agents.mpc import ExplicitSolution, LinearMPCProblem

    if system_name == "cstr_tracking":
        from agents.mpc import plant_interface, tracking_problem
        from envs.control.cstr import CSTREnv

        problem = tracking_problem(plant_interface(CSTREnv()), horizon, track_reference=True)
        return ExplicitSolution.solve(problem, cache_dir=cache_dir)
    if system_name == "double_integrator":
        from envs.control.double_integrator import DoubleIntegrator

        system = DoubleIntegrator()
    elif system_name == "cstr":
        from envs.control.cstr import CSTR

        system = CSTR()
    else:
        raise ValueError(f"unknown system {system_name!r}; allowed: {', '.join(SYSTEMS)}")
    return ExplicitSolution.solve(LinearMPCProblem.from_system(system, horizon), cache_dir=cache_dir)


def yann_of(solution: Any) -> YANN:
    """The YANN of an :class:`agents.mpc.ExplicitSolution` (on its theta: the state, or state and
    reference), with its saturated LQR as fallback and ppopt's point-location tolerance (so it
    reproduces ppopt's evaluation)."""
    problem = solution.problem
    fallback = (*problem.lqr_affine_law(), problem.input_low, problem.input_high)
    return YANN(
        solution.regions,
        domain=(solution.theta_low, solution.theta_high),
        fallback=fallback,
        tolerance=solution.point_location_tolerance,
    )


def feasible_states(solution: Any, count: int, seed: int = 0) -> np.ndarray:
    """``count`` parameters theta (states, or states and references) drawn uniformly from the
    solution's bounding box, kept where some region holds them."""
    rng = np.random.default_rng(seed)
    kept: list[np.ndarray] = []
    total = 0
    while total < count:
        candidates = rng.uniform(solution.theta_low, solution.theta_high, size=(max(2 * count, 256), len(solution.theta_low)))
        inside = np.zeros(len(candidates), dtype=bool)
        for region in solution.regions:
            inside |= region.contains(candidates)
        kept.append(candidates[inside])
        total += int(inside.sum())
    return np.concatenate(kept)[:count]


def measure_latency(
    systems: Sequence[str] = SYSTEMS, batches: Sequence[int] = (1, 1024), horizon: int = 10,
    min_seconds: float = 1.0, cache_dir: str | None = None,
) -> list[dict[str, Any]]:
    """One row per (system, batch): the YANN against ppopt's point location on the same states."""
    from agents.yann.network import parameter_count

    torch.set_num_threads(1)
    rows = []
    for name in systems:
        solution = explicit_solution_for(name, horizon, cache_dir)
        network = yann_of(solution)
        states = feasible_states(solution, max(max(batches), 256))
        shift = solution.theta_eq.reshape(-1, 1)
        ppopt_solution = solution.ppopt_solution  # deviation coordinates

        def ppopt_evaluate(column: np.ndarray, ppopt_solution: Any = ppopt_solution, shift: np.ndarray = shift) -> Any:
            return ppopt_solution.evaluate(column - shift)

        for batch in batches:
            row = {"system": name, "parameters": solution.n_parameters, "regions": solution.n_regions,
                   "numbers": parameter_count(network)}
            row.update(time_yann_against(network, states, ppopt_evaluate, batch, min_seconds))
            rows.append(row)
    return rows


if __name__ == "__main__":
    for row in measure_latency():
        print(", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
