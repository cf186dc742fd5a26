"""``rlkit train`` on Ray: RLlib agents, runs and multirun trials as Ray tasks, an ASHA sweep, the
run directory they write, resuming after the driver died, and the errors for bad input. On a real
local Ray with 2 CPUs, started once for the module (the CLI connects to it)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray
import yaml

from fast_settings import FAST_PPO, QUIET

RLLIB_PPO = ["agent=rllib_ppo", "agent.training.train_batch_size_per_learner=200",
             "agent.training.minibatch_size=100", "agent.training.num_epochs=1"]


@pytest.fixture(scope="module")
def local_ray():
    ray.shutdown()  # a test before may have connected the CLI to a default-sized local Ray
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _scalars(tb_dir: Path) -> set[str]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = set()
    for events in tb_dir.glob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(events))
        accumulator.Reload()
        tags |= set(accumulator.Tags()["scalars"])
    return tags


# -- bad input: no Ray needed ------------------------------------------------------------------
def test_unreachable_address_fails_within_seconds(cli):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = time.monotonic()
    code, _, err = cli("train", "env=CartPole-v1", *RLLIB_PPO, f"ray.address=127.0.0.1:{port}")
    assert code == 2 and time.monotonic() - start < 10
    assert f"ray.address='127.0.0.1:{port}' is unreachable" in err and "ray start --head" in err
    code, _, err = cli("train", "env=CartPole-v1", "agent=ppo", "backend=ray", "ray.address=head:port")
    assert code == 2 and "is not an address" in err


def test_an_algorithm_that_cannot_act_is_refused_before_ray_starts(cli, monkeypatch):
    import rlkit.ray_cluster

    def no_ray(*_, **__):
        raise AssertionError("Ray was started for a refused run")

    monkeypatch.setattr(rlkit.ray_cluster, "connect", no_ray)
    code, _, err = cli("train", "env=Pendulum-v1", "agent=rllib_dqn")
    assert code == 2
    assert "agent rllib_dqn cannot act in env Pendulum-v1" in err and "it supports Discrete" in err
    code, _, err = cli("train", "env=CartPole-v1", "agent=rllib_gnn_ppo")
    assert code == 2 and "graph observations" in err


def test_bad_ray_settings_are_named(cli, monkeypatch):
    import rlkit.ray_cluster

    monkeypatch.setattr(rlkit.ray_cluster, "connect", lambda *_, **__: pytest.fail("Ray was started"))
    for override, message in (("backend=slurm", "backend='slurm' is not allowed; allowed: local, ray"),
                              ("ray.scheduler=pbt", "ray.scheduler='pbt' is not allowed; allowed: null, asha"),
                              ("ray.num_env_runners=-1", "ray.num_env_runners must be 0 or more"),
                              ("agent.training.no_such=1", "unknown training setting")):
        code, _, err = cli("train", "env=CartPole-v1", "agent=rllib_ppo", override)
        assert code == 2 and message in err, (override, err)


def test_trial_resources(local_ray):
    from rlkit.config import compose
    from rlkit.distributed import _check_fits, trial_bundles
    from rlkit.errors import UserError

    assert trial_bundles(compose(["agent=ppo", "ray.trial_cpus=2"])) == [{"CPU": 2.0}]
    rllib = compose(["agent=rllib_ppo", "ray.num_env_runners=2", "ray.trial_gpus=0.5"])
    assert trial_bundles(rllib) == [{"CPU": 1.0, "GPU": 0.5}, {"CPU": 1.0}, {"CPU": 1.0}]
    with pytest.raises(UserError, match="one trial needs CPU=3, GPU=0.5 but the Ray cluster has CPU=2, GPU=0"):
        _check_fits(trial_bundles(rllib), ray.cluster_resources(), local=True)


# -- runs on the module's local Ray ------------------------------------------------------------
def test_rllib_run_writes_the_run_directory_and_resumes(train_run, cli, local_ray):
    run = train_run("env=CartPole-v1", *RLLIB_PPO, "total_timesteps=400", "eval.every=200",
                    "checkpoint.every=200", "ray.num_env_runners=1")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["num_timesteps"] >= 400
    assert summary["versions"]["ray"] == ray.__version__
    assert (run / ".hydra" / "config.yaml").is_file()
    rows = (run / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + 2  # header, evaluations at 200 and 400
    tags = _scalars(run / "tb")
    assert {"rollout/ep_rew_mean", "train/total_loss", "ray/healthy_env_runners", "eval/mean_return"} <= tags
    latest = run / "checkpoints" / "latest"
    assert (latest / "agent.zip").is_file()
    code, out, err = cli("train", f"resume={run}", "total_timesteps=800", "ray.num_env_runners=2")
    assert code == 0, err
    resumed = json.loads((run / "summary.json").read_text())
    assert resumed["resumed_from"] == summary["num_timesteps"] and resumed["num_timesteps"] >= 800
    code, out, err = cli("evaluate", f"run={run}", "episodes=2")
    assert code == 0 and "2 episodes" in out, err


def test_multirun_trials_as_ray_tasks_equal_local_runs(cli, runs_root, local_ray):
    common = ["env=CartPole-v1", *FAST_PPO, *QUIET, "total_timesteps=256", "eval.every=128"]
    root = runs_root / "fanout"
    code, out, err = cli("train", "-m", "seed=0,1", *common, "backend=ray", f"run_dir={root}")
    assert code == 0, err
    assert "[trial 0] seed=0: completed" in out and "[trial 1] seed=1: completed" in out
    listing = yaml.safe_load((root / "multirun.yaml").read_text())
    assert [job["job"] for job in listing] == [0, 1]
    local = runs_root / "local"
    code, _, err = cli("train", *common, "seed=1", f"run_dir={local}")
    assert code == 0, err
    # the same seed gives the same run, wherever it ran
    assert (root / "1_CartPole-v1_ppo" / "metrics.csv").read_text().split("\n")[1].split(",")[2:] == \
        (local / "metrics.csv").read_text().split("\n")[1].split(",")[2:]


def test_asha_sweep_stops_weak_trials_through_tune(cli, runs_root, local_ray):
    root = runs_root / "asha"
    code, out, err = cli("train", "-m", "seed=0,1,2,3", "env=CartPole-v1", *FAST_PPO, *QUIET,
                         "total_timesteps=512", "eval.every=128", "backend=ray", "ray.scheduler=asha",
                         "ray.grace_period=128", "ray.reduction_factor=2", f"run_dir={root}",
                         "ray.trial_cpus=2")  # one trial at a time: ASHA sees the reports in a fixed order
    assert code == 0, err
    summaries = [json.loads(path.read_text()) for path in sorted(root.glob("*_CartPole-v1_ppo/summary.json"))]
    assert len(summaries) == 4
    statuses = [s["status"] for s in summaries]
    assert "completed" in statuses and "stopped_by_scheduler" in statuses
    for summary in summaries:  # a stopped trial ran fewer steps than a finished one
        assert (summary["num_timesteps"] < 512) == (summary["status"] == "stopped_by_scheduler")
    assert not (root / "tune").exists()  # Tune's own state (pickles among it) is removed after the sweep


# -- the driver dies ---------------------------------------------------------------------------
def test_a_run_resumes_from_its_last_checkpoint_after_the_driver_died(tmp_path):
    run = tmp_path / "killed"
    command = [sys.executable, "-m", "rlkit", "train", "env=CartPole-v1", *RLLIB_PPO, "total_timesteps=1000000",
               "checkpoint.every=200", "eval.every=0", "eval.episodes=1", "ray.num_cpus=2",
               "ray.num_env_runners=1", "progress_bar=false", f"run_dir={run}"]
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latest = run / "checkpoints" / "latest"
    deadline = time.monotonic() + 180
    while not (latest / "state.json").is_file():
        assert driver.poll() is None and time.monotonic() < deadline, "no checkpoint was written"
        time.sleep(0.2)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    assert not (run / "summary.json").exists()
    step = json.loads((latest / "state.json").read_text())["num_timesteps"]
    target = step + 400
    done = subprocess.run([sys.executable, "-m", "rlkit", "train", f"resume={run}", f"total_timesteps={target}",
                           "ray.num_cpus=2"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["resumed_from"] >= step and summary["num_timesteps"] >= target
    resumes = yaml.safe_load((run / ".hydra" / "resumes.yaml").read_text())
    assert resumes[-1]["from_timestep"] == summary["resumed_from"]
