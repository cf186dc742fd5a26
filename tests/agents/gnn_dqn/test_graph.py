"""Edges built from node positions: full, radius and knn adjacency against brute force."""

import numpy as np
import pytest
import torch

from agents.gnn_dqn.graph import MASK_COLUMN as MASK
from agents.gnn_dqn.graph import adjacency


def brute_force(x: np.ndarray, edges: str, radius: float = 0.3, k: int = 6) -> np.ndarray:
    """adj[b, i, j] = 1 when node i receives from node j, one pair at a time."""
    batch, n, _ = x.shape
    adj = np.zeros((batch, n, n), dtype=np.float32)
    for b in range(batch):
        present = [i for i in range(n) if x[b, i, MASK] > 0.5]
        players = [i for i in present if i != n - 1]
        for i in players:
            others = [j for j in players if j != i]
            distance = {j: float(np.hypot(*(x[b, i, :2] - x[b, j, :2]))) for j in others}
            if edges == "full":
                chosen = others
            elif edges == "radius":
                chosen = [j for j in others if distance[j] <= radius]
            else:
                chosen = sorted(others, key=distance.get)[:k]
            for j in chosen:
                adj[b, i, j] = 1.0
            if n - 1 in present:
                adj[b, i, n - 1] = adj[b, n - 1, i] = 1.0
    return adj


@pytest.mark.parametrize("edges, options", [("full", {}), ("radius", {"radius": 0.3}),
                                            ("radius", {"radius": 0.05}), ("knn", {"k": 6}),
                                            ("knn", {"k": 1}), ("knn", {"k": 30})])
def test_adjacency_matches_brute_force(edges, options, graphs):
    x = graphs(32, seed=1)
    expected = brute_force(x.numpy(), edges, **options)
    np.testing.assert_array_equal(adjacency(x, edges, **options).numpy(), expected)


@pytest.mark.parametrize("edges", ["full", "radius", "knn"])
def test_absent_nodes_are_never_linked_and_nothing_loops(edges, graphs):
    x = graphs(64, seed=2)
    x[:, 3, :2] = x[:, 4, :2]  # an absent slot sitting on a present player is still not linked
    adj = adjacency(x, edges, radius=0.5, k=4)
    absent = x[..., MASK] < 0.5
    assert absent.any()
    assert not adj[absent].any()  # rows: absent nodes receive nothing
    assert not adj.transpose(1, 2)[absent].any()  # columns: absent nodes send nothing
    assert not torch.diagonal(adj, dim1=1, dim2=2).any()


@pytest.mark.parametrize("edges", ["full", "radius", "knn"])
def test_the_global_node_is_linked_both_ways_with_every_present_node(edges, graphs):
    x = graphs(16, seed=3)
    adj = adjacency(x, edges, radius=0.01, k=1)
    present = (x[..., MASK] > 0.5).float()
    present[:, -1] = 0.0
    torch.testing.assert_close(adj[:, -1, :], present)
    torch.testing.assert_close(adj[:, :, -1], present)


def test_knn_takes_every_other_node_when_fewer_than_k_are_present(graphs):
    x = graphs(8, seed=4, present_left=2, present_right=1)  # 2 + 1 players + ball
    adj = adjacency(x, "knn", k=6)
    spatial = adj[:, :23, :23].sum(-1)  # links but the global node's
    np.testing.assert_array_equal(spatial[:, [0, 1, 11, 22]].numpy(), 3.0)


def test_unknown_edges_are_refused_with_the_allowed_ones(graphs):
    with pytest.raises(ValueError, match="unknown edges 'delaunay'; allowed: full, radius, knn"):
        adjacency(graphs(1), "delaunay")
