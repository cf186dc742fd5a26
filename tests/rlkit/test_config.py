"""Composition: overrides checked against the configs, typed like the defaults, and sweeps."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rlkit import config
from rlkit.errors import UserError


def test_gymnasium_id_becomes_the_env_with_its_name():
    cfg = config.compose(["env=Acrobot-v1"])
    assert cfg.env.id == "Acrobot-v1" and cfg.env.name == "Acrobot-v1"


def test_short_name_selects_the_config_file():
    cfg = config.compose(["env=pendulum", "agent=td3"])
    assert cfg.env.id == "Pendulum-v1" and cfg.env.name == "pendulum"
    assert cfg.agent.factory == "agents.sb3:TD3" and cfg.agent.name == "td3"


def test_overrides_take_the_defaults_types():
    cfg = config.compose(["total_timesteps=1e4", "agent.learning_rate=1", "agent.clip_range=0.1"])
    assert cfg.total_timesteps == 10000 and isinstance(cfg.total_timesteps, int)
    assert cfg.agent.learning_rate == 1.0 and isinstance(cfg.agent.learning_rate, float)


def test_a_constructor_argument_missing_from_the_yaml_can_still_be_set():
    cfg = config.compose(["agent=ppo", "agent.target_kl=0.02"])
    assert cfg.agent.target_kl == 0.02
    assert "target_kl" in config.agent_hyperparameters(cfg)
    assert "factory" not in config.agent_hyperparameters(cfg)


def test_env_shorthand_sets_a_constructor_argument_the_env_config_lists():
    cfg = config.compose(["env=market_making", "env.clock=time", "env.kwargs.reward=pnl"])
    assert cfg.env.kwargs.clock == "time" and cfg.env.kwargs.reward == "pnl" and "clock" not in cfg.env
    with pytest.raises(UserError, match="env.kwargs.<name>"):
        config.compose(["env=market_making", "env.no_such_argument=1"])


def test_a_non_integral_float_for_an_integer_is_refused():
    with pytest.raises(UserError, match="wrong type for seed: expected an integer, got 1.5"):
        config.compose(["seed=1.5"])


def test_sweeps_expand_to_the_cartesian_product():
    jobs = config.expand_sweeps(["seed=0,1,2", "agent=ppo,a2c", "n_envs=2"])
    assert len(jobs) == 6
    assert ["seed=2", "agent=a2c", "n_envs=2"] in jobs
    assert len({tuple(job) for job in jobs}) == 6


def test_a_sweep_without_multirun_is_refused():
    with pytest.raises(UserError, match="is a sweep; run several values with `rlkit train -m`"):
        config.compose(["seed=0,1"])


@given(st.integers(min_value=-10**9, max_value=10**9))
def test_integers_round_trip_through_checked_value(number):
    assert config.checked_value("seed", number, 0) == number
    assert config.checked_value("seed", float(number), 0) == number
    assert config.checked_value("lr", number, 0.5) == float(number)


@given(st.text(min_size=1).filter(lambda s: s.strip() != ""))
def test_text_for_a_number_is_always_refused(text):
    with pytest.raises(UserError, match="wrong type for x"):
        config.checked_value("x", text, 1.0)
