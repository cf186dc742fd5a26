"""The DQN learner every agent of the family shares: a Q-network trained by TD updates on batches of
transitions (real, imagined or both), a target network refreshed by copy every
``target_update_every`` updates, AdamW, and softmax (Boltzmann) exploration.

The target refresh is stable-baselines3's ``polyak_update`` with ``tau=1`` (a copy, as SB3's DQN
does it). A batch is a dict of tensors: ``obs``, ``actions``, ``rewards``, ``next_obs``, ``continuation`` (the
chance the episode goes on after the transition: ``1 - terminated`` for a real one, the model's
prediction for an imagined one) and ``weights`` (each transition's share of the loss: 1 for a real
one, the chance an imagined rollout is still running at that step).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from stable_baselines3.common.utils import polyak_update

from agents.model_based.networks import QNetwork

ADAM_BETAS = (0.9, 0.99)
ADAM_EPS = 1e-5
WEIGHT_DECAY = 1e-6


def adamw(parameters, learning_rate: float) -> torch.optim.AdamW:
    """The paper's optimiser: AdamW with betas 0.9/0.99, eps 1e-5 and weight decay 1e-6."""
    return torch.optim.AdamW(parameters, lr=learning_rate, betas=ADAM_BETAS, eps=ADAM_EPS, weight_decay=WEIGHT_DECAY)


class DQNLearner:
    def __init__(self, obs_dim: int, n_actions: int, hidden: Sequence[int], learning_rate: float, gamma: float,
                 temperature: float, target_update_every: int, device: torch.device) -> None:
        self.q = QNetwork(obs_dim, n_actions, hidden).to(device)
        self.target_q = copy.deepcopy(self.q).requires_grad_(False)
        self.optimizer = adamw(self.q.parameters(), learning_rate)
        self.gamma, self.temperature = float(gamma), float(temperature)
        self.target_update_every = int(target_update_every)
        self.updates = 0
        self.device = device

    # -- acting ---------------------------------------------------------------------------
    @torch.no_grad()
    def policy_probabilities(self, obs: torch.Tensor) -> torch.Tensor:
        """The softmax policy ``softmax(Q(obs, .) / temperature)``."""
        return torch.softmax(self.q(obs) / self.temperature, dim=-1)

    @torch.no_grad()
    def sample_actions(self, obs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.multinomial(self.policy_probabilities(obs), 1, generator=generator)[:, 0]

    @torch.no_grad()
    def greedy_actions(self, obs: torch.Tensor) -> torch.Tensor:
        return self.q(obs).argmax(dim=-1)

    # -- learning -------------------------------------------------------------------------
    def td_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Weighted squared TD error against ``r + gamma * continuation * max_a' Q_target(s', a')``,
        averaged over the batch (a transition of weight 0 counts as a zero)."""
        with torch.no_grad():
            next_value = self.target_q(batch["next_obs"]).max(dim=-1).values
            target = batch["rewards"] + self.gamma * batch["continuation"] * next_value
        value = self.q(batch["obs"]).gather(1, batch["actions"].long()[:, None])[:, 0]
        return (batch["weights"] * (value - target) ** 2).mean()

    def update(self, batch: dict[str, torch.Tensor]) -> float:
        """One AdamW step on the TD loss; the target network is refreshed every
        ``target_update_every`` updates. Returns the loss before the step."""
        loss = self.td_loss(batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.updates += 1
        if self.updates % self.target_update_every == 0:
            polyak_update(self.q.parameters(), self.target_q.parameters(), 1.0)
        return float(loss.detach())

    # -- saving ---------------------------------------------------------------------------
    def state(self) -> dict:
        return {"q": self.q.state_dict(), "target_q": self.target_q.state_dict(),
                "optimizer": self.optimizer.state_dict(), "updates": self.updates}

    def restore(self, state: dict) -> None:
        self.q.load_state_dict(state["q"])
        self.target_q.load_state_dict(state["target_q"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates = int(state["updates"])
