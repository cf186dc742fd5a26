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

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Samples:
        """``n`` expressions drawn token by token under the validity mask (no graph is kept: the loss
        re-scores the few sequences it uses with :meth:`score`)."""
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
            token = torch.multinomial(distribution.probs, 1, generator=generator)[:, 0]
            log_probs = log_probs + torch.where(running, distribution.log_prob(token), torch.zeros(n))
            entropies = entropies + torch.where(running, distribution.entropy(), torch.zeros(n))
            tokens.append(torch.where(running, token, torch.full_like(token, -1)))
            slots = slots + np.where(slots > 0, library.arities[token.numpy()] - 1, 0)
            prefix = torch.cat([prefix, token.clamp_min(0)[:, None]], dim=1)
        drawn = torch.stack(tokens, 1).numpy()
        return Samples([[int(t) for t in row if t >= 0] for row in drawn], log_probs, entropies)

    def score(self, sequences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Differentiable (log-probability, summed entropy) of complete ``sequences`` under the validity
        masks, from one teacher-forced pass (what :meth:`sample` accumulated step by step)."""
        library = self.library
        n, longest = len(sequences), max(len(s) for s in sequences)
        tokens = np.zeros((n, longest), dtype=np.int64)
        present = np.zeros((n, longest), dtype=bool)
        for row, sequence in enumerate(sequences):
            tokens[row, : len(sequence)], present[row, : len(sequence)] = sequence, True
        masks, slots = [], np.ones(n, dtype=np.int64)
        for position in range(longest):
            masks.append(library.next_token_mask(np.where(present[:, position], slots, 1), position))
            slots = slots + np.where(present[:, position], library.arities[tokens[:, position]] - 1, 0)
        prefix = torch.cat([torch.full((n, 1), len(library), dtype=torch.long), torch.as_tensor(tokens)], 1)
        logits = self.logits(prefix[:, :-1]).masked_fill(~torch.as_tensor(np.stack(masks, 1)), float("-inf"))
        log_softmax = torch.log_softmax(logits, -1)
        chosen = log_softmax.gather(-1, torch.as_tensor(tokens)[..., None])[..., 0]
        entropy = -(log_softmax.exp() * log_softmax.nan_to_num(neginf=0.0)).sum(-1)
        present_t = torch.as_tensor(present)
        return (torch.where(present_t, chosen, 0.0).sum(1), torch.where(present_t, entropy, 0.0).sum(1))


def risk_seeking_loss(policy: ExpressionTransformer, sequences: list[list[int]], rewards: np.ndarray,
                      epsilon: float = 0.1, entropy_weight: float = 0.005) -> tuple[torch.Tensor, float]:
    """The risk-seeking policy-gradient loss of a batch and its (1 - epsilon) reward quantile: only the
    sequences at or above the quantile are re-scored and contribute."""
    if not 0.0 < epsilon <= 1.0:
        raise ValueError(f"epsilon must be in (0, 1] (got {epsilon!r})")
    quantile = float(np.quantile(rewards, 1.0 - epsilon))
    top = np.flatnonzero(rewards >= quantile)
    log_probs, entropies = policy.score([sequences[i] for i in top])
    advantage = torch.as_tensor(rewards[top] - quantile, dtype=log_probs.dtype)
    loss = -(advantage * log_probs).mean() - entropy_weight * entropies.mean()
    return loss, quantile
