"""The explicit solution (ppopt): it is the online QP's law, its regions and value pieces are in
absolute coordinates, it is cached and saved as arrays, and it refuses states it does not cover."""

from __future__ import annotations

import copy
import zipfile
from types import SimpleNamespace

import numpy as np
import pytest

from agents.mpc import ExplicitSolution, MPCSetupError, OnlineMPCController, OutsideFeasibleSetError
from agents.mpc.explicit import parameter_box


def feasible_states(problem, count, rng, low, high):
    """``count`` states in [low, high] from which the online QP is feasible, and the infeasible
    ones met on the way."""
    online = OnlineMPCController(problem)
    feasible, infeasible = [], []
    while len(feasible) < count:
        x = rng.uniform(low, high)
        (feasible if online.solve(x) is not None else infeasible).append(x)
    return np.array(feasible), np.array(infeasible)


def test_double_integrator_tutorial_has_113_regions_with_ppopt_1_6(di_solution):
    # The reference notes 115 regions for this set-up; ppopt 1.6.12 finds 113 with the geometric,
    # graph and combinatorial-graph algorithms alike, for every placement of the state constraints
    # we tried (x_1..x_N, x_0..x_{N-1}, x_0..x_N), and the 113 regions reproduce the online QP on
    # the whole box (next test), so no part of the feasible set is missing.
    assert di_solution.n_regions == 113
    np.testing.assert_array_equal(di_solution.theta_low, [-10, -10])
    np.testing.assert_array_equal(di_solution.theta_high, [10, 10])


def test_explicit_solution_equals_the_online_qp_on_1000_feasible_states(di_solution):
    problem = di_solution.problem
    rng = np.random.default_rng(0)
    states, infeasible = feasible_states(problem, 1000, rng, [-10, -10], [10, 10])
    online = OnlineMPCController(problem)
    u_online, fallback = online.control(states)
    assert not fallback.any()
    u_explicit = di_solution.evaluate(states)
    np.testing.assert_allclose(u_explicit, u_online, atol=1e-6, rtol=0)
    # the whole sequence too, and the explicit solution covers exactly the feasible states
    U_online = np.array([online.solve(x) for x in states[:200]])
    np.testing.assert_allclose(di_solution.evaluate_sequence(states[:200])[:, :, 0], U_online, atol=1e-6)
    assert np.all(di_solution.locate(states) >= 0)
    assert np.all(di_solution.locate(infeasible) == -1)


def test_region_laws_and_value_pieces_match_ppopt_in_absolute_coordinates(plants):
    # a shifted equilibrium makes deviation and absolute coordinates differ
    problem = plants.double_integrator_problem(
        horizon=4, x_eq=[2.0, 0.0], u_eq=[0.25], state_low=[-8, -10], state_high=[12, 10],
        input_low=[-0.75], input_high=[1.25], h_x=[27.0, 23.0],
    )
    solution = ExplicitSolution.solve(problem)
    rng = np.random.default_rng(1)
    states, _ = feasible_states(problem, 300, rng, [-8, -10], [12, 10])
    located = solution.locate(states)
    u = solution.evaluate(states)
    values = solution.value(states)
    online = OnlineMPCController(problem)
    for x, index, u_x, v_x in zip(states, located, u, values):
        region = solution.regions[index]
        E, f, K, k = region
        assert np.all(E @ x <= f + 1e-5)
        np.testing.assert_allclose(K @ x + k, u_x, atol=1e-10)
        np.testing.assert_allclose(region.K_seq @ x + region.k_seq,
                                   solution.evaluate_sequence(x).ravel(), atol=1e-10)
        assert region.value(x)[0] == pytest.approx(v_x, rel=1e-9, abs=1e-9)
        U = online.solve(x)
        np.testing.assert_allclose(u_x, problem.u_eq + U[:1], atol=1e-6)
        assert v_x == pytest.approx(problem.rollout_cost(x - problem.x_eq, U), rel=1e-6)
    # every region's law is the one ppopt reports, shifted by the equilibrium
    for region, critical_region in zip(solution.regions, solution.ppopt_solution.critical_regions):
        dx = rng.normal(size=2)
        np.testing.assert_allclose(region.K @ (problem.x_eq + dx) + region.k,
                                   problem.u_eq + (critical_region.A @ dx + critical_region.b.ravel())[:1],
                                   atol=1e-10)


def test_region_shapes(di_solution):
    n, m, N = 2, 1, 10
    for region in di_solution.regions:
        c = region.E.shape[0]
        assert region.E.shape == (c, n) and region.f.shape == (c,)
        assert region.K.shape == (m, n) and region.k.shape == (m,)
        assert region.K_seq.shape == (N * m, n) and region.k_seq.shape == (N * m,)
        assert region.value_P.shape == (n, n) and region.value_q.shape == (n,)
        assert isinstance(region.value_c, float)


def test_states_outside_the_box_or_the_feasible_set_are_refused_clearly(di_solution):
    outside_the_box = r"state \[11.0, 0.0\] is outside the state constraints .*the box \[-10.0, -10.0\] .. \[10.0, 10.0\]"
    with pytest.raises(OutsideFeasibleSetError, match=outside_the_box):
        di_solution.evaluate([11.0, 0.0])
    with pytest.raises(OutsideFeasibleSetError, match="inside the state constraints but outside the feasible set"):
        di_solution.evaluate([9.0, 5.0])  # allowed now, but the next position is 14 whatever u is
    with pytest.raises(OutsideFeasibleSetError, match=r"outside the state constraints .*and H_x x <= h_x"):
        di_solution.evaluate([9.5, 9.5])  # in the box, but x1 + 2 x2 > 25
    u = di_solution.evaluate(np.array([[11.0, 0.0], [0.0, 0.0]]), outside="nan")
    assert np.isnan(u[0, 0]) and u[1, 0] == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(di_solution.value([11.0, 0.0], outside="nan"))
    assert di_solution.locate([11.0, 0.0]) == -1
    with pytest.raises(ValueError, match=r"expected a state of shape \(2,\)"):
        di_solution.evaluate([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="states must be finite"):
        di_solution.evaluate([np.nan, 0.0])
    with pytest.raises(ValueError, match="outside must be 'raise' or 'nan'"):
        di_solution.evaluate([0.0, 0.0], outside="clip")


def test_an_explicit_solution_with_no_regions_is_refused(di_solution):
    empty = SimpleNamespace(critical_regions=[], point_location_tolerance=1e-5)
    with pytest.raises(MPCSetupError, match="has no regions"):
        ExplicitSolution(di_solution.problem, empty)


def test_an_unbounded_state_set_cannot_be_solved_explicitly(plants):
    problem = plants.double_integrator_problem(horizon=3, state_low=[-10, -np.inf], state_high=[10, np.inf],
                                               H_x=None, h_x=None)
    with pytest.raises(MPCSetupError, match="bounded state set, but state 1 is unbounded"):
        ExplicitSolution.solve(problem)
    # a polytope can bound what the box does not
    bounded = plants.double_integrator_problem(horizon=3, state_low=[-10, -np.inf], state_high=[10, np.inf])
    low, high = parameter_box(bounded)
    np.testing.assert_allclose(low, [-10, -17.5])
    np.testing.assert_allclose(high, [10, 17.5])


def test_solutions_are_cached_by_problem_as_arrays(plants, tmp_path):
    problem = plants.double_integrator_problem(horizon=3)
    first = ExplicitSolution.solve(problem, cache_dir=tmp_path)
    assert first.solve_time_s is not None and len(list(tmp_path.glob("explicit-*.zip"))) == 1
    with zipfile.ZipFile(next(tmp_path.glob("explicit-*.zip"))) as archive:  # no pickle in it
        assert sorted(archive.namelist()) == ["meta.json", "tensors.safetensors"]
    second = ExplicitSolution.solve(plants.double_integrator_problem(horizon=3), cache_dir=tmp_path)
    assert second.solve_time_s is None  # read from the cache
    other = ExplicitSolution.solve(plants.double_integrator_problem(horizon=2), cache_dir=tmp_path)
    assert other.solve_time_s is not None and len(list(tmp_path.glob("explicit-*.zip"))) == 2
    states = np.random.default_rng(2).uniform(-10, 10, (200, 2))
    expected = first.evaluate(states, outside="nan")
    for same in (second, copy.deepcopy(first), ExplicitSolution.from_state(problem, first.to_state())):
        np.testing.assert_array_equal(same.evaluate(states, outside="nan"), expected)
        np.testing.assert_array_equal(same.locate(states), first.locate(states))
        np.testing.assert_array_equal(same.value(states, outside="nan"), first.value(states, outside="nan"))
    # a damaged cache file is solved again and rewritten
    for path in tmp_path.glob("explicit-*.zip"):
        path.write_bytes(b"not a zip")
    assert ExplicitSolution.solve(plants.double_integrator_problem(horizon=3), cache_dir=tmp_path).solve_time_s
    assert ExplicitSolution.solve(plants.double_integrator_problem(horizon=2), cache_dir=tmp_path).solve_time_s
    assert len(list(tmp_path.glob("explicit-*.zip"))) == 2 and not list(tmp_path.glob("*.partial*"))


def facet_points(solution, count, rng):
    """Points on region facets (projections of region centres onto one of their rows), where
    several regions hold a point and point location has to choose."""
    points = []
    while len(points) < count:
        region = solution.regions[rng.integers(solution.n_regions)]
        centre = np.linalg.lstsq(region.E, region.f - 0.1, rcond=None)[0]  # somewhere near the region
        row = rng.integers(len(region.f))
        a, b = region.E[row], region.f[row]
        points.append(centre - (a @ centre - b) / (a @ a) * a)
    return np.array(points)


def test_vectorised_point_location_is_ppopts(di_solution):
    rng = np.random.default_rng(4)
    points = np.vstack([rng.uniform(-12, 12, (400, 2)), facet_points(di_solution, 300, rng)])
    located = di_solution.locate(points)
    np.testing.assert_array_equal(located, di_solution.locate_with_ppopt(points))
    assert (located >= 0).sum() > 300 and (located < 0).sum() > 20
