"""The networks every agent of the family shares: ELU multilayer perceptrons (3 x 200 in the paper)
for the Q-function and for the learned model's reward, termination and next-observation heads, built
by stable-baselines3's ``create_mlp`` (the same layers in the same order, so the same initial weights
under the same torch seed)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from stable_baselines3.common.torch_layers import create_mlp
from torch import nn


def mlp(inputs: int, outputs: int, hidden: Sequence[int]) -> nn.Sequential:
    """Linear layers of widths ``hidden`` with ELU between them, then a linear output (state-dict
    names ``<index>.weight``/``<index>.bias``, as :func:`agents.model_based.multiseed.stacked_mlp` reads)."""
    return nn.Sequential(*create_mlp(inputs, outputs, [int(width) for width in hidden], activation_fn=nn.ELU))


class QNetwork(nn.Module):
    """Action values ``Q(obs, .)``: (batch, obs_dim) -> (batch, n_actions)."""

    def __init__(self, obs_dim: int, n_actions: int, hidden: Sequence[int]) -> None:
        super().__init__()
        self.net = mlp(obs_dim, n_actions, hidden)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs)


class TransitionModel(nn.Module):
    """A one-step model of the env on (observation, one-hot action): three separate networks, for
    the reward (a Gaussian: mean and log standard deviation), the termination (a Bernoulli logit) and
    the next observation (one Bernoulli logit per bit)."""

    def __init__(self, obs_dim: int, n_actions: int, hidden: Sequence[int]) -> None:
        super().__init__()
        self.n_actions = n_actions
        inputs = obs_dim + n_actions
        self.reward = mlp(inputs, 2, hidden)
        self.termination = mlp(inputs, 1, hidden)
        self.next_obs = mlp(inputs, obs_dim, hidden)

    def inputs(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        one_hot = torch.nn.functional.one_hot(actions.long(), self.n_actions).to(obs.dtype)
        return torch.cat([obs, one_hot], dim=-1)

    def forward(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(reward mean, reward log-std, termination logit, next-observation logits)."""
        x = self.inputs(obs, actions)
        reward = self.reward(x)
        return reward[:, 0], reward[:, 1].clamp(-10.0, 5.0), self.termination(x)[:, 0], self.next_obs(x)
