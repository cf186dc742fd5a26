"""tardis incremental_book_L2 + trades and crypto-rl snapshot CSVs on the shipped fixtures."""

from __future__ import annotations

import numpy as np
import pytest

from envs.market_making.data import (AGGREGATE, BOOK, CLEAR, SAMPLES, SNAPSHOT, TRADE,
                                     CorruptFileError, L2Book, UpdateIdGapError, load_cryptorl,
                                     load_events, load_tardis_book, load_tardis_trades)


def final_book(table):
    book = L2Book.for_table(table)
    book.apply(table)
    return book


def test_tardis_book_fixture():
    table = load_tardis_book(SAMPLES["tardis_book"])
    kinds = dict(zip(*np.unique(table.kind, return_counts=True)))
    assert kinds == {CLEAR: 1, SNAPSHOT: 10, BOOK: 12}
    assert table.line[table.kind != CLEAR].tolist() == list(range(2, 24))
    assert table.time[1] == 1_723_161_595_001_200_000 and table.exch_time[1] == 1_723_161_595_000_000_000
    book = final_book(table)
    bids, asks = book.to_dicts()
    assert bids == {6183601: 0.0157, 6183600: 0.54369, 6183550: 1.25}
    assert asks == {6183763: 0.1, 6183765: 0.2, 6183804: 0.1, 6183900: 0.5, 6184000: 2.0, 6184100: 0.75}


def test_tardis_trades_fixture():
    table = load_tardis_trades(SAMPLES["tardis_trades"])
    assert len(table) == 6 and np.all(table.kind == TRADE)
    assert table.side.tolist() == [-1, 1, -1, 1, 1, -1]
    assert table.first_id.tolist() == list(range(3735683259, 3735683265))


def test_tardis_book_and_trades_merge_by_time():
    table = load_events([SAMPLES["tardis_book"], SAMPLES["tardis_trades"]], cache=False)
    assert len(table) == 29 and np.all(np.diff(table.time) >= 0)
    assert len(table.sources) == 2 and set(table.file.tolist()) == {0, 1}


def test_tardis_problems(tmp_path):
    lines = SAMPLES["tardis_book"].read_text().splitlines()
    no_snapshot = tmp_path / "nosnap.csv"
    no_snapshot.write_text("\n".join([lines[0], *lines[11:]]) + "\n")
    with pytest.raises(UpdateIdGapError, match=r"nosnap\.csv:2: 12 update rows before any snapshot"):
        load_tardis_book(no_snapshot)
    bad_side = tmp_path / "side.csv"
    bad_side.write_text("\n".join([*lines[:5], lines[5].replace(",ask,", ",offer,"), *lines[6:]]) + "\n")
    with pytest.raises(CorruptFileError, match=r"side\.csv:6: column 'side' is 'offer'; allowed: \['ask', 'bid'\]"):
        load_tardis_book(bad_side)
    fields = tmp_path / "fields.csv"
    fields.write_text("\n".join([*lines[:7], lines[7] + ",extra", *lines[8:]]) + "\n")
    with pytest.raises(CorruptFileError, match=r"fields\.csv:8: 9 fields, expected 8"):
        load_tardis_book(fields)
    text = tmp_path / "amount.csv"
    text.write_text("\n".join([*lines[:3], lines[3].rsplit(",", 1)[0] + ",lots", *lines[4:]]) + "\n")
    with pytest.raises(CorruptFileError, match=r"amount\.csv:4: column 'amount' is not a number: 'lots'"):
        load_tardis_book(text)


def test_cryptorl_fixture():
    table = load_cryptorl(SAMPLES["cryptorl"])
    kinds = dict(zip(*np.unique(table.kind, return_counts=True)))
    assert kinds == {CLEAR: 6, SNAPSHOT: 36, TRADE: 4}
    assert table.tick_size == 0.01 and table.report.counts["ignored_columns"] == 7
    trades = table.kind == TRADE
    assert np.all(table.flags[trades] & AGGREGATE)
    # the buys of row 3 traded at the previous row's best ask: 0.5 at 7000.01 + 1.0 at 7000.50
    row3 = trades & (table.line == 4)
    assert table.price[row3].tolist() == [7000.01] and table.qty[row3][0] == pytest.approx(1.50007, abs=1e-9)
    book = final_book(table)
    assert book.to_dicts() == ({700000: 0.9, 699950: 2.0, 699900: 0.5},
                               {700001: pytest.approx(0.7), 700051: pytest.approx(0.6), 700100: pytest.approx(2.0)})


def test_cryptorl_missing_levels(tmp_path):
    path = tmp_path / "snap.csv"
    path.write_text("system_time,midpoint,bids_distance_0,bids_notional_0\n2020-01-01,1,0.1,1\n")
    with pytest.raises(CorruptFileError, match=r"snap\.csv:1: needs bids_/asks_ distance_i and notional_i"):
        load_cryptorl(path)
