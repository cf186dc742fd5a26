"""rlkit bench market_making, shrunk to seconds: one learner, one reward, tiny synthetic days."""

from __future__ import annotations

import pandas as pd


def test_market_making_suite_writes_its_tables(tmp_path):
    from rlkit.bench.market_making import run

    run(tmp_path, agents=["a2c"], rewards=["trade_completion"], baselines=["avellaneda_stoikov", "glft"],
        seeds=1, steps=32, synthetic_days=2, session_seconds=60.0, test_days=1, real_steps=32, workers=1)
    table = pd.read_csv(tmp_path / "results.csv")
    for name in ("results.md", "claim.csv", "claim.md", "episodes.csv", "pnl.png"):
        assert (tmp_path / name).is_file()
    assert set(table["agent"]) == {"a2c", "avellaneda_stoikov", "glft", "buy_and_hold"}
    assert set(table["clock"]) == {"event", "time"}
    assert set(table["data"]) == {"synthetic", "binance (in-sample)"}
    assert table[["pnl_pct", "sharpe", "max_drawdown_pct", "trades"]].notna().all().all()
    claim = pd.read_csv(tmp_path / "claim.csv")
    assert list(claim["agent"]) == ["a2c", "a2c"] and "event_wins_profit" in claim
