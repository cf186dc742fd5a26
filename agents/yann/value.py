"""The piecewise-quadratic value of an explicit MPC as a YANN-style network (the critic's start).

``V(x) = x' P_r x + q_r' x + c_r`` for ``x`` in region ``r``: the same layers 1-3 as a YANN
(:class:`~agents.yann.network.PolytopeIndicators`: which region holds ``x``, ties to the first),
then the big-M ReLU pair per region with the quadratic piece in place of the affine law,
``relu(M z_r + v_r - M) - relu(M z_r - v_r - M)``, summed. Outside every region a separate branch
returns a fallback quadratic (the LQR value ``(x - x_eq)' P (x - x_eq)`` in the YANN-RL critic).

``M = 2 max_r max_{x in D} |v_r(x)| + 1`` over the box ``D`` holding every region, bounded by
interval arithmetic (``|x_i| <= a_i`` on ``D`` gives ``|v_r| <= a'|P_r|a + |q_r|'a + |c_r|``) and
recomputed at every call from the current pieces, which are trainable parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from agents.yann.network import PolytopeIndicators, check_polytopes, domain_box, feasible

QuadraticPiece = tuple[np.ndarray, np.ndarray, float]  # (P_r, q_r, c_r)


class PiecewiseQuadratic(nn.Module):
    """``V(x)`` exactly on the regions, ``fallback`` outside (module docstring).

    Arguments
    ---------
    polytopes: sequence of ``(E_r, f_r)``.
    pieces: sequence of ``(P_r, q_r, c_r)``, one per polytope.
    fallback: ``(P, q, c)`` used where no region holds ``x``.
    domain: a box ``(low, high)`` holding every region (default: their bounding box, by LP).
    tolerance: as :class:`~agents.yann.network.YANN`.
    """

    def __init__(
        self,
        polytopes: Sequence[tuple[np.ndarray, np.ndarray]],
        pieces: Sequence[QuadraticPiece],
        fallback: QuadraticPiece,
        domain: tuple[Any, Any] | None = None,
        tolerance: float = 0.0,
    ) -> None:
        super().__init__()
        polytopes, n = check_polytopes(polytopes)
        if len(pieces) != len(polytopes):
            raise ValueError(f"{len(pieces)} quadratic pieces for {len(polytopes)} regions")
        self.indicators = PolytopeIndicators(polytopes, tolerance)
        self.n_inputs, self.n_regions = n, len(polytopes)
        dt = torch.float64
        P, q, c = (np.stack([np.asarray(piece[i], dtype=np.float64).reshape(shape) for piece in pieces])
                   for i, shape in ((0, (n, n)), (1, (n,)), (2, ())))
        self.P, self.q, self.c = (nn.Parameter(torch.as_tensor(a, dtype=dt)) for a in (P, q, c))
        low, high = domain_box(domain, polytopes, n)
        self.register_buffer("domain_abs_max", torch.as_tensor(np.maximum(np.abs(low), np.abs(high)), dtype=dt))
        P_f, q_f, c_f = fallback
        self.register_buffer("fallback_P", torch.as_tensor(np.asarray(P_f, dtype=np.float64).reshape(n, n), dtype=dt))
        self.register_buffer("fallback_q", torch.as_tensor(np.asarray(q_f, dtype=np.float64).reshape(n), dtype=dt))
        self.register_buffer("fallback_c", torch.as_tensor(float(c_f), dtype=dt))

    def big_m(self) -> torch.Tensor:
        with torch.no_grad():
            a = self.domain_abs_max
            bound = (self.P.abs() @ a) @ a + self.q.abs() @ a + self.c.abs()
            return 2.0 * bound.max() + 1.0

    def pieces(self, x: torch.Tensor) -> torch.Tensor:
        """Every region's quadratic at every state, shape (B, R)."""
        R, n = self.n_regions, self.n_inputs
        xP = (x @ self.P.transpose(0, 1).reshape(n, R * n)).view(-1, R, n)  # (x' P_r)_j
        return torch.bmm(xP, x.unsqueeze(-1)).squeeze(-1) + torch.addmm(self.c, x, self.q.T)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``V(x)``, shape (B,)."""
        x = torch.atleast_2d(x).to(torch.float64)
        z = self.indicators(x)
        M = self.big_m()
        v = self.pieces(x)
        Mz = M * z - M
        value = (torch.relu(Mz + v) - torch.relu(Mz - v)).sum(-1)
        fallback = ((x @ self.fallback_P) * x).sum(-1) + x @ self.fallback_q + self.fallback_c
        return torch.where(feasible(z), value, fallback)
