"""Suite ``yann_latency``: the YANN and ppopt's point location timed on the same feasible states."""

import numpy as np
import pandas as pd
import pytest

from rlkit.bench import run_suite
from agents.yann.builder import yann_from_solution
from rlkit.bench.yann_latency import time_yann_against


def scalar_solution(cache_dir):
    """x' = 1.2 x + u, |x| <= 4, |u| <= 1, horizon 2: a handful of regions, solved in a moment."""
    from agents.mpc import ExplicitSolution, LinearMPCProblem

    problem = LinearMPCProblem(A=[[1.2]], B=[[1.0]], Q=np.eye(1), R=np.eye(1), horizon=2,
                               state_low=[-4.0], state_high=[4.0], input_low=[-1.0], input_high=[1.0])
    return ExplicitSolution.solve(problem, cache_dir=cache_dir)


def test_latency_is_reported_for_both_sides(tmp_path):
    solution = scalar_solution(tmp_path)
    states = solution.feasible_samples(16)
    assert states.shape == (16, 1)
    row = time_yann_against(yann_from_solution(solution), states, solution.ppopt_solution.evaluate, batch=8, min_seconds=0.02)
    assert row["batch"] == 8 and row["yann_us_per_call"] > 0 and row["ppopt_us_per_call"] > 0
    assert row["speedup"] == pytest.approx(row["ppopt_us_per_call"] / row["yann_us_per_call"])
    assert row["yann_states_per_s"] == pytest.approx(8e6 / row["yann_us_per_call"])
    with pytest.raises(ValueError, match="need at least 32 states, got 16"):
        time_yann_against(yann_from_solution(solution), states, solution.ppopt_solution.evaluate, batch=32)


def test_suite_writes_a_row_per_system_and_batch(tmp_path):
    out = run_suite("yann_latency", ["systems=[double_integrator]", "batches=[1,4]", "horizon=2",
                                     "min_seconds=0.01", f"runs_root={tmp_path}"])
    table = pd.read_csv(out / "results.csv")
    assert list(zip(table["system"], table["batch"])) == [("double_integrator", 1), ("double_integrator", 4)]
    assert (table["regions"] > 1).all() and (table["speedup"] > 0).all()
    assert "YANN vs ppopt" in (out / "results.md").read_text()


def test_suite_refuses_an_unknown_system_before_solving_any(tmp_path, monkeypatch):
    from agents.mpc import ExplicitSolution
    from rlkit.bench import yann_latency

    def no_solve(*args, **kwargs):
        raise AssertionError("solved before every system was checked")

    monkeypatch.setattr(ExplicitSolution, "solve", no_solve)
    with pytest.raises(ValueError, match="env Pendulum-v1 exposes no control system"):
        yann_latency.run(tmp_path, systems=["cstr", "pendulum"])
    with pytest.raises(ValueError, match="unknown env config 'cstr_tracking' .*allowed: .*cstr, cstr_safe"):
        yann_latency.run(tmp_path, systems=["cstr", "cstr_tracking"])
    with pytest.raises(ValueError, match="the posing after ':' is one of regulation, tracking"):
        yann_latency.run(tmp_path, systems=["cstr:track"])


def test_systems_are_env_configs_posed_as_the_mpc_agents_pose_them():
    """``<env>`` tracks exactly when the env observes its reference; ``:regulation``/``:tracking``
    choose. The defaults pose the problems the suite has always timed."""
    from agents.mpc import LinearMPCProblem, plant_interface, tracking_problem
    from agents.mpc.explicit import _cache_path
    from envs.control.cstr import CSTR, CSTREnv
    from envs.control.double_integrator import DoubleIntegrator
    from rlkit.bench.yann_latency import SYSTEMS, mpc_problem

    def key(problem):
        return _cache_path(problem, "cache").name  # a hash of the whole problem

    expected = {
        "double_integrator": LinearMPCProblem.from_system(DoubleIntegrator(), 3),
        "cstr:regulation": LinearMPCProblem.from_system(CSTR(), 3),
        "cstr:tracking": tracking_problem(plant_interface(CSTREnv()), 3, track_reference=True),
    }
    assert SYSTEMS == tuple(expected)
    for name, problem in expected.items():
        assert key(mpc_problem(name, 3)) == key(problem), name
    assert key(mpc_problem("cstr", 3)) == key(expected["cstr:tracking"])  # the CSTR env tracks
    assert key(mpc_problem("double_integrator:regulation", 3)) == key(expected["double_integrator"])
    with pytest.raises(ValueError, match="track_reference=true needs an env that observes its reference"):
        mpc_problem("double_integrator:tracking", 3)
