"""A training run: what it writes, that its figures are real, reproducibility, resume, NaN guard,
multirun."""

import csv
import json
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from agents.sb3 import DQN, PPO
from fast_settings import FAST_DQN, FAST_PPO


def metrics(run: Path) -> list[dict]:
    with (run / "metrics.csv").open() as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(run / "tb"))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_a_run_writes_config_tensorboard_checkpoints_metrics_and_summary(train_run):
    run = train_run("env=CartPole-v1", *FAST_PPO, "total_timesteps=512", "eval.every=256",
                    "checkpoint.every=128")
    saved = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
    assert saved["agent"]["n_steps"] == 64 and saved["env"]["id"] == "CartPole-v1"
    assert "total_timesteps=512" in yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text())

    tags = scalars(run)
    assert [step for step, _ in tags["eval/mean_return"]] == [256, 512]
    assert any(tag.startswith("train/") for tag in tags) and "rollout/ep_rew_mean" in tags

    rows = metrics(run)
    assert [row["timesteps"] for row in rows] == [256, 512]
    assert [value for _, value in tags["eval/mean_return"]] == pytest.approx([r["mean_return"] for r in rows])

    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["num_timesteps"] == 512
    assert summary["best_eval"]["mean_return"] == max(r["mean_return"] for r in rows)

    checkpoints = run / "checkpoints"
    assert (checkpoints / "latest").is_symlink() and (checkpoints / "best").is_symlink()
    assert json.loads((checkpoints / "latest" / "state.json").read_text())["num_timesteps"] == 512
    assert json.loads((checkpoints / "best" / "state.json").read_text())["num_timesteps"] == summary["best_eval"]["timesteps"]


def test_the_best_checkpoint_replays_to_the_recorded_return(train_run):
    run = train_run("env=CartPole-v1", *FAST_PPO, "total_timesteps=512", "eval.every=256", "eval.episodes=3")
    best = max(metrics(run), key=lambda row: row["mean_return"])
    agent = PPO.load(run / "checkpoints" / "best" / "agent.zip", device="cpu")
    env, returns = gym.make("CartPole-v1"), []
    for episode in range(3):  # rlkit's evaluation seeds: seed + 1_000_000 + episode
        observation, _ = env.reset(seed=1_000_000 + episode)
        total, done = 0.0, False
        while not done:
            observation, reward, terminated, truncated, _ = env.step(agent.predict(observation, deterministic=True)[0])
            total, done = total + reward, terminated or truncated
        returns.append(total)
    assert np.mean(returns) == pytest.approx(best["mean_return"])


def test_evaluate_command_reports_the_replayed_return(train_run, cli):
    run = train_run("env=CartPole-v1", *FAST_PPO, "total_timesteps=256", "eval.every=256", "eval.episodes=3")
    code, out, _ = cli("evaluate", f"run={run}", "episodes=3", "checkpoint=latest")
    assert code == 0
    expected = metrics(run)[-1]
    assert f"return {expected['mean_return']:.2f} ± {expected['std_return']:.2f}" in out
    assert out.startswith("3 episodes (latest checkpoint, step 256)")


def test_the_same_seed_gives_the_same_evaluations(train_run):
    args = ("env=CartPole-v1", *FAST_PPO, "total_timesteps=384", "eval.every=128", "eval.episodes=3")
    first, second = metrics(train_run(*args, "seed=7")), metrics(train_run(*args, "seed=7"))
    other = metrics(train_run(*args, "seed=8"))
    strip = lambda rows: [{k: v for k, v in r.items() if k != "wall_time_s"} for r in rows]  # noqa: E731
    assert strip(first) == strip(second)
    assert strip(first) != strip(other)


def test_resume_continues_counter_curve_and_replay_buffer(train_run, cli):
    run = train_run("env=CartPole-v1", *FAST_DQN, "total_timesteps=384", "eval.every=192", "checkpoint.every=192")
    assert DQN.load(run / "checkpoints" / "latest" / "agent.zip").num_timesteps == 384
    code, _, err = cli("train", f"resume={run}", "total_timesteps=768", "progress_bar=false")
    assert code == 0, err

    assert [row["timesteps"] for row in metrics(run)] == [192, 384, 576, 768]
    # one curve: the resumed run's event file continues the steps (TensorBoard orders by step;
    # files written within the same second may be read in either order)
    steps = [step for step, _ in scalars(run)["eval/mean_return"]]
    assert sorted(steps) == [192, 384, 576, 768]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["num_timesteps"] == 768 and summary["resumed_from"] == 384

    # the buffer holds both runs' transitions only if the first run's buffer was restored
    agent = DQN.load(run / "checkpoints" / "latest" / "agent.zip", device="cpu")
    agent.load_replay_buffer(run / "checkpoints" / "latest" / "replay_buffer.npz")
    assert agent.replay_buffer.size() == 768
    assert agent.num_timesteps == 768
    resumes = yaml.safe_load((run / ".hydra" / "resumes.yaml").read_text())
    assert resumes[0]["from_timestep"] == 384


def test_resume_of_a_finished_run_asks_for_more_steps(train_run, cli):
    run = train_run("env=CartPole-v1", *FAST_PPO, "total_timesteps=128", "eval.every=128")
    code, _, err = cli("train", f"resume={run}")
    assert code == 2 and "already ran 128 of total_timesteps=128" in err
    code, _, err = cli("train", f"resume={run}", "agent.learning_rate=1")
    assert code == 2 and "agent settings cannot change here" in err


def test_an_interrupted_run_keeps_a_checkpoint_and_resumes(train_run, cli):
    run = train_run("env=rlkit-test/BadInterrupt-v0", "env.kwargs.after=150", *FAST_PPO,
                    "total_timesteps=512", "eval.every=0", "checkpoint.every=0", expect=130)
    first = json.loads((run / "summary.json").read_text())
    assert first["status"] == "interrupted" and 0 < first["num_timesteps"] < 512
    state = json.loads((run / "checkpoints" / "latest" / "state.json").read_text())
    assert state["num_timesteps"] == first["num_timesteps"]

    code, out, _ = cli("train", f"resume={run}", "progress_bar=false")  # the new env interrupts again
    second = json.loads((run / "summary.json").read_text())
    assert code == 130 and "continue with: rlkit train resume=" in out
    assert second["resumed_from"] == first["num_timesteps"] < second["num_timesteps"]


@pytest.mark.parametrize("what", ["observation", "reward"])
def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(train_run, cli, capsys, what):
    run = train_run(f"env=rlkit-test/Bad{what.title()}-v0", "env.kwargs.after=300", *FAST_PPO,
                    "total_timesteps=2000", "eval.every=0", "checkpoint.every=128", expect=2)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "stopped" and "NaN or infinity" in summary["stop_reason"]
    assert summary["num_timesteps"] < 2000
    latest = run / "checkpoints" / "latest"
    assert json.loads((latest / "state.json").read_text())["num_timesteps"] <= 300
    agent = PPO.load(latest / "agent.zip", device="cpu")
    assert all(np.isfinite(p.detach().numpy()).all() for p in agent.policy.parameters())


def test_multirun_makes_one_directory_per_job(cli, runs_root):
    code, out, err = cli("train", "-m", "seed=0,1,2", "env=CartPole-v1", *FAST_PPO, "total_timesteps=64",
                         "eval.every=0", "progress_bar=false", "eval.episodes=1", f"runs_root={runs_root}")
    assert code == 0, err
    [root] = list((runs_root / "multirun").glob("*/*"))
    jobs = yaml.safe_load((root / "multirun.yaml").read_text())
    assert [job["overrides"][0] for job in jobs] == ["seed=0", "seed=1", "seed=2"]
    seeds = [yaml.safe_load((Path(job["run_dir"]) / ".hydra" / "config.yaml").read_text())["seed"] for job in jobs]
    assert seeds == [0, 1, 2]
    assert all((Path(job["run_dir"]) / "summary.json").is_file() for job in jobs)


def test_subprocess_vectorisation_trains_with_several_envs(train_run):
    run = train_run("env=CartPole-v1", *FAST_PPO, "n_envs=2", "vec_env=subproc", "total_timesteps=256",
                    "eval.every=0")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["num_timesteps"] == 256


def test_training_counts_the_violations_the_env_reports(train_run):
    run = train_run("env=rlkit-test/ReportsViolations-v0", *FAST_PPO, "total_timesteps=256", "eval.every=128")
    rows = metrics(run)
    assert 0 < rows[0]["train_violations"] <= rows[1]["train_violations"] <= 256
    assert all(row["violations_per_episode"] <= row["mean_length"] for row in rows)
    assert "eval/violations_per_episode" in scalars(run)


def test_a_run_checkpoints_tensors_arrays_and_json_only(train_run):
    run = train_run("env=CartPole-v1", *FAST_DQN, "total_timesteps=128", "eval.every=128")
    latest = run / "checkpoints" / "latest"
    assert sorted(p.name for p in latest.iterdir()) == ["agent.zip", "replay_buffer.npz", "state.json"]
    with zipfile.ZipFile(latest / "agent.zip") as archive:
        assert sorted(archive.namelist()) == ["meta.json", "tensors.safetensors"]
        assert all(not archive.read(name).startswith(b"\x80") for name in archive.namelist())  # pickle protocol 2+
    with np.load(latest / "replay_buffer.npz", allow_pickle=False) as arrays:
        assert arrays["actions"].shape[0] == 128


def test_a_checkpoint_of_an_older_rlkit_is_refused_in_one_line(train_run, cli):
    import stable_baselines3

    run = train_run("env=CartPole-v1", *FAST_DQN, "total_timesteps=128", "eval.every=128")
    latest = (run / "checkpoints" / "latest").resolve()
    resume = ("train", f"resume={run}", "total_timesteps=256", "progress_bar=false")

    # the replay buffer as rlkit saved it before: a pickle (never opened, so any bytes do)
    (latest / "replay_buffer.npz").rename(latest / "replay_buffer.pkl")
    code, _, err = cli(*resume)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "replay_buffer.pkl was written by an older rlkit" in err and "retrain" in err

    # the agent as rlkit saved it before: SB3's zip, whose "data" member is unpickled on load
    stable_baselines3.DQN.save(DQN.load(latest / "agent.zip", device="cpu"), latest / "agent.zip")
    for command in (("evaluate", f"run={run}", "episodes=1", "checkpoint=latest"), resume):
        code, _, err = cli(*command)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "agent.zip was written by an older rlkit" in err and "retrain" in err


@pytest.mark.parametrize("agent", [["agent=a2c"], FAST_PPO, ["agent=sac", "agent.learning_starts=64"]])
def test_weights_blown_up_inside_the_agent_stop_the_run_with_a_checkpoint(train_run, cli, agent):
    # at learning_rate 1e10 the first update makes the weights non-finite; SB3's action
    # distribution then raises ValueError before any callback sees them
    run = train_run("env=Pendulum-v1", *agent, "agent.learning_rate=1e10", "total_timesteps=3000",
                    "eval.every=0", "checkpoint.every=0", expect=2)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "stopped"
    assert "non-finite" in summary["stop_reason"] or "NaN or infinity" in summary["stop_reason"]
    assert summary["num_timesteps"] < 3000
    latest = run / "checkpoints" / "latest"
    state = json.loads((latest / "state.json").read_text())
    assert state["num_timesteps"] == 0  # the checkpoint written before the first update
    assert zipfile.ZipFile(latest / "agent.zip").namelist()


def test_an_error_torch_raises_while_building_the_agent_is_a_user_error():
    from omegaconf import OmegaConf

    from rlkit.errors import UserError
    from rlkit.train import build_agent

    class RefusedByTorch:  # as SB3 with net_arch=[-1]: torch refuses a layer of width -1
        def __init__(self, **settings):
            raise RuntimeError("Trying to create tensor with negative dimension -1:\n [-1, 4]")

    cfg = OmegaConf.create({"seed": 0, "device": "cpu", "verbose": 0, "agent": {"name": "ppo", "factory": "x"},
                            "ray": {}})
    with pytest.raises(UserError, match=r"^agent ppo rejected its configuration: Trying to create tensor "
                                        r"with negative dimension -1: \[-1, 4\]$"):
        build_agent(RefusedByTorch, cfg, env=None)


def test_a_truncated_replay_buffer_is_refused_in_one_line(train_run, cli):
    run = train_run("env=CartPole-v1", *FAST_DQN, "total_timesteps=128", "eval.every=128")
    buffer = run / "checkpoints" / "latest" / "replay_buffer.npz"
    buffer.write_bytes(buffer.read_bytes()[:100])
    code, _, err = cli("train", f"resume={run}", "total_timesteps=256", "progress_bar=false")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "cannot load the replay buffer" in err and not (run / ".lock").exists()


@pytest.mark.parametrize("state", ["[1]", '{"evaluations": 1}'])
def test_a_checkpoint_state_without_num_timesteps_is_refused_in_one_line(train_run, cli, state):
    run = train_run("env=CartPole-v1", *FAST_PPO, "total_timesteps=128", "eval.every=128")
    (run / "checkpoints" / "latest" / "state.json").write_text(state)
    for command in (("train", f"resume={run}", "total_timesteps=256", "progress_bar=false"),
                    ("evaluate", f"run={run}", "episodes=1")):
        code, _, err = cli(*command)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "must be a JSON object with num_timesteps" in err
    assert not (run / ".lock").exists()
