"""A latent-variable model of the env, Dreamer-style: observations are encoded into a stochastic latent
state (a diagonal Gaussian, or groups of categorical variables with straight-through gradients as in
DreamerV2), the latent steps forward under the action, and the reward, the termination and the next
observation (a Bernoulli per bit) are read from the latents.

Trained on replayed one-step transitions (the gridworlds are fully observed, so there is no recurrent
state): reconstruction of both observations from their posterior latents, reward and termination
likelihoods from (latent, action), and a balanced KL between the next observation's posterior and the
transition prior (0.8 on the prior's side, 0.2 on the posterior's, at least ``free_nats``). Imagined
rollouts start from an encoded replayed observation and stay in latent space: each step samples the
next latent from the prior and decodes a sampled observation for the policy and the Q-learner.

Both latent kinds use the same interface as :class:`agents.model_based.models.LearnedModel`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from agents.model_based.learner import adamw
from agents.model_based.models import LearnedModel
from agents.model_based.networks import mlp

LATENT_KINDS = ("gaussian", "categorical")
KL_BALANCE = 0.8  # DreamerV2: train the prior towards the posterior 4x faster than the reverse
MIN_STD = 0.1  # Gaussian latents: a floor on the standard deviation keeps the KL finite


class LatentDistribution:
    """Sampling and KL for one latent kind; ``stats`` are a network's raw outputs."""

    def __init__(self, kind: str, size: int, classes: int) -> None:
        if kind not in LATENT_KINDS:
            raise ValueError(f"latent must be one of {', '.join(LATENT_KINDS)} (got {kind!r})")
        self.kind, self.size, self.classes = kind, int(size), int(classes)

    @property
    def n_stats(self) -> int:
        """Outputs of a network that parameterises the distribution."""
        return 2 * self.size if self.kind == "gaussian" else self.size * self.classes

    @property
    def dim(self) -> int:
        """Width of a latent sample."""
        return self.size if self.kind == "gaussian" else self.size * self.classes

    def _gaussian(self, stats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, raw_std = stats.chunk(2, dim=-1)
        return mean, F.softplus(raw_std) + MIN_STD

    def _log_probs(self, stats: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(stats.unflatten(-1, (self.size, self.classes)), dim=-1)

    def sample(self, stats: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A reparameterised (Gaussian) or straight-through one-hot (categorical) sample."""
        if self.kind == "gaussian":
            mean, std = self._gaussian(stats)
            noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            return mean + std * noise
        probs = self._log_probs(stats).exp()
        flat = probs.reshape(-1, self.classes)
        index = torch.multinomial(flat.detach(), 1, generator=generator)[:, 0]
        one_hot = F.one_hot(index, self.classes).to(probs.dtype).reshape(probs.shape)
        return (one_hot + probs - probs.detach()).flatten(-2)  # the gradient of the probabilities

    def kl(self, posterior: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        """KL(posterior || prior) per row, summed over latent dimensions."""
        if self.kind == "gaussian":
            (m1, s1), (m2, s2) = self._gaussian(posterior), self._gaussian(prior)
            return (torch.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5).sum(-1)
        log_p, log_q = self._log_probs(posterior), self._log_probs(prior)
        return (log_p.exp() * (log_p - log_q)).sum((-2, -1))


class LatentTransitionModel(nn.Module):
    """Encoder q(z | obs), transition prior p(z' | z, a), decoder p(obs | z), reward and termination
    heads on (z, a): separate ELU networks of widths ``hidden``."""

    def __init__(self, obs_dim: int, n_actions: int, hidden: Sequence[int], latent: LatentDistribution) -> None:
        super().__init__()
        self.n_actions, self.latent = n_actions, latent
        self.encoder = mlp(obs_dim, latent.n_stats, hidden)
        self.prior = mlp(latent.dim + n_actions, latent.n_stats, hidden)
        self.decoder = mlp(latent.dim, obs_dim, hidden)
        self.reward = mlp(latent.dim + n_actions, 2, hidden)
        self.termination = mlp(latent.dim + n_actions, 1, hidden)

    def with_action(self, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return torch.cat([z, F.one_hot(actions.long(), self.n_actions).to(z.dtype)], dim=-1)

    def heads(self, z: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(reward mean, reward log-std, termination logit, prior stats of the next latent)."""
        x = self.with_action(z, actions)
        reward = self.reward(x)
        return reward[:, 0], reward[:, 1].clamp(-10.0, 5.0), self.termination(x)[:, 0], self.prior(x)


class LatentModel(LearnedModel):
    """The latent model with :class:`LearnedModel`'s training and rollout interface."""

    def __init__(self, obs_dim: int, n_actions: int, hidden: Sequence[int], learning_rate: float,
                 device: torch.device, latent: str = "categorical", latent_size: int = 16, latent_classes: int = 8,
                 kl_scale: float = 1.0, free_nats: float = 1.0) -> None:
        self.distribution = LatentDistribution(latent, latent_size, latent_classes)
        self.kl_scale, self.free_nats = float(kl_scale), float(free_nats)
        self.net = LatentTransitionModel(obs_dim, n_actions, hidden, self.distribution).to(device)
        self.optimizer = adamw(self.net.parameters(), learning_rate)
        self.generator: torch.Generator | None = None
        self.z: torch.Tensor | None = None

    def losses(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        net, dist = self.net, self.distribution
        posterior, next_posterior = net.encoder(batch["obs"]), net.encoder(batch["next_obs"])
        z, next_z = dist.sample(posterior, self.generator), dist.sample(next_posterior, self.generator)
        mean, log_std, termination, prior = net.heads(z, batch["actions"])
        reconstruction = (F.binary_cross_entropy_with_logits(net.decoder(z), batch["obs"], reduction="none").sum(-1)
                          + F.binary_cross_entropy_with_logits(net.decoder(next_z), batch["next_obs"],
                                                               reduction="none").sum(-1)).mean()
        reward = (0.5 * ((batch["rewards"] - mean) * torch.exp(-log_std)) ** 2 + log_std).mean()
        terminated = F.binary_cross_entropy_with_logits(termination, batch["terminated"])
        kl_prior = dist.kl(next_posterior.detach(), prior).mean()  # moves the prior
        kl_posterior = dist.kl(next_posterior, prior.detach()).mean()  # moves the posterior
        kl = KL_BALANCE * kl_prior.clamp(min=self.free_nats) + (1 - KL_BALANCE) * kl_posterior.clamp(min=self.free_nats)
        return {"reward": reward, "termination": terminated, "next_obs": reconstruction, "kl": self.kl_scale * kl}

    @torch.no_grad()
    def start(self, obs: torch.Tensor) -> None:
        """Encode the rollouts' starting observations into sampled latents."""
        self.z = self.distribution.sample(self.net.encoder(obs), self.generator)

    @torch.no_grad()
    def step(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One latent step: reward mean and continuation from (z, a), z' from the prior, a decoded
        observation sampled bit by bit (``obs`` is not read: the rollout lives in the latent)."""
        if self.z is None or len(self.z) != len(actions):
            raise ValueError("LatentModel.step before start(obs) for this batch of rollouts")
        mean, _, termination, prior = self.net.heads(self.z, actions)
        self.z = self.distribution.sample(prior, self.generator)
        next_obs = torch.bernoulli(torch.sigmoid(self.net.decoder(self.z)), generator=self.generator)
        return mean, 1.0 - torch.sigmoid(termination), next_obs

    @torch.no_grad()
    def predict(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(mean reward, chance of going on, next-observation bit probabilities) from the posterior
        mean of ``obs`` (Gaussian) or its most likely classes (categorical), one prior step."""
        stats = self.net.encoder(obs)
        z = self._mode(stats)
        mean, _, termination, prior = self.net.heads(z, actions)
        return mean, 1.0 - torch.sigmoid(termination), torch.sigmoid(self.net.decoder(self._mode(prior)))

    def _mode(self, stats: torch.Tensor) -> torch.Tensor:
        dist = self.distribution
        if dist.kind == "gaussian":
            return stats.chunk(2, dim=-1)[0]
        index = stats.unflatten(-1, (dist.size, dist.classes)).argmax(-1)
        return F.one_hot(index, dist.classes).to(stats.dtype).flatten(-2)
