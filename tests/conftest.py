"""Shared fixtures: one thread per process, a CLI runner, small and fast training settings, and
test-only envs that go bad on purpose.

The tree mirrors the code: tests/envs/<family>/, tests/agents/<family>/, tests/rlkit/ (and
tests/rlkit/bench/ for rlkit/bench/); tests/helpers/ is on the import path (pyproject.toml).

Every test runs on every machine, with no environment variable and no data outside the repository,
except these skips, each for something a machine may lack or have:
- ``env.backend=grf`` cases (tests/envs/football/test_contract.py) need the real Google Research
  Football engine, the optional ``rlkit[grf]`` extra; where it is installed, the test that checks the
  message for its absence (tests/rlkit/test_cli.py) skips instead.
- the comparison with hftbacktest (tests/rlkit/bench/test_market_making_replay.py) needs that optional
  benchmark dependency (``pip install --no-deps hftbacktest==2.4.4``, see the README).
- the refusal of ``device=cuda`` without a GPU (tests/rlkit/test_cli.py) skips on a machine with one.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

torch.set_num_threads(1)


class GoesBadAfter(CartPoleEnv):
    """CartPole whose observation or reward becomes NaN from step ``after`` on (counted over the
    env's lifetime), or that raises KeyboardInterrupt there (a user pressing Ctrl-C)."""

    def __init__(self, what: str = "observation", after: int = 300) -> None:
        super().__init__()
        self.what, self.after, self.steps = what, after, 0

    def step(self, action):
        observation, reward, terminated, truncated, info = super().step(action)
        self.steps += 1
        if self.steps >= self.after:
            if self.what == "interrupt":
                raise KeyboardInterrupt
            if self.what == "observation":
                observation = np.full_like(observation, np.nan)
            else:
                reward = float("nan")
        return observation, reward, terminated, truncated, info


class ReportsViolations(CartPoleEnv):
    """CartPole that reports ``info["violations"] = 1`` in every step the cart is right of 0, and
    at the pole's fall ``info["metrics"]``: the steps right of 0, and one named like an
    evaluation figure."""

    def reset(self, **kwargs):
        self.steps_right = 0
        return super().reset(**kwargs)

    def step(self, action):
        observation, reward, terminated, truncated, info = super().step(action)
        self.steps_right += int(observation[0] > 0)
        info = {**info, "violations": int(observation[0] > 0)}
        if terminated:
            info["metrics"] = {"steps_right": self.steps_right, "mean_return": -1.0, "label": "text"}
        return observation, reward, terminated, truncated, info


gym.register("rlkit-test/ReportsViolations-v0", entry_point=ReportsViolations, max_episode_steps=500)

for _what in ("observation", "reward", "interrupt"):
    gym.register(f"rlkit-test/Bad{_what.title()}-v0", entry_point=GoesBadAfter, kwargs={"what": _what},
                 max_episode_steps=500)

from fast_settings import QUIET  # noqa: E402


@pytest.fixture
def cli(capsys):
    """Run ``rlkit <args>`` in this process; returns (exit code, stdout, stderr)."""
    from rlkit.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def runs_root(tmp_path):
    return tmp_path / "runs"


@pytest.fixture
def train_run(cli, runs_root):
    """Train with fast settings into a fresh run directory; returns the directory."""
    counter = iter(range(1000))

    def run(*overrides: str, expect: int = 0):
        run_dir = runs_root / f"run{next(counter)}"
        code, out, err = cli("train", *QUIET, f"run_dir={run_dir}", *overrides)
        assert code == expect, err
        return run_dir

    return run


# Test files that start Ray clusters on this machine. Two local clusters at once meet through Ray's
# shared session files and default ports (a fresh `ray.init()` looks for the last `ray start` head),
# so these files run in one xdist worker, one after the other; every other file is scheduled on its
# own, whole, as with --dist loadfile (module fixtures stay shared).
RAY_TEST_FILES = {"tests/agents/rllib/test_rllib_agents.py", "tests/rlkit/test_ray_backend.py",
                  "tests/rlkit/test_ray_cluster.py"}


def pytest_configure(config):
    missing = sorted(f for f in RAY_TEST_FILES if not (config.rootpath / f).is_file())
    if missing:  # a moved file would otherwise run beside another Ray cluster, and fail now and then
        raise pytest.UsageError(f"tests/conftest.py RAY_TEST_FILES names files that do not exist: {missing}")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class FilesWithRayTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::")[0]
            return "ray" if path in RAY_TEST_FILES else path

    return FilesWithRayTogether(config, log)
