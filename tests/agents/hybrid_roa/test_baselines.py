"""The hybrid car's baseline controllers (agents.hybrid_roa.baselines): LQR per mode, nonlinear MPC
with the road preview and the common-CLF QP, on short fixed roads."""

from __future__ import annotations

import json
import math

import gymnasium as gym
import numpy as np
import pytest
import scipy.linalg
import scipy.optimize
import torch

from agents.hybrid_roa.base import DEFAULT_Q, DEFAULT_R, deviation
from agents.hybrid_roa.baselines import CommonCLFAgent, HybridLQRAgent, HybridMPCAgent, clf_qp
from envs.hybrid.car_env import FIELD, CarHybridEnv
from car_drive import drive

STRAIGHT = [{"length": 7.5, "turn": 0.0, "friction": "normal", "speed": 5.0}] * 2
SWITCHING = [{"length": 7.5, "turn": 0.0, "friction": "normal", "speed": 5.0},
             {"length": 7.5, "turn": 0.4, "friction": "icy", "speed": 5.0}]


# -- LQR per mode --------------------------------------------------------------------------------
def test_lqr_drives_the_deviation_to_zero_on_a_straight_road():
    env = CarHybridEnv(road=STRAIGHT * 2)
    agent = HybridLQRAgent(env=env)
    seen, _, info, last = drive(agent, env, seed=3)
    assert info["metrics"]["valid"] == 1.0 and info["metrics"]["progress"] > 0.95
    _, e_start, _, _ = deviation(agent.system, seen[:1].astype(np.float64))
    _, e_end, _, _ = deviation(agent.system, last[None].astype(np.float64))
    assert np.abs(e_start).max() > 0.3  # it started off the reference
    assert np.abs(e_end).max() < 0.02


def test_lqr_gain_matches_an_independent_riccati_solution():
    env = CarHybridEnv(road=SWITCHING)
    agent = HybridLQRAgent(env=env)
    system, params = agent.system, np.array([12.0, 0.3, 0.0, 0.1])
    x_eq, u_eq = (t.numpy() for t in system.equilibrium(torch.tensor(params)))
    # Jacobians by central differences of the float dynamics (not torch's autograd)
    f = lambda x, u: np.array(system.dynamics_scalar(tuple(x), tuple(u), tuple(params)))  # noqa: E731
    h = 1e-6
    A = np.stack([(f(x_eq + h * d, u_eq) - f(x_eq - h * d, u_eq)) / (2 * h) for d in np.eye(7)], axis=1)
    B = np.stack([(f(x_eq, u_eq + h * d) - f(x_eq, u_eq - h * d)) / (2 * h) for d in np.eye(2)], axis=1)
    Ad, Bd, Q, R = np.eye(7) + system.dt * A, system.dt * B, np.diag(DEFAULT_Q), np.diag(DEFAULT_R)
    P = scipy.linalg.solve_discrete_are(Ad, Bd, Q, R)
    K = np.linalg.solve(R + Bd.T @ P @ Bd, Bd.T @ P @ Ad)
    K_agent, P_agent = agent.schedule.gain_and_cost(params)
    np.testing.assert_allclose(K_agent, K, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(P_agent, P, rtol=1e-5)
    # and the agent's action is u_eq - K e, saturated
    obs = np.zeros(17)
    obs[:7] = x_eq + np.array([0.1, -0.2, 0.0, 0.3, 0.02, 0.0, 0.0])
    obs[[FIELD["mu_scale"], FIELD["reference_speed"], FIELD["curvature"]]] = 0.1, 12.0, 0.3 / 12.0
    expected = np.clip(u_eq - K @ (obs[:7] - x_eq), -8, 8)
    np.testing.assert_allclose(agent.predict(obs)[0], expected, rtol=1e-4, atol=1e-5)


# -- MPC ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mpc_drive():
    env = CarHybridEnv(road=SWITCHING)
    agent = HybridMPCAgent(env=env, maxiter=5)
    obs, _ = env.reset(seed=1)
    solves, start, info = [], True, None
    for _ in range(1000):
        action, _ = agent.predict(obs, episode_start=start)
        start = False
        solves.append(agent.solves)
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    return agent, np.array(solves), info


def test_mpc_stays_on_a_switching_road(mpc_drive):
    _, _, info = mpc_drive
    assert info["metrics"]["valid"] == 1.0 and info["metrics"]["progress"] > 0.95


def test_mpc_replans_exactly_every_ten_steps(mpc_drive):
    agent, solves, _ = mpc_drive
    steps = np.arange(len(solves))
    np.testing.assert_array_equal(solves, steps // 10 + 1)
    assert agent.solve_time > 0


def test_mpc_plan_is_no_worse_than_the_lqr_rollout_it_starts_from():
    env = CarHybridEnv(road=SWITCHING)
    agent = HybridMPCAgent(env=env, maxiter=15)
    for seed in range(3):
        obs, _ = env.reset(seed=seed)
        obs = obs.astype(np.float64)
        problem = agent.problem(obs)
        cost = lambda u: float(agent.cost(problem, torch.from_numpy(u)))  # noqa: E731
        lqr, plan = agent.lqr_rollout(problem), agent.solve(obs)
        assert plan.shape == (20, 2) and np.all(np.abs(plan) <= 8.0)
        assert cost(plan) < cost(lqr)  # the LQR rollout is near-optimal already; the plan still improves


def test_mpc_prediction_switches_at_the_next_segment():
    env = CarHybridEnv(road=SWITCHING)
    agent = HybridMPCAgent(env=env)
    obs, _ = env.reset(seed=0)
    obs = obs.astype(np.float64)
    obs[FIELD["distance_to_switch"]] = 0.5  # 0.5 m at about 5 m/s: step 10
    speed = obs[FIELD["reference_speed"]] + obs[FIELD["speed_error"]]
    before, after, switch = agent.prediction_parameters(obs)
    assert switch == math.ceil(0.5 / (speed * 0.01))
    assert before[3] == 1.0 and after[3] == pytest.approx(0.1)
    assert after[1] == pytest.approx(5.0 * 0.4 / 7.5)
    obs[FIELD["distance_to_switch"]] = 50.0
    assert agent.prediction_parameters(obs)[2] == 21  # beyond the horizon: no switch


def test_mpc_replans_on_a_new_episode_and_a_new_batch_size():
    env = CarHybridEnv(road=SWITCHING)
    agent = HybridMPCAgent(env=env, maxiter=2)
    obs, _ = env.reset(seed=0)
    agent.predict(obs, episode_start=True)
    for _ in range(3):
        obs = env.step(agent.predict(obs)[0])[0]
    assert agent.solves == 1
    agent.predict(obs, episode_start=np.array([True]))
    assert agent.solves == 2
    agent.predict(np.stack([obs, obs]))
    assert agent.solves == 4  # a batch of two: both rows re-plan
    agent.predict(np.stack([obs, obs]), episode_start=np.array([False, True]))
    assert agent.solves == 5
    with pytest.raises(ValueError, match="episode_start"):
        agent.predict(np.stack([obs, obs]), episode_start=np.array([True, False, True]))


def mpc_problems(agent):
    """MPC problems off the reference on the switching road: the switch inside the horizon, at its end
    and beyond it, with the steering against its stop and the speed below the tyre model's floor."""
    env = CarHybridEnv(road=SWITCHING, initial_error=3.0)
    problems = []
    for seed in range(3):
        obs = env.reset(seed=seed)[0].astype(np.float64)
        speed = obs[FIELD["reference_speed"]] + obs[FIELD["speed_error"]]
        for distance in (0.5, 20 * 0.01 * speed, 50.0):
            case = obs.copy()
            case[FIELD["distance_to_switch"]] = distance
            if seed == 1:
                case[2] = 1.05  # 0.016 rad from the stop: steering rates above 1.6 rad/s reach it
            if seed == 2:
                case[FIELD["speed_error"]] = 0.3 - case[FIELD["reference_speed"]]  # 0.3 m/s < MIN_SPEED
            problems.append(agent.problem(case))
    return problems


def torch_rollout(agent, problem, u):
    """The predicted states (before each step's shift) by the torch model's step, as the torch cost."""
    x, states = problem["x0"], []
    for k in range(agent.horizon):
        if k == problem["switch"]:
            x = x + problem["shift"]
        states.append(x)
        x = agent.system.step(x, torch.from_numpy(u[k]), problem["params"][problem["which"][k]])
    return torch.stack(states).numpy()


def test_mpc_cost_gradient_equals_torch_autograd_of_the_torch_cost():
    env = CarHybridEnv(road=SWITCHING)
    agent = HybridMPCAgent(env=env)
    rng = np.random.default_rng(0)
    switches, steering_stops, slow, clipped, on_bound = set(), 0, 0, 0, 0
    for problem in mpc_problems(agent):
        switches.add(problem["switch"])
        for trial in range(3):
            u = agent.lqr_rollout(problem) if trial == 0 else rng.uniform(-10.0, 10.0, (20, 2))
            if trial == 2:
                u[rng.random((20, 2)) < 0.3] = 8.0  # on the bound: torch.clamp passes the gradient there
                u[:, 0] = np.abs(u[:, 0])
            u_t = torch.tensor(u, requires_grad=True)
            expected = agent.cost(problem, u_t)
            (expected_grad,) = torch.autograd.grad(expected, u_t)
            total, grad = agent.cost_and_gradient(problem, u)
            assert total == pytest.approx(float(expected.detach()), rel=1e-12)
            np.testing.assert_allclose(grad, expected_grad.numpy(), rtol=1e-6,
                                       atol=1e-9 * np.abs(expected_grad.numpy()).max())
            assert agent.cost_and_gradient(problem, u, gradient=False) == (total, None)
            states = torch_rollout(agent, problem, u)
            steering_stops += int(np.sum(np.abs(states[1:, 2]) == 1.066))
            slow += int(np.sum(states[:, 3] + problem["params"][0, 0].item() < 0.5))
            clipped += int(np.sum(np.abs(u) > 8.0))
            on_bound += int(np.sum(np.abs(u) == 8.0))
    # every regime of the clips was exercised
    assert min(switches) < 20 and {20, 21} <= switches  # inside the horizon, at its end, beyond it
    assert steering_stops > 0 and slow > 0 and clipped > 0 and on_bound > 0


def test_mpc_lqr_rollout_follows_the_torch_model():
    env = CarHybridEnv(road=SWITCHING)
    agent = HybridMPCAgent(env=env)
    for problem in mpc_problems(agent)[:6]:
        u = agent.lqr_rollout(problem)
        states = torch_rollout(agent, problem, u)
        for k in range(agent.horizon):  # u_k is the saturated LQR input at the torch model's state
            i = problem["which"][k]
            lqr = problem["u_eq"][i].numpy() - problem["gains"][i] @ (states[k] - problem["x_eq"][i].numpy())
            np.testing.assert_allclose(u[k], np.clip(lqr, -8.0, 8.0), rtol=1e-10, atol=1e-10)


def test_mpc_solve_equals_lbfgsb_on_torch_gradients():
    env = CarHybridEnv(road=SWITCHING)
    agent = HybridMPCAgent(env=env, maxiter=10)
    obs = env.reset(seed=4)[0].astype(np.float64)
    problem = agent.problem(obs)

    def torch_value_and_gradient(u):
        u_t = torch.tensor(u.reshape(20, 2), requires_grad=True)
        total = agent.cost(problem, u_t)
        return float(total.detach()), torch.autograd.grad(total, u_t)[0].numpy().reshape(-1)

    result = scipy.optimize.minimize(torch_value_and_gradient, agent.lqr_rollout(problem).reshape(-1), jac=True,
                                     method="L-BFGS-B", bounds=[(-8.0, 8.0)] * 40, options={"maxiter": 10})
    plan = agent.solve(obs)
    np.testing.assert_allclose(plan, result.x.reshape(20, 2), rtol=1e-6, atol=1e-8)
    assert np.abs(plan - agent.lqr_rollout(problem)).max() > 1e-3  # the optimiser moved off its start


# -- common CLF -----------------------------------------------------------------------------------
def clf_observations():
    """Observations on normal and icy, straight and curved roads, off the reference."""
    rows = []
    for friction in ("normal", "icy"):
        for turn in (0.0, 0.5):
            env = CarHybridEnv(road=[{"length": 15.0, "turn": turn, "friction": friction, "speed": 10.0}],
                               initial_error=3.0)
            rows += [env.reset(seed=seed)[0] for seed in range(10)]
    return np.array(rows, dtype=np.float64)


def test_clf_input_meets_the_decrease_condition_where_the_box_allows():
    env = CarHybridEnv(road=SWITCHING)
    agent = CommonCLFAgent(env=env, rate=5.0)
    obs = clf_observations()
    a, b, u_lqr, V = agent.constraint(obs)
    u = agent.control(obs)
    assert np.all(np.abs(u) <= 8.0)
    feasible = -8.0 * np.abs(a).sum(axis=1) <= b
    assert feasible.sum() > 10
    violations = np.einsum("ij,ij->i", a, u) - b
    assert np.all(violations[feasible] <= 1e-9 * (1 + np.abs(b[feasible])))
    # optimal: no feasible input of a grid over the box lies nearer the design LQR input
    grid = np.stack(np.meshgrid(np.linspace(-8, 8, 161), np.linspace(-8, 8, 161)), -1).reshape(-1, 2)
    for row in np.flatnonzero(feasible):
        ok = grid @ a[row] <= b[row]
        if ok.any():
            nearest = np.min(np.linalg.norm(grid[ok] - u_lqr[row], axis=1))
            assert np.linalg.norm(u[row] - u_lqr[row]) <= nearest + 1e-9
    # where nothing in the box decreases V fast enough, the fastest decrease the box allows
    for row in np.flatnonzero(~feasible):
        np.testing.assert_allclose(u[row], -8.0 * np.sign(a[row]))


def test_clf_equals_lqr_on_the_design_mode_when_lqr_already_decreases_v():
    env = CarHybridEnv(road=SWITCHING)
    clf, lqr = CommonCLFAgent(env=env, design_mode="normal"), HybridLQRAgent(env=env)
    obs = clf_observations()
    obs = obs[obs[:, FIELD["mu_scale"]] == 1.0]
    a, b, u_lqr, _ = clf.constraint(obs)
    u_plain = lqr.control(obs)
    inside = (np.abs(u_lqr) < 8.0).all(axis=1) & (np.einsum("ij,ij->i", a, u_lqr) <= b)
    assert inside.sum() >= 5
    np.testing.assert_allclose(clf.control(obs)[inside], u_plain[inside], rtol=1e-12, atol=1e-12)


def test_clf_design_mode_sets_one_v_for_all_modes():
    env = CarHybridEnv(road=SWITCHING)
    agent = CommonCLFAgent(env=env, design_mode="icy")
    obs = clf_observations()
    mu = obs[:, FIELD["mu_scale"]]
    icy, normal = obs[np.isclose(mu, 0.1)][:1], obs[mu == 1.0][:1].copy()
    normal[0, :7] = icy[0, :7]  # the same state on a straight road: the same deviation, the same V
    normal[0, 8:12] = icy[0, 8:12]
    assert agent.constraint(icy)[3][0] == pytest.approx(agent.constraint(normal)[3][0], rel=1e-12)


def test_clf_qp_closed_form_cases():
    # unconstrained optimum already feasible
    np.testing.assert_allclose(clf_qp(np.array([1.0, 0.0]), 5.0, np.array([1.0, 2.0]), 8.0), [1.0, 2.0])
    # projection onto u_0 <= -1
    np.testing.assert_allclose(clf_qp(np.array([1.0, 0.0]), -1.0, np.array([1.0, 2.0]), 8.0), [-1.0, 2.0])
    # projection leaves the box: the optimum slides along the line to the box edge
    np.testing.assert_allclose(clf_qp(np.array([1.0, 1.0]), -12.0, np.array([0.0, 8.0]), 8.0), [-8.0, -4.0])
    # nothing feasible: the corner minimising a'u
    np.testing.assert_allclose(clf_qp(np.array([1.0, -2.0]), -100.0, np.zeros(2), 8.0), [-8.0, 8.0])


# -- mistakes and the agent surface ---------------------------------------------------------------
@pytest.mark.parametrize("cls, kwargs, message", [
    (CommonCLFAgent, {"design_mode": "wet"}, r"design_mode must be one of the car's modes \['icy', 'normal'\]"),
    (HybridLQRAgent, {"Q": [1.0] * 6}, "Q must be a list of 7"),
    (HybridMPCAgent, {"R": [1.0, -1.0]}, "R's weights must be finite and positive"),
    (HybridMPCAgent, {"replan_every": 30}, r"replan_every must be an integer in \[1, 20\]"),
    (CommonCLFAgent, {"rate": -1.0}, "rate must be a non-negative number"),
    (HybridLQRAgent, {"gamma": 0.9}, r"HybridLQRAgent: unknown hyper-parameter\(s\) \['gamma'\]; allowed: Q, R$"),
    (HybridMPCAgent, {"horizn": 5}, r"allowed: Q, R, horizon, maxiter, replan_every$"),
    (CommonCLFAgent, {"policy": None}, r"allowed: Q, R, design_mode, rate$"),
])
def test_bad_hyperparameters_are_named(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(env=CarHybridEnv(road=SWITCHING), **kwargs)


@pytest.mark.parametrize("cls", [HybridLQRAgent, HybridMPCAgent, CommonCLFAgent])
def test_bad_observations_and_envs_are_named(cls):
    env = CarHybridEnv(road=SWITCHING)
    agent = cls(env=env)
    obs, _ = env.reset(seed=0)
    obs[4] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        agent.predict(obs)
    with pytest.raises(ValueError, match="17 entries"):
        agent.predict(np.zeros(5))
    with pytest.raises(ValueError, match="controls the hybrid car: it needs env=car_hybrid"):
        cls(env=gym.make("Pendulum-v1"))


@pytest.mark.parametrize("cls", [HybridLQRAgent, HybridMPCAgent, CommonCLFAgent])
@pytest.mark.parametrize("planned", [False, True])
def test_save_load_round_trip_acts_identically(tmp_path, cls, planned):
    env = CarHybridEnv(road=SWITCHING, reference_commands=planned)
    kwargs = {"maxiter": 3} if cls is HybridMPCAgent else {}
    agent = cls(env=env, **kwargs)
    _, before, _, _ = drive(agent, env, seed=2, steps=25)
    assert before.shape[1] == (4 if planned else 2)
    agent.save(tmp_path / "agent.zip")
    loaded = cls.load(tmp_path / "agent.zip", env=env)
    assert loaded.hyperparameters == agent.hyperparameters
    _, after, _, _ = drive(loaded, env, seed=2, steps=25)
    np.testing.assert_array_equal(after, before)


def test_rlkit_trains_and_evaluates_the_lqr_baseline(train_run):
    run = train_run("env=car_hybrid", "agent=hybrid_lqr", "+env.kwargs.n_segments=2", "total_timesteps=300",
                    "eval.episodes=1")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["num_timesteps"] == 300


# -- the conventions every car agent follows (hybrid_roa included) ----------------------------------
def _car_agents():
    from agents.hybrid_roa.agent import HybridRoAAgent

    return {"hybrid_lqr": HybridLQRAgent, "hybrid_mpc": HybridMPCAgent, "hybrid_clf": CommonCLFAgent,
            "hybrid_roa": HybridRoAAgent}


@pytest.mark.parametrize("name", ["hybrid_lqr", "hybrid_mpc", "hybrid_clf", "hybrid_roa"])
def test_the_config_lists_exactly_the_constructor_hyperparameters_with_their_defaults(name):
    import inspect

    import yaml

    from rlkit.catalogue import CONF_DIR, hyperparameter_names

    agent_class = _car_agents()[name]
    config = yaml.safe_load((CONF_DIR / "agent" / f"{name}.yaml").read_text())
    assert config.pop("factory").endswith(f":{agent_class.__name__}")
    assert set(config) == hyperparameter_names(agent_class)
    defaults = {k: p.default for k, p in inspect.signature(agent_class.__init__).parameters.items()}
    for key, value in config.items():  # the YAML repeats the defaults (tuples there, lists here)
        default = defaults[key]
        assert (list(default) if isinstance(default, tuple) else default) == value, key
    for key in config:  # and each is documented
        assert f"    {key}: " in agent_class.__doc__, key


@pytest.mark.parametrize("cls", [HybridLQRAgent, HybridMPCAgent, CommonCLFAgent])
def test_a_checkpoint_holds_no_pickle_and_an_older_one_is_refused(tmp_path, cls):
    import zipfile

    from agents.checkpoint import OlderCheckpointError

    env = CarHybridEnv(road=SWITCHING)
    cls(env=env, seed=4).save(tmp_path / "agent")
    with zipfile.ZipFile(tmp_path / "agent.zip") as archive:
        assert sorted(archive.namelist()) == ["meta.json", "tensors.safetensors"]
        meta = json.loads(archive.read("meta.json"))
    assert meta["class"] == cls.__name__ and "Q" in meta["hyperparameters"]
    loaded = cls.load(tmp_path / "agent.zip")  # without an env: on one like the saved agent's
    assert loaded.seed == 4 and loaded.get_env() is None and not loaded.reference_commands
    with zipfile.ZipFile(tmp_path / "older.zip", "w") as archive:  # what rlkit wrote before: a pickle inside
        archive.writestr("data.pkl", b"\x80\x04N.")
        archive.writestr("meta.json", json.dumps({"format": 1, "class": cls.__name__}))
    with pytest.raises(OlderCheckpointError, match="older rlkit"):
        cls.load(tmp_path / "older.zip", env=env)
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a saved rlkit agent"):
        cls.load(tmp_path / "junk.zip", env=env)
