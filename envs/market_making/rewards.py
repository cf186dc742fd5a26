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


@dataclass
class StepOutcome:
    """What one step did (see the module docstring for the symbols)."""

    q: float = 0.0
    dm: float = 0.0
    pi: float = 0.0
    h: float = 0.0
    fills: int = 0
    dE: float = 0.0


class Reward:
    """A named reward; ``reset`` at the start of each episode."""

    def __init__(self, name: str, *, taker_fee: float = 0.0, dampening: float = 0.35,
                 ceiling: float | None = None, eta: float = 0.01, inventory_penalty: float = 0.01) -> None:
        if name not in REWARDS:
            raise ValueError(f"unknown reward {name!r}; allowed: {', '.join(REWARDS)}")
        self.name, self.fee, self.d, self.eta, self.kappa = name, taker_fee, dampening, eta, inventory_penalty
        self.ceiling = 100.0 * 2.0 * taker_fee if ceiling is None else ceiling
        self._fn = getattr(self, "_" + name)
        self.reset()

    def reset(self) -> None:
        self.A = 0.0
        self.B = 0.0

    def __call__(self, s: StepOutcome) -> float:
        return float(self._fn(s))

    def _unrealized(self, s):
        return 100.0 * s.q * s.dm

    def _unrealized_realized(self, s):
        return 100.0 * (s.q * s.dm + s.pi)

    def _asymmetrical(self, s):
        return 100.0 * (s.h + min(0.0, self.d * s.q * s.dm) + (s.pi if s.fills else 0.0))

    def _asymmetrical_ceiling(self, s):
        return min(self._asymmetrical(s), self.ceiling)

    def _realized(self, s):
        return 100.0 * s.pi

    def _trade_completion(self, s):
        if s.pi > 2.0 * self.fee:
            return 1.0
        if s.pi < -self.fee:
            return -1.0
        return s.pi

    def _differential_sharpe(self, s):
        R = s.q * s.dm
        dA, dB = R - self.A, R * R - self.B
        variance = self.B - self.A * self.A
        r = 0.0 if R == 0.0 or variance <= 0.0 else (self.B * dA - 0.5 * self.A * dB) / variance ** 1.5
        self.A += self.eta * dA
        self.B += self.eta * dB
        return r

    def _cash_pnl(self, s):
        return 100.0 * s.dE

    def _inventory_penalty(self, s):
        return 100.0 * s.dE - self.kappa * s.q * s.q


REWARDS = ("unrealized", "unrealized_realized", "asymmetrical", "asymmetrical_ceiling", "realized",
           "trade_completion", "differential_sharpe", "cash_pnl", "inventory_penalty")
