"""``rlkit bench <suite>``: registered benchmark suites.

A suite is a function ``run(out_dir: Path, **options) -> None`` that writes its results table
(CSV and Markdown, see :mod:`rlkit.bench.report`) and PNG plots into ``out_dir``
(``runs/bench/<suite>/<time>/``). Its keyword arguments, with their defaults, are the options a
user can set as ``key=value``. Capability issues add their suites here.
"""

from __future__ import annotations

import importlib
import inspect
from datetime import datetime
from pathlib import Path
from typing import Any

from rlkit.errors import UserError

# name -> ("module:function", one-line description); modules are imported only when run
SUITES: dict[str, tuple[str, str]] = {
    "overhead": (
        "rlkit.bench.overhead:run",
        "rlkit train vs a plain SB3 script, same PPO run side by side; rlkit --help start-up",
    ),
    "yann": (
        "rlkit.bench.yann:run",
        "YANN-TD3 vs TD3, DDPG, SAC from scratch vs explicit MPC on the control envs; YANN latency",
    ),
    "market_making": (
        "rlkit.bench.market_making:run",
        "PPO/A2C on the event vs the time clock, several rewards, held-out days, vs AS/GLFT/fixed spread",
    ),
    "market_making_replay": (
        "rlkit.bench.market_making_replay:run",
        "the market-making replay core vs hftbacktest on the same recording, side by side",
    ),
    "football": (
        "rlkit.bench.football:run",
        "football engine speed vs the real engine, batched games, GNN cost, score rate at equal steps",
    ),
    "lyapunov": (
        "rlkit.bench.lyapunov:run",
        "verified region of attraction: learned controller + neural Lyapunov function vs LQR + x'Px, same box",
    ),
    "hybrid": (
        "rlkit.bench.hybrid:run",
        "car tracking over friction switches: RoA planner vs LQR, MPC, common CLF, SAC/PPO on the same 25 roads",
    ),
    "model_based": (
        "rlkit.bench.model_based:run",
        "experience replay vs learned model vs perfect model DQN, low-data regime, 3 gridworlds, 5 seeds",
    ),
    "model_based_seeds": (
        "rlkit.bench.model_based:run_seeds",
        "N model-based DQN seeds as N separate runs vs one run with stacked parameters (torch.func): the ratio",
    ),
    "discovery": (
        "rlkit.bench.discovery:run",
        "analytical Lyapunov function discovery: success rate over seeds, wall time to the first verified function",
    ),
    "throughput": (
        "rlkit.bench.throughput:run",
        "rlkit train steps/s: dummy (1, 8 envs) vs batched engines (64-1024 games) at equal learning per step; RLlib per runner",
    ),
    "ray": (
        "rlkit.bench.ray_scaling:run",
        "RLlib sampling with 0/1/2 env runners (scaling efficiency), rlkit's per-iteration overhead vs plain RLlib",
    ),
}


def suite_function(name: str) -> Any:
    if name not in SUITES:
        raise UserError(f"unknown benchmark suite {name!r}; allowed: {', '.join(SUITES)}")
    module_name, _, function = SUITES[name][0].partition(":")
    return getattr(importlib.import_module(module_name), function)


def run_suite(name: str, pairs: list[str], runs_root: str = "runs") -> Path:
    """Run suite ``name`` with ``key=value`` options; returns its output directory."""
    from rlkit.config import checked_value, parse_overrides

    function = suite_function(name)
    defaults = {
        p.name: p.default
        for p in inspect.signature(function).parameters.values()
        if p.default is not inspect.Parameter.empty
    }
    options: dict[str, Any] = {}
    for parsed in parse_overrides(pairs):
        key = parsed.key_or_group
        if key == "runs_root":
            runs_root = str(parsed.value())
            continue
        if key not in defaults:
            allowed = ", ".join(f"{k} (default {v})" for k, v in defaults.items())
            raise UserError(f"unknown option {key!r} for suite {name}; allowed: {allowed}, runs_root")
        # a comma-separated value (envs=cstr,cstr_safe) is a list here, not a sweep
        value = list(parsed.sweep_string_iterator()) if parsed.is_sweep_override() else parsed.value()
        if isinstance(defaults[key], list) and not isinstance(value, list):
            value = [value]
        options[key] = checked_value(key, value, defaults[key])
    out_dir = Path(runs_root) / "bench" / name / datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    function(out_dir, **options)
    return out_dir
