"""Rewards: GRF's scoring and checkpoint rewards, per agent slot."""

from __future__ import annotations

import numpy as np
import pytest

from envs.football import rewards
from envs.football.state import FootballState

BOTH = ("scoring", "checkpoints")
THRESHOLDS = [0.99 - 0.8 / 9 * k for k in range(10)]  # GRF: 0.99 down to 0.19


def carrying(n_games: int = 1, n_controlled: int = 1) -> FootballState:
    """Left player 0 owns the ball and agent slot 0 controls him."""
    s = FootballState.allocate(n_games, n_controlled)
    s.present[:, :3] = True
    s.present[:, 11] = True
    s.owner_team[:], s.owner_player[:] = 0, 0
    s.controlled[:] = np.arange(n_controlled)
    return s


def put_ball(s: FootballState, x: float, y: float = 0.0) -> None:
    s.ball[:, :2] = x, y
    s.pos[:, 0] = x - 0.01, y


# ---------------------------------------------------------------------------------- parse


@pytest.mark.parametrize("spec, names", [
    ("scoring", ("scoring",)),
    ("scoring,checkpoints", BOTH),
    (" scoring , checkpoints ", BOTH),
    ("checkpoints,scoring", BOTH),
    (["scoring", "checkpoints"], BOTH),
])
def test_parse_rewards_accepts_grfs_spelling(spec, names):
    assert rewards.parse_rewards(spec) == names


@pytest.mark.parametrize("spec, message", [
    ("scoring,checkpoint", "unknown reward 'checkpoint'"),
    ("goals", "unknown reward 'goals'"),
    ("", "unknown reward ''"),
    ("scoring,scoring", "repeated"),
    ("checkpoints", "lack 'scoring'"),
])
def test_parse_rewards_names_what_is_allowed(spec, message):
    with pytest.raises(ValueError, match=message) as error:
        rewards.parse_rewards(spec)
    assert "'scoring' or 'scoring,checkpoints'" in str(error.value)
    assert "scoring, checkpoints" in str(error.value)


def test_reward_names():
    assert rewards.REWARDS == ("scoring", "checkpoints")


# ---------------------------------------------------------------------------------- scoring


@pytest.mark.parametrize("names", [("scoring",), BOTH])
def test_scoring_signs_per_game_and_slot(names):
    s = FootballState.allocate(3, 2)
    s.owner_team[:] = -1
    s.goal[:] = [1, -1, 0]
    r = rewards.compute(s, names)
    assert r.dtype == np.float32 and r.shape == (3, 2)
    np.testing.assert_allclose(r[1:], [[-1, -1], [0, 0]])
    assert (r[0] >= 1).all()  # with checkpoints a left goal adds the ones not collected
    np.testing.assert_allclose(rewards.compute(s.copy(), "scoring"), [[1, 1], [-1, -1], [0, 0]])


def test_scoring_alone_leaves_the_checkpoints_alone():
    s = carrying()
    put_ball(s, 0.9)
    assert rewards.compute(s, "scoring")[0, 0] == 0
    assert s.checkpoints[0, 0] == 0


# ---------------------------------------------------------------------------------- checkpoints


def test_walking_toward_goal_pays_each_threshold_once_and_at_most_one_in_total():
    s = carrying()
    paid, total = [], 0.0
    for x in np.arange(-0.2, 0.96, 0.004):
        put_ball(s, float(x), 0.05)
        r = float(rewards.compute(s, BOTH)[0, 0])
        d = np.hypot(x - 1, 0.05)
        expected = sum(t >= d for t in THRESHOLDS)  # crossed so far; distance only shrinks
        assert s.checkpoints[0, 0] == expected
        assert r == pytest.approx(0.1 * (expected - sum(paid)), abs=1e-6)
        paid.append(expected - sum(paid))
        total += r
    assert max(paid) == 1 and sum(paid) == 10
    assert total == pytest.approx(1.0, abs=1e-5)
    s.goal[:] = 1  # everything collected: the goal pays scoring only
    assert rewards.compute(s, BOTH)[0, 0] == pytest.approx(1.0)
    assert s.checkpoints[0, 0] == 10


def test_a_jump_pays_every_threshold_crossed():
    s = carrying()
    put_ball(s, 0.5)  # d = 0.5: thresholds 0.99 ... 0.5444 (k = 0..5)
    assert rewards.compute(s, BOTH)[0, 0] == pytest.approx(0.6)
    assert s.checkpoints[0, 0] == 6
    assert rewards.compute(s, BOTH)[0, 0] == 0  # staying put pays nothing more
    put_ball(s, 0.4)  # going back pays nothing either
    assert rewards.compute(s, BOTH)[0, 0] == 0
    put_ball(s, 0.6)  # d = 0.4 crosses the next threshold, 0.4567
    assert rewards.compute(s, BOTH)[0, 0] == pytest.approx(0.1)


def test_a_threshold_is_reached_at_equal_distance():
    s = carrying()
    put_ball(s, 1.0 - THRESHOLDS[0])  # d == 0.99 exactly
    assert rewards.compute(s, BOTH)[0, 0] == pytest.approx(0.1)
    put_ball(s, 1.0 - THRESHOLDS[3])
    assert rewards.compute(s, BOTH)[0, 0] == pytest.approx(0.3)
    assert s.checkpoints[0, 0] == 4


def test_the_goal_pays_the_checkpoints_not_collected():
    s = carrying()
    put_ball(s, 0.3)  # d = 0.7: k = 0..3 -> 4 checkpoints
    assert rewards.compute(s, BOTH)[0, 0] == pytest.approx(0.4)
    s.goal[:] = 1
    s.owner_team[:], s.owner_player[:] = -1, -1  # the ball is in the net, nobody owns it
    assert rewards.compute(s, BOTH)[0, 0] == pytest.approx(1.0 + 0.6)
    assert s.checkpoints[0, 0] == 10
    s.goal[:] = 0
    put_ball(s, 0.99)
    s.owner_team[:], s.owner_player[:] = 0, 0
    assert rewards.compute(s, BOTH)[0, 0] == 0  # nothing left this episode
    fresh = carrying()
    fresh.goal[:] = 1
    assert rewards.compute(fresh, BOTH)[0, 0] == pytest.approx(2.0)


@pytest.mark.parametrize("owner_team, owner_player", [(1, 0), (-1, -1), (0, 1)])
def test_no_checkpoint_unless_the_slots_player_owns_the_ball(owner_team, owner_player):
    s = carrying()
    put_ball(s, 0.9)
    s.owner_team[:], s.owner_player[:] = owner_team, owner_player
    assert rewards.compute(s, BOTH)[0, 0] == 0
    assert s.checkpoints[0, 0] == 0


def test_a_right_goal_costs_one_and_pays_no_checkpoint():
    s = carrying()
    put_ball(s, 0.3)
    rewards.compute(s, BOTH)
    s.goal[:] = -1
    s.owner_team[:], s.owner_player[:] = -1, -1
    assert rewards.compute(s, BOTH)[0, 0] == -1
    assert s.checkpoints[0, 0] == 4


def test_checkpoints_are_kept_per_agent_slot():
    s = carrying(1, 2)
    s.controlled[0] = [2, 0]  # slot 1 controls the carrier
    put_ball(s, 0.5)
    np.testing.assert_allclose(rewards.compute(s, BOTH), [[0.0, 0.6]], atol=1e-6)
    assert s.checkpoints[0].tolist() == [0, 6]
    s.goal[:] = 1
    np.testing.assert_allclose(rewards.compute(s, BOTH), [[2.0, 1.4]], atol=1e-6)
    assert s.checkpoints[0].tolist() == [10, 10]


def grf_checkpoints(collected: int, goal: int, owns: bool, ball: np.ndarray) -> tuple[float, int]:
    """GRF's checkpoint wrapper for one agent, written from its description."""
    reward = float(goal)
    if goal == 1:
        return reward + 0.1 * (10 - collected), 10
    if owns:
        d = float(np.hypot(ball[0] - 1.0, ball[1]))
        while collected < 10 and d <= 0.99 - 0.8 / 9 * collected:
            reward += 0.1
            collected += 1
    return reward, collected


def test_random_sequences_match_grfs_rule():
    rng = np.random.default_rng(0)
    s = carrying(64, 3)
    expected = np.zeros((64, 3), dtype=int)
    for _ in range(200):
        s.ball[:, 0] = np.clip(s.ball[:, 0] + rng.normal(0.02, 0.05, 64), -1, 1)
        s.ball[:, 1] = rng.uniform(-0.3, 0.3, 64)
        s.owner_team[:] = rng.integers(-1, 2, 64)
        s.owner_player[:] = np.where(s.owner_team >= 0, rng.integers(0, 3, 64), -1)
        s.controlled[:] = rng.integers(0, 3, (64, 3))
        s.goal[:] = rng.choice([0, 0, 0, 0, 0, 0, 0, 0, 1, -1], 64)
        r = rewards.compute(s, BOTH)
        for g in range(64):
            for c in range(3):
                owns = s.owner_team[g] == 0 and s.owner_player[g] == s.controlled[g, c]
                want, expected[g, c] = grf_checkpoints(expected[g, c], s.goal[g], owns, s.ball[g])
                assert r[g, c] == pytest.approx(want, abs=1e-6)
        np.testing.assert_array_equal(s.checkpoints, expected)
        done = rng.random(64) < 0.05  # as the engine's reset does
        s.checkpoints[done] = 0
        expected[done] = 0
