"""Suite ``control_throughput``: one row per control env, every rate measured (rates themselves are
the benchmark's business, not the test's)."""

import pandas as pd

from envs.control import CONTROL_ENVS
from rlkit.bench import run_suite


def test_suite_times_every_control_env(tmp_path):
    out = run_suite("control_throughput", ["seconds=0.01", "batch=8", f"runs_root={tmp_path}"])
    table = pd.read_csv(out / "results.csv")
    assert list(table["env"]) == list(CONTROL_ENVS)
    rates = ["gym_make_steps_per_s", "bare_steps_per_s", "torch_batch8_states_per_s"]
    assert list(table.columns) == ["env", *rates]
    assert (table[rates] > 0).all().all()
    assert "| rlkit/CSTR-v0 |" in (out / "results.md").read_text()
