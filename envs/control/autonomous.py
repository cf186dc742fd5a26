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
        """(state symbols, [dx_i/dt]) in SymPy, the symbols named as the state components (real); a
        NotImplementedError when the dynamics are not written against the backend (numeric-only code)."""
        import sympy

        states = [sympy.Symbol(name, real=True) for name in self.state_names]
        try:
            return states, [sympy.sympify(f) for f in self._rhs(tuple(states), SYMPY)]
        except (TypeError, AttributeError, ValueError, sympy.SympifyError) as error:  # numeric-only code in _rhs
            raise NotImplementedError(f"{self.name} has no SymPy form: its dynamics fail on SymPy symbols "
                                      f"({type(error).__name__}: {error}); write them with the backend's functions "
                                      f"(xp.sin, xp.where, ...)") from None

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
    ``omega' = -(g / l) sin(theta) - (b / (m l^2)) omega``, in time units of ``sqrt(l / g)`` (g = l = m = 1,
    as in the discovery paper), b = 0.5; the energy ``(1 - cos theta) + omega^2 / 2`` decreases, not
    strictly (dV/dt = -b omega^2 vanishes on omega = 0): a weak Lyapunov function, with asymptotic
    stability from LaSalle's invariance principle."""

    name = "damped_pendulum"
    state_names = ("theta", "omega")
    region_low, region_high = (-3.0, -4.0), (3.0, 4.0)
    g, m, l, b = 1.0, 1.0, 1.0, 0.5

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


class LosslessPowerSystem3Bus(AutonomousSystem):
    """Frequency dynamics of the lossless 3-bus power system (the discovery paper's 6-D case), every bus a
    generator with droop control ``u_i = omega_i`` and every pair of buses joined by a line:

        delta_i' = omega_i,   m omega_i' = -d omega_i - u_i - sum_{j != i} B sin(delta_i - delta_j),

    m = 2, d = 1, B = 1, no power injections; the region |delta_i| <= 0.75, |omega_i| <= 1.2.

    The equilibrium is not isolated: every synchronous state (delta_1 = delta_2 = delta_3, omega = 0) is
    one, so no V is positive definite *and* decreasing strictly, and the network energy
    ``sum omega_i^2 + sum_{i<j} (1 - cos(delta_i - delta_j))`` vanishes on that line. ``s + sigma``
    (the sums of angles and of frequencies) is conserved, so ``energy + (s + sigma)^2`` is a weak Lyapunov
    function (dV/dt = -2 sum omega_i^2 <= 0): the origin is stable, not asymptotically stable.
    :class:`LosslessPowerSystem3BusRelative` is the same network in the angles relative to bus 3."""

    name = "power_3bus"
    state_names = ("delta1", "delta2", "delta3", "omega1", "omega2", "omega3")
    region_low, region_high = (-0.75,) * 3 + (-1.2,) * 3, (0.75,) * 3 + (1.2,) * 3
    m, d, droop, B = 2.0, 1.0, 1.0, 1.0

    def _rhs(self, x, xp):
        delta, omega = x[:3], x[3:]
        accelerations = tuple(
            (-(self.d + self.droop) * omega[i] - self.B * sum(xp.sin(delta[i] - delta[j]) for j in range(3) if j != i))
            / self.m for i in range(3))
        return (*omega, *accelerations)


class LosslessPowerSystem3BusRelative(LosslessPowerSystem3Bus):
    """:class:`LosslessPowerSystem3Bus` in the angles relative to bus 3, ``theta_i = delta_i - delta_3``
    (5-D: theta13, theta23, omega1..3), where the synchronous equilibrium is isolated; the region
    |theta_i3| <= 1.5 (the differences of angles within +-0.75), |omega_i| <= 1.2. The network energy is
    positive definite here and a weak Lyapunov function (dV/dt = -2 sum omega_i^2); LaSalle gives
    asymptotic stability."""

    name = "power_3bus_relative"
    state_names = ("theta13", "theta23", "omega1", "omega2", "omega3")
    region_low, region_high = (-1.5,) * 2 + (-1.2,) * 3, (1.5,) * 2 + (1.2,) * 3

    def _rhs(self, x, xp):
        theta13, theta23, *omega = x
        delta = (theta13, theta23, 0.0 * theta13)  # bus 3 is the reference (0 * theta keeps the backend's type)
        _, _, _, *accelerations = super()._rhs((*delta, *omega), xp)
        return (omega[0] - omega[2], omega[1] - omega[2], *accelerations)


SYSTEMS: dict[str, type[AutonomousSystem]] = {
    cls.name: cls for cls in (StableLinear, DampedPendulum, VanDerPolReversed, Polynomial3D, LosslessPowerSystem3Bus,
                              LosslessPowerSystem3BusRelative)
}


def make_system(name: str) -> AutonomousSystem:
    """The system called ``name``; a ValueError naming the known ones otherwise."""
    if name not in SYSTEMS:
        raise ValueError(f"unknown system {name!r}; known: {', '.join(SYSTEMS)}")
    return SYSTEMS[name]()
