"""Evaluation counts returns, lengths and reported constraint violations per seeded episode."""

import gymnasium as gym
import numpy as np

from rlkit.evaluation import evaluate


class AlwaysPush:
    """A fixed policy: push right every step."""

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        return np.int64(1), state


def test_evaluation_matches_a_hand_rolled_count_of_returns_and_violations():
    env = gym.make("rlkit-test/ReportsViolations-v0")
    result = evaluate(AlwaysPush(), env, episodes=3, seed=11)
    for episode in range(3):
        observation, _ = env.reset(seed=11 + episode)
        total, steps, violations, done = 0.0, 0, 0, False
        while not done:
            observation, reward, terminated, truncated, info = env.step(1)
            total, steps, violations = total + reward, steps + 1, violations + info["violations"]
            done = terminated or truncated
        assert result.returns[episode] == total and result.lengths[episode] == steps
        assert result.violations[episode] == violations
    assert result.summary()["violations_per_episode"] == np.mean(result.violations) > 0


def test_an_env_without_violations_reports_zero():
    result = evaluate(AlwaysPush(), gym.make("CartPole-v1"), episodes=2, seed=0)
    assert result.summary()["violations_per_episode"] == 0.0


def test_episode_metrics_the_env_reports_are_averaged_and_never_shadow_the_evaluation_s_own():
    result = evaluate(AlwaysPush(), gym.make("rlkit-test/ReportsViolations-v0"), episodes=3, seed=5)
    summary = result.summary()
    # the env's steps_right and evaluate's per-step count of violations tally the same steps
    assert np.array_equal(result.episode_metrics["steps_right"], result.violations)
    assert summary["steps_right"] == np.mean(result.violations)
    assert summary["env_mean_return"] == -1.0 and summary["mean_return"] == np.mean(result.returns) > 0
    assert "label" not in summary  # only numbers are figures
