"""YANN-TD3 and YANN-DDPG start as explicit MPC, train with SB3's machinery, round-trip through
save/load and never deploy a policy that evaluates worse than the MPC."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs  # noqa: F401  (registers the control envs)
from agents.base import Agent
from agents.mpc import ExplicitMPCAgent
from agents.yann import YANNDDPG, YANNTD3
from rlkit.evaluation import evaluate

ENV_IDS = {"double_integrator": "rlkit/DoubleIntegrator-v0", "cstr": "rlkit/CSTR-v0"}
SMALL = {"learning_starts": 32, "batch_size": 32, "buffer_size": 2000, "policy_kwargs": {"net_arch": [16, 16]}}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    # one cache per session for every test module (the CSTR tracking solve takes ~25 s)
    return str(tmp_path_factory.getbasetemp() / "explicit_mpc")


def make(agent_class, name, cache_dir, **overrides):
    env = gym.make(ENV_IDS[name])
    return agent_class(env=env, seed=0, device="cpu", cache_dir=cache_dir, **{**SMALL, **overrides}), env


@pytest.mark.parametrize("name", sorted(ENV_IDS))
def test_before_training_yann_td3_evaluates_as_explicit_mpc(name, cache_dir):
    agent, env = make(YANNTD3, name, cache_dir)
    assert isinstance(agent, Agent) and agent.deployed == "mpc"
    mpc = ExplicitMPCAgent(env=env, cache_dir=cache_dir)
    yann_return = evaluate(agent, gym.make(ENV_IDS[name]), episodes=5, seed=10).mean_return
    mpc_return = evaluate(mpc, gym.make(ENV_IDS[name]), episodes=5, seed=10).mean_return
    assert yann_return == pytest.approx(mpc_return, rel=0.01)
    # the CSTR env observes its setpoint: both track it, on theta = (x, x_ref)
    solution = agent.explicit_solution
    assert solution.tracking == (name == "cstr") == mpc.problem.tracking
    # and action by action, on states (and references) inside and outside the feasible set
    n = env.unwrapped.system.n_states
    theta = np.random.default_rng(0).uniform(solution.theta_low, solution.theta_high,
                                             size=(300, solution.n_parameters))
    observations = np.stack([env.unwrapped.state_to_observation(t[:n], *([t[n:]] if solution.tracking else []))
                             for t in theta])
    np.testing.assert_allclose(agent.predict(observations)[0], mpc.predict(observations)[0], atol=1e-6)


def test_initial_critic_is_stage_cost_plus_discounted_mpc_value_of_the_linear_successor(cache_dir):
    agent, env = make(YANNTD3, "double_integrator", cache_dir, gamma=0.9)
    solution, system = agent.explicit_solution, env.unwrapped.system
    rng = np.random.default_rng(1)
    states = rng.uniform(-6, 6, size=(200, 2))
    actions = rng.uniform(-1, 1, size=(200, 1))
    inputs = env.unwrapped.action_to_input(actions)
    successors = states @ solution.problem.A.T + inputs @ solution.problem.B.T
    stage = np.einsum("bi,ij,bj->b", states, system.Q, states) + np.einsum("bi,ij,bj->b", inputs, system.R, inputs)
    value = solution.value(successors, outside="nan")
    lqr_value = np.einsum("bi,ij,bj->b", successors, solution.problem.P, successors)
    assert 0 < np.isnan(value).sum() < len(value)  # both branches are exercised
    expected = -stage - 0.9 * np.where(np.isnan(value), lqr_value, value)  # LQR value where infeasible
    with torch.no_grad():
        q_values = agent.critic(torch.as_tensor(states), torch.as_tensor(actions))
    for q in q_values:  # both twins start at the linear problem's value
        np.testing.assert_allclose(q.numpy()[:, 0], expected, rtol=1e-9, atol=1e-9)


def test_gradients_reach_the_laws_and_residuals_but_not_the_region_layers(cache_dir):
    agent, env = make(YANNTD3, "double_integrator", cache_dir)
    actor, critic = agent.actor, agent.critic
    observations = torch.as_tensor(np.random.default_rng(2).uniform(-5, 5, size=(64, 2)))
    critic.q1_forward(observations, actor(observations)).mean().neg().backward()
    assert actor.yann.K.grad.abs().sum() > 0 and actor.yann.k.grad.abs().sum() > 0
    assert actor.residual[-1].weight.grad.abs().sum() > 0
    assert all(not b.requires_grad for b in actor.yann.indicators.buffers())
    assert list(actor.yann.indicators.parameters()) == []
    q_net = critic.q_networks[0]
    q_net(observations, actor(observations).detach()).sum().backward()
    assert q_net.value.P.grad.abs().sum() > 0 and q_net.residual[-1].bias.grad.abs().sum() > 0
    # the frozen MPC actor and the deployed one are not trained
    assert all(not p.requires_grad for p in agent.policy.mpc_actor.parameters())
    assert all(not p.requires_grad for p in agent.policy.deployed_actor.parameters())


@pytest.mark.parametrize("agent_class", [YANNTD3, YANNDDPG])
def test_short_learning_keeps_the_deployed_policy_no_worse_than_mpc(agent_class, cache_dir):
    agent, env = make(agent_class, "cstr", cache_dir, improvement_eval_freq=100, improvement_eval_episodes=2,
                      learning_rate=1e-3)
    agent.learn(300)
    assert agent.num_timesteps >= 300
    history = agent.improvement_history
    assert [h["timesteps"] for h in history] == [100, 200, 300]
    for check in history:
        assert check["deployed_return"] >= check["mpc_return"]
        assert check["deployed"] in ("mpc", "trained")
    deployed = agent.evaluate_actor(agent.policy.deployed_actor)
    assert deployed == pytest.approx(agent.deployed_return) and deployed >= agent.mpc_return
    assert agent.evaluate_actor(agent.policy.mpc_actor) == pytest.approx(agent.mpc_return)
    if agent.deployed == "mpc":  # predict() then acts exactly as the MPC
        observations = np.random.default_rng(3).uniform([0.8, 320.0, 0.85, 322.0], [0.9, 330.0, 0.9, 327.0],
                                                        size=(20, 4))
        with torch.no_grad():
            mpc_actions = agent.policy.mpc_actor(torch.as_tensor(observations)).numpy()
        np.testing.assert_allclose(agent.predict(observations)[0], mpc_actions)


def test_save_and_load_round_trip(cache_dir, tmp_path):
    agent, env = make(YANNTD3, "double_integrator", cache_dir, improvement_eval_freq=100, improvement_eval_episodes=1)
    agent.learn(200)
    with torch.no_grad():  # make the deployed actor differ from the MPC so the round trip shows it
        agent.policy.deployed_actor.residual[-1].bias.fill_(0.05)
    agent.deployed = "trained"
    observations = np.random.default_rng(4).uniform(-8, 8, size=(50, 2))
    actions = agent.predict(observations)[0]
    agent.save(tmp_path / "agent.zip")
    loaded = YANNTD3.load(tmp_path / "agent.zip", env=gym.make(ENV_IDS["double_integrator"]), device="cpu")
    np.testing.assert_array_equal(loaded.predict(observations)[0], actions)
    assert loaded.deployed == "trained" and loaded.mpc_return == agent.mpc_return
    assert loaded.improvement_history == agent.improvement_history and loaded.num_timesteps == agent.num_timesteps
    with torch.no_grad():
        obs = torch.as_tensor(observations)
        np.testing.assert_array_equal(loaded.actor(obs).numpy(), agent.actor(obs).numpy())
        np.testing.assert_array_equal(loaded.policy.mpc_actor(obs).numpy(), agent.policy.mpc_actor(obs).numpy())
    for name in ("actor.optimizer", "critic.optimizer"):
        saved, restored = agent.get_parameters()[name], loaded.get_parameters()[name]
        assert saved["param_groups"] == restored["param_groups"]
        for index, values in saved["state"].items():
            for key, value in values.items():
                torch.testing.assert_close(restored["state"][index][key], value, rtol=0, atol=0)
    # its networks come from the env's control system: without an env it cannot be rebuilt
    with pytest.raises(ValueError, match="YANNTD3 cannot be loaded without an env: its networks are built from"):
        YANNTD3.load(tmp_path / "agent.zip", device="cpu")


def test_an_env_without_a_control_system_is_refused_clearly(cache_dir):
    with pytest.raises(ValueError, match="exposes no control system"):
        YANNTD3(env=gym.make("Pendulum-v1"), cache_dir=cache_dir)
    with pytest.raises(ValueError, match="unknown explore_with 'random'; allowed: actor, deployed"):
        make(YANNTD3, "double_integrator", cache_dir, explore_with="random")
    with pytest.raises(ValueError, match="unknown policy 'MlpPolicy'"):
        YANNTD3("MlpPolicy", gym.make(ENV_IDS["double_integrator"]), cache_dir=cache_dir)


def test_rlkit_trains_yann_td3_from_its_config(train_run, cache_dir):
    import json

    run_dir = train_run("env=double_integrator", "agent=yann_td3", "total_timesteps=300", "eval.every=150",
                        f"agent.cache_dir={cache_dir}", "agent.learning_starts=32", "agent.batch_size=32",
                        "agent.improvement_eval_freq=150", "agent.improvement_eval_episodes=1")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed"


def test_tracking_critic_values_the_linear_successor_with_the_observed_reference(cache_dir):
    agent, env = make(YANNTD3, "cstr", cache_dir, gamma=0.95)
    solution, system = agent.explicit_solution, env.unwrapped.system
    problem = solution.problem
    assert solution.tracking and agent.linear_ocp.tracking
    rng = np.random.default_rng(5)
    theta = rng.uniform(solution.theta_low, solution.theta_high, size=(300, 4))
    x, x_ref = theta[:, :2], theta[:, 2:]
    actions = rng.uniform(-1, 1, size=(300, 1))
    u = env.unwrapped.action_to_input(actions)
    u_ref = problem.reference_input(x_ref)
    stage = np.einsum("bi,ij,bj->b", x - x_ref, system.Q, x - x_ref) + np.einsum("bi,ij,bj->b", u - u_ref, system.R, u - u_ref)
    x_next = problem.x_eq + (x - problem.x_eq) @ problem.A.T + (u - problem.u_eq) @ problem.B.T
    value = solution.value(np.hstack([x_next, x_ref]), outside="nan")
    lqr_value = np.einsum("bi,ij,bj->b", x_next - x_ref, problem.P, x_next - x_ref)
    assert np.isnan(value).sum() < len(value)
    expected = -stage - 0.95 * np.where(np.isnan(value), lqr_value, value)
    observations = np.stack([env.unwrapped.state_to_observation(a, b) for a, b in zip(x, x_ref)])
    with torch.no_grad():
        q_values = agent.critic(torch.as_tensor(observations), torch.as_tensor(actions))
    for q in q_values:
        np.testing.assert_allclose(q.numpy()[:, 0], expected, rtol=1e-9, atol=1e-9)
    # the actor is the tracking MPC, and a regulating agent can still be asked for
    regulator, _ = make(YANNTD3, "cstr", cache_dir, track_reference=False)
    assert not regulator.explicit_solution.tracking and regulator.linear_ocp.n_parameters == 2
