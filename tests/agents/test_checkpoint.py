"""agents.checkpoint: the one checkpoint format. State trees round-trip with their types, nothing in
a saved file is a pickle, and older or foreign files are refused before anything is read; the
Checkpointed mixin saves and rebuilds an agent, its subclasses' own state included."""

import json
import pickle
import zipfile

import numpy as np
import pytest
import torch
from gymnasium import spaces

from agents.checkpoint import (Checkpointed, OlderCheckpointError, decode, encode, load_agent, load_arrays,
                               read_meta, save_agent, save_arrays, space_from_json, space_to_json)


def trained_module_and_optimizer():
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    for _ in range(3):
        optimizer.zero_grad()
        module(torch.randn(5, 3)).pow(2).sum().backward()
        optimizer.step()
    return module, optimizer


def test_a_state_tree_comes_back_with_its_types():
    tree = {"n": 3, "x": 0.25, "nan": float("nan"), "inf": -float("inf"), "flag": True, "none": None,
            "pair": (1, "a"), "list": [1, [2.0, 3]], "ints": {0: "zero", 7: (1, 2)},
            "array": np.arange(6, dtype=np.int16).reshape(2, 3), "tensor": torch.tensor([1.5, -2.0]),
            "dollar": {"$tensor": "not a reference"}}
    encoded, tensors = encode(tree)
    back = decode(json.loads(json.dumps(encoded)), tensors)
    assert back["n"] == 3 and back["x"] == 0.25 and np.isnan(back["nan"]) and back["inf"] == -np.inf
    assert back["flag"] is True and back["none"] is None and back["pair"] == (1, "a") and back["list"] == [1, [2.0, 3]]
    assert back["ints"] == {0: "zero", 7: (1, 2)}
    assert isinstance(back["array"], np.ndarray) and back["array"].dtype == np.int16
    np.testing.assert_array_equal(back["array"], tree["array"])
    assert torch.is_tensor(back["tensor"]) and torch.equal(back["tensor"], tree["tensor"])
    assert back["dollar"] == {"$tensor": "not a reference"}  # a user's key is data, not a reference


def test_values_the_format_cannot_hold_are_named():
    with pytest.raises(TypeError, match=r"state\.f: a function"):
        encode({"f": lambda: None})
    with pytest.raises(TypeError, match="object array"):
        encode(np.array([object()]))


def test_an_agent_round_trips_and_its_optimizer_continues_identically(tmp_path):
    module, optimizer = trained_module_and_optimizer()
    save_agent(tmp_path / "agent", "Net", 2, {"hidden": [4], "lr": 1e-3},
               {"module": module.state_dict(), "optimizer": optimizer.state_dict(), "steps": 3})
    hyperparameters, state = load_agent(tmp_path / "agent.zip", "Net", 2)
    assert hyperparameters == {"hidden": [4], "lr": 1e-3} and state["steps"] == 3

    copy, _ = trained_module_and_optimizer()
    copy.load_state_dict(state["module"])
    copy_optimizer = torch.optim.Adam(copy.parameters(), lr=1e-3)
    copy_optimizer.load_state_dict(state["optimizer"])
    batch = torch.randn(5, 3)
    for net, opt in ((module, optimizer), (copy, copy_optimizer)):
        opt.zero_grad()
        net(batch).pow(2).sum().backward()
        opt.step()
    for a, b in zip(module.parameters(), copy.parameters()):
        assert torch.equal(a, b)


def test_a_saved_agent_holds_json_and_safetensors_only(tmp_path):
    module, optimizer = trained_module_and_optimizer()
    save_agent(tmp_path / "agent.zip", "Net", 1, {}, {"module": module.state_dict(), "optimizer": optimizer.state_dict()})
    with zipfile.ZipFile(tmp_path / "agent.zip") as archive:
        assert sorted(archive.namelist()) == ["meta.json", "tensors.safetensors"]
        json.loads(archive.read("meta.json"))
        raw = archive.read("tensors.safetensors")
    header_length = int.from_bytes(raw[:8], "little")  # safetensors: a length, a JSON header, raw bytes
    assert json.loads(raw[8:8 + header_length])
    assert read_meta(tmp_path / "agent.zip")["class"] == "Net"


def test_older_and_foreign_files_are_refused_without_unpickling(tmp_path):
    class Trap:
        def __reduce__(self):
            return (pytest.fail, ("the file was unpickled",))

    older = tmp_path / "older.zip"
    with zipfile.ZipFile(older, "w") as archive:
        archive.writestr("data.pkl", pickle.dumps(Trap()))
    with pytest.raises(OlderCheckpointError, match="older rlkit"):
        load_agent(older, "Net", 1)

    foreign = tmp_path / "foreign.zip"
    foreign.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a zip"):
        load_agent(foreign, "Net", 1)
    with pytest.raises(FileNotFoundError):
        load_agent(tmp_path / "missing.zip", "Net", 1)

    save_agent(tmp_path / "other.zip", "Other", 1, {}, {})
    with pytest.raises(ValueError, match="holds a Other, not a Net"):
        load_agent(tmp_path / "other.zip", "Net", 1)
    with pytest.raises(OlderCheckpointError, match="state format 1"):
        load_agent(tmp_path / "other.zip", "Other", 2)


def test_arrays_round_trip_and_pickles_are_refused(tmp_path):
    arrays = {"observations": np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32),
              "dones": np.array([0, 1, 0, 0], dtype=np.bool_)}
    save_arrays(tmp_path / "buffer.npz", arrays, {"pos": 2, "full": False, "high": [float("inf"), 1.0]})
    back, meta = load_arrays(tmp_path / "buffer.npz")
    assert meta == {"pos": 2, "full": False, "high": [float("inf"), 1.0]} and sorted(back) == sorted(arrays)
    for name in arrays:
        assert back[name].dtype == arrays[name].dtype and np.array_equal(back[name], arrays[name])

    with pytest.raises(TypeError, match="Python objects"):
        save_arrays(tmp_path / "objects.npz", {"x": np.array([{}], dtype=object)}, {})
    np.save(tmp_path / "objects.npy", np.array([{}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="not an rlkit array file"):
        load_arrays(tmp_path / "objects.npy")
    (tmp_path / "buffer.pkl").write_bytes(pickle.dumps({}))
    with pytest.raises(OlderCheckpointError, match="older rlkit"):
        load_arrays(tmp_path / "buffer.pkl")


@pytest.mark.parametrize("space", [
    spaces.Box(-1.0, 2.0, (2, 3), np.float32), spaces.Box(-np.inf, np.inf, (4,), np.float64), spaces.Discrete(5, start=1),
    spaces.MultiDiscrete([3, 4]), spaces.MultiBinary(6),
    spaces.Dict({"a": spaces.Discrete(2), "b": spaces.Box(0, 1, (1,), np.float32)})])
def test_spaces_round_trip_through_json(space):
    assert space_from_json(json.loads(json.dumps(space_to_json(space)))) == space


def test_an_older_zip_with_a_meta_json_beside_its_pickle_is_refused_as_older(tmp_path):
    older = tmp_path / "older.zip"
    with zipfile.ZipFile(older, "w") as archive:
        archive.writestr("meta.json", json.dumps({"format": 1, "class": "Net"}))
        archive.writestr("weights.pt", b"\x80\x04not read")
    with pytest.raises(OlderCheckpointError, match="weights.pt"):
        load_agent(older, "Net", 1)


# -- the Checkpointed mixin -------------------------------------------------------------------------
class ToyAgent(Checkpointed):
    """A linear policy nudged by random steps: weights and a generator to restore, two hyper-parameters."""

    save_format = 1

    def __init__(self, env=None, seed=0, device="auto", verbose=0, width=3, step=0.5):
        self.env, self.seed, self.device, self.verbose = env, seed, device, verbose
        self.hyperparameters = {"width": width, "step": step}
        self.num_timesteps = 0
        self.weights = torch.zeros(width, dtype=torch.float64)
        self.rng = np.random.default_rng(seed)

    def learn(self, total_timesteps):
        for _ in range(total_timesteps):
            self.weights += self.hyperparameters["step"] * torch.from_numpy(self.rng.normal(size=len(self.weights)))
        self.num_timesteps += total_timesteps
        return self

    def predict(self, observation):
        return float(self.weights @ torch.as_tensor(observation, dtype=torch.float64))

    def checkpoint_state(self):
        return {"weights": self.weights, "rng": self.rng.bit_generator.state}

    def restore_checkpoint(self, state):
        self.weights = state["weights"]
        self.rng.bit_generator.state = state["rng"]


class SizedToyAgent(ToyAgent):
    """A subclass with state of its own, sized from its saved state: it needs no env to be rebuilt."""

    save_format = 2

    def __init__(self, env=None, seed=0, device="auto", verbose=0, width=None, step=0.5):
        if width is None:
            if env is None:
                raise ValueError("SizedToyAgent is sized from its env; pass env=")
            width = env.observation_space.shape[0]
        super().__init__(env, seed, device, verbose, width, step)
        self.hyperparameters.pop("width")
        self.episodes = 0

    def checkpoint_state(self):
        return super().checkpoint_state() | {"width": len(self.weights), "episodes": self.episodes}

    def restore_checkpoint(self, state):
        super().restore_checkpoint(state)
        self.episodes = state["episodes"]

    @classmethod
    def rebuild(cls, hyperparameters, state, *, seed, env, device, verbose):
        agent = cls(env=None, seed=seed, device=device, verbose=verbose, width=state["width"], **hyperparameters)
        agent.env = env
        return agent


class StatelessToyAgent(ToyAgent):
    """An agent whose hyper-parameters are all it has (the default, empty state)."""

    save_format = 1
    checkpoint_state = Checkpointed.checkpoint_state
    restore_checkpoint = Checkpointed.restore_checkpoint


def test_a_checkpointed_agent_round_trips_and_continues_identically(tmp_path):
    agent = ToyAgent(seed=3, width=4, step=0.25).learn(10)
    agent.save(tmp_path / "toy")
    loaded = ToyAgent.load(tmp_path / "toy.zip", verbose=1)
    assert loaded.hyperparameters == agent.hyperparameters == {"width": 4, "step": 0.25}
    assert (loaded.seed, loaded.num_timesteps, loaded.verbose, loaded.env) == (3, 10, 1, None)
    observation = np.arange(4.0)
    assert loaded.predict(observation) == agent.predict(observation)
    agent.learn(5)
    loaded.learn(5)  # the restored generator continues where the saved one stopped
    assert torch.equal(loaded.weights, agent.weights) and loaded.num_timesteps == 15
    meta = read_meta(tmp_path / "toy.zip")
    assert meta["class"] == "ToyAgent" and meta["format"] == 1 and meta["hyperparameters"] == agent.hyperparameters
    assert sorted(meta["state"]) == ["agent", "num_timesteps", "seed"]


def test_load_overrides_constructor_arguments_and_refuses_unknown_ones(tmp_path):
    ToyAgent(seed=1).learn(2).save(tmp_path / "toy.zip")
    env = object()
    faster = ToyAgent.load(tmp_path / "toy.zip", env=env, step=2.0)
    assert faster.hyperparameters == {"width": 3, "step": 2.0} and faster.env is env
    with pytest.raises(TypeError, match="not an argument of its constructor: steps"):
        ToyAgent.load(tmp_path / "toy.zip", steps=2.0)


def test_a_subclass_state_and_rebuild_are_used(tmp_path):
    class Env:
        observation_space = spaces.Box(-1.0, 1.0, (5,), np.float64)

    agent = SizedToyAgent(env=Env(), seed=7).learn(6)
    agent.episodes = 2
    agent.save(tmp_path / "sized")
    loaded = SizedToyAgent.load(tmp_path / "sized.zip")  # no env: sized from the saved state
    assert loaded.episodes == 2 and loaded.num_timesteps == 6 and loaded.env is None
    assert torch.equal(loaded.weights, agent.weights) and loaded.hyperparameters == {"step": 0.5}
    observation = np.linspace(-1.0, 1.0, 5)
    assert loaded.predict(observation) == agent.predict(observation)


def test_an_agent_without_state_of_its_own_round_trips(tmp_path):
    StatelessToyAgent(seed=2, step=0.1).learn(4).save(tmp_path / "stateless.zip")
    assert read_meta(tmp_path / "stateless.zip")["state"]["agent"] is None
    loaded = StatelessToyAgent.load(tmp_path / "stateless.zip")
    assert (loaded.seed, loaded.num_timesteps, loaded.hyperparameters) == (2, 4, {"width": 3, "step": 0.1})


def test_another_class_or_state_format_is_refused(tmp_path):
    ToyAgent(seed=0).save(tmp_path / "toy.zip")
    with pytest.raises(ValueError, match="holds a ToyAgent, not a SizedToyAgent"):
        SizedToyAgent.load(tmp_path / "toy.zip")

    class NewerToyAgent(ToyAgent):
        save_format = 2

    NewerToyAgent.__name__ = "ToyAgent"  # the same class after its state layout changed
    with pytest.raises(OlderCheckpointError, match="state format 1"):
        NewerToyAgent.load(tmp_path / "toy.zip")
