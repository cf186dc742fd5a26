"""The contract every football backend keeps (builtin engine and GRF's; GRF's tests skip where
gfootball is not installed): Gymnasium's API and checker, spaces that hold every observation, a goal
into the empty goal, the time limit, seeded determinism and several controlled players."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env, data_equivalence

from envs.football import register_football_envs
from envs.football.env import FootballEnv
from envs.football.observations import REPRESENTATIONS
from envs.football.scenarios import SCENARIOS

register_football_envs()

BACKENDS = ["builtin", "grf"]
SCENARIO_SAMPLE = ["academy_empty_goal_close", "academy_3_vs_1_with_keeper", "11_vs_11_easy_stochastic"]
INFO_KEYS = {"score", "goal", "game_mode", "end_reason", "steps", "rewards"}
END_REASONS = {"running", "score", "out_of_play", "possession_change", "time"}
RIGHT, SHOT = 5, 12


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    if request.param == "grf":
        pytest.importorskip("gfootball")
    return request.param


def make(backend: str, **kwargs) -> FootballEnv:
    return FootballEnv(backend=backend, **kwargs)


def check_info(info: dict, n_controlled: int = 1) -> None:
    assert set(info) >= INFO_KEYS
    assert np.shape(info["score"]) == (2,) and info["goal"] in (-1, 0, 1)
    assert info["end_reason"] in END_REASONS and 0 <= info["game_mode"] <= 6
    assert np.shape(info["rewards"]) == (n_controlled,)


@pytest.mark.parametrize("scenario", SCENARIO_SAMPLE)
@pytest.mark.parametrize("representation", REPRESENTATIONS)
def test_reset_and_step_follow_gymnasiums_api(backend, scenario, representation):
    env = make(backend, scenario=scenario, representation=representation)
    obs, info = env.reset(seed=0)
    assert obs in env.observation_space
    check_info(info)
    assert info["steps"] == 0 and info["end_reason"] == "running"
    rng = np.random.default_rng(0)
    steps = 0
    for _ in range(30):
        obs, reward, terminated, truncated, info = env.step(int(rng.integers(19)))
        steps += 1
        assert obs in env.observation_space, f"step {steps}: observation outside the space"
        assert isinstance(reward, float) and type(terminated) is bool and type(truncated) is bool
        check_info(info)
        assert info["steps"] == steps and reward == pytest.approx(float(np.sum(info["rewards"])))
        assert (info["end_reason"] == "running") == (not (terminated or truncated))
        if terminated or truncated:
            obs, info = env.reset()
            steps = 0
            assert obs in env.observation_space
    env.close()


@pytest.mark.parametrize("representation", REPRESENTATIONS)
def test_passes_gymnasiums_env_checker(backend, representation):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning but the one below is a failure
        # simple115v2 and graph are unbounded Boxes as GRF's are; raw holds unbounded arrays
        warnings.filterwarnings("ignore", message=".*Box observation space (minimum|maximum) value is")
        env = gym.make("rlkit/Football-v0", backend=backend, representation=representation,
                       scenario="academy_3_vs_1_with_keeper")
        check_env(env.unwrapped, skip_render_check=True)
        env.close()


def test_a_shot_into_the_empty_goal_scores_and_terminates(backend):
    """academy_empty_goal_close: carry the ball a little towards the goal, then shoot until it is in."""
    env = make(backend, scenario="academy_empty_goal_close", rewards="scoring")
    env.reset(seed=0)
    total, actions = 0.0, [RIGHT] * 3 + [SHOT] * 60
    for action in actions:
        _, reward, terminated, truncated, info = env.step(action)
        total += reward
        if terminated or truncated:
            break
    assert terminated and not truncated, f"no goal: ended with {info}"
    assert reward == 1.0 and total == 1.0 and info["goal"] == 1 and info["end_reason"] == "score"
    assert list(info["score"]) == [1, 0]
    assert info["metrics"] == {"scored": 1.0, "goals_for": 1.0, "goals_against": 0.0, "goal_difference": 1.0}


def test_checkpoints_add_up_to_one_on_a_goal(backend):
    env = make(backend, scenario="academy_empty_goal_close", rewards="scoring,checkpoints")
    env.reset(seed=0)
    total = 0.0
    for action in [RIGHT] * 3 + [SHOT] * 60:
        _, reward, terminated, truncated, info = env.step(action)
        total += reward
        if terminated or truncated:
            break
    assert info["goal"] == 1 and total == pytest.approx(2.0, abs=1e-5)  # scoring 1 + ten checkpoints


@pytest.mark.parametrize("scenario", ["academy_empty_goal_close", "academy_run_to_score_with_keeper"])
def test_an_idle_agent_ends_within_the_time_limit(backend, scenario):
    env = make(backend, scenario=scenario)
    env.reset(seed=0)
    # GRF's academy episodes last one step more than their 400 (steps_left is 401 after its reset)
    limit = SCENARIOS[scenario].episode_steps + (backend == "grf")
    for step in range(1, limit + 1):
        _, _, terminated, truncated, info = env.step(0)
        if terminated or truncated:
            break
    assert terminated or truncated
    assert info["steps"] == step and truncated == (info["end_reason"] == "time")
    assert step == limit or not truncated
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


def test_a_full_game_runs_to_its_time_limit():
    env = make("builtin", scenario="11_vs_11_easy_stochastic", rewards="scoring")
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for step in range(1, 3001):
        _, _, terminated, truncated, info = env.step(int(rng.integers(19)))
        assert not terminated
        if truncated:
            break
    assert truncated and step == 3000 and info["end_reason"] == "time"


@pytest.mark.parametrize("scenario", SCENARIO_SAMPLE)
@pytest.mark.parametrize("representation", ["simple115v2", "raw"])
def test_builtin_is_deterministic_under_a_seed(scenario, representation):
    runs = []
    for _ in range(2):
        env = make("builtin", scenario=scenario, representation=representation)
        rng = np.random.default_rng(5)
        obs, _ = env.reset(seed=11)
        trace = [obs]
        for _ in range(150):
            obs, reward, terminated, truncated, info = env.step(int(rng.integers(19)))
            trace.append((obs, reward, terminated, truncated, info["end_reason"], info["score"]))
            if terminated or truncated:
                trace.append(env.reset()[0])
        runs.append(trace)
    assert data_equivalence(runs[0], runs[1], exact=True)


def test_a_seed_replays_an_episode_on_every_backend(backend):
    def run(seed: int) -> list:
        env = make(backend, scenario="academy_3_vs_1_with_keeper")
        trace = [env.reset(seed=seed)[0]]
        for step in range(40):
            obs, reward, terminated, truncated, _ = env.step(RIGHT if step < 20 else SHOT)
            trace.append((obs, reward))
            if terminated or truncated:
                break
        env.close()
        return trace

    first = run(3)
    assert data_equivalence(first, run(3), exact=True)
    assert not data_equivalence(first, run(4), exact=True)


@pytest.mark.parametrize("representation", REPRESENTATIONS)
def test_two_controlled_players(backend, representation):
    env = make(backend, scenario="academy_3_vs_1_with_keeper", representation=representation, n_controlled=2)
    one = make(backend, scenario="academy_3_vs_1_with_keeper", representation=representation)
    assert env.action_space == gym.spaces.MultiDiscrete([19, 19])
    obs, info = env.reset(seed=0)
    if representation == "raw":
        assert isinstance(env.observation_space, gym.spaces.Tuple) and len(obs) == 2
        assert all(space == one.observation_space for space in env.observation_space.spaces)
        assert obs[0]["active"] != obs[1]["active"]
    else:
        assert env.observation_space.shape == (2, *one.observation_space.shape) and obs.shape[0] == 2
    assert obs in env.observation_space
    for _ in range(10):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert obs in env.observation_space and np.shape(info["rewards"]) == (2,)
        assert reward == pytest.approx(float(np.sum(info["rewards"])))
        if terminated or truncated:
            break
