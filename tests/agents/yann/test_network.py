"""A YANN is the piecewise-affine function it was built from: exactly, at facets, outside its
regions, for explicit MPC laws (against ppopt's own evaluation) and after its laws change."""

import numpy as np
import pytest
import torch

from agents.yann.network import YANN, AffineFallback
from agents.yann.value import PiecewiseQuadratic
from agents.yann.builder import yann_from_solution


def run(network, x):
    with torch.no_grad():
        return network(torch.as_tensor(np.asarray(x, dtype=np.float64))).numpy()


# 1-D saturation as three regions on [-3, 3]
SATURATION = [
    ([[1.0], [-1.0]], [-1.0, 3.0], [[0.0]], [-1.0]),  # -3 <= x <= -1: u = -1
    ([[1.0], [-1.0]], [1.0, 1.0], [[1.0]], [0.0]),  # -1 <= x <= 1: u = x
    ([[1.0], [-1.0]], [3.0, -1.0], [[0.0]], [1.0]),  # 1 <= x <= 3: u = 1
]


def quadrants():
    """Four quadrants of [-2, 2]^2, two outputs, laws that jump across the axes."""
    rng = np.random.default_rng(0)
    regions = []
    for sx in (1.0, -1.0):
        for sy in (1.0, -1.0):
            E = np.array([[-sx, 0.0], [0.0, -sy], [sx, 0.0], [0.0, sy]])
            f = np.array([0.0, 0.0, 2.0, 2.0])
            regions.append((E, f, rng.normal(size=(2, 2)), rng.normal(size=2)))
    return regions


def first_region_value(regions, x):
    for E, f, K, k in regions:
        if np.all(np.asarray(E) @ x <= np.asarray(f)):
            return np.asarray(K) @ x + np.asarray(k)
    return None


def test_saturation_is_exact_everywhere_including_the_kinks():
    network = YANN(SATURATION, domain=([-3.0], [3.0]))
    x = np.concatenate([np.linspace(-3, 3, 601), [-1.0, 1.0, -3.0, 3.0]]).reshape(-1, 1)
    # exact up to the big-M pair's rounding, about M * 1e-16
    np.testing.assert_allclose(run(network, x), np.clip(x, -1, 1), rtol=0, atol=1e-14)


def test_two_outputs_on_two_dimensions_match_direct_evaluation():
    regions = quadrants()
    network = YANN(regions)  # domain: the regions' bounding box, by linear programming
    x = np.random.default_rng(1).uniform(-2, 2, size=(5000, 2))
    expected = np.stack([first_region_value(regions, point) for point in x])
    np.testing.assert_allclose(run(network, x), expected, rtol=0, atol=1e-12)


def test_a_point_on_a_shared_facet_gets_exactly_one_regions_value():
    regions = quadrants()
    network = YANN(regions)
    on_facets = np.array([[0.0, 1.0], [0.0, -0.5], [1.5, 0.0], [0.0, 0.0], [-2.0, 0.0]])
    indicators = network.indicators(torch.as_tensor(on_facets)).numpy()
    np.testing.assert_array_equal(indicators.sum(1), 1.0)  # several regions hold each point
    expected = np.stack([first_region_value(regions, point) for point in on_facets])
    np.testing.assert_allclose(run(network, on_facets), expected, rtol=0, atol=1e-12)
    # the laws jump across the facets, so a sum or an average of regions would be visibly wrong
    assert not np.allclose(regions[0][2] @ on_facets[0] + regions[0][3], regions[1][2] @ on_facets[0] + regions[1][3])


def test_outside_every_region_the_fallback_branch_is_exact():
    fallback = AffineFallback.create(K=[[0.5, -1.0], [2.0, 0.0]], k=[0.1, -0.2], low=[-1.0, -1.0], high=[1.0, 1.0])
    network = YANN(quadrants(), fallback=fallback)
    x = np.random.default_rng(2).uniform(-6, 6, size=(500, 2))
    x = x[np.abs(x).max(1) > 2.0]
    expected = np.clip(x @ fallback.K.T + fallback.k, -1.0, 1.0)
    np.testing.assert_array_equal(run(network, x), expected)
    np.testing.assert_array_equal(network.active_region(x), -1)
    np.testing.assert_array_equal(run(YANN(quadrants()), x), 0.0)  # no fallback: zero


def test_stays_exact_when_the_laws_change():
    regions = quadrants()
    network = YANN(regions)
    x = np.random.default_rng(3).uniform(-2, 2, size=(2000, 2))
    before = network.big_m()
    with torch.no_grad():
        network.K.mul_(50.0)  # laws far beyond the M they were built with
        network.k.add_(30.0)
    assert network.big_m() > 10 * before
    changed = [(E, f, 50.0 * K, k + 30.0) for E, f, K, k in regions]
    expected = np.stack([first_region_value(changed, point) for point in x])
    np.testing.assert_allclose(run(network, x), expected, rtol=0, atol=1e-10)
    # a write through .data (SB3's soft target update) leaves no version trace; it is seen all the same
    network.K.data.mul_(2.0)
    doubled = [(E, f, 100.0 * K, k + 30.0) for E, f, K, k in regions]
    expected = np.stack([first_region_value(doubled, point) for point in x])
    np.testing.assert_allclose(run(network, x), expected, rtol=0, atol=1e-10)


def test_a_soft_target_update_needs_no_refresh():
    from stable_baselines3.common.utils import polyak_update

    regions = quadrants()
    online, target = YANN(regions), YANN(regions)
    x = torch.as_tensor(np.random.default_rng(4).uniform(-2, 2, size=(500, 2)))
    with torch.no_grad():
        target(x)  # M and layer 4 cached for the initial laws
        online.K.mul_(3.0)
        online.k.add_(2.0)
        polyak_update(online.parameters(), target.parameters(), 0.5)  # writes through .data
        fresh = YANN(regions)
        fresh.load_state_dict(target.state_dict())
        assert torch.equal(target(x), fresh(x))
        assert target.big_m() == fresh.big_m()


def test_region_layers_share_answers_only_through_their_owner():
    from agents.yann.network import share_indicator_cache

    first, second = YANN(quadrants()), YANN(quadrants())
    assert first.indicators.cache is not second.indicators.cache  # each its own by default
    holder = torch.nn.ModuleList([first, second])
    cache = share_indicator_cache(holder)
    assert first.indicators.cache is cache and second.indicators.cache is cache
    x = torch.as_tensor(np.random.default_rng(5).uniform(-2, 2, size=(64, 2)))
    with torch.no_grad():
        z = first.indicators(x)
        assert second.indicators(x) is z  # the same regions and states: one computation
        assert not torch.equal(first.indicators(x + 3.0), z)


def test_gradients_reach_the_laws_and_never_the_region_layers():
    network = YANN(quadrants())
    assert {name for name, _ in network.named_parameters()} == {"K", "k"}
    assert all(not buffer.requires_grad for buffer in network.buffers())
    x = torch.tensor([[0.5, 1.0], [-1.0, 0.3]], dtype=torch.float64, requires_grad=True)
    network(x).sum().backward()
    active = set(network.active_region(x.detach()).tolist())
    touched = {r for r in range(4) if network.K.grad[r].abs().sum() > 0}
    assert touched == active  # only the active regions' laws move
    # d u / d x is the active law: nothing flows through the step layers
    expected = torch.stack([network.K[r].sum(0) for r in network.active_region(x.detach())])
    torch.testing.assert_close(x.grad, expected.detach())


def test_piecewise_quadratic_value_is_exact_with_its_fallback_outside():
    rng = np.random.default_rng(4)
    regions = quadrants()
    pieces = [(np.diag(rng.uniform(1, 3, 2)), rng.normal(size=2), float(rng.normal())) for _ in regions]
    fallback = (np.eye(2), np.zeros(2), 7.0)
    value = PiecewiseQuadratic([(E, f) for E, f, _, _ in regions], pieces, fallback)
    x = rng.uniform(-3, 3, size=(3000, 2))
    expected = []
    for point in x:
        for (E, f, _, _), (P, q, c) in zip(regions, pieces):
            if np.all(E @ point <= f):
                expected.append(point @ P @ point + q @ point + c)
                break
        else:
            expected.append(point @ point + 7.0)
    np.testing.assert_allclose(run(value, x), expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("bad, message", [
    ([], "at least one region"),
    ([([[1.0, 0.0]], [1.0], [[1.0]], [0.0])], r"K has shape \(1, 1\)"),
    ([([[1.0, 0.0]], [1.0, 2.0], [[1.0, 0.0]], [0.0])], "E has shape"),
    ([([[np.nan, 0.0]], [1.0], [[1.0, 0.0]], [0.0])], "non-finite"),
])
def test_bad_regions_are_refused_clearly(bad, message):
    with pytest.raises(ValueError, match=message):
        YANN(bad, domain=([-1.0, -1.0], [1.0, 1.0]))


def test_unbounded_regions_need_a_domain():
    with pytest.raises(ValueError, match="unbounded; pass the domain"):
        YANN([([[1.0]], [0.0], [[1.0]], [0.0])])


# -- explicit MPC: exact against ppopt's own evaluation ------------------------------------------
def double_integrator_solution(cache_dir):
    from agents.mpc import ExplicitSolution, LinearMPCProblem

    # the YANN tutorial: A=[[1,1],[0,1]], B=[0;1], Q=I, R=0.01, N=10, |u|<=1, |x|<=10, |[1 2]x|<=25
    problem = LinearMPCProblem(
        A=[[1.0, 1.0], [0.0, 1.0]], B=[[0.0], [1.0]], Q=np.eye(2), R=0.01, horizon=10,
        state_low=[-10.0, -10.0], state_high=[10.0, 10.0], input_low=[-1.0], input_high=[1.0],
        H_x=[[1.0, 2.0], [-1.0, -2.0]], h_x=[25.0, 25.0],
    )
    return ExplicitSolution.solve(problem, cache_dir=cache_dir)


def two_input_solution(cache_dir):
    from agents.mpc import ExplicitSolution, LinearMPCProblem

    problem = LinearMPCProblem(
        A=[[1.1, 0.2], [0.0, 0.9]], B=[[1.0, 0.5], [0.2, 1.0]], Q=np.eye(2), R=0.1 * np.eye(2), horizon=3,
        state_low=[-5.0, -5.0], state_high=[5.0, 5.0], input_low=[-1.0, -0.5], input_high=[1.0, 0.5],
    )
    return ExplicitSolution.solve(problem, cache_dir=cache_dir)


@pytest.mark.parametrize("build", [double_integrator_solution, two_input_solution])
def test_explicit_mpc_yann_matches_ppopt_on_10000_feasible_states(build, tmp_path_factory):
    solution = build(tmp_path_factory.getbasetemp() / "explicit_mpc")
    if build is double_integrator_solution:
        assert solution.n_regions > 100  # the reference reports 115 for this set-up
    network = yann_from_solution(solution)
    states = solution.feasible_samples(10_000, seed=5)
    expected = solution.evaluate(states)  # ppopt's point location and region law
    error = np.abs(run(network, states) - expected).max()
    assert error <= 1e-9, error
    # outside the feasible set: the saturated LQR, as the explicit MPC controller applies it
    outside = np.random.default_rng(6).uniform(solution.theta_low - 3, solution.theta_high + 3, size=(2000, 2))
    outside = outside[np.isnan(solution.evaluate(outside, outside="nan")).any(1)]
    assert len(outside) > 100
    np.testing.assert_allclose(run(network, outside), solution.problem.lqr_input(outside), rtol=0, atol=1e-12)


def test_tracking_cstr_yann_on_state_and_reference_matches_ppopt_on_10000_points(tmp_path_factory):
    from agents.mpc import ExplicitSolution, plant_interface, tracking_problem
    from envs.control.cstr import CSTREnv

    # theta = (x, x_ref): 4 inputs; the same cache directory as the other CSTR tracking tests
    problem = tracking_problem(plant_interface(CSTREnv()), 10, track_reference=True)
    solution = ExplicitSolution.solve(problem, cache_dir=tmp_path_factory.getbasetemp() / "explicit_mpc")
    assert solution.tracking and solution.n_parameters == 4
    network = yann_from_solution(solution)
    assert network.n_inputs == 4
    theta = solution.feasible_samples(10_000, seed=7)
    error = np.abs(run(network, theta) - solution.evaluate(theta)).max()
    assert error <= 1e-9, error
    # outside: the tracking LQR clip(u_r + K (x - x_ref)), as the explicit MPC controller applies it
    outside = np.random.default_rng(8).uniform(solution.theta_low - [0.3, 30, 0.05, 5],
                                               solution.theta_high + [0.3, 30, 0.05, 5], size=(3000, 4))
    outside = outside[np.isnan(solution.evaluate(outside, outside="nan")).any(1)]
    assert len(outside) > 100
    np.testing.assert_allclose(run(network, outside), solution.problem.lqr_input(outside[:, :2], outside[:, 2:]),
                               rtol=0, atol=1e-9)
