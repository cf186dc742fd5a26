"""Seeded synthetic order flow: the Cont-Stoikov-Talreja (2010) queue model, in the canonical format.

The book lives on a tick grid. With the best bid ``b`` and best ask ``a`` (in ticks), independent
Poisson streams drive it:

- a limit buy order arrives at ``a - i`` (a limit sell at ``b + i``), i = 1..K ticks from the
  *opposite* best, at rate ``lambda_i = rate_scale * k / i**alpha`` (per second); ``i`` smaller
  than the spread improves the touch;
- a market buy (sell) order arrives at rate ``rate_scale * mu`` and walks the asks (bids) from the
  best;
- each resting order at distance i from the opposite best is cancelled at rate
  ``rate_scale * theta_i`` (the queue's cancellation rate is proportional to its size).

Order sizes are geometric with means ``limit_size`` and ``market_size`` lots of ``lot_size``; a
queue of q lots holds q / limit_size orders. ``k, alpha, mu, theta`` default to the estimates
Cont, Stoikov and Talreja report; price and tick default to a Bitmex-XBTUSD-like market (7,500 USD,
tick 0.5) as in the paper. Each day is a session of ``session_seconds`` from ``session_start``
seconds after UTC midnight; the book carries over between days and each day starts with a CLEAR +
SNAPSHOT of it. Every message (one order) ends with an END row; a market order gives TRADE rows (one
per level hit, side = aggressor) followed by the BOOK rows of the levels it changed. Update ids
count messages, so id checks apply. Rows carry the SYNTHETIC flag and ``file`` -1.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

import numpy as np
from numba import njit

from envs.market_making.data.errors import LoadReport
from envs.market_making.data.events import (BOOK, CLEAR, COLUMNS, END, NS_PER_DAY, SNAPSHOT,
                                            SYNTHETIC, TRADE, EventTable)

CST_THETA = (0.71, 0.81, 0.68, 0.56, 0.47, 0.37, 0.30, 0.26, 0.20, 0.17)


@dataclass
class CSTParams:
    """Parameters of :func:`synthetic_events` (rates per second before ``rate_scale``)."""

    k: float = 1.92
    alpha: float = 0.52
    mu: float = 0.94
    theta: tuple[float, ...] = CST_THETA
    rate_scale: float = 5.0
    limit_size: float = 6.0
    market_size: float = 2.0
    start_price: float = 7500.0
    tick_size: float = 0.5
    lot_size: float = 0.01
    symbol: str = "SYNTH-USD"
    window_ticks: int = 1 << 16

    @property
    def levels(self) -> int:
        return len(self.theta)


def synthetic_events(days: int = 3, *, seed: int = 0, start: str | dt.date = "2024-01-01",
                     session_seconds: float = 3600.0, session_start: float = 0.0,
                     params: CSTParams | None = None, **overrides) -> EventTable:
    """``days`` sessions of Cont-Stoikov-Talreja order flow as an :class:`EventTable`; the same
    arguments and seed give the same table. ``overrides`` set :class:`CSTParams` fields."""
    p = CSTParams(**{**asdict(params or CSTParams()), **overrides})
    if days < 1 or session_seconds <= 0 or not 0 <= session_start < 86_400:
        raise ValueError("need days >= 1, session_seconds > 0 and 0 <= session_start < 86400")
    if session_start + session_seconds > 86_400:
        raise ValueError("a session must end by midnight: session_start + session_seconds <= 86400")
    day0 = dt.date.fromisoformat(start) if isinstance(start, str) else start
    K = p.levels
    i = np.arange(1, K + 1)
    lam = p.rate_scale * p.k / i**p.alpha
    theta = p.rate_scale * np.asarray(p.theta, np.float64)
    n = int(p.window_ticks)
    bid = np.zeros(n, np.int64)
    ask = np.zeros(n, np.int64)
    centre = n // 2
    for j in range(K):  # stationary queue sizes lambda_i / theta_i orders, spread one tick
        bid[centre - 1 - j] = max(1, round(lam[j] / theta[j] * p.limit_size))
        ask[centre + j] = max(1, round(lam[j] / theta[j] * p.limit_size))
    base = np.array([int(round(p.start_price / p.tick_size)) - centre], np.int64)
    rng = np.array([(int(seed) * 0x9E3779B97F4A7C15 + 0x1234567) % 2**64 or 1], np.uint64)
    update_id = np.array([1], np.int64)
    tables = []
    for d in range(days):
        t0 = ((day0 - dt.date(1970, 1, 1)).days + d) * NS_PER_DAY + int(session_start * 1e9)
        t_end = t0 + int(session_seconds * 1e9)
        expected = session_seconds * (2 * lam.sum() + 2 * p.rate_scale * p.mu + 2 * lam.sum())
        capacity = int(expected * 3) + 4 * n // 8 + 10_000
        while True:
            saved = bid.copy(), ask.copy(), base.copy(), rng.copy(), update_id.copy()
            out = {name: np.zeros(capacity, dtype) for name, dtype in
                   (("time", np.int64), ("kind", np.int8), ("side", np.int8), ("tick", np.int64),
                    ("lots", np.int64), ("id", np.int64), ("flags", np.uint8))}
            rows = _simulate(bid, ask, base, rng, update_id, t0, t_end, lam, theta, p.rate_scale * p.mu,
                             p.limit_size, p.market_size, out["time"], out["kind"], out["side"],
                             out["tick"], out["lots"], out["id"], out["flags"])
            if rows >= 0:
                break
            bid, ask, base, rng, update_id = saved  # out of room: run the day again with more
            capacity *= 2
        m = rows
        columns = {
            "time": out["time"][:m], "exch_time": out["time"][:m], "kind": out["kind"][:m],
            "side": out["side"][:m], "price": out["tick"][:m] * p.tick_size,
            "qty": np.round(out["lots"][:m] * p.lot_size, 12), "first_id": out["id"][:m],
            "last_id": out["id"][:m], "flags": out["flags"][:m] | SYNTHETIC,
            "file": np.full(m, -1, np.int16), "line": np.zeros(m, np.int64),
        }
        tables.append(EventTable({k: columns[k] for k in COLUMNS}, symbol=p.symbol, tick_size=p.tick_size))
    table = EventTable.concat(tables, sort=False)
    report = LoadReport()
    report.counts["days"] = days
    report.counts["messages"] = int(np.count_nonzero(table.flags & END))
    table.report = report
    return table


@njit(cache=True)
def _next(rng):
    """xorshift64* uniform in (0, 1)."""
    x = rng[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    rng[0] = x
    return ((x * np.uint64(2685821657736338717)) >> np.uint64(11)) * (1.0 / 9007199254740992.0) + 1e-17


@njit(cache=True)
def _geometric(rng, mean):
    if mean <= 1.0:
        return 1
    return 1 + int(np.log(_next(rng)) / np.log(1.0 - 1.0 / mean))


@njit(cache=True)
def _best(bid, ask):
    b = -1
    for j in range(bid.shape[0] - 1, -1, -1):
        if bid[j] > 0:
            b = j
            break
    a = -1
    for j in range(ask.shape[0]):
        if ask[j] > 0:
            a = j
            break
    return b, a


@njit(cache=True)
def _shift(bid, ask, base, delta):
    """Move the window by ``delta`` ticks (levels falling off the far edge are lost: they are
    thousands of ticks from the touch)."""
    n = bid.shape[0]
    new_bid = np.zeros(n, np.int64)
    new_ask = np.zeros(n, np.int64)
    for j in range(n):
        k = j + delta
        if 0 <= k < n:
            new_bid[j] = bid[k]
            new_ask[j] = ask[k]
    bid[:] = new_bid
    ask[:] = new_ask
    base[0] += delta


@njit(cache=True)
def _simulate(bid, ask, base, rng, update_id, t0, t_end, lam, theta, mu, limit_size, market_size,
              o_time, o_kind, o_side, o_tick, o_lots, o_id, o_flags):
    n = bid.shape[0]
    K = lam.shape[0]
    cap = o_time.shape[0]
    r = 0
    b, a = _best(bid, ask)
    # the day's opening snapshot
    uid = update_id[0]
    o_time[r] = t0; o_kind[r] = CLEAR; o_side[r] = 0; o_tick[r] = 0; o_lots[r] = 0; o_id[r] = uid
    o_flags[r] = 0
    r += 1
    for j in range(n - 1, -1, -1):
        if bid[j] > 0:
            if r >= cap - 1:
                return -1
            o_time[r] = t0; o_kind[r] = SNAPSHOT; o_side[r] = 1; o_tick[r] = j + base[0]
            o_lots[r] = bid[j]; o_id[r] = uid; o_flags[r] = 0
            r += 1
    for j in range(n):
        if ask[j] > 0:
            if r >= cap - 1:
                return -1
            o_time[r] = t0; o_kind[r] = SNAPSHOT; o_side[r] = -1; o_tick[r] = j + base[0]
            o_lots[r] = ask[j]; o_id[r] = uid; o_flags[r] = 0
            r += 1
    o_flags[r - 1] = END
    update_id[0] += 1
    lam_total = lam.sum()
    cancel_bid = np.zeros(K)
    cancel_ask = np.zeros(K)
    t = float(t0)
    last_b, last_a = b, a
    while True:
        ref_b = b if b >= 0 else last_a - 1  # an empty side quotes from where it was
        ref_a = a if a >= 0 else last_b + 1
        if ref_b < 2 * K + 2 or ref_a > n - 2 * K - 3:  # keep the touch away from the window's edges
            delta = (ref_b + ref_a) // 2 - n // 2
            _shift(bid, ask, base, delta)
            b = b - delta if b >= 0 else -1
            a = a - delta if a >= 0 else -1
            ref_b -= delta
            ref_a -= delta
            last_b -= delta
            last_a -= delta
        total_cancel = 0.0
        for i in range(K):
            cancel_bid[i] = theta[i] * bid[ref_a - 1 - i] / limit_size if ref_a - 1 - i >= 0 else 0.0
            cancel_ask[i] = theta[i] * ask[ref_b + 1 + i] / limit_size if ref_b + 1 + i < n else 0.0
            total_cancel += cancel_bid[i] + cancel_ask[i]
        rate = 2.0 * lam_total + 2.0 * mu + total_cancel
        t += -np.log(_next(rng)) / rate * 1e9
        if t >= t_end:
            break
        if r >= cap - 4 * K - 64:
            return -1
        now = np.int64(t)
        added_bid = -1
        added_ask = -1
        uid = update_id[0]
        update_id[0] += 1
        u = _next(rng) * rate
        if u < 2.0 * lam_total:  # a limit order
            side = 1 if u < lam_total else -1
            u = u if side > 0 else u - lam_total
            i = 0
            acc = lam[0]
            while acc < u and i < K - 1:
                i += 1
                acc += lam[i]
            size = _geometric(rng, limit_size)
            if side > 0:
                j = ref_a - 1 - i
                bid[j] += size
                q = bid[j]
                added_bid = j
            else:
                j = ref_b + 1 + i
                ask[j] += size
                q = ask[j]
                added_ask = j
            o_time[r] = now; o_kind[r] = BOOK; o_side[r] = side; o_tick[r] = j + base[0]
            o_lots[r] = q; o_id[r] = uid; o_flags[r] = END
            r += 1
        elif u < 2.0 * lam_total + 2.0 * mu:  # a market order walks the other side
            side = 1 if u < 2.0 * lam_total + mu else -1
            left = _geometric(rng, market_size)
            first = r
            j = a if side > 0 else b
            n_levels = 0
            while left > 0 and 0 <= j < n and n_levels < 4 * K:
                q = ask[j] if side > 0 else bid[j]
                if q > 0:
                    take = min(q, left)
                    left -= take
                    if side > 0:
                        ask[j] -= take
                    else:
                        bid[j] -= take
                    o_time[r] = now; o_kind[r] = TRADE; o_side[r] = side; o_tick[r] = j + base[0]
                    o_lots[r] = take; o_id[r] = uid; o_flags[r] = 0
                    r += 1
                    n_levels += 1
                j += 1 if side > 0 else -1
            trades = r
            for k in range(first, trades):
                j = o_tick[k] - base[0]
                o_time[r] = now; o_kind[r] = BOOK; o_side[r] = -side; o_tick[r] = o_tick[k]
                o_lots[r] = ask[j] if side > 0 else bid[j]; o_id[r] = uid; o_flags[r] = 0
                r += 1
            if r > first:
                o_flags[r - 1] = END
            else:
                update_id[0] -= 1  # an empty side: no message
        else:  # a cancellation, proportional to queue size
            u -= 2.0 * lam_total + 2.0 * mu
            side = 1
            i = 0
            acc = 0.0
            found = False
            for s in range(2):
                for k in range(K):
                    acc += cancel_bid[k] if s == 0 else cancel_ask[k]
                    if acc >= u:
                        side = 1 if s == 0 else -1
                        i = k
                        found = True
                        break
                if found:
                    break
            if not found:
                update_id[0] -= 1
                continue
            j = ref_a - 1 - i if side > 0 else ref_b + 1 + i
            q = bid[j] if side > 0 else ask[j]
            if q <= 0:
                update_id[0] -= 1
                continue
            size = min(q, _geometric(rng, limit_size))
            q -= size
            if side > 0:
                bid[j] = q
            else:
                ask[j] = q
            o_time[r] = now; o_kind[r] = BOOK; o_side[r] = side; o_tick[r] = j + base[0]
            o_lots[r] = q; o_id[r] = uid; o_flags[r] = END
            r += 1
        # the touch after this message: an added level may improve it, an emptied best moves it
        if b >= 0 and bid[b] == 0:
            b = -1
            for j in range(last_b - 1, -1, -1):
                if bid[j] > 0:
                    b = j
                    break
        if a >= 0 and ask[a] == 0:
            a = -1
            for j in range(last_a + 1, n):
                if ask[j] > 0:
                    a = j
                    break
        if added_bid > b:
            b = added_bid
        if added_ask >= 0 and (a < 0 or added_ask < a):
            a = added_ask
        if b >= 0:
            last_b = b
        if a >= 0:
            last_a = a
    return r
