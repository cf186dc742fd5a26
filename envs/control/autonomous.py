"""Autonomous continuous-time systems ``dx/dt = f(x)`` with an equilibrium at the origin, for Lyapunov
analysis: the dynamics written once against a backend (:mod:`envs.control.system`'s TORCH, NUMPY or
SYMPY), so the torch form a falsifier differentiates and the SymPy form a certificate states are the same
model (tested equal).

Each system carries the region its Lyapunov analysis is stated on (a box around the origin) and the
name and source of its equations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from envs.control.system import NUMPY, SYMPY, TORCH


class AutonomousSystem:
    """``dx/dt = f(x)``, ``f(0) = 0``; subclasses set ``name``, ``state_names``, ``region_low`` /
    ``region_high`` and implement ``_rhs(x, xp)`` on the tuple of state components."""

    name: str = "autonomous"
    state_names: tuple[str, ...] = ()
    region_low: Sequence[float] = ()
    region_high: Sequence[float] = ()

    @property
    def n_states(self) -> int:
        return len(self.state_names)

    def _rhs(self, x: tuple, xp: Any) -> tuple:
        raise NotImplementedError

    def f(self, x: Any) -> Any:
        """dx/dt at states x (..., n): torch in, torch out (differentiable); numpy in, numpy out."""
        if x.shape[-1] != self.n_states:
            raise ValueError(f"{self.name}: states have {self.n_states} entries; got shape {tuple(x.shape)}")
        xp = TORCH if isinstance(x, torch.Tensor) else NUMPY
        return xp.stack(self._rhs(tuple(x[..., i] for i in range(self.n_states)), xp))

    def symbolic_f(self) -> tuple[list, list]:
        """(state symbols, [dx_i/dt]) in SymPy, the symbols named as the state components (real)."""
        import sympy

        states = [sympy.Symbol(name, real=True) for name in self.state_names]
        return states, list(self._rhs(tuple(states), SYMPY))

    @property
    def region(self) -> tuple[np.ndarray, np.ndarray]:
        """The box (low, high) the Lyapunov analysis is stated on."""
        return np.asarray(self.region_low, dtype=np.float64), np.asarray(self.region_high, dtype=np.float64)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, {self.n_states} states)"


class StableLinear(AutonomousSystem):
    """``dx/dt = A x`` with ``A = [[-1, 2], [-3, -4]]`` (eigenvalues -2.5 +- 1.94i): the smallest test
    case, with quadratic Lyapunov functions from the Lyapunov equation."""

    name = "stable_linear"
    state_names = ("x1", "x2")
    region_low, region_high = (-2.0, -2.0), (2.0, 2.0)
    A = ((-1.0, 2.0), (-3.0, -4.0))

    def _rhs(self, x, xp):
        (a, b), (c, d) = self.A
        return a * x[0] + b * x[1], c * x[0] + d * x[1]


class DampedPendulum(AutonomousSystem):
    """A damped pendulum about its lower rest position: ``theta' = omega``,
    ``omega' = -(g / l) sin(theta) - (b / (m l^2)) omega``, g = 9.81, m = l = 1, b = 0.5; the energy
    ``(g/l)(1 - cos theta) + omega^2 / 2`` decreases (not strictly: dV/dt = -b omega^2)."""

    name = "damped_pendulum"
    state_names = ("theta", "omega")
    region_low, region_high = (-3.0, -4.0), (3.0, 4.0)
    g, m, l, b = 9.81, 1.0, 1.0, 0.5

    def _rhs(self, x, xp):
        theta, omega = x
        return omega, -(self.g / self.l) * xp.sin(theta) - self.b / (self.m * self.l**2) * omega


class VanDerPolReversed(AutonomousSystem):
    """Van der Pol in reversed time (mu = 1): ``x1' = -x2``, ``x2' = x1 + (x1^2 - 1) x2``; the origin is
    stable, its region of attraction bounded by the (now unstable) limit cycle, so Lyapunov functions are
    local: the region is the box +-1, inside the cycle (from its corners the flow converges; from those of
    +-1.1 it does not, tested)."""

    name = "van_der_pol_reversed"
    state_names = ("x1", "x2")
    region_low, region_high = (-1.0, -1.0), (1.0, 1.0)
    mu = 1.0

    def _rhs(self, x, xp):
        x1, x2 = x
        return -x2, x1 + self.mu * (x1 * x1 - 1.0) * x2


class Polynomial3D(AutonomousSystem):
    """A 3-D polynomial system with coupled quadratic terms: ``x1' = -x1 + x2 x3``,
    ``x2' = -x2 - x1 x3``, ``x3' = -x3``; ``x1^2 + x2^2 + x3^2`` is a global Lyapunov function
    (the cross terms cancel: dV/dt = -2|x|^2)."""

    name = "polynomial_3d"
    state_names = ("x1", "x2", "x3")
    region_low, region_high = (-2.0, -2.0, -2.0), (2.0, 2.0, 2.0)

    def _rhs(self, x, xp):
        x1, x2, x3 = x
        return -x1 + x2 * x3, -x2 - x1 * x3, -x3


SYSTEMS: dict[str, type[AutonomousSystem]] = {
    cls.name: cls for cls in (StableLinear, DampedPendulum, VanDerPolReversed, Polynomial3D)
}


def make_system(name: str) -> AutonomousSystem:
    """The system called ``name``; a ValueError naming the known ones otherwise."""
    if name not in SYSTEMS:
        raise ValueError(f"unknown system {name!r}; known: {', '.join(SYSTEMS)}")
    return SYSTEMS[name]()
