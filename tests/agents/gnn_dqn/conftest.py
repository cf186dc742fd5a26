"""Fixtures for the GNN-DQN tests: random batches of football-like graph observations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

NODES, FEATURES = 24, 16
ACTIVE, MASK = 9, 15


def random_observations(batch: int, seed: int = 0, present_left: int | None = None,
                        present_right: int | None = None) -> torch.Tensor:
    """``[batch, 24, 16]`` float32: random features, players on the pitch, some slots absent
    (all-zero rows), the ball (22) and global node (23) present, one active left player."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, NODES, FEATURES)).astype(np.float32)
    x[..., 0] = rng.uniform(-1, 1, size=(batch, NODES))
    x[..., 1] = rng.uniform(-0.42, 0.42, size=(batch, NODES))
    x[..., ACTIVE] = 0.0
    x[..., MASK] = 1.0
    for b in range(batch):
        n_left = present_left if present_left is not None else rng.integers(1, 12)
        n_right = present_right if present_right is not None else rng.integers(0, 12)
        x[b, n_left:11] = 0.0
        x[b, 11 + n_right:22] = 0.0
        x[b, rng.integers(0, n_left), ACTIVE] = 1.0
    x[:, 23, :2] = 0.0  # the global node has no position
    return torch.from_numpy(x)


@pytest.fixture
def graphs():
    """``graphs(batch, seed=0, present_left=None, present_right=None)``: see random_observations."""
    return random_observations
