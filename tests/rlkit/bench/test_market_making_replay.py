"""Suite ``market_making_replay`` on the shipped Binance minute: table structure, our rows/s, and,
where hftbacktest is installed, the conversion and the agreement of the final books."""

import math

import numpy as np
import pandas as pd
import pytest

from envs.market_making.data import SAMPLES, load_events
from rlkit.bench import market_making_replay as suite

HAVE_HBT = suite.hftbacktest_version() is not None
CASES = [("bare replay", "hftbacktest"), ("bare replay", "rlkit"),
         ("re-quote touch every 100 ms", "hftbacktest"), ("re-quote touch every 100 ms", "rlkit"),
         ("re-quote touch every 100 ms", "hftbacktest"), ("re-quote touch every 100 ms", "rlkit")]


def test_suite_writes_table_checks_and_plot(tmp_path):
    suite.run(tmp_path, data=str(SAMPLES["binance"]), repeats=1, compile_times=False)
    table = pd.read_csv(tmp_path / "results.csv")
    assert list(zip(table["case"], table["engine"])) == CASES
    rows = len(load_events(SAMPLES["binance"]))
    assert (table["rows"] == rows).all()
    ours = table[table["engine"] == "rlkit"]
    assert (ours["M_rows_per_s"] > 0).all() and (ours["status"] == "ok").all()
    assert (ours["decisions"].iloc[1:] > 500).all()  # about 600 decisions of 100 ms in a minute
    theirs = table[table["engine"] == "hftbacktest"]
    if HAVE_HBT:
        assert (theirs["M_rows_per_s"] > 0).all() and theirs["status"].str.startswith("ok").all()
    else:
        assert theirs["M_rows_per_s"].isna().all()
        assert theirs["status"].str.contains("not run: hftbacktest not installed").all()
    markdown = (tmp_path / "results.md").read_text()
    assert "| case | engine |" in markdown and "M_rows_per_s" in markdown
    checks = pd.read_csv(tmp_path / "checks.csv")
    assert checks["check"].iloc[0].startswith("final book")
    if HAVE_HBT:
        assert checks["agree"].iloc[0] == "yes"
    assert (tmp_path / "replay.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(not HAVE_HBT, reason="hftbacktest not installed (optional benchmark dependency)")
def test_conversion_to_hftbacktest_events():
    import hftbacktest as hbt

    table = load_events(SAMPLES["binance"])
    events = suite.hftbacktest_events(table)
    assert len(events) == len(table)
    assert (events["local_ts"] == table.time).all()
    assert (np.diff(events["exch_ts"]) >= 0).all() and (events["exch_ts"] <= events["local_ts"]).all()
    both = np.uint64(hbt.EXCH_EVENT | hbt.LOCAL_EVENT)
    assert ((events["ev"] & both) == both).all()
    kinds = events["ev"] & np.uint64(0xFF)
    assert (kinds == hbt.DEPTH_CLEAR_EVENT).sum() == 1 and (kinds == hbt.DEPTH_SNAPSHOT_EVENT).sum() == 2000
    trades = kinds == hbt.TRADE_EVENT
    sells = (events["ev"] & np.uint64(hbt.SELL_EVENT)) != 0
    assert (sells[trades] == (table.side[trades] < 0)).all()
    zero = suite.hftbacktest_events(table, "zero")
    assert (zero["exch_ts"] == zero["local_ts"]).all()
    assert not math.isnan(float(events["px"][trades][0]))
