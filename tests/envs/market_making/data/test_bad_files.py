"""Data files the env cannot replay are refused with the file, the line where there is one, and why:
an empty file, one without order-book data, prices and quantities out of range for the tick size."""

from __future__ import annotations

import gzip

import gymnasium as gym
import pytest

import envs  # noqa: F401  registers rlkit/MarketMaking-v0
from envs.market_making.data import SAMPLES, DataError, load_events


def binance_lines(n: int = 200) -> list[str]:
    with gzip.open(SAMPLES["binance"], "rt") as f:
        return [next(f).rstrip("\n") for _ in range(n)]


def test_an_empty_file_is_refused_with_its_path(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    with pytest.raises(DataError, match=r"empty\.jsonl: the file holds no events"):
        load_events(path, cache=False)
    with pytest.raises(DataError, match="the file holds no events"):  # the env, not an IndexError
        gym.make("rlkit/MarketMaking-v0", data=str(path))


def test_a_file_of_only_book_ticker_lines_is_refused_naming_them(tmp_path):
    path = tmp_path / "ticker.jsonl"
    path.write_text("\n".join(line for line in binance_lines() if "bookTicker" in line) + "\n")
    with pytest.raises(DataError, match=r"ticker\.jsonl: the file holds no events \(skipped: \{'bookTicker'"):
        gym.make("rlkit/MarketMaking-v0", data=str(path))


def test_trades_without_a_book_are_refused(tmp_path):
    with pytest.raises(DataError, match="no order-book data .* only trades"):
        load_events(SAMPLES["tardis_trades"], cache=False)


@pytest.mark.parametrize("price, qty, problem", [
    ("1e17", "1.0", r"price 1e\+17 .* allowed: 0 < price < 2\*\*53 ticks of 0\.01"),
    ("61840.00", "1e300", r"price 61840\.0 and quantity 1e\+300; .* quantities up to 1e\+15"),
])
def test_a_level_out_of_range_for_the_tick_size_is_refused_with_file_and_line(tmp_path, price, qty, problem):
    lines = binance_lines()
    row = next(i for i, line in enumerate(lines) if i > 3 and "depthUpdate" in line and '"a":[["' in line)
    lines[row] = lines[row].replace('"a":[["', f'"a":[["{price}","{qty}"],["', 1)
    path = tmp_path / "huge.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"huge\.jsonl:{row + 1}: level with {problem}"):
        load_events(path, cache=False)
    with pytest.raises(DataError, match=rf"huge\.jsonl:{row + 1}:"):  # through the cache as well
        gym.make("rlkit/MarketMaking-v0", data=str(path))


def test_a_parquet_table_is_checked_as_a_loaded_file(tmp_path):
    from envs.market_making.data import write_table

    table = load_events(SAMPLES["binance"], cache=False)
    table.price[5] = 1e17
    write_table(table, tmp_path / "t.parquet")
    with pytest.raises(DataError, match=r"level with price 1e\+17"):
        load_events(tmp_path / "t.parquet")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match=r"junk\.parquet: not an event table written by rlkit"):
        load_events(tmp_path / "junk.parquet")
