"""Driving a car agent through one episode of the hybrid car env (shared by the hybrid agents' tests)."""

import numpy as np


def drive(agent, env, seed=0, steps=None, episode_start=True):
    """(observations seen, actions, final info, last observation) of one episode from reset(seed),
    up to ``steps`` steps; the first predict call says ``episode_start``."""
    obs, info = env.reset(seed=seed)
    seen, actions, start = [], [], episode_start
    while steps is None or len(actions) < steps:
        action, _ = agent.predict(obs, episode_start=np.array([start]))
        start = False
        seen.append(obs)
        actions.append(action)
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    return np.array(seen), np.array(actions), info, obs
