"""The Numba L2 book against a plain dict book under random updates, far levels and window moves."""

from __future__ import annotations

import numpy as np

from envs.market_making.data import ASK, BID, BOOK, CLEAR, COLUMNS, END, EventTable, L2Book


def random_table(seed: int, n: int = 4000, spread_walk: int = 3000) -> EventTable:
    """Random level updates around a drifting mid, a few far outliers and clears."""
    rng = np.random.default_rng(seed)
    mid = 100_000 + np.cumsum(rng.integers(-3, 4, n)) * (spread_walk // 1000)
    side = rng.choice([BID, ASK], n)
    distance = rng.geometric(0.2, n)
    ticks = np.where(side == BID, mid - distance, mid + distance)
    far = rng.random(n) < 0.02
    ticks[far] = np.where(side[far] == BID, 10, 10_000_000)
    qty = np.where(rng.random(n) < 0.3, 0.0, rng.integers(1, 100, n) / 10)
    kind = np.where(rng.random(n) < 0.002, CLEAR, BOOK)
    columns = {name: np.zeros(n, dtype) for name, dtype in COLUMNS.items()}
    columns.update(time=np.arange(n), kind=kind, side=np.where(kind == CLEAR, 0, side),
                   price=ticks * 0.5, qty=qty, flags=np.full(n, END))
    return EventTable(columns, tick_size=0.5)


def dict_replay(table: EventTable, stop: int):
    bids, asks = {}, {}
    for r in range(stop):
        if table.kind[r] == CLEAR:
            bids.clear(), asks.clear()
            continue
        book = bids if table.side[r] == BID else asks
        tick = int(round(table.price[r] / 0.5))
        if table.qty[r] > 0:
            book[tick] = float(table.qty[r])
        else:
            book.pop(tick, None)
    return bids, asks


def test_matches_a_dict_book_with_a_small_window():
    table = random_table(0)
    book = L2Book(99_000, 512, 0.5)  # a window much narrower than the walk: it has to move
    start = 0
    for stop in range(0, len(table) + 1, 97):
        book.apply(table, start, stop)
        start = stop
        bids, asks = dict_replay(table, stop)
        assert book.to_dicts() == (bids, asks)
        assert book.n_levels == (len(bids), len(asks))
        if bids:
            assert book.best_bid == max(bids) * 0.5
        if asks:
            assert book.best_ask == min(asks) * 0.5
        assert np.isnan(book.best_bid) == (not bids) and np.isnan(book.best_ask) == (not asks)
    assert book.recentres > 0


def test_levels_and_touch():
    book = L2Book(0, 100, 0.01)
    for price, qty in ((0.50, 1.0), (0.49, 2.0), (0.45, 3.0)):
        book.set(BID, price, qty)
    for price, qty in ((0.52, 4.0), (0.60, 5.0)):
        book.set(ASK, price, qty)
    bid_p, bid_q, ask_p, ask_q = book.levels(3)
    np.testing.assert_allclose(bid_p, [0.50, 0.49, 0.45])
    np.testing.assert_allclose(ask_p[:2], [0.52, 0.60])
    assert np.isnan(ask_p[2]) and ask_q[2] == 0
    book.set(BID, 0.50, 0.0)
    assert book.best_bid == 0.49 and book.best_bid_qty == 2.0
    book.set(ASK, 0.52, 0.0)
    book.set(ASK, 0.60, 0.0)
    assert np.isnan(book.best_ask) and book.n_levels == (2, 0)
    copy = book.copy()
    book.clear()
    assert book.n_levels == (0, 0) and copy.n_levels == (2, 0)
