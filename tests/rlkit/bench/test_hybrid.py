"""rlkit bench hybrid, shrunk to seconds: the table's columns and ranges, the drives' figures recomputed
independently, the paper's claims read off known rows, and bad options refused."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rlkit.bench import hybrid, run_suite, suite_factory

COLUMNS = ["agent", "env", "seed", "train_steps", "roads", "valid_rate", "completed", "rmse", "progress",
           "drive_time_ratio", "ms_per_step", "train_s", "status"]


def test_tiny_suite_writes_the_table_and_plots(tmp_path):
    out = run_suite("hybrid", ["agents=[hybrid_lqr]", "roads=2", "n_segments=2", "controller_steps=10", "workers=1",
                               f"runs_root={tmp_path}"])
    table = pd.read_csv(out / "results.csv")
    assert list(table.columns) == COLUMNS
    assert list(table["agent"]) == ["hybrid_lqr"] and table["status"][0] == "ok"
    row = table.iloc[0]
    assert row["roads"] == 2 and 0.0 <= row["valid_rate"] <= 1.0 and 0.0 <= row["progress"] <= 1.0
    assert row["ms_per_step"] > 0 and row["train_s"] >= 0 and row["rmse"] >= 0
    markdown = (out / "results.md").read_text()
    assert "| agent | env | seed | train_steps | roads | valid_rate |" in markdown and "| hybrid_lqr |" in markdown
    assert "hybrid_roa was not run" in markdown
    assert (out / "valid_rate.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "trajectories.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "runs" / "hybrid_lqr" / "seed0" / "checkpoints" / "latest" / "agent.zip").is_file()


class FixedInputs:
    """A stand-in agent: steers with a constant rate (drives off the road) or not at all."""

    def __init__(self, steer_rate: float) -> None:
        self.steer_rate, self.episode_starts = steer_rate, []

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        self.episode_starts.append(bool(episode_start[0]))
        return np.array([self.steer_rate, 0.0], dtype=np.float32), state


def test_drives_are_scored_on_the_seeded_roads():
    from envs.hybrid.car_env import CarHybridEnv

    agent = FixedInputs(8.0)
    drive = hybrid.drive_roads(agent, "car_hybrid", roads=2, n_segments=3)
    assert sum(agent.episode_starts) == 2 and agent.episode_starts[0]  # a new episode flagged per road
    summary = hybrid.summarise(drive)
    assert summary["valid_rate"] == 0.0 and summary["completed"] == 0.0 and math.isnan(summary["drive_time_ratio"])
    # road 0 replayed by hand: the same seed gives the same road, the same end and the same metrics
    env = CarHybridEnv(n_segments=3)
    env.reset(seed=hybrid.EVAL_SEED_BASE)
    steps, done = 0, False
    while not done:
        _, _, terminated, truncated, info = env.step(np.array([8.0, 0.0]))
        steps, done = steps + 1, terminated or truncated
    assert drive["roads"][0]["rmse"] == info["metrics"]["rmse"] and drive["roads"][0]["valid"] == 0.0
    assert drive["trajectory"].shape == (steps + 1, 2)
    assert drive["steps"] > steps and summary["rmse"] == pytest.approx(np.mean([r["rmse"] for r in drive["roads"]]))


def test_a_completed_drive_at_the_nominal_speeds_takes_the_nominal_time():
    from agents.hybrid_roa.base import LQRSchedule, deviation
    from envs.hybrid.car import CarTracking

    system = CarTracking()
    schedule = LQRSchedule(system)

    class LQR:
        def predict(self, obs, state=None, episode_start=None, deterministic=True):
            params, e, _, u_eq = deviation(system, obs[None].astype(np.float64))
            return schedule.control(params, e, u_eq)[0], state

    summary = hybrid.summarise(hybrid.drive_roads(LQR(), "car_hybrid", roads=1, n_segments=2))
    assert summary["completed"] == 1.0 and summary["valid_rate"] == 1.0
    # the reference moves at the nominal speeds: within a step per segment of the nominal time
    assert summary["drive_time_ratio"] == pytest.approx(1.0, abs=0.01)


def row(agent, seed, valid, ms, train):
    return {"agent": agent, "seed": seed, "valid_rate": valid, "ms_per_step": ms, "train_s": train, "status": "ok"}


def test_claims_are_read_off_the_rows():
    rows = [row("hybrid_roa", 0, 0.9, 1.0, 50.0), row("hybrid_lqr", 0, 0.8, 0.3, 0.1),
            row("hybrid_mpc", 0, 0.7, 20.0, 0.1), row("sac", 0, 0.1, 0.3, 400.0), row("sac", "mean", 0.2, 0.3, 300.0)]
    lines, ratio = hybrid.claims(rows)
    assert ratio == pytest.approx(20.0)
    assert "valid rate" in lines[0] and lines[0].endswith("holds.")
    assert "ratio 20x: holds." in lines[1]
    assert "sac 300 s (0.17x): holds." in lines[2]  # the mean row, not seed 0
    rows[1]["valid_rate"], rows[2]["ms_per_step"] = 0.95, 5.0
    lines, ratio = hybrid.claims(rows)
    assert "does not hold (not above hybrid_lqr)" in lines[0] and "holds in direction only" in lines[1]
    assert "was not run" in hybrid.claims(rows[1:])[0][0]


def test_suite_is_registered_and_refuses_bad_options(tmp_path):
    assert suite_factory("hybrid") == "rlkit.bench.hybrid:run"
    with pytest.raises(ValueError, match="unknown or none.*'ddpg'.*allowed: hybrid_roa, hybrid_lqr"):
        hybrid.run(tmp_path, agents=["ddpg"])
    with pytest.raises(ValueError, match="roads must be an integer >= 1"):
        hybrid.run(tmp_path, agents=["hybrid_lqr"], roads=0)
