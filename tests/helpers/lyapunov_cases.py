"""Closed loops with known answers shared by the Lyapunov verifier tests."""

from __future__ import annotations

from agents.lyapunov.verifier import ClosedLoop
from envs.control.system import ControlSystem


class Scalar(ControlSystem):
    """x+ = a x + u, natively discrete."""

    def __init__(self, a: float) -> None:
        self.a = a
        super().__init__(state_names=("x",), input_names=("u",), dt=1.0, x_eq=(0.0,), u_eq=(0.0,),
                         state_low=(-2.0,), state_high=(2.0,), input_low=(-1.0,), input_high=(1.0,), Q=1.0, R=1.0)

    def _advance(self, x, u, xp):
        return (x[0] * self.a + u[0],)


def scalar_loop(a: float) -> ClosedLoop:
    """x+ = a x with u = 0 and V = |x|: V(x+) - (1 - kappa) V(x) = (|a| - 1 + kappa) |x|, so the
    decrease holds exactly when |a| <= 1 - kappa."""
    return ClosedLoop(Scalar(a), lambda x, ops: x * 0.0, lambda x, ops: ops.sum(ops.abs(x)))
