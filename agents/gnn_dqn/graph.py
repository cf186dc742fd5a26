"""Edges for the football graph observation, built inside the model from node positions.

The observation is a batch ``x[B, N, F]`` of fixed-size graphs (``envs.football.observations.graph``):
columns 0, 1 hold a node's position, column 15 the mask (1 for a present node, 0 for an empty
player slot), and the last node is the global node. Gymnasium's Graph space is supported by neither
SB3 nor RLlib, so edges are not part of the observation: each builder turns a batch into a dense
adjacency ``adj[B, N, N]`` (float 0/1) where ``adj[b, i, j] = 1`` means node ``i`` receives a message
from node ``j``. Absent nodes are never linked; there are no self loops (the layers add their own);
the global node is linked both ways with every present node, whatever the builder.
"""

from __future__ import annotations

import torch as th

EDGES = ("full", "radius", "knn")
POSITION_COLUMNS = (0, 1)
MASK_COLUMN = 15


def node_mask(x: th.Tensor) -> th.Tensor:
    """Bool ``[B, N]``: which nodes are present."""
    return x[..., MASK_COLUMN] > 0.5


def _spatial_nodes(mask: th.Tensor) -> th.Tensor:
    """Bool ``[B, N]``: present nodes with a position (every present node but the global one)."""
    spatial = mask.clone()
    spatial[:, -1] = False
    return spatial


def _candidate_pairs(mask: th.Tensor) -> th.Tensor:
    """Bool ``[B, N, N]``: pairs of distinct present nodes, the global (last) node left out."""
    spatial = _spatial_nodes(mask)
    eye = th.eye(mask.shape[-1], dtype=th.bool, device=mask.device)
    return spatial[:, :, None] & spatial[:, None, :] & ~eye


def _with_global_node(pairs: th.Tensor, mask: th.Tensor) -> th.Tensor:
    links = _spatial_nodes(mask) & mask[:, -1:]  # nothing links to an absent global node
    pairs[:, -1, :] = links
    pairs[:, :, -1] = links
    return pairs


def squared_distances(x: th.Tensor) -> th.Tensor:
    """Squared Euclidean distances ``[B, N, N]`` between node positions."""
    dx = x[..., POSITION_COLUMNS[0]].unsqueeze(-1) - x[..., POSITION_COLUMNS[0]].unsqueeze(-2)
    dy = x[..., POSITION_COLUMNS[1]].unsqueeze(-1) - x[..., POSITION_COLUMNS[1]].unsqueeze(-2)
    return dx * dx + dy * dy


def full_adjacency(x: th.Tensor) -> th.Tensor:
    """Every present node linked with every other present node."""
    # the global node included, this is the present pairs less the diagonal: one outer product
    present = node_mask(x).to(x.dtype)
    adj = present.unsqueeze(-1) * present.unsqueeze(-2)
    adj.diagonal(dim1=-2, dim2=-1).zero_()
    return adj


def radius_adjacency(x: th.Tensor, radius: float) -> th.Tensor:
    """Present nodes linked when their distance is at most ``radius`` (plus the global node)."""
    mask = node_mask(x)
    pairs = _candidate_pairs(mask) & (squared_distances(x) <= radius * radius)
    return _with_global_node(pairs, mask).to(x.dtype)


def knn_adjacency(x: th.Tensor, k: int) -> th.Tensor:
    """Each present node receives from its ``k`` nearest present nodes (all of them where fewer are
    present; every node tied at the k-th distance, so that the graph does not depend on the node
    order), plus the global node. Directed: ``j`` among ``i``'s nearest need not make ``i`` one of
    ``j``'s, as in PyG's ``knn_graph``."""
    mask = node_mask(x)
    pairs = _candidate_pairs(mask)
    k = min(int(k), x.shape[1])
    distances = squared_distances(x).masked_fill(~pairs, float("inf"))
    kth = distances.kthvalue(k, dim=-1, keepdim=True).values
    return _with_global_node(pairs & (distances <= kth), mask).to(x.dtype)


def adjacency(x: th.Tensor, edges: str = "full", radius: float = 0.3, k: int = 6) -> th.Tensor:
    """Dense adjacency ``[B, N, N]`` (0/1, ``x``'s dtype) of a batch of graph observations ``x[B, N, F]``.

    Args:
        x: node features; positions in columns 0, 1, the mask in column 15, the global node last.
        edges: ``"full"``, ``"radius"`` (distance <= ``radius``) or ``"knn"`` (``k`` nearest).
    """
    if edges == "full":
        return full_adjacency(x)
    if edges == "radius":
        return radius_adjacency(x, radius)
    if edges == "knn":
        return knn_adjacency(x, k)
    raise ValueError(f"unknown edges {edges!r}; allowed: {', '.join(EDGES)}")
