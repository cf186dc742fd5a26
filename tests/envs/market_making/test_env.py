"""MarketMaking-v0 through the Gymnasium API: check_env, seeding, rewards, actions, metrics, the
real Binance sample."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs  # noqa: F401  (registers rlkit/MarketMaking-v0)
from envs.market_making.data import SAMPLES
from envs.market_making.env import MarketMakingEnv
from envs.market_making.rewards import REWARDS, Reward, StepOutcome

SMALL = dict(synthetic_days=3, session_seconds=120.0, synthetic_seed=1)


def play(env, actions, seed=0):
    obs, _ = env.reset(seed=seed)
    out = [obs]
    rewards, info = [], {}
    for i in range(10_000):
        obs, reward, terminated, truncated, info = env.step(actions[i % len(actions)])
        out.append(obs)
        rewards.append(reward)
        if terminated or truncated:
            break
    return np.array(out), np.array(rewards), info


def test_check_env_and_registration():
    env = gym.make("rlkit/MarketMaking-v0", **SMALL)
    check_env(env.unwrapped)
    assert env.action_space.n == 17
    assert env.observation_space.shape == (7 * 15 + 3 + 6 + 7,)


def test_the_market_observation_adds_the_raw_state_and_keeps_the_features():
    plain = MarketMakingEnv(**SMALL, split="test")
    env = gym.make("rlkit/MarketMaking-v0", **SMALL, split="test", market_observation=True)
    check_env(env.unwrapped)
    obs, _ = plain.reset(seed=1)
    market_obs, _ = env.reset(seed=1)
    assert isinstance(plain.observation_space, gym.spaces.Box)  # the default is unchanged
    assert env.observation_space["features"] == plain.observation_space
    for action in (5, 1, 16, 0):
        np.testing.assert_array_equal(obs, market_obs["features"])
        state = env.unwrapped.market_state()
        assert env.observation_space.contains(market_obs)
        assert market_obs["mid"][0] == state["mid"] and market_obs["inventory"][0] == state["inventory"]
        quoted = ~np.isnan(state["action_quotes"])
        np.testing.assert_array_equal(market_obs["action_quoted"], quoted)
        np.testing.assert_array_equal(market_obs["action_quotes"][quoted], state["action_quotes"][quoted])
        obs, *_ = plain.step(action)
        market_obs, *_ = env.step(action)


def test_the_batched_engine_refuses_the_market_observation():
    with pytest.raises(ValueError, match="single env"):
        gym.make_vec("rlkit/MarketMaking-v0", num_envs=2, vectorization_mode="vector_entry_point", **SMALL,
                     market_observation=True)


def test_seeded_runs_repeat():
    a = play(MarketMakingEnv(**SMALL, episode_seconds=60.0), [1, 5, 0, 16, 8], seed=4)
    b = play(MarketMakingEnv(**SMALL, episode_seconds=60.0), [1, 5, 0, 16, 8], seed=4)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_cash_pnl_rewards_add_up_to_the_episode_pnl_and_it_ends_flat():
    env = MarketMakingEnv(**SMALL, reward="cash_pnl", clock="time", dt=0.5, taker_fee=0.001)
    _, rewards, info = play(env, [5, 1, 4, 0])
    m = info["metrics"]
    assert rewards.sum() / 100 * env.order_notional == pytest.approx(m["pnl"], abs=1e-6)
    assert env.engine.position == 0.0 and m["trades"] > 0 and m["market_orders"] >= 1
    assert set(m) >= {"pnl", "pnl_pct", "sharpe", "sortino", "max_drawdown", "trades", "fill_ratio",
                      "inventory_max", "inventory_mean", "market_orders", "buy_and_hold_pct"}


def test_realized_rewards_add_up_to_the_realized_pnl():
    env = MarketMakingEnv(**SMALL, reward="realized", clock="time", dt=0.5)
    _, rewards, _ = play(env, [5, 16, 1])
    assert rewards.sum() / 100 * env.order_notional == pytest.approx(env.engine.accounts()["realized"])


def test_rewards_by_hand():
    s = StepOutcome(q=2.0, dm=-0.001, pi=0.003, h=0.0005, fills=1, dE=0.004)
    f = 0.002
    expected = {
        "unrealized": 100 * 2 * -0.001,
        "unrealized_realized": 100 * (2 * -0.001 + 0.003),
        "asymmetrical": 100 * (0.0005 + 0.35 * 2 * -0.001 + 0.003),
        "asymmetrical_ceiling": min(100 * (0.0005 + 0.35 * 2 * -0.001 + 0.003), 100 * 2 * f),
        "realized": 0.3,
        "trade_completion": -1.0 if 0.003 < -f else (1.0 if 0.003 > 2 * f else 0.003),
        "cash_pnl": 0.4,
        "inventory_penalty": 0.4 - 0.01 * 4,
    }
    for name, value in expected.items():
        assert Reward(name, taker_fee=f)(s) == pytest.approx(value), name
    assert Reward("trade_completion", taker_fee=f)(StepOutcome(pi=0.005)) == 1.0
    assert Reward("trade_completion", taker_fee=f)(StepOutcome(pi=-0.0025)) == -1.0
    assert Reward("asymmetrical", taker_fee=f)(StepOutcome(q=1, dm=0.01)) == 0.0  # gains dampened away
    assert Reward("asymmetrical_ceiling", ceiling=0.1)(StepOutcome(h=0.01, fills=1)) == 0.1
    # differential Sharpe: A = B = 0 -> 0, then A = 0.01 R1, B = 0.01 R1^2
    dsr = Reward("differential_sharpe")
    assert dsr(StepOutcome(q=1, dm=0.01)) == 0.0
    A, B = 0.01 * 0.01, 0.01 * 0.0001
    R = -0.02
    dA, dB = R - A, R * R - B
    assert dsr(StepOutcome(q=1, dm=R)) == pytest.approx((B * dA - A * dB / 2) / (B - A * A) ** 1.5)
    assert set(expected) | {"differential_sharpe"} == set(REWARDS)


def test_every_reward_runs():
    for name in REWARDS:
        _, rewards, _ = play(MarketMakingEnv(**SMALL, reward=name, episode_seconds=30.0), [1, 5, 16])
        assert np.isfinite(rewards).all(), name


def test_extended_layout_quotes_the_touch_and_the_limit_stops_a_side():
    env = MarketMakingEnv(**SMALL, actions="extended", max_inventory=1, clock="time", dt=0.2)
    assert env.action_space.n == 18
    env.reset(seed=0)
    env.step(1)  # (0, 0)
    bb, ba = env.engine.best_ticks()
    orders = env.engine.order(0), env.engine.order(1)
    assert orders[0]["active"] and orders[1]["active"]
    for _ in range(2000):
        *_, terminated, _, info = env.step(1)
        if abs(env.engine.position) >= env.order_qty * (1 - 1e-9) or terminated:
            break
    position = env.engine.position
    assert abs(position) <= env.limit_qty * (1 + 1e-9)
    if abs(position) >= env.order_qty * (1 - 1e-9) and not terminated:
        env._quote(0, 0)
        side = 0 if position > 0 else 1
        assert not env.engine.order(side)["active"] and not env.engine.order(side)["pending"]


def test_clocks_splits_stacking_and_errors():
    for clock in ("event", "time", "tick", "volume"):
        obs, rewards, info = play(MarketMakingEnv(**SMALL, clock=clock, volume=0.5, stack=3,
                                                   episode_seconds=20.0), [1, 0])
        assert obs.shape[1] == 3 * (7 * 15 + 16) and np.isfinite(obs).all()
    test = MarketMakingEnv(**SMALL, split="test")
    train = MarketMakingEnv(**SMALL, split="train")
    assert test.day_indices == [2] and train.day_indices == [0, 1]
    for bad in (dict(reward="sharpe"), dict(clock="wall"), dict(queue="fifo"), dict(split="dev"),
                dict(dt=0)):
        with pytest.raises(ValueError, match="allowed|must be"):
            MarketMakingEnv(**SMALL, **bad)


def test_binance_sample_end_to_end():
    env = MarketMakingEnv(str(SAMPLES["binance"]), split="all", clock="time", dt=1.0,
                          order_notional=100.0, queue="probabilistic", latency_ms=10.0,
                          maker_fee=-0.0001, taker_fee=0.001, reward="asymmetrical")
    obs, rewards, info = play(env, [1, 4, 5, 0, 16])
    assert 50 <= len(rewards) <= 70  # one minute, a decision per second
    m = info["metrics"]
    assert np.isfinite(obs).all() and np.isfinite(rewards).all()
    assert env.engine.position == 0.0 and m["steps"] == len(rewards)
