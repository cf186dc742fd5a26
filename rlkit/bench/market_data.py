"""Suite ``market_data``: load and replay throughput of the market-making data layer, one core.

Data (``data=``): a recording file; by default the Binance BTCUSDT minute shipped in
``envs/market_making/data/samples`` (as every market-making suite). Measures:

- load time from the raw file (parse + validate) and from the parquet cache;
- Numba start of the book kernels, cold (fresh cache folder, in a fresh process) and with the
  on-disk cache that run left (import + first call);
- replay into the book, rows per second: the bare kernel (:func:`~envs.market_making.data.book.apply_rows`),
  the kernel recording the touch after every message, and a plain-Python dict book for comparison.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from rlkit.bench.report import machine_description, markdown_table, write_table
from rlkit.bench.timing import best_of, numba_cold_and_warm


def replay_touch_kernel():
    from numba import njit

    from envs.market_making.data import book as bk

    @njit(cache=True, nogil=True)
    def replay_touch(bid, ask, over_bid, over_ask, state, kind, side, ticks, qty, flags, out_bid, out_ask):
        m = 0
        for r in range(kind.shape[0]):
            bk.apply_rows(bid, ask, over_bid, over_ask, state, kind, side, ticks, qty, r, r + 1)
            if flags[r] & 1:
                out_bid[m] = state[1] + state[0] if state[1] >= 0 else -1
                out_ask[m] = state[2] + state[0] if state[2] >= 0 else -1
                m += 1
        return m

    return replay_touch


def dict_replay(kind, side, price, qty) -> None:
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}
    for k, s, p, q in zip(kind.tolist(), side.tolist(), price.tolist(), qty.tolist()):
        if k == 1:
            continue
        if k == 3:
            bids.clear(), asks.clear()
            continue
        book = bids if s > 0 else asks
        if q > 0:
            book[p] = q
        else:
            book.pop(p, None)


COMPILE_SCRIPT = """
import json, time, numpy as np
t = time.perf_counter()
from envs.market_making.data.book import L2Book
from envs.market_making.data.events import EventTable, COLUMNS
cols = {n: np.zeros(3, d) for n, d in COLUMNS.items()}
cols["price"][:] = 1.0; cols["qty"][:] = 1.0; cols["side"][:] = 1
table = EventTable(cols, tick_size=0.01)
book = L2Book.for_table(table); book.apply(table)
print(json.dumps({"seconds": time.perf_counter() - t}))
"""


def run(out_dir: Path, data: str = "", repeats: int = 5, compile_times: bool = True) -> None:
    """Time loading and replaying ``data`` (a recording file; default: the shipped Binance minute);
    writes results.csv and results.md."""
    import numpy as np

    from envs.market_making.data import L2Book, load_events
    from envs.market_making.data.book import ticks_of
    from rlkit.bench.market_making_engine import recording

    path = recording(data)
    rows = []
    if compile_times:
        started = numba_cold_and_warm(COMPILE_SCRIPT)
        rows += [{"case": f"book kernels, {label} Numba cache (fresh process: import + first call)",
                  "seconds": started[label]["seconds"], "M_rows_per_s": ""} for label in ("cold", "warm")]
    with tempfile.TemporaryDirectory() as cache:
        raw = best_of(lambda: load_events(path, cache_dir=cache), 1)
        cached = best_of(lambda: load_events(path, cache_dir=cache), 1)
    table = raw.result
    rows += [{"case": "load from the raw file (parse + validate)", "seconds": raw.best, "M_rows_per_s": ""},
             {"case": "load from the parquet cache", "seconds": cached.best, "M_rows_per_s": ""}]
    n = len(table)
    ticks = ticks_of(table)

    def fresh_book() -> L2Book:
        book = L2Book.for_table(table)
        book.bid[:] = 0.0  # touch the pages outside the timing of the replay itself
        return book

    replay_touch = replay_touch_kernel()
    n_messages = int(np.count_nonzero(table.flags & 1))
    out_bid, out_ask = np.empty(n_messages, np.int64), np.empty(n_messages, np.int64)

    def touch(book: L2Book) -> None:
        replay_touch(book.bid, book.ask, book.over_bid, book.over_ask, book.state, table.kind, table.side, ticks,
                     table.qty, table.flags, out_bid, out_ask)

    # a fresh book per call (warm-up included), built outside the timing: best of the timed replays
    bare_s = best_of(lambda book: book.apply(table), repeats, warmup=1, setup=fresh_book).best
    touch_s = best_of(touch, repeats, warmup=1, setup=lambda: L2Book.for_table(table)).best
    dict_s = best_of(lambda: dict_replay(table.kind, table.side, table.price, table.qty), max(1, repeats // 2)).best
    for case, seconds in ((f"replay, numba book, bare kernel, best of {repeats}", bare_s),
                          (f"replay, numba book + touch after each message, best of {repeats}", touch_s),
                          (f"replay, plain-Python dict book, best of {max(1, repeats // 2)}", dict_s)):
        rows.append({"case": case, "seconds": seconds, "M_rows_per_s": n / seconds / 1e6})
    result = write_table(out_dir, rows, notes=(
        f"# market_data: load and replay of the market-making data layer, one core ({machine_description()})\n\n"
        f"data: `{path.name}`, {n:,} rows ({n_messages:,} messages)."))
    print(markdown_table(result))

