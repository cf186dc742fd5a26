"""Suite ``market_making_replay``: our compiled replay core against hftbacktest, side by side.

One process, one recording (``data=``, a file; default: the Binance BTCUSDT spot minute shipped in
``envs/market_making/data/samples``), four cases timed interleaved
(one run of each per repeat, medians reported), every timing warm (compilation excluded):

==============================  ===============================================================
case                            what runs
==============================  ===============================================================
bare replay                     every row through the book(s), no orders. rlkit:
                                ``Engine(clock="none")``, reset + advance to the end.
                                hftbacktest: ``elapse(1 s)`` until the data ends.
re-quote touch every 100 ms     a compiled loop that, every 100 ms of data time, quotes one bid
                                at the best bid and one ask at the best ask (0.001 BTC, post-only,
                                10 ms order entry latency): an order already resting at the
                                touch is kept (its queue place too), one at another price is
                                cancelled and a new one posted, a filled one is re-posted.
                                rlkit: the kernel of :mod:`rlkit.bench.market_making_engine`
                                (conservative and probabilistic queues). hftbacktest: the same
                                policy written against its API (risk-averse and power-probability
                                queue models, partial-fill exchange, 10 ms entry and 10 ms
                                response latency).
==============================  ===============================================================

Rows: both sides replay the same rows, our canonical :class:`EventTable` of the recording, one
hftbacktest event per table row (converted in memory by :func:`hftbacktest_events`, flagged for
both its exchange and its local processor), so rows/s = ``len(table) / seconds`` on both sides.
(hftbacktest keeps two books, the exchange's and the local one, and applies each row to both; our
engine keeps one.) Also reported: compile time per side in fresh processes (cold: an empty Numba
cache; warm: the cache the cold run left), hftbacktest's set-up (building the backtest from the
array, not timed in the rows/s), and two agreement checks: the final book of the bare replays
(level by level) and the fill counts of the 100 ms loops (see the notes written with the table).

hftbacktest is optional (``pip install hftbacktest``); without it its rows say ``not run``.
hftbacktest's loops cannot be cached on disk by Numba (they call its ctypes functions), so they
compile in every process; ours load from the on-disk cache.

Why the fills of the two 100 ms loops differ although the policy is the same (the final books, by
contrast, agree level by level):

- *Fill counts* count partial fills on both sides, but the fill rules differ. A trade printed
  through our price fills hftbacktest's order entirely (its partial-fill exchange), ours only by
  that trade's volume (the level was swept by that much), so we record more, smaller fills; a
  trade at our price, after the queue ahead is used up, and a touch that crosses our order fill
  alike on both sides.
- *Clocks*: our engine keeps one book on local receive time; hftbacktest matches against an
  exchange-side book on ``exch_ts`` (here the recorded exchange time shifted to a zero minimum
  feed latency; the ``zero`` conversion removes that difference) and learns of fills after its
  response latency (10 ms) where our loop knows at once. Decision times: ours fire at the first
  message at or after each 100 ms grid time from the warm-up's end, hftbacktest's every 100 ms
  from the first row.
- *Queue models*: risk-averse and conservative treat trades and level decreases alike (the queue
  ahead shrinks by trades at our price and never exceeds the level). The probabilistic models
  differ in which side of us a cancellation is put: hftbacktest moves the queue ahead by
  ``f(front) / (f(front) + f(back))`` of it, ``envs.market_making.queues`` by
  ``f(back) / (f(back) + f(front))`` (both with the floor of what cannot be behind us).
- hftbacktest rounds quantities to the lot size (1e-5 BTC); unsided trades (none on Binance) reach
  none of its orders and every order of ours.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rlkit.bench.market_making_engine import recording
from rlkit.bench.report import bar_plot, machine_description, write_table
from rlkit.bench.timing import best_of, interleaved, numba_cold_and_warm

os.environ.setdefault("OMP_NUM_THREADS", "1")

DT_NS = 100_000_000          # decision interval: 100 ms of data time
LATENCY_NS = 10_000_000      # order entry latency (hftbacktest: also the response latency)
ORDER_QTY = 0.001            # BTC per quote
QUEUE_POWER = 2.0            # f(x) = x**2 in both probabilistic queue models
LOT_SIZE = 1e-5              # Binance BTCUSDT spot lot size (hftbacktest rounds quantities to it)
BARE_STEP_NS = 1_000_000_000  # hftbacktest bare replay: elapse in 1 s steps
PIP_LINE = "pip install --no-deps hftbacktest==2.4.4"  # --no-deps: its numpy<2.3 pin is not needed by its core


def hftbacktest_version() -> str | None:
    """The installed hftbacktest's version, or None when it cannot be imported."""
    try:
        import hftbacktest
    except Exception:  # not installed, or broken against this numpy/numba
        return None
    return str(getattr(hftbacktest, "__version__", "?"))


# -- conversion ---------------------------------------------------------------------------------
def hftbacktest_events(table, feed_latency: str = "recorded") -> np.ndarray:
    """Our canonical :class:`EventTable` as an hftbacktest event array, one event per row.

    ``kind`` BOOK / SNAPSHOT / TRADE / CLEAR become its depth / depth-snapshot / trade /
    depth-clear events; ``side`` +1 / -1 its buy / sell flag (bid / ask for levels, the aggressor
    for trades; an unsided trade gets neither and hftbacktest's exchange ignores it); every row is
    flagged for both processors (exchange and local). ``local_ts`` is our ``time``. ``exch_ts``:

    - ``recorded``: the exchange's timestamps (Binance ``E`` / ``T``, ms), moved by one constant so
      that the smallest feed latency is 0 (the recorder's clock ran about 1.27 s behind Binance's),
      made non-decreasing in row order (trade ``T`` and depth ``E`` interleave) and never after
      ``local_ts``; rows without one (the REST snapshot) take the previous row's (the first: its
      ``local_ts``);
    - ``zero``: ``local_ts`` (no feed latency: the exchange's book is the local one, as in our
      single-clock engine).
    """
    import hftbacktest as hbt

    from envs.market_making.data.events import BOOK, CLEAR, SNAPSHOT, TRADE

    kind, side = table.kind, table.side
    if np.any((kind == CLEAR) & (side != 0)):
        raise ValueError("one-sided CLEAR rows are not converted (hftbacktest clears a side up to a price)")
    codes = np.zeros(len(table), np.uint64)
    for ours, theirs in ((BOOK, hbt.DEPTH_EVENT), (SNAPSHOT, hbt.DEPTH_SNAPSHOT_EVENT),
                         (TRADE, hbt.TRADE_EVENT), (CLEAR, hbt.DEPTH_CLEAR_EVENT)):
        codes[kind == ours] = theirs
    if np.any(~np.isin(kind, [BOOK, SNAPSHOT, TRADE, CLEAR])):
        raise ValueError(f"unknown kind codes {sorted(set(np.unique(kind)) - {BOOK, SNAPSHOT, TRADE, CLEAR})}")
    codes[side > 0] |= np.uint64(hbt.BUY_EVENT)
    codes[side < 0] |= np.uint64(hbt.SELL_EVENT)
    codes |= np.uint64(hbt.EXCH_EVENT) | np.uint64(hbt.LOCAL_EVENT)

    local = table.time.astype(np.int64)
    if feed_latency == "zero":
        exch = local.copy()
    elif feed_latency == "recorded":
        has = table.exch_time >= 0
        exch = np.full(len(table), np.iinfo(np.int64).min, np.int64)
        if has.any():
            offset = int((local[has] - table.exch_time[has]).min())
            exch[has] = table.exch_time[has] + offset
        exch = np.maximum.accumulate(exch)
        exch = np.where(exch == np.iinfo(np.int64).min, local, exch)
        exch = np.minimum(exch, local)
    else:
        raise ValueError(f"feed_latency must be 'recorded' or 'zero', got {feed_latency!r}")

    events = np.zeros(len(table), hbt.event_dtype)
    events["ev"] = codes
    events["exch_ts"] = exch
    events["local_ts"] = local
    events["px"] = np.where(kind == CLEAR, 0.0, table.price)
    events["qty"] = table.qty
    return events


# -- hftbacktest kernels ------------------------------------------------------------------------
_KERNELS: dict[str, Any] = {}


def _hbt_kernels() -> dict[str, Any]:
    """The compiled hftbacktest loops, built once per process. Numba cannot cache them on disk (they
    call hftbacktest's ctypes functions: "dynamic globals"), so they compile in every process."""
    if _KERNELS:
        return _KERNELS
    from hftbacktest import BUY, CANCELED, GTX, LIMIT, NEW
    from hftbacktest.order import PARTIALLY_FILLED
    from numba import njit

    @njit
    def bare(hbt, step_ns):
        steps = 0
        while hbt.elapse(step_ns) == 0:
            steps += 1
        return steps

    @njit
    def quote_touch(hbt, dt_ns, qty, tick_size):
        """Every ``dt_ns``: keep or (re)post one bid at the best bid and one ask at the best ask;
        cancel our orders resting elsewhere. Returns (decisions, orders submitted)."""
        decisions = 0
        submitted = 0
        next_id = 1
        while hbt.elapse(dt_ns) == 0:
            decisions += 1
            hbt.clear_inactive_orders(0)
            depth = hbt.depth(0)
            bb = depth.best_bid_tick
            ba = depth.best_ask_tick
            if bb >= ba:  # an empty side reads as INVALID_MIN / INVALID_MAX
                continue
            have_bid = False
            have_ask = False
            values = hbt.orders(0).values()
            while values.has_next():
                order = values.get()
                target = bb if order.side == BUY else ba
                if order.price_tick == target:
                    alive = (order.req == NEW or ((order.status == NEW or order.status == PARTIALLY_FILLED)
                                                  and order.req != CANCELED))
                    if alive:
                        if order.side == BUY:
                            have_bid = True
                        else:
                            have_ask = True
                        continue
                if order.cancellable:
                    hbt.cancel(0, order.order_id, False)
            if not have_bid:
                hbt.submit_buy_order(0, next_id, bb * tick_size, qty, GTX, LIMIT, False)
                next_id += 1
                submitted += 1
            if not have_ask:
                hbt.submit_sell_order(0, next_id, ba * tick_size, qty, GTX, LIMIT, False)
                next_id += 1
                submitted += 1
        return decisions, submitted

    @njit
    def fills(hbt):
        values = hbt.state_values(0)
        return values.num_trades, values.trading_volume, values.position

    @njit
    def final_book(hbt):
        depth = hbt.depth(0)
        snap = depth.snapshot()
        out = snap.copy()
        depth.snapshot_free(snap)
        return out

    _KERNELS.update(bare=bare, quote_touch=quote_touch, fills=fills, final_book=final_book)
    return _KERNELS


def _hbt_backtest(events: np.ndarray, tick_size: float, queue: str | None):
    """A fresh hftbacktest backtest over ``events`` (``queue``: None, ``risk_averse`` or
    ``power_prob``)."""
    import hftbacktest as hbt

    asset = (hbt.BacktestAsset().data(events).linear_asset(1.0)
             .constant_order_latency(LATENCY_NS, LATENCY_NS)
             .tick_size(tick_size).lot_size(LOT_SIZE)
             .trading_value_fee_model(0.0, 0.0).partial_fill_exchange().last_trades_capacity(0)
             .parallel_load(False))
    if queue == "power_prob":
        asset = asset.power_prob_queue_model(QUEUE_POWER)
    else:
        asset = asset.risk_adverse_queue_model()
    return hbt.HashMapMarketDepthBacktest([asset])


def _hbt_run(events: np.ndarray, tick_size: float, queue: str | None) -> dict[str, Any]:
    kernels = _hbt_kernels()
    start = time.perf_counter()
    backtest = _hbt_backtest(events, tick_size, queue)
    setup = time.perf_counter() - start
    start = time.perf_counter()
    if queue is None:
        kernels["bare"](backtest, BARE_STEP_NS)
        decisions, submitted = 0, 0
    else:
        decisions, submitted = kernels["quote_touch"](backtest, DT_NS, ORDER_QTY, tick_size)
    seconds = time.perf_counter() - start
    trades, volume, position = kernels["fills"](backtest)
    result = {"seconds": seconds, "setup": setup, "decisions": int(decisions), "submitted": int(submitted),
              "fills": int(trades), "fill_qty": float(volume), "position": float(position)}
    if queue is None:
        result["book"] = kernels["final_book"](backtest)
    backtest.close()
    return result


# -- our kernels ----------------------------------------------------------------------------------
def _ours_run(table, queue: str | None) -> dict[str, Any]:
    from rlkit.bench.market_making_engine import compiled_replay
    from envs.market_making.engine import Engine

    if queue is None:
        engine = Engine(table, clock="none")
        start = time.perf_counter()
        engine.reset()
        engine.advance()
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "decisions": 0, "fills": 0, "fill_qty": 0.0, "position": 0.0,
                "book": engine.book.to_dicts()}
    engine = Engine(table, clock="time", dt_ns=DT_NS, latency_ns=LATENCY_NS, queue=queue,
                    queue_power=QUEUE_POWER)
    start = time.perf_counter()
    _, decisions = compiled_replay(engine, True)
    seconds = time.perf_counter() - start
    account = engine.accounts()
    return {"seconds": seconds, "decisions": int(decisions), "fills": int(account["maker_fills"]),
            "fill_qty": account["maker_qty"], "position": account["position"],
            "rejected": int(account["rejected"])}


# (label, engine, queue argument, queue name in the table)
CASES = [
    ("bare replay", "hftbacktest", None, "-"),
    ("bare replay", "rlkit", None, "-"),
    ("re-quote touch every 100 ms", "hftbacktest", "risk_averse", "risk-averse"),
    ("re-quote touch every 100 ms", "rlkit", "conservative", "conservative"),
    ("re-quote touch every 100 ms", "hftbacktest", "power_prob", f"power-prob (x^{QUEUE_POWER:g})"),
    ("re-quote touch every 100 ms", "rlkit", "probabilistic", f"probabilistic (x^{QUEUE_POWER:g})"),
]


# -- compile time in fresh processes --------------------------------------------------------------
_COMPILE_SCRIPT = r"""
import json, sys
from envs.market_making.data import load_events
from rlkit.bench import market_making_replay as m
from rlkit.bench.timing import first_and_warm
table = load_events(sys.argv[1])
out = {}
def compile_time(name, fn):
    first, warm = first_and_warm(fn)
    out[name] = first - warm
compile_time("rlkit", lambda: (m._ours_run(table, None), m._ours_run(table, "conservative"),
                               m._ours_run(table, "probabilistic")))
if m.hftbacktest_version():
    events = m.hftbacktest_events(table)
    compile_time("hftbacktest", lambda: (m._hbt_run(events, table.tick_size, None),
                                         m._hbt_run(events, table.tick_size, "risk_averse"),
                                         m._hbt_run(events, table.tick_size, "power_prob")))
print(json.dumps(out))
"""


def compile_seconds() -> dict[str, dict[str, float]]:
    """{"cold": {side: s}, "warm": {side: s}}: first call minus second call of all of a side's
    kernels in a fresh process, with an empty Numba cache, then with the cache that run left."""
    from envs.market_making.data import SAMPLES

    return numba_cold_and_warm(_COMPILE_SCRIPT, [str(SAMPLES["binance"])])


# -- checks -----------------------------------------------------------------------------------------
def compare_books(ours: tuple[dict, dict], theirs: np.ndarray, tick_size: float) -> dict[str, Any]:
    """Level-by-level comparison of our final book with hftbacktest's depth snapshot."""
    import hftbacktest as hbt

    buy = (theirs["ev"] & np.uint64(hbt.BUY_EVENT)) != 0
    sides = []
    for mine, mask in ((ours[0], buy), (ours[1], ~buy)):
        other = {int(round(px / tick_size)): float(q) for px, q in zip(theirs["px"][mask], theirs["qty"][mask])
                 if q > 0}
        same_keys = set(mine) == set(other)
        worst = max((abs(mine[t] - other[t]) for t in set(mine) & set(other)), default=0.0)
        sides.append((len(mine), len(other), same_keys, worst))
    equal = all(s[2] and s[3] < 0.5 * LOT_SIZE for s in sides)
    return {"ours": (sides[0][0], sides[1][0]), "theirs": (sides[0][1], sides[1][1]), "equal": equal,
            "max_qty_diff": max(s[3] for s in sides)}


# -- the suite --------------------------------------------------------------------------------------
def run(out_dir: Path, data: str = "", repeats: int = 5, compile_times: bool = True) -> None:
    """Time the four cases interleaved ``repeats`` times on ``data`` (a recording file; default: the
    shipped Binance minute); write results.csv/.md, checks.csv/.md and ``replay.png``."""
    from envs.market_making.data import load_events

    out_dir = Path(out_dir)
    path = recording(data)
    table = load_events(path)
    n = len(table)
    version = hftbacktest_version()
    have_hbt = version is not None
    missing = f"not run: hftbacktest not installed ({PIP_LINE})"
    events = hftbacktest_events(table) if have_hbt else None

    def case_run(case: tuple) -> Callable[[], dict[str, Any]]:
        _, engine, queue, _ = case
        if engine == "hftbacktest":
            return lambda: _hbt_run(events, table.tick_size, queue)
        return lambda: _ours_run(table, queue)

    calls = {case: case_run(case) for case in CASES if case[1] != "hftbacktest" or have_hbt}
    # warm-up: compile (or load from cache) every kernel; first-call times kept for the table
    first_call = {case: best_of(call, 1).best for case, call in calls.items()}
    # each run times its own replay (and hftbacktest's setup apart): the results, not the Timing's times
    runs: dict[tuple, list[dict]] = {case: [] for case in CASES}
    runs.update({case: timing.results for case, timing in interleaved(calls, repeats).items()})

    rows, labels, values = [], [], []
    for case in CASES:
        label, engine, queue, name = case
        row = {"case": label, "engine": engine, "queue": name, "rows": n, "repeats": len(runs[case])}
        if not runs[case]:
            row.update(median_ms="", M_rows_per_s="", runs_ms="", first_call_s="", setup_ms="", decisions="",
                       fills="", fill_qty="", status=missing)
        else:
            seconds = statistics.median(r["seconds"] for r in runs[case])
            last = runs[case][-1]
            row.update(median_ms=seconds * 1e3, M_rows_per_s=n / seconds / 1e6,
                       runs_ms=" ".join(f"{r['seconds'] * 1e3:.1f}" for r in runs[case]),
                       first_call_s=first_call[case],
                       setup_ms=(statistics.median(r["setup"] for r in runs[case]) * 1e3
                                 if engine == "hftbacktest" else ""),
                       decisions=last["decisions"], fills=last["fills"], fill_qty=last["fill_qty"],
                       status="ok" if engine == "rlkit" else f"ok (hftbacktest {version})")
            labels.append(f"{engine}\n{label.replace('re-quote touch every 100 ms', '100 ms loop')}"
                          + (f"\n{name.split(' ')[0]}" if queue else ""))
            values.append(n / seconds / 1e6)
        rows.append(row)

    compile_note = "compile times not measured (compile_times=False)"
    if compile_times:
        compiled = compile_seconds()
        for engine in ("rlkit", "hftbacktest"):
            for label in ("cold", "warm"):
                seconds = compiled[label].get(engine)
                rows.append({"case": f"compile ({label} Numba cache), all three kernels", "engine": engine,
                             "queue": "-", "rows": "", "repeats": 1,
                             "median_ms": "" if seconds is None else seconds * 1e3,
                             "M_rows_per_s": "", "runs_ms": "", "first_call_s": "", "setup_ms": "",
                             "decisions": "", "fills": "", "fill_qty": "",
                             "status": "ok" if seconds is not None else missing})
        compile_note = ("compile rows: first call minus second call of the side's three kernels on the "
                        "shipped minute, in a fresh process with an empty Numba cache (cold) and then with "
                        "the cache it left (warm); median_ms holds that time")

    # agreement checks
    ours_book = runs[CASES[1]][-1]["book"]
    checks = [{"check": "final book after the bare replay (bid / ask levels)",
               "rlkit": f"{len(ours_book[0])} / {len(ours_book[1])}", "hftbacktest": missing, "agree": "",
               "detail": ""}]
    zero = hftbacktest_events(table, "zero") if have_hbt else None
    if have_hbt:
        book = compare_books(ours_book, runs[CASES[0]][-1]["book"], table.tick_size)
        checks[0].update(hftbacktest="%d / %d" % book["theirs"], agree="yes" if book["equal"] else "no",
                         detail=f"level by level: same prices {'and' if book['equal'] else 'or'} quantities "
                                f"(max difference {book['max_qty_diff']:.3g})")
    for ours_case, their_case in ((CASES[3], CASES[2]), (CASES[5], CASES[4])):
        mine = runs[ours_case][-1]
        check = {"check": f"100 ms loop fills: rlkit {ours_case[3]} vs hftbacktest {their_case[3]}",
                 "rlkit": f"{mine['fills']} fills, {mine['fill_qty']:.4f} BTC, {mine['decisions']} decisions",
                 "hftbacktest": missing, "agree": "", "detail": ""}
        if have_hbt:
            recorded = runs[their_case][-1]
            local = _hbt_run(zero, table.tick_size, their_case[2])
            check["hftbacktest"] = (f"{recorded['fills']} fills, {recorded['fill_qty']:.4f} BTC, "
                                    f"{recorded['decisions']} decisions (recorded feed latency); "
                                    f"{local['fills']} fills, {local['fill_qty']:.4f} BTC (zero feed latency)")
            ratios = [mine["fill_qty"] / r["fill_qty"] if r["fill_qty"] else math.nan for r in (recorded, local)]
            check["agree"] = "filled qty ratio rlkit/hftbacktest " + " / ".join(f"{x:.2f}" for x in ratios)
            check["detail"] = ("fill counts count partial fills; see the module docstring of "
                               "rlkit.bench.market_making_replay for why the models differ")
        checks.append(check)

    notes = (
        f"# market_making_replay: rlkit's compiled replay core vs hftbacktest "
        f"({machine_description()}; hftbacktest {version or 'not installed'})\n\n"
        f"data: `{path.name}` — {n:,} rows ({table!r}).\n\n"
        "Rows: one hftbacktest event per row of our canonical table (flagged for its exchange and local "
        "processors), so both sides replay the same rows; M_rows_per_s = rows / median seconds. "
        f"Warm timings (every kernel called once before timing), {repeats} interleaved repeats, median; "
        "first_call_s: the first call in this process (compilation or cache load); setup_ms: building "
        "hftbacktest's backtest from the array (not in its rows/s). "
        f"Loops: every {DT_NS // 1_000_000} ms of data time one bid at the best bid and one ask at the best "
        f"ask, {ORDER_QTY} BTC, post-only, {LATENCY_NS // 1_000_000} ms entry latency; a quote at an "
        "unchanged touch keeps its queue place. "
        f"{compile_note}.\n\nAgreement checks: checks.md."
    )
    write_table(out_dir, rows, notes=notes)
    write_table(out_dir, checks, name="checks",
                notes="# agreement checks (fills: the last timed run; hftbacktest also with zero feed latency)")
    bar_plot(out_dir / "replay.png", labels or ["rlkit"], values or [0.0], "M rows/s (median, warm)",
             f"Replay throughput, {n:,} rows, 1 thread")
