"""The networks of the region-of-attraction method, one controller and one Lyapunov function per mode
and one RoA-level network across modes.

All act on the deviation ``e = x - x_eq(p)`` from steady cornering and on the reference's context
``(v_ref, omega_ref / v_ref)`` (speed and the curvature of the reference's path), scaled to order one,
so one network per mode covers every speed and curve of the road. The controller and V each have a
linear-quadratic part whose matrices a network computes from the context (a gain K(c); a Cholesky
factor of P(c)), which pretraining fits to the mode's LQR, and a nonlinear part that starts at zero
and that the joint training shapes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

# typical magnitudes of the deviation: m, m, rad, m/s, rad, rad/s, rad
STATE_SCALE = (2.0, 2.0, 0.2, 3.0, 0.3, 0.5, 0.3)
SPEED_SCALE, CURVATURE_SCALE = 30.0, 10.0
N_STATES, N_INPUTS = 7, 2


def context(params: Any) -> Any:
    """Network context (..., 2) from parameters [v_ref, omega_ref, a_ref, mu_scale] (torch or numpy)."""
    speed = params[..., 0]
    if isinstance(params, np.ndarray):
        return np.stack([speed / SPEED_SCALE, CURVATURE_SCALE * params[..., 1] / np.maximum(speed, 0.5)], axis=-1)
    return torch.stack([speed / SPEED_SCALE, CURVATURE_SCALE * params[..., 1] / speed.clamp(min=0.5)], dim=-1)


def mlp(n_in: int, hidden: list[int], n_out: int, zero_last: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(n_in, width), nn.Tanh()]
        n_in = width
    layers.append(nn.Linear(n_in, n_out))
    if zero_last:  # the nonlinear parts start at exactly zero: the pretrained LQR part acts alone
        nn.init.zeros_(layers[-1].weight)
        nn.init.zeros_(layers[-1].bias)
    return nn.Sequential(*layers)


class ModeController(nn.Module):
    """u = clip(u_eq - K(c) e + g(e, c) - g(0, c)) in the scaled deviation; g starts at zero."""

    def __init__(self, hidden: list[int], input_limit: float) -> None:
        super().__init__()
        self.gain = mlp(2, hidden, N_INPUTS * N_STATES)
        self.residual = mlp(N_STATES + 2, hidden, N_INPUTS, zero_last=True)
        self.register_buffer("scale", torch.tensor(STATE_SCALE, dtype=torch.float64))
        self.input_limit = float(input_limit)

    def gains(self, ctx: torch.Tensor) -> torch.Tensor:
        """K(c) for the scaled deviation, in units of the input limit: (..., 2, 7)."""
        return self.gain(ctx).unflatten(-1, (N_INPUTS, N_STATES))

    def frozen_parts(self, ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(K(c), g(0, c)): what stays fixed while the context does (a rollout under one reference)."""
        return self.gains(ctx), self.residual(torch.cat([torch.zeros(*ctx.shape[:-1], N_STATES, dtype=ctx.dtype), ctx], -1))

    def correction(self, e: torch.Tensor, ctx: torch.Tensor, frozen: tuple | None = None) -> torch.Tensor:
        gains, residual_at_zero = self.frozen_parts(ctx) if frozen is None else frozen
        scaled = e / self.scale
        linear = -(gains @ scaled.unsqueeze(-1)).squeeze(-1)
        nonlinear = self.residual(torch.cat([scaled, ctx], -1)) - residual_at_zero
        return (linear + nonlinear) * self.input_limit

    def forward(self, e: torch.Tensor, ctx: torch.Tensor, u_eq: torch.Tensor, frozen: tuple | None = None) -> torch.Tensor:
        return torch.clamp(u_eq + self.correction(e, ctx, frozen), -self.input_limit, self.input_limit)

    def numpy_policy(self) -> NumpyController:
        """The same function on numpy arrays (a snapshot of the weights): acting without torch's
        per-call overhead, ~10x faster for one state."""
        return NumpyController(self)


class NumpyController:
    """A snapshot of a :class:`ModeController` evaluated with numpy (equal to 1e-12)."""

    def __init__(self, controller: ModeController) -> None:
        def layers(net: nn.Sequential) -> list[tuple[np.ndarray, np.ndarray]]:
            return [(m.weight.detach().double().numpy().T.copy(), m.bias.detach().double().numpy().copy())
                    for m in net if isinstance(m, nn.Linear)]

        self.gain, self.residual = layers(controller.gain), layers(controller.residual)
        self.scale = controller.scale.numpy().copy()
        self.input_limit = controller.input_limit

    @staticmethod
    def _run(weights: list, x: np.ndarray) -> np.ndarray:
        for W, b in weights[:-1]:
            x = np.tanh(x @ W + b)
        W, b = weights[-1]
        return x @ W + b

    def __call__(self, e: np.ndarray, ctx: np.ndarray, u_eq: np.ndarray) -> np.ndarray:
        scaled = e / self.scale
        gains = self._run(self.gain, ctx).reshape(*ctx.shape[:-1], N_INPUTS, N_STATES)
        linear = -np.einsum("...ij,...j->...i", gains, scaled)
        nonlinear = (self._run(self.residual, np.concatenate([scaled, ctx], -1))
                     - self._run(self.residual, np.concatenate([np.zeros_like(scaled), ctx], -1)))
        return np.clip(u_eq + (linear + nonlinear) * self.input_limit, -self.input_limit, self.input_limit)


class ModeLyapunov(nn.Module):
    """V(e, c) = (s' L(c) L(c)' s + |phi(s, c) - phi(0, c)|^2 + eps |s|^2) / level_scale, s = e / scale."""

    def __init__(self, hidden: list[int], n_features: int = 16, eps: float = 1e-3) -> None:
        super().__init__()
        self.factor = mlp(2, hidden, N_STATES * N_STATES)
        self.features = mlp(N_STATES + 2, hidden, n_features, zero_last=True)
        self.register_buffer("scale", torch.tensor(STATE_SCALE, dtype=torch.float64))
        self.register_buffer("lower", torch.tril(torch.ones(N_STATES, N_STATES, dtype=torch.bool)))
        self.eps = float(eps)
        # divides V so that level 1 sits near the empirical RoA's edge (set after pretraining)
        self.register_buffer("level_scale", torch.tensor(1.0, dtype=torch.float64))

    def cost_matrix(self, ctx: torch.Tensor) -> torch.Tensor:
        """P(c) = L L' for the scaled deviation: (..., 7, 7), positive semi-definite by construction."""
        L = self.factor(ctx).unflatten(-1, (N_STATES, N_STATES)) * self.lower
        return L @ L.transpose(-1, -2)

    def forward(self, e: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        s = e / self.scale
        quadratic = (s.unsqueeze(-2) @ self.cost_matrix(ctx) @ s.unsqueeze(-1)).squeeze(-1).squeeze(-1)
        phi = self.features(torch.cat([s, ctx], -1)) - self.features(torch.cat([torch.zeros_like(s), ctx], -1))
        return (quadratic + (phi**2).sum(-1) + self.eps * (s**2).sum(-1)) / self.level_scale


class RoALevel(nn.Module):
    """c(mu, v_ref, curvature): the level below which the mode's V certifies convergence (empirically)."""

    def __init__(self, hidden: list[int]) -> None:
        super().__init__()
        self.net = mlp(3, hidden, 1)

    def forward(self, params: torch.Tensor) -> torch.Tensor:
        features = torch.cat([params[..., 3:4], context(params)], -1)
        return nn.functional.softplus(self.net(features)).squeeze(-1) + 1e-3
