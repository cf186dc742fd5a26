"""YANN-RL: Y-wise affine neural networks that represent explicit MPC exactly, and TD3/DDPG agents
whose actor and critic start from them (Reinforcement Learning-based Control via YANNs).

- :mod:`agents.yann.network`: :class:`YANN`, a piecewise-affine function on polytopes as a network.
- :mod:`agents.yann.builder`: :func:`yann_from_matrices`, the explicit MPC of ``x+ = A x + B u`` as a
  YANN from plain matrices (A, B, Q, R, N, state and input boxes); :func:`yann_from_solution`.
- :mod:`agents.yann.value`: :class:`PiecewiseQuadratic`, the explicit MPC's cost as a network.
- :mod:`agents.yann.model`: :class:`LinearOCP`, the linearised plant's explicit MPC and coordinates.
- :mod:`agents.yann.policies`: the actor, the critic and the SB3 policy.
- :mod:`agents.yann.agents`: :class:`YANNTD3`, :class:`YANNDDPG` (``agent=yann_td3``, ``yann_ddpg``).

Importing this package is cheap; SB3 loads with the agents.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "YANN": "agents.yann.network",
    "AffineFallback": "agents.yann.network",
    "IndicatorCache": "agents.yann.network",
    "yann_from_matrices": "agents.yann.builder",
    "yann_from_solution": "agents.yann.builder",
    "PolytopeIndicators": "agents.yann.network",
    "PiecewiseQuadratic": "agents.yann.value",
    "LinearOCP": "agents.yann.model",
    "YANNActor": "agents.yann.policies",
    "YANNCritic": "agents.yann.policies",
    "YANNTD3Policy": "agents.yann.policies",
    "YANNTD3": "agents.yann.agents",
    "YANNDDPG": "agents.yann.agents",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agents.yann' has no attribute {name!r}")
