"""The discovery loop: sample candidate expressions from the transformer, score each on a fixed set of
states (the share meeting ``V > 0`` and the decrease condition), run the full falsifier
(with its gradient attack) on the candidates that meet both everywhere on that set, and train the
policy with risk-seeking policy gradient until one survives the falsifier or the budget runs out.
Counterexamples the falsifier finds join the scoring set, so a candidate that failed there scores lower
from then on. With a ``verifier`` (a formal check of the SymPy candidate), a falsifier survivor is
accepted only when the verifier proves it; a refused one scores 0 from then on and the verifier's
counterexample, when it has one, joins the scoring set (sampling misses sets of measure zero: ``x3^4``
in 3-D vanishes on a plane).

A sampled expression ``e`` stands for the candidate ``V(x) = e(x) - e(0)`` (so ``V(0) = 0`` by
construction and no constant tokens are spent on it); an ``e`` that is not finite at 0 scores 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from agents.lyapunov_discovery.expressions import TokenLibrary
from agents.lyapunov_discovery.falsifier import decrease_margin, falsify, violation
from agents.lyapunov_discovery.policy import ExpressionTransformer, risk_seeking_loss
from agents.lyapunov_discovery.region import region_around_origin, sample_with_subspaces

@dataclass
class DiscoveryResult:
    """The first candidate that survived the falsifier (None if none did), its SymPy form (``e - e(0)``),
    the iteration it was found at, wall seconds, and per iteration the best and quantile reward."""

    sequence: list[int] | None
    expression: Any
    iteration: int | None
    wall_s: float
    history: list[dict[str, float]] = field(default_factory=list)
    falsifier_survivors: int = 0  # distinct candidates that passed the falsifier
    verifier_rejections: int = 0  # of those, refused by the verifier
    verification: Any = None  # what the verifier returned for the accepted candidate


Verifier = Callable[[Any], tuple[bool, Any, "np.ndarray | None"]]


def discover(system: Any, library: TokenLibrary, *, seed: int, batch_size: int, iterations: int,
             learning_rate: float, epsilon: float, entropy_weight: float, n_score_states: int, ball: float,
             width: int, layers: int, heads: int, decrease: str, verifier: Verifier | None = None,
             policy: ExpressionTransformer | None = None,
             callback: Callable[[dict], bool] | None = None) -> DiscoveryResult:
    """Search for a Lyapunov function of ``system`` (an :class:`envs.control.autonomous.AutonomousSystem`)
    on its region. The settings have no defaults here: they are
    :class:`~agents.lyapunov_discovery.agent.LyapunovDiscoveryAgent`'s (its constructor documents them;
    ``iterations``: policy updates of ``batch_size`` sampled expressions). ``verifier(expression)``
    returns (holds, its result, a counterexample or None); without one the first falsifier survivor is
    returned. ``policy`` continues training a given transformer (else a new one from ``seed``);
    ``callback(record)`` gets each iteration's record and stops the search by returning False."""
    if library.n_states != system.n_states:
        raise ValueError(f"the library has {library.n_states} state variables, {system.name} has {system.n_states}")
    decrease_margin(decrease)  # a known decrease
    started = time.perf_counter()
    torch.manual_seed(seed)
    if policy is None:
        policy = ExpressionTransformer(library, width, layers, heads)
    optimizer = torch.optim.Adam(policy.parameters(), lr=learning_rate)
    generator = torch.Generator().manual_seed(seed)
    low, high, radius = region_around_origin(*system.region, ball)
    states = sample_with_subspaces(low, high, radius, n_score_states, generator)
    origin = torch.zeros(1, len(low), dtype=torch.float64)
    scores: dict[tuple[int, ...], float] = {}
    refused: set[tuple[int, ...]] = set()  # falsifier survivors the verifier did not prove: never rewarded again
    verdicts: dict[str, tuple[bool, Any, Any]] = {}  # the verifier's answer per distinct SymPy expression
    history: list[dict[str, float]] = []
    survivors = 0

    def candidate(sequence: list[int]) -> Any:
        """``x -> e(x) - e(0)``, or None when ``e(0)`` is not finite."""
        with torch.no_grad():
            at_origin = library.evaluate(sequence, origin)[0]
        if not torch.isfinite(at_origin):
            return None
        return lambda x: library.evaluate(sequence, x) - at_origin

    def score(sequence: list[int]) -> float:
        key = tuple(sequence)
        if key in refused:
            return 0.0
        if key not in scores:
            V = candidate(sequence)
            if V is None:
                scores[key] = 0.0
            else:
                failing = violation(V, system.f, states, decrease).detach()
                scores[key] = float((failing < 0).double().mean()) if torch.isfinite(failing).all() else 0.0
        return scores[key]

    for iteration in range(iterations):
        samples = policy.sample(batch_size, generator)
        rewards = np.array([score(s) for s in samples.sequences])
        for index in np.flatnonzero(rewards == 1.0):
            sequence = samples.sequences[index]
            if tuple(sequence) in refused:  # a repeat within this batch
                rewards[index] = 0.0
                continue
            result = falsify(candidate(sequence), system.f, low, high, ball=ball, seed=seed + iteration,
                             decrease=decrease)
            counterexamples = result.counterexamples[:16].detach()
            if not result.falsified:
                survivors += 1
                expression = shifted_expression(library, sequence)
                if verifier is None:
                    verdict: tuple[bool, Any, Any] = (True, None, None)
                else:
                    if str(expression) not in verdicts:  # (setdefault would run the verifier on a hit too)
                        verdicts[str(expression)] = verifier(expression)
                    verdict = verdicts[str(expression)]
                if verdict[0]:
                    history.append({"iteration": iteration, "best": 1.0,
                                    "quantile": float(np.quantile(rewards, 1 - epsilon))})
                    return DiscoveryResult(sequence, expression, iteration, time.perf_counter() - started, history,
                                           survivors, survivors - 1, verdict[1])
                refused.add(tuple(sequence))
                counterexamples = (torch.as_tensor(np.asarray(verdict[2], dtype=np.float64))[None]
                                   if verdict[2] is not None else counterexamples[:0])
            states = torch.cat([states, counterexamples])  # feed the counterexamples back
            scores.clear()  # scores on the grown set
            rewards[index] = score(sequence)
        loss, quantile = risk_seeking_loss(policy, samples.sequences, rewards, epsilon, entropy_weight)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append({"iteration": iteration, "best": float(rewards.max()), "quantile": quantile,
                        "mean": float(rewards.mean()), "survivors": survivors,
                        "best_tokens": " ".join(library.decode(samples.sequences[int(rewards.argmax())]))})
        if callback is not None and callback(history[-1]) is False:
            break
    return DiscoveryResult(None, None, None, time.perf_counter() - started, history, survivors, survivors)


def shifted_expression(library: TokenLibrary, sequence: list[int]) -> Any:
    """The candidate a sequence stands for in SymPy, ``e - e(0)``."""
    expression = library.to_sympy(sequence)
    return expression - expression.subs({symbol: 0 for symbol in expression.free_symbols})
