"""PanFlute: play the pipes in the one rewarding order (a continuing task).

Pipe ``i`` (0 to ``pipes - 1``) is a shift register of ``i + 1`` bits. Every step each pipe shifts by
one bit towards its end (its last bit drops out), and the head bit becomes 1 for the pipe played and 0
for every other. A 1 played into pipe ``i`` thus reaches its last bit ``i`` steps later, so all last
bits are 1 together exactly when the pipes were played ``pipes - 1, ..., 1, 0`` on consecutive steps:
one sequence out of ``pipes ** pipes``. Every episode starts with all bits 0.

Observation
    ``pipes * (pipes + 1) / 2`` values in {0, 1} (float32; 15 for 5 pipes): the registers one after
    the other, pipe 0 first, each from its head to its last bit.
Action
    ``Discrete(pipes)``: which pipe to play.
Reward
    The product of every pipe's last bit in the state the step starts from: a step pays 1 when the
    observation before it showed all last bits 1, i.e. playing ``pipes - 1, ..., 0`` pays on the step
    after the 0 (the 6th step from a reset, with 5 pipes).
Episode end
    Never: the task is continuing. Each step, after the shift and the head bits, with probability
    ``spontaneous_prob`` every pipe's last bit is set to 1 (visible in that step's observation, paid
    on the next step). Registered as ``rlkit/PanFlute-v0`` with a 100-step time limit (truncated): the
    continuing task is cut into 100-step episodes for rlkit's host, as the paper's evaluation episodes.
Arguments
    pipes: how many, at least 1 (5). spontaneous_prob: per-step chance of setting every last bit, in
    [0, 1]; ``None`` (default) is the paper's ``1 / pipes^2`` (1/25 for 5 pipes).

State
    ``get_state()`` returns a picklable snapshot (the bits, random generator state); ``set_state(state)``
    restores it exactly. ``set_state_from_observation(obs)`` sets the bits from an observation (the
    random generator is left as it is).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.gridworlds import checked_action, checked_int, checked_probability


class PanFluteEnv(gym.Env):
    metadata = {"render_modes": []}
    supports_state_restore = True

    def __init__(self, pipes: int = 5, spontaneous_prob: float | None = None) -> None:
        self.pipes = checked_int("pipes", pipes, 1)
        self.spontaneous_prob = (1.0 / self.pipes**2 if spontaneous_prob is None
                                 else checked_probability("spontaneous_prob", spontaneous_prob))
        n = self.pipes * (self.pipes + 1) // 2
        # pipe i occupies bits[heads[i] : tails[i] + 1] of the flat register
        self.heads = np.array([i * (i + 1) // 2 for i in range(self.pipes)])
        self.tails = self.heads + np.arange(self.pipes)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(n,), dtype=np.float32)
        self.action_space = spaces.Discrete(self.pipes)
        self.bits: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.bits = np.zeros(self.observation_space.shape, dtype=np.float32)
        return self.bits.copy(), {}

    def step(self, action):
        if self.bits is None:
            raise RuntimeError("call reset() before step()")
        pipe = checked_action(action, self.pipes)
        bits = self.bits
        reward = float(bits[self.tails].all())
        # One shift of the flat register shifts every pipe: a pipe's last bit lands on the next
        # pipe's head, which is overwritten with what is played there.
        bits[1:] = bits[:-1].copy()
        bits[self.heads] = 0.0
        bits[self.heads[pipe]] = 1.0
        if self.np_random.random() < self.spontaneous_prob:
            bits[self.tails] = 1.0
        return bits.copy(), reward, False, False, {}

    # -- state save and restore -----------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """A picklable snapshot of the full simulator state (random generator included)."""
        if self.bits is None:
            raise RuntimeError("call reset() before get_state()")
        return {"bits": self.bits.copy(), "rng": self.np_random.bit_generator.state}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a snapshot from :meth:`get_state` exactly."""
        self.set_state_from_observation(state["bits"])
        self.np_random.bit_generator.state = state["rng"]

    def set_state_from_observation(self, observation: np.ndarray) -> None:
        """Set the bits to those an observation shows (the random generator is unchanged)."""
        bits = np.asarray(observation, dtype=np.float32).reshape(-1)
        if bits.shape != self.observation_space.shape:
            raise ValueError(f"state has {bits.size} bits, this env has {self.observation_space.shape[0]}")
        self.bits = (bits > 0.5).astype(np.float32)
