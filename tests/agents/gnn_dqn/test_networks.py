"""Dense GCN and GAT layers against PyTorch Geometric, attention, masking, equivariance, and the
features extractor."""

import numpy as np
import pytest
import torch
from gymnasium import spaces
from torch_geometric.nn import DenseGCNConv, GATConv, GCNConv

from agents.gnn_dqn.graph import MASK_COLUMN, adjacency
from agents.gnn_dqn.networks import DenseGATLayer, DenseGCNLayer, GNNFeaturesExtractor

GRAPH_SPACE = spaces.Box(-np.inf, np.inf, (24, 16), np.float32)


def edge_index_of(adj: np.ndarray) -> torch.Tensor:
    """PyG's edge_index (row 0 senders, row 1 receivers) from a single graph's adjacency, pair by pair."""
    pairs = [(j, i) for i in range(adj.shape[0]) for j in range(adj.shape[1]) if adj[i, j]]
    return torch.tensor(pairs, dtype=torch.long).T


def random_bias_(layer: torch.nn.Module) -> None:
    with torch.no_grad():
        layer.bias.normal_()


@pytest.mark.parametrize("edges", ["full", "radius", "knn"])
def test_dense_gcn_equals_pyg_dense_gcn_with_the_same_weights(edges, graphs):
    x = graphs(16, seed=0)
    adj, mask = adjacency(x, edges, radius=0.4, k=3), x[..., MASK_COLUMN] > 0.5
    ours, theirs = DenseGCNLayer(16, 32), DenseGCNConv(16, 32)
    random_bias_(ours)
    with torch.no_grad():
        theirs.lin.weight.copy_(ours.weight.T)
        theirs.bias.copy_(ours.bias)
    torch.testing.assert_close(ours(x, adj, mask), theirs(x, adj, mask))


@pytest.mark.parametrize("edges", ["full", "radius", "knn"])
def test_dense_gcn_on_one_graph_equals_sparse_gcn_conv(edges, graphs):
    x = graphs(4, seed=1)
    adj = adjacency(x, edges, radius=0.4, k=3)
    ours, theirs = DenseGCNLayer(16, 8), GCNConv(16, 8)
    random_bias_(ours)
    with torch.no_grad():
        theirs.lin.weight.copy_(ours.weight.T)
        theirs.bias.copy_(ours.bias)
    for b in range(len(x)):
        expected = theirs(x[b], edge_index_of(adj[b].numpy()))
        # without a mask an absent (isolated) node keeps W x + b in both
        torch.testing.assert_close(ours(x[b:b + 1], adj[b:b + 1])[0], expected)


@pytest.mark.parametrize("edges", ["full", "knn"])
def test_dense_gat_equals_sparse_gat_conv(edges, graphs):
    x = graphs(4, seed=2)
    adj = adjacency(x, edges, k=3)
    ours, theirs = DenseGATLayer(16, 8, heads=4), GATConv(16, 8, heads=4)
    random_bias_(ours)
    with torch.no_grad():
        theirs.lin.weight.copy_(ours.weight.T)
        theirs.att_src.copy_(ours.att_src[None])
        theirs.att_dst.copy_(ours.att_dst[None])
        theirs.bias.copy_(ours.bias)
    for b in range(len(x)):
        expected = theirs(x[b], edge_index_of(adj[b].numpy()))
        torch.testing.assert_close(ours(x[b:b + 1], adj[b:b + 1])[0], expected)


def test_gat_attention_rows_sum_to_one_over_neighbours_and_ignore_absent_nodes(graphs):
    x = graphs(32, seed=3)
    adj = adjacency(x, "radius", radius=0.3)
    mask = x[..., MASK_COLUMN] > 0.5
    layer = DenseGATLayer(16, 4, heads=3)
    out, alpha = layer(x, adj, mask, return_attention=True)
    assert alpha.shape == (32, 3, 24, 24)
    torch.testing.assert_close(alpha.sum(-1), torch.ones(32, 3, 24))
    linked = (adj > 0) | torch.eye(24, dtype=torch.bool)
    assert (alpha.masked_select(~linked[:, None].expand_as(alpha)) == 0).all()
    absent = ~mask
    assert absent.any()
    # an absent node gets no attention from any other node and gives all of its own to itself
    others = alpha * ~torch.eye(24, dtype=torch.bool)
    assert (others.sum(-2).masked_select(absent[:, None]) == 0).all()
    assert (torch.diagonal(alpha, dim1=-2, dim2=-1).masked_select(absent[:, None]) == 1).all()
    assert (out[absent] == 0).all()

    noisy = x.clone()
    noisy[absent] = torch.randn_like(noisy[absent]) * 100  # garbage in absent slots (mask stays 0)
    noisy[..., MASK_COLUMN] = mask.float()
    torch.testing.assert_close(layer(noisy, adjacency(noisy, "radius", radius=0.3), mask), out)


@pytest.mark.parametrize("gnn", ["gcn", "gat"])
@pytest.mark.parametrize("edges", ["full", "radius", "knn"])
def test_node_embeddings_are_permutation_equivariant_and_features_invariant(gnn, edges, graphs):
    x = graphs(8, seed=4)
    extractor = GNNFeaturesExtractor(GRAPH_SPACE, gnn=gnn, edges=edges, radius=0.4, k=4, hidden=16)
    order = torch.cat([torch.randperm(23, generator=torch.Generator().manual_seed(5)), torch.tensor([23])])
    with torch.no_grad():
        embeddings = extractor.node_embeddings(x)
        permuted = extractor.node_embeddings(x[:, order])
        torch.testing.assert_close(permuted, embeddings[:, order])
        torch.testing.assert_close(extractor(x[:, order]), extractor(x))


@pytest.mark.parametrize("gnn", ["gcn", "gat"])
def test_extractor_reads_out_active_player_mean_and_global_node(gnn, graphs):
    x = graphs(5, seed=6)
    extractor = GNNFeaturesExtractor(GRAPH_SPACE, gnn=gnn, hidden=8, layers=3, heads=2)
    assert extractor.features_dim == 24 and len(extractor.layers) == 3
    with torch.no_grad():
        features, h = extractor(x), extractor.node_embeddings(x)
    present = x[..., MASK_COLUMN] > 0.5
    active = x[..., 9].argmax(1)
    for b in range(5):
        torch.testing.assert_close(features[b, :8], h[b, active[b]])
        torch.testing.assert_close(features[b, 8:16], h[b, present[b]].mean(0))
        torch.testing.assert_close(features[b, 16:], h[b, 23])
        assert (h[b, ~present[b]] == 0).all()


@pytest.mark.parametrize("options, message", [
    ({"gnn": "gin"}, "unknown gnn 'gin'; allowed: gcn, gat"),
    ({"edges": "delaunay"}, "unknown edges 'delaunay'; allowed: full, radius, knn"),
    ({"hidden": 0}, "hidden must be an integer >= 1, got 0"),
    ({"k": 2.5}, "k must be an integer >= 1, got 2.5"),
    ({"radius": -1.0}, "radius must be a number > 0, got -1.0"),
    ({"gnn": "gat", "hidden": 30, "heads": 4}, r"hidden \(30\) must be a multiple of heads \(4\)"),
])
def test_bad_options_are_refused_by_name(options, message):
    with pytest.raises(ValueError, match=message):
        GNNFeaturesExtractor(GRAPH_SPACE, **options)


def test_plain_gcn_cannot_tell_nodes_of_a_complete_graph_apart_and_the_root_weight_can(graphs):
    x = graphs(4, seed=7)
    adj, mask = adjacency(x, "full"), x[..., MASK_COLUMN] > 0.5
    for b in range(4):
        plain = DenseGCNLayer(16, 8, root_weight=False)(x[b:b + 1], adj[b:b + 1])[0][mask[b]]
        torch.testing.assert_close(plain, plain[:1].expand_as(plain))  # the controlled player is anyone
        rooted = DenseGCNLayer(16, 8, root_weight=True)(x[b:b + 1], adj[b:b + 1])[0][mask[b]]
        assert len(torch.unique(rooted.round(decimals=4), dim=0)) == len(rooted)  # every node its own
