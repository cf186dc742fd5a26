"""Suite ``gnn_latency``: what a GNN Q-network costs per batch, the dense path against PyG's
list-of-graphs batching.

Both sides get the same random graph observations (every node present: the full game's case) and
the same layer widths and readout (controlled player, mean of present nodes, global node).

- dense: :class:`agents.gnn_dqn.networks.GNNFeaturesExtractor` as the agent runs it: the adjacency
  built from positions, then the dense layers on ``[B, N, F]``.
- pyg: one ``torch_geometric.data.Data`` per graph (its ``edge_index`` from the same adjacency),
  ``Batch.from_data_list``, then ``GCNConv`` / ``GATConv`` on the sparse batch: how a GNN is usually
  fed from a replay buffer of separate graphs.

Each figure is the best of ``repeats`` timed calls (after warm-up), in milliseconds, with the thread
count torch has (one in rlkit). The ``football`` suite's ``gnn`` part is this table at batch 128.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch as th
import torch.nn.functional as F
from torch import nn

from agents.gnn_dqn.graph import MASK_COLUMN, adjacency
from agents.gnn_dqn.networks import ACTIVE_COLUMN, GNNS, GNNFeaturesExtractor
from rlkit.bench.report import machine_description, markdown_table, write_table
from rlkit.bench.timing import best_of


def random_graphs(batch: int, nodes: int = 24, features: int = 16, seed: int = 0) -> th.Tensor:
    """Graph observations with positions on the pitch, every node present, one active node."""
    generator = th.Generator().manual_seed(seed)
    x = th.rand(batch, nodes, features, generator=generator)
    x[..., 0] = x[..., 0] * 2 - 1
    x[..., 1] = (x[..., 1] * 2 - 1) * 0.42
    x[..., MASK_COLUMN] = 1.0
    x[..., ACTIVE_COLUMN] = 0.0
    x[:, 0, ACTIVE_COLUMN] = 1.0
    return x


class PyGNetwork(nn.Module):
    """The same network as :class:`GNNFeaturesExtractor` on PyG's sparse layers."""

    def __init__(self, features: int, gnn: str = "gcn", hidden: int = 32, layers: int = 2, heads: int = 4,
                 edges: str = "full", radius: float = 0.3, k: int = 6) -> None:
        from torch_geometric.nn import GATConv, GCNConv

        super().__init__()
        self.edges, self.radius, self.k = edges, radius, k
        widths = [features] + [hidden] * layers
        if gnn == "gcn":
            self.layers = nn.ModuleList(GCNConv(a, b) for a, b in zip(widths, widths[1:]))
        else:
            self.layers = nn.ModuleList(GATConv(a, b // heads, heads) for a, b in zip(widths, widths[1:]))

    def forward(self, observations: th.Tensor) -> th.Tensor:
        from torch_geometric.data import Batch, Data
        from torch_geometric.nn import global_mean_pool

        adj = adjacency(observations, self.edges, self.radius, self.k)
        graphs = []
        for x, a in zip(observations, adj):
            present = x[:, MASK_COLUMN] > 0.5
            receiver, sender = a.nonzero(as_tuple=True)
            graphs.append(Data(x=x, edge_index=th.stack([sender, receiver]), present=present))
        batch = Batch.from_data_list(graphs)
        h = batch.x
        for layer in self.layers:
            h = F.relu(layer(h, batch.edge_index))
        h = h * batch.present.unsqueeze(-1)
        active = global_mean_pool(h * batch.x[:, ACTIVE_COLUMN:ACTIVE_COLUMN + 1], batch.batch) * observations.shape[1]
        mean = global_mean_pool(h, batch.batch)  # every node is present in these batches
        last = batch.ptr[1:] - 1
        return th.cat([active, mean, h[last]], dim=-1)


def _best_ms(call: Callable[[], Any], repeats: int, warmup: int = 3) -> float:
    return best_of(call, repeats, warmup).best * 1e3


def measure(batch: int = 128, nodes: int = 24, features: int = 16, gnn: str = "gcn", repeats: int = 20,
            edges: str = "full", hidden: int = 32, layers: int = 2, heads: int = 4) -> dict[str, Any]:
    """Forward and forward+backward milliseconds per batch, dense and through PyG.

    Returns a dict: the settings, ``dense_forward_ms``, ``dense_forward_backward_ms``,
    ``pyg_forward_ms``, ``pyg_forward_backward_ms``, ``forward_speedup`` (pyg / dense) and
    ``threads`` (torch's thread count during the measurement).
    """
    if gnn not in GNNS:
        raise ValueError(f"unknown gnn {gnn!r}; allowed: {', '.join(GNNS)}")
    from gymnasium import spaces

    th.manual_seed(0)
    x = random_graphs(batch, nodes, features)
    space = spaces.Box(-1e3, 1e3, (nodes, features))
    dense = GNNFeaturesExtractor(space, gnn=gnn, edges=edges, hidden=hidden, layers=layers, heads=heads)
    pyg = PyGNetwork(features, gnn=gnn, hidden=hidden, layers=layers, heads=heads, edges=edges)

    def forward(network: nn.Module) -> Callable[[], Any]:
        def call() -> None:
            with th.no_grad():
                network(x)
        return call

    def forward_backward(network: nn.Module) -> Callable[[], Any]:
        def call() -> None:
            network.zero_grad(set_to_none=True)
            network(x).square().mean().backward()
        return call

    dense_forward = _best_ms(forward(dense), repeats)
    pyg_forward = _best_ms(forward(pyg), repeats)
    return {
        "gnn": gnn, "edges": edges, "batch": batch, "nodes": nodes, "features": features, "hidden": hidden,
        "layers": layers,
        "dense_forward_ms": dense_forward,
        "dense_forward_backward_ms": _best_ms(forward_backward(dense), repeats),
        "pyg_forward_ms": pyg_forward,
        "pyg_forward_backward_ms": _best_ms(forward_backward(pyg), repeats),
        "forward_speedup": pyg_forward / dense_forward,
        "threads": th.get_num_threads(),
    }


def run(out_dir: Path, gnns: list = list(GNNS), batch: int = 128, nodes: int = 24, repeats: int = 20,  # noqa: B006
        edges: str = "full") -> None:
    """One row per GNN: dense against PyG, one thread; writes results.csv and results.md."""
    th.set_num_threads(1)
    rows = [measure(batch=batch, nodes=nodes, gnn=gnn, repeats=repeats, edges=edges) for gnn in gnns]
    print(markdown_table(write_gnn_table(out_dir, "results", rows)))


def write_gnn_table(out_dir: Path, name: str, rows: list[dict[str, Any]]):
    """The table as ``<name>.csv`` and ``<name>.md``; returns it."""
    first = rows[0]
    return write_table(out_dir, rows, name=name, notes=(
        f"# GNN Q-network cost per batch of {first['batch']} graphs of {first['nodes']} nodes "
        f"({machine_description()})"))
