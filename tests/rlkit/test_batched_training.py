"""vec_env=batched: a family's batched engine behind SB3's VecEnv steps exactly as DummyVecEnv over
the single envs (autoresets, terminal_observation, TimeLimit.truncated, episode records), and a run on
it trains, evaluates, checkpoints and resumes as with dummy; bad requests end with one line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from batched_equality import same
from fast_settings import FAST_PPO
from rlkit.config import compose
from rlkit.environments import envs_with_batched_engines, make_training_env

# (overrides, steps): each env with a batched engine, stepped long enough for several episode ends
FAMILIES = {
    "football": (["env=football"], 200),
    "football_graph": (["env=football", "env.kwargs.representation=graph"], 120),
    "proc_maze": (["env=proc_maze", "env.kwargs.teleport_prob=0.1"], 150),
    "button_grid": (["env=button_grid", "env.kwargs.grid_size=4"], 120),
    "pan_flute": (["env=pan_flute"], 120),
    "cstr_safe": (["env=cstr_safe"], 130),
    "pendulum_clipped": (["env=pendulum_clipped"], 210),
    "car_hybrid_planned": (["env=car_hybrid_planned"], 400),
    "market_making": (["env=market_making", "env.kwargs.synthetic_days=2", "env.kwargs.session_seconds=600.0", "env.kwargs.episode_seconds=20.0"], 150),
}


def batch_of_actions(space, rng: np.random.Generator, n: int) -> np.ndarray:
    if hasattr(space, "n"):
        return rng.integers(0, space.n, size=n)
    return rng.uniform(space.low, space.high, size=(n, *space.shape)).astype(space.dtype)


def vec_envs(overrides: list[str], n: int, seed: int):
    cfg = compose(overrides)
    return (make_training_env(cfg.env, n, "dummy", seed=seed), make_training_env(cfg.env, n, "batched", seed=seed))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_batched_vec_env_steps_as_dummy_vec_env(family):
    overrides, steps = FAMILIES[family]
    dummy, batched = vec_envs(overrides, n=3, seed=5)
    try:
        assert same(dummy.reset(), batched.reset())
        rng, ends = np.random.default_rng(1), 0
        for t in range(steps):
            actions = batch_of_actions(dummy.action_space, rng, 3)
            dummy.step_async(actions)
            batched.step_async(actions)
            (o1, r1, d1, i1), (o2, r2, d2, i2) = dummy.step_wait(), batched.step_wait()
            assert same(o1, o2) and np.array_equal(r1, r2) and np.array_equal(d1, d2), f"step {t}"
            for game in np.flatnonzero(d1):
                ends += 1
                assert same(i1[game]["terminal_observation"], i2[game]["terminal_observation"])
                assert i1[game]["TimeLimit.truncated"] == i2[game]["TimeLimit.truncated"]
                # SB3's VecMonitor sums the float32 rewards in float32, Monitor the env's floats in float64
                assert i1[game]["episode"]["r"] == pytest.approx(i2[game]["episode"]["r"], rel=1e-6, abs=1e-5)
                assert i1[game]["episode"]["l"] == i2[game]["episode"]["l"]
        assert ends >= 2
    finally:
        dummy.close()
        batched.close()


def test_batched_vec_env_answers_shared_attributes_from_a_single_env():
    _, batched = vec_envs(["env=football"], n=4, seed=0)
    try:
        unwrapped = batched.get_attr("unwrapped", indices=[0, 1])
        assert len(unwrapped) == 2 and type(unwrapped[0]).__name__ == "FootballEnv"
        assert batched.env_method("get_wrapper_attr", "spec", indices=[0])[0].id == "rlkit/Football-v0"
        assert batched.env_is_wrapped(object) == [False] * 4
        with pytest.raises(AttributeError, match="no method 'kick'"):
            batched.env_method("kick")
    finally:
        batched.close()


def metrics(run: Path) -> list[dict]:
    with (run / "metrics.csv").open() as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def test_ppo_on_a_batched_engine_evaluates_checkpoints_and_resumes(train_run, cli):
    args = ("env=football", "vec_env=batched", "n_envs=16", *FAST_PPO, "agent.batch_size=256",
            "eval.every=1024", "checkpoint.every=1024")
    run = train_run(*args, "total_timesteps=2048")
    assert [row["timesteps"] for row in metrics(run)] == [1024, 2048]
    events = EventAccumulator(str(run / "tb"))
    events.Reload()
    tags = events.Tags()["scalars"]  # SB3's episode records come through VecMonitor
    assert {"rollout/ep_rew_mean", "rollout/ep_len_mean", "eval/mean_return", "train/loss"} <= set(tags)
    assert json.loads((run / "checkpoints" / "latest" / "state.json").read_text())["num_timesteps"] == 2048

    code, _, err = cli("train", f"resume={run}", "total_timesteps=3072", "progress_bar=false")
    assert code == 0, err
    assert [row["timesteps"] for row in metrics(run)] == [1024, 2048, 3072]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["num_timesteps"] == 3072 and summary["resumed_from"] == 2048

    code, out, _ = cli("evaluate", f"run={run}", "episodes=2", "checkpoint=latest")
    assert code == 0 and out.startswith("2 episodes (latest checkpoint, step 3072)")


def test_off_policy_graph_agent_trains_on_a_batched_engine_with_its_replay_buffer(train_run, cli):
    run = train_run("env=football", "env.kwargs.representation=graph", "agent=gnn_dqn", "vec_env=batched",
                    "n_envs=8", "agent.learning_starts=64", "agent.train_freq=8", "agent.gradient_steps=2",
                    "agent.buffer_size=4000", "agent.batch_size=32", "total_timesteps=512", "eval.every=0",
                    "eval.episodes=1")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["num_timesteps"] == 512
    code, _, err = cli("train", f"resume={run}", "total_timesteps=768", "progress_bar=false")
    assert code == 0, err
    assert json.loads((run / "summary.json").read_text())["num_timesteps"] == 768


@pytest.mark.parametrize("overrides, message", [
    (["env=football", "agent=er_dqn"], "vec_env=batched: agent er_dqn cannot use a batched env"),
    (["env=football", "agent=rllib_ppo"], "ray.num_envs_per_env_runner=N runs the batched engine"),
    (["env=cartpole"], "env cartpole has no batched engine"),
    (["env=football", "n_envs=0"], "n_envs must be at least 1"),
    (["env=football", "n_envs=1.5"], "wrong type for n_envs"),
])
def test_bad_batched_requests_end_with_one_line(cli, runs_root, overrides, message):
    code, _, err = cli("train", "vec_env=batched", f"run_dir={runs_root / 'bad'}", "progress_bar=false", *overrides)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (runs_root / "bad").exists()


def test_the_no_engine_message_names_the_envs_that_have_one():
    assert "football" in envs_with_batched_engines() and "cartpole" not in envs_with_batched_engines()


def test_td3_on_batched_control_counts_violations_and_resumes_its_replay_buffer(train_run, cli):
    from agents.sb3 import TD3

    args = ("env=cstr_safe", "agent=td3", "vec_env=batched", "n_envs=4", "agent.learning_starts=64",
            "agent.policy_kwargs.net_arch=[32,32]", "eval.every=0", "eval.episodes=1")
    run = train_run(*args, "total_timesteps=256")
    assert metrics(run)[-1]["train_violations"] > 0  # the uncontrolled reactor leaves the safety band
    code, _, err = cli("train", f"resume={run}", "total_timesteps=512", "progress_bar=false")
    assert code == 0, err
    agent = TD3.load(run / "checkpoints" / "latest" / "agent.zip", device="cpu")
    agent.load_replay_buffer(run / "checkpoints" / "latest" / "replay_buffer.npz")
    assert agent.num_timesteps == 512 and agent.replay_buffer.size() * agent.replay_buffer.n_envs == 512
