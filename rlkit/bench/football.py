"""Suite ``football``: the built-in engine's speed, the GNN's cost, and learning at equal steps.

Four parts (``parts=``), each its own table:

- ``speed``: single-env steps per second of ``FootballEnv`` (a Python loop, random actions) for the
  three scenario/representation pairs whose speed on the real engine is known, against those
  figures (457, 224 and 115 steps/s, measured on this kind of machine, ``football.md``) or, with
  ``grf_python=<interpreter with gfootball>``, against the real engine measured in the same run.
- ``batched``: game-steps per second of ``FootballVectorEnv`` (many games in one engine, one
  thread) on the academy scenarios.
- ``gnn``: forward and forward+backward milliseconds of the dense GCN/GAT Q-networks against
  PyG's list-of-graphs batching, 128 graphs of 24 nodes.
- ``learning``: on each academy scenario, every agent (gnn_dqn with GCN and with GAT on the graph
  observation, DQN on simple115v2, CNN-DQN on the SMM planes, PPO on simple115v2) for the same
  number of environment steps and seeds, trained with ``rlkit train``; the score rate (episodes in
  which the agent's team scored) over steps; then on 11 vs 11 (easy) the goal difference against
  the built-in AI after a fixed budget. The DQN variants share one schedule (gnn_dqn's config), so
  only the network and the observation differ.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rlkit.bench.report import machine_description, markdown_table, write_table
from rlkit.bench.runs import train_and_read
from rlkit.bench.timing import calls_within

# (scenario, representation, steps/s of the real engine, one process, no rendering: football.md)
REAL_ENGINE = [
    ("academy_empty_goal_close", "raw", 457.0),
    ("academy_3_vs_1_with_keeper", "extracted", 224.0),
    ("11_vs_11_easy_stochastic", "simple115v2", 115.0),
]
ACADEMY = ["academy_empty_goal_close", "academy_run_to_score_with_keeper", "academy_3_vs_1_with_keeper"]

# agent label -> (agent config, its overrides, observation representation)
AGENTS: dict[str, tuple[str, list[str], str]] = {
    "gnn_dqn_gcn": ("gnn_dqn", ["agent.gnn=gcn"], "graph"),
    "gnn_dqn_gat": ("gnn_dqn", ["agent.gnn=gat"], "graph"),
    "dqn": ("dqn", [], "simple115v2"),
    "cnn_dqn": ("cnn_dqn", [], "extracted"),
    "ppo": ("ppo", [], "simple115v2"),
}
# the DQN hyper-parameters every DQN variant takes from gnn_dqn's config
SHARED_DQN_KEYS = ("learning_rate", "buffer_size", "learning_starts", "batch_size", "tau", "gamma",
                   "train_freq", "gradient_steps", "target_update_interval", "exploration_fraction",
                   "exploration_initial_eps", "exploration_final_eps", "max_grad_norm")


# -- speed ---------------------------------------------------------------------------------------
def env_steps_per_second(scenario: str, representation: str, seconds: float, seed: int = 0) -> float:
    """Steps per second of one FootballEnv driven by uniformly random actions."""
    from envs.football.env import FootballEnv

    env = FootballEnv(scenario=scenario, representation=representation)
    actions = np.random.default_rng(seed).integers(0, 19, size=100_000)
    env.reset(seed=seed)
    for action in actions[:200]:  # compile and warm up
        if any(env.step(int(action))[2:4]):
            env.reset()

    def thousand_steps(call: int) -> None:
        start = call * 1000 % 90_000
        for action in actions[start : start + 1000]:
            _, _, terminated, truncated, _ = env.step(int(action))
            if terminated or truncated:
                env.reset()

    calls, elapsed = calls_within(thousand_steps, seconds)
    return calls * 1000 / elapsed


# runs under the interpreter that has gfootball, which has no rlkit: hence its own timing loop
_REAL_ENGINE_SCRIPT = """
import sys, time, numpy as np
import gfootball.env as football_env
scenario, representation, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
env = football_env.create_environment(env_name=scenario, representation=representation, render=False)
actions = np.random.default_rng(0).integers(0, 19, size=100000)
env.reset()
steps, start = 0, time.perf_counter()
while time.perf_counter() - start < seconds:
    done = env.step(int(actions[steps % 100000]))[2]
    steps += 1
    if done:
        env.reset()
print(steps / (time.perf_counter() - start))
"""


def real_engine_steps_per_second(python: str, scenario: str, representation: str, seconds: float) -> float:
    """The same loop on gfootball, in the interpreter ``python`` that has it installed."""
    result = subprocess.run([python, "-c", _REAL_ENGINE_SCRIPT, scenario, representation, str(seconds)],
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"the real engine failed under {python}: {result.stderr.strip()[-500:]}")
    return float(result.stdout.strip().splitlines()[-1])


def _speed(out_dir: Path, seconds: float, grf_python: str) -> pd.DataFrame:
    rows = []
    for scenario, representation, reference in REAL_ENGINE:
        ours = env_steps_per_second(scenario, representation, seconds)
        real, source = reference, "football.md (measured on this kind of machine)"
        if grf_python:
            real = real_engine_steps_per_second(grf_python, scenario, representation, seconds)
            source = "gfootball 2.10.2, measured in this run"
        rows.append({"scenario": scenario, "representation": representation, "rlkit_steps_per_s": ours,
                     "real_engine_steps_per_s": real, "ratio": ours / real, "target_ratio": 20.0,
                     "real_engine_figure": source})
    return write_table(out_dir, rows, name="speed",
                       notes=f"# Single-env speed, random actions ({machine_description()})")


def _batched(out_dir: Path, scenarios: list, num_envs: int, seconds: float) -> pd.DataFrame:
    from envs.football.vector import FootballVectorEnv

    rows = []
    for scenario in scenarios:
        for representation in ("simple115v2", "graph"):
            env = FootballVectorEnv(num_envs=num_envs, scenario=scenario, representation=representation)
            env.reset(seed=0)
            rng = np.random.default_rng(0)
            actions = [rng.integers(0, 19, size=num_envs) for _ in range(16)]
            for action in actions[:4]:
                env.step(action)
            steps, elapsed = calls_within(lambda i: env.step(actions[i % 16]), seconds)  # noqa: B023
            rows.append({"scenario": scenario, "representation": representation, "num_envs": num_envs,
                         "game_steps_per_s": steps * num_envs / elapsed, "target": 200_000})
            env.close()
    return write_table(out_dir, rows, name="batched",
                       notes=f"# Batched games, one thread, observations and rewards included ({machine_description()})")


def _gnn(out_dir: Path) -> pd.DataFrame:
    from rlkit.bench.gnn_latency import measure, write_gnn_table

    return write_gnn_table(out_dir, "gnn", [measure(batch=128, gnn=gnn) for gnn in ("gcn", "gat")])


# -- learning ------------------------------------------------------------------------------------
def _shared_dqn_overrides() -> list[str]:
    from rlkit.config import compose

    schedule = compose(["agent=gnn_dqn"]).agent
    return [f"agent.{key}={_override_value(schedule[key])}" for key in SHARED_DQN_KEYS if key in schedule]


def _override_value(value: Any) -> str:
    from omegaconf import ListConfig

    if isinstance(value, (list, tuple, ListConfig)):
        return "[" + ",".join(map(str, value)) + "]"
    return str(value)


def learning_jobs(out_dir: Path, scenarios: list, agents: list, seeds: int, steps: int, eval_every: int,
                  eval_episodes: int) -> list[tuple[str, str, int, list[str]]]:
    """(scenario, agent label, seed, ``rlkit train`` overrides) for every run."""
    unknown = [a for a in agents if a not in AGENTS]
    if unknown:
        raise ValueError(f"unknown agents {unknown}; allowed: {', '.join(AGENTS)}")
    shared = _shared_dqn_overrides()
    jobs = []
    for scenario in scenarios:
        for label in agents:
            agent, extra, representation = AGENTS[label]
            schedule = shared if agent in ("dqn", "cnn_dqn") else []
            for seed in range(seeds):
                jobs.append((scenario, label, seed, [
                    "env=football", f"env.kwargs.scenario={scenario}",
                    f"env.kwargs.representation={representation}", f"agent={agent}", *extra, *schedule,
                    f"seed={seed}", f"total_timesteps={steps}", f"eval.every={eval_every}",
                    f"eval.episodes={eval_episodes}", f"checkpoint.every={steps}", "checkpoint.replay_buffer=false",
                    "progress_bar=false", "device=cpu",
                    f"run_dir={out_dir / 'runs' / scenario / label / f'seed{seed}'}",
                ]))
    return jobs


def _learning(out_dir: Path, scenarios: list, agents: list, seeds: int, steps: int, eval_every: int,
              eval_episodes: int, full_game_steps: int, workers: int) -> None:
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    jobs = learning_jobs(out_dir, scenarios, agents, seeds, steps, eval_every, eval_episodes)
    if full_game_steps:
        jobs += learning_jobs(out_dir, ["11_vs_11_easy_stochastic"], agents, seeds, full_game_steps,
                              full_game_steps // 2, 2)
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        list(pool.map(train_and_read, [overrides for *_, overrides in jobs]))
    notes = (f"# football: score rate at equal steps ({machine_description()})\n\n"
             f"{seeds} seeds; academy runs {steps} steps, evaluation every {eval_every} steps on "
             f"{eval_episodes} seeded episodes (score rate = share of evaluation episodes in which the "
             f"agent's team scored); 11 vs 11 easy: {full_game_steps} steps, goal difference per game "
             f"against the built-in AI; rewards scoring,checkpoints; DQN variants share gnn_dqn's schedule.")
    report_learning(out_dir, jobs, scenarios, notes)


def report_learning(out_dir: Path, jobs: list, scenarios: list, notes: str = "") -> pd.DataFrame:
    """The results table, curves.csv and the score-rate plot, read back from the jobs' run
    directories (runs that have not finished, i.e. have no summary.json, are left out and the
    ``seeds`` column says how many made it)."""
    curves = []
    for scenario, label, seed, overrides in jobs:
        run = Path(next(o for o in overrides if o.startswith("run_dir=")).partition("=")[2])
        if not (run / "summary.json").is_file():
            continue
        summary = json.loads((run / "summary.json").read_text())
        curves.append(pd.read_csv(run / "metrics.csv").assign(
            scenario=scenario, agent=label, seed=seed, train_time_s=summary.get("wall_time_s", math.nan)))
    if not curves:
        raise ValueError(f"no finished runs under {out_dir / 'runs'}")
    curves = pd.concat(curves, ignore_index=True)
    curves.to_csv(out_dir / "curves.csv", index=False)
    rows = []
    for (scenario, label), group in curves.groupby(["scenario", "agent"], sort=False):
        finals = group.sort_values("timesteps").groupby("seed").tail(1)
        rows.append({
            "scenario": scenario, "agent": label, "seeds": finals["seed"].nunique(),
            "steps": int(finals["timesteps"].max()),
            "final_score_rate": float(finals["scored"].mean()), "final_score_rate_std": float(finals["scored"].std(ddof=0)),
            "best_score_rate": float(group.groupby("seed")["scored"].max().mean()),
            "final_goal_difference": float(finals["goal_difference"].mean()),
            "final_return": float(finals["mean_return"].mean()),
            "train_time_s": float(finals["train_time_s"].mean()),
        })
    table = write_table(out_dir, rows, notes=notes)
    shown = [s for s in scenarios if s in set(curves["scenario"])]
    if shown:
        _plot(out_dir / "score_rate.png", curves[curves["scenario"].isin(shown)], shown)
    return table


def _plot(path: Path, curves: pd.DataFrame, scenarios: list) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(scenarios), figsize=(5 * len(scenarios), 4), squeeze=False)
    for axis, scenario in zip(axes[0], scenarios):
        for label, group in curves[curves["scenario"] == scenario].groupby("agent", sort=False):
            by_step = group.groupby("timesteps")["scored"]
            mean, std = by_step.mean(), by_step.std().fillna(0.0)
            axis.plot(mean.index, mean.values, label=label)
            axis.fill_between(mean.index, mean - std, mean + std, alpha=0.15)
        axis.set_title(scenario, fontsize=9)
        axis.set_xlabel("environment steps")
        axis.set_ylabel("score rate (evaluation)")
        axis.set_ylim(-0.02, 1.02)
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def run(
    out_dir: Path,
    parts: list = ["speed", "batched", "gnn", "learning"],  # noqa: B006  (options, never mutated)
    scenarios: list = ACADEMY,  # noqa: B006
    agents: list = list(AGENTS),  # noqa: B006
    seeds: int = 3,
    steps: int = 20000,
    eval_every: int = 2000,
    eval_episodes: int = 20,
    full_game_steps: int = 30000,
    workers: int = 2,
    speed_seconds: float = 5.0,
    num_envs: int = 4096,
    grf_python: str = "",
) -> None:
    """Run the chosen ``parts``; ``grf_python`` names an interpreter with gfootball installed for a
    side-by-side speed measurement of the real engine."""
    allowed = ("speed", "batched", "gnn", "learning")
    if any(part not in allowed for part in parts):
        raise ValueError(f"unknown parts {parts}; allowed: {', '.join(allowed)}")
    if "speed" in parts:
        print(markdown_table(_speed(out_dir, speed_seconds, grf_python)))
    if "batched" in parts:
        print(markdown_table(_batched(out_dir, ACADEMY, num_envs, speed_seconds)))
    if "gnn" in parts:
        print(markdown_table(_gnn(out_dir)))
    if "learning" in parts:
        _learning(out_dir, scenarios, agents, seeds, steps, eval_every, eval_episodes, full_game_steps, workers)
