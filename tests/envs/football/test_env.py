"""FootballEnv on the builtin engine: bad input, action checks, seeding through np_random, the
observations are the state's (fast builders equal the reference builders on the raw dict), info,
rendering, registration and the Hydra config."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml

from envs.football import FOOTBALL_ENVS, observations, register_football_envs
from envs.football.env import ACTIONS, FootballEnv
from envs.football.scenarios import SCENARIOS
from envs.football.vector import FootballVectorEnv

register_football_envs()
CONF = Path(__file__).parents[3] / "rlkit" / "conf" / "env" / "football.yaml"


@pytest.mark.parametrize("kwargs, message", [
    ({"scenario": "academy_nothing"}, "unknown scenario 'academy_nothing'; allowed: academy_empty_goal_close"),
    ({"representation": "pixels"}, "unknown representation 'pixels'; allowed: raw, simple115v2, extracted, graph"),
    ({"rewards": "scoring,assists"}, "unknown reward 'assists'.*scoring,checkpoints"),
    ({"backend": "gfootball"}, "unknown backend 'gfootball'; allowed: builtin, grf"),
    ({"n_controlled": 3}, r"n_controlled must be an integer in 1..2"),
    ({"n_controlled": 0}, r"n_controlled must be an integer in 1..2"),
    ({"difficulty": 1.5}, r"difficulty must be None .* or in \[0, 1\]"),
    ({"render_mode": "human"}, "unknown render_mode 'human'; allowed: None, rgb_array"),
])
def test_bad_arguments_say_what_is_allowed(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FootballEnv(**kwargs)


def test_the_manual_documents_every_action_and_argument():
    doc = FootballEnv.__doc__
    for name in ACTIONS:
        assert name in doc
    for section in ("## Action Space", "## Observation Space", "## Rewards", "## Starting State",
                    "## Episode End", "## Arguments", "pip install 'rlkit[grf]'"):
        assert section in doc
    for representation in observations.REPRESENTATIONS:
        assert f"``{representation}``" in doc


@pytest.mark.parametrize("action", [19, -1, 3.5, np.nan, [1, 2], np.array([[1]]), "shot", None])
def test_bad_actions_are_value_errors(action):
    env = FootballEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(action)


@pytest.mark.parametrize("action", [12, np.int64(12), np.array(12), np.array([12]), 12.0, np.uint8(12)])
def test_one_player_takes_an_int_in_any_usual_form(action):
    env = FootballEnv()
    env.reset(seed=0)
    env.step(action)
    assert env.state.sticky.sum() == 0  # a shot sets no sticky flag


def test_several_players_take_one_action_each():
    env = FootballEnv(scenario="academy_3_vs_1_with_keeper", n_controlled=3)
    env.reset(seed=0)
    env.step([5, 3, 14])
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        env.step(5)
    with pytest.raises(ValueError, match="out of range"):
        env.step([5, 3, 19])


def test_step_before_reset_is_an_error():
    with pytest.raises(RuntimeError, match="reset"):
        FootballEnv().step(0)


def test_reset_seeds_the_engine_from_np_random():
    env = FootballEnv(scenario="11_vs_11_stochastic")
    env.reset(seed=3)
    first = env.state.copy()
    env.reset()
    second = env.state.copy()
    env.reset(seed=3)
    assert env.state.rng[0] == first.rng[0] != second.rng[0]
    other = FootballEnv(scenario="11_vs_11_stochastic")
    other.reset(seed=4)
    assert other.state.rng[0] != first.rng[0]


@pytest.mark.parametrize("representation", ["simple115v2", "extracted", "graph"])
@pytest.mark.parametrize("n_controlled", [1, 2])
def test_observations_equal_the_reference_builders_on_the_raw_dict(representation, n_controlled):
    """Both backends observe the same: the builtin env's fast builders agree with the reference
    builders the GRF backend applies to raw dicts."""
    spec = SCENARIOS["academy_3_vs_1_with_keeper"]
    env = FootballEnv(scenario=spec.name, representation=representation, n_controlled=n_controlled)
    build = {"simple115v2": observations.simple115v2_from_raw, "extracted": observations.extracted_from_raw,
             "graph": lambda d: observations.graph_from_raw(d, episode_steps=spec.episode_steps)}[representation]
    obs, _ = env.reset(seed=2)
    rng = np.random.default_rng(2)
    for _ in range(40):
        expected = np.stack([build(observations.raw(env.state, 0, c)) for c in range(n_controlled)])
        np.testing.assert_allclose(obs.reshape(expected.shape), expected, rtol=1e-6, atol=1e-6)
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample() * 0 + rng.integers(19, size=n_controlled)
                                                    .reshape(env.action_space.shape))
        if terminated or truncated:
            obs, _ = env.reset()


def test_raw_observations_are_grfs_dicts_of_the_state():
    env = FootballEnv(scenario="academy_pass_and_shoot_with_keeper", representation="raw")
    obs, _ = env.reset(seed=0)
    assert list(obs) == list(observations.RAW_KEYS)
    assert obs["left_team"].shape == (3, 2) and obs["right_team"].shape == (2, 2)
    assert obs["steps_left"] == 400 and list(obs["score"]) == [0, 0]
    np.testing.assert_array_equal(obs["ball"], env.state.ball[0])


def test_info_reports_the_game():
    env = FootballEnv(scenario="academy_empty_goal_close", rewards="scoring")
    _, info = env.reset(seed=0)
    assert info["steps"] == 0 and info["goal"] == 0 and info["end_reason"] == "running"
    assert info["rewards"].dtype == np.float32 and info["rewards"].shape == (1,)
    for step in range(1, 80):
        _, reward, terminated, truncated, info = env.step(12)
        assert info["steps"] == step and list(info["score"]) == list(env.state.score[0])
        assert info["game_mode"] == env.state.game_mode[0]
        if terminated or truncated:
            break
    assert info["goal"] == 1 and info["end_reason"] == "score" and reward == 1.0


def test_difficulty_reaches_the_engine():
    assert FootballEnv(scenario="11_vs_11_stochastic").engine.difficulty == pytest.approx(0.6)
    assert FootballEnv(scenario="11_vs_11_stochastic", difficulty=0.95).engine.difficulty == 0.95


def test_render_rgb_array_draws_the_minimap():
    env = FootballEnv(scenario="academy_3_vs_1_with_keeper", render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (288, 384, 3) and frame.dtype == np.uint8
    colours = {tuple(c) for c in np.unique(frame.reshape(-1, 3), axis=0)}
    assert {(250, 220, 40), (220, 40, 40), (30, 110, 40)} <= colours  # left team, right team, pitch
    with pytest.warns(UserWarning, match="render_mode"):
        assert FootballEnv().render() is None


def test_registered_with_a_vector_entry_point():
    assert "rlkit/Football-v0" in FOOTBALL_ENVS
    env = gym.make("rlkit/Football-v0", scenario="academy_corner", representation="graph")
    assert isinstance(env.unwrapped, FootballEnv) and env.observation_space.shape == (24, 16)
    vec = gym.make_vec("rlkit/Football-v0", num_envs=3, scenario="academy_corner")
    assert isinstance(vec.unwrapped, FootballVectorEnv) and vec.num_envs == 3
    vec.close()


def test_the_config_lists_the_defaults():
    lines = CONF.read_text().splitlines()
    assert lines[0].startswith("# ") and len(lines[0]) < 140
    conf = yaml.safe_load(CONF.read_text())
    assert conf["id"] == "rlkit/Football-v0"
    assert conf["kwargs"] == {"scenario": "academy_empty_goal_close", "representation": "simple115v2",
                              "rewards": "scoring,checkpoints", "n_controlled": 1, "backend": "builtin",
                              "difficulty": None}
    env = gym.make(conf["id"], **conf["kwargs"]).unwrapped
    assert (env.scenario.name, env.representation, env.rewards, env.backend) == (
        "academy_empty_goal_close", "simple115v2", ("scoring", "checkpoints"), "builtin")
