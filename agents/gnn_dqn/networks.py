"""Graph networks over batches of fixed-size graphs, written densely in torch.

Every graph of a batch has the same ``N`` nodes (24 for football), so node features ``x[B, N, F]``
and an adjacency ``adj[B, N, N]`` (:mod:`agents.gnn_dqn.graph`) are plain tensors and a layer is a
few batched matrix products: for 24-node graphs this is 10-20x faster than PyG's sparse path through
``Batch.from_data_list`` (see ``rlkit bench gnn_latency``).

- :class:`DenseGCNLayer`: Kipf & Welling's graph convolution, ``D^-1/2 (A + I) D^-1/2 X W + b``.
- :class:`DenseGATLayer`: Velickovic et al.'s multi-head graph attention.
- :class:`GNNFeaturesExtractor`: an SB3 features extractor that builds the edges, runs the layers and
  reads the graph out as the controlled player's embedding, the mean of the present nodes and the
  global node.
"""

from __future__ import annotations

import math
import numbers

import gymnasium as gym
import torch as th
import torch.nn.functional as F
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from agents.gnn_dqn.graph import EDGES, adjacency, node_mask

GNNS = ("gcn", "gat")
ACTIVE_COLUMN = 9  # 1 on the node of the player this observation's agent slot controls


def _glorot_(tensor: th.Tensor, fan_in: int, fan_out: int) -> None:
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    nn.init.uniform_(tensor, -bound, bound)


class DenseGCNLayer(nn.Module):
    """Graph convolution on dense batched graphs with symmetric normalisation and self loops.

    ``out_i = sum_{j in N(i) + {i}} W^T x_j / sqrt(d_i d_j) + b`` with ``d_i = 1 + |N(i)|``, where
    ``N(i)`` are the nodes ``j`` with ``adj[b, i, j] = 1``. ``adj`` must have no self loops (the
    builders of :mod:`agents.gnn_dqn.graph` give none): the layer adds them.

    With ``root_weight`` the layer adds ``W_root^T x_i``, a separate transform of the node's own
    features (as PyG's GraphConv and SAGEConv do): on a complete graph plain GCN gives every node of
    equal degree the same output, so the controlled player's embedding would not be his own.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 root_weight: bool = False) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(th.empty(in_features, out_features))
        self.root = nn.Parameter(th.empty(in_features, out_features)) if root_weight else None
        self.bias = nn.Parameter(th.zeros(out_features)) if bias else None
        _glorot_(self.weight, in_features, out_features)
        if self.root is not None:
            _glorot_(self.root, in_features, out_features)

    def forward(self, x: th.Tensor, adj: th.Tensor, mask: th.Tensor | None = None) -> th.Tensor:
        """``x[B, N, F]``, ``adj[B, N, N]``, optional ``mask[B, N]`` (absent nodes' outputs set to 0)."""
        scale = (adj.sum(-1, keepdim=True) + 1.0).rsqrt()  # 1/sqrt(degree with the self loop)
        scaled = (x @ self.weight).mul_(scale)
        out = th.baddbmm(scaled, adj, scaled).mul_(scale)  # scale * (adj @ scaled + scaled)
        # in place from here: no step's backward needs the tensor it overwrites
        if self.root is not None:
            out.baddbmm_(x, self.root.expand(len(x), -1, -1))  # + x @ root
        if self.bias is not None:
            out.add_(self.bias)
        if mask is not None:
            out.mul_(mask.unsqueeze(-1).to(out.dtype))
        return out

    def extra_repr(self) -> str:
        return (f"{self.in_features}, {self.out_features}, bias={self.bias is not None}, "
                f"root_weight={self.root is not None}")


# The factorised attention (DenseGATLayer) runs when every exponent it takes is at most this in size:
# its weights (within e^-40 and e^40), their sums, and its backward's products then stay far inside
# float32's range; otherwise the layer takes the plain softmax.
_EXPONENT_BOUND = 20.0


def _attention_weights(exps: th.Tensor, allowed: th.Tensor) -> th.Tensor:
    """Unnormalised attention ``[B, H, N, N]`` from ``exps[B, H, 3, N]``, the exponentials of ``s``,
    ``(1 - slope) d`` and ``slope s``, and the float 0/1 ``allowed[B, N, N]``.

    For ``0 <= slope <= 1``, ``LeakyReLU(z) = max(z, slope z)``, so with ``z = d_i + s_j``
    ``exp(LeakyReLU(z) - slope d_i) = max(exp((1 - slope) d_i) exp(s_j), exp(slope s_j))``: an outer
    product and a maximum instead of an exponential per pair. The factor ``exp(slope d_i)`` left out is
    the same along a row and cancels in the softmax.
    """
    src, dst, src_slope = exps.unbind(2)
    weights = dst.unsqueeze(-1) * src.unsqueeze(-2)
    th.maximum(weights, src_slope.unsqueeze(-2), out=weights)
    return weights.mul_(allowed.unsqueeze(1))


class _FactorisedAttention(th.autograd.Function):
    """``out = present_i sum_j alpha_ij v_j`` with ``alpha_ij = w_ij / S_i``, ``S_i = sum_j w_ij``
    (weights ``w`` from :func:`_attention_weights`), and, asked for, ``alpha``.

    Inputs: ``values[B, H, C, N]`` (the ``v_j``), ``dst``, ``src`` ``[B, H, N]`` (the scores, for the
    backward), ``projected`` (the layer's product, whose row of ones under each head's values makes
    the aggregation product give ``S_i`` too), ``exps``, ``allowed``, ``present`` (``[B, 1, 1, N]`` or
    None), ``negative_slope``, ``return_attention``. The weights are never normalised one by one:
    the forward divides the aggregated ``[B, H, C, N]``, the backward (the softmax's and the
    LeakyReLU's) works with ``w`` and ``1 / S``.
    """

    @staticmethod
    def forward(ctx, values: th.Tensor, dst: th.Tensor, src: th.Tensor, projected: th.Tensor, exps: th.Tensor,
                allowed: th.Tensor, present: th.Tensor | None, negative_slope: float,
                return_attention: bool) -> th.Tensor | tuple[th.Tensor, th.Tensor]:
        width = values.shape[2]
        weights = _attention_weights(exps, allowed)
        summed = projected[:, :, :width + 1] @ weights.mT  # [B, H, C + 1, N], the last row: S_i
        inverse = summed[:, :, width:].reciprocal()  # [B, H, 1, N]
        out = summed[:, :, :width] * (inverse if present is None else present * inverse)
        ctx.save_for_backward(values, dst, src, weights, inverse, present, out)
        ctx.negative_slope = negative_slope
        ctx.set_materialize_grads(False)  # alpha mostly gets no gradient: no zeros for it
        return (out, weights * inverse.mT) if return_attention else out

    @staticmethod
    def backward(ctx, grad_out: th.Tensor | None, grad_alpha: th.Tensor | None = None):
        values, dst, src, weights, inverse, present, out = ctx.saved_tensors
        grad_values = grad_dst = grad_src = None
        if grad_out is None and grad_alpha is None:
            return None, None, None, None, None, None, None, None, None
        if grad_out is None:
            grad_out = th.zeros_like(out)
        scaled = grad_out * (inverse if present is None else present * inverse)
        if ctx.needs_input_grad[0]:
            grad_values = scaled @ weights
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            # with g = dL/dalpha: dL/de_ij = alpha_ij (g_ij - sum_k alpha_ik g_ik) = w_ij (g_ij - c_i) / S_i,
            # g_ij / S_i from one product and c_i = sum_k alpha_ik g_ik = sum_c dL/dout_ci out_ci
            grad = scaled.mT @ values  # [B, H, N, N]: g_ij / S_i
            centre = (grad_out * out).sum(-2, keepdim=True)  # [B, H, 1, N]
            if grad_alpha is not None:
                grad.addcmul_(grad_alpha, inverse.mT)
                centre = centre + (grad_alpha * weights).sum(-1).unsqueeze(-2) * inverse
            grad.sub_((centre * inverse).mT).mul_(weights)
            logits = dst.unsqueeze(-1) + src.unsqueeze(-2)
            grad = th.ops.aten.leaky_relu_backward.grad_input(grad, logits, ctx.negative_slope, False,
                                                              grad_input=grad)
            grad_dst, grad_src = grad.sum(-1), grad.sum(-2)
        return grad_values, grad_dst, grad_src, None, None, None, None, None, None


class DenseGATLayer(nn.Module):
    """Multi-head graph attention on dense batched graphs.

    Head ``h`` scores neighbour ``j`` of node ``i`` (self loop included) with
    ``e_ij = LeakyReLU(a_dst . W_h x_i + a_src . W_h x_j)``, normalises the scores with a softmax
    over the neighbours only, and outputs ``sum_j alpha_ij W_h x_j``; heads are concatenated
    (``concat``) or averaged. Parameters: ``weight[in, heads * out]`` (head ``h``'s ``W_h^T`` in
    columns ``h * out`` to ``(h + 1) * out``), ``att_src[heads, out]``, ``att_dst[heads, out]``,
    ``bias``.

    How it is computed (the same function, to rounding), node index last throughout: one batched
    product gives, per head, ``W_h x_j + b`` (the bias moves inside the sum, as the attention of a
    row sums to one) and the scores ``d = a_dst . W_h x`` and ``s = a_src . W_h x`` (as
    ``(W_h^T a) . x``). On the CPU, for a slope in [0, 1] and scores small enough
    (:data:`_EXPONENT_BOUND`), the weights ``exp(e_ij)`` come from exponentials of ``d`` and ``s``
    alone (:func:`_attention_weights`) instead of one per pair, and are not normalised one by one: a
    row of ones under each head's features makes the aggregation product sum them too, and its
    ``[B, H, C, N]`` result is divided by these sums (:class:`_FactorisedAttention`, with its own
    backward). Otherwise it is the plain masked softmax. The output
    ``[B, N, features]`` is a transposed view of a ``[B, features, N]`` tensor, the layout in which
    the next layer's products take it.
    """

    def __init__(self, in_features: int, out_features: int, heads: int = 4, concat: bool = True,
                 negative_slope: float = 0.2, bias: bool = True) -> None:
        super().__init__()
        self.in_features, self.out_features, self.heads = in_features, out_features, heads
        self.concat, self.negative_slope = concat, negative_slope
        self.weight = nn.Parameter(th.empty(in_features, heads * out_features))
        self.att_src = nn.Parameter(th.empty(heads, out_features))
        self.att_dst = nn.Parameter(th.empty(heads, out_features))
        self.bias = nn.Parameter(th.zeros(self.output_features)) if bias else None
        _glorot_(self.weight, in_features, heads * out_features)
        _glorot_(self.att_src, heads, out_features)
        _glorot_(self.att_dst, heads, out_features)

    @property
    def output_features(self) -> int:
        return self.heads * self.out_features if self.concat else self.out_features

    def _projection(self) -> tuple[th.Tensor, th.Tensor]:
        """``matrix[H (C + 5), in]`` and ``offsets[H (C + 5), 1]`` of the product that gives, per
        head, ``C`` rows of ``W_h x + b``, a row of ones, and the rows of ``d``, ``s``,
        ``(1 - slope) d`` and ``slope s``."""
        heads, width, slope = self.heads, self.out_features, self.negative_slope
        weight, dst, src = self.weight.view(self.in_features, heads, width), self.att_dst, self.att_src
        attention = th.stack([dst, src, (1.0 - slope) * dst, slope * src], dim=1)  # [H, 4, C]
        scores = (weight.unsqueeze(2) * attention).sum(-1)  # [in, H, 4]: a . (W_h x) = (W_h^T a) . x
        matrix = th.cat([F.pad(weight, (0, 1)), scores], dim=-1).view(self.in_features, -1).mT
        bias = weight.new_zeros(heads, width) if self.bias is None else self.bias.view(-1, width)
        offsets = F.pad(F.pad(bias.expand(heads, -1), (0, 1), value=1.0), (0, 4))  # bias, 1, 0 for scores
        return matrix, offsets.view(-1, 1)

    def forward(self, x: th.Tensor, adj: th.Tensor, mask: th.Tensor | None = None,
                return_attention: bool = False) -> th.Tensor | tuple[th.Tensor, th.Tensor]:
        """``x[B, N, F]``, ``adj[B, N, N]``, optional ``mask[B, N]`` (absent nodes' outputs set to
        0); with ``return_attention`` also the attention ``alpha[B, heads, N, N]`` (row ``i``: the
        weights node ``i`` gives its neighbours)."""
        batch, n, _ = x.shape
        heads, width, slope = self.heads, self.out_features, self.negative_slope
        matrix, offsets = self._projection()
        projected = th.baddbmm(offsets, matrix.expand(batch, -1, -1), x.mT).view(batch, heads, width + 5, n)
        # values (and their row of ones) are [B H, C, N] batch views, as the products want them
        values, _, dst, src, _ = projected.split([width, 1, 1, 1, 2], dim=2)
        exponents = projected.detach()[:, :, width + 2:]  # s, (1 - slope) d, slope s
        allowed = th.gt(adj, 0, out=th.empty(adj.shape, dtype=x.dtype, device=x.device))
        allowed.diagonal(dim1=-2, dim2=-1).fill_(1.0)  # the self loop
        factorised = (x.device.type == "cpu" and x.dtype in (th.float32, th.float64) and 0.0 <= slope <= 1.0
                      and exponents.numel() > 0 and exponents.abs().max().item() <= _EXPONENT_BOUND)  # not NaN
        present = None if mask is None else mask.reshape(batch, 1, 1, n)
        dst, src = dst.squeeze(2), src.squeeze(2)  # [B, H, N]
        if factorised:
            out = _FactorisedAttention.apply(values, dst, src, projected.detach(), exponents.exp(), allowed,
                                             present, slope, return_attention)
            out, alpha = out if return_attention else (out, None)
        else:
            # in place but with a negative slope, whose in-place backward autograd refuses
            logits = F.leaky_relu(dst.unsqueeze(-1) + src.unsqueeze(-2), slope, inplace=slope >= 0)
            alpha = (logits + allowed.log().unsqueeze(1)).softmax(dim=-1)  # log: 0 or -inf
            out = values @ alpha.mT
            if present is not None:
                out = out.mul_(present)
        out = (out.view(batch, heads * width, n) if self.concat else out.mean(dim=1)).mT
        return (out, alpha) if return_attention else out

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, heads={self.heads}, concat={self.concat}"


def check_gnn_options(gnn: str, edges: str, radius: float, k: int, hidden: int, layers: int,
                      heads: int) -> None:
    """Raise ValueError naming the first bad hyper-parameter and what is allowed."""
    if gnn not in GNNS:
        raise ValueError(f"unknown gnn {gnn!r}; allowed: {', '.join(GNNS)}")
    if edges not in EDGES:
        raise ValueError(f"unknown edges {edges!r}; allowed: {', '.join(EDGES)}")
    for name, value in (("hidden", hidden), ("layers", layers), ("heads", heads), ("k", k)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if isinstance(radius, bool) or not isinstance(radius, numbers.Real) or not radius > 0:
        raise ValueError(f"radius must be a number > 0, got {radius!r}")
    if gnn == "gat" and hidden % heads:
        raise ValueError(f"hidden ({hidden}) must be a multiple of heads ({heads}) for gnn 'gat' "
                         f"(each head gives hidden/heads features, concatenated)")


class GNNFeaturesExtractor(BaseFeaturesExtractor):
    """Encodes a batch of graph observations ``[B, N, F]`` into ``3 * hidden`` features.

    Edges come from the node positions (:func:`agents.gnn_dqn.graph.adjacency`); ``layers`` GCN or
    GAT layers of width ``hidden`` (GAT: ``heads`` heads of ``hidden / heads`` features,
    concatenated), each followed by a ReLU; the readout concatenates the controlled player's node
    (column 9), the mean over present nodes and the global node (the last). SB3's DQN puts its Q
    head on these features and builds a second extractor for its target network.

    Args:
        observation_space: a Box of shape (nodes, features); column 15 is the mask.
        gnn: ``"gcn"`` or ``"gat"``.
        edges, radius, k: how edges are built (``"full"``, ``"radius"`` within ``radius``, ``"knn"``).
        hidden: width of every layer; layers: how many; heads: attention heads (GAT).
        root_weight: GCN layers also transform each node's own features separately
            (:class:`DenseGCNLayer`); without it a complete graph ("full") gives the controlled
            player the same embedding as everyone else. GAT's attention needs no such help.
    """

    def __init__(self, observation_space: gym.spaces.Box, gnn: str = "gcn", edges: str = "full",
                 radius: float = 0.3, k: int = 6, hidden: int = 32, layers: int = 2,
                 heads: int = 4, root_weight: bool = True) -> None:
        check_gnn_options(gnn, edges, radius, k, hidden, layers, heads)
        if len(observation_space.shape) != 2:
            raise ValueError(f"GNNFeaturesExtractor needs observations of shape (nodes, features), "
                             f"got {observation_space.shape}")
        hidden, layers, heads = int(hidden), int(layers), int(heads)
        super().__init__(observation_space, features_dim=3 * hidden)
        self.gnn, self.edges, self.radius, self.k = gnn, edges, float(radius), int(k)
        widths = [observation_space.shape[1]] + [hidden] * layers
        if gnn == "gcn":
            self.layers = nn.ModuleList(DenseGCNLayer(a, b, root_weight=root_weight)
                                        for a, b in zip(widths, widths[1:]))
        else:
            self.layers = nn.ModuleList(DenseGATLayer(a, b // heads, heads) for a, b in zip(widths, widths[1:]))

    def node_embeddings(self, x: th.Tensor) -> th.Tensor:
        """Node embeddings ``[B, N, hidden]`` (zero for absent nodes)."""
        return self._node_embeddings(x, node_mask(x))

    def _node_embeddings(self, x: th.Tensor, mask: th.Tensor) -> th.Tensor:
        adj = adjacency(x, self.edges, self.radius, self.k)
        h = x
        for layer in self.layers:
            h = layer(h, adj, mask)  # a fresh tensor; autograd takes no in-place op on a view of one (GAT)
            h = F.relu(h, inplace=h._base is None or not th.is_grad_enabled())
        return h

    def forward(self, observations: th.Tensor) -> th.Tensor:
        mask = node_mask(observations)
        h = self._node_embeddings(observations, mask)  # zero at absent nodes: the layers mask them
        active = (h * observations[..., ACTIVE_COLUMN:ACTIVE_COLUMN + 1]).sum(1)
        mean = h.sum(1) / mask.sum(1, keepdim=True).to(h.dtype).clamp(min=1.0)
        return th.cat([active, mean, h[:, -1]], dim=-1)
