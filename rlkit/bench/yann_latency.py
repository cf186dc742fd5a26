"""Suite ``yann_latency``: how fast a YANN evaluates an explicit MPC law, against ppopt's own point
location.

Both sides get the same feasible states. The YANN takes a batch per call (under
``torch.inference_mode``, one thread); ppopt's point location
(:meth:`ppopt.solution.Solution.evaluate`, a scan of the regions) takes one state per call, so its
batch figure is ``batch`` calls. Each figure is the best of seven timed repeats
(:func:`rlkit.bench.timing.best_seconds_per_call`).

The systems are env configs (``rlkit/conf/env/<name>.yaml``), each posed as its explicit MPC agent
poses it (:func:`agents.mpc.tracking_problem` on the env's plant): ``<env>`` tracks the observed
reference exactly when the env observes one (theta = (x, x_ref)) and regulates to the system's
equilibrium otherwise (theta = x); ``<env>:regulation`` or ``<env>:tracking`` picks one. The
defaults: ``double_integrator`` (the YANN tutorial's, regulated to the origin), ``cstr:regulation``
(the CSTR regulated to its 0.87 mol/L steady state; 2 numbers) and ``cstr:tracking`` (the CSTR
env's tracking MPC; 4 numbers, references in the box around the setpoint schedule). The ``yann``
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

SYSTEMS = ("double_integrator", "cstr:regulation", "cstr:tracking")


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


POSINGS = {"regulation": False, "tracking": True}


def explicit_solution_for(system: str, horizon: int = 10, cache_dir: str | None = None) -> Any:
    """The explicit MPC solution of :func:`mpc_problem`."""
    from agents.mpc import ExplicitSolution

    return ExplicitSolution.solve(mpc_problem(system, horizon), cache_dir=cache_dir)


def mpc_problem(system: str, horizon: int = 10) -> Any:
    """The linear MPC problem of ``system``: an env config name, optionally ``:regulation`` or
    ``:tracking`` (bare: tracking exactly when the env observes its reference, as the MPC agents'
    ``track_reference: null``). Raises ValueError for an unknown name or an env with no control
    system."""
    import gymnasium as gym

    import envs  # noqa: F401  (registers the envs)
    from agents.mpc import plant_interface, tracking_problem
    from rlkit.catalogue import entry_config

    env_name, track_reference = parse_system(system)
    config = entry_config("env", env_name)
    env = gym.make(config["id"], **(config.get("kwargs") or {}))
    try:
        return tracking_problem(plant_interface(env), horizon, track_reference=track_reference)
    finally:
        env.close()


def parse_system(system: str) -> tuple[str, bool | None]:
    """``"<env>[:regulation|:tracking]"`` -> (env config name, ``track_reference``); raises
    ValueError for an unknown env config or posing."""
    from rlkit.catalogue import entry_names

    env_name, _, posing = system.partition(":")
    if env_name not in entry_names("env"):
        raise ValueError(f"unknown env config {env_name!r} in system {system!r}; allowed: "
                         f"{', '.join(entry_names('env'))}")
    if posing and posing not in POSINGS:
        raise ValueError(f"system {system!r}: the posing after ':' is one of {', '.join(POSINGS)}")
    return env_name, POSINGS[posing] if posing else None


def measure_latency(
    systems: Sequence[str] = SYSTEMS, batches: Sequence[int] = (1, 1024), horizon: int = 10,
    min_seconds: float = 1.0, cache_dir: str | None = None,
) -> list[dict[str, Any]]:
    """One row per (system, batch): the YANN against ppopt's point location on the same states."""
    import torch

    from agents.mpc import ExplicitSolution
    from agents.yann.network import parameter_count

    torch.set_num_threads(1)
    problems = [mpc_problem(name, horizon) for name in systems]  # every name checked before any solve
    rows = []
    for name, problem in zip(systems, problems):
        solution = ExplicitSolution.solve(problem, cache_dir=cache_dir)
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
    """One row per (system, batch); writes results.csv and results.md. ``systems``: env config
    names, each optionally ``:regulation`` or ``:tracking`` (see the module)."""
    write_latency_table(out_dir, "results", measure_latency(systems, batches, horizon, min_seconds))


def write_latency_table(out_dir: Path, name: str, rows: list[dict[str, Any]]) -> None:
    table = write_table(out_dir, rows, name=name, notes=f"# YANN vs ppopt point location ({machine_description()})")
    print(markdown_table(table))
