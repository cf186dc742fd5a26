"""A real Ray cluster on loopback: a head started with ``ray start --head`` (token authentication
on, as Ray 2.60 defaults), a job submitted to it with ``ray job submit`` that runs ``rlkit train
... ray.address=auto``, and a run connecting to it by ``ray.address=host:port``; then the cluster
configs rlkit ships."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    """(environment with the cluster's token, GCS address, dashboard URL) of a fresh head."""
    ray_cli = shutil.which("ray", path=str(BIN))
    assert ray_cli, f"the ray command (installed with ray, a dependency) is not in {BIN}"
    environment = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16),
                   "OMP_NUM_THREADS": "1"}
    environment.pop("RAY_ADDRESS", None)
    port, dashboard, agent_http = _free_port(), _free_port(), _free_port()
    # the job agent's HTTP port too: Ray's default (52365) may still be held by the agent of a Ray
    # that another test just shut down, and then no job can be submitted ("No available agent")
    started = subprocess.run(
        [ray_cli, "start", "--head", f"--port={port}", "--num-cpus=2", "--node-ip-address=127.0.0.1",
         "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
         f"--dashboard-agent-listen-port={agent_http}", "--disable-usage-stats"],
        env=environment, capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr[-2000:]
    try:
        yield environment, f"127.0.0.1:{port}", f"http://127.0.0.1:{dashboard}"
    finally:
        subprocess.run([ray_cli, "stop", "--force"], env=environment, capture_output=True, timeout=120)


def _rlkit(*args: str) -> list[str]:
    return [sys.executable, "-m", "rlkit", "train", "env=CartPole-v1", "agent=rllib_ppo",
            "agent.training.train_batch_size_per_learner=200", "agent.training.minibatch_size=100",
            "agent.training.num_epochs=1", "total_timesteps=400", "eval.episodes=1", "progress_bar=false", *args]


def test_a_job_submitted_to_the_head_trains_on_it(head, tmp_path):
    environment, _, dashboard = head
    run = tmp_path / "job_run"
    workdir = tmp_path / "job_dir"
    workdir.mkdir()
    command = [str(BIN / "ray"), "job", "submit", "--address", dashboard, "--working-dir", str(workdir), "--",
               *_rlkit("ray.address=auto", f"run_dir={run}")]
    # `ray start` returns before the head's job agent is up; a submission that finds none yet is
    # answered "try again later"
    deadline = time.monotonic() + 60
    while True:
        submitted = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)
        if "No available agent to submit job" not in submitted.stderr or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert submitted.returncode == 0, submitted.stdout[-2000:] + submitted.stderr[-2000:]
    assert "succeeded" in submitted.stdout + submitted.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["num_timesteps"] >= 400


def test_a_run_connects_to_the_head_by_address(head, tmp_path):
    environment, address, _ = head
    run = tmp_path / "direct_run"
    done = subprocess.run(_rlkit(f"ray.address={address}", f"run_dir={run}"), env=environment,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"
    # with a wrong token the connection is refused with a message that says so, and nothing is written
    wrong_token = {**environment, "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    refused = subprocess.run(_rlkit(f"ray.address={address}", f"run_dir={tmp_path / 'refused'}"), env=wrong_token,
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "needs its token" in refused.stderr
    assert not (tmp_path / "refused").exists()


# -- the shipped cluster configs ---------------------------------------------------------------
def test_cluster_configs_are_complete():
    from rlkit.clusters import CLUSTERS_DIR, FILES

    for name in FILES:
        assert (CLUSTERS_DIR / name).is_file(), name
    launcher = yaml.safe_load((CLUSTERS_DIR / "aws-gpu.yaml").read_text())
    assert {"cluster_name", "provider", "available_node_types", "head_node_type", "setup_commands",
            "head_start_ray_commands", "worker_start_ray_commands"} <= set(launcher)
    assert launcher["head_node_type"] in launcher["available_node_types"]
    assert any("ray start --head" in command for command in launcher["head_start_ray_commands"])
    cluster, claim = yaml.safe_load_all((CLUSTERS_DIR / "raycluster.yaml").read_text())
    assert cluster["kind"] == "RayCluster" and claim["kind"] == "PersistentVolumeClaim"
    groups = {group["groupName"] for group in cluster["spec"]["workerGroupSpecs"]}
    assert {"cpu", "gpu"} <= groups
    job = yaml.safe_load((CLUSTERS_DIR / "rayjob.yaml").read_text())
    assert job["kind"] == "RayJob" and job["spec"]["rayClusterSpec"]["headGroupSpec"]


def test_the_rayjob_entrypoint_is_a_valid_rlkit_command():
    from rlkit.clusters import CLUSTERS_DIR
    from rlkit.config import compose

    entrypoint = yaml.safe_load((CLUSTERS_DIR / "rayjob.yaml").read_text())["spec"]["entrypoint"].split()
    assert entrypoint[:2] == ["rlkit", "train"]
    cfg = compose(entrypoint[2:])
    assert cfg.backend == "ray" and cfg.ray.address == "auto" and cfg.agent.name == "rllib_gnn_ppo"
    assert cfg.env.kwargs.representation == "graph"
