"""Quoting formulas of the classical market makers, an online estimator of their market inputs,
and the map from desired prices to an action of :class:`~envs.market_making.env.MarketMakingEnv`.

Units (all three models): prices relative to the mid (``s = 1`` at each decision; a quote is
``mid x (1 + offset)``), time in seconds, inventory ``q`` in orders (position / order size, the
model's lot), volatility ``sigma`` of the relative mid (per square-root second), order-arrival
intensity ``lambda(delta) = A exp(-k delta)`` at relative distance ``delta`` from the mid (``k``
per unit of relative distance: ``k = 1e4`` means the intensity falls by ``e`` every basis point;
``A`` per second and per side). Working relative to the mid makes the parameters independent of
the price level (a 7,500 USD synthetic market and a 60,000 USD Binance one).

Avellaneda-Stoikov (2008), finite horizon ``T`` (the episode's end), ``tau = T - t``::

    reservation  r      = s (1 - q gamma sigma^2 tau)
    total spread delta  = s (gamma sigma^2 tau + (2 / gamma) ln(1 + gamma / k))
    bid, ask            = r -/+ delta / 2

Gueant-Lehalle-Fernandez-Tapia (2013), the closed-form asymptotic (infinite-horizon) approximation
of the optimal distances to the mid, with ``xi = gamma``::

    c1 = (1 / gamma) ln(1 + gamma / k)
    c2 = sqrt( gamma / (2 A k) (1 + gamma / k)^(1 + k / gamma) )
    delta_bid(q) = c1 + (2 q + 1) / 2 sigma c2        bid = s (1 - delta_bid)
    delta_ask(q) = c1 - (2 q - 1) / 2 sigma c2        ask = s (1 + delta_ask)

Fixed spread: ``bid, ask = s (1 -/+ h)`` with a constant half-spread ``h``.

A long inventory (``q > 0``) lowers both quotes in AS and GLFT (sell sooner, buy later).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def avellaneda_stoikov_quotes(mid: float, q: float, gamma: float, sigma: float, tau: float,
                              k: float) -> tuple[float, float]:
    """(bid, ask) of Avellaneda-Stoikov; see the module docstring for the units."""
    risk = gamma * sigma * sigma * tau
    reservation = 1.0 - q * risk
    half = 0.5 * (risk + 2.0 / gamma * math.log1p(gamma / k))
    return mid * (reservation - half), mid * (reservation + half)


def glft_coefficients(gamma: float, k: float, A: float) -> tuple[float, float]:
    """``(c1, c2)`` of the GLFT closed form (``(1 + g/k)^(1 + k/g)`` computed in logs)."""
    ratio = gamma / k
    c1 = math.log1p(ratio) / gamma
    c2 = math.sqrt(gamma / (2.0 * A * k) * math.exp((1.0 + 1.0 / ratio) * math.log1p(ratio)))
    return c1, c2


def glft_quotes(mid: float, q: float, gamma: float, sigma: float, k: float, A: float) -> tuple[float, float]:
    """(bid, ask) of the GLFT infinite-horizon closed form; see the module docstring."""
    c1, c2 = glft_coefficients(gamma, k, A)
    delta_bid = c1 + 0.5 * (2.0 * q + 1.0) * sigma * c2
    delta_ask = c1 - 0.5 * (2.0 * q - 1.0) * sigma * c2
    return mid * (1.0 - delta_bid), mid * (1.0 + delta_ask)


def fixed_spread_quotes(mid: float, half_spread: float) -> tuple[float, float]:
    """(bid, ask) at a constant relative half-spread around the mid."""
    return mid * (1.0 - half_spread), mid * (1.0 + half_spread)


def nearest_action(action_quotes: np.ndarray, bid: float, ask: float) -> int:
    """The quoting action whose (bid, ask) prices are nearest to the desired ones: the smallest
    ``|bid_a - bid| + |ask_a - ask|``, a side the env would not quote (NaN, the same for every
    action: beyond the inventory limit or an empty side) counting 0; ties go to the lower action.
    Actions that quote nothing (no-op, flatten) are never chosen unless no action quotes at all,
    then 0 (no-op). ``action_quotes`` is :meth:`MarketMakingEnv.market_state`'s."""
    quotes = np.asarray(action_quotes, np.float64)
    quoting = ~np.isnan(quotes).all(axis=1)
    if not quoting.any():
        return 0
    cost = np.nan_to_num(np.abs(quotes[:, 0] - bid), nan=0.0) + np.nan_to_num(np.abs(quotes[:, 1] - ask), nan=0.0)
    cost[~quoting] = np.inf
    return int(np.argmin(cost))


@dataclass
class MarketEstimator:
    """Online estimates of ``sigma`` (relative mid volatility per square-root second) and ``A``
    (market trades per second and side) from the mid and the trade count seen at each decision.

    Exponentially weighted in time with half-life ``halflife`` seconds::

        w = 2^(-dt / halflife);  S_r2 = w S_r2 + ln(m_t / m_{t-dt})^2;  S_n = w S_n + trades;  S_dt = w S_dt + dt
        sigma = sqrt(S_r2 / S_dt);  A = S_n / S_dt / 2

    starting from priors ``sigma0`` and ``A0`` worth ``prior_seconds`` of data, so the first
    decisions of an episode are not driven by a handful of returns. ``A`` from the market's trade
    rate is an upper bound of the fill rate of our own order at the touch (it waits behind a queue).
    """

    sigma0: float = 1e-4
    A0: float = 1.0
    halflife: float = 300.0
    prior_seconds: float = 60.0

    def __post_init__(self) -> None:
        self.time = math.nan
        self.mid = math.nan
        self.s_r2 = self.sigma0 ** 2 * self.prior_seconds
        self.s_n = 2.0 * self.A0 * self.prior_seconds
        self.s_dt = self.prior_seconds

    def update(self, time: float, mid: float, trades: float) -> None:
        if self.time == self.time and mid > 0 and self.mid > 0:
            dt = time - self.time
            if dt <= 0.0:
                return  # the same decision seen again (or a clock that did not move)
            w = 2.0 ** (-dt / self.halflife)
            r = math.log(mid / self.mid)
            self.s_r2 = w * self.s_r2 + r * r
            self.s_n = w * self.s_n + trades
            self.s_dt = w * self.s_dt + dt
        if mid > 0:
            self.time, self.mid = time, mid

    @property
    def sigma(self) -> float:
        return math.sqrt(self.s_r2 / self.s_dt)

    @property
    def A(self) -> float:
        return max(0.5 * self.s_n / self.s_dt, 1e-12)
