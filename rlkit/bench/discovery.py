"""``rlkit bench discovery``: analytical Lyapunov function discovery (the RL-based generative approach)
on the autonomous systems of :mod:`envs.control.autonomous`, several seeds each.

Every (system, decrease, seed) is one job in a worker process of one thread: ``agent=lyapunov_discovery``
(the same agent ``rlkit train`` builds) searches from scratch for at most ``iterations`` policy updates
of ``batch_size`` sampled expressions and stops at the first candidate that survives the falsifier and
is proved by the interval verifier. The table holds per case the success rate, the wall time to the
first formally verified function (the whole search: sampling, scoring, falsifying, verifying), the
iteration it came at, z3's verdict where the function is polynomial, how many falsifier survivors the
verifier refused, and the distinct expressions found.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from rlkit.bench.report import bar_plot, machine_description, write_table
from rlkit.threads import one_thread_worker

# (system, decrease): the stable linear and polynomial systems have strict Lyapunov functions; the
# pendulum's and the power system's energies decrease only weakly (dV/dt = -c omega^2), as does the circle
# for the reversed Van der Pol system on its box
CASES = ("stable_linear:strict", "polynomial_3d:strict", "van_der_pol_reversed:weak",
         "van_der_pol_reversed:strict", "damped_pendulum:weak", "power_3bus_relative:weak", "power_3bus:weak")
COLUMNS = ["system", "states", "decrease", "seeds", "verified", "success_rate", "median_s_to_verified",
           "min_s", "max_s", "median_iteration", "s_per_iteration", "refused_by_verifier", "errors", "z3", "expressions"]


def parse_case(case: str) -> tuple[str, str]:
    from agents.lyapunov_discovery.falsifier import DECREASES
    from envs.control.autonomous import SYSTEMS

    system, _, decrease = case.partition(":")
    if system not in SYSTEMS or decrease not in DECREASES:
        raise ValueError(f"a case is <system>:<decrease> with a system of {', '.join(SYSTEMS)} and a decrease of "
                         f"{', '.join(DECREASES)}; got {case!r}")
    return system, decrease


def discovery_job(job: dict[str, Any]) -> dict[str, Any]:
    """One search from scratch; what it found and when (or the error that ended it)."""
    started = time.perf_counter()
    try:
        return _search(job, started)
    except Exception as error:  # one failed search is a row of the table, not the end of the suite
        return {"system": job["system"], "decrease": job["decrease"], "seed": job["seed"], "states": job["states"],
                "verified": False, "iterations_run": 0, "wall_s": time.perf_counter() - started, "search_s": 0.0,
                "error": f"{type(error).__name__}: {error}"}


def _search(job: dict[str, Any], started: float) -> dict[str, Any]:
    from agents.lyapunov_discovery.agent import LyapunovDiscoveryAgent
    from envs.control.autonomous_env import AutonomousEnv

    agent = LyapunovDiscoveryAgent(env=AutonomousEnv(job["system"]), seed=job["seed"], decrease=job["decrease"],
                                   **job["settings"])
    agent.learn(job["iterations"] * agent.search_settings["batch_size"])
    certificate = agent.certificate
    result = {"system": job["system"], "decrease": job["decrease"], "seed": job["seed"],
              "states": agent.system.n_states, "verified": certificate is not None,
              "iterations_run": agent.num_timesteps // agent.search_settings["batch_size"],
              "wall_s": time.perf_counter() - started, "search_s": agent.search_wall_time_s}
    if certificate is not None:
        result.update(expression=certificate["expression"], iteration=certificate["found_at_iteration"],
                      z3=certificate.get("z3"), refused=certificate["verifier_rejections"],
                      verification_s=certificate["result"]["wall_s"])
    return result


def _progress(result: dict[str, Any], done: int, total: int, out_dir: Path) -> None:
    """A line on stdout and the job's JSON under ``out_dir/runs`` (kept if a later job fails)."""
    (out_dir / "runs").mkdir(exist_ok=True)
    name = f"{result['system']}_{result['decrease']}_seed{result['seed']}.json"
    (out_dir / "runs" / name).write_text(json.dumps(result, indent=2))
    found = (f"verified {result['expression']} at iteration {result['iteration']}" if result["verified"]
             else result.get("error", "none"))
    print(f"[{done}/{total}] {result['system']} {result['decrease']} seed {result['seed']}: {found} "
          f"({result['search_s']:.1f} s)", flush=True)


def run_jobs(jobs: list[dict[str, Any]], workers: int, out_dir: Path) -> list[dict[str, Any]]:
    """Every job's result, in the jobs' order; a line per finished job on stdout."""
    if workers <= 1 or len(jobs) <= 1:
        results = []
        for job in jobs:
            results.append(discovery_job(job))
            _progress(results[-1], len(results), len(jobs), out_dir)
        return results
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    order = sorted(range(len(jobs)), key=lambda i: -jobs[i]["states"])  # the larger systems first
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                             initializer=one_thread_worker) as pool:
        futures = {pool.submit(discovery_job, jobs[i]): i for i in order}
        results: dict[int, dict[str, Any]] = {}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            _progress(results[futures[future]], len(results), len(jobs), out_dir)
        return [results[i] for i in range(len(jobs))]


def summarise(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (system, decrease)."""
    rows = []
    for system, decrease in dict.fromkeys((r["system"], r["decrease"]) for r in results):
        own = [r for r in results if r["system"] == system and r["decrease"] == decrease]
        found = [r for r in own if r["verified"]]
        times = [r["search_s"] for r in found]
        expressions: dict[str, int] = {}
        for r in found:
            expressions[r["expression"]] = expressions.get(r["expression"], 0) + 1
        z3 = sorted({str(r["z3"]) for r in found})
        rows.append({
            "system": system, "states": own[0]["states"], "decrease": decrease, "seeds": len(own),
            "verified": f"{len(found)}/{len(own)}", "success_rate": len(found) / len(own),
            "median_s_to_verified": float(np.median(times)) if times else float("nan"),
            "min_s": float(min(times)) if times else float("nan"),
            "max_s": float(max(times)) if times else float("nan"),
            "median_iteration": float(np.median([r["iteration"] for r in found])) if found else float("nan"),
            "s_per_iteration": float(sum(r["search_s"] for r in own) / max(1, sum(r["iterations_run"] for r in own))),
            "refused_by_verifier": int(sum(r.get("refused", 0) for r in found)),
            "errors": sum("error" in r for r in own),
            "z3": ", ".join(z3) if z3 else "-",
            "expressions": "; ".join(f"{e} (x{n})" if n > 1 else e for e, n in expressions.items()) or "-",
        })
    return rows


def run(out_dir: Path, cases: list[str] | None = None, seeds: int = 5, iterations: int = 200, batch_size: int = 200,
        max_length: int = 20, learning_rate: float = 3e-4, workers: int = 2) -> None:
    """``cases``: ``<system>:<strict|weak>`` (default: :data:`CASES`); ``iterations`` policy updates of
    ``batch_size`` expressions at most per search; the other search settings are the agent's defaults."""
    cases = list(CASES if cases is None else cases)
    for name, value, minimum in (("seeds", seeds, 1), ("iterations", iterations, 1), ("batch_size", batch_size, 1),
                                 ("workers", workers, 1), ("max_length", max_length, 3)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum} (got {value!r})")
    parsed = [parse_case(case) for case in cases]
    from envs.control.autonomous import make_system

    settings = {"batch_size": batch_size, "max_length": max_length, "learning_rate": learning_rate}
    jobs = [{"system": system, "decrease": decrease, "seed": seed, "iterations": iterations, "settings": settings,
             "states": make_system(system).n_states} for system, decrease in parsed for seed in range(seeds)]
    results = run_jobs(jobs, workers, out_dir)
    (out_dir / "runs.json").write_text(json.dumps(results, indent=2))
    rows = summarise(results)
    notes = (f"rlkit bench discovery: {seeds} seeds per case, at most {iterations} policy updates of {batch_size} "
             f"expressions (length 3-{max_length}, library add, sub, mul, square, sin, cos, no constants), learning "
             f"rate {learning_rate}; time = wall seconds of the whole search to the first formally verified "
             f"function; {machine_description()}")
    write_table(out_dir, [{key: row[key] for key in COLUMNS} for row in rows], notes=notes)
    bar_plot(out_dir / "success.png", [f"{r['system']}\n{r['decrease']}" for r in rows],
             [r["success_rate"] for r in rows], "verified share of seeds", "Lyapunov function discovery")
