"""``rlkit train env=autonomous agent=lyapunov_discovery`` finds and certifies a Lyapunov function,
writes certificate.json, and ``rlkit certify`` proves it again -- and refuses a tampered one; the agent
contract (save/load, predict) and bad input (systems without a SymPy form, unknown operators)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import sympy

from agents.lyapunov_discovery.sympy_form import to_tokens

TINY = ["env=autonomous", "env.system=stable_linear", "agent=lyapunov_discovery", "agent.operators=[add,mul,square]",
        "agent.max_length=9", "agent.batch_size=64", "agent.learning_rate=3e-3", "agent.width=32", "agent.layers=1",
        "agent.heads=2", "agent.n_score_states=200", "total_timesteps=2560", "eval.episodes=1", "eval.every=0",
        "progress_bar=false"]


@pytest.fixture(scope="module")
def discovered_run(tmp_path_factory):
    from rlkit.cli import main

    run = tmp_path_factory.mktemp("discovery") / "run"
    assert main(["train", *TINY, f"run_dir={run}"]) == 0
    return run


def test_the_run_certifies_a_lyapunov_function(discovered_run):
    certificate = json.loads((discovered_run / "certificate.json").read_text())
    assert certificate["system"] == "stable_linear" and certificate["decrease"] == "strict"
    assert certificate["reverify"] == f"rlkit certify run={discovered_run}"
    assert certificate["result"]["holds"] and certificate["result"]["verified"] > 0
    assert certificate["z3"] == "proved"  # the library makes polynomials only: z3 agrees in exact arithmetic
    x1, x2 = sympy.symbols("x1 x2", real=True)
    V = sympy.sympify(certificate["expression"], locals={"x1": x1, "x2": x2})
    # independently: V(0) = 0, V > 0 and dV/dt < 0 on a grid of the region outside the ball
    assert V.subs({x1: 0, x2: 0}) == 0
    derivative = sympy.diff(V, x1) * (-x1 + 2 * x2) + sympy.diff(V, x2) * (-3 * x1 - 4 * x2)
    grid = np.stack(np.meshgrid(np.linspace(-2, 2, 41), np.linspace(-2, 2, 41)), -1).reshape(-1, 2)
    grid = grid[(np.abs(grid) > 0.1).any(-1)]
    assert np.all(sympy.lambdify([x1, x2], V, "numpy")(*grid.T) > 0)
    assert np.all(sympy.lambdify([x1, x2], derivative, "numpy")(*grid.T) < 0)
    summary = json.loads((discovered_run / "summary.json").read_text())
    assert summary["certificate"]["status"] == "verified"
    assert summary["certificate"]["expression"] == certificate["expression"]


def test_certify_proves_it_again_and_refuses_tampering(cli, discovered_run, tmp_path):
    code, out, err = cli("certify", f"run={discovered_run}")
    assert code == 0 and "certificate holds: V = " in out and "stable_linear" in out, err
    copy = tmp_path / "copy"
    shutil.copytree(discovered_run, copy, symlinks=True)
    path = copy / "certificate.json"
    original = json.loads(path.read_text())
    x1, x2 = sympy.symbols("x1 x2", real=True)
    for edit, message in [
        (dict(expression_tokens=to_tokens(x1**2 - x2**2)), "the verifier does not prove it again"),
        (dict(dynamics=[sympy.srepr(-x1), sympy.srepr(-x2)]), "stable_linear's dynamics differ"),
        (dict(system="damped_pendulum"), "the certificate is for damped_pendulum"),
    ]:
        path.write_text(json.dumps({**original, **edit}))
        code, _, err = cli("certify", f"run={copy}")
        assert code == 1 and message in err, err
    path.write_text("{not json")
    code, _, err = cli("certify", f"run={copy}")
    assert code == 2 and "is not valid JSON" in err
    path.write_text(json.dumps({**original, "version": 1}))
    code, _, err = cli("certify", f"run={copy}")
    assert code == 2 and "certificate version 1" in err
    # the expression is rebuilt token by token: code in its place is refused, never run
    path.write_text(json.dumps({**original, "expression_tokens": ["__import__('os').system('touch planted')"]}))
    code, _, err = cli("certify", f"run={copy}")
    assert code == 2 and "is not allowed in an expression" in err
    path.write_text(json.dumps({**original, "expression_tokens": "__import__('os').system('touch planted')"}))
    code, _, err = cli("certify", f"run={copy}")
    assert code == 2 and "must be a list of token strings" in err
    # a certificate of an older rlkit (V as srepr text) is refused by its version, with what to do
    older = {key: value for key, value in original.items() if key != "expression_tokens"}
    path.write_text(json.dumps({**older, "version": 2, "expression_srepr": sympy.srepr(x1**2 + x2**2)}))
    code, _, err = cli("certify", f"run={copy}")
    assert code == 2 and "has certificate version 2; this rlkit reads 3" in err and "train again" in err


def test_save_load_round_trip_and_predict(discovered_run):
    from agents.lyapunov_discovery.agent import LyapunovDiscoveryAgent
    from envs.control.autonomous_env import AutonomousEnv

    env = AutonomousEnv("stable_linear")
    agent = LyapunovDiscoveryAgent.load(discovered_run / "checkpoints" / "latest" / "agent.zip", env=env)
    certificate = json.loads((discovered_run / "certificate.json").read_text())
    assert str(agent.expression) == certificate["expression"]
    assert agent.certificate["expression_tokens"] == certificate["expression_tokens"]
    action, _ = agent.predict(np.zeros(2))
    assert action.shape == (0,) and agent.predict(np.zeros((5, 2)))[0].shape == (5, 0)
    assert env.step(action)[0].shape == (2,)


def test_the_checkpoint_keeps_the_tokens_and_evaluates_nothing(discovered_run, tmp_path):
    """V comes back from the token sequence the search sampled, through the library's operators: an
    expression planted in the checkpoint's copy of the certificate is never evaluated."""
    import zipfile

    import torch

    from agents.checkpoint import load_agent, save_agent
    from agents.lyapunov_discovery.agent import LyapunovDiscoveryAgent
    from envs.control.autonomous_env import AutonomousEnv

    env = AutonomousEnv("stable_linear")
    path = discovered_run / "checkpoints" / "latest" / "agent.zip"
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["meta.json", "tensors.safetensors"]
    agent = LyapunovDiscoveryAgent.load(path, env=env)
    assert agent.sequence and agent.library.decode(agent.sequence)  # a checked token sequence
    agent.save(tmp_path / "again")
    again = LyapunovDiscoveryAgent.load(tmp_path / "again.zip", env=env)
    assert again.expression == agent.expression and again.sequence == agent.sequence
    assert again.certificate == agent.certificate and again.num_timesteps == agent.num_timesteps
    saved, loaded = agent.policy.state_dict(), again.policy.state_dict()
    assert saved.keys() == loaded.keys() and all(torch.equal(saved[k], loaded[k]) for k in saved)
    save_format = LyapunovDiscoveryAgent.save_format
    hyperparameters, state = load_agent(tmp_path / "again.zip", "LyapunovDiscoveryAgent", save_format)
    state["agent"]["certificate"]["expression_tokens"] = ["__import__('os').system('touch planted')"]
    save_agent(tmp_path / "planted", "LyapunovDiscoveryAgent", save_format, hyperparameters, state)
    assert LyapunovDiscoveryAgent.load(tmp_path / "planted.zip", env=env).expression == agent.expression
    state["agent"]["sequence"] = [0]  # an operator without operands
    save_agent(tmp_path / "broken", "LyapunovDiscoveryAgent", save_format, hyperparameters, state)
    with pytest.raises(ValueError, match="incomplete"):
        LyapunovDiscoveryAgent.load(tmp_path / "broken.zip", env=env)


def test_bad_input_is_named(cli, tmp_path):
    code, _, err = cli("train", *TINY, "agent.operators=[add,log]", f"run_dir={tmp_path / 'a'}")
    assert code == 2 and "unknown or no operators ['log']; allowed: add, sub, mul" in err
    code, _, err = cli("train", *TINY, "env.system=lorenz", f"run_dir={tmp_path / 'b'}")
    assert code == 2 and "unknown system 'lorenz'; known: stable_linear" in err
    import gymnasium as gym

    from agents.lyapunov_discovery.agent import LyapunovDiscoveryAgent
    from envs.control.autonomous_env import AutonomousEnv

    with pytest.raises(ValueError, match="unknown decrease 'fast'; allowed: strict, weak"):
        LyapunovDiscoveryAgent(env=AutonomousEnv("stable_linear"), decrease="fast")
    with pytest.raises(ValueError, match="needs env=autonomous"):
        LyapunovDiscoveryAgent(env=gym.make("Pendulum-v1"))


def test_a_system_without_a_sympy_form_is_refused():
    from agents.lyapunov_discovery.agent import LyapunovDiscoveryAgent
    from envs.control.autonomous import AutonomousSystem
    from envs.control.autonomous_env import AutonomousEnv

    class Saturated(AutonomousSystem):  # numeric-only code: np.clip cannot take SymPy symbols
        name, state_names, region_low, region_high = "saturated", ("x1",), (-1.0,), (1.0,)

        def _rhs(self, x, xp):
            return (-np.clip(x[0], -0.5, 0.5),)

    with pytest.raises(ValueError, match="saturated has no SymPy form, which the verifier and the certificate"):
        LyapunovDiscoveryAgent(env=AutonomousEnv(Saturated()))


def _plus_one(certificate):
    """V + 1: still positive and decreasing on the region, but V(0) = 1."""
    from agents.lyapunov_discovery.sympy_form import parse_tokens

    x1, x2 = sympy.symbols("x1 x2", real=True)
    V = parse_tokens(certificate["expression_tokens"], [x1, x2]) + 1
    return dict(expression_tokens=to_tokens(V), expression=str(V))


@pytest.mark.parametrize("edit, message", [
    (_plus_one, "V(0) = 1, not 0"),
    (lambda c: dict(ball=100.0), "the ball 100.0 is not small against the box"),
    (lambda c: dict(ball=-1.0), "the ball -1.0 is not small against the box"),
    (lambda c: dict(expression="x1**2 + x2**2 + 7"),
     "the readable expression 'x1**2 + x2**2 + 7' is not the proved one"),
    (lambda c: dict(claim="V proves asymptotic stability"), "the claim text is not what a strict certificate proves"),
    (lambda c: dict(decrease="weak"), "the claim text is not what a weak certificate proves"),
    (lambda c: dict(decrease="sure"), "decrease 'sure' is not one of strict, weak"),
    (lambda c: dict(decrease=["strict"]), "decrease ['strict'] is not one of strict, weak"),
    (lambda c: dict(max_depth="30"), "max_depth '30' must be an integer from 0 to 200"),
])
def test_certify_refuses_a_false_or_vacuous_claim(cli, discovered_run, tmp_path, edit, message):
    """Each edit of the whole claim that the proof does not cover is named, exit 1."""
    copy = tmp_path / "copy"
    shutil.copytree(discovered_run, copy, symlinks=True)
    path = copy / "certificate.json"
    original = json.loads(path.read_text())
    path.write_text(json.dumps({**original, **edit(original)}))
    code, out, err = cli("certify", f"run={copy}")
    assert code == 1 and message in err and "certificate holds" not in out, err


def test_certify_prints_the_proved_expression_and_the_claim(cli, discovered_run):
    from agents.lyapunov_discovery.certificate import CLAIMS

    certificate = json.loads((discovered_run / "certificate.json").read_text())
    assert certificate["claim"] == CLAIMS["strict"]
    assert "asymptotic stability of 0 is not proved" in certificate["claim"]
    code, out, err = cli("certify", f"run={discovered_run}")
    assert code == 0 and f"V = {certificate['expression']} " in out and CLAIMS["strict"] in out, err
