"""The Cont-Stoikov-Talreja generator: seeded, multi-day, never crossed, plausible statistics."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from envs.market_making.data import (BOOK, CLEAR, END, SYNTHETIC, TRADE, L2Book, split_days,
                                     synthetic_events, train_test_days, validate)


@pytest.fixture(scope="module")
def table():
    return synthetic_events(3, seed=7, start="2024-03-01", session_seconds=600)


def touch_path(table):
    book = L2Book.for_table(table)
    ends = np.flatnonzero(table.flags & END)
    bid, ask = np.empty(len(ends)), np.empty(len(ends))
    start = 0
    for i, end in enumerate(ends):
        book.apply(table, start, end + 1)
        start = end + 1
        bid[i], ask[i] = book.best_bid, book.best_ask
    return ends, bid, ask


def test_seeded(table):
    again = synthetic_events(3, seed=7, start="2024-03-01", session_seconds=600)
    for name, column in table.columns().items():
        np.testing.assert_array_equal(getattr(again, name), column)
    other = synthetic_events(3, seed=8, start="2024-03-01", session_seconds=600)
    assert len(other) != len(table) or not np.array_equal(other.price, table.price)


def test_days_sessions_and_format(table):
    assert table.dates() == [dt.date(2024, 3, d) for d in (1, 2, 3)]
    days = split_days(table)
    assert list(days) == table.dates()
    for day in days.values():
        assert day.kind[0] == CLEAR  # each session opens with its own snapshot: nothing prepended
        assert (day.time[-1] - day.time[0]) < 600e9
    assert np.all(table.flags & SYNTHETIC) and np.all(table.file == -1)
    assert np.all(np.diff(table.time) >= 0)
    ends = np.flatnonzero(table.flags & END)
    assert np.all(np.diff(table.first_id[ends]) == 1)  # contiguous update ids, one per message
    validate(table)  # sizes, time order, never crossed after a message
    train, test = train_test_days(days, test=1)
    assert test == [dt.date(2024, 3, 3)] and len(train) == 2


def test_plausible_statistics(table):
    ends, bid, ask = touch_path(table)
    assert not np.isnan(bid).any() and not np.isnan(ask).any()
    spread_ticks = (ask - bid) / table.tick_size
    assert spread_ticks.min() >= 1 and np.median(spread_ticks) == 1 and np.mean(spread_ticks <= 3) > 0.95
    events_per_second = len(ends) / (3 * 600)
    assert 100 < events_per_second < 400
    trades = table.kind == TRADE
    assert 0.02 < np.count_nonzero(trades) / len(ends) < 0.2
    # trades happen at the touch they hit: a buy at the ask before it, a sell at the bid
    mid = (bid + ask) / 2
    one_minute = np.searchsorted(table.time[ends], table.time[0] + np.arange(1, 10) * 60e9)
    returns = np.diff(np.log(mid[one_minute]))
    assert 1e-5 < returns.std() < 5e-3  # per minute: BTC-like, about 0.03 %-0.3 %
    assert np.all(table.qty[table.kind == BOOK] >= 0) and np.all(table.qty[trades] > 0)


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="session must end by midnight"):
        synthetic_events(1, session_start=86_000, session_seconds=600)
    with pytest.raises(TypeError):
        synthetic_events(1, no_such_parameter=1)
