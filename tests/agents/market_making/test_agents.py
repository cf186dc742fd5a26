"""The classical market makers: formulas against hand computations, inventory skew, the action
map, the market observation they read, the agent contract (save/load, learn with callbacks, in
subprocess envs, refusal of other envs)."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.callbacks import BaseCallback

from agents.market_making import (AvellanedaStoikovAgent, FixedSpreadAgent, GLFTAgent, MarketEstimator,
                                  avellaneda_stoikov_quotes, fixed_spread_quotes, glft_quotes, nearest_action)
from agents.market_making.agents import market_states
from envs.market_making import engine as eng
from envs.market_making.env import MarketMakingEnv

SMALL = dict(synthetic_days=2, session_seconds=120.0, synthetic_seed=3, market_observation=True)


@pytest.fixture(scope="module")
def env():
    return MarketMakingEnv(**SMALL, split="test", clock="time", actions="extended")


def test_avellaneda_stoikov_by_hand():
    # mid 100, q 2, gamma 0.5, sigma 0.01, tau 10, k 50:
    # gamma sigma^2 tau = 0.0005; r = 100 (1 - 2 x 0.0005) = 99.9
    # spread = 100 (0.0005 + 4 ln 1.01) = 100 (0.0005 + 0.0398013) = 4.03013
    bid, ask = avellaneda_stoikov_quotes(100.0, 2.0, 0.5, 0.01, 10.0, 50.0)
    assert bid == pytest.approx(99.9 - 4.030133 / 2, abs=1e-5)
    assert ask == pytest.approx(99.9 + 4.030133 / 2, abs=1e-5)
    assert ask - bid == pytest.approx(100 * (0.0005 + 4 * math.log(1.01)))


def test_glft_by_hand():
    # gamma = k = A = 1, sigma 0.1: c1 = ln 2 = 0.693147, c2 = sqrt(1/2 x 2^2) = sqrt 2
    bid, ask = glft_quotes(100.0, 0.0, 1.0, 0.1, 1.0, 1.0)
    assert 100 - bid == pytest.approx(100 * (0.693147 + 0.5 * 0.1 * 1.414214), abs=1e-4)
    assert ask - 100 == pytest.approx(100 * (0.693147 + 0.5 * 0.1 * 1.414214), abs=1e-4)
    bid, ask = glft_quotes(100.0, 1.0, 1.0, 0.1, 1.0, 1.0)  # q = 1: (2q+1)/2 = 1.5, (2q-1)/2 = 0.5
    assert 100 - bid == pytest.approx(100 * (0.693147 + 1.5 * 0.1414214), abs=1e-4)
    assert ask - 100 == pytest.approx(100 * (0.693147 - 0.5 * 0.1414214), abs=1e-4)


def test_fixed_spread_by_hand():
    assert fixed_spread_quotes(200.0, 1e-3) == pytest.approx((199.8, 200.2))


@pytest.mark.parametrize("quote", [
    lambda q: avellaneda_stoikov_quotes(100.0, q, 5.0, 1e-4, 1800.0, 1e4),
    lambda q: glft_quotes(100.0, q, 1000.0, 1e-4, 1e4, 1.0),
])
def test_long_inventory_lowers_both_quotes(quote):
    (bid_short, ask_short), (bid_flat, ask_flat), (bid_long, ask_long) = quote(-3.0), quote(0.0), quote(3.0)
    assert bid_long < bid_flat < bid_short and ask_long < ask_flat < ask_short
    assert bid_flat < 100.0 < ask_flat


def test_nearest_action():
    nan = math.nan
    quotes = np.array([[nan, nan], [99.0, 101.0], [98.0, 101.0], [99.0, 103.0], [nan, nan]])
    assert nearest_action(quotes, 99.1, 100.5) == 1
    assert nearest_action(quotes, 97.0, 101.2) == 2
    assert nearest_action(quotes, 99.0, 102.5) == 3
    assert nearest_action(quotes, 98.5, 101.0) == 1  # a tie goes to the lower action
    one_side = quotes.copy()
    one_side[1:4, 0] = nan  # bid beyond the inventory limit: only the asks count
    assert nearest_action(one_side, 90.0, 102.9) == 3
    assert nearest_action(np.full((5, 2), nan), 99.0, 101.0) == 0


def test_estimator_follows_returns():
    est = MarketEstimator(sigma0=1e-3, A0=1.0, halflife=1e9, prior_seconds=1e-9)
    mid = 100.0
    for t in range(1, 401):
        mid *= math.exp(2e-4 if t % 2 else -2e-4)
        est.update(float(t), mid, 4.0)
    assert est.sigma == pytest.approx(2e-4, rel=1e-3) and est.A == pytest.approx(2.0, rel=1e-3)


def test_market_state_quotes_are_what_step_places(env):
    env.reset(seed=0)
    agent = AvellanedaStoikovAgent()
    for _ in range(20):
        state = env.market_state()
        action = agent.act(state, agent._new_estimator())
        env.step(action)
        # latency 0: the quotes are active (or filled / rejected) right away; check the prices sent
        for o in (0, 1):
            order = env.engine.oi[o]
            if order[eng.OI_TICK] and not math.isnan(state["action_quotes"][action, o]):
                assert order[eng.OI_TICK] * env.engine.tick_size == pytest.approx(state["action_quotes"][action, o])
    state = env.market_state()
    assert state["time_left"] >= 0 and state["mid"] > 0 and np.isnan(state["action_quotes"][[0, -1]]).all()


def test_agent_skews_with_inventory_on_the_env(env):
    env.reset(seed=1)
    state = env.market_state()
    agent = AvellanedaStoikovAgent(gamma=50.0)
    est = agent._new_estimator()
    flat = agent.quotes(dict(state, inventory=0.0), est)
    long = agent.quotes(dict(state, inventory=5.0), est)
    assert long[0] < flat[0] and long[1] < flat[1]


def _episode(agent, seed=0):
    env = MarketMakingEnv(**SMALL, split="test", clock="event", episode_seconds=40.0)
    obs, _ = env.reset(seed=seed)
    actions, done = [], False
    while not done:
        action, _ = agent.predict(obs)
        actions.append(int(action))
        obs, _, done, _, info = env.step(action)
    return actions, info["metrics"]


def _episode_from_the_env(agent, seed=0):
    """The same episode with the state read from the env itself (market_state()), one estimator."""
    env = MarketMakingEnv(**SMALL, split="test", clock="event", episode_seconds=40.0)
    env.reset(seed=seed)
    estimator, actions, done = agent._new_estimator(), [], False
    while not done:
        action = agent.act(env.market_state(), estimator)
        actions.append(action)
        _, _, done, _, info = env.step(action)
    return actions, info["metrics"]


def test_the_market_observation_is_market_state(env):
    obs, _ = env.reset(seed=2)
    for action in (5, 1, 9, 0, 3):
        assert env.observation_space.contains(obs)
        (state,), single = market_states(obs)
        raw = env.market_state()
        assert single and state["decisions"] == raw["decisions"]
        for key in ("time", "time_left", "mid", "inventory", "step_trades"):
            assert state[key] == raw[key]  # exact: float64 all the way
        np.testing.assert_array_equal(state["action_quotes"], raw["action_quotes"])  # NaN where not quoted
        obs, *_ = env.step(action)


@pytest.mark.parametrize("cls", [AvellanedaStoikovAgent, GLFTAgent])
def test_predict_decides_as_from_the_env_state(cls):
    assert _episode(cls()) == _episode_from_the_env(cls())


@pytest.mark.parametrize("cls", [AvellanedaStoikovAgent, GLFTAgent, FixedSpreadAgent])
def test_save_load_round_trip(cls, tmp_path):
    agent = cls()
    agent.num_timesteps = 7
    agent.save(tmp_path / "agent")
    loaded = cls.load(tmp_path / "agent.zip")
    assert loaded.hyperparameters == agent.hyperparameters and loaded.num_timesteps == 7
    actions, metrics = _episode(agent)
    assert len(set(actions)) >= 1 and "pnl_pct" in metrics
    assert _episode(loaded) == (actions, metrics)
    with pytest.raises(ValueError, match="holds a"):
        (GLFTAgent if cls is not GLFTAgent else FixedSpreadAgent).load(tmp_path / "agent.zip")


def test_refuses_cartpole_and_an_env_without_the_market_observation():
    cartpole = gym.make("CartPole-v1")
    for cls in (AvellanedaStoikovAgent, GLFTAgent, FixedSpreadAgent):
        with pytest.raises(ValueError, match="MarketMaking"):
            cls.check_env(cartpole)
        with pytest.raises(ValueError, match="MarketMaking"):
            cls(env=cartpole)
        assert cls.env_requirements == {"market_observation": True}
    with pytest.raises(ValueError, match="market_observation=True"):
        GLFTAgent.check_env(MarketMakingEnv(**{**SMALL, "market_observation": False}))
    with pytest.raises(ValueError, match="gamma"):
        AvellanedaStoikovAgent(gamma=0.0)


def test_predict_needs_the_market_observation():
    with pytest.raises(ValueError, match="market_observation=True"):
        FixedSpreadAgent().predict(np.full(121, 123.0, np.float32))


def test_subprocess_envs_give_the_same_actions_as_local_ones():
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import SubprocVecEnv

    def make():
        return MarketMakingEnv(**SMALL, clock="time")

    local = make_vec_env(make, n_envs=2, seed=5)
    remote = make_vec_env(make, n_envs=2, seed=5, vec_env_cls=SubprocVecEnv)
    try:
        agents = AvellanedaStoikovAgent(), AvellanedaStoikovAgent()
        observations = local.reset(), remote.reset()
        for _ in range(25):
            actions = [agent.predict(obs)[0] for agent, obs in zip(agents, observations)]
            np.testing.assert_array_equal(actions[0], actions[1])
            observations = local.step(actions[0])[0], remote.step(actions[1])[0]
    finally:
        local.close()
        remote.close()


def test_learn_calls_the_callbacks():
    from stable_baselines3.common.env_util import make_vec_env

    class Count(BaseCallback):
        def __init__(self):
            super().__init__()
            self.steps = self.starts = self.ends = 0

        def _on_training_start(self):
            self.starts += 1

        def _on_step(self):
            self.steps += 1
            return self.steps < 30

        def _on_training_end(self):
            self.ends += 1

    vec = make_vec_env(lambda: MarketMakingEnv(**SMALL, clock="time"), n_envs=2, seed=0)
    agent = GLFTAgent(env=vec)
    callback = Count()
    agent.learn(100, callback=callback)
    assert (callback.starts, callback.steps, callback.ends) == (1, 30, 1)
    assert agent.num_timesteps == 60
    actions, _ = agent.predict(vec.reset())  # a batch, each row read from its own env
    assert actions.shape == (2,) and all(1 <= a <= 16 for a in actions)
