"""rlkit bench throughput: the paths are matched in learning per env step, and the suite writes its
tables from real runs."""

import pandas as pd
import pytest

from rlkit.bench import run_suite
from rlkit.bench.intervals import bootstrap_interval
from rlkit.bench.throughput import PATHS, learning_settings, replay_ratio


@pytest.mark.parametrize("kind, expected", [("ppo", 4.0), ("dqn", 16.0)])
def test_every_path_learns_as_much_per_env_step(kind, expected):
    for vec_env, n_envs in PATHS:
        settings = learning_settings(kind, vec_env, n_envs)
        assert replay_ratio(kind, settings, n_envs) == expected, (vec_env, n_envs, settings)
        if kind == "ppo":  # a minibatch is a quarter of the rollout on every path
            values = {s.split("=")[0]: int(s.split("=")[1]) for s in settings}
            assert values["agent.batch_size"] * 4 == values["agent.n_steps"] * n_envs


def test_bootstrap_interval_brackets_the_mean_and_refuses_bad_input():
    low, high = bootstrap_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    assert 1.0 <= low < 3.0 < high <= 5.0
    assert bootstrap_interval([2.0]) == (2.0, 2.0)
    with pytest.raises(ValueError, match="finite"):
        bootstrap_interval([1.0, float("nan")])


def test_suite_writes_throughput_engine_share_and_curves(tmp_path):
    out = run_suite("throughput", ["cases=proc_maze_ppo", "repeats=1", "steps_dummy=2048", "steps_batched=2048",
                                   "two_core=false", "rllib=false", "curve_seeds=1", "curve_steps=2048",
                                   "curve_eval_every=2048", "curve_episodes=2", "dummy_n_envs=[1,2]",
                                   "batched_n_envs=[4,16]", "curve_batched_n_envs=8"], runs_root=str(tmp_path))
    table = pd.read_csv(out / "results.csv")
    assert [(r.vec_env, r.n_envs) for r in table.itertuples()] == [("dummy", 1), ("dummy", 2), ("batched", 4),
                                                                   ("batched", 16)]
    assert (table["steps_per_s"] > 0).all() and table["update_share"].between(0, 1).all()
    best_dummy = table[table["vec_env"] == "dummy"]["steps_per_s"].max()
    assert table["vs_best_dummy"].tolist() == pytest.approx((table["steps_per_s"] / best_dummy).round(2).tolist())
    batched = table[table["vec_env"] == "batched"]
    assert (batched["engine_share"] > 0).all() and (batched["engine_share"] < 1).all()
    finals = pd.read_csv(out / "curve_finals.csv")
    assert sorted(finals["path"]) == ["batched_8", "dummy_8"]
    summary = pd.read_csv(out / "curves_summary.csv")
    assert (summary["final_mean_return_ci95_low"] <= summary["final_mean_return"]).all()
    assert (summary["scored"] <= summary["scored_ci95_high"]).all()
    assert (out / "throughput.png").read_bytes()[:4] == b"\x89PNG"
