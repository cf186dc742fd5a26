"""Binance stream loader: counts and book on the shipped real minute, the sync rule, and every data
problem reported by file and line."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from envs.market_making.data import (BOOK, CLEAR, END, SAMPLES, SNAPSHOT, TRADE,
                                     CorruptFileError, CrossedBookError, L2Book,
                                     NegativeSizeError, OutOfOrderError, UpdateIdGapError,
                                     load_binance)

SAMPLE = SAMPLES["binance"]


def independent_replay(path, stop_line=None):
    """A plain-dict replay written from the Binance docs, sharing no code with the loader: returns
    counts and the book ({price string: qty}) after ``stop_line``."""
    counts = {"depth": 0, "trade": 0, "ticker": 0, "levels": 0, "dropped": 0}
    bids, asks, last, buffered = {}, {}, None, []

    def apply(data):
        nonlocal last
        if data["u"] <= last:
            counts["dropped"] += len(data["b"]) + len(data["a"])
            return
        last = data["u"]
        for book, levels in ((bids, data["b"]), (asks, data["a"])):
            for p, q in levels:
                counts["levels"] += 1
                if float(q) == 0:
                    book.pop(p, None)
                else:
                    book[p] = float(q)

    with gzip.open(path, "rt") as f:
        for number, text in enumerate(f, 1):
            if stop_line and number > stop_line:
                break
            msg = json.loads(text.split(" ", 1)[1])
            if "lastUpdateId" in msg:
                last = msg["lastUpdateId"]
                bids = {p: float(q) for p, q in msg["bids"]}
                asks = {p: float(q) for p, q in msg["asks"]}
                for data in buffered:  # the docs: buffer the stream, then apply what is newer
                    apply(data)
                buffered = []
                continue
            data = msg["data"]
            if msg["stream"].endswith("@trade"):
                counts["trade"] += 1
            elif "depth" in msg["stream"]:
                counts["depth"] += 1
                if last is None:
                    buffered.append(data)
                else:
                    apply(data)
            else:
                counts["ticker"] += 1
    return counts, bids, asks


@pytest.fixture(scope="module")
def table():
    return load_binance(SAMPLE)


def test_counts_match_an_independent_parse(table):
    counts, _, _ = independent_replay(SAMPLE)
    assert counts == {"depth": 599, "trade": 1381, "ticker": 5360, "levels": 20767, "dropped": 17}
    kinds = dict(zip(*np.unique(table.kind, return_counts=True)))
    assert kinds == {BOOK: 20767, TRADE: 1381, SNAPSHOT: 2000, CLEAR: 1}
    assert table.report.counts == {"depthUpdate": 599, "trade": 1381, "bookTicker": 5360, "snapshot": 1}
    assert table.report.skipped == {"bookTicker": 5360, "before_snapshot": 17}
    assert table.symbol == "BTCUSDT" and table.tick_size == 0.01
    assert np.all(np.diff(table.time) >= 0)


def test_columns_follow_the_format(table):
    trades = table.kind == TRADE
    assert set(np.unique(table.side[trades])) == {-1, 1}
    assert np.all(table.exch_time[trades] > 0) and np.all(table.first_id[trades] == table.last_id[trades])
    assert np.all(table.exch_time[table.kind == SNAPSHOT] == -1)
    depth = table.kind == BOOK
    assert np.all(table.first_id[depth] <= table.last_id[depth])
    # ids of consecutive depth messages are contiguous after the snapshot
    ends = np.flatnonzero(depth & (table.flags & END > 0))
    assert np.all(table.first_id[ends][1:] == table.last_id[ends][:-1] + 1)
    assert table.first_id[ends][0] <= table.first_id[table.kind == SNAPSHOT][0] + 1 <= table.last_id[ends][0]
    assert table.where(0).startswith(str(SAMPLE)) and table.line.min() >= 1


@pytest.mark.parametrize("stop_line", [200, 2500, None])
def test_book_equals_a_plain_dict_replay(table, stop_line):
    _, bids, asks = independent_replay(SAMPLE, stop_line)
    rows = len(table) if stop_line is None else int(np.searchsorted(table.line, stop_line, side="right"))
    book = L2Book.for_table(table)
    book.apply(table, 0, rows)
    got_bids, got_asks = book.to_dicts()
    assert got_bids == {round(float(p) * 100): q for p, q in bids.items()}
    assert got_asks == {round(float(p) * 100): q for p, q in asks.items()}
    assert book.best_bid == max(float(p) for p in bids) and book.best_ask == min(float(p) for p in asks)
    assert not book.crossed


# -- data problems, each in a small hand-written recording -----------------------------------
T0 = 1_723_161_254_000_000_000


def snapshot(last_id, bids=(("100.00", "1"), ("99.99", "2")), asks=(("100.01", "1"), ("100.02", "3"))):
    return {"lastUpdateId": last_id, "bids": [list(b) for b in bids], "asks": [list(a) for a in asks]}


def depth(first, last, bids=(), asks=(), event_ms=1_723_161_254_000):
    return {"stream": "x@depth@100ms", "data": {"e": "depthUpdate", "E": event_ms, "s": "XUSDT",
                                                 "U": first, "u": last, "b": [list(b) for b in bids],
                                                 "a": [list(a) for a in asks]}}


def trade(trade_id, price="100.00", qty="0.5", maker=True):
    return {"stream": "x@trade", "data": {"e": "trade", "E": 1, "s": "XUSDT", "t": trade_id, "p": price,
                                           "q": qty, "T": 1_723_161_254_001, "m": maker, "M": True}}


def write(path, messages, times=None, gz=True):
    lines = [f"{(times[i] if times else T0 + i * 1000)} {json.dumps(m)}\n" for i, m in enumerate(messages)]
    opener = gzip.open if gz else open
    with opener(path, "wt") as f:
        f.writelines(lines)
    return path


def good_stream():
    return [depth(5, 9, bids=[("99.98", "1")]), snapshot(10), depth(9, 11, bids=[("100.00", "1.5")]),
            trade(1), depth(12, 12, asks=[("100.01", "0")]), depth(13, 15, bids=[("99.99", "0")])]


def test_sync_rule_on_a_small_stream(tmp_path):
    table = load_binance(write(tmp_path / "ok.jsonl.gz", good_stream()))
    assert table.report.skipped["before_snapshot"] == 1
    book = L2Book.for_table(table)
    book.apply(table)
    assert book.to_dicts() == ({10000: 1.5}, {10002: 3.0})
    assert table.side[table.kind == TRADE].tolist() == [-1]  # buyer is maker: the aggressor sold


def test_update_before_the_snapshot_but_newer_is_applied_after_it(tmp_path):
    stream = [depth(9, 11, bids=[("100.00", "4")]), snapshot(10), depth(12, 12, asks=[("100.02", "1")])]
    table = load_binance(write(tmp_path / "early.jsonl.gz", stream))
    book = L2Book.for_table(table)
    book.apply(table)
    assert book.to_dicts() == ({10000: 4.0, 9999: 2.0}, {10001: 1.0, 10002: 1.0})
    assert np.all(np.diff(table.time) >= 0)


def test_update_id_gap_is_an_error_naming_file_and_line(tmp_path):
    stream = good_stream()
    stream[4] = depth(13, 13, asks=[("100.01", "0")])  # ids 12 lost
    path = write(tmp_path / "gap.jsonl.gz", stream)
    with pytest.raises(UpdateIdGapError, match=rf"gap\.jsonl\.gz:5: update id gap: U=13, expected .* 12"):
        load_binance(path)
    table = load_binance(path, strict=False)
    assert table.report.repairs["update_id_gap"] == 1
    assert table.report.skipped["update_id_gap"] == 2  # both rows of lines 5 and 6, until a snapshot
    assert "gap.jsonl.gz:5" in table.report.problems[0]


def test_a_first_update_that_does_not_straddle_the_snapshot_is_a_gap(tmp_path):
    stream = [snapshot(10), depth(13, 14, bids=[("99.00", "1")])]
    with pytest.raises(UpdateIdGapError, match=r"first\.jsonl\.gz:2: .*U <= 11 <= u"):
        load_binance(write(tmp_path / "first.jsonl.gz", stream))


def test_a_gap_recovers_at_the_next_snapshot_when_not_strict(tmp_path):
    stream = [snapshot(10), depth(11, 11, bids=[("99.00", "1")]), depth(20, 21, bids=[("98.00", "1")]),
              snapshot(30, bids=[("100.00", "7")]), depth(31, 31, asks=[("100.05", "2")])]
    table = load_binance(write(tmp_path / "resync.jsonl.gz", stream), strict=False)
    book = L2Book.for_table(table)
    book.apply(table)
    assert book.to_dicts() == ({10000: 7.0}, {10001: 1.0, 10002: 3.0, 10005: 2.0})
    assert table.report.repairs["update_id_gap"] == 1


def test_out_of_order_time(tmp_path):
    times = [T0 + i * 1000 for i in range(6)]
    times[3] = T0  # the trade on line 4 goes back in time
    path = write(tmp_path / "order.jsonl.gz", good_stream(), times)
    with pytest.raises(OutOfOrderError, match=r"order\.jsonl\.gz:4: time .* is earlier than"):
        load_binance(path)
    table = load_binance(path, strict=False)
    assert table.report.repairs["out_of_order"] == 1 and np.all(np.diff(table.time) >= 0)


def test_negative_size(tmp_path):
    stream = good_stream()
    stream[2] = depth(9, 11, bids=[("100.00", "-1.5")])
    path = write(tmp_path / "neg.jsonl.gz", stream)
    with pytest.raises(NegativeSizeError, match=r"neg\.jsonl\.gz:3: level with price 100.0 and quantity -1.5"):
        load_binance(path)
    table = load_binance(path, strict=False)
    assert table.report.repairs["negative_size"] == 1 and table.report.skipped["negative_size"] == 1


def test_crossed_book(tmp_path):
    stream = good_stream()
    stream[5] = depth(13, 15, bids=[("100.05", "1")])  # bids above the asks at 100.02 (stale)
    path = write(tmp_path / "cross.jsonl.gz", stream)
    with pytest.raises(CrossedBookError,
                       match=r"cross\.jsonl\.gz:6: book crossed .*best bid 100.05 >= best ask 100.02"):
        load_binance(path)
    table = load_binance(path, strict=False)
    assert table.report.repairs["crossed_book"] == 1
    book = L2Book.for_table(table)
    book.apply(table)
    assert not book.crossed and book.best_bid == 100.05 and np.isnan(book.best_ask)


def test_truncated_gzip_names_the_file_and_line(tmp_path):
    stream = [snapshot(10)] + [depth(11 + i, 11 + i, bids=[("99.50", str(i + 1))]) for i in range(3000)]
    path = write(tmp_path / "whole.jsonl.gz", stream)
    data = path.read_bytes()
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(CorruptFileError, match=r"cut\.jsonl\.gz:\d+: (file is truncated|expected)"):
        load_binance(cut)


def test_corrupt_json_line(tmp_path):
    path = write(tmp_path / "bad.jsonl", good_stream(), gz=False)
    lines = path.read_text().splitlines(keepends=True)
    lines[3] = lines[3][:40] + "\n"
    path.write_text("".join(lines))
    with pytest.raises(CorruptFileError, match=r"bad\.jsonl:4: expected '<local time ns> <JSON>'"):
        load_binance(path)


def test_a_message_missing_a_field(tmp_path):
    stream = good_stream()
    del stream[3]["data"]["p"]
    with pytest.raises(CorruptFileError, match=r"field\.jsonl\.gz:4: malformed message \(KeyError"):
        load_binance(write(tmp_path / "field.jsonl.gz", stream))


def test_no_snapshot(tmp_path):
    stream = [depth(1, 2, bids=[("1.00", "1")]), depth(3, 4, asks=[("2.00", "1")])]
    path = write(tmp_path / "nosnap.jsonl.gz", stream)
    with pytest.raises(UpdateIdGapError, match=r"nosnap\.jsonl\.gz:1: 2 depth updates and no REST snapshot"):
        load_binance(path)
    assert load_binance(path, strict=False).report.skipped["no_snapshot"] == 2
