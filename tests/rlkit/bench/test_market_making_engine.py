"""Suite ``market_making_engine`` on the shipped Binance minute: the compiled loop, the env and the
batched env all measured (the Numba cold start, seconds of compilation, is left to the benchmark)."""

import pandas as pd
import pytest

from envs.market_making.data import SAMPLES
from rlkit.bench import market_making_engine, run_suite


def test_suite_times_the_replay_the_env_and_the_batched_env(tmp_path):
    out = run_suite("market_making_engine", [
        "parts=[replay,env,batched]", f"data={SAMPLES['binance']}", "repeats=1", "env_seconds=0.01",
        "games=[4]", "batched_seconds=0.01", f"runs_root={tmp_path}"])
    table = pd.read_csv(out / "results.csv")
    assert list(table["part"]) == ["replay"] * 5 + ["env"] * 4 + ["batched"] * 2
    assert (table["value"] > 0).all()
    assert set(table["unit"]) == {"M rows/s", "steps/s", "decisions/s"}
    assert table["case"].iloc[-1] == "batched, 4 games"
    assert "| replay | compiled loop" in (out / "results.md").read_text()


def test_compiled_replay_counts_rows_and_decisions():
    from envs.market_making.data import load_events
    from envs.market_making.engine import Engine

    table = load_events(SAMPLES["binance"])
    engine = Engine(table, clock="time", dt_ns=market_making_engine.DT_NS)
    rows, decisions = market_making_engine.compiled_replay(engine, False)
    assert 0 < rows <= len(table)
    assert decisions > 500  # at least 600 decisions of 100 ms in the recording's minute


def test_suite_refuses_an_unknown_part(tmp_path):
    with pytest.raises(ValueError, match="unknown parts \\['speed'\\]; allowed: compile, replay, env, batched"):
        market_making_engine.run(tmp_path, parts=["speed"])


def test_the_default_recording_is_the_shipped_minute_whatever_lies_beside_the_repository(tmp_path):
    """``data=""`` (every market-making suite's default) is the sample in the repository; a file
    named with ``data=`` is used as given."""
    from pathlib import Path

    assert market_making_engine.recording("") == Path(SAMPLES["binance"])
    assert market_making_engine.recording("").is_relative_to(Path(market_making_engine.__file__).parents[2])
    assert market_making_engine.recording(str(tmp_path / "day.jsonl.gz")) == tmp_path / "day.jsonl.gz"
