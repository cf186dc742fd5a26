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
each decision decays the sums by ``exp(-elapsed / window)`` and adds the step's flow. The decay
factors come from NumPy (:func:`flow_decay`), the rest from compiled code: NumPy's vectorised
``exp`` differs from the C library's (what compiled code calls) in the last bit for a few percent
of arguments on AVX-512 machines, and the env's observations have always used NumPy's.

Position features (7, not z-scored: already on natural scales): inventory / limit, unrealized and
realized PnL in percent of the maximal capital (limit x order notional), each side's order
distance to mid (``price / mid - 1``, 0 without an order), each side's queue completion
``(executed - queue ahead) / (queue ahead + size)`` (0 without an order).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from envs.market_making import accounting as acc
from envs.market_making.data.book import top_levels
from envs.market_making.engine import OF_EXEC, OF_FRONT, OF_SIZE, OI_ACTIVE, OI_TICK

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


@njit(cache=True, nogil=True, error_model="numpy")
def market_features(bid, ask, bs, depth, tick_size, mid, last_mid, ofi, ticks, qty, out):
    """Fill ``out[:7 depth + 3]``: :func:`book_features` and the mid's log return since
    ``last_mid`` (0 when either mid is missing); the flow windows come after (:func:`flow_features`)."""
    book_features(bid, ask, bs, depth, tick_size, mid, ofi, ticks, qty, out)
    out[7 * depth + 2] = math.log(mid / last_mid) if last_mid > 0 and mid > 0 else 0.0


def flow_decay(elapsed: np.ndarray, windows_ns: np.ndarray) -> np.ndarray:
    """``exp(-elapsed / window)`` per game (rows) and window (columns); ``elapsed`` in ns, int64."""
    return np.exp(-np.maximum(elapsed, 0)[:, None] / windows_ns)


@njit(cache=True, nogil=True, error_model="numpy")
def flow_features(sums, decay, decayed, buys, sells, up, down, out, at):
    """Decay the window sums ``(4, windows)`` (buys, sells, up, down) by ``decay`` unless this is
    their first update (``decayed`` false), add the step's flow, and write the trade-flow then the
    RSI-like imbalances to ``out[at:at + 2 windows]``."""
    n = sums.shape[1]
    if decayed:
        for j in range(n):
            for i in range(4):
                sums[i, j] *= decay[j]
    for j in range(n):
        sums[0, j] += buys
        sums[1, j] += sells
        sums[2, j] += up
        sums[3, j] += down
    for j in range(n):
        b = sums[0, j]
        s = sums[1, j]
        out[at + j] = (b - s) / (b + s) if b + s > 0 else 0.0
        u = sums[2, j]
        d = sums[3, j]
        out[at + n + j] = (u - d) / (u + d) if u + d > 0 else 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def position_features(account, oi, of, tick_size, mid, limit_qty, capital, out):
    """The 7 position features (unclipped) into ``out``; ``mid``: the book's (may be NaN)."""
    position = account[acc.POSITION]
    out[0] = position / limit_qty
    unrealized = position * (mid - account[acc.AVERAGE]) if position != 0.0 else 0.0
    out[1] = 100.0 * unrealized / capital
    out[2] = 100.0 * account[acc.REALIZED] / capital
    for o in range(2):
        out[3 + o] = 0.0
        out[5 + o] = 0.0
        if oi[o, OI_ACTIVE]:
            out[3 + o] = oi[o, OI_TICK] * tick_size / mid - 1.0
            front = of[o, OF_FRONT]
            out[5 + o] = (of[o, OF_EXEC] - front) / (front + of[o, OF_SIZE])
