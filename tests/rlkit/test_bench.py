"""Benchmark suites: the registry, options, and what a suite writes."""

import pandas as pd
import pytest

from rlkit.bench import SUITES, run_suite
from rlkit.errors import UserError


def test_overhead_suite_writes_table_markdown_and_plot(tmp_path):
    out = run_suite("overhead", ["steps=64", "n_steps=32", "repeats=1", "eval_every=32", "startup_repeats=1",
                                 f"runs_root={tmp_path}"])
    assert out.parent.parent == tmp_path / "bench"
    table = pd.read_csv(out / "results.csv")
    assert list(table["comparison"]) == ["bare", "full", "startup: rlkit --help"]
    assert (table["ratio"] - table["rlkit_s"] / table["sb3_s"]).abs().max() < 0.01
    assert (table["sb3_s"] > 0).all() and (table["rlkit_s"] > 0).all()
    markdown = (out / "results.md").read_text()
    assert "| comparison |" in markdown and "| bare |" in markdown
    assert (out / "overhead.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_suite_and_option_name_what_is_allowed():
    with pytest.raises(UserError, match="allowed: " + ", ".join(SUITES)):
        run_suite("speed", [])
    with pytest.raises(UserError, match="unknown option 'stpes' for suite overhead; allowed: steps"):
        run_suite("overhead", ["stpes=10"])


def test_yann_suite_compares_learners_with_explicit_mpc(tmp_path):
    out = run_suite("yann", ["envs=[double_integrator]", "agents=[td3]", "seeds=2", "steps=200",
                             "eval_every=100", "eval_episodes=2", "workers=1", "latency=false",
                             "baseline_net=[16]", f"runs_root={tmp_path}"])
    table = pd.read_csv(out / "results.csv")
    assert list(table["agent"]) == ["explicit_mpc", "td3"]
    assert table.loc[1, "seeds"] == 2
    curves = pd.read_csv(out / "curves.csv")
    assert sorted(set(curves["seed"])) == [0, 1] and set(curves["timesteps"]) == {100, 200}
    final = curves[curves["timesteps"] == 200]["mean_return"].mean()
    assert table.loc[1, "final_return"] == pytest.approx(final)
    assert (out / "returns.png").read_bytes()[:4] == b"\x89PNG"


def test_ray_suite_refuses_an_unknown_env_before_starting_ray(tmp_path):
    from rlkit.bench import run_suite
    from rlkit.errors import UserError

    with pytest.raises(UserError, match="unknown env 'Atari' for suite ray; allowed: CartPole-v1, football"):
        run_suite("ray", ["envs=Atari"], runs_root=str(tmp_path))
