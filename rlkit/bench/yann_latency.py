"""Suite ``yann_latency``: how fast a YANN evaluates an explicit MPC law, against ppopt's own point
location.

Both sides get the same feasible states. The YANN takes a batch per call (under
``torch.inference_mode``, one thread); ppopt's point location
(:meth:`ppopt.solution.Solution.evaluate`, a scan of the regions) takes one state per call, so its
batch figure is ``batch`` calls. Each figure is the best of seven timed repeats
(:func:`rlkit.bench.timing.best_seconds_per_call`).

The systems: ``double_integrator`` (the YANN tutorial's), ``cstr`` (the CSTR regulated to its
0.87 mol/L steady state; theta = x, 2 numbers) and ``cstr_tracking`` (the CSTR env's tracking MPC;
theta = (x, x_ref), 4 numbers, references in the box around the setpoint schedule). The ``yann``
suite adds this table to its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agents.yann.builder import yann_from_solution
from rlkit.bench.report import machine_description, markdown_table, write_table
from rlkit.bench.timing import best_seconds_per_call

SYSTEMS = ("double_integrator", "cstr", "cstr_tracking")


def time_yann_against(
    network: Any, states: np.ndarray, reference: Callable[[np.ndarray], Any], batch: int, min_seconds: float = 1.0
) -> dict[str, float]:
    """Seconds per call and states per second of ``network`` on ``batch`` states per call, and of
    ``reference`` called once per state (a column, as ppopt takes it) on the same states.

    The states are split into consecutive batches and the calls cycle through them, so a figure is
    an average over where the states lie (ppopt's scan stops at the first region that holds one).
    """
    import torch

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

    yann = best_seconds_per_call([yann_call(c) for c in chunks], min_seconds)
    ppopt = best_seconds_per_call([reference_call(c) for c in chunks], min_seconds)
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


def measure_latency(
    systems: Sequence[str] = SYSTEMS, batches: Sequence[int] = (1, 1024), horizon: int = 10,
    min_seconds: float = 1.0, cache_dir: str | None = None,
) -> list[dict[str, Any]]:
    """One row per (system, batch): the YANN against ppopt's point location on the same states."""
    import torch

    from agents.yann.network import parameter_count

    torch.set_num_threads(1)
    rows = []
    for name in systems:
        solution = explicit_solution_for(name, horizon, cache_dir)
        network = yann_from_solution(solution)
        states = solution.feasible_samples(max(max(batches), 256))
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


def run(
    out_dir: Path,
    systems: list = list(SYSTEMS),  # noqa: B006  (options, never mutated)
    batches: list = [1, 1024],  # noqa: B006
    horizon: int = 10,
    min_seconds: float = 1.0,
) -> None:
    """One row per (system, batch); writes results.csv and results.md."""
    unknown = [name for name in systems if name not in SYSTEMS]
    if unknown:
        raise ValueError(f"unknown systems {unknown}; allowed: {', '.join(SYSTEMS)}")
    write_latency_table(out_dir, "results", measure_latency(systems, batches, horizon, min_seconds))


def write_latency_table(out_dir: Path, name: str, rows: list[dict[str, Any]]) -> None:
    table = write_table(out_dir, rows, name=name, notes=f"# YANN vs ppopt point location ({machine_description()})")
    print(markdown_table(table))
