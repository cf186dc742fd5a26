"""LOBSTER: after every message the replayed book's visible levels equal the order-book file's row
(the independent check the format gives for free), and messages that disagree with it are reported."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from envs.market_making.data import (END, HIDDEN, SAMPLES, TRADE, BookMismatchError,
                                     CorruptFileError, L2Book, load_lobster)

SAMPLE = SAMPLES["lobster"]


def check_against_orderbook_file(message_path: Path, levels: int):
    table = load_lobster(message_path)
    rows = np.loadtxt(str(message_path).replace("_message_", "_orderbook_"), delimiter=",")
    messages = np.loadtxt(message_path, delimiter=",")
    book = L2Book.for_table(table)
    ends = np.flatnonzero(table.flags & END)
    # at most one END per message, in file order (a message with no visible effect has no rows)
    assert np.all(np.diff(table.line[ends]) > 0) and len(messages) == len(rows)
    assert np.all(np.diff(table.line) >= 0)
    start = 0
    for k, row in enumerate(rows):
        stop = int(np.searchsorted(table.line, k + 1, side="right"))
        assert stop == start or table.flags[stop - 1] & END
        book.apply(table, start, stop)
        start = stop
        bid_p, bid_q, ask_p, ask_q = book.levels(levels)
        expected = row.reshape(levels, 4)
        shown_ask = expected[:, 0] < 9_999_999_999
        shown_bid = expected[:, 2] > -9_999_999_999
        np.testing.assert_allclose(ask_p[shown_ask] * 10_000, expected[shown_ask, 0], err_msg=f"row {k + 1}")
        np.testing.assert_array_equal(ask_q[shown_ask], expected[shown_ask, 1])
        np.testing.assert_allclose(bid_p[shown_bid] * 10_000, expected[shown_bid, 2], err_msg=f"row {k + 1}")
        np.testing.assert_array_equal(bid_q[shown_bid], expected[shown_bid, 3])
    trades = table.kind == TRADE
    executions = np.isin(messages[:, 1], (4, 5))
    assert trades.sum() == executions.sum()
    # the aggressor is the opposite of the executed limit order's direction
    np.testing.assert_array_equal(table.side[trades], -messages[executions, 5])
    assert ((table.flags[trades] & HIDDEN) > 0).sum() == (messages[:, 1] == 5).sum()
    return table


def test_top_of_book_after_each_message_equals_the_orderbook_file():
    table = check_against_orderbook_file(SAMPLE, 10)
    assert table.symbol == "MSFT" and table.tick_size == 0.01
    # 2012-06-21 is summer time in New York: 36000 s after midnight is 14:00 UTC
    first = np.datetime64(int(table.time[0]), "ns")
    assert str(first).startswith("2012-06-21T13:59:59.95")
    assert table.report.counts["messages"] == 300


def test_a_message_that_disagrees_with_the_orderbook_file(tmp_path):
    for source in (SAMPLE, Path(str(SAMPLE).replace("_message_", "_orderbook_"))):
        shutil.copy(source, tmp_path / source.name)
    path = tmp_path / SAMPLE.name
    lines = path.read_text().splitlines()
    fields = lines[2].split(",")  # message 3: a delete of 200 shares
    assert fields[1] == "3"
    fields[3] = "100"
    lines[2] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(BookMismatchError, match=rf"{path.name}:3: delete of 100 at 30.87 on the bid "
                                                r"should change that level by -100, .* by -200"):
        load_lobster(path)
    table = load_lobster(path, strict=False)
    assert table.report.repairs["book_mismatch"] == 1


def test_corrupt_or_mismatched_files(tmp_path):
    for source in (SAMPLE, Path(str(SAMPLE).replace("_message_", "_orderbook_"))):
        shutil.copy(source, tmp_path / source.name)
    path = tmp_path / SAMPLE.name
    good = path.read_text()
    lines = good.splitlines()
    lines[9] = lines[9].replace(",1,", ",x,", 1) if ",1," in lines[9] else "36000.1,x,1,1,1,1"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CorruptFileError, match=rf"{path.name}:10: column 2 is not a number"):
        load_lobster(path)
    path.write_text("\n".join(good.splitlines()[:-5]) + "\n")
    with pytest.raises(CorruptFileError, match=r"296 rows .*295 messages|300 order-book rows for 295 messages"):
        load_lobster(path)
    bad_name = tmp_path / "msft.csv"
    shutil.copy(SAMPLE, bad_name)
    with pytest.raises(CorruptFileError, match=r"msft\.csv: a LOBSTER message file is named"):
        load_lobster(bad_name)
