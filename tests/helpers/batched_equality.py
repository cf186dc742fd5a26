"""Checking a batched engine against its single env, game by game, in both autoreset modes.

Every family's batched-engine test calls :func:`assert_games_match_single_envs`: the batch is reset
with ``seed`` (game ``i`` gets ``seed + i``), ``n`` single envs made with ``gymnasium.make`` (so their
registered wrappers, the time limit included, apply) are reset with ``seed + i`` and, when an
episode ends, reset again without a seed (as a VecEnv's autoreset does); both get the same actions and
must return exactly the same observations, rewards, terminations and truncations at every step.
"""

from __future__ import annotations

from typing import Any, Callable

import gymnasium as gym
import numpy as np
from gymnasium.vector.utils import iterate


def same(a: Any, b: Any) -> bool:
    """Equal values and shapes, nested through dicts and tuples (dtypes of arrays too)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return isinstance(b, (tuple, list)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and np.array_equal(a, b)


def assert_games_match_single_envs(
    env_id: str,
    kwargs: dict[str, Any],
    n: int,
    steps: int,
    seed: int = 3,
    action_seed: int = 0,
    autoreset_mode: str = "next_step",
    actions: Callable[[np.random.Generator, gym.Space, int], Any] | None = None,
) -> int:
    """Step ``gym.make_vec(env_id, n, vector_entry_point, **kwargs)`` and ``n`` single envs with the
    same actions; assert every step agrees game by game. Returns the number of episode ends seen, so
    a caller can assert that autoresets were exercised.

    ``actions(rng, batched_action_space, n)`` draws one batch (default: uniform in the space, from
    ``rng``, so both sides get the same actions). ``autoreset_mode`` ``next_step`` checks Gymnasium's
    convention (the step after an end resets and pays 0); ``same_step`` checks SB3's (the ending step
    returns the next game's first observation, the last one in ``info["final_obs"]``).
    """
    vec = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point",
                       autoreset_mode=autoreset_mode, **kwargs)
    singles = [gym.make(env_id, **kwargs) for _ in range(n)]
    rng = np.random.default_rng(action_seed)
    draw = actions or (lambda g, space, _: _uniform(g, space))
    try:
        obs, _ = vec.reset(seed=seed)
        expected = [env.reset(seed=seed + i)[0] for i, env in enumerate(singles)]
        assert same(list(iterate(vec.observation_space, obs)), expected), "first observations differ"
        pending = np.zeros(n, bool)  # next_step: games whose episode ended on the previous step
        ends = 0
        for t in range(steps):
            batch_actions = draw(rng, vec.action_space, n)
            obs, rewards, terminated, truncated, info = vec.step(batch_actions)
            observed = list(iterate(vec.observation_space, obs))
            for i, env in enumerate(singles):
                if autoreset_mode == "next_step" and pending[i]:
                    want = (env.reset()[0], 0.0, False, False)
                    got = (observed[i], float(rewards[i]), bool(terminated[i]), bool(truncated[i]))
                    assert same(got, want), f"game {i} differs at step {t} (its autoreset step)"
                    continue
                o, r, te, tr, _ = env.step(_one(batch_actions, i))
                if autoreset_mode == "same_step" and (te or tr):
                    assert same(info["final_obs"][i], o), f"game {i}: final_obs differs at step {t}"
                    assert bool(info["_final_obs"][i])
                    o = env.reset()[0]
                got = (observed[i], float(rewards[i]), bool(terminated[i]), bool(truncated[i]))
                want = (o, float(r), bool(te), bool(tr))
                assert same(got, want), f"game {i} differs at step {t}: batched {got[1:]}, single {want[1:]}"
                ends += int(te or tr)
            pending = np.asarray(terminated) | np.asarray(truncated)
        return ends
    finally:
        vec.close()
        for env in singles:
            env.close()


def _uniform(rng: np.random.Generator, space: gym.Space) -> Any:
    """One sample of ``space`` drawn from ``rng`` (Discrete-like and Box spaces)."""
    if isinstance(space, gym.spaces.MultiDiscrete):
        return (space.start + rng.integers(0, space.nvec)).astype(space.dtype)
    if isinstance(space, gym.spaces.Box):
        if np.issubdtype(space.dtype, np.integer):
            return rng.integers(space.low, space.high + 1).astype(space.dtype)
        low = np.where(np.isfinite(space.low), space.low, -1.0)
        high = np.where(np.isfinite(space.high), space.high, 1.0)
        return rng.uniform(low, high).astype(space.dtype)
    raise TypeError(f"no default action draw for {space}; pass actions=")


def _one(batch: Any, i: int) -> Any:
    value = batch[i]
    return value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value
