"""Replay throughput of the data layer: ``python -m envs.market_making.data.benchmark [data]``.

Default data: the full Binance recording of ../shared/data/lob when present, else the shipped
minute. Prints, on one core:

- load time from the raw file and from the parquet cache;
- Numba compile time cold (fresh cache folder, in a subprocess) and with the on-disk cache;
- replay into the book, rows per second: the bare kernel (:func:`~.book.apply_rows`), the kernel
  recording the touch after every message, and a plain-Python dict book for comparison.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

FULL = Path(__file__).resolve().parents[4] / "shared" / "data" / "lob" / "binance_spot_btcusdt_20240808.jsonl.gz"


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


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


COMPILE_SNIPPET = """
import time, numpy as np
t = time.perf_counter()
from envs.market_making.data.book import L2Book
from envs.market_making.data.events import EventTable, COLUMNS
cols = {n: np.zeros(3, d) for n, d in COLUMNS.items()}
cols["price"][:] = 1.0; cols["qty"][:] = 1.0; cols["side"][:] = 1
table = EventTable(cols, tick_size=0.01)
book = L2Book.for_table(table); book.apply(table)
print(time.perf_counter() - t)
"""


def compile_seconds(cache_dir: str) -> float:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    out = subprocess.run([sys.executable, "-c", COMPILE_SNIPPET], env=env, capture_output=True,
                         text=True, check=True, cwd=Path(__file__).resolve().parents[3])
    return float(out.stdout.strip().splitlines()[-1])


def main(data: str | None = None, repeats: int = 5) -> None:
    import numpy as np

    from envs.market_making.data import SAMPLES, L2Book, load_events
    from envs.market_making.data.book import ticks_of

    path = Path(data) if data else (FULL if FULL.exists() else SAMPLES["binance"])
    with tempfile.TemporaryDirectory() as tmp:
        cold = compile_seconds(tmp)
        warm = compile_seconds(tmp)
        start = time.perf_counter()
        table = load_events(path, cache_dir=tmp)
        raw = time.perf_counter() - start
        start = time.perf_counter()
        load_events(path, cache_dir=tmp)
        cached = time.perf_counter() - start
    print(f"data: {path} -> {table}")
    print(f"load: {raw:.2f} s from the raw file (parse + validate), {cached:.3f} s from the parquet cache")
    print(f"numba compile of the book kernels: {cold:.2f} s cold, {warm:.2f} s with the on-disk cache "
          "(import + first call, in a fresh process)")
    n = len(table)
    ticks = ticks_of(table)

    def bare():
        book = L2Book.for_table(table)
        book.bid[:] = 0.0  # touch the pages outside the timing of the replay itself
        start = time.perf_counter()
        book.apply(table)
        return time.perf_counter() - start

    bare()
    bare_s = min(bare() for _ in range(repeats))
    replay_touch = replay_touch_kernel()
    n_messages = int(np.count_nonzero(table.flags & 1))
    out_bid, out_ask = np.empty(n_messages, np.int64), np.empty(n_messages, np.int64)

    def touch():
        book = L2Book.for_table(table)
        start = time.perf_counter()
        replay_touch(book.bid, book.ask, book.over_bid, book.over_ask, book.state, table.kind,
                     table.side, ticks, table.qty, table.flags, out_bid, out_ask)
        return time.perf_counter() - start

    touch()
    touch_s = min(touch() for _ in range(repeats))
    dict_s = best_of(lambda: dict_replay(table.kind, table.side, table.price, table.qty), max(1, repeats // 2))
    print(f"replay of {n:,} rows ({n_messages:,} messages) on one core, best of {repeats}:")
    print(f"  numba book, bare kernel:             {n / bare_s / 1e6:6.1f} M rows/s ({bare_s * 1e3:.1f} ms)")
    print(f"  numba book + touch after each message: {n / touch_s / 1e6:4.1f} M rows/s ({touch_s * 1e3:.1f} ms)")
    print(f"  plain-Python dict book:              {n / dict_s / 1e6:6.1f} M rows/s ({dict_s * 1e3:.1f} ms)")


if __name__ == "__main__":
    main(*sys.argv[1:2])
