"""Rewards of the football games, Google Research Football's (GRF) ``scoring`` and ``checkpoints``.

``scoring``
    +1 to every agent slot when the left team scores, -1 when the right team scores.
``checkpoints``
    Ten checkpoints of 0.1 per agent slot and episode. While the left team owns the ball and the
    slot's controlled player is the owner, with ``d`` the ball's distance from the centre of the
    opponent's goal (1, 0): while fewer than 10 are collected and
    ``d <= 0.99 - 0.8 / 9 * collected``, pay 0.1 and collect one more. A left goal pays the
    checkpoints not yet collected, ``0.1 * (10 - collected)``, and marks all collected, so an
    episode's checkpoints add up to at most 1.0. The count lives in ``state.checkpoints`` (the
    engine zeroes it when it resets a game).

GRF always pays ``scoring``; ``checkpoints`` comes on top (its spelling ``"scoring,checkpoints"``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

from envs.football.state import LEFT, FootballState

REWARDS = ("scoring", "checkpoints")
CHECKPOINTS = 10
CHECKPOINT_REWARD = 0.1
_PARSED = {("scoring",), ("scoring", "checkpoints")}  # skips parsing on every step


def parse_rewards(spec: str | Sequence[str]) -> tuple[str, ...]:
    """The reward names in ``spec`` ("scoring" or "scoring,checkpoints"), in ``REWARDS`` order.

    Raises:
        ValueError: an unknown or repeated name, or ``scoring`` missing.
    """
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [str(name).strip() for name in names]
    allowed = f"allowed: 'scoring' or 'scoring,checkpoints' (names from {', '.join(REWARDS)})"
    unknown = [name for name in names if name not in REWARDS]
    if unknown:
        raise ValueError(f"unknown reward {unknown[0]!r} in {spec!r}; {allowed}")
    if len(set(names)) != len(names):
        raise ValueError(f"a reward is repeated in {spec!r}; {allowed}")
    if "scoring" not in names:
        raise ValueError(f"rewards {spec!r} lack 'scoring', which GRF always pays; {allowed}")
    return tuple(name for name in REWARDS if name in names)


@njit(cache=True, nogil=True)
def _compute_kernel(goal, owner_team, owner_player, ball, controlled, checkpoints, with_checkpoints, out):
    n_games, n_slots = controlled.shape
    for g in range(n_games):
        scored = goal[g]
        d = np.sqrt((ball[g, 0] - 1.0) ** 2 + ball[g, 1] ** 2)
        for c in range(n_slots):
            reward = float(scored)
            if with_checkpoints:
                if scored == 1:
                    reward += CHECKPOINT_REWARD * (CHECKPOINTS - checkpoints[g, c])
                    checkpoints[g, c] = CHECKPOINTS
                elif owner_team[g] == LEFT and owner_player[g] == controlled[g, c]:
                    while checkpoints[g, c] < CHECKPOINTS:
                        if d > 0.99 - 0.8 / (CHECKPOINTS - 1) * checkpoints[g, c]:
                            break
                        reward += CHECKPOINT_REWARD
                        checkpoints[g, c] += 1
            out[g, c] = reward


def compute(state: FootballState, rewards: str | Sequence[str] = ("scoring",)) -> np.ndarray:
    """The rewards of the last engine step, float32 ``(B, C)``, one per game and agent slot.

    Call it once per engine step: it reads ``state.goal`` and the ball's owner and, with
    ``checkpoints``, updates ``state.checkpoints``.

    Args:
        state: the batch of games after the step.
        rewards: reward names, as :func:`parse_rewards` accepts them.
    """
    names = rewards if isinstance(rewards, tuple) and rewards in _PARSED else parse_rewards(rewards)
    out = np.empty((state.n_games, state.n_controlled), dtype=np.float32)
    _compute_kernel(state.goal, state.owner_team, state.owner_player, state.ball, state.controlled,
                    state.checkpoints, "checkpoints" in names, out)
    return out
