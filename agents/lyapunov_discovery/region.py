"""The region a Lyapunov claim is stated on, shared by the falsifier, the search and the verifiers: a box
around the equilibrium 0 minus a small ball ``|x|_inf <= radius`` (``ball`` times the box's half-width
per dimension), where the strict conditions degenerate."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def region_around_origin(low: Any, high: Any, ball: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(low, high, radius) as float64 arrays; a ValueError unless the box holds 0 inside."""
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    if not (np.all(low < 0) and np.all(high > 0)):
        raise ValueError(f"the box must contain the equilibrium 0 inside: low {low}, high {high}")
    return low, high, ball * (high - low) / 2


def sample_outside_ball(low: np.ndarray, high: np.ndarray, radius: np.ndarray, n: int,
                        generator: torch.Generator) -> torch.Tensor:
    """The states of ``n`` uniform draws from the box (float64) that lie outside the ball."""
    low_t, high_t = torch.as_tensor(low), torch.as_tensor(high)
    x = low_t + (high_t - low_t) * torch.rand(n, len(low), dtype=torch.float64, generator=generator)
    return x[(x.abs() > torch.as_tensor(radius)).any(-1)]


def sample_with_subspaces(low: np.ndarray, high: np.ndarray, radius: np.ndarray, n: int,
                          generator: torch.Generator, subspace_share: float = 0.25) -> torch.Tensor:
    """:func:`sample_outside_ball` plus ``subspace_share * n`` draws with each coordinate zeroed with
    probability 1/2: states on coordinate subspaces, which uniform draws never hit (a V that vanishes
    there, as ``x3^4`` in 3-D, is only semidefinite). The uniform draws come first."""
    uniform = sample_outside_ball(low, high, radius, n, generator)
    planar = sample_outside_ball(low, high, radius, int(subspace_share * n), generator)
    planar = planar * (torch.rand(planar.shape, generator=generator) < 0.5)
    return torch.cat([uniform, planar[(planar.abs() > torch.as_tensor(radius)).any(-1)]])
