"""rlkit bench football, shrunk to seconds, and the runs it would launch."""

from __future__ import annotations

import pandas as pd
import pytest

from rlkit.bench import football
from rlkit.config import compose


def test_learning_jobs_give_every_agent_its_observation_and_the_dqns_one_schedule(tmp_path):
    import gymnasium as gym

    import envs  # noqa: F401  (registers rlkit/Football-v0)
    from rlkit.train import agent_class_for

    jobs = football.learning_jobs(tmp_path, ["academy_3_vs_1_with_keeper"], list(football.AGENTS), seeds=2,
                                  steps=100, eval_every=50, eval_episodes=1)
    assert [(label, seed) for _, label, seed, _ in jobs] == [(a, s) for a in football.AGENTS for s in (0, 1)]
    schedule = compose(["agent=gnn_dqn"]).agent
    for scenario, label, seed, overrides in jobs:
        cfg = compose(overrides)
        env = gym.make(cfg.env.id, **cfg.env.kwargs)
        assert env.unwrapped.scenario.name == scenario
        assert env.unwrapped.representation == football.AGENTS[label][2]
        agent_class_for(cfg, env)  # the host accepts this agent on this observation
        if cfg.agent.name in ("dqn", "cnn_dqn", "gnn_dqn"):
            for key in football.SHARED_DQN_KEYS:
                assert cfg.agent[key] == schedule[key], (label, key)
        assert cfg.run_dir.endswith(f"{scenario}/{label}/seed{seed}")
    with pytest.raises(ValueError, match="unknown agents.*allowed: gnn_dqn_gcn"):
        football.learning_jobs(tmp_path, ["academy_corner"], ["a3c"], 1, 10, 10, 1)


def test_suite_measures_speed_and_trains_one_agent(tmp_path):
    football.run(tmp_path, parts=["speed", "batched", "learning"], scenarios=["academy_empty_goal_close"],
                 agents=["gnn_dqn_gcn"], seeds=1, steps=200, eval_every=100, eval_episodes=2, full_game_steps=0,
                 workers=1, speed_seconds=0.05, num_envs=4)
    speed = pd.read_csv(tmp_path / "speed.csv")
    assert list(speed["real_engine_steps_per_s"]) == [457.0, 224.0, 115.0]  # football.md's, no gfootball here
    assert (speed["ratio"] == speed["rlkit_steps_per_s"] / speed["real_engine_steps_per_s"]).all()
    assert (pd.read_csv(tmp_path / "batched.csv")["game_steps_per_s"] > 0).all()
    results = pd.read_csv(tmp_path / "results.csv")
    assert list(results["agent"]) == ["gnn_dqn_gcn"] and results["steps"].iloc[0] == 200
    assert 0.0 <= results["final_score_rate"].iloc[0] <= 1.0
    assert (tmp_path / "score_rate.png").is_file()
    # read back from the run directories; a run that never finished is left out, not an error
    jobs = football.learning_jobs(tmp_path, ["academy_empty_goal_close"], ["gnn_dqn_gcn"], seeds=2, steps=200,
                                  eval_every=100, eval_episodes=2)
    (tmp_path / "again").mkdir()
    again = football.report_learning(tmp_path / "again", jobs, ["academy_empty_goal_close"])
    assert list(again["seeds"]) == [1] and again["final_score_rate"].iloc[0] == results["final_score_rate"].iloc[0]
    with pytest.raises(ValueError, match="unknown parts"):
        football.run(tmp_path, parts=["speedy"])
