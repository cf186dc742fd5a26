"""Suite ``gnn_latency``: both paths run and every figure is reported (timings are benchmarks, not
tests)."""

import pandas as pd
import pytest

from rlkit.bench import run_suite
from rlkit.bench.gnn_latency import measure

FIGURES = ("dense_forward_ms", "dense_forward_backward_ms", "pyg_forward_ms", "pyg_forward_backward_ms")


@pytest.mark.parametrize("gnn", ["gcn", "gat"])
def test_measure_reports_dense_and_pyg_timings(gnn):
    result = measure(batch=4, gnn=gnn, repeats=1)
    assert (result["gnn"], result["batch"], result["nodes"], result["features"]) == (gnn, 4, 24, 16)
    assert all(result[name] > 0 for name in FIGURES)
    assert result["forward_speedup"] == pytest.approx(result["pyg_forward_ms"] / result["dense_forward_ms"])


def test_measure_refuses_an_unknown_network():
    with pytest.raises(ValueError, match="unknown gnn 'gin'; allowed: gcn, gat"):
        measure(gnn="gin")


def test_suite_writes_one_row_per_network(tmp_path):
    out = run_suite("gnn_latency", ["gnns=gcn", "batch=2", "nodes=6", "repeats=1", f"runs_root={tmp_path}"])
    table = pd.read_csv(out / "results.csv")
    assert list(table["gnn"]) == ["gcn"] and (table["batch"] == 2).all() and (table["nodes"] == 6).all()
    assert "graphs of 6 nodes" in (out / "results.md").read_text()
