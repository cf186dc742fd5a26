"""An agent's ``env_requirements``: applied to the env's constructor arguments at composition (so the
saved config records them), only for arguments the env takes, and never over the user's own."""

import pytest
import yaml

from agents.gnn_dqn import GNNDQN
from rlkit import catalogue, config
from rlkit.environments import make_env
from rlkit.errors import UserError
from rlkit.train import agent_class_for


@pytest.mark.parametrize(("agent", "representation"), [("gnn_dqn", "graph"), ("cnn_dqn", "extracted")])
def test_an_agent_gets_the_football_observation_it_needs(agent, representation):
    cfg = config.compose(["env=football", f"agent={agent}"])
    assert cfg.env.kwargs.representation == representation
    assert cfg.env.kwargs.scenario == "academy_empty_goal_close"  # the env's other arguments untouched
    env = make_env(cfg.env)
    assert agent_class_for(cfg, env) is catalogue.resolve_factory(cfg.agent.factory)  # check_env passes
    env.close()


@pytest.mark.parametrize("override", ["env.representation=simple115v2", "env.kwargs.representation=simple115v2"])
def test_the_users_setting_wins_and_the_agent_then_refuses_it_in_its_own_words(override):
    cfg = config.compose(["env=football", "agent=gnn_dqn", override])
    assert cfg.env.kwargs.representation == "simple115v2"
    env = make_env(cfg.env)
    with pytest.raises(UserError, match="use env.kwargs.representation=graph"):
        agent_class_for(cfg, env)
    env.close()


def test_a_gymnasium_id_gets_the_requirement_its_constructor_names():
    assert config.compose(["env=rlkit/Football-v0", "agent=gnn_dqn"]).env.kwargs == {"representation": "graph"}


def test_an_env_that_does_not_take_the_argument_is_left_for_check_env_to_refuse():
    cfg = config.compose(["env=cartpole", "agent=gnn_dqn"])
    assert cfg.env.kwargs == {}
    env = make_env(cfg.env)
    with pytest.raises(UserError, match="needs the graph observation"):
        agent_class_for(cfg, env)
    env.close()


def test_the_mechanism_is_generic(monkeypatch):
    class NeedsTimeClock(GNNDQN):
        env_requirements = {"clock": "time", "no_such_argument": 1}

    monkeypatch.setattr(catalogue, "resolve_factory", lambda path: NeedsTimeClock)
    cfg = config.compose(["env=market_making", "agent=gnn_dqn"])
    assert cfg.env.kwargs.clock == "time" and "no_such_argument" not in cfg.env.kwargs
    assert config.compose(["env=market_making", "agent=gnn_dqn", "env.clock=event"]).env.kwargs.clock == "event"


def test_an_agent_without_requirements_changes_nothing():
    assert config.compose(["env=football", "agent=dqn"]).env.kwargs.representation == "simple115v2"


def test_the_run_records_the_applied_value(cli, tmp_path):
    run_dir = tmp_path / "run"
    code, _, err = cli("train", "env=football", "agent=gnn_dqn", f"run_dir={run_dir}", "total_timesteps=64",
                       "agent.learning_starts=32", "agent.buffer_size=100", "eval.every=0", "eval.episodes=1",
                       "checkpoint.every=0", "progress_bar=false", "device=cpu")
    assert code == 0, err
    saved = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
    assert saved["env"]["kwargs"]["representation"] == "graph"
