"""The discovery loop: sample candidate expressions from the transformer, score each on a fixed set of
states (the share meeting ``V > 0`` and ``dV/dt < 0``; 0 when ``V(0) != 0``), run the full falsifier
(with its gradient attack) on the candidates that meet both everywhere on that set, and train the
policy with risk-seeking policy gradient until one survives the falsifier or the budget runs out.
Counterexamples the falsifier finds join the scoring set, so a candidate that failed there scores lower
from then on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from agents.lyapunov_discovery.expressions import TokenLibrary
from agents.lyapunov_discovery.falsifier import falsify, violation
from agents.lyapunov_discovery.policy import ExpressionTransformer, risk_seeking_loss
from agents.lyapunov_discovery.region import region_around_origin, sample_outside_ball

SEARCH_DEFAULTS: dict[str, Any] = dict(
    batch_size=200, iterations=100, learning_rate=3e-4, epsilon=0.1, entropy_weight=0.005, n_score_states=500,
    ball=0.05, width=64, layers=2, heads=4,
)


@dataclass
class DiscoveryResult:
    """The first candidate that survived the falsifier (None if none did), its SymPy form, the
    iteration it was found at, wall seconds, and per iteration the best and quantile reward."""

    sequence: list[int] | None
    expression: Any
    iteration: int | None
    wall_s: float
    history: list[dict[str, float]] = field(default_factory=list)


def discover(system: Any, library: TokenLibrary, seed: int = 0, **settings: Any) -> DiscoveryResult:
    """Search for a Lyapunov function of ``system`` (an :class:`envs.control.autonomous.AutonomousSystem`)
    on its region; ``settings`` override :data:`SEARCH_DEFAULTS`."""
    unknown = set(settings) - set(SEARCH_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown discovery settings {sorted(unknown)}; allowed: {sorted(SEARCH_DEFAULTS)}")
    if library.n_states != system.n_states:
        raise ValueError(f"the library has {library.n_states} state variables, {system.name} has {system.n_states}")
    h = {**SEARCH_DEFAULTS, **settings}
    started = time.perf_counter()
    torch.manual_seed(seed)
    policy = ExpressionTransformer(library, h["width"], h["layers"], h["heads"])
    optimizer = torch.optim.Adam(policy.parameters(), lr=h["learning_rate"])
    generator = torch.Generator().manual_seed(seed)
    low, high, radius = region_around_origin(*system.region, h["ball"])
    states = sample_outside_ball(low, high, radius, h["n_score_states"], generator)
    origin = torch.zeros(1, len(low), dtype=torch.float64)
    scores: dict[tuple[int, ...], float] = {}
    history: list[dict[str, float]] = []

    def candidate(sequence: list[int]) -> Any:
        return lambda x: library.evaluate(sequence, x)

    def score(sequence: list[int]) -> float:
        key = tuple(sequence)
        if key not in scores:
            V = candidate(sequence)
            with torch.no_grad():
                at_origin = float(V(origin)[0])
            if not np.isfinite(at_origin) or abs(at_origin) > 1e-9:
                scores[key] = 0.0
            else:
                failing = violation(V, system.f, states).detach()
                scores[key] = float((failing < 0).double().mean()) if torch.isfinite(failing).all() else 0.0
        return scores[key]

    for iteration in range(h["iterations"]):
        samples = policy.sample(h["batch_size"], generator)
        rewards = np.array([score(s) for s in samples.sequences])
        for index in np.flatnonzero(rewards == 1.0):
            sequence = samples.sequences[index]
            result = falsify(candidate(sequence), system.f, low, high, ball=h["ball"], seed=seed + iteration)
            if not result.falsified:
                history.append({"iteration": iteration, "best": 1.0, "quantile": float(np.quantile(rewards, 0.9))})
                return DiscoveryResult(sequence, library.to_sympy(sequence), iteration, time.perf_counter() - started,
                                       history)
            states = torch.cat([states, result.counterexamples[:16].detach()])  # feed the counterexamples back
            scores.clear()  # scores on the grown set
            rewards[index] = score(sequence)
        loss, quantile = risk_seeking_loss(samples, rewards, h["epsilon"], h["entropy_weight"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append({"iteration": iteration, "best": float(rewards.max()), "quantile": quantile})
    return DiscoveryResult(None, None, None, time.perf_counter() - started, history)
