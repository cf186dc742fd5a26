"""agents.lyapunov_discovery.policy: the transformer's samples are always valid trees and its
log-probabilities are the teacher-forced ones; risk-seeking policy gradient keeps only the top quantile
and learns a target expression from reward alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.lyapunov_discovery.expressions import TokenLibrary
from agents.lyapunov_discovery.policy import ExpressionTransformer, risk_seeking_loss


def test_samples_are_valid_trees_with_teacher_forced_log_probs():
    torch.manual_seed(0)
    library = TokenLibrary(2, constants=(1.0,), min_length=3, max_length=12)
    policy = ExpressionTransformer(library, width=32, layers=1, heads=2)
    samples = policy.sample(200, torch.Generator().manual_seed(0))
    for sequence in samples.sequences:
        library.check(sequence)
        assert 3 <= len(sequence) <= 12
    # the log-probability of each sequence recomputed position by position with the same masks
    for i in (0, 7, 42):
        sequence = samples.sequences[i]
        prefix = torch.tensor([[len(library), *sequence]])
        logits = policy.logits(prefix)[0, :-1]
        total, slots = 0.0, 1
        for position, token in enumerate(sequence):
            mask = torch.as_tensor(library.next_token_mask(np.array([slots]), position)[0])
            total += torch.log_softmax(logits[position].masked_fill(~mask, float("-inf")), -1)[token]
            slots += int(library.arities[token]) - 1
        torch.testing.assert_close(samples.log_probs[i], total, rtol=1e-5, atol=1e-5)
    assert torch.all(samples.entropies > 0)
    # and the batched teacher-forced score (sequences of different lengths, padded) gives the same
    log_probs, entropies = policy.score(samples.sequences)
    torch.testing.assert_close(log_probs, samples.log_probs, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(entropies, samples.entropies, rtol=1e-5, atol=1e-5)
    assert log_probs.requires_grad and not samples.log_probs.requires_grad


def test_risk_seeking_loss_uses_the_top_quantile_only():
    torch.manual_seed(0)
    library = TokenLibrary(2, min_length=3, max_length=8)
    policy = ExpressionTransformer(library, width=16, layers=1, heads=2)
    sequences = policy.sample(10, torch.Generator().manual_seed(0)).sequences
    rewards = np.arange(10, dtype=float)
    loss, quantile = risk_seeking_loss(policy, sequences, rewards, epsilon=0.2, entropy_weight=0.0)
    assert quantile == pytest.approx(np.quantile(rewards, 0.8))  # 7.2: rewards 8 and 9 count
    log_probs, _ = policy.score(sequences[8:])
    expected = -((torch.as_tensor(rewards[8:]) - quantile).float() * log_probs).mean()
    torch.testing.assert_close(loss, expected)
    # the sequences below the quantile do not enter: replacing them changes nothing
    other = policy.sample(8, torch.Generator().manual_seed(5)).sequences + sequences[8:]
    torch.testing.assert_close(risk_seeking_loss(policy, other, rewards, epsilon=0.2, entropy_weight=0.0)[0], loss)
    with pytest.raises(ValueError, match="epsilon must be in"):
        risk_seeking_loss(policy, sequences, rewards, epsilon=0.0)


def test_risk_seeking_gradient_learns_a_target_expression_from_reward():
    torch.manual_seed(0)
    library = TokenLibrary(2, operators=("add", "mul", "square"), constants=(), min_length=3, max_length=5)
    target = library.encode(["add", "square", "x1", "square", "x2"])
    policy = ExpressionTransformer(library, width=32, layers=1, heads=2)
    optimizer = torch.optim.Adam(policy.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(1)
    hits = []
    for _ in range(60):
        samples = policy.sample(64, generator)
        # reward: tokens in common with the target position by position, 1 for the target itself
        rewards = np.array([sum(a == b for a, b in zip(s, target)) / len(target) for s in samples.sequences])
        loss, _ = risk_seeking_loss(policy, samples.sequences, rewards, epsilon=0.1, entropy_weight=0.005)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        hits.append(np.mean([s == target for s in samples.sequences]))
    # from under 1 % to a share above the quantile (once over a tenth of a batch is the target, the
    # quantile is the target's reward and the risk-seeking gradient stops pushing: it wants one hit)
    assert np.mean(hits[:5]) < 0.02 and np.mean(hits[-5:]) > 0.15, (hits[:5], hits[-5:])
