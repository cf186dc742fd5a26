"""A run directory: owned by one process at a time, never reused by a fresh run, its metrics cut
back to the checkpoint on resume, every file written whole."""

import errno
import os
import subprocess
import sys

import pytest
import yaml
from omegaconf import OmegaConf

from fast_settings import FAST_PPO, QUIET
from rlkit.errors import UserError
from rlkit.rundir import RunDirectory


def dead_pid() -> int:
    """The PID of a process that has exited (reaped, so no process has it until it is reused)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_lock_held_by_a_live_process_is_refused_with_its_pid(tmp_path):
    run = RunDirectory(tmp_path)
    (tmp_path / ".lock").write_text(f"{os.getppid()}\n")
    with pytest.raises(UserError, match=f"in use by process {os.getppid()}"):
        run.lock()
    assert (tmp_path / ".lock").read_text().strip() == str(os.getppid())  # not taken


def test_two_processes_contend_for_one_run_directory(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from rlkit.rundir import RunDirectory; "
         f"RunDirectory({str(tmp_path)!r}).lock(); print('locked', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(UserError, match=f"in use by process {holder.pid}"):
            RunDirectory(tmp_path).lock()
    finally:
        holder.kill()  # SIGKILL: its lock stays behind, stale
        holder.wait()
    said = []
    run = RunDirectory(tmp_path)
    run.lock(announce=said.append)
    assert said == [f"took over the lock of {tmp_path} from process {holder.pid}, which is no longer running"]
    assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())
    run.unlock()
    assert not (tmp_path / ".lock").exists()


def test_a_stale_lock_is_taken_over_and_said_so(tmp_path):
    pid = dead_pid()
    (tmp_path / ".lock").write_text(f"{pid}\n")
    said = []
    run = RunDirectory(tmp_path)
    run.lock(announce=said.append)
    assert said and f"from process {pid}, which is no longer running" in said[0]
    run.unlock()


def test_a_lock_without_a_pid_is_refused(tmp_path):
    (tmp_path / ".lock").write_text("garbage")
    with pytest.raises(UserError, match="holds no process id"):
        RunDirectory(tmp_path).lock()


def test_a_second_run_or_resume_of_a_locked_run_is_refused_in_one_line(train_run, cli, tmp_path):
    run = train_run("env=CartPole-v1", *FAST_PPO, "total_timesteps=128", "eval.every=128")
    assert not (run / ".lock").exists()  # released at the end of the run
    (run / ".lock").write_text(f"{os.getppid()}\n")  # a live process holds it
    code, _, err = cli("train", f"resume={run}", "total_timesteps=256", "progress_bar=false")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"in use by process {os.getppid()}" in err

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / ".lock").write_text(f"{os.getppid()}\n")
    code, _, err = cli("train", *QUIET, f"run_dir={fresh}", "env=CartPole-v1", *FAST_PPO, "total_timesteps=64")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"in use by process {os.getppid()}" in err
    assert sorted(p.name for p in fresh.iterdir()) == [".lock"]  # nothing written


def test_a_resume_after_a_killed_run_takes_over_its_lock_and_says_so(train_run, cli):
    run = train_run("env=CartPole-v1", *FAST_PPO, "total_timesteps=128", "eval.every=128")
    pid = dead_pid()
    (run / ".lock").write_text(f"{pid}\n")
    code, out, err = cli("train", f"resume={run}", "total_timesteps=256", "progress_bar=false")
    assert code == 0, err
    assert f"took over the lock of {run} from process {pid}" in out
    assert not (run / ".lock").exists()


def test_a_fresh_run_into_an_existing_run_is_refused_naming_resume(train_run, cli):
    run = train_run("env=CartPole-v1", *FAST_PPO, "total_timesteps=128", "eval.every=128")
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*")}
    code, _, err = cli("train", *QUIET, f"run_dir={run}", "env=CartPole-v1", *FAST_PPO, "total_timesteps=64")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"already holds a run; continue it with resume={run}" in err
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*")} == before  # untouched, checkpoints kept


def test_an_existing_empty_directory_may_be_used(cli, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = cli("train", *QUIET, f"run_dir={empty}", "env=CartPole-v1", *FAST_PPO, "total_timesteps=64",
                       "eval.every=0")
    assert code == 0, err
    assert (empty / "summary.json").is_file() and not (empty / ".lock").exists()


def test_run_dir_or_runs_root_that_is_a_file_is_refused_in_one_line(cli, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    for setting in (f"run_dir={a_file}", f"run_dir={a_file}/run", f"runs_root={a_file}"):
        code, _, err = cli("train", *QUIET, setting, "env=CartPole-v1", *FAST_PPO, "total_timesteps=64")
        assert code == 2 and len(err.strip().splitlines()) == 1, (setting, err)
        assert "a_file" in err and "is a file" in err, err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_runs_root_is_refused_in_one_line(cli, tmp_path):
    read_only = tmp_path / "read_only"
    read_only.mkdir(mode=0o555)
    for setting in (f"run_dir={read_only}/run", f"runs_root={read_only}"):
        code, _, err = cli("train", *QUIET, setting, "env=CartPole-v1", *FAST_PPO, "total_timesteps=64")
        assert code == 2 and len(err.strip().splitlines()) == 1, (setting, err)
        assert "Permission denied" in err


def test_two_runs_starting_in_the_same_second_get_two_directories(tmp_path):
    from datetime import datetime

    cfg = OmegaConf.create({"run_dir": None, "runs_root": str(tmp_path), "env": {"name": "e"},
                            "agent": {"name": "a"}})
    now = datetime(2026, 1, 2, 3, 4, 5)
    first, second = RunDirectory.create(cfg, now=now), RunDirectory.create(cfg, now=now)
    assert first.path != second.path and second.path.name.endswith("_2")
    first.unlock(), second.unlock()


def test_resume_after_a_kill_drops_the_metrics_rows_past_the_checkpoint(train_run, cli):
    run = train_run("env=CartPole-v1", *FAST_PPO, "total_timesteps=256", "eval.every=128",
                    "checkpoint.every=128")
    # as a run killed (SIGKILL) after evaluating step 384 and before checkpointing it leaves it:
    # the latest checkpoint at 256, metrics up to 384 and half a row being written
    with (run / "metrics.csv").open("a") as handle:
        handle.write("384,1.0,9.0,0.0,9.0,0.0,2,9.0,0.0,0.0\n512,1.")
    code, _, err = cli("train", f"resume={run}", "total_timesteps=512", "progress_bar=false")
    assert code == 0, err
    with (run / "metrics.csv").open() as handle:
        steps = [int(float(line.split(",")[0])) for line in handle.readlines()[1:]]
    assert steps == [128, 256, 384, 512]  # no step twice
    [resume] = yaml.safe_load((run / ".hydra" / "resumes.yaml").read_text())
    assert resume["from_timestep"] == 256 and resume["metrics_rows_dropped"] == 2
    assert "past step 256" in resume["tensorboard"]


def test_truncating_metrics_keeps_the_header_and_the_rows_up_to_the_step(tmp_path):
    run = RunDirectory(tmp_path)
    for step in (10, 20, 30):
        run.append_metrics({"timesteps": step, "mean_return": step / 10})
    assert run.truncate_metrics(20) == 1
    assert [row["timesteps"] for row in run.read_metrics()] == [10, 20]
    assert run.truncate_metrics(20) == 0


def test_the_config_is_replaced_whole_and_a_failed_write_keeps_the_old_one(tmp_path, monkeypatch):
    run = RunDirectory(tmp_path)
    run.write_config(OmegaConf.create({"seed": 1}), ["seed=1"])
    real_replace = os.replace

    def full_disk(source, target):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(UserError, match="config.yaml: No space left on device"):
        run.write_config(OmegaConf.create({"seed": 2}), ["seed=2"])
    monkeypatch.setattr(os, "replace", real_replace)
    assert yaml.safe_load((tmp_path / ".hydra" / "config.yaml").read_text()) == {"seed": 1}
    assert sorted(p.name for p in (tmp_path / ".hydra").iterdir()) == ["config.yaml", "overrides.yaml"]


def test_files_written_atomically_get_the_permissions_open_would_give(tmp_path):
    run = RunDirectory(tmp_path)
    run.write_config(OmegaConf.create({"seed": 1}), ["seed=1"])
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / ".hydra" / "config.yaml").stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_full_disk_while_checkpointing_stops_the_run_in_one_line_and_keeps_the_last(cli, tmp_path, monkeypatch):
    from agents.sb3 import PPO

    saves = []
    real_save = PPO.save

    def save_then_fill_the_disk(self, path, *args, **kwargs):
        saves.append(path)
        if len(saves) > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, path, *args, **kwargs)

    monkeypatch.setattr(PPO, "save", save_then_fill_the_disk)
    run = tmp_path / "run"
    code, _, err = cli("train", *QUIET, f"run_dir={run}", "env=CartPole-v1", *FAST_PPO, "total_timesteps=512",
                       "eval.every=0", "checkpoint.every=128")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "No space left on device; the previous checkpoint stays latest" in err
    assert (run / "checkpoints" / "latest").resolve().name == "step-000000000128"
    assert not list((run / "checkpoints").glob("*.partial")) and not (run / ".lock").exists()


def test_a_place_the_run_may_not_write_is_refused_in_one_line(tmp_path, monkeypatch):
    # what a read-only runs_root does to a user who is not root (root writes anyway)
    from pathlib import Path

    def read_only(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    cfg = OmegaConf.create({"run_dir": None, "runs_root": str(tmp_path / "runs"), "env": {"name": "e"},
                            "agent": {"name": "a"}})
    with pytest.raises(UserError, match=r"^cannot create the run directory .*runs.*: Permission denied$"):
        RunDirectory.create(cfg)
