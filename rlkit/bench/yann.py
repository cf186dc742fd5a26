"""Suite ``yann``: YANN-TD3 against TD3, DDPG and SAC from scratch and against explicit MPC.

For each env and seed every learner is trained with ``rlkit train`` (the same code path a user
runs) and evaluated every ``eval_every`` steps on the same seeded episodes; explicit MPC is
evaluated once per env (it does not learn). Reported per env and agent, over seeds: the final and
best evaluation return, the first step at which the evaluation return came within 5 % of MPC's
(and whether it went beyond), constraint violations during training and in evaluation. Also the
YANN's latency at batch 1 and 1024 against ppopt's point location on the same states.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rlkit.bench.report import machine_description, write_table
from rlkit.bench.runs import train_and_read


def _within(curve: pd.DataFrame, target: float, tolerance: float = 0.05) -> float:
    """First evaluated step whose return is within ``tolerance`` of ``target`` (or better)."""
    good = curve[curve["mean_return"] >= target - tolerance * abs(target)]
    return float(good["timesteps"].iloc[0]) if len(good) else math.nan


def _jobs(out_dir: Path, env: str, agents: list, seeds: int, steps: int, eval_every: int,
          common: list[str], baseline_net: list) -> list[tuple[str, int, list[str]]]:
    net = f"agent.policy_kwargs.net_arch=[{','.join(map(str, baseline_net))}]"
    return [
        (agent, seed, [
            f"env={env}", f"agent={agent}", f"seed={seed}", f"total_timesteps={steps}",
            f"eval.every={eval_every}", f"checkpoint.every={steps}",
            f"run_dir={out_dir / 'runs' / env / agent / f'seed{seed}'}", *common,
            *([] if agent.startswith("yann") else [net]),
        ])
        for agent in agents for seed in range(seeds)
    ]


def run(
    out_dir: Path,
    envs: list = ["cstr", "cstr_safe", "pendulum_clipped"],  # noqa: B006  (options, never mutated)
    agents: list = ["yann_td3", "td3", "ddpg", "sac"],  # noqa: B006
    seeds: int = 5,
    steps: int = 5000,
    eval_every: int = 500,
    eval_episodes: int = 5,
    baseline_net: list = [64, 64],  # noqa: B006  (networks of the from-scratch learners)
    workers: int = 2,
    latency: bool = True,
    observation_scaling: str = "normalized",
) -> None:
    """Train every (env, agent, seed) in ``workers`` processes of one thread each. Every agent sees
    the same observations; ``normalized`` maps the state box onto [-1, 1], which from-scratch
    learners need (a CSTR temperature of 325 K saturates their first layer)."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    common = ["progress_bar=false", "device=cpu", f"eval.episodes={eval_episodes}", "checkpoint.replay_buffer=false",
              f"env.kwargs.observation_scaling={observation_scaling}"]
    mpc_returns: dict[str, dict[str, Any]] = {}
    for env in envs:
        _, mpc = train_and_read([f"env={env}", "agent=explicit_mpc", "total_timesteps=1", "eval.every=0",
                         f"run_dir={out_dir / 'runs' / env / 'explicit_mpc'}", *common])
        mpc_returns[env] = mpc["final_eval"]
    jobs = [(env, *job) for env in envs
            for job in _jobs(out_dir, env, agents, seeds, steps, eval_every, common, baseline_net)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(train_and_read, [overrides for *_, overrides in jobs]))
    curves = [curve.assign(env=env, agent=agent, seed=seed)
              for (env, agent, seed, _), (curve, _) in zip(jobs, results)]
    all_curves = pd.concat(curves, ignore_index=True)
    all_curves.to_csv(out_dir / "curves.csv", index=False)

    rows = []
    for env in envs:
        mpc_return = mpc_returns[env]["mean_return"]
        rows.append({"env": env, "agent": "explicit_mpc", "seeds": 1, "final_return": mpc_return,
                     "final_return_std": 0.0, "best_return": mpc_return, "steps_to_5pct_of_mpc": 0.0,
                     "seeds_within_5pct": 1, "seeds_beyond_mpc": 0, "train_violations": 0.0,
                     "eval_violations_per_episode": mpc_returns[env].get("violations_per_episode", math.nan)})
        for agent in agents:
            group = [c for c in curves if c["env"].iloc[0] == env and c["agent"].iloc[0] == agent]
            finals = [c["mean_return"].iloc[-1] for c in group]
            reached = [r for r in (_within(c, mpc_return) for c in group) if not math.isnan(r)]
            rows.append({
                "env": env, "agent": agent, "seeds": len(group),
                "final_return": float(np.mean(finals)), "final_return_std": float(np.std(finals)),
                "best_return": float(np.mean([c["mean_return"].max() for c in group])),
                "steps_to_5pct_of_mpc": float(np.median(reached)) if reached else math.nan,
                "seeds_within_5pct": len(reached),
                "seeds_beyond_mpc": sum(int(c["mean_return"].max() > mpc_return) for c in group),
                "train_violations": float(np.mean([c["train_violations"].iloc[-1] for c in group])),
                "eval_violations_per_episode": float(np.mean([c["violations_per_episode"].iloc[-1] for c in group])),
            })
    notes = (f"# yann: YANN-TD3 vs TD3/DDPG/SAC from scratch vs explicit MPC ({machine_description()})\n\n"
             f"{seeds} seeds, {steps} steps, evaluation every {eval_every} steps on {eval_episodes} seeded "
             f"episodes; returns are means over seeds; steps_to_5pct_of_mpc is the median over the seeds "
             f"that got within 5 % of MPC's return; train_violations counts constraint-violating steps "
             f"over training; observations: {observation_scaling}.")
    write_table(out_dir, rows, notes=notes)
    _plot_curves(out_dir / "returns.png", all_curves, {env: mpc_returns[env]["mean_return"] for env in envs})
    if latency:
        _latency_table(out_dir)


def _plot_curves(path: Path, curves: pd.DataFrame, mpc: dict[str, float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = list(mpc)
    figure, axes = plt.subplots(1, max(len(envs), 1), figsize=(5 * max(len(envs), 1), 4), squeeze=False)
    for axis, env in zip(axes[0], envs):
        for agent, group in curves[curves["env"] == env].groupby("agent"):
            by_step = group.groupby("timesteps")["mean_return"]
            mean, std = by_step.mean(), by_step.std().fillna(0.0)
            axis.plot(mean.index, mean.values, label=agent)
            axis.fill_between(mean.index, mean - std, mean + std, alpha=0.2)
        axis.axhline(mpc[env], color="black", linestyle="--", label="explicit MPC")
        axis.set_title(env)
        axis.set_xlabel("environment steps")
        axis.set_ylabel("evaluation return")
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _latency_table(out_dir: Path) -> None:
    from rlkit.bench.yann_latency import measure_latency, write_latency_table

    write_latency_table(out_dir, "latency", measure_latency())
