"""The control envs: Gymnasium's contract, reward = minus the stage cost, violation counting,
seeding, observation and action scaling, the CSTR tasks, registration and bad input."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
import yaml
from gymnasium.utils.env_checker import check_env

import envs  # noqa: F401  (registers the envs)
from envs.control import CONTROL_ENVS, CSTR, ControlEnv, CSTREnv, CSTRSafeEnv, DoubleIntegratorEnv

SHORT_NAMES = {
    "cstr": "rlkit/CSTR-v0",
    "cstr_safe": "rlkit/CSTRSafe-v0",
    "pendulum_clipped": "rlkit/PendulumClipped-v0",
    "double_integrator": "rlkit/DoubleIntegrator-v0",
}
CONF_DIR = Path(__file__).parents[3] / "rlkit" / "conf" / "env"


def make(env_id: str, **kwargs) -> ControlEnv:
    return gym.make(env_id, **kwargs).unwrapped


@pytest.fixture(params=sorted(CONTROL_ENVS))
def env_id(request) -> str:
    return request.param


@pytest.mark.parametrize("scaling", ["physical", "normalized"])
def test_passes_gymnasiums_env_checker(env_id, scaling):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning but the one below is a failure
        # the observation space is unbounded on purpose: states can leave every box
        warnings.filterwarnings("ignore", message=".*Box observation space (minimum|maximum) value is")
        check_env(make(env_id, observation_scaling=scaling), skip_render_check=True)


def test_exposes_its_system_and_the_scaling_methods(env_id):
    env = gym.make(env_id)
    system = env.unwrapped.system
    assert system.n_inputs == env.action_space.shape[0]
    for method in ("observation_to_state", "state_to_observation", "action_to_input", "input_to_action"):
        assert callable(getattr(env.unwrapped, method))


def test_reward_is_minus_the_stage_cost_before_the_step(env_id):
    env = make(env_id)
    obs, info = env.reset(seed=1)
    rng = np.random.default_rng(0)
    for _ in range(30):
        x, (x_ref, u_ref) = env.state, env.reference()
        action = rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
        obs, reward, terminated, truncated, info = env.step(action)
        u = env.action_to_input(action)
        cost = float(env.system.stage_cost(torch.as_tensor(x), torch.as_tensor(u), x_ref, u_ref))
        assert reward == pytest.approx(-cost, rel=1e-12, abs=1e-14)
        assert info["stage_cost"] == pytest.approx(cost, rel=1e-12, abs=1e-14)
        assert np.allclose(info["input"], u)


def test_env_steps_are_the_systems_torch_steps(env_id):
    """The env's fast float path and the differentiable torch model agree to 1e-9."""
    env = make(env_id)
    env.reset(seed=2)
    rng = np.random.default_rng(1)
    for _ in range(60):
        x = torch.as_tensor(env.state)
        action = rng.uniform(-1, 1, env.action_space.shape)
        _, _, terminated, truncated, info = env.step(action)
        expected = env.system.discrete_step(x, torch.as_tensor(env.action_to_input(action))).numpy()
        assert np.allclose(info["state"], expected, rtol=1e-9, atol=1e-9)
        if terminated or truncated:
            break


def test_seeding_reproduces_episodes_and_draws_starts_from_the_box(env_id):
    def episode(seed):
        env = make(env_id)
        obs, _ = env.reset(seed=seed)
        env.action_space.seed(seed)
        trace = [obs]
        for _ in range(10):
            trace.append(env.step(env.action_space.sample())[0])
        return np.array(trace), env

    first, env = episode(7)
    again, _ = episode(7)
    other, _ = episode(8)
    assert np.array_equal(first, again) and not np.array_equal(first[0], other[0])
    starts = np.array([env.observation_to_state(env.reset(seed=s)[0]) for s in range(50)])
    assert np.all(starts >= env.initial_state_low) and np.all(starts <= env.initial_state_high)


def test_reset_to_a_given_state(env_id):
    env = make(env_id)
    x0 = (env.initial_state_low + env.initial_state_high) / 2
    obs, info = env.reset(seed=0, options={"initial_state": x0})
    assert np.allclose(env.observation_to_state(obs), x0) and np.array_equal(info["state"], x0)
    with pytest.raises(ValueError, match="outside the state box"):
        env.reset(options={"initial_state": env.system.state_high + 1.0})
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"start": x0})


@pytest.mark.parametrize("scaling", ["physical", "normalized"])
def test_scaling_round_trips(env_id, scaling):
    env = make(env_id, observation_scaling=scaling)
    obs, _ = env.reset(seed=3)
    system = env.system
    rng = np.random.default_rng(2)
    states = rng.uniform(system.state_low, system.state_high, (8, system.n_states))
    assert np.allclose(env.observation_to_state(env.state_to_observation(states)), states, rtol=1e-12, atol=1e-12)
    assert np.allclose(env.state_to_observation(env.observation_to_state(obs)), obs, rtol=1e-12, atol=1e-12)
    if scaling == "normalized":
        box = env.state_to_observation(np.stack([system.state_low, system.state_high]))
        assert np.allclose(box[:, : system.n_states], [[-1.0] * system.n_states, [1.0] * system.n_states])
    actions = rng.uniform(-1, 1, (8, system.n_inputs))
    assert np.allclose(env.input_to_action(env.action_to_input(actions)), actions, rtol=1e-12, atol=1e-12)
    assert np.allclose(env.action_to_input(-np.ones(system.n_inputs)), system.input_low)
    assert np.allclose(env.action_to_input(np.ones(system.n_inputs)), system.input_high)


def test_actions_beyond_the_box_are_clipped():
    env = make("rlkit/CSTR-v0")
    env.reset(seed=0)
    assert env.step(np.array([5.0]))[4]["input"].tolist() == [302.0]


def test_violations_are_counted_per_step_and_per_episode():
    env = DoubleIntegratorEnv()
    env.reset(seed=0, options={"initial_state": [8.0, 2.0]})
    steps = [env.step(np.ones(1)) for _ in range(3)]  # full throttle: 10, 13, 17 > 10
    infos = [s[4] for s in steps]
    assert [i["state"][0] for i in infos] == [10.0, 13.0, 17.0]
    assert [i["violations"] for i in infos] == [0, 1, 2]  # position, then position and velocity
    assert [i["violated"] for i in infos] == [False, True, True]
    assert [i["episode_violations"] for i in infos] == [0, 1, 2]
    assert infos[2]["constraint_values"].shape == (len(env.system.constraint_names),)
    assert not any(s[2] for s in steps)
    assert env.reset(seed=0)[1]["episode_violations"] == 0


def test_polytopic_constraint_is_counted():
    env = DoubleIntegratorEnv()
    env.reset(options={"initial_state": [6.0, 9.0]})  # 6 + 18 = 24 <= 25
    info = env.step(np.zeros(1))[4]  # (15, 9): position and 15 + 18 = 33 > 25
    names = [n for n, c in zip(env.system.constraint_names, info["constraint_values"]) if c > 0]
    assert names == ["position <= 10", "H_x[0] x <= 25"]


def test_terminate_on_violation_and_violation_penalty():
    env = DoubleIntegratorEnv(terminate_on_violation=True, violation_penalty=100.0)
    env.reset(options={"initial_state": [9.5, 1.0]})
    _, reward, terminated, truncated, info = env.step(np.ones(1))
    assert terminated and not truncated and info["violated"]
    assert reward == pytest.approx(-(9.5**2 + 1.0 + 0.01) - 100.0)


def test_episodes_truncate_at_their_length():
    for env, steps in ((make("rlkit/CSTR-v0"), 60), (make("rlkit/PendulumClipped-v0"), 200),
                       (make("rlkit/DoubleIntegrator-v0"), 50)):
        env.reset(seed=0)
        ends = [env.step(np.zeros(env.action_space.shape))[3] for _ in range(steps)]
        assert ends == [False] * (steps - 1) + [True]


def test_cstr_tracks_the_pc_gym_setpoint_schedule():
    env = CSTREnv()
    assert env.system.input_low.tolist() == [295.0] and env.system.input_high.tolist() == [302.0]
    assert env.system.dt * env.episode_steps == pytest.approx(26.0)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4,) and obs[0] == pytest.approx(0.8, abs=0.02) and obs[1] == pytest.approx(330.0, abs=2.0)
    setpoints = [obs[2]]
    for _ in range(59):
        obs = env.step(np.zeros(1))[0]
        setpoints.append(obs[2])
    assert setpoints == [0.85] * 20 + [0.9] * 20 + [0.87] * 20
    assert env.observation_to_reference(obs) == pytest.approx(CSTR.steady_state_for_Ca(0.87)[0])


def test_cstr_safe_counts_the_temperature_band():
    env = CSTRSafeEnv()
    assert env.system.input_low.tolist() == [290.0] and env.system.input_high.tolist() == [310.0]
    assert env.system.n_safety == 2
    env.reset(seed=0)
    # the hottest coolant (310 K) drives T over 327 K
    infos = [env.step(np.ones(1))[4] for _ in range(10)]
    assert infos[-1]["violated"] and infos[-1]["state"][1] > 327.0
    assert infos[-1]["episode_violations"] == sum(i["violated"] for i in infos)
    safe = [env.reset(seed=s)[1] for s in range(20)]
    assert not any(i["violated"] for i in safe)


def test_the_reference_state_is_the_steady_state_of_the_setpoint():
    env = CSTREnv()
    for start, x_ref, u_ref in env.reference_schedule:
        assert np.abs(env.system.f(x_ref, u_ref)).max() < 1e-9


def test_bad_input_is_a_clear_value_error():
    env = make("rlkit/CSTR-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action contains NaN or inf: \[nan\]; allowed: finite values"):
        env.step(np.array([np.nan]))
    with pytest.raises(ValueError, match=r"action must have shape \(1,\), got \(2,\)"):
        env.step(np.zeros(2))
    with pytest.raises(ValueError, match="unknown observation_scaling 'minmax'; allowed: physical, normalized"):
        gym.make("rlkit/CSTR-v0", observation_scaling="minmax")
    with pytest.raises(ValueError, match="unknown integrator 'rk45'; allowed: rk4, euler"):
        gym.make("rlkit/PendulumClipped-v0", integrator="rk45")
    with pytest.raises(ValueError, match=r"setpoint Ca=0.95 needs Tc=.* outside the input box \[295, 302\]"):
        gym.make("rlkit/CSTR-v0", setpoints=[0.85, 0.95])
    with pytest.raises(ValueError, match="initial_state_high .* outside the state box"):
        gym.make("rlkit/DoubleIntegrator-v0", initial_state_high=[12.0, 0.0])
    with pytest.raises(ValueError, match=r"an observation must have shape \(\.\.\., 4\)"):
        env.observation_to_state(np.zeros(2))
    with pytest.raises(ValueError, match="does not observe its reference"):
        make("rlkit/DoubleIntegrator-v0").observation_to_reference(np.zeros(2))
    with pytest.raises(ValueError, match="render_mode 'human' is not supported"):
        CSTREnv(render_mode="human")
    with pytest.raises(TypeError):
        gym.make("rlkit/CSTR-v0", no_such_argument=1)


def test_short_name_configs_name_the_registered_ids():
    for short, env_id in SHORT_NAMES.items():
        text = (CONF_DIR / f"{short}.yaml").read_text()
        assert text.startswith("# ") and len(text.splitlines()[0]) > 20
        assert yaml.safe_load(text) == {"id": env_id, "kwargs": {}}
        assert env_id in gym.envs.registry


def test_importing_envs_is_cheap():
    code = "import sys, envs, gymnasium; assert 'rlkit/CSTR-v0' in gymnasium.envs.registry; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_control_env_wraps_any_system_with_a_schedule():
    system = CSTR(Ca_eq=0.4999)  # the unstable steady state at Tc = 300 K
    x_hot, u_hot = CSTR.steady_state_for_Ca(0.6)
    env = ControlEnv(system, episode_steps=5, initial_state_low=system.x_eq, initial_state_high=system.x_eq,
                     reference_schedule=[(0, system.x_eq, system.u_eq), (2, x_hot, u_hot)])
    obs, info = env.reset(seed=0)
    assert np.array_equal(obs, np.concatenate([system.x_eq, system.x_eq]))
    assert [env.reference_at(t)[0][0] for t in range(4)] == [0.4999, 0.4999, 0.6, 0.6]
    assert ControlEnv(system, episode_steps=5, initial_state_low=system.x_eq,
                      initial_state_high=system.x_eq).observation_space.shape == (2,)
    with pytest.raises(ValueError, match="must start at step 0 with increasing start steps"):
        ControlEnv(system, episode_steps=5, initial_state_low=system.x_eq, initial_state_high=system.x_eq,
                   reference_schedule=[(1, system.x_eq, system.u_eq)])
    with pytest.raises(ValueError, match="system must be a ControlSystem"):
        ControlEnv("cstr", episode_steps=5, initial_state_low=[0, 0], initial_state_high=[0, 0])
