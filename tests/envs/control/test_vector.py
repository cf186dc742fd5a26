"""ControlVectorEnv: every registered control task's batched engine replays its single env game by game
(bit for bit, both autoreset modes, across resets), the per-step info (violations) is the single env's,
reset_mask, registration and bad input; and the libm ufuncs it relies on are Python's math."""

from __future__ import annotations

import math
import re

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.registration import load_env_creator
from gymnasium.vector.utils import iterate

from batched_equality import assert_games_match_single_envs

import envs  # noqa: F401  (registers the envs)
from envs.batched import BatchedEnv
from envs import libm
from envs.control import CONTROL_ENVS
from envs.control.system import SCALAR
from envs.control.vector import ControlVectorEnv, CSTRSafeVectorEnv, CSTRVectorEnv

MODES = ["next_step", "same_step"]
# short episodes where the task's own are long, so that a few dozen steps see autoresets
SHORT = {"rlkit/CSTR-v0": {}, "rlkit/CSTRSafe-v0": {}, "rlkit/PendulumClipped-v0": {"episode_steps": 25},
         "rlkit/DoubleIntegrator-v0": {"episode_steps": 25}, "rlkit/InvertedPendulum-v0": {"episode_steps": 25},
         "rlkit/NLCPendulum-v0": {"episode_steps": 25}}


def full_coolant(rng: np.random.Generator, space: gym.Space, n: int) -> np.ndarray:
    """Mostly the hottest coolant: the reactor runs away, where the CSTR takes shortened substeps."""
    return np.where(rng.uniform(size=space.shape) < 0.8, 1.0, rng.uniform(-1, 1, space.shape)).astype(np.float32)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("env_id", sorted(CONTROL_ENVS))
def test_games_replay_the_single_env(env_id, mode):
    steps = 125 if "CSTR" in env_id else 60  # the CSTR's episodes are 60 steps (three setpoints)
    ends = assert_games_match_single_envs(env_id, SHORT[env_id], n=3, steps=steps, autoreset_mode=mode)
    assert ends >= 6


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("env_id, kwargs", [
    ("rlkit/CSTRSafe-v0", dict(terminate_on_violation=True, violation_penalty=2.5, observation_scaling="normalized")),
    ("rlkit/CSTR-v0", dict(setpoints=(0.86, 0.88), steps_per_setpoint=7, episode_steps=20, integrator="euler",
                           substeps=2)),
    ("rlkit/DoubleIntegrator-v0", dict(episode_steps=30, x_max=6.0, observation_scaling="normalized",
                                       terminate_on_violation=True)),
    ("rlkit/PendulumClipped-v0", dict(episode_steps=30, substeps=2, max_speed=3.0, violation_penalty=1.0)),
])
def test_task_arguments_are_the_single_envs(env_id, kwargs, mode):
    assert assert_games_match_single_envs(env_id, kwargs, n=3, steps=45, autoreset_mode=mode) > 0


def test_a_runaway_reactor_with_shortened_substeps_replays_the_single_env():
    for mode in MODES:
        assert assert_games_match_single_envs("rlkit/CSTRSafe-v0", {}, n=3, steps=65, autoreset_mode=mode,
                                              actions=full_coolant) == 3
    vec = CSTRSafeVectorEnv(num_envs=3)
    vec.reset(seed=3)
    rng, hottest = np.random.default_rng(0), 0.0
    for _ in range(40):
        obs, *_ = vec.step(full_coolant(rng, vec.action_space, 3))
        hottest = max(hottest, obs[:, 1].max())
    system = vec.system
    assert hottest > 400.0  # past the state box: a thermal runaway
    # there a full substep would be unstable, so the bit-for-bit match above covered the shortened ones
    assert system._stiffness((0.5, float(hottest)), SCALAR) * system.dt / system.substeps > system.STABLE_STEP["rk4"]


@pytest.mark.parametrize("mode", MODES)
def test_step_info_is_the_single_envs(mode):
    """Every info entry (violations above all) of game i equals the single env's, step by step: the
    single env's reset info on a next_step restart (no input or stage cost then), the last step's on a
    same_step end."""
    env_id, kwargs, n = "rlkit/CSTRSafe-v0", dict(episode_steps=12), 3
    vec = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", autoreset_mode=mode, **kwargs)
    singles = [gym.make(env_id, **kwargs) for _ in range(n)]
    assert vec.step_info_keys == ("violations",)
    _, info = vec.reset(seed=11)
    expected = [env.reset(seed=11 + i)[1] for i, env in enumerate(singles)]
    stepped, pending = np.zeros(n, bool), np.zeros(n, bool)
    rng, violations = np.random.default_rng(1), 0
    for t in range(30):
        for i, want in enumerate(expected):
            for key, value in want.items():
                assert info[f"_{key}"][i] and np.array_equal(info[key][i], value), (key, i, t)
            assert bool(info.get("_input", np.zeros(n, bool))[i]) == stepped[i] == ("input" in want)
        actions = rng.uniform(-1, 1, (n, 1)).astype(np.float32)
        _, _, terminated, truncated, info = vec.step(actions)
        for i, env in enumerate(singles):
            if pending[i]:
                expected[i], stepped[i] = env.reset()[1], False
            else:
                expected[i], stepped[i] = env.step(actions[i])[4], True
                if mode == "same_step" and (terminated[i] or truncated[i]):
                    env.reset()
        pending = (terminated | truncated) & (mode == "next_step")
        violations += int(info["violations"].sum())
    assert violations > 0 and info["violations"].dtype.kind == "i"


def test_reset_mask_restarts_only_the_masked_games():
    vec, singles = CSTRVectorEnv(num_envs=3), [gym.make("rlkit/CSTR-v0") for _ in range(3)]
    vec.reset(seed=5)
    for i, env in enumerate(singles):
        env.reset(seed=5 + i)
    for _ in range(4):
        before, *_ = vec.step(np.full((3, 1), 0.3, np.float32))
        for env in singles:
            env.step(np.array([0.3], np.float32))
    obs, info = vec.reset(options={"reset_mask": np.array([False, True, False])})
    assert np.array_equal(obs[[0, 2]], before[[0, 2]])
    assert np.array_equal(obs[1], singles[1].reset()[0])  # its generator goes on, as the single env's
    assert list(info["_violations"]) == [False, True, False] and "_input" not in info
    assert list(vec._t) == [4, 0, 4]
    with pytest.raises(ValueError, match="reset_mask"):
        vec.reset(options={"reset_mask": np.array([1, 0, 1])})
    with pytest.raises(ValueError, match="unknown reset options"):
        vec.reset(options={"initial_state": [0.8, 330.0]})


def test_bad_actions_are_the_single_envs_value_errors():
    vec, single = CSTRVectorEnv(num_envs=3), gym.make("rlkit/CSTR-v0")
    vec.reset(seed=0)
    single.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions must have shape \(3, 1\)"):
        vec.step(np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError, match=r"actions must have shape \(3, 1\)"):
        vec.step(np.zeros(3, np.float32))
    with pytest.raises(ValueError) as single_error:
        single.step(np.array([np.nan]))
    with pytest.raises(ValueError, match=re.escape(str(single_error.value))):
        vec.step(np.array([[0.0], [np.nan], [0.0]]))
    assert list(vec._t) == [0, 0, 0]  # the refused step changed nothing


def test_next_step_ignores_the_action_of_a_game_it_restarts():
    vec = CSTRVectorEnv(num_envs=2, episode_steps=2)
    vec.reset(seed=0)
    vec.step(np.zeros((2, 1)))
    _, _, _, truncated, _ = vec.step(np.zeros((2, 1)))
    assert truncated.all()
    _, rewards, terminated, truncated, _ = vec.step(np.full((2, 1), np.nan))  # both restart: no error
    assert not rewards.any() and not (terminated | truncated).any() and list(vec._t) == [0, 0]


def test_registered_as_vector_entry_points_taking_the_single_envs_arguments():
    for env_id in CONTROL_ENVS:
        creator = load_env_creator(gym.spec(env_id).vector_entry_point)
        assert issubclass(creator, ControlVectorEnv) and issubclass(creator, BatchedEnv)
        assert creator.__doc__ and "## Arguments" in creator.__doc__
    assert gym.spec("rlkit/Autonomous-v0").vector_entry_point is None
    vec = gym.make_vec("rlkit/CSTR-v0", num_envs=2, vectorization_mode="vector_entry_point",
                       setpoints=(0.86, 0.88), episode_steps=10)
    assert vec.env.episode_steps == 10 and len(vec.env.reference_schedule) == 2
    assert vec.observation_space.shape == (2, 4) and vec.action_space.shape == (2, 1)
    assert vec.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    with pytest.raises(TypeError, match="no_such_argument"):
        gym.make_vec("rlkit/CSTR-v0", num_envs=2, vectorization_mode="vector_entry_point", no_such_argument=1)
    with pytest.raises(ValueError, match="outside the input box"):
        gym.make_vec("rlkit/CSTR-v0", num_envs=2, vectorization_mode="vector_entry_point", setpoints=[0.95])
    with pytest.raises(ValueError, match="unknown autoreset_mode"):
        CSTRVectorEnv(num_envs=2, autoreset_mode="later")


def test_sb3_adapter_sees_violations_every_step():
    from rlkit.batched_vec_env import BatchedVecEnv

    venv = BatchedVecEnv(gym.make_vec("rlkit/CSTRSafe-v0", num_envs=2, vectorization_mode="vector_entry_point",
                                      autoreset_mode="same_step"))
    venv.seed(0)
    venv.reset()
    for _ in range(3):
        venv.step_async(np.ones((2, 1), np.float32))
        _, _, _, infos = venv.step_wait()
        assert [sorted(info) for info in infos] == [["violations"], ["violations"]]
        assert all(isinstance(info["violations"], int) for info in infos)


def test_libm_ufuncs_are_pythons_math_functions():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-40.0, 40.0, 20_000), rng.uniform(-40.0, 40.0, 20_000)
    xs, ys = x.tolist(), y.tolist()
    for ufunc, function in ((libm.exp, math.exp), (libm.sin, math.sin), (libm.cos, math.cos)):
        assert np.array_equal(ufunc(x), [function(v) for v in xs])
    assert np.array_equal(libm.atan2(y, x), [math.atan2(b, a) for a, b in zip(xs, ys)])
    assert np.array_equal(libm.power(x, 2), [v**2 for v in xs])
    assert np.array_equal(libm.py_hypot(x, y), [math.hypot(a, b) for a, b in zip(xs, ys)])
    assert np.all(np.abs(libm.hypot(x, y) - libm.py_hypot(x, y)) <= 2 * np.spacing(libm.py_hypot(x, y)))


def test_iterated_observations_are_copies():
    vec = CSTRVectorEnv(num_envs=2)
    obs, _ = vec.reset(seed=0)
    first = [o.copy() for o in iterate(vec.observation_space, obs)]
    vec.step(np.zeros((2, 1)))
    assert np.array_equal(np.stack(first), obs)  # a later step does not overwrite a returned batch
