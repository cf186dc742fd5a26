"""Observation features: market features from the book and the step's flow, position features.

Market features (``7 depth + 9`` values, in this order):

==================  ===========================================================================
block               values
==================  ===========================================================================
distance            per side (bids, then asks), levels 0..depth-1: ``price / mid - 1`` (a
                    missing level repeats the previous one's distance; 0 when the side is empty)
notional            per side and level: ``price x qty`` (0 when missing)
order-flow imb.     per side and level: the net change of the level's notional since the last
                    step (limit adds - market consumption - cancellations: the feed's level
                    updates carry all three), by the level's rank when it changed
depth imbalance     per level i: ``(B_i - A_i) / (B_i + A_i)`` with B_i, A_i the cumulative
                    notional of levels 0..i, then the mean over levels (depth + 1 values)
spread              ``(ask - bid) / mid``
mid return          ``log(m_t / m_{t-1})``
trade-flow imb.     per window: ``(buys - sells) / (buys + sells)`` of aggressor notional
RSI-like            per window: ``(up - down) / (up + down)`` of the mid's relative moves
==================  ===========================================================================

Windows (seconds, default 300/900/1800 as the paper's 5/15/30 minutes) are exponentially weighted:
each decision decays the sums by ``exp(-elapsed / window)`` and adds the step's flow.

Position features (7, not z-scored: already on natural scales): inventory / limit, unrealized and
realized PnL in percent of the maximal capital (limit x order notional), each side's order
distance to mid (``price / mid - 1``, 0 without an order), each side's queue completion
``(executed - queue ahead) / (queue ahead + size)`` (0 without an order).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from envs.market_making.data.book import top_levels

POSITION_FEATURES = ("inventory", "unrealized_pnl", "realized_pnl", "bid_distance", "ask_distance",
                     "bid_queue", "ask_queue")


def n_market_features(depth: int, windows: int) -> int:
    return 7 * depth + 3 + 2 * windows


@njit(cache=True, nogil=True)
def book_features(bid, ask, bs, depth, tick_size, mid, ofi, ticks, qty, out):
    """Fill ``out[:7 depth + 2]``: distances, notionals, OFI, depth imbalance (+ mean), spread."""
    top_levels(bid, ask, bs, depth, ticks, qty)
    for s in range(2):
        last = 0.0
        for i in range(depth):
            if ticks[s, i] >= 0:
                price = ticks[s, i] * tick_size
                last = price / mid - 1.0
                out[(2 + s) * depth + i] = price * qty[s, i]
            else:
                out[(2 + s) * depth + i] = 0.0
            out[s * depth + i] = last
            out[(4 + s) * depth + i] = ofi[s, i]
    cum_b = 0.0
    cum_a = 0.0
    total = 0.0
    for i in range(depth):
        cum_b += out[2 * depth + i]
        cum_a += out[3 * depth + i]
        value = (cum_b - cum_a) / (cum_b + cum_a) if cum_b + cum_a > 0.0 else 0.0
        out[6 * depth + i] = value
        total += value
    out[7 * depth] = total / depth
    if ticks[0, 0] >= 0 and ticks[1, 0] >= 0:
        out[7 * depth + 1] = (ticks[1, 0] - ticks[0, 0]) * tick_size / mid
    else:
        out[7 * depth + 1] = 0.0


class FlowWindows:
    """Exponentially weighted trade-flow and mid-move sums over several windows (seconds)."""

    def __init__(self, windows: tuple[float, ...]) -> None:
        self.tau = np.asarray(windows, np.float64) * 1e9
        self.reset()

    def reset(self) -> None:
        self.sums = np.zeros((4, len(self.tau)))  # buys, sells, up, down
        self.time = None

    def update(self, now: int, buys: float, sells: float, up: float, down: float) -> None:
        if self.time is not None:
            self.sums *= np.exp(-max(now - self.time, 0) / self.tau)
        self.time = now
        self.sums += np.array([[buys], [sells], [up], [down]])

    def features(self) -> np.ndarray:
        b, s, u, d = self.sums
        with np.errstate(invalid="ignore", divide="ignore"):
            tfi = np.where(b + s > 0, (b - s) / (b + s), 0.0)
            rsi = np.where(u + d > 0, (u - d) / (u + d), 0.0)
        return np.concatenate([tfi, rsi])
