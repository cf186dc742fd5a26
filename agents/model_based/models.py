"""Where imagined experience comes from: a learned one-step model (:class:`LearnedModel`) or the true
simulator restored to replayed states (:class:`SimulatorModel`), and the rollouts under the current
softmax policy that both feed the Q-learner (:func:`imagine`).

Both models answer ``step(obs, actions) -> (rewards, continuation, next_obs)`` for a batch of
rollouts; ``start(obs)`` is called first with the rollouts' starting observations.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from gymnasium.utils import seeding

from agents.base import unwrapped_env
from agents.model_based.learner import DQNLearner, adamw
from agents.model_based.networks import TransitionModel

ROLLOUT_KEYS = ("obs", "actions", "rewards", "next_obs", "continuation", "weights")


class LearnedModel:
    """Reward (Gaussian), termination (Bernoulli) and next-observation (a Bernoulli per bit) networks,
    fitted by maximum likelihood on replayed real transitions. Imagined steps take the predicted mean
    reward, the predicted chance of going on, and a next observation sampled bit by bit."""

    def __init__(self, obs_dim: int, n_actions: int, hidden: Sequence[int], learning_rate: float,
                 device: torch.device) -> None:
        self.net = TransitionModel(obs_dim, n_actions, hidden).to(device)
        self.optimizer = adamw(self.net.parameters(), learning_rate)
        self.generator: torch.Generator | None = None  # set by the agent: the Bernoulli draws

    def losses(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Negative log-likelihoods of a batch of real transitions (per transition, averaged)."""
        return transition_nll(self.net(batch["obs"], batch["actions"]), batch)

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One AdamW step on the summed losses; returns the losses before the step."""
        losses = self.losses(batch)
        total = sum(losses.values())
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        return {name: float(value.detach()) for name, value in losses.items()}

    @torch.no_grad()
    def predict(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(mean reward, chance of going on, next-observation bit probabilities)."""
        mean, _, termination, next_logits = self.net(obs, actions)
        return mean, 1.0 - torch.sigmoid(termination), torch.sigmoid(next_logits)

    def start(self, obs: torch.Tensor) -> None:
        """Nothing to set up: the model steps from any observation."""

    @torch.no_grad()
    def step(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rewards, continuation, probabilities = self.predict(obs, actions)
        return rewards, continuation, torch.bernoulli(probabilities, generator=self.generator)

    def state(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict()}

    def restore(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])


def transition_nll(outputs: Sequence[torch.Tensor], batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The learned model's losses from its outputs (reward mean and log-std, termination logit,
    next-observation logits) on a batch of real transitions: Gaussian, Bernoulli and per-bit Bernoulli
    negative log-likelihoods, averaged over the batch."""
    mean, log_std, termination, next_logits = outputs
    reward = (0.5 * ((batch["rewards"] - mean) * torch.exp(-log_std)) ** 2 + log_std).mean()
    terminated = F.binary_cross_entropy_with_logits(termination, batch["terminated"])
    next_obs = F.binary_cross_entropy_with_logits(next_logits, batch["next_obs"], reduction="none").sum(-1).mean()
    return {"reward": reward, "termination": terminated, "next_obs": next_obs}


def restorable_env(env: Any) -> Any:
    """The unwrapped Gymnasium env of ``env`` (plain, wrapped, or the first of an SB3 VecEnv) if it
    can restore its state from an observation; a ValueError naming the requirement otherwise."""
    if env is None:
        raise ValueError("perfect_model_dqn rolls out on the true simulator: it needs an env; got none")
    unwrapped = unwrapped_env(env)
    if not (getattr(unwrapped, "supports_state_restore", False) and hasattr(unwrapped, "set_state_from_observation")):
        raise ValueError(f"perfect_model_dqn needs an env that can restore its state from an observation "
                         f"(supports_state_restore = True and set_state_from_observation(obs), as the gridworlds "
                         f"proc_maze, button_grid, pan_flute); {type(unwrapped).__name__} cannot")
    return unwrapped


class SimulatorModel:
    """The "perfect model": one copy of the true simulator per rollout, set to each rollout's starting
    observation (``set_state_from_observation``) and stepped with the rollout's actions. A rollout that
    terminated is not stepped again: its later steps repeat its last observation with reward 0 and
    continuation 0 (their weight is 0 in the Q update)."""

    def __init__(self, env: Any, seed: int) -> None:
        self.source = restorable_env(env)
        self.seed = int(seed)
        self.envs: list[Any] = []
        self.running = np.zeros(0, dtype=bool)

    def _copies(self, n: int) -> list[Any]:
        while len(self.envs) < n:
            copied = copy.deepcopy(self.source)
            copied.np_random, _ = seeding.np_random(self.seed * 100_003 + len(self.envs))
            self.envs.append(copied)
        return self.envs[:n]

    def start(self, obs: torch.Tensor) -> None:
        rows = obs.cpu().numpy()
        for env, row in zip(self._copies(len(rows)), rows):
            env.set_state_from_observation(row)
        self.running = np.ones(len(rows), dtype=bool)

    def step(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        next_obs = obs.cpu().numpy().copy()
        rewards = np.zeros(len(next_obs), dtype=np.float32)
        continuation = np.zeros(len(next_obs), dtype=np.float32)
        for row, (env, action) in enumerate(zip(self.envs, actions.cpu().numpy())):
            if not self.running[row]:
                continue
            next_obs[row], rewards[row], terminated, _, _ = env.step(int(action))
            continuation[row] = 0.0 if terminated else 1.0
            self.running[row] = not terminated
        device = obs.device
        return (torch.from_numpy(rewards).to(device), torch.from_numpy(continuation).to(device),
                torch.from_numpy(next_obs).to(device))


def imagine(model: Any, learner: DQNLearner, start_obs: torch.Tensor, length: int,
            generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """``len(start_obs)`` rollouts of ``length`` steps under the current softmax policy.

    Returns the transitions rollout by rollout (row ``i * length + k`` is rollout ``i``'s step ``k``)
    with ``continuation`` the model's chance of going on after the step and ``weights`` the chance the
    rollout is still running when the step is taken (the product of the earlier continuations).
    ``start_obs`` may lead with a seed axis, (N, rollouts, obs_dim), for stacked learners and models:
    the rows are then per seed, (N, rollouts * length, ...).
    """
    model.start(start_obs)
    obs = start_obs
    seed_axes = start_obs.dim() - 2  # 0, or 1 with a leading seed axis
    running = torch.ones(obs.shape[:-1], device=obs.device)
    steps: dict[str, list[torch.Tensor]] = {key: [] for key in ROLLOUT_KEYS}
    for _ in range(length):
        actions = learner.sample_actions(obs, generator)
        rewards, continuation, next_obs = model.step(obs, actions)
        for key, value in zip(ROLLOUT_KEYS, (obs, actions, rewards, next_obs, continuation, running)):
            steps[key].append(value)
        running = running * continuation
        obs = next_obs
    return {key: torch.stack(values, dim=seed_axes + 1).flatten(seed_axes, seed_axes + 1)
            for key, values in steps.items()}
