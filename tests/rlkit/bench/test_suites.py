"""Benchmark suites: the registry (one config file per suite), options, and what a suite writes."""

import inspect
import re
from pathlib import Path

import pandas as pd
import pytest

import rlkit.bench
import rlkit.cli
from rlkit import catalogue
from rlkit.bench import run_suite, suite_description, suite_factory, suite_function, suite_names, suite_options
from rlkit.errors import UserError

SUITE_FILES = sorted(p.stem for p in (catalogue.CONF_DIR / "bench").glob("*.yaml"))


def test_every_config_file_is_a_suite():
    assert suite_names() == SUITE_FILES
    # the env/agent micro benchmarks live here too
    assert {"control_throughput", "market_making_engine", "market_data", "yann_latency",
            "gnn_latency"} <= set(SUITE_FILES)


@pytest.mark.parametrize("name", SUITE_FILES)
def test_each_suite_resolves_to_a_function_whose_options_are_listed(name, cli):
    assert suite_description(name), f"conf/bench/{name}.yaml needs a leading comment: its description"
    assert re.fullmatch(r"rlkit\.bench\.\w+:\w+", suite_factory(name))
    function = suite_function(name)
    assert callable(function)
    parameters = list(inspect.signature(function).parameters.values())
    assert parameters[0].name == "out_dir" and parameters[0].default is inspect.Parameter.empty
    # every other argument is a key=value option with a default; nothing hidden in *args / **kwargs
    assert [p.name for p in parameters[1:]] == list(suite_options(function))
    assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in parameters)
    code, out, _ = cli("bench", name, "--help")
    assert code == 0 and suite_description(name) in out
    for option in [*suite_options(function), "runs_root"]:
        assert f"\n  {option}=" in out
    # its tables go through write_table: CSV and Markdown
    assert "write_table(" in inspect.getsource(inspect.getmodule(function))


def test_the_host_names_no_suite():
    sources = [Path(rlkit.bench.__file__).read_text(), inspect.getsource(rlkit.cli.list_command),
               inspect.getsource(rlkit.cli.bench_command)]
    for source in sources:
        assert not [name for name in SUITE_FILES if re.search(f"[\"']{name}[\"']", source)]


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
    with pytest.raises(UserError, match="unknown benchmark suite 'speed'; allowed: " + ", ".join(SUITE_FILES)):
        run_suite("speed", [])
    with pytest.raises(UserError, match=r"'overheat' \(did you mean overhead\?\); allowed: control_throughput, "):
        run_suite("overheat", [])
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
