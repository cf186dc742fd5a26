"""MarketMakingVectorEnv: game i replays ``gym.make("rlkit/MarketMaking-v0")`` seeded with seed + i under
the same actions, bit for bit, in both autoreset modes, for every reward, clock, action layout, quote
unit and queue model, on synthetic days and on the shipped Binance minute (whose far levels live in
the books' overflow maps); days replayed without a tape give the same games; partial resets; spaces,
registration and bad input."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers rlkit/MarketMaking-v0)
from batched_equality import assert_games_match_single_envs, same
from envs.market_making import env as mm_env
from envs.market_making.data import SAMPLES
from envs.market_making.vector import MarketMakingVectorEnv

ENV_ID = "rlkit/MarketMaking-v0"
SMALL = dict(synthetic_days=3, session_seconds=120.0, synthetic_seed=1)
# short episodes so that every game ends a few times; together they cover all rewards, clocks,
# queue models, both action layouts and quote units, latency, stacking and the three splits
CASES = {
    "event": dict(episode_seconds=20.0),
    "time_cash_pnl": dict(clock="time", dt=0.5, episode_seconds=15.0, reward="cash_pnl", taker_fee=0.001),
    "tick_asymmetrical_notional": dict(clock="tick", every=50, episode_seconds=10.0, reward="asymmetrical",
                                       queue="notional"),
    "volume_sharpe_probabilistic_stack": dict(clock="volume", volume=0.5, episode_seconds=20.0,
                                              reward="differential_sharpe", queue="probabilistic", stack=3),
    "extended_ticks_latency": dict(episode_seconds=20.0, actions="extended", quote_unit="tick",
                                   reward="unrealized_realized", latency_ms=50.0, maker_fee=-0.0001,
                                   max_inventory=2),
    "test_split_ceiling": dict(split="test", episode_seconds=25.0, reward="asymmetrical_ceiling", depth=5,
                               windows=(10.0, 60.0)),
    "all_days_time_penalty": dict(split="all", clock="time", dt=0.2, episode_seconds=10.0,
                                  reward="inventory_penalty", latency_ms=5.0, queue="probabilistic"),
    "whole_days_realized": dict(reward="realized", max_inventory=1),
    "unrealized": dict(reward="unrealized", threshold=5e-5, episode_seconds=20.0),
}
BINANCE = dict(data=str(SAMPLES["binance"]), split="all", clock="time", dt=1.0, order_notional=100.0,
               queue="probabilistic", latency_ms=10.0, maker_fee=-0.0001, taker_fee=0.001, episode_seconds=20.0,
               reward="asymmetrical")


@pytest.mark.parametrize("mode", ["next_step", "same_step"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_games_match_single_envs(case, mode):
    ends = assert_games_match_single_envs(ENV_ID, {**SMALL, **CASES[case]}, n=4, steps=120, autoreset_mode=mode)
    assert ends > 0


@pytest.mark.parametrize("mode", ["next_step", "same_step"])
def test_binance_sample_games_match_single_envs(mode):
    assert assert_games_match_single_envs(ENV_ID, BINANCE, n=3, steps=60, autoreset_mode=mode) > 0


def run(kwargs: dict, n: int, steps: int, seed: int = 11) -> list:
    """Observations and rewards of a same-step batch under seeded random actions."""
    vec = MarketMakingVectorEnv(num_envs=n, autoreset_mode="same_step", **kwargs)
    out = [vec.reset(seed=seed)[0]]
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        obs, rewards, terminated, *_ = vec.step(rng.integers(0, vec.single_action_space.n, n))
        out += [obs, rewards, terminated]
    return out


@pytest.mark.parametrize("kwargs", [{**SMALL, "episode_seconds": 20.0, "latency_ms": 20.0}, BINANCE],
                         ids=["synthetic", "binance"])
def test_days_without_a_tape_give_the_same_games(kwargs, monkeypatch):
    with_tape = run(kwargs, n=3, steps=80)
    real = mm_env.prepare_day
    monkeypatch.setattr(mm_env, "prepare_day", lambda table, depth: dataclasses.replace(real(table, depth), tape=None))
    vec = MarketMakingVectorEnv(num_envs=1, **kwargs)
    assert not vec.games.columns.has_tape.any()  # the book's own kernels replay every row
    assert same(run(kwargs, n=3, steps=80), with_tape)
    # the book kept between episodes on one day, as the single env keeps its Engine
    assert assert_games_match_single_envs(ENV_ID, kwargs, n=2, steps=60, autoreset_mode="same_step") > 0


def test_reset_mask_restarts_only_the_masked_games():
    kwargs = {**SMALL, "episode_seconds": 40.0}
    vec = MarketMakingVectorEnv(num_envs=3, **kwargs)
    singles = [gym.make(ENV_ID, **kwargs) for _ in range(3)]
    vec.reset(seed=7)
    for i, env in enumerate(singles):
        env.reset(seed=7 + i)
    rng = np.random.default_rng(0)

    def step_all() -> list:
        actions = rng.integers(0, 17, 3)
        obs, _, terminated, _, _ = vec.step(actions)
        expected = [env.step(int(a)) for env, a in zip(singles, actions)]
        assert not terminated.any() and not any(e[2] for e in expected)
        assert same(list(obs), [e[0] for e in expected])
        return list(obs)

    last = [step_all() for _ in range(4)][-1]
    obs, _ = vec.reset(options={"reset_mask": np.array([False, True, False])})
    assert same(obs[0], last[0]) and same(obs[2], last[2])
    assert same(obs[1], singles[1].reset()[0])  # game 1's next episode from its own generator
    for _ in range(4):
        step_all()
    with pytest.raises(ValueError, match="reset_mask"):
        vec.reset(options={"reset_mask": np.array([1, 0, 1])})
    with pytest.raises(ValueError, match="first reset"):
        MarketMakingVectorEnv(num_envs=3, **kwargs).reset(options={"reset_mask": np.array([True, False, True])})


def test_spaces_and_registration():
    kwargs = {**SMALL, "actions": "extended", "stack": 2}
    vec = gym.make_vec(ENV_ID, num_envs=3, vectorization_mode="vector_entry_point", **kwargs)
    single = gym.make(ENV_ID, **kwargs)
    assert isinstance(vec, MarketMakingVectorEnv)
    assert gym.spec(ENV_ID).vector_entry_point == "envs.market_making.vector:MarketMakingVectorEnv"
    assert vec.single_observation_space == single.observation_space
    assert vec.single_action_space == single.action_space
    assert vec.action_space == gym.spaces.MultiDiscrete([18] * 3)
    obs, _ = vec.reset(seed=0)
    assert obs in vec.observation_space
    obs, rewards, terminated, truncated, info = vec.step(np.full(3, 5))
    assert obs in vec.observation_space and obs.dtype == np.float32
    assert rewards.shape == (3,) and rewards.dtype == np.float64  # the single env's rewards are float64
    assert terminated.dtype == np.bool_ and not truncated.any() and info == {}


def test_bad_input():
    with pytest.raises(ValueError, match="num_envs"):
        MarketMakingVectorEnv(num_envs=0, **SMALL)
    with pytest.raises(ValueError, match="allowed: unrealized"):
        MarketMakingVectorEnv(num_envs=2, reward="sharpe", **SMALL)
    with pytest.raises(TypeError, match="no_such_argument"):
        MarketMakingVectorEnv(num_envs=2, no_such_argument=1, **SMALL)
    vec = MarketMakingVectorEnv(num_envs=2, **SMALL)
    with pytest.raises(RuntimeError, match="reset"):
        vec.step(np.zeros(2, int))
    vec.reset(seed=0)
    for bad in (np.zeros(3, int), np.zeros((2, 1), int), np.array([0, 17]), np.array([-1, 0]), np.array([0.5, 1.0])):
        with pytest.raises(ValueError, match="actions must"):
            vec.step(bad)
