"""The compiled replay core: book, fill engine and decision clock in one Numba loop.

:func:`replay` replays event rows from a cursor until the decision clock fires (or the rows run
out): every row goes through the L2 book (:mod:`envs.market_making.data.book`) and the fill engine;
the agent acts only between two calls. :func:`advance` is that replay through the book's own
kernels; on a day's *tape* (:func:`build_tape`: the book's state after every row, recorded once,
since our virtual orders never change the book) the replay keeps a game's book by one store per row
instead, with the same results, several times faster: the environments
(:mod:`envs.market_making.games`) replay games that way. :class:`Engine` is the Python face the
benchmark, the tests and rule-based agents use.

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
from typing import Any, NamedTuple

import numpy as np
from numba import njit, typeof

from envs.market_making import accounting as acc
from envs.market_making import queues
from envs.market_making.data.book import (BASE, BEST_ASK, BEST_BID, N_ASK, N_BID, RECENTRES, L2Book,
                                          apply_rows, clear_side, set_level, ticks_of)
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
# A game's clock: one record per game, its fields named (a record array is one array to the kernels).
CLOCK = np.dtype([
    ("next_t", np.int64),  # the time clock's next decision (ns)
    ("msgs", np.int64),  # messages since the last decision (tick clock)
    ("now", np.int64),  # the time of the last decision (ns)
    ("mid0", np.float64),  # the mid at the last decision (event clock's reference)
    ("volume", np.float64),  # traded quantity since the last decision (volume clock)
    ("last_mid", np.float64),  # the last mid tracked (mid moves)
])
# A game's accumulators over one step (zeroed before each advance), one record per game.
STEP = np.dtype([(name, np.float64) for name in (
    "buy_fill", "sell_fill", "fills", "capture",  # our maker fills (base), their count, spread captured
    "buy_volume", "sell_volume",  # traded notional by buyer- and seller-initiated trades
    "mid_up", "mid_down",  # relative mid moves up and down
    "rows", "messages", "trades",  # events replayed
)])


class Book(NamedTuple):
    """One game's L2 book as the book's kernels take it (see :class:`~envs.market_making.data.book.L2Book`)."""

    bid: np.ndarray
    ask: np.ndarray
    over_bid: Any
    over_ask: Any
    state: np.ndarray


class Rows(NamedTuple):
    """Event columns (of an :class:`EventTable`, or several days' concatenated), ``ticks`` as ints."""

    kind: np.ndarray
    side: np.ndarray
    ticks: np.ndarray
    qty: np.ndarray
    flags: np.ndarray
    time: np.ndarray


class Tape(NamedTuple):
    """A day's book after every row (:func:`build_tape`): best indices, level counts, and the
    order-flow-imbalance slot and increment of a level update."""

    best_bid: np.ndarray
    best_ask: np.ndarray
    n_bid: np.ndarray
    n_ask: np.ndarray
    slot: np.ndarray
    inc: np.ndarray


class Game(NamedTuple):
    """One game's orders (``OI_*``, ``OF_*`` columns per side), account, configuration (``CF_*``,
    ``CI_*``), clock (a :data:`CLOCK` record), step accumulators (a :data:`STEP` record) and
    order-flow imbalance per side and level."""

    oi: np.ndarray
    of: np.ndarray
    account: np.ndarray
    cf: np.ndarray
    ci: np.ndarray
    clock: Any
    step: Any
    ofi: np.ndarray


@njit(cache=True, nogil=True, inline="always")
def clear_step(step):
    step.buy_fill = 0.0
    step.sell_fill = 0.0
    step.fills = 0.0
    step.capture = 0.0
    step.buy_volume = 0.0
    step.sell_volume = 0.0
    step.mid_up = 0.0
    step.mid_down = 0.0
    step.rows = 0.0
    step.messages = 0.0
    step.trades = 0.0


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
        step.buy_fill += fill
    else:
        step.sell_fill += fill
    step.fills += 1.0
    if mid == mid and mid > 0.0:
        step.capture += fill * direction * (mid - price) / mid
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


# The replay loop keeps calls that take arrays off its common path: passing an array to a compiled
# function costs reference counting (atomic operations) per call, which on every row would cost more
# than the row's own work. Rows that touch our orders or move the mid call the helpers below.
@njit(cache=True, nogil=True)
def queue_trade(o, at_price, q, model, of):
    """A trade of ``q`` reached order ``o`` (at its price, or through it): move its queue; returns the
    volume left to fill it."""
    front, seen, left = queues.trade_reaches(model, at_price, of[o, OF_FRONT], of[o, OF_SEEN], q)
    of[o, OF_FRONT] = front
    of[o, OF_SEEN] = seen
    return left


@njit(cache=True, nogil=True)
def queue_level(o, q, model, power, of):
    """The level of order ``o`` became ``q``: its queue."""
    front, seen = queues.level_changed(model, power, of[o, OF_FRONT], of[o, OF_SEEN], q)
    of[o, OF_FRONT] = front
    of[o, OF_SEEN] = seen


@njit(cache=True, nogil=True, inline="always")
def book_mid(bb, ba, tick_size):
    return 0.5 * (bb + ba) * tick_size if bb != NO_BID and ba != NO_ASK else np.nan


@njit(cache=True, nogil=True, inline="always")
def mid_news(mid, track, clock, last, mid0):
    """Whether a message ending on ``mid`` matters to the mid tracking or the event clock. A mid
    equal to the last one tracked adds a zero move, and cannot fire the event clock when its
    reference is set: the clock did not fire on that mid since the reference was set (at a decision
    the reference is the book's mid, which is the last tracked one)."""
    if not mid == mid:
        return False
    if track and mid == last and (clock != EVENT or mid0 == mid0):
        return False
    return track or clock == EVENT


@njit(cache=True, nogil=True)
def cross_fills(bb, ba, mid, oi, of, account, cf, step):
    """After a message whose best ticks are ``bb``/``ba``: an opposite best at or through a resting
    order fills what is left of it at its price (that quote would have traded with us)."""
    if oi[0, OI_ACTIVE] and ba <= oi[0, OI_TICK]:
        maker_fill(0, of[0, OF_QTY], oi, of, account, cf, step, mid)
    if oi[1, OI_ACTIVE] and bb >= oi[1, OI_TICK]:
        maker_fill(1, of[1, OF_QTY], oi, of, account, cf, step, mid)


# -- the tape: a day's book replayed once, shared by every game on that day ---------------------------
# Our orders are virtual, so the book after any row is a property of the data alone (as long as the
# book never moves its window): a tape keeps, per row, the book's best indices and level counts after
# it, and the order-flow-imbalance slot and increment of a level update. A game then keeps its book
# by one store per row (a far level: an update of its overflow map) and reads the rest off the tape,
# with the same results as replaying each row through the book's kernels.
@njit(cache=True, nogil=True)
def build_tape(bid, ask, over_bid, over_ask, bs, kind, side, ticks, qty, depth, tick_size,
               tbb, tba, tnb, tna, tslot, tinc):
    """Replay every row into an empty book, filling the tape. False when the book moved its window
    (the window then depends on what was replayed before: no tape); levels outside the window are
    fine (they live in the overflow maps, which each game keeps itself)."""
    for r in range(kind.shape[0]):
        k = kind[r]
        tslot[r] = -1
        tinc[r] = 0.0
        if k == CLEAR:
            clear_side(bid, ask, over_bid, over_ask, bs, side[r])
        elif k != TRADE:
            s = side[r]
            tk = ticks[r]
            q = qty[r]
            rank = level_index(bid if s > 0 else ask, bs, s, tk, depth)
            if rank >= 0:
                old = level_qty(bid, ask, over_bid, over_ask, bs, s, tk)
                tslot[r] = (0 if s > 0 else depth) + rank
                tinc[r] = (q - old) * tk * tick_size
            set_level(bid, ask, over_bid, over_ask, bs, s, tk, q)
            if bs[RECENTRES]:
                return False
        tbb[r] = bs[BEST_BID]
        tba[r] = bs[BEST_ASK]
        tnb[r] = bs[N_BID]
        tna[r] = bs[N_ASK]
    return True


@njit(cache=True, nogil=True)
def overflow_level(over_bid, over_ask, s, tick, q):
    """A level of side ``s`` outside the window became ``q`` (as :func:`set_level` keeps it, the
    window never moving on a tape). Both maps come in: choosing one in the caller's loop would
    cost reference counting on every row."""
    over = over_bid if s > 0 else over_ask
    if q > 0.0:
        over[tick] = q
    elif tick in over:
        over.pop(tick)


@njit(cache=True, nogil=True)
def tape_book(bs, tbb, tba, tnb, tna, r):
    """The book state after row ``r``, from the tape."""
    bs[BEST_BID] = tbb[r]
    bs[BEST_ASK] = tba[r]
    bs[N_BID] = tnb[r]
    bs[N_ASK] = tna[r]


@njit(cache=True, nogil=True)
def tape_restart(bid, ask, over_bid, over_ask, bs, base, kind, side, ticks, qty, flags, tbb, tba, tnb, tna, first,
                 start, stop):
    """:func:`restart` on a tape, from an empty book whose window starts at tick ``base`` (the day's
    rows start at row ``first``): rows ``first..start-1`` applied, then on until, after a message,
    both sides have a level. Returns the cursor."""
    bid[:] = 0.0
    ask[:] = 0.0
    over_bid.clear()
    over_ask.clear()
    bs[:] = 0
    bs[BASE] = base
    bs[BEST_BID] = -1
    bs[BEST_ASK] = -1
    n = np.uint64(bid.shape[0])
    cursor = stop
    for r in range(first, stop):
        k = kind[r]
        if k == CLEAR:
            if side[r] >= 0:
                bid[:] = 0.0
                over_bid.clear()
            if side[r] <= 0:
                ask[:] = 0.0
                over_ask.clear()
        elif k != TRADE:
            s = side[r]
            q = qty[r]
            index = np.uint64(ticks[r] - base)
            if index < n:
                (bid if s > 0 else ask)[index] = q if q > 0.0 else 0.0
            else:
                overflow_level(over_bid, over_ask, s, ticks[r], q)
        if r >= start and flags[r] & END:
            if tbb[r] >= 0 and tba[r] >= 0:
                both = tbb[r] < tba[r]
            else:
                tape_book(bs, tbb, tba, tnb, tna, r)
                bb, ba = best_ticks(bs, over_bid, over_ask)
                both = bb != NO_BID and ba != NO_ASK and bb < ba
            if both:
                cursor = r + 1
                break
    if cursor > first:
        tape_book(bs, tbb, tba, tnb, tna, cursor - 1)
    return cursor


@njit(cache=True, nogil=True, inline="always")
def order_ticks(oi):
    """Our resting orders' ticks, NO_BID / NO_ASK for a side without one (no tick equals those)."""
    return (oi[0, OI_TICK] if oi[0, OI_ACTIVE] else NO_BID), (oi[1, OI_TICK] if oi[1, OI_ACTIVE] else NO_ASK)


@njit(cache=True, nogil=True)
def replay(book, rows, day_tape, tape, start, stop, game):
    """Replay ``rows`` from ``start`` until the clock fires or ``stop`` into ``book`` and ``game``;
    returns the next row.

    With ``tape`` (``day_tape``: the day's :class:`Tape`) the book keeps its levels by one store per
    row and reads its state off the tape (``bs`` is brought up to date wherever something reads it,
    and on return); without, each row goes through the book's kernels and the tape is not read.
    The counters, the mid tracking and the event clock's reference, and our orders' ticks live in
    locals, stored back on return and refreshed after the (rare) calls that change them."""
    bid, ask, over_bid, over_ask, bs = book
    kind, side, ticks, qty, flags, time = rows
    tbb, tba, tnb, tna, tslot, tinc = day_tape
    oi, of, account, cf, ci, clk, step, ofi = game
    tick_size = cf[CF_TICK]
    clock = ci[CI_CLOCK]
    model = ci[CI_QUEUE]
    power = cf[CF_POWER]
    track = ci[CI_TRACK]
    depth = ofi.shape[1]
    base = bs[BASE]
    width = np.uint64(bid.shape[0])
    flat_ofi = ofi.reshape(ofi.size)
    watch_mid = track or clock == EVENT
    threshold = cf[CF_THRESHOLD]
    next_t = clk.next_t
    msgs = clk.msgs
    rows = 0
    messages = 0
    bid_at, ask_at = order_ticks(oi)
    pending = oi[0, OI_PENDING] != 0 or oi[1, OI_PENDING] != 0
    last = clk.last_mid
    mid0 = clk.mid0
    up = step.mid_up
    down = step.mid_down
    message_start = True
    r = start
    while r < stop:
        # an unsigned index skips the negative-index wraparound numba adds to every signed one
        u = np.uint64(r)
        if message_start:
            message_start = False
            if clock == TIME or pending:
                t = time[u]
                if clock == TIME and t >= next_t:
                    clk.now = next_t
                    break
                if pending:
                    for o in range(2):
                        if oi[o, OI_PENDING] and t >= oi[o, OI_PTIME]:
                            if tape:
                                tape_book(bs, tbb, tba, tnb, tna, r - 1)
                            activate(o, bid, ask, over_bid, over_ask, bs, oi, of, account)
                    bid_at, ask_at = order_ticks(oi)
                    pending = oi[0, OI_PENDING] != 0 or oi[1, OI_PENDING] != 0
        k = kind[u]
        rows += 1
        if k == TRADE:
            tk = ticks[u]
            q = qty[u]
            aggressor = side[u]
            step.trades += 1.0
            clk.volume += q
            if aggressor > 0:
                step.buy_volume += q * tk * tick_size
            elif aggressor < 0:
                step.sell_volume += q * tk * tick_size
            left_bid = 0.0
            left_ask = 0.0
            if aggressor <= 0 and tk <= bid_at:
                left_bid = queue_trade(0, tk == bid_at, q, model, of)
            if aggressor >= 0 and tk >= ask_at:
                left_ask = queue_trade(1, tk == ask_at, q, model, of)
            if left_bid > 0.0 or left_ask > 0.0:
                if tape:
                    tape_book(bs, tbb, tba, tnb, tna, r - 1)
                mid = mid_price(bs, over_bid, over_ask, tick_size)
                if left_bid > 0.0:
                    maker_fill(0, left_bid, oi, of, account, cf, step, mid)
                if left_ask > 0.0:
                    maker_fill(1, left_ask, oi, of, account, cf, step, mid)
                bid_at, ask_at = order_ticks(oi)
        elif k == CLEAR:
            if tape:
                tape_book(bs, tbb, tba, tnb, tna, r - 1)
            clear_side(bid, ask, over_bid, over_ask, bs, side[r])
        else:
            s = side[u]
            tk = ticks[u]
            q = qty[u]
            if tape:
                if track:
                    slot = tslot[u]
                    if slot >= 0:
                        flat_ofi[np.uint64(slot)] += tinc[u]
                index = np.uint64(tk - base)
                if index < width:
                    (bid if s > 0 else ask)[index] = q if q > 0.0 else 0.0
                else:
                    overflow_level(over_bid, over_ask, s, tk, q)
            else:
                if track:
                    rank = level_index(bid if s > 0 else ask, bs, s, tk, depth)
                    if rank >= 0:
                        old = level_qty(bid, ask, over_bid, over_ask, bs, s, tk)
                        ofi[0 if s > 0 else 1, rank] += (q - old) * tk * tick_size
                set_level(bid, ask, over_bid, over_ask, bs, s, tk, q)
            if tk == (bid_at if s > 0 else ask_at):
                queue_level(BID_SIDE if s > 0 else ASK_SIDE, q, model, power, of)
        if flags[u] & END:
            message_start = True
            messages += 1
            msgs += 1
            if watch_mid or bid_at != NO_BID or ask_at != NO_ASK:
                best_bid, best_ask = (tbb[u], tba[u]) if tape else (-1, -1)
                if best_bid >= 0 and best_ask >= 0:
                    bb = best_bid + base
                    ba = best_ask + base
                else:  # an empty window side, whose best is then in the overflow map
                    if tape:
                        tape_book(bs, tbb, tba, tnb, tna, r)
                    bb, ba = best_ticks(bs, over_bid, over_ask)
                mid = book_mid(bb, ba, tick_size)
                if ba <= bid_at or bb >= ask_at:
                    cross_fills(bb, ba, mid, oi, of, account, cf, step)
                    bid_at, ask_at = order_ticks(oi)
                if mid_news(mid, track, clock, last, mid0):
                    if track:
                        if last == last:
                            change = mid / last - 1.0
                            if change > 0.0:
                                up += change
                            else:
                                down -= change
                        last = mid
                    if clock == EVENT:
                        if not mid0 == mid0:
                            mid0 = mid
                        elif abs(mid / mid0 - 1.0) >= threshold:
                            clk.now = time[r]
                            r += 1
                            break
            if (clock == TICK and msgs >= ci[CI_EVERY]) or (clock == VOLUME and clk.volume >= cf[CF_VOLUME]):
                clk.now = time[r]
                r += 1
                break
        r += 1
    step.rows += rows
    step.messages += messages
    step.mid_up = up
    step.mid_down = down
    clk.msgs = msgs
    clk.last_mid = last
    clk.mid0 = mid0
    if r >= stop and stop > start:
        clk.now = max(clk.now, time[stop - 1])
    if tape and r > start:
        tape_book(bs, tbb, tba, tnb, tna, r - 1)
    return min(r, stop)


@njit(cache=True, nogil=True)
def advance(book, rows, start, stop, game):
    """Replay ``rows`` from ``start`` until the clock fires or ``stop`` through the book's kernels (no
    tape); returns the next row."""
    none = np.empty(0, np.int32)
    return replay(book, rows, Tape(none, none, none, none, none, np.empty(0, np.float64)), False, start, stop, game)


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


@njit(cache=True, nogil=True)
def restart(bid, ask, over_bid, over_ask, bs, kind, side, ticks, qty, flags, first, start, stop):
    """:meth:`Engine.reset`'s replay on a table starting at row ``first``: empty book, rows
    ``first..start-1`` applied, then on until both sides have a level. Returns the cursor."""
    clear_side(bid, ask, over_bid, over_ask, bs, 0)
    if start > first:
        apply_rows(bid, ask, over_bid, over_ask, bs, kind, side, ticks, qty, first, start)
    return warm_up(bid, ask, over_bid, over_ask, bs, kind, side, ticks, qty, flags, start, stop)


@njit(cache=True, nogil=True)
def flatten(bid, ask, over_bid, over_ask, bs, oi, of, account, cf):
    """Cancel both orders at once and close the position with a market order; returns its
    average price (NaN when flat)."""
    for o in range(2):
        oi[o, OI_ACTIVE] = 0
        oi[o, OI_PENDING] = 0
        of[o, OF_QTY] = 0.0
    position = account[acc.POSITION]
    if position == 0.0:
        return np.nan
    return market_order(bid, ask, over_bid, over_ask, bs, account, -1 if position > 0 else 1, abs(position),
                        cf, mid_price(bs, over_bid, over_ask, cf[CF_TICK]))


@njit(cache=True, nogil=True)
def replay_to_decision(book, rows, day_tape, tape, cursor, stop, game):
    """:meth:`Engine.advance` in compiled code (:func:`replay`, with or without the tape); returns
    the new cursor."""
    clock, ci = game.clock, game.ci
    clock.msgs = 0
    clock.volume = 0.0
    clock.mid0 = mid_price(book.state, book.over_bid, book.over_ask, game.cf[CF_TICK])
    cursor = replay(book, rows, day_tape, tape, cursor, stop, game)
    if ci[CI_CLOCK] == TIME and cursor < stop:
        clock.next_t = clock.now + ci[CI_DT]
    return cursor


def engine_config(tick_size: float, *, queue: str, queue_power: float, latency_ns: int, maker_fee: float,
                  taker_fee: float, inventory_limit: float, clock: str, dt_ns: int, every: int, threshold: float,
                  volume: float, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """The float (``CF_*``) and int (``CI_*``) configuration arrays of the replay kernels, checked
    (see :class:`Engine` for the arguments)."""
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
    cf = np.array([tick_size, maker_fee, taker_fee, inventory_limit, queue_power, threshold, volume], np.float64)
    ci = np.array([queues.QUEUE_MODELS[queue], CLOCKS[clock], dt_ns, every, latency_ns, 1 if depth > 0 else 0],
                  np.int64)
    return cf, ci


class Engine:
    """The replay core over one :class:`EventTable` (usually one day).

    Arguments: ``queue`` (``notional``, ``conservative``, ``probabilistic``), ``queue_power``
    (``f(x) = x**power`` of the probabilistic model), ``latency_ns`` (order entry latency),
    ``maker_fee`` / ``taker_fee`` (fractions of notional; negative: rebate), ``inventory_limit``
    (base quantity; ``inf``: none), ``clock`` (``time``, ``tick``, ``event``, ``volume``,
    ``none``) with ``dt_ns``, ``every``, ``threshold``, ``volume``, and ``depth`` (levels of
    order-flow imbalance tracked per step; 0: no feature tracking, the fastest loop).

    State: ``oi``/``of`` (orders), ``account``, ``clock`` (a :data:`CLOCK` record), ``step`` (a
    :data:`STEP` record), ``ofi``; the kernels take them bundled as ``game`` (a :class:`Game`), the
    book as ``book_arrays`` (a :class:`Book`) and the event columns as ``rows`` (:class:`Rows`).
    """

    def __init__(self, table: EventTable, *, queue: str = "conservative", queue_power: float = 2.0,
                 latency_ns: int = 0, maker_fee: float = 0.0, taker_fee: float = 0.0,
                 inventory_limit: float = math.inf, clock: str = "time", dt_ns: int = 10**9,
                 every: int = 100, threshold: float = 1e-4, volume: float = 1.0, depth: int = 0,
                 cash: float = 0.0) -> None:
        self.cf, self.ci = engine_config(table.tick_size, queue=queue, queue_power=queue_power,
                                         latency_ns=latency_ns, maker_fee=maker_fee, taker_fee=taker_fee,
                                         inventory_limit=inventory_limit, clock=clock, dt_ns=dt_ns, every=every,
                                         threshold=threshold, volume=volume, depth=depth)
        self.table = table
        self.kind, self.side, self.qty, self.flags, self.time = (table.kind, table.side, table.qty,
                                                                 table.flags, table.time)
        self.ticks = ticks_of(table)
        self.rows = Rows(self.kind, self.side, self.ticks, self.qty, self.flags, self.time)
        self.tick_size = table.tick_size
        self.book = L2Book.for_table(table)
        self.ofi = np.zeros((2, max(depth, 1)), np.float64)
        self.step = np.zeros(1, STEP)[0]
        self.clock = np.zeros(1, CLOCK)[0]
        self.initial_cash = float(cash)
        self.reset()

    @classmethod
    def over(cls, table: EventTable, book: L2Book, *, cf: np.ndarray, ci: np.ndarray, oi: np.ndarray,
             of: np.ndarray, account: np.ndarray, clock: np.void, step: np.void, ofi: np.ndarray, cursor: int,
             stop: int) -> Engine:
        """An Engine reading and writing state it does not own (one game of
        :class:`~envs.market_making.games.Games`; ``clock`` and ``step`` are records of its arrays),
        for its methods; its ``cursor`` and ``stop`` are the owner's to keep up to date (rows of ``table``)."""
        e = cls.__new__(cls)
        e.table = table
        e.kind, e.side, e.qty, e.flags, e.time = table.kind, table.side, table.qty, table.flags, table.time
        e.ticks, e.tick_size, e.book = ticks_of(table), table.tick_size, book
        e.rows = Rows(e.kind, e.side, e.ticks, e.qty, e.flags, e.time)
        e.cf, e.ci, e.oi, e.of, e.account = cf, ci, oi, of, account
        e.clock, e.step, e.ofi = clock, step, ofi
        e.initial_cash, e.cursor, e.stop = 0.0, int(cursor), int(stop)
        e._bind()
        return e

    def _bind(self) -> None:
        """The kernels' bundles of this engine's state."""
        b = self.book
        self.book_arrays = Book(b.bid, b.ask, b.over_bid, b.over_ask, b.state)
        self.game = Game(self.oi, self.of, self.account, self.cf, self.ci, self.clock, self.step, self.ofi)
        self._advance = None

    # -- episode --------------------------------------------------------------------------------
    def reset(self, start: int = 0, stop: int | None = None) -> None:
        """Empty book, no orders, fresh account; replay rows before ``start`` without orders, then
        on until the book has both sides. ``stop`` ends the episode's rows (default: the table)."""
        b = self.book
        self.oi = np.zeros((2, 5), np.int64)
        self.of = np.zeros((2, 6), np.float64)
        self.account = acc.new_account(self.initial_cash)
        self.stop = len(self.table) if stop is None else int(stop)
        self.cursor = restart(b.bid, b.ask, b.over_bid, b.over_ask, b.state, self.kind, self.side, self.ticks,
                              self.qty, self.flags, 0, start, self.stop)
        now = int(self.time[max(self.cursor - 1, 0)]) if len(self.table) else 0
        mid = self.mid
        c = self.clock
        c["next_t"], c["msgs"], c["now"] = now + self.ci[CI_DT], 0, now
        c["mid0"], c["volume"], c["last_mid"] = mid, 0.0, mid
        self._bind()

    @property
    def done(self) -> bool:
        return self.cursor >= self.stop

    def advance(self) -> bool:
        """Replay to the next decision; False when the rows ran out first. The step accumulators
        (``step``, ``ofi``) add up until :meth:`clear_step`."""
        c = self.clock
        c["msgs"] = 0
        c["volume"] = 0.0
        c["mid0"] = self.mid
        if self._advance is None:  # compiled for the bundles' types once: a call then skips Numba's typing of them
            self._advance = advance.compile(tuple(typeof(a) for a in (self.book_arrays, self.rows, 0, 0, self.game)))
        self.cursor = self._advance(self.book_arrays, self.rows, self.cursor, self.stop, self.game)
        if self.ci[CI_CLOCK] == TIME and self.cursor < self.stop:
            c["next_t"] = c["now"] + self.ci[CI_DT]
        return self.cursor < self.stop

    def clear_step(self) -> None:
        for name in STEP.names:
            self.step[name] = 0.0
        self.ofi[:] = 0.0

    # -- orders ---------------------------------------------------------------------------------
    def quote(self, o: int, tick: int, qty: float) -> None:
        """Quote side ``o`` (0 bid, 1 ask) at ``tick`` for ``qty``; ``qty`` <= 0 cancels the side."""
        b = self.book
        place(o, int(tick), float(qty), int(self.clock["now"]), b.bid, b.ask, b.over_bid, b.over_ask,
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
        b = self.book
        return float(flatten(b.bid, b.ask, b.over_bid, b.over_ask, b.state, self.oi, self.of, self.account,
                             self.cf))

    # -- reading --------------------------------------------------------------------------------
    @property
    def now(self) -> int:
        return int(self.clock["now"])

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
