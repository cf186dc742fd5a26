"""CarHybridVectorEnv: each game replays CarHybridEnv seeded alike, bit for bit (both autoreset modes,
with and without reference commands, random and fixed roads, off-road ends and road ends), the info is
the single env's, the close-call fallback of the projection, reset_mask, registration, bad input, and
random roads drawn as before."""

from __future__ import annotations

import re

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.registration import load_env_creator

from batched_equality import assert_games_match_single_envs

import envs  # noqa: F401  (registers the envs)
import envs.hybrid.vector as vector
from envs.batched import BatchedEnv
from envs.hybrid.roads import SEGMENT_LENGTHS, SEGMENT_TURNS, Road, Segment, random_road
from envs.hybrid.vector import CarHybridVectorEnv

MODES = ["next_step", "same_step"]
ID = "rlkit/CarHybrid-v0"
# a short road with a straight, an icy arc and a right turn: cars reach its end (truncation)
ROAD = [dict(length=5.0, turn=0.0, friction="normal", speed=10.0),
        dict(length=6.0, turn=0.3, friction="icy", speed=8.0),
        dict(length=4.0, turn=-0.2, friction="normal", speed=12.0)]


def gentle(rng: np.random.Generator, space: gym.Space, n: int) -> np.ndarray:
    """Small steering and acceleration (the car stays on the road for a while), any reference command."""
    scale = np.ones(space.shape[1])
    scale[:2] = 0.02
    return (rng.uniform(space.low, space.high) * scale).astype(np.float32)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reference_commands", [False, True])
def test_games_replay_the_single_env(reference_commands, mode):
    """Random actions: the cars leave their random roads (terminations) and restart on new ones."""
    ends = assert_games_match_single_envs(ID, dict(reference_commands=reference_commands), n=4, steps=250,
                                          autoreset_mode=mode)
    assert ends >= 4


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kwargs", [dict(road=ROAD), dict(road=ROAD, reference_commands=True),
                                    dict(n_segments=2, frictions=("icy", "normal"), max_lateral_error=4.0,
                                         speed_range=(15.0, 30.0), initial_error=2.0)],
                         ids=["fixed_road", "fixed_road_commands", "short_random_roads"])
def test_games_that_reach_the_road_end_replay_the_single_env(kwargs, mode):
    ends = assert_games_match_single_envs(ID, kwargs, n=3, steps=300, autoreset_mode=mode, actions=gentle)
    assert ends >= 3


def test_diverging_cars_replay_the_single_env():
    """Huge inputs blow the state up: reward -1, zero observation and termination, as the single env."""
    kwargs = dict(input_limit=1e6, max_lateral_error=1e9)
    for mode in MODES:
        assert assert_games_match_single_envs(ID, kwargs, n=3, steps=120, autoreset_mode=mode) > 0
    vec = CarHybridVectorEnv(num_envs=3, **kwargs)
    vec.reset(seed=3)
    rng, diverged = np.random.default_rng(0), 0
    for _ in range(60):
        obs, rewards, terminated, _, _ = vec.step(rng.uniform(vec.action_space.low, vec.action_space.high))
        diverged += int((rewards == -1.0).sum())
        assert not obs[rewards == -1.0].any() and terminated[rewards == -1.0].all()
    assert diverged > 0


def test_truncation_mode_switches_and_segments_happen_on_the_fixed_road():
    vec = CarHybridVectorEnv(num_envs=3, road=ROAD)
    vec.reset(seed=3)
    rng, truncations, modes, segments = np.random.default_rng(0), 0, set(), set()
    for _ in range(300):
        _, _, terminated, truncated, info = vec.step(gentle(rng, vec.action_space, 3))
        truncations += int(truncated.sum())
        modes |= set(info["mode"].tolist())
        segments |= set(info["segment"].tolist())
    assert truncations >= 3 and modes == {"normal", "icy"} and segments == {0, 1, 2}


def test_the_close_call_fallback_replays_the_single_env(monkeypatch):
    """Every distance comparison called close: each game's projection is redone with Road.project."""
    calls = []
    project = Road.project
    monkeypatch.setattr(vector, "_CLOSE_CALL", 1.0)
    monkeypatch.setattr(Road, "project", lambda self, *args: calls.append(args) or project(self, *args))
    for mode in MODES:
        assert assert_games_match_single_envs(ID, dict(road=ROAD, reference_commands=True), n=2, steps=150,
                                              autoreset_mode=mode, actions=gentle) > 0
    assert len(calls) > 2 * 2 * 150  # the batch's fallbacks, besides the single envs' own projections


@pytest.mark.parametrize("mode", MODES)
def test_info_is_the_single_envs(mode):
    """mode, segment, lateral_error and s every step; metrics (as the single env's dict) at each end."""
    kwargs, n = dict(road=ROAD, reference_commands=True), 3
    vec = gym.make_vec(ID, num_envs=n, vectorization_mode="vector_entry_point", autoreset_mode=mode, **kwargs)
    singles = [gym.make(ID, **kwargs) for _ in range(n)]
    _, info = vec.reset(seed=4)
    expected = [env.reset(seed=4 + i)[1] for i, env in enumerate(singles)]
    rng, pending, metrics_seen = np.random.default_rng(2), np.zeros(n, bool), 0
    for t in range(200):
        for i, want in enumerate(expected):
            for key, value in want.items():
                assert info[f"_{key}"][i], (key, i, t)
                assert info[key][i] == value, (key, i, t)
            assert not info.get("_metrics", np.zeros(n, bool))[i] or "metrics" in want
            metrics_seen += "metrics" in want
        actions = gentle(rng, vec.action_space, n)
        _, _, terminated, truncated, info = vec.step(actions)
        for i, env in enumerate(singles):
            if pending[i]:
                expected[i] = env.reset()[1]
            else:
                expected[i] = env.step(actions[i])[4]
                if mode == "same_step" and (terminated[i] or truncated[i]):
                    env.reset()
        pending = (terminated | truncated) & (mode == "next_step")
    assert metrics_seen >= n
    assert set(vec.step_info_keys) == {"mode", "segment", "lateral_error", "s"}


def test_reset_mask_restarts_only_the_masked_games_on_new_roads():
    vec, singles = CarHybridVectorEnv(num_envs=3), [gym.make(ID) for _ in range(3)]
    vec.reset(seed=8)
    for i, env in enumerate(singles):
        env.reset(seed=8 + i)
    roads = list(vec.roads)
    for _ in range(3):
        before, *_ = vec.step(np.zeros((3, 2), np.float32))
    obs, info = vec.reset(options={"reset_mask": np.array([True, False, False])})
    assert np.array_equal(obs[1:], before[1:]) and vec.roads[1:] == roads[1:] and vec.roads[0] is not roads[0]
    singles[0].reset()  # the game's generator goes on: the single env's second episode
    assert np.array_equal(obs[0], singles[0].unwrapped._observation())
    assert vec.roads[0].to_dict() == singles[0].unwrapped.road.to_dict()
    assert list(info["_s"]) == [True, False, False]


@pytest.mark.parametrize("reference_commands", [False, True])
def test_bad_actions_are_the_single_envs_value_errors(reference_commands):
    vec, single = CarHybridVectorEnv(num_envs=2, reference_commands=reference_commands), gym.make(
        ID, reference_commands=reference_commands)
    vec.reset(seed=0)
    single.reset(seed=0)
    size = single.action_space.shape[0]
    with pytest.raises(ValueError, match=rf"actions must have shape \(2, {size}\)"):
        vec.step(np.zeros((2, size + 1), np.float32))
    bad = np.zeros(size)
    bad[1] = np.inf
    with pytest.raises(ValueError) as single_error:
        single.step(bad)
    with pytest.raises(ValueError, match=re.escape(str(single_error.value))):
        vec.step(np.stack([np.zeros(size), bad]))
    assert list(vec._steps) == [0, 0]


def test_registered_as_the_vector_entry_point_taking_the_single_envs_arguments():
    creator = load_env_creator(gym.spec(ID).vector_entry_point)
    assert creator is CarHybridVectorEnv and issubclass(creator, BatchedEnv)
    vec = gym.make_vec(ID, num_envs=2, vectorization_mode="vector_entry_point", reference_commands=True,
                       n_segments=4, autoreset_mode="same_step")
    assert vec.observation_space.shape == (2, 17) and vec.action_space.shape == (2, 4)
    assert vec.observation_space.dtype == np.float32 and vec.n_segments == 4
    with pytest.raises(TypeError, match="no_such_argument"):
        gym.make_vec(ID, num_envs=2, vectorization_mode="vector_entry_point", no_such_argument=1)
    with pytest.raises(ValueError, match="unknown mode 'mud'"):
        gym.make_vec(ID, num_envs=2, vectorization_mode="vector_entry_point", frictions=("mud",))


def test_random_roads_are_the_draws_of_rng_choice():
    """random_road draws seq[rng.integers(len(seq))] (cheaper than rng.choice): the same roads as
    choice's draws, so seeded episodes of the single env are what they were."""
    def with_choice(rng, n_segments, frictions, speed_range):
        return [Segment(float(rng.choice(SEGMENT_LENGTHS)), float(rng.choice(SEGMENT_TURNS) * rng.choice((-1.0, 1.0))),
                        str(rng.choice(list(frictions))), float(rng.uniform(*speed_range))) for _ in range(n_segments)]

    for seed in range(50):
        for frictions in (("normal", "icy"), ("icy",), ["icy", "normal", "normal"]):
            a, b = np.random.default_rng(seed), np.random.default_rng(seed)
            assert random_road(a, 6, frictions, (3.0, 30.0)) == with_choice(b, 6, frictions, (3.0, 30.0))
            assert a.bit_generator.state == b.bit_generator.state
