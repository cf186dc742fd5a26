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


def reference_gat(layer, x, adj, mask=None):
    """DenseGATLayer's function written plainly: per-pair logits, a masked softmax, heads concatenated
    or averaged, the bias, the mask."""
    batch, n, _ = x.shape
    h = (x @ layer.weight).view(batch, n, layer.heads, layer.out_features)
    dst = (h * layer.att_dst).sum(-1).transpose(1, 2)  # [B, H, N]
    src = (h * layer.att_src).sum(-1).transpose(1, 2)
    logits = torch.nn.functional.leaky_relu(dst.unsqueeze(-1) + src.unsqueeze(-2), layer.negative_slope)
    linked = (adj > 0) | torch.eye(n, dtype=torch.bool)
    alpha = logits.masked_fill(~linked[:, None], float("-inf")).softmax(-1)
    out = torch.einsum("bhij,bjhc->bihc", alpha, h)
    out = out.reshape(batch, n, -1) if layer.concat else out.mean(2)
    if layer.bias is not None:
        out = out + layer.bias
    if mask is not None:
        out = out * mask.unsqueeze(-1).to(out.dtype)
    return out, alpha


def gat_layer(in_features, out_features, heads, seed=0, **options):
    torch.manual_seed(seed)
    layer = DenseGATLayer(in_features, out_features, heads=heads, **options)
    if layer.bias is not None:
        random_bias_(layer)
    return layer


CASES = [(True, True, 0.2), (False, True, 0.2), (True, False, 0.0), (True, True, 1.0), (True, True, 1.5),
         (False, False, -0.1)]  # slopes outside [0, 1]: the plain softmax path


@pytest.mark.parametrize("concat, bias, slope", CASES)
@pytest.mark.parametrize("edges", ["full", "knn"])
@pytest.mark.parametrize("masked", [True, False])
def test_dense_gat_equals_the_plain_computation_with_gradients(concat, bias, slope, edges, masked, graphs):
    x = graphs(6, seed=8)
    adj, mask = adjacency(x, edges, k=3), x[..., MASK_COLUMN] > 0.5
    layer = gat_layer(16, 4, 3, concat=concat, bias=bias, negative_slope=slope)
    inputs = (x.clone().requires_grad_(), adj, mask if masked else None)
    out, alpha = layer(*inputs, return_attention=True)
    expected, expected_alpha = reference_gat(layer, x.clone().requires_grad_(), adj, inputs[2])
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(alpha, expected_alpha)
    wrt = [inputs[0], *layer.parameters()]
    grads = torch.autograd.grad(out.square().sum() + alpha.sum(-2).square().sum(), wrt)  # alpha's too
    ref_x = x.clone().requires_grad_()
    expected, expected_alpha = reference_gat(layer, ref_x, adj, inputs[2])
    expected_grads = torch.autograd.grad(expected.square().sum() + expected_alpha.sum(-2).square().sum(),
                                         [ref_x, *layer.parameters()])
    # absolute tolerance on the scale of all the gradients: a slope of 1 makes att_dst's exactly 0, to rounding
    scale = max(grad.abs().max().item() for grad in expected_grads)
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad, rtol=1e-4, atol=1e-6 * scale)


@pytest.mark.parametrize("scale", [1.0, 1e3])  # 1e3: scores beyond the factorised path's bound
@pytest.mark.parametrize("masked", [True, False])
def test_dense_gat_gradients_pass_gradcheck_on_both_paths(scale, masked, graphs):
    x = (graphs(2, seed=9) * scale).double()
    x[..., MASK_COLUMN] = (x[..., MASK_COLUMN] > 0).double()
    adj, mask = adjacency(x, "radius", radius=0.5), x[..., MASK_COLUMN] > 0.5
    layer = gat_layer(16, 3, 2, seed=1).double()

    def run(x, *parameters):
        out, alpha = torch.func.functional_call(layer, dict(zip(names, parameters)), (x, adj),
                                                {"mask": mask if masked else None, "return_attention": True})
        return out, alpha.sum(-2)

    names = [name for name, _ in layer.named_parameters()]
    inputs = (x.clone().requires_grad_(), *(p.detach().clone().requires_grad_() for p in layer.parameters()))
    assert torch.autograd.gradcheck(run, inputs, atol=1e-6, rtol=1e-4)


def test_dense_gat_takes_the_plain_softmax_for_large_scores_and_matches_it(graphs):
    x = graphs(8, seed=10)
    adj, mask = adjacency(x, "full"), x[..., MASK_COLUMN] > 0.5
    layer = gat_layer(16, 4, 2)
    with torch.no_grad():
        layer.att_src.mul_(200.0)  # scores in the hundreds: exp would overflow float32
    out, alpha = layer(x, adj, mask, return_attention=True)
    expected, expected_alpha = reference_gat(layer, x, adj, mask)
    assert torch.isfinite(out).all()  # scores in the hundreds: rounding grows with them
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(alpha, expected_alpha, rtol=1e-4, atol=1e-4)


def test_dense_gat_output_is_the_same_with_and_without_gradients_and_in_float64(graphs):
    x = graphs(16, seed=11)
    adj, mask = adjacency(x, "knn", k=4), x[..., MASK_COLUMN] > 0.5
    layer = gat_layer(16, 8, 4)
    with torch.no_grad():
        inference = layer(x, adj, mask)
    training = layer(x, adj, mask)
    torch.testing.assert_close(inference, training)
    torch.testing.assert_close(layer.double()(x.double(), adj.double(), mask).float(), inference)
    assert layer(x[:0], adj[:0], mask[:0]).shape == (0, 24, 32)


def test_dense_gcn_equals_its_formula_with_the_root_weight_and_mask(graphs):
    x = graphs(8, seed=12)
    adj, mask = adjacency(x, "radius", radius=0.4), x[..., MASK_COLUMN] > 0.5
    layer = DenseGCNLayer(16, 8, root_weight=True)
    random_bias_(layer)

    def formula(x):
        scale = (adj.sum(-1, keepdim=True) + 1.0).rsqrt()
        scaled = scale * (x @ layer.weight)
        return (scale * (adj @ scaled + scaled) + x @ layer.root + layer.bias) * mask.unsqueeze(-1)

    xs = [x.clone().requires_grad_() for _ in range(2)]
    out, expected = layer(xs[0], adj, mask), formula(xs[1])
    torch.testing.assert_close(out, expected)
    parameters = list(layer.parameters())
    grads = torch.autograd.grad(out.square().sum(), [xs[0], *parameters])
    expected_grads = torch.autograd.grad(expected.square().sum(), [xs[1], *parameters])
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad)


def test_full_adjacency_without_the_global_node_links_only_present_players(graphs):
    x = graphs(8, seed=13)
    x[:4, -1, MASK_COLUMN] = 0.0  # the global node absent in half the batch
    adj = adjacency(x, "full")
    present = x[..., MASK_COLUMN] > 0.5
    expected = present[:, :, None] & present[:, None, :] & ~torch.eye(24, dtype=torch.bool)
    torch.testing.assert_close(adj, expected.float())
    assert not adj[:4, -1].any() and not adj[:4, :, -1].any()
