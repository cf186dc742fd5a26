"""The latency measurement runs both paths and reports every figure (timings are benchmarks, not
tests: see rlkit bench football parts=[gnn])."""

import pytest

from agents.gnn_dqn.latency import measure

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
