"""rlkit bench model_based, shrunk to seconds: the table and curves it writes, the summary statistics and
claim verdicts recomputed by hand on known curves, the evaluation on a scripted policy, bad options."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from rlkit.bench import model_based, run_suite, suite_names
from envs.gridworlds.pan_flute import PanFluteEnv


def test_tiny_suite_writes_the_table_curves_and_plot(tmp_path):
    out = run_suite("model_based", ["envs=[pan_flute]", "agents=[er_dqn,latent_model_dqn]", "seeds=2",
                                    "total_timesteps=120", "learning_starts=60", "updates_per_step=1", "eval_every=60",
                                    "n_eval_episodes=1", "hidden=[16]", "workers=1", f"runs_root={tmp_path}"])
    table = pd.read_csv(out / "results.csv")
    assert list(table.columns) == model_based.COLUMNS
    assert list(table["agent"]) == ["er_dqn", "latent_model_dqn"] and set(table["seeds"]) == {2}
    assert (table["ms_per_update"] > 0).all() and (table["status"] == "ok").all()
    curves = json.loads((out / "curves.json").read_text())
    assert len(curves) == 4 and all([step for step, _ in c["curve"]] == [60, 120] for c in curves)
    assert all(c["updates"] == 61 for c in curves)  # one update per step from step 60 to 120
    for row in table.itertuples():  # the table's numbers from the curves
        finals = [c["curve"][-1][1] for c in curves if c["agent"] == row.agent]
        assert row.final_return == pytest.approx(np.mean(finals))
    markdown = (out / "results.md").read_text()
    assert "| env | agent | seeds |" in markdown and "the learned model beats experience replay" not in markdown
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "runs" / "pan_flute" / "er_dqn" / "seed1.json").is_file()


def fake(env, agent, seed, values):
    return {"env": env, "agent": agent, "seed": seed, "curve": [(100 * (i + 1), v) for i, v in enumerate(values)],
            "ms_per_update": 2.0, "updates": 10, "wall_s": 1.0}


def test_summary_and_verdicts_recomputed_by_hand():
    results = [fake("pan_flute", "er_dqn", 0, [1, 3]), fake("pan_flute", "er_dqn", 1, [1, 5]),
               fake("pan_flute", "model_dqn", 0, [10, 20]), fake("pan_flute", "model_dqn", 1, [12, 22])]
    rows = model_based.summarise(results, {"pan_flute": 0.5})
    er, model = rows
    assert er["final_return"] == 4 and er["final_sem"] == pytest.approx(1.0)  # std(3, 5) = sqrt(2), / sqrt(2)
    assert er["curve_mean"] == 2.5 and er["curve_sem"] == pytest.approx(0.5)  # curve means 2 and 3
    assert model["curve_mean"] == 16 and model["random_return"] == 0.5
    verdict = model_based.compare(rows, "model_dqn", "er_dqn")["pan_flute"]
    margin = 2 * math.sqrt(0.5**2 + 1.0**2)  # curve means 15 and 17 for the model
    assert verdict.startswith("above") and f"{margin:.2g}" in verdict
    assert model_based.compare(rows, "er_dqn", "model_dqn")["pan_flute"].startswith("below")
    level = [fake("pan_flute", "er_dqn", s, [v]) for s, v in ((0, 1), (1, 3))] + \
            [fake("pan_flute", "model_dqn", s, [v]) for s, v in ((0, 2), (1, 4))]
    assert model_based.compare(model_based.summarise(level, {"pan_flute": 0}), "model_dqn", "er_dqn",
                               "final_return")["pan_flute"].startswith("level")
    assert any("pan_flute: above" in line for line in model_based.claims(rows))


def test_evaluation_of_the_tune_known_answer():
    env = PanFluteEnv(spontaneous_prob=0.0)
    tune = iter([4, 3, 2, 1, 0] * 100)
    # in the registered env's 100-step limit: every last bit is set after steps 5, 10, ..., and the reward
    # (their product) comes on the step after, 6, 11, ..., 96: 19 times
    from gymnasium.wrappers import TimeLimit

    assert model_based.evaluate(lambda obs: next(tune), TimeLimit(env, 100), 1) == 19.0


@pytest.mark.parametrize("option, message", [
    ("envs=[chess]", "envs: unknown or none"), ("agents=[ppo]", "agents: unknown or none"),
    ("seeds=0", "seeds must be an integer >= 1"), ("eval_every=0", "eval_every must be an integer >= 1"),
    ("pipes=0", "pipes"), ("learning_rate=-1.0", "learning_rate must be a positive number"),
])
def test_bad_options_are_refused(tmp_path, option, message):
    with pytest.raises(ValueError, match=message):
        model_based.run(tmp_path, **dict([_parse(option)]))


def _parse(option):
    key, _, value = option.partition("=")
    if value.startswith("["):
        return key, value.strip("[]").split(",")
    return key, (float(value) if "." in value else int(value))


def test_registered():
    assert "model_based" in suite_names()


def test_seeds_suite_times_separate_and_stacked_runs(tmp_path):
    out = run_suite("model_based_seeds", ["agents=[model_dqn]", "n_seeds=[2]", "hiddens=[[8]]", "total_timesteps=53",
                                          "learning_starts=50", f"runs_root={tmp_path}"])
    table = pd.read_csv(out / "results.csv")
    row = table.iloc[0]
    assert (row["agent"], str(row["hidden"]), row["n_seeds"], row["updates_per_seed"]) == ("model_dqn", "8", 2, 40)
    assert 0 < row["stacked_update_s"] <= row["stacked_s"] and 0 < row["separate_update_s"] <= row["separate_s"]
    assert row["update_ratio"] == pytest.approx(row["separate_update_s"] / row["stacked_update_s"], rel=1e-3)
    with pytest.raises(ValueError, match="no stacked form"):
        model_based.run_seeds(tmp_path, agents=["perfect_model_dqn"])
    with pytest.raises(ValueError, match="must exceed learning_starts"):
        model_based.run_seeds(tmp_path, total_timesteps=10, learning_starts=10)
