"""crypto-rl-style snapshot CSV: one row per fixed interval (1 s in the paper) with the book's top
levels relative to the midpoint and the interval's market-order volume (header row; plain or gzip).

Columns read (others, e.g. ``*_cancel_notional_i``, ``*_limit_notional_i``, ``*_market_notional_i``,
are listed in ``report.counts["ignored_columns"]``):

==================================  =============================================================
``system_time``                     ISO-8601 time (UTC unless it has an offset) or ns since epoch
``midpoint``                        mid price
``buys``, ``sells``                 notional (price x qty) of buyer- and seller-initiated market
                                    orders in the interval ending at this row (optional)
``bids_distance_i``, ``asks_``...   level i's distance to the mid, ``price / midpoint - 1``
                                    (sign ignored: bids below, asks above), i = 0, 1, ...
``bids_notional_i``, ``asks_``...   level i's notional ``price x qty``
==================================  =============================================================

The singular prefixes ``bid_``/``ask_`` are accepted too. Each row becomes CLEAR + SNAPSHOT rows
(prices rounded to ``tick_size``, qty = notional / price; empty levels, notional 0, are left out),
after non-zero ``buys``/``sells`` as TRADE rows with the AGGREGATE flag at the previous row's best
ask (buys, side +1) and best bid (sells, side -1), qty = notional / price. Two levels of one side
rounding to the same tick are a :class:`CorruptFileError` (the tick is too coarse).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from envs.market_making.data.errors import CorruptFileError, LoadReport
from envs.market_making.data.events import (AGGREGATE, ASK, BID, CLEAR, SNAPSHOT, TRADE,
                                            EventBuilder, EventTable, infer_tick_size)
from envs.market_making.data.textio import numeric_column, read_csv_frame
from envs.market_making.data.checks import validate

LEVEL = re.compile(r"^(bids?|asks?)_(distance|notional)_(\d+)$")


def load_cryptorl(path: str | Path, *, strict: bool = True, tick_size: float | None = None,
                  symbol: str = "") -> EventTable:
    import pandas as pd

    path = str(path)
    frame = read_csv_frame(path, header=True)
    for name in ("system_time", "midpoint"):
        if name not in frame.columns:
            raise CorruptFileError(path, 1, f"missing column {name!r}; a crypto-rl snapshot file has "
                                   "system_time, midpoint, bids_distance_0, bids_notional_0, ...")
    levels: dict[tuple[int, str], dict[int, str]] = {}
    used = {"system_time", "midpoint", "buys", "sells"}
    for name in frame.columns:
        m = LEVEL.match(name)
        if m:
            side = BID if m[1].startswith("bid") else ASK
            levels.setdefault((side, m[2]), {})[int(m[3])] = name
            used.add(name)
    depth = len(levels.get((BID, "distance"), {}))
    for key in ((BID, "distance"), (BID, "notional"), (ASK, "distance"), (ASK, "notional")):
        if len(levels.get(key, {})) != depth or depth == 0 or sorted(levels[key]) != list(range(depth)):
            raise CorruptFileError(path, 1, "needs bids_/asks_ distance_i and notional_i columns for the "
                                   f"same levels i = 0..N-1; found {sorted(c for c in used if LEVEL.match(c))}")
    raw_time = frame["system_time"]
    try:
        if pd.api.types.is_integer_dtype(raw_time.dtype):
            time = raw_time.to_numpy(np.int64)
        else:
            stamps = pd.to_datetime(raw_time, utc=True, format="ISO8601").dt.as_unit("ns")
            time = stamps.dt.tz_localize(None).to_numpy().astype(np.int64)
    except (ValueError, TypeError) as error:
        raise CorruptFileError(path, 0, f"system_time does not parse as ISO-8601 or ns: {error}") from None

    def numbers(name: str) -> np.ndarray:
        return numeric_column(frame, path, name)

    mid = numbers("midpoint")
    dist = {s: np.stack([np.abs(numbers(levels[(s, "distance")][i])) for i in range(depth)], 1) for s in (BID, ASK)}
    notional = {s: np.stack([numbers(levels[(s, "notional")][i]) for i in range(depth)], 1) for s in (BID, ASK)}
    price = {BID: mid[:, None] * (1 - dist[BID]), ASK: mid[:, None] * (1 + dist[ASK])}
    tick = tick_size or infer_tick_size(np.round(np.concatenate([price[BID].ravel(), price[ASK].ravel()]), 8))
    for s in (BID, ASK):
        price[s] = np.rint(price[s] / tick) * tick
    buys = numbers("buys") if "buys" in frame.columns else np.zeros(len(frame))
    sells = numbers("sells") if "sells" in frame.columns else np.zeros(len(frame))

    report, events = LoadReport(), EventBuilder()
    report.counts["snapshots"] = len(frame)
    ignored = [c for c in frame.columns if c not in used]
    report.counts["ignored_columns"] = len(ignored)
    previous_best = None
    for r in range(len(frame)):
        line, t = r + 2, int(time[r])
        best = {s: price[s][r, 0] for s in (BID, ASK)}
        touch = previous_best or best
        for notional_traded, side, at in ((buys[r], 1, touch[ASK]), (sells[r], -1, touch[BID])):
            if notional_traded > 0:
                events.add(t, -1, TRADE, side, float(at), float(notional_traded / at), -1, -1,
                           AGGREGATE, 0, line)
                events.end_message()
        events.add(t, -1, CLEAR, 0, 0.0, 0.0, -1, -1, 0, 0, line)
        for s in (BID, ASK):
            shown = notional[s][r] > 0
            p, q = price[s][r][shown], notional[s][r][shown] / price[s][r][shown]
            if len(np.unique(p)) != len(p):
                raise CorruptFileError(path, line, f"two {'bid' if s == BID else 'ask'} levels round "
                                       f"to the same price on tick {tick:g}: pass a finer tick_size")
            for pi, qi in zip(p, q):
                events.add(t, -1, SNAPSHOT, s, float(pi), float(qi), -1, -1, 0, 0, line)
        events.end_message()
        previous_best = best
    table = events.build(sources=[path], symbol=symbol,
                         tick_size=tick, report=report)
    return validate(table, strict=strict)
