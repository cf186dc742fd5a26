"""Transitions of the gridworlds for the model tests."""

from __future__ import annotations

import numpy as np
import torch

from envs.gridworlds.pan_flute import PanFluteEnv


def pan_flute_transitions(n: int, seed: int) -> dict[str, torch.Tensor]:
    """Random-policy transitions of a deterministic PanFlute (no spontaneous bits)."""
    env, rng = PanFluteEnv(spontaneous_prob=0.0), np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    rows = {"obs": [], "actions": [], "rewards": [], "next_obs": [], "terminated": []}
    for _ in range(n):
        action = int(rng.integers(5))
        next_obs, reward, terminated, _, _ = env.step(action)
        for key, value in zip(rows, (obs, action, reward, next_obs, float(terminated))):
            rows[key].append(value)
        obs = next_obs
    return {key: torch.as_tensor(np.asarray(values), dtype=torch.long if key == "actions" else torch.float32)
            for key, values in rows.items()}
