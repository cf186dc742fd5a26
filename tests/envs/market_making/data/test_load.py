"""data=<file, folder or glob>, format detection, the parquet cache, day and train/test splits."""

from __future__ import annotations

import datetime as dt
import os
import shutil

import numpy as np
import pytest

from envs.market_making.data import (CLEAR, SAMPLES, SAMPLES_DIR, SYNTHETIC, DataError, EventTable,
                                     L2Book, UnknownFormatError, detect_format, load_events,
                                     read_table, resolve_paths, split_days, synthetic_events,
                                     train_test_days, write_table)


def test_detect_and_resolve():
    assert {k: detect_format(p) for k, p in SAMPLES.items()} == {
        "binance": "binance", "lobster": "lobster", "tardis_book": "tardis_book",
        "tardis_trades": "tardis_trades", "cryptorl": "cryptorl"}
    folder = resolve_paths(SAMPLES_DIR)
    assert len(folder) == 5 and not any("_orderbook_" in p.name for p in folder)
    assert resolve_paths(str(SAMPLES_DIR / "tardis_*.csv")) == sorted(
        [SAMPLES["tardis_book"], SAMPLES["tardis_trades"]])


def test_user_mistakes_name_what_is_allowed(tmp_path):
    with pytest.raises(DataError, match="no such file, folder or glob match"):
        load_events(tmp_path / "missing.jsonl.gz")
    with pytest.raises(DataError, match="the pattern matches no file"):
        load_events(str(tmp_path / "*.csv"))
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(UnknownFormatError, match=r"x\.csv:1: unknown CSV header 'a,b'; allowed: tardis"):
        load_events(tmp_path / "x.csv")
    with pytest.raises(DataError, match="several symbols"):
        load_events([SAMPLES["lobster"], SAMPLES["tardis_trades"]], cache=False)


def test_parquet_cache_round_trip(tmp_path):
    cache = tmp_path / "cache"
    source = tmp_path / SAMPLES["tardis_book"].name
    shutil.copy(SAMPLES["tardis_book"], source)
    first = load_events(source, cache_dir=cache)
    entries = list(cache.iterdir())
    assert len(entries) == 1 and entries[0].suffix == ".parquet"  # no temporary file left behind
    again = load_events(source, cache_dir=cache)
    for name, column in first.columns().items():
        np.testing.assert_array_equal(getattr(again, name), column)
        assert getattr(again, name).dtype == column.dtype and getattr(again, name).flags.c_contiguous
    assert again.sources == first.sources and again.tick_size == first.tick_size
    assert again.report.counts == first.report.counts
    # a touched source misses the cache: a second entry
    os.utime(source, ns=(1, 1))
    load_events(source, cache_dir=cache)
    assert len(list(cache.iterdir())) == 2
    # a damaged entry is ignored and rewritten
    for entry in cache.iterdir():
        entry.write_bytes(b"not parquet")
    assert len(load_events(source, cache_dir=cache)) == len(first)


def test_write_and_read_a_table(tmp_path):
    table = synthetic_events(1, session_seconds=30, seed=1)
    path = write_table(table, tmp_path / "synthetic.parquet")
    back = load_events(path)
    assert isinstance(back, EventTable) and len(back) == len(table)
    np.testing.assert_array_equal(back.price, table.price)
    assert read_table(path).symbol == "SYNTH-USD"


def test_split_days_makes_each_day_replayable():
    table = load_events([SAMPLES["tardis_book"], SAMPLES["tardis_trades"]], cache=False)
    days = split_days(table)
    assert list(days) == [dt.date(2024, 8, 8), dt.date(2024, 8, 9)]
    second = days[dt.date(2024, 8, 9)]
    assert second.kind[0] == CLEAR and np.all(second.flags[: 11] & SYNTHETIC)
    # replaying day 2 alone gives the same book as replaying everything
    whole, alone = L2Book.for_table(table), L2Book.for_table(second)
    whole.apply(table)
    alone.apply(second)
    assert whole.to_dicts() == alone.to_dicts()
    assert sum(len(d) for d in days.values()) == len(table) + 11


def test_train_test_days():
    dates = [dt.date(2020, 1, d) for d in range(1, 11)]
    assert train_test_days(dates, test=3) == (dates[:7], dates[7:])
    assert train_test_days(dates, test=0.25) == (dates[:7], dates[7:])
    assert train_test_days(dates, test=2, train=3) == (dates[5:8], dates[8:])
    assert train_test_days(dates, test=[dates[4]]) == (dates[:4], [dates[4]])
    with pytest.raises(ValueError, match="leaves no train or no test day"):
        train_test_days(dates[:1], test=1)
