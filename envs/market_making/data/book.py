"""An L2 price-level book for replay: dense numpy arrays indexed by tick, updated by Numba kernels.

Each side is a float64 array ``qty[tick - base]`` over a window of ticks around the touch, plus an
overflow map (numba typed dict) for far levels outside the window; a small int64 ``state`` array
holds the base tick, the best bid and ask indices (-1: empty side), the number of non-empty window
levels per side and the number of window moves. Setting a level is O(1); removing the best level
scans to the next non-empty one (a few ticks in liquid books).

The kernels (:func:`apply_rows`, :func:`set_level`, :func:`clear_side`, :func:`top_levels`) take
plain arrays so that a Numba fill engine can call them from its own compiled loop; :class:`L2Book`
is the Python face. Compiled code is cached on disk (``cache=True``): the first import on a machine
compiles (about a second), later processes load it.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.typed import Dict

from envs.market_making.data.events import BOOK, CLEAR, END, SNAPSHOT, TRADE, EventTable

# state indices
BASE, BEST_BID, BEST_ASK, N_BID, N_ASK, RECENTRES = range(6)
STATE_SIZE = 6


def new_overflow():
    """An empty overflow map (tick -> quantity) for levels outside the dense window."""
    return Dict.empty(key_type=types.int64, value_type=types.float64)


@njit(cache=True, nogil=True)
def set_level(bid, ask, over_bid, over_ask, state, side, tick, qty):
    """Set the level at ``tick`` of ``side`` (+1 bid, -1 ask) to ``qty`` (<= 0 removes it), keeping
    the best prices and level counts. Levels outside the dense window go to the overflow maps; a
    bid above or an ask below the window (or a window side left empty while its overflow is not)
    moves the window (:func:`recentre`)."""
    index = tick - state[BASE]
    n = bid.shape[0]
    if index < 0 or index >= n:
        over = over_bid if side > 0 else over_ask
        if qty > 0.0:
            over[tick] = qty
            if (side > 0 and index >= n) or (side < 0 and index < 0):
                recentre(bid, ask, over_bid, over_ask, state, tick)
        elif tick in over:
            over.pop(tick)
        return
    if side > 0:
        old = bid[index]
        if qty > 0.0:
            bid[index] = qty
            if old <= 0.0:
                state[N_BID] += 1
                if index > state[BEST_BID]:
                    state[BEST_BID] = index
        elif old > 0.0:
            bid[index] = 0.0
            state[N_BID] -= 1
            if index == state[BEST_BID]:
                if state[N_BID] == 0:
                    state[BEST_BID] = -1
                    if len(over_bid) > 0:
                        recentre(bid, ask, over_bid, over_ask, state, max(over_bid.keys()))
                else:
                    j = index - 1
                    while bid[j] <= 0.0:
                        j -= 1
                    state[BEST_BID] = j
    else:
        old = ask[index]
        if qty > 0.0:
            ask[index] = qty
            if old <= 0.0:
                state[N_ASK] += 1
                if state[BEST_ASK] < 0 or index < state[BEST_ASK]:
                    state[BEST_ASK] = index
        elif old > 0.0:
            ask[index] = 0.0
            state[N_ASK] -= 1
            if index == state[BEST_ASK]:
                if state[N_ASK] == 0:
                    state[BEST_ASK] = -1
                    if len(over_ask) > 0:
                        recentre(bid, ask, over_bid, over_ask, state, min(over_ask.keys()))
                else:
                    j = index + 1
                    while ask[j] <= 0.0:
                        j += 1
                    state[BEST_ASK] = j


@njit(cache=True, nogil=True)
def recentre(bid, ask, over_bid, over_ask, state, hint):
    """Move the dense window to centre it on the touch, or on ``hint`` (the tick that called for
    the move) when the spread is wider than half the window (rare: O(window))."""
    n = bid.shape[0]
    base = state[BASE]
    best_bid = np.int64(-(1 << 62))
    best_ask = np.int64(1 << 62)
    for j in range(n):
        if bid[j] > 0.0 and j + base > best_bid:
            best_bid = j + base
        if ask[j] > 0.0 and j + base < best_ask:
            best_ask = j + base
    for t in over_bid.keys():
        if t > best_bid:
            best_bid = t
    for t in over_ask.keys():
        if t < best_ask:
            best_ask = t
    has_bid = best_bid > -(1 << 62)
    has_ask = best_ask < (1 << 62)
    if has_bid and has_ask and abs(best_ask - best_bid) < n // 2:
        centre = (best_bid + best_ask) // 2
    else:
        centre = hint
    new_base = centre - n // 2
    for j in range(n):  # dense levels that leave the window go to the overflow maps
        if bid[j] > 0.0:
            over_bid[j + base] = bid[j]
            bid[j] = 0.0
        if ask[j] > 0.0:
            over_ask[j + base] = ask[j]
            ask[j] = 0.0
    state[BASE] = new_base
    state[BEST_BID] = -1
    state[BEST_ASK] = -1
    state[N_BID] = 0
    state[N_ASK] = 0
    state[RECENTRES] += 1
    for s in range(2):
        over = over_bid if s == 0 else over_ask
        arr = bid if s == 0 else ask
        moved = [t for t in over.keys() if 0 <= t - new_base < n]
        for t in moved:
            q = over.pop(t)
            j = t - new_base
            arr[j] = q
            if s == 0:
                state[N_BID] += 1
                if j > state[BEST_BID]:
                    state[BEST_BID] = j
            else:
                state[N_ASK] += 1
                if state[BEST_ASK] < 0 or j < state[BEST_ASK]:
                    state[BEST_ASK] = j


@njit(cache=True, nogil=True)
def clear_side(bid, ask, over_bid, over_ask, state, side):
    """Empty the bid side (side +1), the ask side (-1) or both (0), touching only non-empty levels."""
    if side >= 0:
        j = state[BEST_BID]
        while state[N_BID] > 0:
            if bid[j] > 0.0:
                bid[j] = 0.0
                state[N_BID] -= 1
            j -= 1
        state[BEST_BID] = -1
        over_bid.clear()
    if side <= 0:
        j = state[BEST_ASK]
        while state[N_ASK] > 0:
            if ask[j] > 0.0:
                ask[j] = 0.0
                state[N_ASK] -= 1
            j += 1
        state[BEST_ASK] = -1
        over_ask.clear()


@njit(cache=True, nogil=True)
def apply_rows(bid, ask, over_bid, over_ask, state, kind, side, ticks, qty, start, stop):
    """Apply rows ``start..stop-1`` (trades leave the book alone: the feed's own BOOK rows carry
    their effect)."""
    for r in range(start, stop):
        k = kind[r]
        if k == TRADE:
            continue
        if k == CLEAR:
            clear_side(bid, ask, over_bid, over_ask, state, side[r])
        else:
            set_level(bid, ask, over_bid, over_ask, state, side[r], ticks[r], qty[r])


@njit(cache=True, nogil=True)
def apply_until_crossed(bid, ask, over_bid, over_ask, state, kind, side, ticks, qty, flags, start, stop):
    """Apply rows from ``start``; after each message (END row) check the book. Returns the index of
    the END row after which the book was first crossed, or -1 when it never was."""
    for r in range(start, stop):
        apply_rows(bid, ask, over_bid, over_ask, state, kind, side, ticks, qty, r, r + 1)
        if flags[r] & END and state[BEST_BID] >= 0 and state[BEST_ASK] >= 0 \
                and state[BEST_BID] >= state[BEST_ASK]:
            return r
    return -1


@njit(cache=True, nogil=True)
def top_levels(bid, ask, state, depth, out_ticks, out_qty):
    """Fill ``out_ticks[0|1, :depth]`` and ``out_qty`` with the best ``depth`` bid (row 0) and ask
    (row 1) levels of the dense window, best first; missing levels get tick -1 and quantity 0."""
    base = state[BASE]
    for s in range(2):
        arr = bid if s == 0 else ask
        step = -1 if s == 0 else 1
        j = state[BEST_BID] if s == 0 else state[BEST_ASK]
        left = state[N_BID] if s == 0 else state[N_ASK]
        i = 0
        while i < depth and left > 0 and 0 <= j < arr.shape[0]:
            if arr[j] > 0.0:
                out_ticks[s, i] = j + base
                out_qty[s, i] = arr[j]
                i += 1
                left -= 1
            j += step
        while i < depth:
            out_ticks[s, i] = -1
            out_qty[s, i] = 0.0
            i += 1


class L2Book:
    """A price-level book on a grid ``tick_size``: a dense window of ticks ``base..base+n-1`` plus
    overflow maps for levels outside it (far quotes such as a bid at 15,000 in a 61,000 market).

    ``bid``/``ask``: float64 quantity per tick of the window; ``over_bid``/``over_ask``: numba typed
    dicts tick -> quantity; ``state``: int64 ``[base tick, best bid index, best ask index, bid
    levels in window, ask levels in window, recentres]``; a best index is -1 when the side has no
    level in the window (:attr:`best_bid` and :attr:`best_ask` then look in the overflow). The
    window follows the touch: a best price leaving it moves it (counted in :attr:`recentres`).
    """

    def __init__(self, low_tick: int, n_levels: int, tick_size: float) -> None:
        if n_levels < 2:
            raise ValueError(f"a book window needs at least 2 ticks, got {n_levels}")
        self.tick_size = float(tick_size)
        self.bid = np.zeros(int(n_levels), np.float64)
        self.ask = np.zeros(int(n_levels), np.float64)
        self.over_bid, self.over_ask = new_overflow(), new_overflow()
        self.state = np.array([low_tick, -1, -1, 0, 0, 0], np.int64)

    @classmethod
    def for_table(cls, table: EventTable, *, margin_ticks: int = 1000,
                  window_levels: int = 1 << 20) -> L2Book:
        """A book whose window covers the table's book prices plus a margin, or, where they span
        more than ``window_levels`` ticks (8 MiB per side by default), ``window_levels`` ticks
        centred on their median."""
        ticks = ticks_of(table)
        is_level = (table.kind == BOOK) | (table.kind == SNAPSHOT)
        if not is_level.any():
            return cls(-margin_ticks, 2 * margin_ticks, table.tick_size)
        level_ticks = ticks[is_level]
        low, high = int(level_ticks.min()) - margin_ticks, int(level_ticks.max()) + margin_ticks
        if high - low + 1 > window_levels:
            low = int(np.median(level_ticks)) - window_levels // 2
            high = low + window_levels - 1
        return cls(low, high - low + 1, table.tick_size)

    # -- updating -------------------------------------------------------------------------------
    def apply(self, table: EventTable, start: int = 0, stop: int | None = None) -> int:
        """Apply the table's rows ``start..stop-1`` (all by default); returns ``stop``."""
        stop = len(table) if stop is None else stop
        apply_rows(self.bid, self.ask, self.over_bid, self.over_ask, self.state, table.kind,
                   table.side, ticks_of(table), table.qty, start, stop)
        return stop

    def set(self, side: int, price: float, qty: float) -> None:
        set_level(self.bid, self.ask, self.over_bid, self.over_ask, self.state, side,
                  int(round(price / self.tick_size)), qty)

    def clear(self, side: int = 0) -> None:
        clear_side(self.bid, self.ask, self.over_bid, self.over_ask, self.state, side)

    # -- reading --------------------------------------------------------------------------------
    def price(self, index: int) -> float:
        """The price of window index ``index``."""
        return float(f"{(int(index) + int(self.state[BASE])) * self.tick_size:.12g}")

    def _best(self, side: int) -> tuple[float, float]:
        """(price, qty) of a side's best level: in the window, else in the overflow map (a side
        whose only levels are far away), else (NaN, 0)."""
        index = self.state[BEST_BID if side > 0 else BEST_ASK]
        dense = self.bid if side > 0 else self.ask
        best = (int(index) + int(self.state[BASE]), float(dense[index])) if index >= 0 else None
        over = self.over_bid if side > 0 else self.over_ask
        if len(over):  # far levels matter only when the window holds none better
            tick = max(over.keys()) if side > 0 else min(over.keys())
            if best is None or (tick > best[0] if side > 0 else tick < best[0]):
                best = (tick, float(over[tick]))
        if best is None:
            return float("nan"), 0.0
        return float(f"{best[0] * self.tick_size:.12g}"), best[1]

    @property
    def best_bid(self) -> float:
        return self._best(1)[0]

    @property
    def best_ask(self) -> float:
        return self._best(-1)[0]

    @property
    def best_bid_qty(self) -> float:
        return self._best(1)[1]

    @property
    def best_ask_qty(self) -> float:
        return self._best(-1)[1]

    @property
    def mid(self) -> float:
        return (self.best_bid + self.best_ask) / 2

    @property
    def crossed(self) -> bool:
        return bool(self.best_bid >= self.best_ask)

    @property
    def n_levels(self) -> tuple[int, int]:
        """Non-empty levels (window and overflow) per side: ``(bids, asks)``."""
        return (int(self.state[N_BID]) + len(self.over_bid), int(self.state[N_ASK]) + len(self.over_ask))

    @property
    def recentres(self) -> int:
        return int(self.state[RECENTRES])

    def levels(self, depth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(bid prices, bid qtys, ask prices, ask qtys)`` of the best ``depth`` levels in the
        window, best first; missing levels are NaN price and 0 quantity."""
        ticks = np.empty((2, depth), np.int64)
        qty = np.empty((2, depth), np.float64)
        top_levels(self.bid, self.ask, self.state, depth, ticks, qty)
        prices = np.where(ticks >= 0, ticks * self.tick_size, np.nan)
        return prices[0], qty[0], prices[1], qty[1]

    def nonzero(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every level (window and overflow) as ``(side, tick, qty)`` arrays: bids best first, then
        asks best first."""
        base = int(self.state[BASE])
        sides = []
        for sign, dense, over in ((1, self.bid, self.over_bid), (-1, self.ask, self.over_ask)):
            index = np.flatnonzero(dense > 0)
            ticks = np.concatenate([index + base, np.fromiter(over.keys(), np.int64, len(over))])
            qty = np.concatenate([dense[index], np.fromiter(over.values(), np.float64, len(over))])
            order = np.argsort(-sign * ticks, kind="stable")
            sides.append((np.full(len(ticks), sign, np.int8), ticks[order], qty[order]))
        return tuple(np.concatenate([a, b]) for a, b in zip(*sides))

    def to_dicts(self) -> tuple[dict[int, float], dict[int, float]]:
        """``({bid tick: qty}, {ask tick: qty})`` (prices in ticks: exact keys)."""
        side, ticks, qty = self.nonzero()
        return ({int(t): float(q) for s, t, q in zip(side, ticks, qty) if s > 0},
                {int(t): float(q) for s, t, q in zip(side, ticks, qty) if s < 0})

    def copy(self) -> L2Book:
        book = L2Book.__new__(L2Book)
        book.tick_size, book.bid, book.ask, book.state = (self.tick_size, self.bid.copy(),
                                                          self.ask.copy(), self.state.copy())
        book.over_bid, book.over_ask = new_overflow(), new_overflow()
        for src, dst in ((self.over_bid, book.over_bid), (self.over_ask, book.over_ask)):
            for t, q in src.items():
                dst[t] = q
        return book


def ticks_of(table: EventTable) -> np.ndarray:
    """The table's prices in integer ticks, computed once per table and kept on it."""
    ticks = table._ticks
    if ticks is None or len(ticks) != len(table):
        ticks = table.price_ticks()
        table._ticks = ticks
    return ticks
