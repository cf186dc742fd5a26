"""Suite ``market_data`` on the shipped Binance minute: every figure measured, the Numba starts in
fresh processes included."""

import pandas as pd

from envs.market_making.data import SAMPLES, load_events
from rlkit.bench import run_suite


def test_suite_times_loading_starting_and_replaying(tmp_path):
    out = run_suite("market_data", [f"data={SAMPLES['binance']}", "repeats=1", f"runs_root={tmp_path}"])
    table = pd.read_csv(out / "results.csv")
    assert [case.split(",")[0] for case in table["case"]] == [
        "book kernels", "book kernels", "load from the raw file (parse + validate)", "load from the parquet cache",
        "replay", "replay", "replay"]
    assert (table["seconds"] > 0).all()
    replays = table[table["case"].str.startswith("replay")]
    assert (replays["M_rows_per_s"] > 0).all()
    markdown = (out / "results.md").read_text()
    assert f"{len(load_events(SAMPLES['binance'])):,} rows" in markdown
    assert "/" not in markdown.split("data: `")[1].split("`")[0]  # the file's name, not a machine path
