"""agents.lyapunov_discovery.search: a tiny run from scratch finds a valid Lyapunov function for a 2-D
stable linear system, confirmed independently (SymPy: positive definite and decreasing)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from agents.lyapunov_discovery.expressions import TokenLibrary
from agents.lyapunov_discovery.search import discover
from agents.lyapunov_discovery.verifier import verify
from envs.control.autonomous import Polynomial3D, StableLinear

# the agent's defaults of the settings the tiny run below leaves at them
AGENT_SETTINGS = {"epsilon": 0.1, "entropy_weight": 0.005, "ball": 0.05, "decrease": "strict"}
# every setting of a search (as LyapunovDiscoveryAgent's defaults, with 100 iterations)
SETTINGS = {"batch_size": 200, "iterations": 100, "learning_rate": 3e-4, "n_score_states": 500, "width": 64,
            "layers": 2, "heads": 4, **AGENT_SETTINGS}


def test_a_tiny_run_finds_a_lyapunov_function_for_a_stable_linear_system():
    system = StableLinear()
    library = TokenLibrary(2, operators=("add", "mul", "square"), constants=(0.5,), min_length=3, max_length=9)
    result = discover(system, library, seed=0, batch_size=64, iterations=40, learning_rate=3e-3, width=32,
                      layers=1, heads=2, n_score_states=200, **AGENT_SETTINGS)
    assert result.sequence is not None, result.history[-3:]
    V = result.expression
    states, rhs = system.symbolic_f()
    derivative = sum(sympy.diff(V, s) * f for s, f in zip(states, rhs))  # SymPy's derivative, not autograd
    assert V.subs({s: 0 for s in states}) == 0
    # independent check on a 41 x 41 grid of the region outside the falsifier's ball
    low, high = system.region
    grid = np.stack(np.meshgrid(*[np.linspace(l, h, 41) for l, h in zip(low, high)]), -1).reshape(-1, 2)
    grid = grid[(np.abs(grid) > 0.05 * (high - low) / 2).any(-1)]
    values = sympy.lambdify(states, V, "numpy")(*grid.T)
    derivatives = sympy.lambdify(states, derivative, "numpy")(*grid.T)
    assert np.all(values > 0) and np.all(derivatives < 0)
    assert verify(V, states, rhs, low, high).holds  # and formally, by interval branch and bound


def test_bad_settings_are_refused():
    settings = {**SETTINGS, "seed": 0}
    with pytest.raises(TypeError, match="unexpected keyword argument 'batch'"):
        discover(StableLinear(), TokenLibrary(2), batch=10, **settings)
    settings.pop("ball")
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'ball'"):
        discover(StableLinear(), TokenLibrary(2), **settings)  # no second set of defaults
    with pytest.raises(ValueError, match="library has 2 state variables, polynomial_3d has 3"):
        discover(Polynomial3D(), TokenLibrary(2), **SETTINGS, seed=0)


def test_the_agent_passes_every_setting_the_search_takes():
    """The agent's constructor is where the search's defaults live: discover() has none to drift."""
    import inspect

    from agents.lyapunov_discovery.agent import LyapunovDiscoveryAgent

    search = inspect.signature(discover).parameters
    required = {name for name, p in search.items() if p.kind is p.KEYWORD_ONLY and p.default is p.empty}
    assert required == set(SETTINGS) | {"seed"}
    agent = inspect.signature(LyapunovDiscoveryAgent).parameters
    assert {name: agent[name].default for name in SETTINGS if name != "iterations"} == {
        name: value for name, value in SETTINGS.items() if name != "iterations"}
