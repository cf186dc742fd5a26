"""Binance spot stream recordings: ``<local receive time, ns> <JSON>`` per line (plain or gzip).

Lines are combined-stream messages ``{"stream": ..., "data": {...}}`` or, without a ``stream`` key,
a REST depth snapshot ``{"lastUpdateId", "bids", "asks"}``:

- ``<symbol>@depth[@100ms]`` ``depthUpdate``: ``U``/``u`` first/last update id, ``E`` event time
  (ms), ``b``/``a`` lists of ``[price, qty]`` strings, qty 0 removes the level -> BOOK rows (bids
  first), ``first_id`` = U, ``last_id`` = u.
- ``<symbol>@trade``: ``t`` id, ``p``, ``q``, ``T`` trade time (ms), ``m`` buyer is maker (the
  aggressor sold: side -1) -> one TRADE row.
- a REST snapshot -> CLEAR + SNAPSHOT rows (bids then asks), ``first_id`` = ``last_id`` =
  ``lastUpdateId``, ``exch_time`` -1.
- ``bookTicker`` and any other stream are counted in ``report.skipped`` (by stream type), not
  turned into events.

The Binance sync rule: depth updates with ``u`` <= ``lastUpdateId`` are dropped (counted as
``before_snapshot``); the first one applied must have ``U`` <= lastUpdateId+1 <= ``u``, and each
later one ``U`` == previous ``u`` + 1. Updates received before the snapshot line but newer than it
are applied right after it, at the snapshot's time (the book cannot apply them earlier). A gap is
an :class:`UpdateIdGapError` naming file and line; with ``strict=False`` the depth updates up to
the next snapshot line are skipped and counted (``update_id_gap``). Depth updates with no snapshot
to start from are an error, or skipped and counted (``no_snapshot``).
"""

from __future__ import annotations

import json
from pathlib import Path

from envs.market_making.data.errors import CorruptFileError, LoadReport, UpdateIdGapError
from envs.market_making.data.events import (ASK, BID, BOOK, CLEAR, SNAPSHOT, TRADE, EventBuilder,
                                            EventTable, infer_tick_size)
from envs.market_making.data.textio import iter_lines
from envs.market_making.data.checks import STRICT_HINT, validate

MS = 1_000_000


def load_binance(path: str | Path, *, strict: bool = True, tick_size: float | None = None,
                 symbol: str | None = None) -> EventTable:
    """Load one Binance stream recording into an :class:`EventTable` (validated; see the module
    docstring for the mapping and the sync rule)."""
    path = str(path)
    parser = _Parser(path, strict)
    for number, text in iter_lines(path):
        if not text.strip():
            continue
        time_text, _, payload = text.partition(" ")
        try:
            local = int(time_text)
            message = json.loads(payload)
        except ValueError as error:
            raise CorruptFileError(path, number, f"expected '<local time ns> <JSON>', got "
                                   f"{text[:80]!r} ({error})") from None
        if not isinstance(message, dict):
            raise CorruptFileError(path, number, f"a line's JSON must be an object, got {text[:80]!r}")
        try:
            parser.line(number, local, message)
        except (KeyError, TypeError, ValueError, IndexError) as error:
            if isinstance(error, CorruptFileError | UpdateIdGapError):
                raise
            raise CorruptFileError(path, number, f"malformed message ({type(error).__name__}: "
                                   f"{error}): {payload[:120]!r}") from None
    parser.finish()
    events, report = parser.events, parser.report
    prices = events.rows["price"]
    tick = tick_size or infer_tick_size(prices[:200_000]) if prices else (tick_size or 0.01)
    table = events.build(sources=[path], symbol=symbol or parser.symbol, tick_size=tick,
                         report=report)
    return validate(table, strict=strict)


class _Parser:
    def __init__(self, path: str, strict: bool) -> None:
        self.path, self.strict = path, strict
        self.events, self.report = EventBuilder(), LoadReport()
        self.symbol = ""
        self.last_u: int | None = None      # last applied update id; None: not in sync
        self.snapshot_id: int | None = None  # lastUpdateId while waiting for the first update
        self.snapshot_time = 0
        self.pending: list[tuple[int, int, dict]] = []  # depth before any snapshot
        self.skipping_since: int | None = None  # line of the gap while skipping (strict=False)
        self.seen_snapshot = False

    def line(self, number: int, local: int, message: dict) -> None:
        c = self.report.counts
        if "stream" not in message:
            if "lastUpdateId" in message:
                c["snapshot"] += 1
                self.snapshot(number, local, message)
                return
            self.report.skipped["unknown"] += 1
            return
        stream, data = message["stream"], message["data"]
        kind = stream.split("@", 2)[1] if "@" in stream else stream
        if kind == "depth":
            c["depthUpdate"] += 1
            self.symbol = self.symbol or data.get("s", "")
            if not self.seen_snapshot:
                self.pending.append((number, local, data))
            else:
                self.depth(number, local, data)
        elif kind == "trade":
            c["trade"] += 1
            self.symbol = self.symbol or data.get("s", "")
            side = -1 if data["m"] else 1
            trade_id = int(data["t"])
            self.events.add(local, int(data["T"]) * MS, TRADE, side, float(data["p"]),
                            float(data["q"]), trade_id, trade_id, 0, 0, number)
            self.events.end_message()
        else:
            c[kind] += 1
            self.report.skipped[kind] += 1

    def snapshot(self, number: int, local: int, message: dict) -> None:
        snapshot_id = int(message["lastUpdateId"])
        add = self.events.add
        add(local, -1, CLEAR, 0, 0.0, 0.0, snapshot_id, snapshot_id, 0, 0, number)
        for side, levels in ((BID, message["bids"]), (ASK, message["asks"])):
            for price, qty in levels:
                add(local, -1, SNAPSHOT, side, float(price), float(qty), snapshot_id, snapshot_id,
                    0, 0, number)
        self.events.end_message()
        self.seen_snapshot, self.skipping_since = True, None
        self.last_u, self.snapshot_id, self.snapshot_time = None, snapshot_id, local
        pending, self.pending = self.pending, []
        for line, pending_local, data in pending:
            self.depth(line, max(pending_local, local), data)

    def depth(self, number: int, local: int, data: dict) -> None:
        first, last = int(data["U"]), int(data["u"])
        rows = len(data["b"]) + len(data["a"])
        if self.skipping_since is not None:
            self.report.skipped["update_id_gap"] += rows
            return
        if self.last_u is None:  # first update after a snapshot
            if last <= self.snapshot_id:
                self.report.skipped["before_snapshot"] += rows
                return
            if not first <= self.snapshot_id + 1 <= last:
                self.gap(number, rows, f"the first update after the snapshot (lastUpdateId "
                         f"{self.snapshot_id}) must have U <= {self.snapshot_id + 1} <= u, got "
                         f"U={first} u={last}")
                return
        elif first != self.last_u + 1:
            if last <= self.last_u:
                what = (f"update ids go backwards: U={first} u={last} after u={self.last_u} "
                        "(a duplicated or reordered message)")
            else:
                what = (f"update id gap: U={first}, expected previous u + 1 = {self.last_u + 1} "
                        f"({first - self.last_u - 1} ids missing: lost messages)")
            self.gap(number, rows, what)
            return
        self.last_u, self.snapshot_id = last, None
        exch = int(data["E"]) * MS
        add = self.events.add
        for side, levels in ((BID, data["b"]), (ASK, data["a"])):
            for price, qty in levels:
                add(local, exch, BOOK, side, float(price), float(qty), first, last, 0, 0, number)
        self.events.end_message()

    def gap(self, number: int, rows: int, what: str) -> None:
        if self.strict:
            raise UpdateIdGapError(self.path, number, f"{what}; allowed: U == previous u + 1 after the "
                                   f"first update; {STRICT_HINT} (depth updates skipped until the next "
                                   "snapshot line)")
        self.report.repaired("update_id_gap", self.path, number, what, rows_skipped=rows)
        self.skipping_since, self.last_u, self.snapshot_id = number, None, None

    def finish(self) -> None:
        if self.pending:
            line = self.pending[0][0]
            rows = sum(len(d["b"]) + len(d["a"]) for _, _, d in self.pending)
            what = f"{len(self.pending)} depth updates and no REST snapshot line to start the book from"
            if self.strict:
                raise UpdateIdGapError(self.path, line, f"{what}; allowed: a line with lastUpdateId, "
                                       f"bids and asks; {STRICT_HINT} (those updates skipped)")
            self.report.repaired("no_snapshot", self.path, line, what, rows_skipped=rows)
