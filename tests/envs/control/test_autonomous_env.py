"""envs.control.autonomous_env: the RK4 flow against SciPy's adaptive integrator, starting states,
escape, and bad input."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import envs  # noqa: F401  (registers rlkit/Autonomous-v0)
from envs.control.autonomous_env import AutonomousEnv


@pytest.mark.parametrize("name", ["van_der_pol_reversed", "power_3bus"])
def test_steps_follow_the_flow(name):
    env = gym.make("rlkit/Autonomous-v0", system=name, dt=0.05, episode_steps=40).unwrapped
    x0, _ = env.reset(seed=3)
    low, high = env.system.region
    assert np.all((low <= x0) & (x0 <= high))
    rewards = []
    for _ in range(40):
        x, reward, terminated, truncated, _ = env.step(np.zeros(0, dtype=np.float32))
        rewards.append(reward)
    assert truncated and not terminated
    exact = solve_ivp(lambda t, y: env.system.f(y), (0, 2.0), x0, rtol=1e-10, atol=1e-12).y[:, -1]
    np.testing.assert_allclose(x, exact, atol=1e-5)  # RK4's global error at dt = 0.05
    assert rewards[-1] == pytest.approx(-np.sum(x**2) * 0.05)


def test_passes_gymnasiums_env_checker():
    from gymnasium.utils.env_checker import check_env

    check_env(gym.make("rlkit/Autonomous-v0", system="polynomial_3d").unwrapped, skip_render_check=True)


def test_an_unstable_start_escapes_and_terminates():
    env = AutonomousEnv("van_der_pol_reversed", dt=0.05, episode_steps=1000)
    env.reset(options={"initial_state": [2.5, 2.5]})  # outside the region of attraction (the limit cycle)
    for step in range(1000):
        x, reward, terminated, truncated, _ = env.step(np.zeros(0))
        if terminated:
            break
    assert terminated and not truncated and np.isfinite(reward)
    assert np.abs(x).max() > 10 or not np.all(np.isfinite(x))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="unknown system 'lorenz'"):
        AutonomousEnv("lorenz")
    env = AutonomousEnv("stable_linear")
    with pytest.raises(ValueError, match="initial_state must be 2 finite numbers"):
        env.reset(options={"initial_state": [0.0, np.nan]})
    env.reset(seed=0)
    with pytest.raises(ValueError, match="has no input: the action must be empty"):
        env.step(np.zeros(1))
    with pytest.raises(ValueError, match="need dt > 0"):
        AutonomousEnv("stable_linear", dt=0.0)
