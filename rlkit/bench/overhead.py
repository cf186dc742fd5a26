"""Suite ``overhead``: what rlkit costs on top of stable-baselines3.

Two like-for-like pairs, run interleaved (A, B, A, B, ...) in one process so the machine's state
is shared, the median of ``repeats`` taken:

* ``bare``: ``PPO(...).learn(steps)`` alone, against ``rlkit train`` with evaluation and
  checkpoints only at the end (1 episode) -- rlkit's fixed costs (config, run directory,
  TensorBoard, NaN guard, one checkpoint).
* ``full``: the SB3 script a user writes for the same outputs (TensorBoard, EvalCallback every
  ``eval_every`` steps with 10 episodes, CheckpointCallback, final save), against ``rlkit train``
  with the same evaluation and checkpoint schedule.

Both sides use the same env, seed, steps and hyper-parameters (SB3's PPO defaults) and one
thread. Also measured: the start-up time of ``rlkit --help`` in a fresh process.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rlkit.bench.report import bar_plot, machine_description, write_table
from rlkit.bench.timing import best_of


def _plain_sb3(steps: int, n_steps: int, seed: int, work: Path, eval_every: int | None) -> float:
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import CheckpointCallback, EvalCallback
    from stable_baselines3.common.env_util import make_vec_env

    start = time.perf_counter()
    env = make_vec_env("CartPole-v1", n_envs=1, seed=seed)
    callbacks = []
    if eval_every is not None:
        callbacks = [
            EvalCallback(make_vec_env("CartPole-v1", n_envs=1, seed=seed + 1), n_eval_episodes=10,
                         eval_freq=eval_every, best_model_save_path=str(work / "best"), verbose=0),
            CheckpointCallback(save_freq=eval_every, save_path=str(work / "checkpoints"), save_replay_buffer=True),
        ]
    model = PPO("MlpPolicy", env, n_steps=n_steps, seed=seed, device="cpu",
                tensorboard_log=str(work / "tb") if eval_every is not None else None)
    model.learn(steps, callback=callbacks or None)
    if eval_every is not None:
        model.save(work / "final")
    env.close()
    return time.perf_counter() - start


def _rlkit(steps: int, n_steps: int, seed: int, work: Path, eval_every: int | None) -> float:
    from rlkit.config import compose
    from rlkit.train import train

    overrides = [
        "env=CartPole-v1", "agent=ppo", f"agent.n_steps={n_steps}", f"seed={seed}", f"total_timesteps={steps}",
        "progress_bar=false", "device=cpu", f"run_dir={work / 'run'}",
        f"eval.every={eval_every or 0}", f"checkpoint.every={eval_every or 0}",
        f"eval.episodes={10 if eval_every else 1}",
    ]
    start = time.perf_counter()
    train(compose(overrides), overrides, announce=lambda _: None)
    return time.perf_counter() - start


def _startup_seconds(command: list[str], repeats: int) -> float:
    return statistics.median(best_of(lambda: subprocess.run(command, check=True, capture_output=True), repeats).times)


def run(
    out_dir: Path,
    steps: int = 8192,
    repeats: int = 3,
    seed: int = 0,
    eval_every: int = 2048,
    n_steps: int = 2048,
    startup_repeats: int = 5,
) -> None:
    from rlkit.threads import limit_torch_threads

    limit_torch_threads(1)
    rows, labels, medians = [], [], []
    for pair, every in (("bare", None), ("full", eval_every)):
        times: dict[str, list[float]] = {"sb3": [], "rlkit": []}
        for _ in range(repeats):
            for side, function in (("sb3", _plain_sb3), ("rlkit", _rlkit)):
                work = Path(tempfile.mkdtemp(prefix=f"rlkit-overhead-{side}-"))
                try:
                    times[side].append(function(steps, n_steps, seed, work, every))
                finally:
                    shutil.rmtree(work, ignore_errors=True)
        sb3, rlkit = statistics.median(times["sb3"]), statistics.median(times["rlkit"])
        rows.append({
            "comparison": pair, "steps": steps, "repeats": repeats,
            "sb3_s": sb3, "rlkit_s": rlkit, "ratio": rlkit / sb3,
            "sb3_all_s": " ".join(f"{t:.2f}" for t in times["sb3"]),
            "rlkit_all_s": " ".join(f"{t:.2f}" for t in times["rlkit"]),
        })
        labels += [f"{pair}: SB3", f"{pair}: rlkit"]
        medians += [sb3, rlkit]

    rlkit_command = shutil.which("rlkit")
    help_command = [rlkit_command, "--help"] if rlkit_command else [sys.executable, "-m", "rlkit", "--help"]
    python_start = _startup_seconds([sys.executable, "-c", "pass"], startup_repeats)
    help_start = _startup_seconds(help_command, startup_repeats)
    rows.append({"comparison": "startup: rlkit --help", "sb3_s": python_start,
                 "rlkit_s": help_start, "ratio": help_start / python_start,
                 "steps": 0, "repeats": startup_repeats, "sb3_all_s": "python -c pass", "rlkit_all_s": ""})
    notes = (
        f"# overhead: rlkit train vs plain SB3 PPO on CartPole-v1 ({machine_description()})\n\n"
        "ratio = rlkit_s / sb3_s (median over repeats, interleaved). The startup row compares "
        "`rlkit --help` with `python -c pass`."
    )
    write_table(out_dir, rows, notes=notes)
    bar_plot(out_dir / "overhead.png", labels, medians, "seconds (median)",
             f"PPO CartPole-v1, {steps} steps: SB3 vs rlkit")
