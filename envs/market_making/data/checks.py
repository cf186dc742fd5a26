"""Checks every loader runs on the table it built: sizes and prices, time order, crossed books.

=====================  ==========================  =================================================
problem                strict=True (default)       strict=False
=====================  ==========================  =================================================
negative or non-       NegativeSizeError           the row is skipped, counted (``negative_size``)
finite size/price
time earlier than the  OutOfOrderError             time raised to the previous row's, counted
row before                                         (``out_of_order``)
book crossed after a   CrossedBookError            the crossed levels of the side the message did
whole message                                      not touch are removed by inserted BOOK rows
                                                   (qty 0, flag REPAIRED), counted (``crossed_book``);
                                                   if the message touched both, an error anyway
=====================  ==========================  =================================================
"""

from __future__ import annotations

import numpy as np

from envs.market_making.data import book as bk
from envs.market_making.data.errors import (CrossedBookError, NegativeSizeError,
                                            OutOfOrderError)
from envs.market_making.data.events import (BOOK, CLEAR, COLUMNS, END, REPAIRED, SNAPSHOT, TRADE,
                                            EventTable)

STRICT_HINT = "pass strict=False to repair and count it instead"
MAX_PRICE_TICKS = 2.0**53  # integer tick counts float64 holds exactly (and int64 far from overflow)
MAX_QTY = 1e15  # far above any real order book's size, far below where notional sums lose precision


def validate(table: EventTable, *, strict: bool = True, check_book: bool = True) -> EventTable:
    """Run the checks of the module table on ``table``; returns it, or a repaired copy (with the
    repairs counted in ``table.report``)."""
    table = check_sizes(table, strict)
    table = check_time_order(table, strict)
    if check_book:
        table = check_crossed(table, strict)
    return table


def check_sizes(table: EventTable, strict: bool) -> EventTable:
    is_level = (table.kind == BOOK) | (table.kind == SNAPSHOT)
    bad_qty = ~np.isfinite(table.qty) | (table.qty < 0) | ((table.kind == TRADE) & (table.qty <= 0))
    bad_qty |= table.qty > MAX_QTY
    with np.errstate(over="ignore", invalid="ignore"):
        too_many_ticks = np.abs(table.price / table.tick_size) >= MAX_PRICE_TICKS
    bad_price = (table.kind != CLEAR) & (~np.isfinite(table.price) | (table.price <= 0) | too_many_ticks)
    bad = bad_qty | bad_price
    if not bad.any():
        return table
    rows = np.flatnonzero(bad)
    if strict:
        r = int(rows[0])
        what = "level" if is_level[r] else "trade"
        path, line = table.where(r).rsplit(":", 1)
        raise NegativeSizeError(path, int(line), f"{what} with price {float(table.price[r])!r} and "
                                f"quantity {float(table.qty[r])!r}; allowed: 0 < price < 2**53 ticks of "
                                f"{table.tick_size:g} ({MAX_PRICE_TICKS * table.tick_size:.3g}), level quantity >= 0 (0 removes), trade quantity > 0, "
                                f"quantities up to {MAX_QTY:g}; {STRICT_HINT} (the row is skipped)")
    for r in rows:
        path, line = table.where(int(r)).rsplit(":", 1)
        table.report.repaired("negative_size", path, int(line),
                              f"price {float(table.price[r])!r}, quantity {float(table.qty[r])!r}", rows_skipped=1)
    flags = table.flags.copy()
    for r in rows:  # a skipped row that ended its message passes the END mark to its predecessor
        if flags[r] & END and r > 0 and not flags[r - 1] & END and not bad[r - 1]:
            flags[r - 1] |= END
    columns = table.columns()
    columns["flags"] = flags
    keep = ~bad
    return EventTable({k: v[keep] for k, v in columns.items()}, sources=table.sources,
                      symbol=table.symbol, tick_size=table.tick_size, report=table.report)


def check_time_order(table: EventTable, strict: bool) -> EventTable:
    if len(table) < 2:
        return table
    back = np.flatnonzero(np.diff(table.time) < 0) + 1
    if not len(back):
        return table
    if strict:
        r = int(back[0])
        path, line = table.where(r).rsplit(":", 1)
        raise OutOfOrderError(path, int(line), f"time {_iso(table.time[r])} is earlier than the "
                              f"previous event's {_iso(table.time[r - 1])} (at {table.where(r - 1)}); "
                              f"allowed: non-decreasing times; {STRICT_HINT} (time raised to the "
                              f"previous one)")
    time = np.maximum.accumulate(table.time)
    for r in back:
        path, line = table.where(int(r)).rsplit(":", 1)
        table.report.repaired("out_of_order", path, int(line),
                              f"time {_iso(table.time[r])} before {_iso(time[r - 1])}")
    flags = table.flags.copy()
    flags[table.time != time] |= REPAIRED
    columns = table.columns()
    columns["time"], columns["flags"] = time, flags
    return EventTable(columns, sources=table.sources, symbol=table.symbol,
                      tick_size=table.tick_size, report=table.report)


def check_crossed(table: EventTable, strict: bool) -> EventTable:
    book = bk.L2Book.for_table(table)
    ticks = bk.ticks_of(table)
    inserts: list[tuple[int, int, int]] = []  # (after row, side, tick) of levels removed
    start = 0
    while True:
        r = bk.apply_until_crossed(book.bid, book.ask, book.over_bid, book.over_ask, book.state,
                                   table.kind, table.side, ticks, table.qty, table.flags, start,
                                   len(table))
        if r < 0:
            break
        best_bid, best_ask = book.best_bid, book.best_ask
        path, line = table.where(r).rsplit(":", 1)
        what = f"book crossed after this message: best bid {best_bid} >= best ask {best_ask}"
        if strict:
            raise CrossedBookError(path, int(line), f"{what}; allowed: best bid < best ask after every "
                                   f"message; {STRICT_HINT} (stale crossed levels removed)")
        removed = _remove_stale_crossed(book, table, ticks, r)
        if removed is None:
            raise CrossedBookError(path, int(line), f"{what}, and this message set levels on both "
                                   "sides of the cross, so neither side is stale: no repair exists")
        inserts.extend((r, side, tick) for side, tick in removed)
        table.report.repaired("crossed_book", path, int(line),
                              f"{what}; removed {len(removed)} stale level(s)")
        start = r + 1
    if not inserts:
        return table
    return _insert_removals(table, inserts)


def _remove_stale_crossed(book: bk.L2Book, table: EventTable, ticks, r: int):
    start = r
    while start > 0 and not table.flags[start - 1] & END:
        start -= 1
    rows = slice(start, r + 1)
    touched = {(int(s), int(t)) for s, t, k in zip(table.side[rows], ticks[rows], table.kind[rows])
               if k in (BOOK, SNAPSHOT)}
    base = int(book.state[bk.BASE])
    lo, hi = int(book.state[bk.BEST_ASK]), int(book.state[bk.BEST_BID])
    crossed_asks = [(-1, i + base) for i in range(lo, hi + 1) if book.ask[i] > 0]
    crossed_bids = [(1, i + base) for i in range(lo, hi + 1) if book.bid[i] > 0]
    for stale, fresh in ((crossed_asks, crossed_bids), (crossed_bids, crossed_asks)):
        if not any(level in touched for level in stale) and any(level in touched for level in fresh):
            for side, tick in stale:
                book.set(side, tick * book.tick_size, 0.0)
            return stale
    return None


def _insert_removals(table: EventTable, inserts: list[tuple[int, int, int]]) -> EventTable:
    after = np.array([i[0] for i in inserts], np.int64)
    columns = table.columns()
    new = {name: columns[name][after].copy() for name in COLUMNS}
    new["kind"][:] = BOOK
    new["side"][:] = [i[1] for i in inserts]
    new["price"][:] = np.array([i[2] for i in inserts], np.float64) * table.tick_size
    new["qty"][:] = 0.0
    new["flags"][:] = REPAIRED  # END moves from the crossed message's row to its last removal
    last_of_group = np.append(after[1:] != after[:-1], True)
    new["flags"][last_of_group] |= END
    flags = columns["flags"].copy()
    flags[np.unique(after)] &= ~np.uint8(END)
    columns["flags"] = flags
    position = after + 1
    merged = {name: np.insert(columns[name], position, new[name]) for name in COLUMNS}
    return EventTable(merged, sources=table.sources, symbol=table.symbol,
                      tick_size=table.tick_size, report=table.report)


def _iso(ns) -> str:
    return str(np.datetime64(int(ns), "ns"))
