"""The operations Lyapunov networks and closed loops are written with, so that one piece of code
runs on torch tensors (training, falsification) and on bound objects (the sound verifier,
:mod:`agents.lyapunov.bounds`, whose ``BOUND_OPS`` has the same methods).

Values support ``+``/``-`` with each other and with constants, ``*`` and ``/`` by constants, unary
``-`` and indexing of the last dimension; everything else goes through an ops object.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F


class TorchOps:
    """The ops on torch tensors (batched over leading dimensions, differentiable)."""

    @staticmethod
    def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        return F.linear(x, weight.to(x.dtype), None if bias is None else bias.to(x.dtype))

    relu = staticmethod(torch.relu)
    tanh = staticmethod(torch.tanh)
    abs = staticmethod(torch.abs)
    sin = staticmethod(torch.sin)
    cos = staticmethod(torch.cos)
    exp = staticmethod(torch.exp)
    sqrt = staticmethod(torch.sqrt)

    @staticmethod
    def leaky_relu(x: torch.Tensor, slope: float) -> torch.Tensor:
        return F.leaky_relu(x, slope)

    @staticmethod
    def square(x: torch.Tensor) -> torch.Tensor:
        return x * x

    @staticmethod
    def clamp(x: torch.Tensor, low: Any, high: Any) -> torch.Tensor:
        low = torch.as_tensor(low, dtype=x.dtype)
        high = torch.as_tensor(high, dtype=x.dtype)
        return torch.minimum(torch.maximum(x, low), high)

    @staticmethod
    def sum(x: torch.Tensor) -> torch.Tensor:
        return x.sum(-1)

    @staticmethod
    def stack(parts: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.stack(torch.broadcast_tensors(*parts), -1)


TORCH_OPS = TorchOps()
