"""Rewards by name: the seven of the source paper plus cash PnL and inventory-penalised PnL.

Every reward is a function of one step's :class:`StepOutcome`, in *percent of one order's notional*
``N`` (the paper's scale: "100 x"), so rewards of different names are comparable:

- ``q``: inventory during the step (held from the previous decision) in orders: ``position / order qty``
- ``dm = m_t / m_{t-1} - 1``: relative mid change over the step
- ``pi``: realized PnL of the step (net of all fees, flattening included) as a fraction of ``N``
- ``h``: spread captured by the step's maker fills, in orders: sum over fills of
  ``fill qty / order qty x (mid - price) / mid`` for a buy (``(price - mid) / mid`` for a sell),
  with the mid at the fill
- ``dE``: change of equity ``cash + position x mid`` as a fraction of ``N``
- ``f``: the taker (market) fee rate

===========================  ====================================================================
name                         reward
===========================  ====================================================================
``unrealized``               ``100 q dm``                                             (paper 1)
``unrealized_realized``      ``100 (q dm + pi)``                                      (paper 2)
``asymmetrical``             ``100 [h + min(0, d q dm) + 1{fill} pi]``, dampening ``d``
                             (``dampening``, default 0.35, the paper's most stable)   (paper 3)
``asymmetrical_ceiling``     ours for the paper's unpublished variant: ``asymmetrical`` with its
                             positive part capped, ``min(r3, C)``, where the ceiling
                             ``C = 100 x 2 f`` (``ceiling``; default: a gain no larger than a
                             taker round trip's fees, so no single step can pay more than the
                             cost of leaving the position at market)                  (paper 4)
``realized``                 ``100 pi`` (the change of realized PnL)                   (paper 5)
``trade_completion``         ``1`` if ``pi > 2f``; ``-1`` if ``pi < -f``; ``pi`` otherwise
                             (0 on a step that realizes nothing)                      (paper 6)
``differential_sharpe``      Moody & Saffell: ``R = q dm``; with ``dA = R - A``, ``dB = R^2 - B``:
                             ``r = (B dA - A dB / 2) / (B - A^2)^1.5`` (0 when ``R = 0`` or
                             ``B <= A^2``), then ``A += eta dA``, ``B += eta dB``
                             (``eta`` 0.01; ``A = B = 0`` at reset)                   (paper 7)
``cash_pnl``                 ``100 dE`` (mark-to-market PnL, fees and flattening included)
``inventory_penalty``        ``100 dE - kappa q^2`` (``inventory_penalty`` kappa, default 0.01)
===========================  ====================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

REWARDS = ("unrealized", "unrealized_realized", "asymmetrical", "asymmetrical_ceiling", "realized",
           "trade_completion", "differential_sharpe", "cash_pnl", "inventory_penalty")
(UNREALIZED, UNREALIZED_REALIZED, ASYMMETRICAL, ASYMMETRICAL_CEILING, REALIZED, TRADE_COMPLETION,
 DIFFERENTIAL_SHARPE, CASH_PNL, INVENTORY_PENALTY) = range(len(REWARDS))
# parameters of reward_value, in this order
P_FEE, P_DAMPENING, P_CEILING, P_ETA, P_KAPPA = range(5)


@dataclass
class StepOutcome:
    """What one step did (see the module docstring for the symbols)."""

    q: float = 0.0
    dm: float = 0.0
    pi: float = 0.0
    h: float = 0.0
    fills: int = 0
    dE: float = 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def reward_value(kind, q, dm, pi, h, fills, dE, params, state):
    """Reward ``kind`` (an index of :data:`REWARDS`) of one step; ``params`` as ``P_*``, ``state``
    the differential Sharpe's ``[A, B]`` (updated in place)."""
    if kind == UNREALIZED:
        return 100.0 * q * dm
    if kind == UNREALIZED_REALIZED:
        return 100.0 * (q * dm + pi)
    if kind == ASYMMETRICAL or kind == ASYMMETRICAL_CEILING:
        loss = params[P_DAMPENING] * q * dm
        r = 100.0 * (h + (loss if loss < 0.0 else 0.0) + (pi if fills != 0 else 0.0))
        if kind == ASYMMETRICAL_CEILING and params[P_CEILING] < r:
            return params[P_CEILING]
        return r
    if kind == REALIZED:
        return 100.0 * pi
    if kind == TRADE_COMPLETION:
        if pi > 2.0 * params[P_FEE]:
            return 1.0
        if pi < -params[P_FEE]:
            return -1.0
        return pi
    if kind == DIFFERENTIAL_SHARPE:
        A = state[0]
        B = state[1]
        R = q * dm
        dA = R - A
        dB = R * R - B
        variance = B - A * A
        r = 0.0 if R == 0.0 or variance <= 0.0 else (B * dA - 0.5 * A * dB) / variance ** 1.5
        state[0] = A + params[P_ETA] * dA
        state[1] = B + params[P_ETA] * dB
        return r
    if kind == CASH_PNL:
        return 100.0 * dE
    return 100.0 * dE - params[P_KAPPA] * q * q


class Reward:
    """A named reward; ``reset`` at the start of each episode. The formulas are
    :func:`reward_value`'s, which the environments call from compiled code."""

    def __init__(self, name: str, *, taker_fee: float = 0.0, dampening: float = 0.35,
                 ceiling: float | None = None, eta: float = 0.01, inventory_penalty: float = 0.01) -> None:
        if name not in REWARDS:
            raise ValueError(f"unknown reward {name!r}; allowed: {', '.join(REWARDS)}")
        self.name, self.fee, self.d, self.eta, self.kappa = name, taker_fee, dampening, eta, inventory_penalty
        self.ceiling = 100.0 * 2.0 * taker_fee if ceiling is None else ceiling
        self.kind = REWARDS.index(name)
        self.params = np.array([self.fee, self.d, self.ceiling, self.eta, self.kappa], np.float64)
        self.reset()

    def reset(self) -> None:
        self.state = np.zeros(2, np.float64)

    @property
    def A(self) -> float:
        return float(self.state[0])

    @property
    def B(self) -> float:
        return float(self.state[1])

    def __call__(self, s: StepOutcome) -> float:
        return float(reward_value(self.kind, float(s.q), float(s.dm), float(s.pi), float(s.h), int(s.fills),
                                  float(s.dE), self.params, self.state))
