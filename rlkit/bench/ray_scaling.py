"""Suite ``ray``: RLlib on this machine, through rlkit.

* Sampling throughput of RLlib's env runners with 0 (sampling in the driver), 1 and 2 remote env
  runners: ``sample(num_timesteps)`` on every runner at once, timed after a warm-up; the scaling
  efficiency is ``throughput(2) / (2 * throughput(1))``. Also whole training iterations
  (sampling + PPO update) per second with the same runners.
* The per-iteration overhead rlkit adds to plain RLlib: the same PPO config run as a plain
  ``algo.train()`` loop and as ``rlkit train agent=rllib_ppo`` (TensorBoard, NaN guard, the run
  monitor between iterations; evaluation and checkpoints only at the end, outside the timed
  iterations), rounds interleaved (plain, rlkit, plain, rlkit, ...), medians compared.
* Where torch sees a GPU: learner update throughput with ``num_gpus_per_learner=1`` against the CPU.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rlkit.bench.report import bar_plot, machine_description, write_table
from rlkit.bench.timing import best_of

ENVS = {
    "CartPole-v1": ("CartPole-v1", {}),
    "football": ("rlkit/Football-v0", {"scenario": "academy_3_vs_1_with_keeper", "representation": "simple115v2"}),
}


def _agent(env_name: str, runners: int, envs_per_runner: int, batch: int, **extra: Any) -> Any:
    import gymnasium as gym

    import envs  # noqa: F401
    from agents.rllib import RLlibPPO

    env_id, kwargs = ENVS[env_name]
    training = {"train_batch_size_per_learner": batch, "minibatch_size": 128, "num_epochs": 1}
    return RLlibPPO(gym.make(env_id, **kwargs), num_env_runners=runners,
                    num_envs_per_env_runner=envs_per_runner, training=training, **extra)


def _sampling_rate(algo: Any, runners: int, steps: int, repeats: int) -> float:
    """Env steps per second of all env runners sampling ``steps`` each, at once."""
    def sample(runner: Any) -> int:
        return sum(len(episode) for episode in runner.sample(num_timesteps=steps, random_actions=False))

    group = algo.env_runner_group
    if runners == 0:
        run = lambda: [sample(algo.env_runner)]  # noqa: E731
    else:
        run = lambda: group.foreach_env_runner(sample, local_env_runner=False)  # noqa: E731
    timing = best_of(run, repeats, warmup=1)  # warm-up: connectors, first episodes
    return statistics.median(sum(counts) / seconds for counts, seconds in zip(timing.results, timing.times))


def _sampling_rows(env_names: list[str], steps: int, repeats: int, iterations: int, batch: int) -> list[dict]:
    rows = []
    for env_name in env_names:
        for runners in (0, 1, 2):
            agent = _agent(env_name, runners, 1, batch)
            algo = agent._algorithm()
            rate = _sampling_rate(algo, runners, steps, repeats)
            algo.train()  # warm-up iteration
            start, sampled = time.perf_counter(), agent.num_timesteps
            agent.learn(iterations * batch, reset_num_timesteps=False)
            train_rate = (agent.num_timesteps - sampled) / (time.perf_counter() - start)
            agent.close()
            rows.append({"env": env_name, "env_runners": runners, "sample_steps_per_s": round(rate, 1),
                         "train_steps_per_s": round(train_rate, 1)})
        one = next(r for r in rows if r["env"] == env_name and r["env_runners"] == 1)
        two = next(r for r in rows if r["env"] == env_name and r["env_runners"] == 2)
        for row in (one, two):
            row["sampling_scaling_vs_1_runner"] = round(row["sample_steps_per_s"] / one["sample_steps_per_s"], 3)
        two["scaling_efficiency"] = round(two["sample_steps_per_s"] / (2 * one["sample_steps_per_s"]), 3)
    return rows


def _plain_rllib_iteration(iterations: int, batch: int, seed: int) -> float:
    """Median seconds of ``algo.train()`` in a plain RLlib script with the same config."""
    from ray.rllib.algorithms.ppo import PPOConfig

    config = (PPOConfig().environment("CartPole-v1")
              .env_runners(num_env_runners=1, num_envs_per_env_runner=1)
              .learners(num_learners=0)
              .training(train_batch_size_per_learner=batch, minibatch_size=128, num_epochs=1,
                        lr=3e-4, gamma=0.99, lambda_=0.95, clip_param=0.2, vf_loss_coeff=0.5,
                        entropy_coeff=0.0, grad_clip=0.5)
              .rl_module(model_config={"fcnet_hiddens": [64, 64], "fcnet_activation": "tanh"})
              .debugging(seed=seed, log_level="ERROR"))
    algo = config.build_algo()
    try:
        # one warm-up iteration, as rlkit's first iteration is not timed differently: see below
        return statistics.median(best_of(algo.train, iterations, warmup=1).times)
    finally:
        algo.stop()


def _rlkit_iteration(iterations: int, batch: int, seed: int, work: Path) -> dict[str, float]:
    """Median seconds per iteration of ``rlkit train agent=rllib_ppo`` (and inside train())."""
    from rlkit.config import compose
    from rlkit.train import train

    overrides = ["env=CartPole-v1", "agent=rllib_ppo", f"agent.training.train_batch_size_per_learner={batch}",
                 "agent.training.minibatch_size=128", "agent.training.num_epochs=1", f"seed={seed}",
                 f"total_timesteps={(iterations + 1) * batch}", "eval.every=0", "eval.episodes=1",
                 "checkpoint.every=0", "progress_bar=false", f"run_dir={work / 'run'}", "ray.num_env_runners=1"]
    train(compose(overrides), overrides, announce=lambda _: None)
    return json.loads((work / "run" / "summary.json").read_text())["timing"]


def _overhead_rows(rounds: int, iterations: int, batch: int, seed: int) -> list[dict]:
    plain, rlkit, inside = [], [], []
    for _ in range(rounds):
        plain.append(_plain_rllib_iteration(iterations, batch, seed))
        work = Path(tempfile.mkdtemp(prefix="rlkit-bench-ray-"))
        try:
            timing = _rlkit_iteration(iterations, batch, seed, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        rlkit.append(timing["median_iteration_s"])
        inside.append(timing["median_train_call_s"])
    plain_s, rlkit_s, inside_s = statistics.median(plain), statistics.median(rlkit), statistics.median(inside)
    return [{
        "comparison": f"PPO CartPole-v1, batch {batch}, 1 env runner",
        "plain_rllib_s_per_iteration": round(plain_s, 4), "rlkit_s_per_iteration": round(rlkit_s, 4),
        "overhead_vs_plain": round(rlkit_s / plain_s - 1.0, 4),
        "rlkit_inside_train_s": round(inside_s, 4),
        "wrapper_overhead_same_run": round(rlkit_s / inside_s - 1.0, 4),
        "plain_all_s": " ".join(f"{t:.3f}" for t in plain), "rlkit_all_s": " ".join(f"{t:.3f}" for t in rlkit),
    }]


def _gpu_rows(batch: int, iterations: int) -> list[dict]:
    import torch

    if not torch.cuda.is_available():
        return []
    rows = []
    for gpus in (0, 1):
        agent = _agent("CartPole-v1", 1, 1, batch, num_gpus_per_learner=gpus)
        agent.learn(batch)
        agent.learn(iterations * batch, reset_num_timesteps=False)
        timing = agent.timing_summary()
        agent.close()
        rows.append({"learner": "GPU" if gpus else "CPU", "batch": batch,
                     "median_iteration_s": timing["median_iteration_s"]})
    return rows


def run(
    out_dir: Path,
    envs: list = ["CartPole-v1", "football"],  # noqa: B006  (a bench option's default)
    sample_steps: int = 4000,
    repeats: int = 3,
    train_iterations: int = 5,
    batch: int = 2000,
    overhead_rounds: int = 3,
    overhead_iterations: int = 10,
    seed: int = 0,
    num_cpus: int = 2,
) -> None:
    import ray

    from rlkit.threads import limit_torch_threads

    unknown = [name for name in envs if name not in ENVS]
    if unknown:
        from rlkit.errors import UserError

        raise UserError(f"unknown env {unknown[0]!r} for suite ray; allowed: {', '.join(ENVS)}")
    limit_torch_threads(1)
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    try:
        sampling = _sampling_rows(list(envs), sample_steps, repeats, train_iterations, batch)
        overhead = _overhead_rows(overhead_rounds, overhead_iterations, batch, seed)
        gpu = _gpu_rows(batch * 4, train_iterations)
    finally:
        ray.shutdown()
    machine = machine_description()
    write_table(out_dir, sampling, name="sampling", notes=(
        f"# RLlib PPO sampling with 0/1/2 env runners ({machine}, Ray with {num_cpus} CPUs)\n\n"
        f"sample_steps_per_s: every runner samples {sample_steps} steps at once (median of {repeats}); "
        f"train_steps_per_s: whole iterations (sampling + PPO update, batch {batch}). "
        "scaling_efficiency = rate(2) / (2 x rate(1))."))
    write_table(out_dir, overhead, name="overhead", notes=(
        f"# rlkit train agent=rllib_ppo vs a plain RLlib loop, seconds per iteration ({machine})\n\n"
        f"Median over {overhead_rounds} interleaved rounds of the median of {overhead_iterations} iterations."))
    if gpu:
        write_table(out_dir, gpu, name="gpu", notes="# learner on GPU vs CPU (PPO CartPole-v1)")
    labels = [f"{r['env']}: {r['env_runners']} runner(s)" for r in sampling]
    bar_plot(out_dir / "sampling.png", labels, [r["sample_steps_per_s"] for r in sampling], "env steps / s",
             "RLlib env runner sampling throughput")
