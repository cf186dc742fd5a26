"""The generative policy: a small causal transformer that samples prefix token sequences one token at a
time, with the library's validity mask applied to its logits (so every sample is a complete expression
tree), and the risk-seeking policy gradient that trains it from scratch.

Risk-seeking policy gradient (Petersen et al., deep symbolic regression; used by the source paper):
of a batch of sampled expressions only those whose reward is at least the batch's (1 - epsilon)
quantile ``R_eps`` contribute, with weight ``R - R_eps``; an entropy bonus keeps the policy exploring.
It optimises the best case of the batch, not the mean: what matters is finding one valid function.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from agents.lyapunov_discovery.expressions import TokenLibrary


@dataclass
class Samples:
    """A batch of sampled expressions: ``sequences`` (lists of token indices), their summed
    ``log_probs`` (B,) and ``entropies`` (B,) (differentiable), both over the tokens actually drawn."""

    sequences: list[list[int]]
    log_probs: torch.Tensor
    entropies: torch.Tensor


class ExpressionTransformer(nn.Module):
    """Token and position embeddings, a causal transformer encoder, logits over the library's tokens.
    The first input is a start token (index ``len(library)``)."""

    def __init__(self, library: TokenLibrary, width: int = 64, layers: int = 2, heads: int = 4) -> None:
        super().__init__()
        self.library = library
        self.embed = nn.Embedding(len(library) + 1, width)
        self.position = nn.Embedding(library.max_length + 1, width)
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(width, len(library))

    def logits(self, prefix: torch.Tensor) -> torch.Tensor:
        """Next-token logits after each position of ``prefix`` (B, T) -> (B, T, n_tokens)."""
        length = prefix.shape[1]
        h = self.embed(prefix) + self.position(torch.arange(length, device=prefix.device))
        causal = nn.Transformer.generate_square_subsequent_mask(length, device=prefix.device)
        return self.head(self.encoder(h, mask=causal, is_causal=True))

    def sample(self, n: int, generator: torch.Generator | None = None) -> Samples:
        """``n`` expressions drawn token by token under the validity mask."""
        library = self.library
        prefix = torch.full((n, 1), len(library), dtype=torch.long)
        slots = np.ones(n, dtype=np.int64)
        log_probs, entropies = torch.zeros(n), torch.zeros(n)
        tokens: list[torch.Tensor] = []
        for length in range(library.max_length):
            if not (slots > 0).any():
                break
            mask = torch.as_tensor(library.next_token_mask(slots, length))
            running = torch.as_tensor(slots > 0)
            logits = self.logits(prefix)[:, -1].masked_fill(~mask, float("-inf"))
            logits = torch.where(running[:, None], logits, torch.zeros_like(logits))  # finished rows: ignored
            distribution = torch.distributions.Categorical(logits=logits)
            token = torch.multinomial(distribution.probs.detach(), 1, generator=generator)[:, 0]
            log_probs = log_probs + torch.where(running, distribution.log_prob(token), torch.zeros(n))
            entropies = entropies + torch.where(running, distribution.entropy(), torch.zeros(n))
            tokens.append(torch.where(running, token, torch.full_like(token, -1)))
            slots = slots + np.where(slots > 0, library.arities[token.numpy()] - 1, 0)
            prefix = torch.cat([prefix, token.clamp_min(0)[:, None]], dim=1)
        drawn = torch.stack(tokens, 1).numpy()
        return Samples([[int(t) for t in row if t >= 0] for row in drawn], log_probs, entropies)


def risk_seeking_loss(samples: Samples, rewards: np.ndarray, epsilon: float = 0.1,
                      entropy_weight: float = 0.005) -> tuple[torch.Tensor, float]:
    """The risk-seeking policy-gradient loss of a batch and its (1 - epsilon) reward quantile."""
    if not 0.0 < epsilon <= 1.0:
        raise ValueError(f"epsilon must be in (0, 1] (got {epsilon!r})")
    rewards_t = torch.as_tensor(rewards, dtype=torch.float32)
    quantile = float(np.quantile(rewards, 1.0 - epsilon))
    top = rewards_t >= quantile
    advantage = (rewards_t - quantile)[top]
    loss = -(advantage * samples.log_probs[top]).mean() - entropy_weight * samples.entropies[top].mean()
    return loss, quantile
