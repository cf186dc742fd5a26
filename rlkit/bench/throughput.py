"""Suite ``throughput``: end-to-end ``rlkit train`` steps per second, today's path against the batched
engines, at the same amount of learning per environment step.

Paths: ``dummy`` with 1 and 8 envs (SB3's DummyVecEnv over single envs) and ``batched`` with 64, 256
and 1024 games (``vec_env=batched``). Every (case, path) is a real ``rlkit train`` run in this
process, one thread, the rounds interleaved (every case and path once, then again, ``repeats``
times), the median reported. Steps per second count the training time only (collection plus updates,
as the run monitor splits it); evaluation and checkpoints, which do not depend on the path, are
left out and reported apart.

Like for like, so a path is not faster because it learns less:
- PPO: the same epochs (4) and the same minibatch share of each rollout (a quarter); the rollout is
  2048 steps on dummy (n_steps 2048 / n_envs) and 64 steps per game batched.
- DQN-style (gnn_dqn): the same replayed samples per collected transition, 16 (the agent's default
  batch 64 every 4 transitions): batch size x gradient steps / transitions per update.

Also: the learner's share of the time; RLlib PPO sampling per env runner with 1 env and with the
batched engine inside (``ray.num_envs_per_env_runner``); the 2-core options; and one learning curve
per path (football PPO, ``curve_seeds`` seeds each, same evaluation episodes), per-seed and
per-episode CSVs written beside the table.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from rlkit.bench.report import machine_description, write_table
from rlkit.bench.timing import best_of

# case -> (env overrides, agent, kind)
CASES: dict[str, tuple[list[str], str, str]] = {
    "football_ppo": (["env=football"], "ppo", "ppo"),
    "football_gnn_dqn": (["env=football", "env.kwargs.representation=graph"], "gnn_dqn", "dqn"),
    "market_making_ppo": (["env=market_making"], "ppo", "ppo"),
    "proc_maze_ppo": (["env=proc_maze"], "ppo", "ppo"),
}
PATHS: tuple[tuple[str, int], ...] = (("dummy", 1), ("dummy", 8), ("batched", 64), ("batched", 256), ("batched", 1024))

PPO_EPOCHS, PPO_MINIBATCH_SHARE, DUMMY_ROLLOUT, BATCHED_N_STEPS = 4, 4, 2048, 64
DQN_REPLAY_RATIO = 16  # replayed samples per collected transition: gnn_dqn's batch 64 every 4 steps


def learning_settings(kind: str, vec_env: str, n_envs: int) -> list[str]:
    """The agent overrides that give ``n_envs`` envs on ``vec_env`` the same learning per env step."""
    if kind == "ppo":
        n_steps = DUMMY_ROLLOUT // n_envs if vec_env == "dummy" else BATCHED_N_STEPS
        rollout = n_steps * n_envs
        return [f"agent.n_steps={n_steps}", f"agent.batch_size={rollout // PPO_MINIBATCH_SHARE}",
                f"agent.n_epochs={PPO_EPOCHS}"]
    if n_envs == 1:  # the agent's own schedule
        return ["agent.train_freq=4", "agent.gradient_steps=1", "agent.batch_size=64"]
    gradient_steps = max(1, n_envs // 64)
    batch = DQN_REPLAY_RATIO * n_envs // gradient_steps
    return ["agent.train_freq=1", f"agent.gradient_steps={gradient_steps}", f"agent.batch_size={batch}",
            "agent.buffer_size=100000", "agent.learning_starts=2048"]


def replay_ratio(kind: str, settings: list[str], n_envs: int) -> float:
    """Samples each collected transition is learned from, read back from the settings (a check that
    the paths are matched): PPO epochs; DQN batch x gradient steps / (train_freq x n_envs)."""
    values = {s.split("=")[0].split(".")[-1]: float(s.split("=")[1]) for s in settings}
    if kind == "ppo":
        return values["n_epochs"]
    return values["batch_size"] * values["gradient_steps"] / (values["train_freq"] * n_envs)


def engine_rate(env_overrides: list[str], n_envs: int, steps: int = 100_000, seed: int = 0) -> float:
    """Game steps per second of the batched engine alone (random actions drawn up front, same-step
    autoreset as SB3 steps it): the part of training a second process could at best take over."""
    from rlkit.config import compose
    from rlkit.environments import make_batched_env

    env = make_batched_env(compose(env_overrides).env, n_envs)
    try:
        env.reset(seed=seed)
        env.action_space.seed(seed)
        batches = [env.action_space.sample() for _ in range(16)]
        for actions in batches[:4]:  # warm-up: compiled kernels, first resets
            env.step(actions)
        calls = max(8, steps // n_envs)

        def all_calls() -> None:
            for call in range(calls):
                env.step(batches[call % len(batches)])

        return calls * n_envs / best_of(all_calls, 1).best
    finally:
        env.close()


def training_rate(summary: dict[str, Any]) -> float:
    """A run's env steps per second of training time (collection plus updates, from summary.json's
    time split): the end-of-run evaluation and checkpoint, the same on every path, left out."""
    split = summary["time_split"]
    return summary["num_timesteps"] / (split["collecting_s"] + split["updating_s"])


def _train(overrides: list[str], work: Path) -> dict[str, Any]:
    from rlkit.bench.runs import train_and_read

    _, summary = train_and_read([*overrides, f"run_dir={work}"])
    return summary


def _steps_for(vec_env: str, n_envs: int, steps_dummy: int, steps_batched: int) -> int:
    return steps_dummy if vec_env == "dummy" else max(steps_batched, BATCHED_N_STEPS * n_envs)  # >= 1 rollout


def _throughput_rows(cases: list[str], repeats: int, steps_dummy: int, steps_batched: int, threads: int,
                     paths: tuple[tuple[str, int], ...] = PATHS) -> list[dict]:
    samples: dict[tuple[str, str, int], list[dict]] = {}
    for _ in range(repeats):
        for case in cases:
            env_overrides, agent, kind = CASES[case]
            for vec_env, n_envs in paths:
                settings = learning_settings(kind, vec_env, n_envs)
                # DQN-style updates dominate (16 replayed samples a step): a quarter of the PPO budget
                steps = _steps_for(vec_env, n_envs, steps_dummy, steps_batched if kind == "ppo" else steps_batched // 4)
                work = Path(tempfile.mkdtemp(prefix="rlkit-throughput-"))
                try:
                    summary = _train([*env_overrides, f"agent={agent}", *settings, f"vec_env={vec_env}",
                                      f"n_envs={n_envs}", f"total_timesteps={steps}", f"threads={threads}",
                                      "eval.every=0", "eval.episodes=1", "checkpoint.every=0",
                                      "checkpoint.replay_buffer=false", "progress_bar=false", "device=cpu"], work / "run")
                finally:
                    shutil.rmtree(work, ignore_errors=True)
                split, rate = summary["time_split"], training_rate(summary)
                samples.setdefault((case, vec_env, n_envs), []).append({
                    "steps": summary["num_timesteps"], "steps_per_s": rate,
                    "update_share": split["updating_s"] / (split["collecting_s"] + split["updating_s"]),
                    "evaluating_s": split["evaluating_s"],
                    "replay_ratio": replay_ratio(kind, settings, n_envs), "settings": " ".join(settings)})
    rows = []
    for (case, vec_env, n_envs), runs in samples.items():
        rates = [r["steps_per_s"] for r in runs]
        engine = engine_rate(CASES[case][0], n_envs) if vec_env == "batched" else None
        rows.append({"case": case, "vec_env": vec_env, "n_envs": n_envs, "threads": threads,
                     "steps": runs[0]["steps"], "steps_per_s": round(statistics.median(rates), 1),
                     "all_steps_per_s": " ".join(f"{r:.0f}" for r in rates),
                     "update_share": round(statistics.median(r["update_share"] for r in runs), 3),
                     # the engine's own time in training: what a second process could hide at best
                     "engine_steps_per_s": round(engine, 1) if engine else None,
                     "engine_share": round(statistics.median(rates) / engine, 3) if engine else None,
                     "samples_per_transition": runs[0]["replay_ratio"], "settings": runs[0]["settings"]})
    return rows


def _parallel_runs_rows(repeats: int, steps: int, n_envs: int) -> list[dict]:
    """Two cores used as DESIGN.md says, by processes: two football PPO runs (seeds 0 and 1) started at
    once, one thread each; their summed training steps per second against one run alone."""
    import json
    import subprocess
    import sys

    settings = learning_settings("ppo", "batched", n_envs)
    rates: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(repeats):
        for count in (1, 2):
            work = Path(tempfile.mkdtemp(prefix="rlkit-parallel-"))
            try:
                processes = [subprocess.Popen(
                    [sys.executable, "-m", "rlkit", "train", "env=football", "agent=ppo", *settings, "vec_env=batched",
                     f"n_envs={n_envs}", f"total_timesteps={steps}", f"seed={seed}", "eval.every=0", "eval.episodes=1",
                     "checkpoint.every=0", "progress_bar=false", "device=cpu", f"run_dir={work / str(seed)}"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for seed in range(count)]
                total = 0.0
                for seed, process in enumerate(processes):
                    _, err = process.communicate()
                    if process.returncode != 0:
                        raise RuntimeError(f"a parallel run failed: {err.decode()[-500:]}")
                    total += training_rate(json.loads((work / str(seed) / "summary.json").read_text()))
                rates[count].append(total)
            finally:
                shutil.rmtree(work, ignore_errors=True)
    return [{"case": "football_ppo", "vec_env": f"batched, {count} run{'s' if count > 1 else ''} at once",
             "n_envs": n_envs, "threads": 1, "steps": steps, "steps_per_s": round(statistics.median(rates[count]), 1),
             "all_steps_per_s": " ".join(f"{r:.0f}" for r in rates[count]), "settings": " ".join(settings)}
            for count in (1, 2)]


def _rllib_rows(steps: int, repeats: int, envs_per_runner: tuple[int, ...]) -> list[dict]:
    """Env steps per second one RLlib env runner samples on football, with 1 env and with the batched
    engine holding ``n`` games (the vector entry point)."""
    import gymnasium as gym

    import envs  # noqa: F401
    from agents.rllib import RLlibPPO
    from rlkit.bench.ray_scaling import _sampling_rate
    from rlkit.ray_cluster import connect

    from omegaconf import OmegaConf

    connect(OmegaConf.create({"address": None, "num_cpus": 2, "num_gpus": 0}), verbose=0)
    rows = []
    for n in envs_per_runner:
        agent = RLlibPPO(gym.make("rlkit/Football-v0"), num_env_runners=1, num_envs_per_env_runner=n,
                         training={"train_batch_size_per_learner": max(4000, 64 * n), "minibatch_size": 128,
                                   "num_epochs": 1})
        try:
            rate = _sampling_rate(agent._algorithm(), 1, max(steps, 64 * n), repeats)
        finally:
            agent.close()
        rows.append({"case": "rllib_ppo_sampling", "vec_env": "rllib " + ("single env" if n == 1 else "batched"),
                     "n_envs": n, "threads": 1, "steps_per_s": round(rate, 1)})
    for row in rows:  # against the runner's single env, today's path
        row["vs_best_dummy"] = round(row["steps_per_s"] / rows[0]["steps_per_s"], 2)
    return rows


def _curves(seeds: int, steps: int, eval_every: int, episodes: int, out_dir: Path, batched_games: int,
            scenario: str) -> list[dict]:
    """Football PPO learning curves, dummy (8 envs) against batched (256 games), same evaluation
    episodes, per-seed rows; the final evaluation is the headline."""
    from rlkit.bench.runs import train_and_read

    per_eval, finals = [], []
    for seed in range(seeds):
        for vec_env, n_envs in (("dummy", 8), ("batched", batched_games)):
            work = Path(tempfile.mkdtemp(prefix="rlkit-curve-"))
            try:
                overrides = ["env=football", f"env.kwargs.scenario={scenario}", "agent=ppo",
                             *learning_settings("ppo", vec_env, n_envs),
                             f"vec_env={vec_env}", f"n_envs={n_envs}", f"total_timesteps={steps}", f"seed={seed}",
                             f"eval.every={eval_every}", f"eval.episodes={episodes}", "checkpoint.every=0",
                             "progress_bar=false", "device=cpu", f"run_dir={work / 'run'}"]
                metrics, summary = train_and_read(overrides)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            for row in metrics.to_dict("records"):
                per_eval.append({"path": f"{vec_env}_{n_envs}", "seed": seed, "timesteps": int(row["timesteps"]),
                                 "mean_return": row["mean_return"], "wall_time_s": row["wall_time_s"]})
            final = metrics.iloc[-1]
            finals.append({"path": f"{vec_env}_{n_envs}", "seed": seed, "timesteps": int(final["timesteps"]),
                           "final_mean_return": float(final["mean_return"]),
                           "scored": float(final.get("scored", float("nan"))),
                           "wall_time_s": summary["wall_time_s"]})
    pd.DataFrame(per_eval).to_csv(out_dir / "curves.csv", index=False)
    pd.DataFrame(finals).to_csv(out_dir / "curve_finals.csv", index=False)
    return finals


def plot_throughput(table: pd.DataFrame, path: Path) -> None:
    """Grouped bars: per case, the one-thread steps/s of every dummy and batched path (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = table[(table["threads"] == 1) & table["vec_env"].isin(["dummy", "batched"])]
    cases = list(dict.fromkeys(rows["case"]))
    paths = list(dict.fromkeys(zip(rows["vec_env"], rows["n_envs"])))
    width = 0.8 / max(len(paths), 1)
    figure, axes = plt.subplots(figsize=(9, 4.5))
    for index, (vec_env, n_envs) in enumerate(paths):
        values = [rows[(rows["case"] == c) & (rows["vec_env"] == vec_env) & (rows["n_envs"] == n_envs)]["steps_per_s"]
                  for c in cases]
        heights = [float(v.iloc[0]) if len(v) else 0.0 for v in values]
        axes.bar([c + (index - (len(paths) - 1) / 2) * width for c in range(len(cases))], heights, width,
                 label=f"{vec_env}, {n_envs} env{'s' if n_envs > 1 else ''}",
                 color=("#b0b0b0", "#707070")[index % 2] if vec_env == "dummy" else plt.cm.Blues(0.45 + 0.18 * index / len(paths)))
    axes.set_yscale("log")
    axes.set_xticks(range(len(cases)), cases)
    axes.set_ylabel("training env steps / s (one thread)")
    axes.set_title("rlkit train: dummy vs batched, same learning per step")
    axes.grid(axis="y", which="both", alpha=0.3)
    axes.legend(fontsize=8, ncol=len(paths))
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def curve_summary(finals: pd.DataFrame) -> list[dict]:
    """Per path: the final evaluation's mean return and score rate over seeds, each with a bootstrap
    95 % interval over seeds, and the mean wall time."""
    from rlkit.bench.intervals import bootstrap_interval

    rows = []
    for path, group in finals.groupby("path"):
        row = {"path": path, "seeds": len(group)}
        for column in ("final_mean_return", "scored"):
            values = group[column].to_numpy(dtype=float)
            low, high = bootstrap_interval(values)
            row.update({column: values.mean(), f"{column}_ci95_low": low, f"{column}_ci95_high": high})
        row["mean_wall_time_s"] = group["wall_time_s"].mean()
        rows.append(row)
    return rows


def _listed(value: Any) -> list:
    """An option given as a list, a tuple, one value or a comma string."""
    if isinstance(value, str):
        return [v for v in value.split(",") if v.strip()]
    return list(value) if isinstance(value, (list, tuple)) else [value]


def run(
    out_dir: Path,
    cases: str = "football_ppo,football_gnn_dqn,market_making_ppo,proc_maze_ppo",
    repeats: int = 3,
    steps_dummy: int = 16384,
    steps_batched: int = 262144,
    two_core: bool = True,
    rllib: bool = True,
    rllib_steps: int = 16384,
    curve_seeds: int = 5,
    curve_steps: int = 200000,
    curve_eval_every: int = 50000,
    curve_episodes: int = 20,
    curve_batched_n_envs: int = 256,
    curve_scenario: str = "academy_empty_goal_close",
    dummy_n_envs: Any = (1, 8),
    batched_n_envs: Any = (64, 256, 1024),
) -> None:
    from rlkit.threads import limit_torch_threads

    limit_torch_threads(1)
    chosen = [str(c).strip() for c in _listed(cases)]
    unknown = sorted(set(chosen) - set(CASES))
    if unknown:
        from rlkit.errors import UserError

        raise UserError(f"unknown throughput case(s) {', '.join(unknown)}; allowed: {', '.join(CASES)}")
    paths = tuple(("dummy", int(n)) for n in _listed(dummy_n_envs)) + tuple(("batched", int(n)) for n in _listed(batched_n_envs))
    rows = _throughput_rows(chosen, repeats, steps_dummy, steps_batched, threads=1, paths=paths)
    if two_core and "football_ppo" in chosen:
        # two ways to use the second core: torch's second thread in the learner, or a second run
        rows += _throughput_rows(["football_ppo"], repeats, steps_dummy, steps_batched, threads=2,
                                 paths=(("batched", 256), ("batched", 1024)))
        limit_torch_threads(1)
        rows += _parallel_runs_rows(repeats, steps_batched, 1024)
    if rllib:
        rows += _rllib_rows(rllib_steps, repeats, (1, 256))
    if rows:  # repeats=0 runs the curves alone
        for row in rows:  # the ratio to today's best path, measured in the same rounds
            if "vs_best_dummy" in row:
                continue
            today = [r["steps_per_s"] for r in rows if r["case"] == row["case"] and r["vec_env"] == "dummy"]
            row["vs_best_dummy"] = round(row["steps_per_s"] / max(today), 2) if today else None
        table = write_table(out_dir, rows, notes=(
            f"# throughput: rlkit train steps/s, dummy vs batched ({machine_description()})\n\n"
            "Median of the interleaved repeats; training time only (collection + updates). PPO: 4 epochs, "
            "minibatch a quarter of each rollout on every path; gnn_dqn: 16 replayed samples per transition."))
        plot_throughput(table, out_dir / "throughput.png")

    if curve_seeds > 0:
        finals = pd.DataFrame(_curves(curve_seeds, curve_steps, curve_eval_every, curve_episodes, out_dir,
                                         curve_batched_n_envs, curve_scenario))
        summary = curve_summary(finals)
        write_table(out_dir, summary, name="curves_summary", notes=(
            f"# football PPO, {curve_scenario}, {curve_steps} steps: final evaluation return ({curve_episodes} episodes, the run's "
            f"evaluation seeds), dummy 8 envs vs batched {curve_batched_n_envs} games; bootstrap 95 % interval over seeds"))
