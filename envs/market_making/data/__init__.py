"""Limit-order-book data for market making: one canonical event format and everything around it.

- :class:`EventTable` (:mod:`.events`): the columnar format every loader emits; the column table
  is in :mod:`.events`.
- :func:`load_events` (:mod:`.load`): ``data=<file, folder or glob>`` in any supported format
  (Binance stream recordings, LOBSTER, tardis incremental_book_L2 + trades, crypto-rl snapshots,
  our parquet), validated and cached as parquet; :func:`split_days` and :func:`train_test_days`.
- :class:`L2Book` (:mod:`.book`): the Numba price-level book for replay; its kernels are plain
  functions a compiled fill engine can call.
- :func:`synthetic_events` (:mod:`.synthetic`): seeded Cont-Stoikov-Talreja order flow.
- :mod:`.errors`: :class:`DataError` and its kinds (file:line messages), :class:`LoadReport`.
- :data:`SAMPLES`: the small files shipped for tests and examples (a real Binance minute with its
  MIT licence, a LOBSTER slice with its BSD licence, tardis and crypto-rl fixtures).

Importing this package does not import numba; the book, the generator and the loaders load it on
first use.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from envs.market_making.data.errors import (BookMismatchError, CorruptFileError, CrossedBookError,
                                            DataError, LoadReport, NegativeSizeError,
                                            OutOfOrderError, UnknownFormatError, UpdateIdGapError)
from envs.market_making.data.events import (AGGREGATE, ASK, BID, BOOK, BUY, CLEAR, COLUMNS, END,
                                            HIDDEN, REPAIRED, SELL, SNAPSHOT, SYNTHETIC, TRADE,
                                            EventTable)

SAMPLES_DIR = Path(__file__).parent / "samples"
SAMPLES = {
    "binance": SAMPLES_DIR / "binance_spot_btcusdt_20240808_first60s.jsonl.gz",
    "lobster": SAMPLES_DIR / "lobster_MSFT_2012-06-21_34200000_37800000_message_10.csv",
    "tardis_book": SAMPLES_DIR / "tardis_binance_BTCUSDT_incremental_book_L2_2024-08-08.csv",
    "tardis_trades": SAMPLES_DIR / "tardis_binance_BTCUSDT_trades_2024-08-08.csv",
    "cryptorl": SAMPLES_DIR / "cryptorl_coinbase_BTC-USD_2020-01-04.csv",
}

_LAZY = {
    "load_events": "envs.market_making.data.load",
    "load_file": "envs.market_making.data.load",
    "resolve_paths": "envs.market_making.data.load",
    "detect_format": "envs.market_making.data.load",
    "split_days": "envs.market_making.data.load",
    "train_test_days": "envs.market_making.data.load",
    "write_table": "envs.market_making.data.cache",
    "read_table": "envs.market_making.data.cache",
    "default_cache_dir": "envs.market_making.data.cache",
    "L2Book": "envs.market_making.data.book",
    "validate": "envs.market_making.data.checks",
    "synthetic_events": "envs.market_making.data.synthetic",
    "CSTParams": "envs.market_making.data.synthetic",
    "load_binance": "envs.market_making.data.binance",
    "load_lobster": "envs.market_making.data.lobster",
    "load_tardis_book": "envs.market_making.data.tardis",
    "load_tardis_trades": "envs.market_making.data.tardis",
    "load_cryptorl": "envs.market_making.data.cryptorl",
}

__all__ = [
    "AGGREGATE", "ASK", "BID", "BOOK", "BUY", "CLEAR", "COLUMNS", "END", "HIDDEN", "REPAIRED", "SELL",
    "SNAPSHOT", "SYNTHETIC", "TRADE", "EventTable", "LoadReport", "DataError", "CorruptFileError",
    "UnknownFormatError", "UpdateIdGapError", "OutOfOrderError", "CrossedBookError",
    "NegativeSizeError", "BookMismatchError", "SAMPLES", "SAMPLES_DIR", *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'envs.market_making.data' has no attribute {name!r}")
