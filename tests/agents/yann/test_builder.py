"""yann_from_matrices: the YANN of a double integrator's explicit MPC reproduces the MPC law (the
online QP's solution) inside the feasible set and the saturated LQR outside; wrong arguments are
refused naming the argument."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.mpc import LinearMPCProblem, OnlineMPCController
from agents.yann import YANN, yann_from_matrices

DOUBLE_INTEGRATOR = dict(A=[[1.0, 1.0], [0.0, 1.0]], B=[[0.5], [1.0]], Q=1.0, R=0.1, N=5,
                         x_low=[-10.0, -5.0], x_high=[10.0, 5.0], u_low=[-1.0], u_high=[1.0])


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return yann_from_matrices(**DOUBLE_INTEGRATOR, cache_dir=tmp_path_factory.mktemp("cache"),
                              return_solution=True)


def test_the_network_is_the_mpc_law_at_random_states_in_the_box(built):
    network, solution = built
    assert isinstance(network, YANN) and solution.n_regions > 1
    d = DOUBLE_INTEGRATOR
    problem = LinearMPCProblem(d["A"], d["B"], d["Q"], d["R"], d["N"], state_low=d["x_low"], state_high=d["x_high"],
                               input_low=d["u_low"], input_high=d["u_high"])
    online = OnlineMPCController(problem)
    states = np.random.default_rng(0).uniform(d["x_low"], d["x_high"], size=(400, 2))
    with torch.no_grad():
        u = network(torch.as_tensor(states)).numpy()
    # exactly ppopt's explicit law where it has one, the saturated LQR elsewhere
    inside = solution.locate(states) >= 0
    assert 50 < inside.sum() < len(states)
    np.testing.assert_allclose(u[inside], solution.evaluate(states[inside]), rtol=0, atol=1e-9)
    lqr = np.clip(states[~inside] @ problem.K_lqr.T, -1.0, 1.0)
    np.testing.assert_allclose(u[~inside], lqr, rtol=0, atol=1e-12)
    # and the explicit law is the online QP's first input
    for state, first in zip(states[inside][:60], u[inside][:60]):
        U = online.solve(state)
        assert U is not None
        np.testing.assert_allclose(first, U[:1], atol=1e-6)


def test_a_single_state_and_the_cache(built, tmp_path):
    network, _ = built
    with torch.no_grad():
        single = network(torch.tensor([3.0, -1.0], dtype=torch.float64))
    assert single.shape == (1,) and -1.0 <= float(single) <= 1.0
    again = yann_from_matrices(**DOUBLE_INTEGRATOR, cache_dir=tmp_path)
    cached = yann_from_matrices(**DOUBLE_INTEGRATOR, cache_dir=tmp_path)
    x = torch.as_tensor(np.random.default_rng(1).uniform(-10, 10, size=(100, 2)))
    with torch.no_grad():
        assert torch.equal(again(x), cached(x)) and torch.equal(again(x), network(x))


@pytest.mark.parametrize("change, message", [
    (dict(A=[[1.0, 1.0]]), "A must be square"),
    (dict(A=[[1.0, np.nan], [0.0, 1.0]]), "A holds NaN"),
    (dict(B=[[0.5, 1.0, 2.0]]), "B must have n = 2 rows"),
    (dict(Q=np.eye(3)), r"Q must be \(2, 2\)"),
    (dict(R=[[np.inf]]), "R holds NaN or infinite"),
    (dict(N=0), "N .* integer >= 1"),
    (dict(N=2.5), "N .* integer >= 1"),
    (dict(x_low=[-10.0]), r"x_low must have shape \(2,\)"),
    (dict(x_high=[np.inf, 5.0]), "x_high must be finite"),
    (dict(u_low=[np.nan]), "u_low holds NaN"),
    (dict(u_low=[2.0]), "the u box is empty"),
])
def test_wrong_arguments_are_refused_by_name(change, message):
    with pytest.raises(ValueError, match=message):
        yann_from_matrices(**{**DOUBLE_INTEGRATOR, **change})
