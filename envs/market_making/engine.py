"""The compiled replay core: book, fill engine and decision clock in one Numba loop.

:func:`advance` replays event rows from a cursor until the decision clock fires (or the rows run
out): every row goes through the L2 book (:mod:`envs.market_making.data.book`) and the fill engine;
the agent acts only between two calls. :class:`Engine` is the Python face the environment and the
benchmark use.

Orders (at most one resting order per side, virtual: the replayed book never contains them):

- A quote becomes active ``latency`` ns after it was sent; until then the side's previous order (if
  any) stays active, so a re-quote is a modify that lands late. A quote at the price of the resting
  order (same size) keeps the order and its queue place; any other re-quote resets the queue.
- Post-only: an order that would cross the book when it becomes active is rejected (counted).
- Queue ahead and its evolution: :mod:`envs.market_making.queues`.
- Fills happen only at trade prices that reach the order: a resting buy at ``P`` is reached by a
  seller-initiated (or unsided) trade printed at ``P`` or below; the trade's volume first consumes
  the queue ahead, the rest fills us, partially if it is smaller than the order, at our price
  (maker fee). A trade through ``P`` means the level was swept. Symmetrically for the ask.
- After each message (END row), an opposite best that crossed a resting order (an ask at or below
  our bid) fills what is left of it at our price: that quote would have traded with us.
- The inventory limit clips fills so that ``|position| <= limit`` (the env also stops quoting a side
  that could exceed it).
- Market orders (:func:`market_order`, used to flatten) execute at once, ignoring latency: they walk
  the visible levels of the opposite side from the best (taker fee on each level's price; the
  replayed book is not changed by them); what the visible book cannot fill executes at the worst
  price reached (or at ``fallback_price`` on an empty side).

Clocks (evaluated inside the loop; the loop stops only between messages, so the book is consistent
at every decision):

============  ================================================================================
``time``      a decision every ``dt`` ns on a fixed grid: the loop stops before the first message
              at or after the next grid time (an interval without events gives an empty step)
``tick``      a decision after every ``every`` messages (a message: the rows of one source
              message, ending with an END row; one order in synthetic data)
``event``     a decision after the first message that leaves the mid price at least
              ``threshold`` (relative) away from the mid at the last decision (the paper: 1e-4)
``volume``    a decision after the first message that brings the traded quantity since the last
              decision to at least ``volume`` (base currency)
``none``      replay to the end (warm-up and benchmarks)
============  ================================================================================
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from envs.market_making import accounting as acc
from envs.market_making import queues
from envs.market_making.data.book import (BASE, BEST_ASK, BEST_BID, L2Book, apply_rows, clear_side,
                                          set_level, ticks_of)
from envs.market_making.data.events import CLEAR, END, TRADE, EventTable

TIME, TICK, EVENT, VOLUME, NONE = range(5)
CLOCKS = {"time": TIME, "tick": TICK, "event": EVENT, "volume": VOLUME, "none": NONE}
BID_SIDE, ASK_SIDE = 0, 1  # order slots: 0 is our buy order, 1 our sell order
NO_BID, NO_ASK = -(1 << 62), 1 << 62

# int fields per order
OI_ACTIVE, OI_TICK, OI_PENDING, OI_PTICK, OI_PTIME = range(5)
# float fields per order
OF_QTY, OF_SIZE, OF_FRONT, OF_SEEN, OF_PQTY, OF_EXEC = range(6)
# float config
CF_TICK, CF_MAKER_FEE, CF_TAKER_FEE, CF_LIMIT, CF_POWER, CF_THRESHOLD, CF_VOLUME = range(7)
# int config
CI_QUEUE, CI_CLOCK, CI_DT, CI_EVERY, CI_LATENCY, CI_TRACK = range(6)
# clock state: int (times) and float
K_NEXT_T, K_MSGS, K_NOW = range(3)
KF_MID0, KF_VOLUME, KF_LAST_MID = range(3)
# per-step accumulators (the env zeroes them before each advance)
(S_BUY_FILL, S_SELL_FILL, S_FILLS, S_CAPTURE, S_BUY_VOLUME, S_SELL_VOLUME, S_MID_UP, S_MID_DOWN,
 S_ROWS, S_MESSAGES, S_TRADES) = range(11)
STEP_SIZE = 11


@njit(cache=True, nogil=True)
def best_ticks(bs, over_bid, over_ask):
    """(best bid tick, best ask tick); NO_BID / NO_ASK for an empty side."""
    base = bs[BASE]
    if bs[BEST_BID] >= 0:
        bb = bs[BEST_BID] + base
    else:
        bb = NO_BID
        for t in over_bid.keys():
            if t > bb:
                bb = t
    if bs[BEST_ASK] >= 0:
        ba = bs[BEST_ASK] + base
    else:
        ba = NO_ASK
        for t in over_ask.keys():
            if t < ba:
                ba = t
    return bb, ba


@njit(cache=True, nogil=True)
def mid_price(bs, over_bid, over_ask, tick_size):
    bb, ba = best_ticks(bs, over_bid, over_ask)
    if bb == NO_BID or ba == NO_ASK:
        return np.nan
    return 0.5 * (bb + ba) * tick_size


@njit(cache=True, nogil=True)
def level_qty(bid, ask, over_bid, over_ask, bs, side, tick):
    index = tick - bs[BASE]
    if side > 0:
        if 0 <= index < bid.shape[0]:
            return bid[index]
        return over_bid.get(tick, 0.0)
    if 0 <= index < ask.shape[0]:
        return ask[index]
    return over_ask.get(tick, 0.0)


@njit(cache=True, nogil=True)
def level_index(arr, bs, side, tick, depth):
    """0-based rank of ``tick`` among the non-empty levels of a side (the best is 0), or -1 when it
    is ``depth`` or more levels away or outside the window; a level better than the best is 0."""
    best = bs[BEST_BID] if side > 0 else bs[BEST_ASK]
    if best < 0:
        return -1
    index = tick - bs[BASE]
    if index < 0 or index >= arr.shape[0]:
        return -1
    rank = 0
    if side > 0:
        if index > best:
            return 0  # a new best level
        for j in range(best, index, -1):
            if arr[j] > 0.0:
                rank += 1
                if rank >= depth:
                    return -1
    else:
        if index < best:
            return 0
        for j in range(best, index):
            if arr[j] > 0.0:
                rank += 1
                if rank >= depth:
                    return -1
    return rank


@njit(cache=True, nogil=True)
def maker_fill(o, volume, oi, of, account, cf, step, mid):
    """Fill up to ``volume`` of order ``o`` at its price; returns the quantity filled."""
    direction = 1.0 if o == BID_SIDE else -1.0
    fill = min(volume, of[o, OF_QTY])
    room = cf[CF_LIMIT] - direction * account[acc.POSITION]
    fill = min(fill, max(room, 0.0))
    if fill <= 0.0:
        return 0.0
    price = oi[o, OI_TICK] * cf[CF_TICK]
    acc.book_fill(account, direction, fill, price, cf[CF_MAKER_FEE])
    account[acc.MAKER_FILLS] += 1.0
    account[acc.MAKER_QTY] += fill
    account[acc.MAKER_NOTIONAL] += fill * price
    if o == BID_SIDE:
        step[S_BUY_FILL] += fill
    else:
        step[S_SELL_FILL] += fill
    step[S_FILLS] += 1.0
    if mid == mid and mid > 0.0:
        step[S_CAPTURE] += fill * direction * (mid - price) / mid
    of[o, OF_QTY] -= fill
    of[o, OF_EXEC] += fill
    if of[o, OF_QTY] <= 1e-12 * of[o, OF_SIZE]:
        of[o, OF_QTY] = 0.0
        oi[o, OI_ACTIVE] = 0
    return fill


@njit(cache=True, nogil=True)
def activate(o, bid, ask, over_bid, over_ask, bs, oi, of, account):
    """The pending quote of side ``o`` reaches the exchange."""
    oi[o, OI_PENDING] = 0
    qty = of[o, OF_PQTY]
    if qty <= 0.0:  # a cancel
        oi[o, OI_ACTIVE] = 0
        of[o, OF_QTY] = 0.0
        return
    tick = oi[o, OI_PTICK]
    bb, ba = best_ticks(bs, over_bid, over_ask)
    if (o == BID_SIDE and tick >= ba) or (o == ASK_SIDE and tick <= bb):
        account[acc.REJECTED] += 1.0  # post-only
        oi[o, OI_ACTIVE] = 0
        of[o, OF_QTY] = 0.0
        return
    size = level_qty(bid, ask, over_bid, over_ask, bs, 1 if o == BID_SIDE else -1, tick)
    oi[o, OI_ACTIVE] = 1
    oi[o, OI_TICK] = tick
    of[o, OF_QTY] = qty
    of[o, OF_SIZE] = qty
    of[o, OF_FRONT] = size
    of[o, OF_SEEN] = size
    of[o, OF_EXEC] = 0.0
    account[acc.PLACED_QTY] += qty


@njit(cache=True, nogil=True)
def place(o, tick, qty, now, bid, ask, over_bid, over_ask, bs, oi, of, account, ci):
    """Send a quote for side ``o`` at ``tick`` (``qty`` <= 0: cancel the side) at time ``now``."""
    if oi[o, OI_PENDING]:
        if oi[o, OI_PTICK] == tick and of[o, OF_PQTY] == qty:
            return  # already on its way
    elif qty > 0.0 and oi[o, OI_ACTIVE] and oi[o, OI_TICK] == tick and of[o, OF_SIZE] == qty:
        return  # the resting order stays, with its queue place
    elif qty <= 0.0 and not oi[o, OI_ACTIVE]:
        return
    oi[o, OI_PENDING] = 1
    oi[o, OI_PTICK] = tick
    of[o, OF_PQTY] = qty
    oi[o, OI_PTIME] = now + ci[CI_LATENCY]
    if ci[CI_LATENCY] <= 0:
        activate(o, bid, ask, over_bid, over_ask, bs, oi, of, account)


@njit(cache=True, nogil=True)
def market_order(bid, ask, over_bid, over_ask, bs, account, direction, qty, cf, fallback_price):
    """Buy (+1) or sell (-1) ``qty`` at once by walking the opposite side; returns the average price."""
    if qty <= 0.0:
        return np.nan
    tick_size = cf[CF_TICK]
    fee = cf[CF_TAKER_FEE]
    arr = ask if direction > 0 else bid
    j = bs[BEST_ASK] if direction > 0 else bs[BEST_BID]
    step = 1 if direction > 0 else -1
    base = bs[BASE]
    left = qty
    paid = 0.0
    last = fallback_price
    while left > 0.0 and 0 <= j < arr.shape[0]:
        if arr[j] > 0.0:
            take = min(arr[j], left)
            last = (j + base) * tick_size
            acc.book_fill(account, float(direction), take, last, fee)
            paid += take * last
            left -= take
        j += step
    if left > 1e-12 * qty:
        acc.book_fill(account, float(direction), left, last, fee)
        paid += left * last
    account[acc.TAKER_QTY] += qty
    account[acc.TAKER_NOTIONAL] += paid
    account[acc.MARKET_ORDERS] += 1.0
    return paid / qty


@njit(cache=True, nogil=True)
def advance(bid, ask, over_bid, over_ask, bs, kind, side, ticks, qty, flags, time, start, stop,
            oi, of, account, cf, ci, clk, clkf, step, ofi):
    """Replay rows from ``start`` until the clock fires or ``stop``; returns the next row."""
    tick_size = cf[CF_TICK]
    clock = ci[CI_CLOCK]
    model = ci[CI_QUEUE]
    power = cf[CF_POWER]
    track = ci[CI_TRACK]
    depth = ofi.shape[1]
    message_start = True
    r = start
    while r < stop:
        t = time[r]
        if message_start:
            if clock == TIME and t >= clk[K_NEXT_T]:
                clk[K_NOW] = clk[K_NEXT_T]
                return r
            for o in range(2):
                if oi[o, OI_PENDING] and t >= oi[o, OI_PTIME]:
                    activate(o, bid, ask, over_bid, over_ask, bs, oi, of, account)
            message_start = False
        k = kind[r]
        step[S_ROWS] += 1.0
        if k == TRADE:
            tk = ticks[r]
            q = qty[r]
            aggressor = side[r]
            step[S_TRADES] += 1.0
            clkf[KF_VOLUME] += q
            if aggressor > 0:
                step[S_BUY_VOLUME] += q * tk * tick_size
            elif aggressor < 0:
                step[S_SELL_VOLUME] += q * tk * tick_size
            for o in range(2):
                if not oi[o, OI_ACTIVE]:
                    continue
                mine = oi[o, OI_TICK]
                if o == BID_SIDE:
                    reaches = aggressor <= 0 and tk <= mine
                else:
                    reaches = aggressor >= 0 and tk >= mine
                if reaches:
                    front, seen, left = queues.trade_reaches(model, tk == mine, of[o, OF_FRONT],
                                                             of[o, OF_SEEN], q)
                    of[o, OF_FRONT] = front
                    of[o, OF_SEEN] = seen
                    if left > 0.0:
                        maker_fill(o, left, oi, of, account, cf, step,
                                   mid_price(bs, over_bid, over_ask, tick_size))
        elif k == CLEAR:
            clear_side(bid, ask, over_bid, over_ask, bs, side[r])
        else:
            s = side[r]
            tk = ticks[r]
            q = qty[r]
            if track:
                arr = bid if s > 0 else ask
                rank = level_index(arr, bs, s, tk, depth)
                if rank >= 0:
                    old = level_qty(bid, ask, over_bid, over_ask, bs, s, tk)
                    ofi[0 if s > 0 else 1, rank] += (q - old) * tk * tick_size
            set_level(bid, ask, over_bid, over_ask, bs, s, tk, q)
            o = BID_SIDE if s > 0 else ASK_SIDE
            if oi[o, OI_ACTIVE] and oi[o, OI_TICK] == tk:
                front, seen = queues.level_changed(model, power, of[o, OF_FRONT], of[o, OF_SEEN], q)
                of[o, OF_FRONT] = front
                of[o, OF_SEEN] = seen
        if flags[r] & END:
            message_start = True
            step[S_MESSAGES] += 1.0
            clk[K_MSGS] += 1
            if oi[0, OI_ACTIVE] or oi[1, OI_ACTIVE] or track or clock == EVENT:
                bb, ba = best_ticks(bs, over_bid, over_ask)
                mid = 0.5 * (bb + ba) * tick_size if bb != NO_BID and ba != NO_ASK else np.nan
                if oi[0, OI_ACTIVE] and ba <= oi[0, OI_TICK]:
                    maker_fill(0, of[0, OF_QTY], oi, of, account, cf, step, mid)
                if oi[1, OI_ACTIVE] and bb >= oi[1, OI_TICK]:
                    maker_fill(1, of[1, OF_QTY], oi, of, account, cf, step, mid)
                if track and mid == mid:
                    last = clkf[KF_LAST_MID]
                    if last == last:
                        change = mid / last - 1.0
                        if change > 0.0:
                            step[S_MID_UP] += change
                        else:
                            step[S_MID_DOWN] -= change
                    clkf[KF_LAST_MID] = mid
                if clock == EVENT and mid == mid:
                    mid0 = clkf[KF_MID0]
                    if not mid0 == mid0:
                        clkf[KF_MID0] = mid
                    elif abs(mid / mid0 - 1.0) >= cf[CF_THRESHOLD]:
                        clk[K_NOW] = t
                        return r + 1
            if clock == TICK and clk[K_MSGS] >= ci[CI_EVERY]:
                clk[K_NOW] = t
                return r + 1
            if clock == VOLUME and clkf[KF_VOLUME] >= cf[CF_VOLUME]:
                clk[K_NOW] = t
                return r + 1
        r += 1
    if stop > start:
        clk[K_NOW] = max(clk[K_NOW], time[stop - 1])
    return stop


@njit(cache=True, nogil=True)
def warm_up(bid, ask, over_bid, over_ask, bs, kind, side, ticks, qty, flags, start, stop):
    """Apply rows (no orders) until, after a message, both sides have a level; returns the next
    row (``stop`` if that never happens)."""
    for r in range(start, stop):
        apply_rows(bid, ask, over_bid, over_ask, bs, kind, side, ticks, qty, r, r + 1)
        if flags[r] & END:
            bb, ba = best_ticks(bs, over_bid, over_ask)
            if bb != NO_BID and ba != NO_ASK and bb < ba:
                return r + 1
    return stop


class Engine:
    """The replay core over one :class:`EventTable` (usually one day).

    Arguments: ``queue`` (``notional``, ``conservative``, ``probabilistic``), ``queue_power``
    (``f(x) = x**power`` of the probabilistic model), ``latency_ns`` (order entry latency),
    ``maker_fee`` / ``taker_fee`` (fractions of notional; negative: rebate), ``inventory_limit``
    (base quantity; ``inf``: none), ``clock`` (``time``, ``tick``, ``event``, ``volume``,
    ``none``) with ``dt_ns``, ``every``, ``threshold``, ``volume``, and ``depth`` (levels of
    order-flow imbalance tracked per step; 0: no feature tracking, the fastest loop).
    """

    def __init__(self, table: EventTable, *, queue: str = "conservative", queue_power: float = 2.0,
                 latency_ns: int = 0, maker_fee: float = 0.0, taker_fee: float = 0.0,
                 inventory_limit: float = math.inf, clock: str = "time", dt_ns: int = 10**9,
                 every: int = 100, threshold: float = 1e-4, volume: float = 1.0, depth: int = 0,
                 cash: float = 0.0) -> None:
        if queue not in queues.QUEUE_MODELS:
            raise ValueError(f"unknown queue model {queue!r}; allowed: {', '.join(queues.QUEUE_MODELS)}")
        if clock not in CLOCKS:
            raise ValueError(f"unknown clock {clock!r}; allowed: {', '.join(CLOCKS)}")
        checks = {"dt_ns": dt_ns > 0, "every": every >= 1, "threshold": threshold > 0, "volume": volume > 0,
                  "latency_ns": latency_ns >= 0, "inventory_limit": inventory_limit > 0,
                  "depth": depth >= 0, "queue_power": queue_power > 0}
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"bad engine argument(s) {bad}: dt_ns, every, threshold, volume, "
                             "inventory_limit and queue_power must be > 0; latency_ns, depth >= 0")
        self.table = table
        self.kind, self.side, self.qty, self.flags, self.time = (table.kind, table.side, table.qty,
                                                                 table.flags, table.time)
        self.ticks = ticks_of(table)
        self.tick_size = table.tick_size
        self.book = L2Book.for_table(table)
        self.cf = np.array([table.tick_size, maker_fee, taker_fee, inventory_limit, queue_power,
                            threshold, volume], np.float64)
        self.ci = np.array([queues.QUEUE_MODELS[queue], CLOCKS[clock], dt_ns, every, latency_ns,
                            1 if depth > 0 else 0], np.int64)
        self.ofi = np.zeros((2, max(depth, 1)), np.float64)
        self.step = np.zeros(STEP_SIZE, np.float64)
        self.initial_cash = float(cash)
        self.reset()

    # -- episode --------------------------------------------------------------------------------
    def reset(self, start: int = 0, stop: int | None = None) -> None:
        """Empty book, no orders, fresh account; replay rows before ``start`` without orders, then
        on until the book has both sides. ``stop`` ends the episode's rows (default: the table)."""
        b = self.book
        clear_side(b.bid, b.ask, b.over_bid, b.over_ask, b.state, 0)
        self.oi = np.zeros((2, 5), np.int64)
        self.of = np.zeros((2, 6), np.float64)
        self.account = acc.new_account(self.initial_cash)
        self.stop = len(self.table) if stop is None else int(stop)
        if start > 0:
            apply_rows(b.bid, b.ask, b.over_bid, b.over_ask, b.state, self.kind, self.side, self.ticks,
                       self.qty, 0, start)
        self.cursor = warm_up(b.bid, b.ask, b.over_bid, b.over_ask, b.state, self.kind, self.side,
                              self.ticks, self.qty, self.flags, start, self.stop)
        now = int(self.time[max(self.cursor - 1, 0)]) if len(self.table) else 0
        self.clk = np.array([now + self.ci[CI_DT], 0, now], np.int64)
        mid = self.mid
        self.clkf = np.array([mid, 0.0, mid], np.float64)

    @property
    def done(self) -> bool:
        return self.cursor >= self.stop

    def advance(self) -> bool:
        """Replay to the next decision; False when the rows ran out first. The step accumulators
        (``step``, ``ofi``) add up until :meth:`clear_step`."""
        b = self.book
        self.clk[K_MSGS] = 0
        self.clkf[KF_VOLUME] = 0.0
        self.clkf[KF_MID0] = self.mid
        self.cursor = advance(b.bid, b.ask, b.over_bid, b.over_ask, b.state, self.kind, self.side,
                              self.ticks, self.qty, self.flags, self.time, self.cursor, self.stop,
                              self.oi, self.of, self.account, self.cf, self.ci, self.clk, self.clkf,
                              self.step, self.ofi)
        if self.ci[CI_CLOCK] == TIME and self.cursor < self.stop:
            self.clk[K_NEXT_T] = self.clk[K_NOW] + self.ci[CI_DT]
        return self.cursor < self.stop

    def clear_step(self) -> None:
        self.step[:] = 0.0
        self.ofi[:] = 0.0

    # -- orders ---------------------------------------------------------------------------------
    def quote(self, o: int, tick: int, qty: float) -> None:
        """Quote side ``o`` (0 bid, 1 ask) at ``tick`` for ``qty``; ``qty`` <= 0 cancels the side."""
        b = self.book
        place(o, int(tick), float(qty), int(self.clk[K_NOW]), b.bid, b.ask, b.over_bid, b.over_ask,
              b.state, self.oi, self.of, self.account, self.ci)

    def cancel(self, o: int) -> None:
        self.quote(o, 0, 0.0)

    def cancel_now(self) -> None:
        """Remove both orders at once (no latency), pending quotes included."""
        self.oi[:, [OI_ACTIVE, OI_PENDING]] = 0
        self.of[:, OF_QTY] = 0.0

    def market(self, direction: int, qty: float) -> float:
        """A market order now; returns its average price."""
        b = self.book
        return float(market_order(b.bid, b.ask, b.over_bid, b.over_ask, b.state, self.account,
                                  int(direction), float(qty), self.cf, self.mid))

    def flatten(self) -> float:
        """Cancel both orders and close the position with a market order; returns its price."""
        self.cancel_now()
        position = float(self.account[acc.POSITION])
        if position == 0.0:
            return math.nan
        return self.market(-1 if position > 0 else 1, abs(position))

    # -- reading --------------------------------------------------------------------------------
    @property
    def now(self) -> int:
        return int(self.clk[K_NOW])

    def best_ticks(self) -> tuple[int, int]:
        b = self.book
        return tuple(int(x) for x in best_ticks(b.state, b.over_bid, b.over_ask))

    @property
    def mid(self) -> float:
        b = self.book
        return float(mid_price(b.state, b.over_bid, b.over_ask, self.tick_size))

    @property
    def position(self) -> float:
        return float(self.account[acc.POSITION])

    def order(self, o: int) -> dict:
        """Side ``o``'s resting order: active, price, qty left, size, queue ahead, executed."""
        return {"active": bool(self.oi[o, OI_ACTIVE]), "pending": bool(self.oi[o, OI_PENDING]),
                "price": float(self.oi[o, OI_TICK] * self.tick_size), "tick": int(self.oi[o, OI_TICK]),
                "qty": float(self.of[o, OF_QTY]), "size": float(self.of[o, OF_SIZE]),
                "front": float(self.of[o, OF_FRONT]), "executed": float(self.of[o, OF_EXEC])}

    def accounts(self) -> dict:
        return {name: float(v) for name, v in zip(acc.ACCOUNT_FIELDS, self.account)}

    def level_tick(self, side: int, level: int) -> int | None:
        """The tick of a side's ``level``-th non-empty level (0: the best), None when missing."""
        ticks = np.empty((2, level + 1), np.int64)
        qty = np.empty((2, level + 1), np.float64)
        from envs.market_making.data.book import top_levels
        b = self.book
        top_levels(b.bid, b.ask, b.state, level + 1, ticks, qty)
        tick = int(ticks[0 if side > 0 else 1, level])
        return tick if tick >= 0 else None
