"""``data=<file, folder or glob>`` -> one validated :class:`EventTable`; days and train/test splits.

Formats are recognised per file:

=========================================  ===============================================
file                                       loader
=========================================  ===============================================
``*.jsonl``, ``*.jsonl.gz``, ``*.json.gz``  Binance stream recording (:mod:`.binance`)
``*_message_<N>.csv``                      LOBSTER, with its ``*_orderbook_<N>.csv`` (:mod:`.lobster`)
``*_orderbook_<N>.csv``                    read with its message file, not on its own
CSV whose header starts
``exchange,symbol,timestamp,local_timestamp,is_snapshot``  tardis incremental_book_L2
``exchange,symbol,timestamp,local_timestamp,id``           tardis trades
a header with ``system_time`` and ``midpoint``             crypto-rl snapshots (:mod:`.cryptorl`)
``*.parquet``                              an event table written by :func:`~.cache.write_table`
=========================================  ===============================================

(``.csv`` may be gzipped as ``.csv.gz``.) Files are merged by time, each loaded (and cached) on its
own, so every file must be self-contained: a Binance file needs its REST snapshot line, a tardis
book file its initial snapshot rows.
"""

from __future__ import annotations

import datetime as dt
import glob as globlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from envs.market_making.data import cache as cache_mod
from envs.market_making.data.book import L2Book
from envs.market_making.data.errors import CorruptFileError, DataError, UnknownFormatError, log
from envs.market_making.data.events import (BOOK, CLEAR, COLUMNS, END, NS_PER_DAY, SNAPSHOT,
                                            SYNTHETIC, EventTable)
from envs.market_making.data.textio import open_text

FORMATS = ("binance", "lobster", "tardis_book", "tardis_trades", "cryptorl", "parquet")
SUFFIXES = (".jsonl", ".jsonl.gz", ".json.gz", ".csv", ".csv.gz", ".parquet")


def resolve_paths(data: str | Path | Sequence[str | Path]) -> list[Path]:
    """Files named by ``data``: a file, a folder (its data files, recursively), a glob pattern, or a
    list of those. LOBSTER order-book files are left out (their message file reads them)."""
    items = [data] if isinstance(data, str | Path) else list(data)
    found: list[Path] = []
    for item in items:
        text = str(item)
        if any(ch in text for ch in "*?["):
            matches = [Path(p) for p in sorted(globlib.glob(text, recursive=True)) if Path(p).is_file()]
            if not matches:
                raise DataError(text, 0, "the pattern matches no file")
            found += matches
        elif Path(text).is_dir():
            matches = sorted(p for p in Path(text).rglob("*") if p.is_file() and p.name.endswith(SUFFIXES)
                             and not p.name.startswith("."))
            if not matches:
                raise DataError(text, 0, f"the folder holds no data file (allowed: {', '.join(SUFFIXES)})")
            found += matches
        elif Path(text).is_file():
            found.append(Path(text))
        else:
            raise DataError(text, 0, "no such file, folder or glob match; data= takes a file, a folder "
                            "or a glob pattern such as 'data/*.jsonl.gz'")
    return [p for p in dict.fromkeys(found) if "_orderbook_" not in p.name]


def detect_format(path: str | Path) -> str:
    """One of :data:`FORMATS`, from the name and the first line."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".jsonl", ".jsonl.gz", ".json.gz")):
        return "binance"
    if "_message_" in name and name.endswith((".csv", ".csv.gz")):
        return "lobster"
    if name.endswith((".csv", ".csv.gz")):
        try:
            with open_text(path) as f:
                header = f.readline().strip().lower()
        except (OSError, EOFError, UnicodeDecodeError) as error:
            raise UnknownFormatError(path, 1, f"cannot read the header ({error})") from None
        if header.startswith("exchange,symbol,timestamp,local_timestamp,is_snapshot"):
            return "tardis_book"
        if header.startswith("exchange,symbol,timestamp,local_timestamp,id"):
            return "tardis_trades"
        columns = header.split(",")
        if "system_time" in columns and "midpoint" in columns:
            return "cryptorl"
        raise UnknownFormatError(path, 1, f"unknown CSV header {header[:80]!r}; allowed: tardis "
                                 "incremental_book_L2 or trades, crypto-rl snapshots (system_time, "
                                 "midpoint, ...), LOBSTER *_message_N.csv")
    raise UnknownFormatError(path, 0, f"unknown file type; allowed: {', '.join(SUFFIXES)}")


def load_file(path: str | Path, *, format: str = "auto", strict: bool = True,
              tick_size: float | None = None, cache: bool = True,
              cache_dir: str | Path | None = None) -> EventTable:
    """Load one file (through the parquet cache when ``cache``)."""
    from envs.market_making.data import binance, cryptorl, lobster, tardis

    path = Path(path)
    fmt = detect_format(path) if format == "auto" else format
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; allowed: auto, {', '.join(FORMATS)}")
    if fmt == "parquet":  # a table someone else wrote is checked as a loader's own
        from envs.market_making.data.checks import validate

        try:
            table = cache_mod.read_table(path)
        except Exception as error:  # pyarrow's and the metadata's errors alike: the file is not one of ours
            raise CorruptFileError(path, 0, f"not an event table written by rlkit ({type(error).__name__}: "
                                   f"{' '.join(str(error).split())[:200]})") from None
        return validate(table, strict=strict)
    sources = [path, lobster.orderbook_path(path)] if fmt == "lobster" else [path]
    options = {"strict": strict, "tick_size": tick_size}
    entry = None
    if cache:
        entry = cache_mod.cache_path(Path(cache_dir) if cache_dir else cache_mod.default_cache_dir(),
                                     [s for s in sources if s.exists()], fmt, options)
        table = cache_mod.read_cached(entry)
        if table is not None:
            return table
    if fmt == "binance":
        table = binance.load_binance(path, strict=strict, tick_size=tick_size)
    elif fmt == "lobster":
        table = lobster.load_lobster(path, strict=strict)
    elif fmt == "tardis_book":
        table = tardis.load_tardis_book(path, strict=strict, tick_size=tick_size)
    elif fmt == "tardis_trades":
        table = tardis.load_tardis_trades(path, strict=strict, tick_size=tick_size)
    else:
        table = cryptorl.load_cryptorl(path, strict=strict, tick_size=tick_size)
    if entry is not None:
        cache_mod.write_table(table, entry)
    return table


def load_events(data: str | Path | Sequence[str | Path], *, format: str = "auto", strict: bool = True,
                tick_size: float | None = None, cache: bool = True,
                cache_dir: str | Path | None = None) -> EventTable:
    """Load every file ``data`` names (a file, folder, glob, or a list) into one table merged by
    time, validated (see :mod:`.validate`; ``strict=False`` repairs what the formats allow and
    counts it in ``table.report``). ``tick_size`` overrides the inferred price grid; the parquet
    cache lives in ``cache_dir`` (default :func:`~.cache.default_cache_dir`)."""
    paths = resolve_paths(data)
    tables = [load_file(p, format=format, strict=strict, tick_size=tick_size, cache=cache,
                        cache_dir=cache_dir) for p in paths]
    for path, table in zip(paths, tables):
        if not len(table):
            skipped = getattr(table.report, "skipped", None)
            what = f" (skipped: {dict(skipped)})" if skipped else ""
            raise DataError(str(path), 0, f"the file holds no events{what}; a data file needs order-book "
                            "data (depth updates or snapshots) or trades")
    if not any(((t.kind == BOOK) | (t.kind == SNAPSHOT)).any() for t in tables):
        names = ", ".join(map(str, paths))
        raise DataError(names, 0, "no order-book data (depth updates or snapshots), only trades; the env "
                        "replays a book: add its depth file (Binance depth stream with its snapshot, tardis "
                        "incremental_book_L2, LOBSTER, crypto-rl)")
    symbols = {t.symbol for t in tables if t.symbol}
    if len(symbols) > 1:
        raise DataError(str(data), 0, f"the files hold several symbols {sorted(symbols)}; point data= at "
                        "one symbol's files")
    if tick_size is None and len({t.tick_size for t in tables}) > 1:
        finest = min(t.tick_size for t in tables)
        tables = [EventTable(t.columns(), sources=t.sources, symbol=t.symbol, tick_size=finest,
                             report=t.report) for t in tables]
    table = EventTable.concat(tables) if len(tables) > 1 else tables[0]
    if table.report.repairs:
        log.warning("%s: %s", data, table.report)
    return table


def split_days(table: EventTable) -> dict[dt.date, EventTable]:
    """The table cut at UTC midnights, ``{date: day table}`` in order. A day that does not start
    with a snapshot gets one: the book replayed to midnight, as CLEAR + SNAPSHOT rows with the
    SYNTHETIC flag at the day's first time, so every day replays on its own."""
    if not len(table):
        return {}
    day = table.time // NS_PER_DAY
    starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
    stops = np.r_[starts[1:], len(table)]
    book = L2Book.for_table(table)
    days = {}
    for start, stop in zip(starts, stops):
        date = dt.date(1970, 1, 1) + dt.timedelta(days=int(day[start]))
        part = table[int(start):int(stop)]
        if start > 0 and table.kind[start] != CLEAR and (book.n_levels[0] or book.n_levels[1]):
            part = EventTable.concat([_book_snapshot(book, table, int(start)), part], sort=False)
        days[date] = part
        book.apply(table, int(start), int(stop))
    return days


def _book_snapshot(book: L2Book, table: EventTable, row: int) -> EventTable:
    side, ticks, qty = book.nonzero()
    n = len(side) + 1
    t = int(table.time[row])
    columns = {name: np.zeros(n, dtype) for name, dtype in COLUMNS.items()}
    columns["time"][:] = t
    columns["exch_time"][:] = -1
    columns["kind"][:] = SNAPSHOT
    columns["kind"][0] = CLEAR
    columns["side"][1:] = side
    columns["price"][1:] = ticks * table.tick_size
    columns["qty"][1:] = qty
    columns["first_id"][:] = columns["last_id"][:] = -1
    columns["flags"][:] = SYNTHETIC
    columns["flags"][-1] |= END
    columns["file"][:] = -1
    return EventTable(columns, sources=table.sources, symbol=table.symbol, tick_size=table.tick_size,
                      report=table.report)


def train_test_days(dates: Sequence[dt.date] | dict, *, test: int | float | Sequence[dt.date] = 0.25,
                    train: int | None = None) -> tuple[list[dt.date], list[dt.date]]:
    """Chronological split of ``dates`` (or a :func:`split_days` dict): the last ``test`` days (a
    count, a fraction of the days, rounded up, or an explicit list of dates) are for testing, the
    ``train`` days before them (all by default) for training. Train always precedes test."""
    dates = sorted(dates)
    if isinstance(test, int | float) and not isinstance(test, bool):
        n_test = int(np.ceil(test * len(dates))) if isinstance(test, float) and test < 1 else int(test)
        if not 1 <= n_test < len(dates):
            raise ValueError(f"test={test!r} leaves no train or no test day among {len(dates)} day(s); "
                             f"allowed: 1..{len(dates) - 1} days or a fraction in (0, 1)")
        test_dates = dates[-n_test:]
    else:
        test_dates = sorted(test)
        unknown = [d for d in test_dates if d not in dates]
        if unknown:
            raise ValueError(f"test days {unknown} are not in the data; the data has {dates}")
    train_dates = [d for d in dates if d < test_dates[0]]
    if train is not None:
        train_dates = train_dates[-train:]
    if not train_dates:
        raise ValueError(f"no day before the first test day {test_dates[0]} to train on")
    return train_dates, test_dates
