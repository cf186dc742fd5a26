"""RLlib's algorithms as rlkit agents, and the football graph network as an RLlib RLModule.

- :mod:`agents.rllib.agent`: :class:`RLlibAgent` and ``RLlibPPO``, ``RLlibAPPO``, ``RLlibIMPALA``,
  ``RLlibDQN``, ``RLlibSAC`` (``agent=rllib_ppo`` ...).
- :mod:`agents.rllib.gnn_module`: a PPO/APPO/IMPALA RLModule with the football GNN encoder
  (``agent=rllib_gnn_ppo``).
- :mod:`agents.rllib.envs`: how env runners rebuild the env from its Gymnasium spec.

Importing this package is cheap; Ray loads with the names that need it.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "RLlibAgent": "agents.rllib.agent",
    "RLlibPPO": "agents.rllib.agent",
    "RLlibAPPO": "agents.rllib.agent",
    "RLlibIMPALA": "agents.rllib.agent",
    "RLlibDQN": "agents.rllib.agent",
    "RLlibSAC": "agents.rllib.agent",
    "RLlibGNNPPO": "agents.rllib.gnn_module",
    "GNNPPOModule": "agents.rllib.gnn_module",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agents.rllib' has no attribute {name!r}")
