"""The real-engine backend's shim, against a fake ``gfootball``: GRF's old gym API and raw dicts become
Gymnasium's API and rlkit's observations, spaces and info; errors when gfootball is missing."""

from __future__ import annotations

import sys
import types
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from envs.football import observations, register_football_envs
from envs.football.env import FootballEnv, football_spaces
from envs.football.grf import GRFFootballEnv
from envs.football.scenarios import SCENARIOS

register_football_envs()

IDLE, RIGHT, LONG_PASS, SHOT, SLIDING = 0, 5, 9, 12, 16


class FakeGRF:
    """GRF's ``create_environment(representation="raw")`` as far as the shim sees it: old gym API,
    a list of raw dicts (GRF's types: lists, Python ints, float64 arrays), a float reward for one
    player and an array for several. Scripted game: ``right`` carries the ball towards x = +1,
    ``shot`` scores, ``sliding`` loses the ball, ``long_pass`` kicks it out (throw-in)."""

    def __init__(self, env_name, n_controlled, rewards, designated=True, n_left=None):
        spec = SCENARIOS[env_name]
        self.n_left = spec.n_left if n_left is None else n_left
        self.n_right, self.steps = spec.n_right, spec.episode_steps
        self.n_controlled, self.rewards, self.designated = n_controlled, rewards, designated
        self.actions: list = []
        self.closed = False
        self.unwrapped = types.SimpleNamespace(_config={})
        self.reset_seeds: list = []

    def _obs(self) -> list[dict]:
        rng = self._rng
        left = np.column_stack([np.linspace(-1, 0.7, self.n_left), rng.uniform(-0.3, 0.3, self.n_left)])
        left[1 % self.n_left] = self._carrier
        right = np.column_stack([np.linspace(1, 0.2, self.n_right), rng.uniform(-0.3, 0.3, self.n_right)])
        obs = []
        for slot in range(self.n_controlled):
            d = {"ball": np.array([*self._ball, 0.1]), "ball_direction": np.array([0.01, 0.0, 0.0]),
                 "ball_rotation": np.zeros(3), "ball_owned_team": self._owner,
                 "ball_owned_player": 1 if self._owner == 0 else (0 if self._owner == 1 else -1),
                 "left_team": left, "left_team_direction": np.full((self.n_left, 2), 0.005),
                 "left_team_active": np.ones(self.n_left, bool), "left_team_roles": np.arange(self.n_left) % 10,
                 "left_team_tired_factor": np.full(self.n_left, 0.1),
                 "left_team_yellow_card": np.zeros(self.n_left, bool),
                 "right_team": right, "right_team_direction": np.zeros((self.n_right, 2)),
                 "right_team_active": np.ones(self.n_right, bool), "right_team_roles": np.zeros(self.n_right, int),
                 "right_team_tired_factor": np.zeros(self.n_right),
                 "right_team_yellow_card": np.zeros(self.n_right, bool),
                 "score": list(self._score), "steps_left": self.steps - self._t, "game_mode": self._mode,
                 "active": (1 + slot) % self.n_left, "sticky_actions": np.zeros(10, np.uint8)}
            if self.designated:
                d["designated"] = 1
            obs.append(d)
        self.last = obs
        return obs

    def reset(self):
        self.reset_seeds.append(self.unwrapped._config.get("game_engine_random_seed"))
        self._rng = np.random.default_rng(self.reset_seeds[-1])
        self._t, self._score, self._mode, self._owner = 0, [0, 0], 0, 0
        self._carrier = np.array([0.75, 0.0])
        self._ball = self._carrier + [0.01, 0.0]
        return self._obs()

    def step(self, action):
        self.actions.append(action)
        a = action if isinstance(action, int) else action[0]
        self._t += 1
        done = False
        if a == RIGHT:
            self._carrier = self._carrier + [0.01, 0.0]
            self._ball = self._carrier + [0.01, 0.0]
        elif a == SHOT:
            self._ball, self._owner, self._score, done = np.array([1.01, 0.0]), -1, [1, 0], True
        elif a == SLIDING:
            self._owner, done = 1, True
        elif a == LONG_PASS:
            self._ball, self._owner, self._mode, done = np.array([0.5, 0.43]), -1, 5, True
        done = done or self._t >= self.steps
        reward = float(self._score[0]) if a == SHOT else 0.0
        rewards = np.full(self.n_controlled, reward, np.float32)
        return self._obs(), (reward if self.n_controlled == 1 else rewards), done, {"score_reward": reward}

    def close(self):
        self.closed = True


class _Created(list):
    """The FakeGRF games made so far, with ``options`` for the next ones."""

    options: dict


@pytest.fixture
def fake_gfootball(monkeypatch):
    """Install a fake ``gfootball`` package; returns the list of FakeGRF games it creates."""
    created = _Created()
    options = {"designated": True, "n_left": None}

    def create_environment(env_name, representation="extracted", rewards="scoring", render=False,
                           number_of_left_players_agent_controls=1, other_config_options=None, **kwargs):
        assert representation == "raw" and render is False and not kwargs
        game = FakeGRF(env_name, number_of_left_players_agent_controls, rewards, **options)
        game.kwargs = dict(env_name=env_name, representation=representation, rewards=rewards, render=render,
                           number_of_left_players_agent_controls=number_of_left_players_agent_controls,
                           other_config_options=other_config_options)
        created.append(game)
        return game

    package, env_module = types.ModuleType("gfootball"), types.ModuleType("gfootball.env")
    env_module.create_environment = create_environment
    package.env = env_module
    monkeypatch.setitem(sys.modules, "gfootball", package)
    monkeypatch.setitem(sys.modules, "gfootball.env", env_module)
    created.options = options
    return created


def test_backend_grf_without_gfootball_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gfootball", None)  # import gfootball raises ImportError
    monkeypatch.setitem(sys.modules, "gfootball.env", None)
    for build in (lambda: FootballEnv(backend="grf"), lambda: gym.make("rlkit/Football-v0", backend="grf"),
                  lambda: GRFFootballEnv()):
        with pytest.raises(ImportError, match="not installed") as error:
            build()
        assert "pip install 'rlkit[grf]'" in str(error.value) and "README" in str(error.value)


def test_bad_arguments_are_reported_before_gfootball_is_needed(monkeypatch):
    monkeypatch.setitem(sys.modules, "gfootball", None)
    with pytest.raises(ValueError, match="academy_3_vs_1_with_keeper"):
        FootballEnv(scenario="nope", backend="grf")
    with pytest.raises(ValueError, match="builtin, grf"):
        FootballEnv(backend="real")


def test_backend_grf_builds_the_shim_with_grfs_arguments(fake_gfootball):
    env = FootballEnv(scenario="academy_3_vs_1_with_keeper", rewards="scoring", n_controlled=2, backend="grf")
    assert isinstance(env, GRFFootballEnv) and isinstance(env, FootballEnv)
    assert fake_gfootball[-1].kwargs == dict(
        env_name="academy_3_vs_1_with_keeper", representation="raw", rewards="scoring", render=False,
        number_of_left_players_agent_controls=2, other_config_options={"action_set": "default"})
    made = gym.make("rlkit/Football-v0", backend="grf", representation="graph")
    assert isinstance(made.unwrapped, GRFFootballEnv)
    assert fake_gfootball[-1].kwargs["rewards"] == "scoring,checkpoints"
    env.close()
    assert fake_gfootball[0].closed


@pytest.mark.parametrize("representation", observations.REPRESENTATIONS)
@pytest.mark.parametrize("n_controlled", [1, 2])
def test_spaces_are_the_builtin_ones_and_hold_every_observation(fake_gfootball, representation, n_controlled):
    scenario = "academy_3_vs_1_with_keeper"
    env = FootballEnv(scenario=scenario, representation=representation, n_controlled=n_controlled, backend="grf")
    obs_space, action_space = football_spaces(SCENARIOS[scenario], representation, n_controlled)
    assert env.observation_space == obs_space and env.action_space == action_space
    obs, _ = env.reset(seed=0)
    assert obs in env.observation_space
    for _ in range(3):
        obs, *_ = env.step(env.action_space.sample() * 0 + RIGHT)
        assert obs in env.observation_space


@pytest.mark.parametrize("representation", ["simple115v2", "extracted", "graph"])
def test_observations_are_the_reference_builders_on_grfs_raw_dicts(fake_gfootball, representation):
    spec = SCENARIOS["academy_3_vs_1_with_keeper"]
    env = FootballEnv(scenario=spec.name, representation=representation, n_controlled=2, backend="grf")
    obs, _ = env.reset(seed=1)
    raw = fake_gfootball[-1].last
    build = {"simple115v2": observations.simple115v2_from_raw, "extracted": observations.extracted_from_raw,
             "graph": lambda d: observations.graph_from_raw(d, episode_steps=spec.episode_steps)}[representation]
    for slot in range(2):
        np.testing.assert_array_equal(obs[slot], build(raw[slot]))
    assert obs.dtype == env.observation_space.dtype


def test_raw_dicts_are_cast_to_rlkits_raw_space(fake_gfootball):
    fake_gfootball.options["designated"] = False  # older gfootball leaves it out
    env = FootballEnv(representation="raw", backend="grf")
    obs, _ = env.reset(seed=0)
    grf_obs = fake_gfootball[-1].last[0]
    assert set(obs) == set(observations.RAW_KEYS)
    assert obs["designated"] == grf_obs["active"]
    assert obs["score"].dtype == env.observation_space["score"].dtype and list(obs["score"]) == [0, 0]
    np.testing.assert_array_equal(obs["left_team"], grf_obs["left_team"])
    assert obs in env.observation_space


def test_a_scenario_with_other_team_sizes_is_a_clear_error(fake_gfootball):
    fake_gfootball.options["n_left"] = 3  # gfootball's scenario has a player more than ours
    env = FootballEnv(representation="raw", backend="grf")
    with pytest.raises(RuntimeError, match="same players"):
        env.reset()


def test_old_api_becomes_gymnasiums_terminated_on_a_goal(fake_gfootball):
    env = FootballEnv(backend="grf")
    obs, info = env.reset(seed=0)
    assert info == {"score": info["score"], "goal": 0, "game_mode": 0, "end_reason": "running", "steps": 0,
                    "rewards": info["rewards"]}
    result = env.step(RIGHT)
    assert len(result) == 5 and result[1:4] == (0.0, False, False)
    obs, reward, terminated, truncated, info = env.step(np.int64(SHOT))
    assert (reward, terminated, truncated) == (1.0, True, False)
    assert info["goal"] == 1 and info["end_reason"] == "score" and list(info["score"]) == [1, 0]
    assert info["steps"] == 2 and isinstance(reward, float) and type(terminated) is bool
    assert fake_gfootball[-1].actions == [RIGHT, SHOT] and all(type(a) is int for a in fake_gfootball[-1].actions)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(IDLE)


@pytest.mark.parametrize("action, reason", [(SLIDING, "possession_change"), (LONG_PASS, "out_of_play")])
def test_academy_end_rules_terminate_and_are_named(fake_gfootball, action, reason):
    env = FootballEnv(backend="grf")
    env.reset(seed=0)
    env.step(RIGHT)
    _, reward, terminated, truncated, info = env.step(action)
    assert (terminated, truncated, info["end_reason"], info["goal"]) == (True, False, reason, 0)


def test_the_time_limit_truncates(fake_gfootball):
    env = FootballEnv(backend="grf")
    env.reset(seed=0)
    for step in range(1, 401):
        _, _, terminated, truncated, info = env.step(IDLE)
        if terminated or truncated:
            break
    assert (step, terminated, truncated, info["end_reason"]) == (400, False, True, "time")


def test_several_players_get_one_action_each_and_rewards_per_slot(fake_gfootball):
    env = FootballEnv(scenario="academy_3_vs_1_with_keeper", n_controlled=3, backend="grf")
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step([SHOT, IDLE, IDLE])
    assert fake_gfootball[-1].actions == [[SHOT, IDLE, IDLE]]
    assert info["rewards"].shape == (3,) and reward == pytest.approx(3.0) and terminated


@pytest.mark.parametrize("action", [19, -1, 2.5, [SHOT, SHOT], "shot"])
def test_bad_actions_never_reach_gfootball(fake_gfootball, action):
    env = FootballEnv(backend="grf")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(action)
    assert fake_gfootball[-1].actions == []


def test_reset_seeds_grfs_engine_from_np_random(fake_gfootball):
    env = FootballEnv(backend="grf")
    first, _ = env.reset(seed=7)
    env.reset()
    again, _ = env.reset(seed=7)
    seeds = fake_gfootball[-1].reset_seeds
    assert seeds[0] == seeds[2] != seeds[1] and isinstance(seeds[0], int)
    # GRF draws its team processing order from the seed too (at random when it was made)
    assert fake_gfootball[-1].unwrapped._config["reverse_team_processing"] == bool(seeds[2] % 2)
    np.testing.assert_array_equal(first, again)


def test_difficulty_is_the_scenarios_on_grf(fake_gfootball):
    with pytest.raises(ValueError, match="11_vs_11_hard_stochastic"):
        FootballEnv(backend="grf", difficulty=0.9)


def test_render_draws_the_minimap(fake_gfootball):
    env = FootballEnv(backend="grf", render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (288, 384, 3) and frame.dtype == np.uint8 and len(np.unique(frame.reshape(-1, 3), axis=0)) > 2


@pytest.mark.parametrize("representation", observations.REPRESENTATIONS)
def test_passes_gymnasiums_env_checker(fake_gfootball, representation):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=".*Box observation space (minimum|maximum) value is")
        check_env(FootballEnv(representation=representation, backend="grf"), skip_render_check=True)
