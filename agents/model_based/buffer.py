"""A fixed-size replay buffer of numpy arrays (obs, action, reward, next_obs, terminated), written
as a ring: once full, each new transition overwrites the oldest.

It samples with the agent's own ``numpy.random.Generator`` (one ``integers`` draw per batch), which
stable-baselines3's ReplayBuffer cannot (it draws from numpy's global generator, positions and envs
separately, over ``buffer_size // n_envs`` positions), so the agents keep this one: a run of theirs is
the same run whatever else in the process draws random numbers."""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.checkpoint import load_arrays, save_arrays


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
    FIELDS = ("obs", "next_obs", "actions", "rewards", "terminated")

    def save(self, path: Any) -> None:
        """The stored transitions (not the empty rows) and the ring's position, as arrays
        (:func:`agents.checkpoint.save_arrays`: an ``.npz``, no pickle)."""
        n = self.size
        save_arrays(path, {name: getattr(self, name)[:n] for name in self.FIELDS},
                    {"capacity": self.capacity, "obs_dim": self.obs_dim, "position": self.position, "size": n})

    @classmethod
    def load(cls, path: Any) -> ReplayBuffer:
        """A buffer written by :meth:`save`."""
        arrays, meta = load_arrays(path)
        missing = [name for name in cls.FIELDS if name not in arrays]
        missing += [key for key in ("capacity", "obs_dim", "position", "size") if key not in meta]
        if missing:
            raise ValueError(f"{path} is not a saved replay buffer (it lacks {', '.join(missing)})")
        buffer = cls(meta["capacity"], meta["obs_dim"])
        n = int(meta["size"])
        for name in cls.FIELDS:
            getattr(buffer, name)[:n] = arrays[name]
        buffer.position, buffer.size = int(meta["position"]), n
        return buffer
