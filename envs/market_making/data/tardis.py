"""tardis.dev-style CSV files (plain or gzip, with a header row).

``incremental_book_L2``: ``exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount``
- timestamps in microseconds since the epoch (exchange, local receive); ``is_snapshot`` true/false;
  ``side`` bid/ask; ``amount`` the level's new total size (0 removes it).
- Rows with the same ``local_timestamp`` and ``is_snapshot`` form one message. A run of snapshot
  rows after update rows (or at the start) begins with a CLEAR: the exchange sent a new snapshot.
- Update rows before the first snapshot cannot be placed in a book: an error, or skipped and
  counted (``no_snapshot``) with ``strict=False``.

``trades``: ``exchange,symbol,timestamp,local_timestamp,id,side,price,amount``
- ``side`` is the aggressor: buy (+1), sell (-1), unknown (0); ``id`` goes to ``first_id`` when it
  is an integer (-1 otherwise).

``time`` is ``local_timestamp`` and ``exch_time`` is ``timestamp`` (both in ns). A book file and a
trades file of the same day are merged by :func:`~envs.market_making.data.load.load_events`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from envs.market_making.data.errors import CorruptFileError, LoadReport, UpdateIdGapError
from envs.market_making.data.events import (ASK, BID, BOOK, CLEAR, COLUMNS, END, SNAPSHOT, TRADE,
                                            EventTable, infer_tick_size)
from envs.market_making.data.textio import numeric_column, read_csv_frame
from envs.market_making.data.checks import STRICT_HINT, validate

BOOK_COLUMNS = ["exchange", "symbol", "timestamp", "local_timestamp", "is_snapshot", "side", "price", "amount"]
TRADE_COLUMNS = ["exchange", "symbol", "timestamp", "local_timestamp", "id", "side", "price", "amount"]


def _frame(path: str, expected: list[str]):
    frame = read_csv_frame(path, header=True)
    missing = [c for c in expected if c not in frame.columns]
    if missing:
        raise CorruptFileError(path, 1, f"missing column(s) {missing}; a tardis file of this kind has "
                               f"{','.join(expected)}")
    return frame


def _choice(frame, path: str, name: str, mapping: dict[str, int]) -> np.ndarray:
    values = frame[name].astype(str).str.lower().to_numpy()
    out = np.zeros(len(values), np.int8)
    seen = np.zeros(len(values), bool)
    for text, code in mapping.items():
        hit = values == text
        out[hit], seen[hit] = code, True
    if not seen.all():
        i = int(np.flatnonzero(~seen)[0])
        raise CorruptFileError(path, i + 2, f"column {name!r} is {values[i]!r}; allowed: {sorted(mapping)}")
    return out


def load_tardis_book(path: str | Path, *, strict: bool = True, tick_size: float | None = None) -> EventTable:
    path = str(path)
    frame = _frame(path, BOOK_COLUMNS)
    n = len(frame)
    exch = numeric_column(frame, path, "timestamp", np.int64) * 1000
    local = numeric_column(frame, path, "local_timestamp", np.int64) * 1000
    snap = _choice(frame, path, "is_snapshot", {"true": 1, "false": 0}).astype(bool)
    side = _choice(frame, path, "side", {"bid": BID, "ask": ASK})
    price, qty = numeric_column(frame, path, "price"), numeric_column(frame, path, "amount")
    line = np.arange(2, n + 2, dtype=np.int64)
    report = LoadReport()
    report.counts["rows"] = n

    # messages: runs of equal (local_timestamp, is_snapshot)
    new_message = np.ones(n, bool)
    new_message[1:] = (local[1:] != local[:-1]) | (snap[1:] != snap[:-1])
    end = np.zeros(n, bool)
    end[:-1] = new_message[1:]
    end[-1:] = True
    snapshot_start = snap & np.r_[True, ~snap[:-1]]
    before_first = np.zeros(n, bool)
    if not snap.any():
        before_first[:] = True
    else:
        before_first[: int(np.argmax(snap))] = True
    if before_first.any():
        first = int(np.flatnonzero(before_first)[0])
        what = f"{int(before_first.sum())} update rows before any snapshot row (is_snapshot=true)"
        if strict:
            raise UpdateIdGapError(path, int(line[first]), f"{what}; allowed: the file starts with a "
                                   f"snapshot; {STRICT_HINT} (those rows skipped)")
        report.repaired("no_snapshot", path, int(line[first]), what, rows_skipped=int(before_first.sum()))
    keep = ~before_first
    report.counts["snapshots"] = int(snapshot_start.sum())

    # a CLEAR row before each snapshot run
    clears = np.flatnonzero(snapshot_start)
    columns = {
        "time": local, "exch_time": exch, "kind": np.where(snap, SNAPSHOT, BOOK).astype(np.int8),
        "side": side, "price": price, "qty": qty, "first_id": np.full(n, -1, np.int64),
        "last_id": np.full(n, -1, np.int64), "flags": np.where(end, END, 0).astype(np.uint8),
        "file": np.zeros(n, np.int16), "line": line,
    }
    columns = {k: v[keep] for k, v in columns.items()}
    clears = np.searchsorted(np.flatnonzero(keep), clears)
    clear_row = {"time": columns["time"][clears], "exch_time": columns["exch_time"][clears],
                 "kind": np.full(len(clears), CLEAR, np.int8), "side": np.zeros(len(clears), np.int8),
                 "price": np.zeros(len(clears)), "qty": np.zeros(len(clears)),
                 "first_id": np.full(len(clears), -1, np.int64), "last_id": np.full(len(clears), -1, np.int64),
                 "flags": np.zeros(len(clears), np.uint8), "file": np.zeros(len(clears), np.int16),
                 "line": columns["line"][clears]}
    columns = {k: np.insert(columns[k], clears, clear_row[k]) for k in COLUMNS}
    symbol = str(frame["symbol"].iloc[0]) if n else ""
    tick = tick_size or infer_tick_size(price)
    table = EventTable(columns, sources=[path], symbol=symbol, tick_size=tick, report=report)
    return validate(table, strict=strict)


def load_tardis_trades(path: str | Path, *, strict: bool = True, tick_size: float | None = None) -> EventTable:
    path = str(path)
    frame = _frame(path, TRADE_COLUMNS)
    n = len(frame)
    ids = frame["id"].astype(str)
    numeric = ids.str.fullmatch(r"\d{1,18}").to_numpy()
    trade_id = np.full(n, -1, np.int64)
    trade_id[numeric] = ids[numeric].astype(np.int64).to_numpy()
    columns = {
        "time": numeric_column(frame, path, "local_timestamp", np.int64) * 1000,
        "exch_time": numeric_column(frame, path, "timestamp", np.int64) * 1000,
        "kind": np.full(n, TRADE, np.int8),
        "side": _choice(frame, path, "side", {"buy": 1, "sell": -1, "unknown": 0}),
        "price": numeric_column(frame, path, "price"), "qty": numeric_column(frame, path, "amount"),
        "first_id": trade_id, "last_id": trade_id, "flags": np.full(n, END, np.uint8),
        "file": np.zeros(n, np.int16), "line": np.arange(2, n + 2, dtype=np.int64),
    }
    report = LoadReport()
    report.counts["trades"] = n
    symbol = str(frame["symbol"].iloc[0]) if n else ""
    tick = tick_size or infer_tick_size(columns["price"])
    table = EventTable(columns, sources=[path], symbol=symbol, tick_size=tick, report=report)
    return validate(table, strict=strict, check_book=False)
