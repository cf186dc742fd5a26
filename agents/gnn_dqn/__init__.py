"""Graph-network DQN for football ("Graph Neural Network based Agent in Google Research Football").

- :mod:`agents.gnn_dqn.graph`: edges from node positions: dense adjacency, full / radius / knn.
- :mod:`agents.gnn_dqn.networks`: dense batched GCN and GAT layers, the SB3 features extractor.
- :mod:`agents.gnn_dqn.agent`: :class:`GNNDQN` (``agent=gnn_dqn``).
- ``rlkit bench gnn_latency`` (rlkit/bench/gnn_latency.py): the dense path against PyG's ``Batch.from_data_list``.

Importing this package is cheap; torch and SB3 load with the names that need them.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "GNNDQN": "agents.gnn_dqn.agent",
    "GNNFeaturesExtractor": "agents.gnn_dqn.networks",
    "DenseGCNLayer": "agents.gnn_dqn.networks",
    "DenseGATLayer": "agents.gnn_dqn.networks",
    "adjacency": "agents.gnn_dqn.graph",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agents.gnn_dqn' has no attribute {name!r}")
