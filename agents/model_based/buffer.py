"""A fixed-size replay buffer of numpy arrays (obs, action, reward, next_obs, terminated), written
as a ring: once full, each new transition overwrites the oldest."""

from __future__ import annotations

from typing import Any

import numpy as np


class ReplayBuffer:
    def __init__(self, capacity: int, obs_dim: int) -> None:
        if capacity < 1:
            raise ValueError(f"buffer_size must be at least 1 (got {capacity})")
        self.capacity, self.obs_dim = int(capacity), int(obs_dim)
        self.obs = np.zeros((self.capacity, self.obs_dim), dtype=np.float32)
        self.next_obs = np.zeros((self.capacity, self.obs_dim), dtype=np.float32)
        self.actions = np.zeros(self.capacity, dtype=np.int64)
        self.rewards = np.zeros(self.capacity, dtype=np.float32)
        self.terminated = np.zeros(self.capacity, dtype=np.float32)
        self.position = 0  # where the next transition goes
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray,
            terminated: np.ndarray) -> None:
        """Store a batch of transitions (one per row)."""
        obs = np.asarray(obs, dtype=np.float32).reshape(-1, self.obs_dim)
        rows = (self.position + np.arange(len(obs))) % self.capacity
        self.obs[rows] = obs
        self.next_obs[rows] = np.asarray(next_obs, dtype=np.float32).reshape(-1, self.obs_dim)
        self.actions[rows] = np.asarray(actions).reshape(-1)
        self.rewards[rows] = np.asarray(rewards).reshape(-1)
        self.terminated[rows] = np.asarray(terminated).reshape(-1)
        self.position = int((self.position + len(obs)) % self.capacity)
        self.size = min(self.size + len(obs), self.capacity)

    def indices(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """``batch_size`` stored rows drawn uniformly with replacement."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        return rng.integers(self.size, size=batch_size)

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        rows = self.indices(batch_size, rng)
        return {"obs": self.obs[rows], "actions": self.actions[rows], "rewards": self.rewards[rows],
                "next_obs": self.next_obs[rows], "terminated": self.terminated[rows]}

    def sample_obs(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` replayed observations (rollout starts)."""
        return self.obs[self.indices(n, rng)]

    # -- checkpoints ----------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """The stored transitions only (not the empty rows), for a pickle."""
        n = self.size
        return {"capacity": self.capacity, "obs_dim": self.obs_dim, "position": self.position, "size": n,
                "obs": self.obs[:n].copy(), "next_obs": self.next_obs[:n].copy(), "actions": self.actions[:n].copy(),
                "rewards": self.rewards[:n].copy(), "terminated": self.terminated[:n].copy()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ReplayBuffer:
        buffer = cls(state["capacity"], state["obs_dim"])
        n = state["size"]
        for name in ("obs", "next_obs", "actions", "rewards", "terminated"):
            getattr(buffer, name)[:n] = state[name]
        buffer.position, buffer.size = int(state["position"]), int(n)
        return buffer
