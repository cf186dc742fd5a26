"""The canonical event format: one columnar table of book and trade events for every source.

An :class:`EventTable` is a struct of contiguous 1-D numpy arrays, one per column, in replay order
(``time`` non-decreasing), plus the list of source files its ``file`` column indexes. Replay code
(the book in :mod:`~envs.market_making.data.book`, a fill engine) takes the columns as they are.

==========  =======  ============================================================================
column      dtype    meaning
==========  =======  ============================================================================
time        int64    local receive time, ns since the Unix epoch (UTC); the replay clock;
                     non-decreasing. Sources with one clock only (LOBSTER, the generator) use it.
exch_time   int64    exchange time, ns since the epoch (Binance ``E`` for depth, ``T`` for
                     trades; tardis ``timestamp``); -1 where the source has none (REST snapshot)
kind        int8     BOOK 0: a price level's new total quantity (0 removes the level);
                     TRADE 1: a trade; SNAPSHOT 2: a level of a full snapshot (applied like BOOK);
                     CLEAR 3: empty the book before a snapshot (``side`` 0: both sides)
side        int8     BOOK/SNAPSHOT: +1 bid, -1 ask. TRADE: the aggressor, +1 buyer-initiated
                     (lifted the ask), -1 seller-initiated (hit the bid), 0 unknown. CLEAR: 0
price       float64  price in quote currency; a multiple of ``tick_size`` (0 for CLEAR)
qty         float64  BOOK/SNAPSHOT: the level's total quantity after the event; TRADE: the traded
                     quantity; in base currency (LOBSTER: shares)
first_id    int64    first update id of the source message (Binance ``U``; a snapshot's
                     ``lastUpdateId``; the trade id ``t``; LOBSTER order id; -1 where none)
last_id     int64    last update id of the source message (Binance ``u``; -1 where none)
flags       uint8    bit field: END 1 = last row of its source message (the book is consistent
                     after it; a message's rows share ``time``); REPAIRED 2 = a row inserted or
                     changed by a ``strict=False`` repair; SYNTHETIC 4 = made here, not read
                     (generator, day-start snapshots); AGGREGATE 8 = a trade summing an interval's
                     volume (crypto-rl ``buys``/``sells``); HIDDEN 16 = execution against hidden
                     liquidity (LOBSTER type 5), no visible book change
file        int16    index into ``EventTable.sources`` (-1: none, e.g. generated)
line        int64    1-based line of that file the row came from (0: none)
==========  =======  ============================================================================
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

import numpy as np

from envs.market_making.data.errors import LoadReport

# kind
BOOK, TRADE, SNAPSHOT, CLEAR = 0, 1, 2, 3
KIND_NAMES = {BOOK: "book", TRADE: "trade", SNAPSHOT: "snapshot", CLEAR: "clear"}
# side
BID, ASK, BUY, SELL, NO_SIDE = 1, -1, 1, -1, 0
# flags
END, REPAIRED, SYNTHETIC, AGGREGATE, HIDDEN = 1, 2, 4, 8, 16

COLUMNS = {
    "time": np.int64, "exch_time": np.int64, "kind": np.int8, "side": np.int8,
    "price": np.float64, "qty": np.float64, "first_id": np.int64, "last_id": np.int64,
    "flags": np.uint8, "file": np.int16, "line": np.int64,
}
FORMAT_VERSION = 1
NS_PER_DAY = 86_400 * 10**9


class EventTable:
    """Events in the canonical format (see the module docstring for the columns).

    Attributes: one contiguous numpy array per column (``table.time``, ``table.price``, ...);
    ``sources`` (the files ``file`` indexes), ``symbol``, ``tick_size`` (price grid, > 0) and
    ``report`` (:class:`~envs.market_making.data.errors.LoadReport`).
    """

    __slots__ = (*COLUMNS, "sources", "symbol", "tick_size", "report", "_ticks")

    def __init__(self, columns: dict[str, np.ndarray], *, sources: Sequence[str] = (),
                 symbol: str = "", tick_size: float, report: LoadReport | None = None) -> None:
        n = None
        for name, dtype in COLUMNS.items():
            if name not in columns:
                raise ValueError(f"EventTable needs column {name!r}; columns are {list(COLUMNS)}")
            array = np.ascontiguousarray(columns[name], dtype=dtype)
            if array.ndim != 1 or (n is not None and len(array) != n):
                raise ValueError(f"column {name!r} must be 1-D of length {n}, got shape {array.shape}")
            n = len(array)
            setattr(self, name, array)
        if not tick_size > 0:
            raise ValueError(f"tick_size must be > 0, got {tick_size!r}")
        self.sources, self.symbol = tuple(str(s) for s in sources), symbol
        self.tick_size, self.report = float(tick_size), report or LoadReport()
        self._ticks = None  # price in ticks, filled on first use by the book

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def empty(cls, *, tick_size: float, symbol: str = "", sources: Sequence[str] = ()) -> EventTable:
        return cls({name: np.zeros(0, dtype) for name, dtype in COLUMNS.items()},
                   tick_size=tick_size, symbol=symbol, sources=sources)

    @classmethod
    def concat(cls, tables: Sequence[EventTable], *, sort: bool = True) -> EventTable:
        """Join tables (their ``file`` indices are renumbered into one ``sources`` list). With
        ``sort`` the rows are merged by ``time``; rows of equal time keep their table order and
        their order within it, so a message's rows stay together."""
        if not tables:
            raise ValueError("concat needs at least one table")
        ticks = {t.tick_size for t in tables}
        if len(ticks) > 1:
            raise ValueError(f"tables have different tick sizes {sorted(ticks)}: load one symbol at a time")
        sources: list[str] = []
        columns = {name: [] for name in COLUMNS}
        for table in tables:
            remap = np.array([_index(sources, s) for s in table.sources] + [-1], dtype=np.int16)
            for name in COLUMNS:
                columns[name].append(remap[table.file] if name == "file" else getattr(table, name))
        merged = {name: np.concatenate(parts) for name, parts in columns.items()}
        if sort and len(tables) > 1:
            which = np.concatenate([np.full(len(t), i, np.int64) for i, t in enumerate(tables)])
            order = np.lexsort((np.arange(len(which)), which, merged["time"]))
            merged = {name: column[order] for name, column in merged.items()}
        report = LoadReport()
        for table in tables:
            report = report.merge(table.report)
        symbols = sorted({t.symbol for t in tables if t.symbol})
        return cls(merged, sources=sources, symbol=",".join(symbols), tick_size=ticks.pop(),
                   report=report)

    # -- access ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.time)

    def __getitem__(self, index) -> EventTable:
        """Rows by slice, boolean mask or index array, as a new table (same sources)."""
        return EventTable({name: getattr(self, name)[index] for name in COLUMNS},
                          sources=self.sources, symbol=self.symbol, tick_size=self.tick_size,
                          report=self.report)

    def __repr__(self) -> str:
        if not len(self):
            return f"EventTable({self.symbol or '?'}, empty)"
        start, stop = (np.datetime64(int(t), "ns") for t in (self.time[0], self.time[-1]))
        counts = ", ".join(f"{KIND_NAMES[k]} {int(n)}" for k, n in
                           zip(*np.unique(self.kind, return_counts=True)))
        return (f"EventTable({self.symbol or '?'}, {len(self):,} rows [{counts}], {start} .. {stop}, "
                f"tick {self.tick_size:g}, {len(self.sources)} source file(s))")

    def columns(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in COLUMNS}

    def where(self, row: int) -> str:
        """``path:line`` of a row, for messages."""
        f = int(self.file[row])
        return f"{self.sources[f] if 0 <= f < len(self.sources) else '<generated>'}:{int(self.line[row])}"

    def price_ticks(self) -> np.ndarray:
        """``price`` in integer ticks (``round(price / tick_size)``), int64."""
        return np.rint(self.price / self.tick_size).astype(np.int64)

    def dates(self) -> list[dt.date]:
        """The UTC dates the table's rows fall on, in order."""
        days = np.unique(self.time // NS_PER_DAY)
        return [dt.date(1970, 1, 1) + dt.timedelta(days=int(d)) for d in days]

    # -- conversion -----------------------------------------------------------------------------
    def metadata(self) -> dict:
        return {"format_version": FORMAT_VERSION, "sources": list(self.sources), "symbol": self.symbol,
                "tick_size": self.tick_size, "report": self.report.to_dict()}

    def to_arrow(self):
        """A pyarrow Table with the columns and ``rlkit.events`` schema metadata (JSON)."""
        import pyarrow as pa

        table = pa.table({name: getattr(self, name) for name in COLUMNS})
        return table.replace_schema_metadata({"rlkit.events": json.dumps(self.metadata())})

    @classmethod
    def from_arrow(cls, table) -> EventTable:
        raw = (table.schema.metadata or {}).get(b"rlkit.events")
        if raw is None:
            raise ValueError("not an rlkit event table: no rlkit.events metadata")
        meta = json.loads(raw)
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"event table format {meta.get('format_version')}, expected {FORMAT_VERSION}")
        columns = {name: table.column(name).to_numpy() for name in COLUMNS}
        return cls(columns, sources=meta["sources"], symbol=meta["symbol"],
                   tick_size=meta["tick_size"], report=LoadReport.from_dict(meta["report"]))

    def to_pandas(self):
        """A DataFrame with the columns plus readable ``datetime``, ``kind_name`` and ``source``."""
        import pandas as pd

        frame = pd.DataFrame(self.columns())
        frame.insert(0, "datetime", pd.to_datetime(self.time, unit="ns", utc=True))
        frame["kind_name"] = pd.Categorical.from_codes(self.kind, list(KIND_NAMES.values()))
        sources = np.array([*self.sources, "<generated>"], dtype=object)
        frame["source"] = sources[self.file]
        return frame


def _index(items: list[str], item: str) -> int:
    if item not in items:
        items.append(item)
    return items.index(item)


class EventBuilder:
    """Row-by-row construction for loaders (Python lists, converted once at the end)."""

    def __init__(self) -> None:
        self.rows: dict[str, list] = {name: [] for name in COLUMNS}

    def add(self, time: int, exch_time: int, kind: int, side: int, price: float, qty: float,
            first_id: int, last_id: int, flags: int, file: int, line: int) -> None:
        r = self.rows
        r["time"].append(time); r["exch_time"].append(exch_time); r["kind"].append(kind)
        r["side"].append(side); r["price"].append(price); r["qty"].append(qty)
        r["first_id"].append(first_id); r["last_id"].append(last_id); r["flags"].append(flags)
        r["file"].append(file); r["line"].append(line)

    def end_message(self) -> None:
        """Mark the last row added as the end of its message."""
        if self.rows["flags"]:
            self.rows["flags"][-1] |= END

    def __len__(self) -> int:
        return len(self.rows["time"])

    def build(self, **kwargs) -> EventTable:
        return EventTable({name: np.asarray(values, dtype=COLUMNS[name]) if values else
                           np.zeros(0, COLUMNS[name]) for name, values in self.rows.items()}, **kwargs)


def infer_tick_size(prices: np.ndarray) -> float:
    """The coarsest grid ``10**k`` or ``2/5 x 10**k`` on which every price lies (to 1e-6 of a tick)."""
    prices = np.unique(np.asarray(prices, dtype=np.float64))
    prices = prices[np.isfinite(prices) & (prices > 0)]
    if len(prices) == 0:
        return 0.01
    for exponent in range(6, -11, -1):
        for mantissa in (5, 2, 1):
            tick = mantissa * 10.0**exponent
            ratio = prices / tick
            if np.all(np.abs(ratio - np.rint(ratio)) < 1e-6):
                return float(f"{tick:.12g}")
    return 1e-10
