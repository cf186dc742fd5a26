"""The compiled replay core on hand-built event tables with known answers: fills, queues, clocks,
fees, latency, inventory limit, market orders and the accounting identity."""

from __future__ import annotations

import math

import numpy as np
import pytest

from envs.market_making.accounting import unrealized
from envs.market_making.data import BOOK, CLEAR, COLUMNS, END, SNAPSHOT, TRADE, EventTable, synthetic_events
from envs.market_making.engine import Engine

BUY, SELL, B, A = 1, -1, 1, -1
OPEN = [(0, BOOK, B, 99, 5.0), (0, BOOK, B, 98, 4.0), (0, BOOK, A, 101, 1.0), (0, BOOK, A, 102, 2.0)]


def table(rows, tick_size=1.0) -> EventTable:
    """Rows ``(time, kind, side, price, qty)``, one message each (END on every row)."""
    columns = {name: np.zeros(len(rows), dtype) for name, dtype in COLUMNS.items()}
    for i, (t, kind, side, price, qty) in enumerate(rows):
        for name, value in zip(("time", "kind", "side", "price", "qty"), (t, kind, side, price, qty)):
            columns[name][i] = value
    columns["flags"][:] = END
    return EventTable(columns, tick_size=tick_size)


def run(rows, *, quotes=((0, 99, 2.0),), **kwargs) -> Engine:
    """Open the book, place ``quotes`` (side, tick, qty) and replay the rest to the end."""
    engine = Engine(table(OPEN + rows), clock="none", **kwargs)
    for side, tick, qty in quotes:
        engine.quote(side, tick, qty)
    engine.advance()
    return engine


def test_a_bid_fills_at_its_price_only_after_the_queue_ahead_trades():
    e = run([(1, TRADE, SELL, 99, 3.0), (2, TRADE, SELL, 99, 3.0)])
    assert e.position == pytest.approx(1.0)  # 5 ahead: 3 + 2 consume it, 1 fills us (partial)
    assert e.order(0)["qty"] == pytest.approx(1.0) and e.order(0)["active"]
    assert e.accounts()["cash"] == pytest.approx(-99.0)
    e = run([(1, TRADE, SELL, 99, 3.0), (2, TRADE, SELL, 99, 3.0), (3, TRADE, SELL, 99, 5.0)])
    assert e.position == pytest.approx(2.0) and not e.order(0)["active"]
    assert e.accounts()["maker_fills"] == 2


def test_no_fill_when_the_trade_does_not_reach_the_price():
    e = run([(1, TRADE, SELL, 100, 50.0), (2, TRADE, BUY, 99, 50.0), (3, TRADE, BUY, 101, 50.0)])
    assert e.position == 0.0 and e.order(0)["front"] == 5.0


def test_the_ask_fills_on_buyer_initiated_trades():
    e = run([(1, TRADE, BUY, 101, 1.5)], quotes=((1, 101, 2.0),))
    assert e.position == pytest.approx(-0.5) and e.accounts()["cash"] == pytest.approx(50.5)


def test_latency_delays_activation():
    rows = [(5, TRADE, SELL, 99, 10.0), (20, TRADE, SELL, 99, 10.0)]
    assert run(rows, latency_ns=10).position == pytest.approx(2.0)  # active at 10: the 2nd trade fills
    e = Engine(table(OPEN + rows[:1]), clock="none", latency_ns=10)
    e.quote(0, 99, 2.0)
    assert e.order(0)["pending"] and not e.order(0)["active"]
    e.advance()
    assert e.position == 0.0  # the trade at t=5 came before the quote was live
    assert run(rows, latency_ns=0).position == pytest.approx(2.0)
    assert run(rows[:1], latency_ns=0).position == pytest.approx(2.0)


def test_maker_rebate_and_taker_fee():
    e = run([(1, TRADE, SELL, 99, 7.0)], maker_fee=-0.001, taker_fee=0.002)
    assert e.position == 2.0
    assert e.accounts()["cash"] == pytest.approx(-198.0 + 0.198)
    price = e.market(-1, 2.0)  # sell 2 at the bid: 99
    assert price == 99.0
    assert e.position == 0.0
    assert e.accounts()["cash"] == pytest.approx(0.198 - 0.396)
    assert e.accounts()["realized"] == pytest.approx(0.198 - 0.396)


def test_inventory_limit_clips_fills():
    e = run([(1, TRADE, SELL, 99, 20.0)], inventory_limit=1.5)
    assert e.position == pytest.approx(1.5)


def test_flatten_walks_the_book():
    e = run([(1, TRADE, BUY, 101, 2.0)], quotes=((1, 101, 2.0),), taker_fee=0.01)
    assert e.position == pytest.approx(-1.0)  # 1 ahead at 101
    e.market(-1, 0.0)  # nothing
    e2 = run([(1, TRADE, BUY, 101, 4.0)], quotes=((1, 101, 3.0),), taker_fee=0.01)
    assert e2.position == -3.0
    price = e2.flatten()  # buys 1 at 101 and 2 at 102
    assert price == pytest.approx((101 + 2 * 102) / 3)
    assert e2.position == 0.0 and e2.accounts()["market_orders"] == 1
    assert e2.accounts()["cash"] == pytest.approx(3 * 101 - 305 - 0.01 * 305)
    e3 = run([], quotes=())
    e3.market(1, 10.0)  # more than the book shows: the rest at the worst level reached
    assert e3.accounts()["cash"] == pytest.approx(-(101 + 2 * 102 + 7 * 102))


def test_queue_models_on_cancellations():
    grow_then_cancel = [(1, BOOK, B, 99, 10.0), (2, BOOK, B, 99, 8.0)]  # 5 join behind us, 2 cancel
    fronts = {q: run(grow_then_cancel, queue=q, queue_power=2.0).order(0)["front"]
              for q in ("notional", "conservative", "probabilistic")}
    # probabilistic: front 5, back 5 -> p = 25 / 50 of the 2 cancelled are ahead
    assert fronts == {"notional": 5.0, "conservative": 5.0, "probabilistic": 4.0}
    shrink = [(1, BOOK, B, 99, 3.0)]  # nobody behind: the 2 cancelled were ahead of us
    fronts = {q: run(shrink, queue=q).order(0)["front"] for q in ("notional", "conservative", "probabilistic")}
    assert fronts == {"notional": 5.0, "conservative": 3.0, "probabilistic": 3.0}


def test_probabilistic_queue_puts_cancellations_mostly_on_the_larger_side():
    # 5 ahead of us; 15 join behind, then 4 cancel: p = f(front)/(f(front)+f(back)) = 25/250
    rows = [(1, BOOK, B, 99, 20.0), (2, BOOK, B, 99, 16.0)]
    front = run(rows, queue="probabilistic", queue_power=2.0).order(0)["front"]
    assert front == pytest.approx(5.0 - 4.0 * 25.0 / 250.0)
    # 5 ahead and 1 behind, 2 cancel: at least 1 was ahead (only 1 is behind); p = 25/26
    rows = [(1, BOOK, B, 99, 6.0), (2, BOOK, B, 99, 4.0)]
    front = run(rows, queue="probabilistic", queue_power=2.0).order(0)["front"]
    assert front == pytest.approx(5.0 - 2.0 * 25.0 / 26.0)


def test_trades_at_our_price_are_not_taken_for_cancellations():
    rows = [(1, BOOK, B, 99, 10.0), (2, TRADE, SELL, 99, 2.0), (2, BOOK, B, 99, 8.0)]
    assert run(rows, queue="probabilistic").order(0)["front"] == 3.0


def test_trades_through_the_price():
    rows = [(1, TRADE, SELL, 98, 3.0)]
    notional = run(rows, queue="notional")
    assert notional.position == 0.0 and notional.order(0)["front"] == 2.0  # consumes the queue
    for queue in ("conservative", "probabilistic"):
        assert run(rows, queue=queue).position == 2.0  # the level was swept


def test_an_opposite_quote_crossing_a_resting_order_fills_it():
    e = run([(1, BOOK, A, 99, 1.0)])
    assert e.position == 2.0 and e.accounts()["cash"] == -198.0


def test_post_only_rejects_a_crossing_quote_and_same_price_keeps_the_queue():
    e = run([], quotes=((0, 101, 1.0),))
    assert not e.order(0)["active"] and e.accounts()["rejected"] == 1
    e = run([(1, TRADE, SELL, 99, 3.0)])
    e.quote(0, 99, 2.0)
    assert e.order(0)["front"] == 2.0  # kept
    e.quote(0, 98, 2.0)
    assert e.order(0)["front"] == 4.0 and e.order(0)["tick"] == 98


def test_cancel_removes_the_order():
    e = Engine(table(OPEN + [(1, TRADE, SELL, 99, 50.0)]), clock="none")
    e.quote(0, 99, 2.0)
    e.cancel(0)
    e.advance()
    assert e.position == 0.0 and not e.order(0)["active"]


# -- clocks ----------------------------------------------------------------------------------------
CLOCK_ROWS = OPEN + [(10, BOOK, B, 99, 6.0), (15, BOOK, A, 101, 2.0), (40, BOOK, B, 100, 1.0),
                     (41, TRADE, BUY, 101, 0.5), (42, TRADE, BUY, 101, 0.7), (43, BOOK, A, 101, 0.0),
                     (44, BOOK, B, 97, 1.0), (90, BOOK, B, 97, 2.0)]


def decisions(**kwargs) -> list[tuple[int, int]]:
    e = Engine(table(CLOCK_ROWS), **kwargs)
    out = []
    while e.advance():
        out.append((e.now, e.cursor))
    return out


def test_time_clock():
    # opens at t=0 (cursor 4); grid 0, 20, 40, ...: stops before the first row at or after each
    assert decisions(clock="time", dt_ns=20) == [(20, 6), (40, 6), (60, 11), (80, 11)]


def test_tick_clock():
    assert decisions(clock="tick", every=3) == [(15, 6), (42, 9)]  # rows 3-5, 6-8; 9-11 hit the end


def test_event_clock():
    # mid 100 at the open; 40: bid 100 -> mid 100.5 (+0.5 %); 43: ask 102 -> mid 101 (+0.5 %)
    assert decisions(clock="event", threshold=0.004) == [(40, 7), (43, 10)]
    assert decisions(clock="event", threshold=0.006) == [(43, 10)]


def test_volume_clock():
    assert decisions(clock="volume", volume=1.0) == [(42, 9)]


# -- accounting ------------------------------------------------------------------------------------
def test_accounting_identity_and_flatten_on_synthetic_flow():
    day = synthetic_events(1, seed=3, session_seconds=120)
    e = Engine(day, clock="time", dt_ns=100_000_000, maker_fee=-0.0001, taker_fee=0.0005,
               inventory_limit=0.2, queue="probabilistic", latency_ns=5_000_000)
    rng = np.random.default_rng(0)
    while e.advance():
        bb, ba = e.best_ticks()
        e.quote(0, bb - int(rng.integers(0, 3)), 0.05)
        e.quote(1, ba + int(rng.integers(0, 3)), 0.05)
        a = e.accounts()
        assert a["cash"] + a["position"] * e.mid == pytest.approx(a["realized"] + unrealized(e.account, e.mid),
                                                                  abs=1e-6)
        assert abs(a["position"]) <= 0.2 + 1e-9
    a = e.accounts()
    assert a["maker_fills"] > 10
    e.flatten()
    a = e.accounts()
    assert a["position"] == 0.0 and a["cash"] == pytest.approx(a["realized"], abs=1e-9)
    assert math.isfinite(a["cash"])


def test_snapshots_and_clears_replay():
    rows = OPEN + [(5, CLEAR, 0, 0, 0.0), (5, SNAPSHOT, B, 95, 1.0), (5, SNAPSHOT, A, 96, 1.0)]
    e = Engine(table(rows), clock="none")
    e.advance()
    assert e.best_ticks() == (95, 96)
