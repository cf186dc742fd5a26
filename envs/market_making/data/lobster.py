"""LOBSTER message + order-book files (``<TICKER>_<YYYY-MM-DD>_<start>_<end>_message_<N>.csv`` and
the matching ``..._orderbook_<N>.csv``, no header).

Message columns: time (seconds after midnight, exchange local time), type (1 submit, 2 partial
cancel, 3 delete, 4 visible execution, 5 hidden execution, 6 cross trade, 7 halt), order id, size,
price (USD x 10000), direction (1 buy limit order, -1 sell limit order). Order-book columns: per
level ask price, ask size, bid price, bid size (4 N columns), the book *after* each message; empty
levels have price -9999999999 / 9999999999 and size 0.

Mapping: the first order-book row is a CLEAR + SNAPSHOT at the first message's time; after that
each message gives BOOK rows for the visible levels whose size changed (the order-book file is the
exact L2 state; a level that leaves the N visible levels because others entered above it stays in
the book, one that disappears within the visible range is removed). Executions (types 4, 5, 6)
give a TRADE row first: side = the aggressor = -direction (6: 0); type 5 has the HIDDEN flag.
Halts (7) are counted. ``first_id`` is the order id. Times are converted to UTC with ``timezone``
(default America/New_York).

Check: each submit/cancel/delete/execution must change its price level by its size (+ for submits,
- otherwise) wherever that level is visible in both rows; a mismatch is a
:class:`BookMismatchError` naming the message line, or, with ``strict=False``, counted
(``book_mismatch``) with the order-book file taken as the truth.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from envs.market_making.data.errors import BookMismatchError, CorruptFileError, LoadReport
from envs.market_making.data.events import (ASK, BID, BOOK, CLEAR, HIDDEN, SNAPSHOT, TRADE,
                                            EventBuilder, EventTable)
from envs.market_making.data.textio import read_csv_frame
from envs.market_making.data.checks import STRICT_HINT, validate

NAME = re.compile(r"(?P<ticker>[A-Za-z0-9.]+)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<start>\d+)_(?P<end>\d+)"
                  r"_message_(?P<levels>\d+)\.csv(\.gz)?$")
PRICE_SCALE = 10_000
EMPTY_PRICE = 9_999_999_999


def orderbook_path(message_path: str | Path) -> Path:
    path = Path(message_path)
    return path.with_name(path.name.replace("_message_", "_orderbook_"))


def load_lobster(message_path: str | Path, orderbook: str | Path | None = None, *,
                 strict: bool = True, timezone: str = "America/New_York",
                 symbol: str | None = None) -> EventTable:
    """Load a LOBSTER message file and its order-book file (found by name unless given)."""
    message_path = str(message_path)
    match = NAME.search(Path(message_path).name)
    if not match:
        raise CorruptFileError(message_path, 0, "a LOBSTER message file is named "
                               "<TICKER>_<YYYY-MM-DD>_<start>_<end>_message_<N>.csv")
    book_path = str(orderbook or orderbook_path(message_path))
    if not Path(book_path).exists():
        raise CorruptFileError(message_path, 0, f"its order-book file {book_path} does not exist")
    messages = _numeric(read_csv_frame(message_path, header=False), message_path, 6)
    rows = _numeric(read_csv_frame(book_path, header=False), book_path, None)
    if rows.shape[1] % 4:
        raise CorruptFileError(book_path, 1, f"{rows.shape[1]} columns; expected 4 per level")
    if len(rows) != len(messages):
        raise CorruptFileError(book_path, min(len(rows), len(messages)) + 1,
                               f"{len(rows)} order-book rows for {len(messages)} messages in "
                               f"{message_path}: the files must have one row per message")
    midnight = dt.datetime.fromisoformat(match["date"]).replace(tzinfo=ZoneInfo(timezone))
    time = (np.int64(midnight.timestamp()) * 10**9 + np.rint(messages[:, 0] * 1e9).astype(np.int64))
    kinds, ids, sizes = messages[:, 1].astype(np.int64), messages[:, 2].astype(np.int64), messages[:, 3]
    prices, direction = messages[:, 4] / PRICE_SCALE, messages[:, 5].astype(np.int64)

    report, events = LoadReport(), EventBuilder()
    report.counts["messages"] = len(messages)
    known = {BID: {}, ASK: {}}  # the book as emitted so far: price -> size
    previous = None
    for k in range(len(messages)):
        line, t, kind = k + 1, int(time[k]), int(kinds[k])
        report.counts[f"type_{kind}"] += 1
        if kind in (4, 5, 6):
            side = 0 if kind == 6 else -int(direction[k])
            events.add(t, t, TRADE, side, float(prices[k]), float(sizes[k]), int(ids[k]), -1,
                       HIDDEN if kind == 5 else 0, 0, line)
        visible = _visible(rows[k])
        if previous is None:
            events.add(t, t, CLEAR, 0, 0.0, 0.0, int(ids[k]), -1, 0, 0, line)
            for side in (BID, ASK):
                for price, size in visible[side][0].items():
                    events.add(t, t, SNAPSHOT, side, price, size, int(ids[k]), -1, 0, 0, line)
                known[side] = dict(visible[side][0])
        else:
            if kind in (1, 2, 3, 4):
                _check(message_path, line, kind, int(direction[k]), float(prices[k]),
                       float(sizes[k]), previous, visible, strict, report)
            for side in (BID, ASK):
                levels, (low, high) = visible[side]
                book = known[side]
                for price, size in levels.items():
                    if book.get(price) != size:
                        book[price] = size
                        events.add(t, t, BOOK, side, price, size, int(ids[k]), -1, 0, 0, line)
                for price in [p for p in book if low <= p <= high and p not in levels]:
                    del book[price]
                    events.add(t, t, BOOK, side, price, 0.0, int(ids[k]), -1, 0, 0, line)
        events.end_message()
        previous = visible
    ticker = symbol or match["ticker"]
    table = events.build(sources=[message_path], symbol=ticker, tick_size=0.01, report=report)
    return validate(table, strict=strict)


def _numeric(frame, path: str, columns: int | None) -> np.ndarray:
    if columns is not None and frame.shape[1] != columns:
        raise CorruptFileError(path, 1, f"{frame.shape[1]} columns; a LOBSTER message file has {columns}")
    try:
        return frame.to_numpy(dtype=np.float64)
    except (ValueError, TypeError):
        for i, row in enumerate(frame.astype(str).to_numpy()):
            for j, value in enumerate(row):
                try:
                    float(value)
                except ValueError:
                    raise CorruptFileError(path, i + 1, f"column {j + 1} is not a number: "
                                           f"{value[:40]!r}") from None
        raise


def _visible(row: np.ndarray) -> dict[int, tuple[dict[float, float], tuple[float, float]]]:
    """Per side, ``({price: size}, (low, high))``: the visible levels and the price range they
    cover (the whole side when fewer than N levels are shown)."""
    levels = row.reshape(-1, 4)
    out = {}
    for side, price_col, size_col in ((ASK, 0, 1), (BID, 2, 3)):
        shown = np.abs(levels[:, price_col]) < EMPTY_PRICE
        prices = np.round(levels[shown, price_col] / PRICE_SCALE, 4)
        sizes = levels[shown, size_col]
        full = shown.all()
        if side == ASK:
            span = (-np.inf, prices[-1] if full and len(prices) else np.inf)
        else:
            span = (prices[-1] if full and len(prices) else -np.inf, np.inf)
        out[side] = ({float(p): float(s) for p, s in zip(prices, sizes)}, span)
    return out


def _check(path, line, kind, direction, price, size, before, after, strict, report) -> None:
    side = BID if direction > 0 else ASK
    (old, (lo0, hi0)), (new, (lo1, hi1)) = before[side], after[side]
    if not (lo0 <= price <= hi0 and lo1 <= price <= hi1):
        return  # the level is not visible in both rows: nothing to compare
    change = new.get(price, 0.0) - old.get(price, 0.0)
    expected = size if kind == 1 else -size
    if abs(change - expected) <= 1e-9:
        return
    names = {1: "submit", 2: "partial cancel", 3: "delete", 4: "execution"}
    what = (f"{names[kind]} of {size:g} at {price} on the {'bid' if side == BID else 'ask'} should "
            f"change that level by {expected:+g}, but the order-book file's level changed by {change:+g}")
    if strict:
        raise BookMismatchError(path, line, f"{what}; {STRICT_HINT} (the order-book file is taken "
                                "as the truth)")
    report.repaired("book_mismatch", path, line, what)
