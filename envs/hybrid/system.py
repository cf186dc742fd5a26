"""The hybrid-system interface: a plant whose continuous dynamics depend on a discrete mode.

A :class:`HybridSystem` names its modes (each a set of physical parameters, e.g. road friction),
gives batched, differentiable torch dynamics ``f(x, u, params)`` in which the mode enters only
through its parameter vector, and says which mode is active: by a guard on the state (the car
crossing onto the next road segment) or by a schedule. Agents (``agents.hybrid_roa``) use this to
train one controller per mode, to linearise each mode, and to imagine the state after a switch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass(frozen=True)
class Mode:
    """One discrete mode: a name and its physical parameters."""

    name: str
    parameters: Mapping[str, float] = field(default_factory=dict)


class HybridSystem:
    """Modes, per-mode continuous dynamics and the discrete step; subclasses define ``dynamics``.

    ``params`` is a tensor (..., n_params) whose layout ``param_names`` gives: the mode's physical
    parameters together with any reference the error coordinates are taken about.
    """

    n_states: int
    n_inputs: int
    param_names: tuple[str, ...]
    modes: Mapping[str, Mode]
    dt: float

    def mode(self, name: str) -> Mode:
        """The mode called ``name``; a clear error naming the known modes otherwise."""
        if name not in self.modes:
            raise ValueError(f"unknown mode {name!r} of {type(self).__name__}; known modes: {sorted(self.modes)}")
        return self.modes[name]

    def dynamics(self, x: torch.Tensor, u: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """dx/dt for states (..., n_states), inputs (..., n_inputs) and parameters (..., n_params)."""
        raise NotImplementedError

    def step(self, x: torch.Tensor, u: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """The next state after ``dt`` (explicit Euler, as the source paper's car)."""
        return x + self.dt * self.dynamics(x, u, params)

    def linearize(self, x: torch.Tensor, u: torch.Tensor, params: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Continuous-time Jacobians (A, B) at one point ``(x, u)`` under ``params`` (float64 numpy)."""
        x = torch.as_tensor(x, dtype=torch.float64)
        u = torch.as_tensor(u, dtype=torch.float64)
        params = torch.as_tensor(params, dtype=torch.float64)
        A, B = torch.func.jacrev(self.dynamics, argnums=(0, 1))(x, u, params)
        return A.numpy(), B.numpy()


class ModeSchedule:
    """Mode ``names[i]`` from ``starts[i]`` on, where the switching variable is time (a schedule)
    or a function of the state (a guard: the car's arc-length position along its road)."""

    def __init__(self, starts: Sequence[float], names: Sequence[str]) -> None:
        if len(starts) == 0 or len(starts) != len(names):
            raise ValueError(f"a mode schedule needs as many start points as mode names, at least one "
                             f"(got {len(starts)} starts, {len(names)} names)")
        if np.any(np.diff(starts) <= 0):
            raise ValueError(f"the schedule's start points must increase strictly (got {list(starts)})")
        self.starts = np.asarray(starts, dtype=np.float64)
        self.names = tuple(names)

    def index_at(self, position: float) -> int:
        """The index of the entry active at ``position`` (the first before the first start)."""
        return int(max(np.searchsorted(self.starts, position, side="right") - 1, 0))

    def mode_at(self, position: float) -> str:
        return self.names[self.index_at(position)]

