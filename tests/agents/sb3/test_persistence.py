"""SB3-based agents save to rlkit's checkpoint format (no pickle), load back predicting and
learning exactly as before, resume as after SB3's own load, and round-trip their replay buffers
through an npz."""

import json
import pickletools
import zipfile

import gymnasium as gym
import numpy as np
import pytest
import stable_baselines3
import torch
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from torch import nn

from agents import sb3
from agents.checkpoint import OlderCheckpointError
from agents.sb3.persistence import PROGRESS
from random_env import RandomObservations

OFF_POLICY = {"learning_starts": 16, "buffer_size": 500, "batch_size": 16, "seed": 0, "device": "cpu"}
SMALL_NET = {"policy_kwargs": {"net_arch": [16], "activation_fn": "relu"}}


def RandomEnv(observation_space: spaces.Space, actions: int = 3) -> gym.Env:
    """Random observations, reward for action 1, episodes ended every 7 steps and cut every 11."""
    return RandomObservations(observation_space, actions, rewarded_action=1, end_every=7, cut_every=11)


def images():  # 36x36 greyscale frames: the Nature CNN's smallest input
    return RandomEnv(spaces.Box(0, 255, (36, 36, 1), np.uint8))


def two_part():  # Dict observations (a vector and a category): SB3's DictReplayBuffer
    return RandomEnv(spaces.Dict({"position": spaces.Box(-1, 1, (2,), np.float32), "mode": spaces.Discrete(3)}))


# name -> (env, constructor arguments)
CASES = {
    "PPO": (lambda: gym.make("CartPole-v1"), {"n_steps": 32, "batch_size": 16, "n_epochs": 2, "seed": 0,
                                             "device": "cpu", **SMALL_NET}),
    "A2C": (lambda: gym.make("CartPole-v1"), {"n_steps": 8, "seed": 0, "device": "cpu", **SMALL_NET}),
    "DQN": (lambda: gym.make("CartPole-v1"), {**OFF_POLICY, "train_freq": [4, "step"], **SMALL_NET}),
    "CnnDQN": (images, {**OFF_POLICY, "buffer_size": 100}),
    "SAC": (lambda: gym.make("Pendulum-v1"), {**OFF_POLICY, **SMALL_NET}),
    "TD3": (lambda: gym.make("Pendulum-v1"), {**OFF_POLICY, "action_noise": {"kind": "ornstein_uhlenbeck",
                                                                             "sigma": 0.2}, **SMALL_NET}),
    "DDPG": (lambda: gym.make("Pendulum-v1"), {**OFF_POLICY, "action_noise": {"kind": "normal", "sigma": 0.1},
                                              **SMALL_NET}),
}


def build(name):
    make_env, kwargs = CASES[name]
    policy = () if name == "CnnDQN" else ("MlpPolicy",)
    return getattr(sb3, name)(*policy, env=make_env(), **kwargs)


def is_pickle(data: bytes) -> bool:
    """Whether ``data`` parses as a pickle stream (opcodes up to STOP)."""
    try:
        opcodes = list(pickletools.genops(data))
    except Exception:  # noqa: BLE001  any parse failure: not a pickle
        return False
    return bool(opcodes) and opcodes[-1][0].name == "STOP"


def assert_same_tensors(first, second):
    """Two state trees (dicts, lists, tensors, numbers) are equal, tensors bit for bit."""
    if torch.is_tensor(first):
        torch.testing.assert_close(second, first, rtol=0, atol=0)
    elif isinstance(first, dict):
        assert first.keys() == second.keys()
        for key in first:
            assert_same_tensors(first[key], second[key])
    elif isinstance(first, (list, tuple)):
        assert len(first) == len(second)
        for a, b in zip(first, second):
            assert_same_tensors(a, b)
    else:
        assert first == second


def test_the_pickle_check_recognises_pickles():
    assert is_pickle(b"\x80\x04K\x01.") and is_pickle(b"I1\n.")
    assert not is_pickle(b'{"a": 1}') and not is_pickle(b"")


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_saved_agent_loads_back_predicting_and_optimising_as_before(name, tmp_path):
    agent = build(name)
    agent.learn(48)
    agent.save(tmp_path / "agent")  # ".zip" added, as SB3 does
    with zipfile.ZipFile(tmp_path / "agent.zip") as archive:
        assert sorted(archive.namelist()) == ["meta.json", "tensors.safetensors"]
        for member in archive.namelist():
            data = archive.read(member)
            assert not data.startswith(b"\x80") and not is_pickle(data), member

    observation_space = agent.observation_space
    observations = np.stack([observation_space.sample() for _ in range(16)])
    expected = agent.predict(observations, deterministic=True)[0]
    for env in (None, CASES[name][0]()):  # without an env: rebuilt from the saved spaces
        loaded = type(agent).load(tmp_path / "agent.zip", env=env, device="cpu")
        np.testing.assert_array_equal(loaded.predict(observations, deterministic=True)[0], expected)
        assert_same_tensors(agent.get_parameters(), loaded.get_parameters())  # networks and optimizers
        for attribute in PROGRESS:
            if hasattr(agent, attribute):
                assert_same_tensors(list(getattr(agent, attribute)) if "buffer" in attribute
                                    else getattr(agent, attribute),
                                    list(getattr(loaded, attribute)) if "buffer" in attribute
                                    else getattr(loaded, attribute))
        assert loaded.hyperparameters == agent.hyperparameters
    loaded.learn(16, reset_num_timesteps=False)  # and, with an env, it trains on
    assert loaded.num_timesteps >= agent.num_timesteps + 16


def test_sac_keeps_its_entropy_coefficient(tmp_path):
    agent = build("SAC")
    agent.learn(48)
    agent.save(tmp_path / "agent.zip")
    loaded = sb3.SAC.load(tmp_path / "agent.zip", device="cpu")
    assert loaded.log_ent_coef.item() == agent.log_ent_coef.item() != 0.0
    assert loaded.target_entropy == agent.target_entropy


def test_keyword_arguments_to_load_win_over_saved_values_as_in_sb3(tmp_path):
    agent = build("DQN")
    agent.learn(32)
    agent.save(tmp_path / "agent.zip")
    loaded = sb3.DQN.load(tmp_path / "agent.zip", env=gym.make("CartPole-v1"), device="cpu", learning_starts=7,
                          exploration_rate=0.5)
    assert agent.learning_starts == 16 and loaded.learning_starts == 7 and loaded.exploration_rate == 0.5


@pytest.mark.parametrize("name", ["PPO", "DQN", "SAC", "TD3"])
def test_a_resumed_agent_learns_as_after_sb3s_own_load(name, tmp_path):
    agent = build(name)
    agent.learn(48)
    agent.save(tmp_path / "rlkit.zip")
    BaseAlgorithm.save(agent, tmp_path / "sb3.zip")  # SB3's pickles
    off_policy = hasattr(agent, "replay_buffer") and agent.replay_buffer is not None
    if off_policy:
        agent.save_replay_buffer(tmp_path / "buffer.npz")
        OffPolicyAlgorithm.save_replay_buffer(agent, tmp_path / "buffer.pkl")

    # one after the other: loading seeds the global random generators, learning draws from them
    agent_class = type(agent)
    ours = agent_class.load(tmp_path / "rlkit.zip", env=CASES[name][0](), device="cpu")
    if off_policy:
        ours.load_replay_buffer(tmp_path / "buffer.npz")
    ours.learn(64, reset_num_timesteps=False)
    theirs = BaseAlgorithm.load.__func__(
        agent_class, tmp_path / "sb3.zip", env=CASES[name][0](), device="cpu")
    if off_policy:
        OffPolicyAlgorithm.load_replay_buffer(theirs, tmp_path / "buffer.pkl")
    theirs.learn(64, reset_num_timesteps=False)
    assert ours.num_timesteps == theirs.num_timesteps and ours._n_updates == theirs._n_updates
    assert_same_tensors(theirs.get_parameters(), ours.get_parameters())


def test_hyperparameters_are_saved_as_config_values(tmp_path):
    agent = sb3.TD3("MlpPolicy", gym.make("Pendulum-v1"), action_noise={"kind": "normal", "sigma": 0.3},
                    policy_kwargs={"net_arch": [8], "activation_fn": nn.Tanh}, device="cpu")
    agent.save(tmp_path / "agent.zip")
    with zipfile.ZipFile(tmp_path / "agent.zip") as archive:
        meta = json.loads(archive.read("meta.json"))
    assert meta["class"] == "TD3"
    assert meta["hyperparameters"] == {"policy": "MlpPolicy", "action_noise": {"kind": "normal", "sigma": 0.3},
                                       "policy_kwargs": {"net_arch": [8], "activation_fn": "tanh"}}
    loaded = sb3.TD3.load(tmp_path / "agent.zip", device="cpu")  # without an env: the noise from the saved space
    np.testing.assert_allclose(loaded.action_noise._sigma, agent.action_noise._sigma)
    assert loaded.policy.actor.mu[1].__class__ is nn.Tanh


def test_what_cannot_be_saved_or_loaded_is_refused_clearly(tmp_path):
    box = gym.make("Pendulum-v1")
    noisy = sb3.TD3("MlpPolicy", box, action_noise=NormalActionNoise(np.zeros(1), np.ones(1)), device="cpu")
    with pytest.raises(TypeError, match="TD3 cannot be saved: .*NormalActionNoise.*hyper-parameters must be config"):
        noisy.save(tmp_path / "noisy.zip")

    td3 = sb3.TD3("MlpPolicy", box, device="cpu", policy_kwargs={"net_arch": [8]})
    stable_baselines3.TD3.save(td3, tmp_path / "older.zip")  # SB3's format, as rlkit wrote it before
    with pytest.raises(OlderCheckpointError, match="written by an older rlkit .* retrain"):
        sb3.TD3.load(tmp_path / "older.zip")

    td3.save(tmp_path / "td3.zip")
    with pytest.raises(ValueError, match="holds a TD3, not a SAC"):
        sb3.SAC.load(tmp_path / "td3.zip")
    with pytest.raises(ValueError, match="Observation spaces do not match"):
        sb3.TD3.load(tmp_path / "td3.zip", env=gym.make("MountainCarContinuous-v0"))


@pytest.mark.parametrize("env_class, n_envs, steps", [(lambda: gym.make("CartPole-v1"), 1, 40),
                                                     (lambda: gym.make("CartPole-v1"), 2, 90), (two_part, 1, 90)])
def test_replay_buffers_round_trip_through_npz(env_class, n_envs, steps, tmp_path):
    from stable_baselines3.common.vec_env import DummyVecEnv

    policy = "MultiInputPolicy" if env_class is two_part else "MlpPolicy"
    env = DummyVecEnv([env_class] * n_envs)
    agent = sb3.DQN(policy, env, buffer_size=64, learning_starts=1000, seed=0, device="cpu")
    agent.learn(steps)  # 40: partly filled; 90: wrapped around
    buffer = agent.replay_buffer
    assert buffer.full == (steps > 64)
    agent.save_replay_buffer(tmp_path / "buffer")  # ".npz" added
    with np.load(tmp_path / "buffer.npz", allow_pickle=False) as saved:
        assert saved["actions"].shape[:2] == (min(steps, 64) // n_envs, n_envs)

    fresh = sb3.DQN(policy, env_class(), buffer_size=8, device="cpu")
    fresh.load_replay_buffer(tmp_path / "buffer.npz")
    restored = fresh.replay_buffer
    assert type(restored) is type(buffer) and (restored.buffer_size, restored.n_envs) == (64 // n_envs, n_envs)
    assert (restored.pos, restored.full, restored.handle_timeout_termination) == (
        buffer.pos, buffer.full, buffer.handle_timeout_termination)
    batches = []
    for source in (buffer, restored):
        np.random.seed(3)
        batches.append(source.sample(32))
    assert_same_tensors(batches[0]._asdict(), batches[1]._asdict())

    (tmp_path / "buffer.pkl").write_bytes(b"\x80\x04N.")
    with pytest.raises(OlderCheckpointError, match="written by an older rlkit"):
        fresh.load_replay_buffer(tmp_path / "buffer.pkl")
