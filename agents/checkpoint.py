"""The one checkpoint format of every rlkit agent: nothing in it is executed or unpickled when it
is opened.

A saved agent is a zip (``.zip`` added when the name has no suffix) holding

``meta.json``
    ``{"rlkit_checkpoint": FORMAT, "class": ..., "format": ..., "hyperparameters": {...},
    "state": <tree>}``: the constructor's keyword arguments (the agent is rebuilt from them) and the
    agent's state as a JSON tree in which every tensor or array is a reference into
``tensors.safetensors``
    the tensors and arrays, by name (safetensors: a header and raw bytes).

A state tree is made of dicts, lists, tuples, str, int, float (NaN and infinities included), bool,
None, torch tensors and numpy arrays; each comes back as the type it was saved as (dict keys that
are not strings too, as optimizer states have). Replay buffers and other bulk arrays go into an
``.npz`` read with ``allow_pickle=False`` (:func:`save_arrays`).

Files from before this format (SB3's cloudpickled ``data``, ``data.pkl``, ``weights.pt``) are
refused with :class:`OlderCheckpointError`, never opened.

Agents write it through one of two mixins: SB3's algorithms through
:class:`agents.sb3.persistence.SB3Persistence`, every other agent through :class:`Checkpointed`
(its state tree is ``{"seed", "num_timesteps", "agent": <the class's own state>}``).
"""

from __future__ import annotations

import inspect
import json
import math
import zipfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

FORMAT = 1  # of the container; each agent class versions its own state with ``save_format``
META_MEMBER, TENSORS_MEMBER = "meta.json", "tensors.safetensors"
# members by which the formats of earlier rlkit versions are recognised (all of them pickles)
OLDER_MEMBERS = ("data", "data.pkl", "weights.pt", "pytorch_variables.pth", "agent.json")
PICKLED_SUFFIXES = (".pkl", ".pt", ".pth")  # torch.save files are pickles too (lyapunov.pt, policy.pt)


class OlderCheckpointError(ValueError):
    """A file written by an older rlkit, in a format that would have to be unpickled to be read."""


def zip_path(path: Any) -> Any:
    """``path`` with ``.zip`` added when it has no suffix; a file object is returned as is."""
    if isinstance(path, (str, Path)):
        path = Path(path)
        return path if path.suffix else path.with_suffix(".zip")
    return path


# -- state trees ----------------------------------------------------------------------------------
def encode(tree: Any) -> tuple[Any, dict[str, Any]]:
    """(JSON-able tree, {name: torch tensor}) for a state tree; raises TypeError naming the path of
    a value the format cannot hold."""
    import torch

    tensors: dict[str, Any] = {}

    def walk(value: Any, where: str) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, np.integer)):
            return int(value)
        if isinstance(value, (float, np.floating)):
            value = float(value)
            return value if math.isfinite(value) else {"$float": repr(value)}
        if isinstance(value, np.bool_):
            return bool(value)
        if torch.is_tensor(value):
            name = f"t{len(tensors)}"
            tensors[name] = value.detach().to("cpu").contiguous().clone()
            return {"$tensor": name}
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                raise TypeError(f"{where}: an object array cannot be saved; use numeric arrays")
            name = f"t{len(tensors)}"
            tensors[name] = torch.from_numpy(np.ascontiguousarray(value).copy())
            return {"$array": name}
        if isinstance(value, tuple):
            return {"$tuple": [walk(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [walk(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, dict):
            if all(isinstance(k, str) and not k.startswith("$") for k in value):
                return {k: walk(v, f"{where}.{k}") for k, v in value.items()}
            return {"$items": [[walk(k, f"{where}<key>"), walk(v, f"{where}[{k!r}]")] for k, v in value.items()]}
        raise TypeError(f"{where}: a {type(value).__name__} cannot be saved in an rlkit checkpoint "
                        "(allowed: dicts, lists, tuples, str, numbers, bool, None, tensors, arrays)")

    return walk(tree, "state"), tensors


def decode(tree: Any, tensors: dict[str, Any]) -> Any:
    """The state tree :func:`encode` was given, from its JSON tree and tensors."""
    if isinstance(tree, list):
        return [decode(v, tensors) for v in tree]
    if not isinstance(tree, dict):
        return tree
    if len(tree) == 1:
        (key, value), = tree.items()
        if key == "$tensor":
            return tensors[value]
        if key == "$array":
            return tensors[value].numpy()
        if key == "$float":
            return float(value)
        if key == "$tuple":
            return tuple(decode(v, tensors) for v in value)
        if key == "$items":
            return {_hashable(decode(k, tensors)): decode(v, tensors) for k, v in value}
    return {k: decode(v, tensors) for k, v in tree.items()}


def _hashable(key: Any) -> Any:
    return tuple(_hashable(k) for k in key) if isinstance(key, (list, tuple)) else key


# -- saved agents ---------------------------------------------------------------------------------
def save_agent(path: Any, class_name: str, save_format: int, hyperparameters: dict[str, Any],
               state: Any) -> None:
    """Write an agent: its class, the version of its state layout, its constructor's keyword
    arguments and its state tree (see the module docstring)."""
    from safetensors.torch import save as safetensors_bytes

    encoded_hyper, hyper_tensors = encode(hyperparameters)
    if hyper_tensors:
        raise TypeError("hyper-parameters must be plain values (numbers, strings, lists), not tensors or arrays")
    encoded, tensors = encode(state)
    meta = {"rlkit_checkpoint": FORMAT, "class": class_name, "format": save_format,
            "hyperparameters": encoded_hyper, "state": encoded}
    target = zip_path(path)
    if isinstance(target, Path):
        target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(META_MEMBER, json.dumps(meta, indent=1))
        archive.writestr(TENSORS_MEMBER, safetensors_bytes(tensors))


def read_meta(path: Any) -> dict[str, Any]:
    """The meta.json of a saved agent, checked to be this format (without reading its tensors)."""
    return _open(path)[0]


def load_agent(path: Any, class_name: str | tuple[str, ...], save_format: int) -> tuple[dict[str, Any], Any]:
    """(hyper-parameters, state tree) of an agent saved by :func:`save_agent` as ``class_name`` (or
    one of several names) with ``save_format``. Tensors come back on the CPU (``load_state_dict``
    copies them to a module's device)."""
    from safetensors.torch import load as safetensors_load

    meta, archive_bytes = _open(path, with_tensors=True)
    names = (class_name,) if isinstance(class_name, str) else tuple(class_name)
    if meta.get("class") not in names:
        raise ValueError(f"{path} holds a {meta.get('class')}, not a {' or '.join(names)}")
    if meta.get("format") != save_format:
        raise OlderCheckpointError(
            f"{path} holds a {meta['class']} in state format {meta.get('format')}; this rlkit reads format "
            f"{save_format} (it was written by another rlkit version: retrain, or evaluate it with that version)")
    tensors = safetensors_load(archive_bytes)
    return decode(meta.get("hyperparameters", {}), {}), decode(meta["state"], tensors)


def _open(path: Any, with_tensors: bool = False) -> tuple[dict[str, Any], bytes]:
    source = zip_path(path)
    if isinstance(source, Path) and not source.is_file():
        raise FileNotFoundError(f"no saved agent at {source}")
    try:
        with zipfile.ZipFile(source) as archive:
            members = set(archive.namelist())
            meta = json.loads(archive.read(META_MEMBER)) if META_MEMBER in members else None
            older = sorted(m for m in members if m in OLDER_MEMBERS or m.endswith(PICKLED_SUFFIXES))
            # older formats had a meta.json too, beside the pickle: the pickle's presence decides
            if older and not (isinstance(meta, dict) and "rlkit_checkpoint" in meta):
                raise OlderCheckpointError(
                    f"{path} was written by an older rlkit (it holds {', '.join(older)}, an earlier layout "
                    "whose agents were pickled, which rlkit no longer opens because unpickling can run code); retrain "
                    "the agent with this version")
            if meta is None:
                raise ValueError(f"{path} is not a saved rlkit agent (no {META_MEMBER})")
            tensor_bytes = archive.read(TENSORS_MEMBER) if with_tensors and TENSORS_MEMBER in members else b""
    except zipfile.BadZipFile:
        raise ValueError(f"{path} is not a saved rlkit agent (not a zip file)") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: {META_MEMBER} is not valid JSON ({error})") from None
    if not isinstance(meta, dict) or meta.get("rlkit_checkpoint") != FORMAT or "state" not in meta:
        raise ValueError(f"{path} is not a saved rlkit agent of checkpoint format {FORMAT}")
    if with_tensors and not tensor_bytes:
        raise ValueError(f"{path} is incomplete: {TENSORS_MEMBER} is missing")
    return meta, tensor_bytes


class Checkpointed:
    """Mixin: ``save``/``load`` in the one format for an agent rebuilt from its hyper-parameters
    (every rlkit agent that is not an SB3 algorithm).

    ``save`` writes the agent's ``hyperparameters`` (:meth:`checkpoint_hyperparameters`) and the
    state tree ``{"seed": ..., "num_timesteps": ..., "agent": checkpoint_state()}``; ``load`` reads
    them back as the class it is called on (another class's file is refused), rebuilds the agent
    (:meth:`rebuild`: by default ``cls(env=env, seed=seed, device=device, verbose=verbose,
    **hyperparameters)``), sets its ``num_timesteps`` and hands what :meth:`checkpoint_state`
    returned to :meth:`restore_checkpoint`.

    A class sets ``save_format`` (raised whenever the layout of its state changes: a file of
    another format is refused with :class:`OlderCheckpointError`), and overrides:

    - :meth:`checkpoint_state` / :meth:`restore_checkpoint` for what it keeps besides its
      hyper-parameters (weights, optimiser and generator states, counters, a certificate; a
      subclass extends its parent's tree through ``super()``);
    - :meth:`rebuild` where its constructor cannot remake it from the hyper-parameters and the env
      given to ``load`` (an agent sized from its saved state, one that makes a default env);
    - :meth:`checkpoint_hyperparameters` where ``hyperparameters`` holds more than the
      constructor's arguments.

    The agent has ``hyperparameters``, ``seed`` and ``num_timesteps`` attributes.
    """

    save_format: ClassVar[int]
    hyperparameters: dict[str, Any]
    seed: Any
    num_timesteps: int

    def checkpoint_state(self) -> Any:
        """The agent's own state tree (what its hyper-parameters do not rebuild); None by default."""
        return None

    def restore_checkpoint(self, state: Any) -> None:
        """Put back ``state`` (what :meth:`checkpoint_state` returned) into the agent just rebuilt."""

    def checkpoint_hyperparameters(self) -> dict[str, Any]:
        """The keyword arguments the agent is rebuilt from (by default ``hyperparameters``)."""
        return self.hyperparameters

    @classmethod
    def rebuild(cls, hyperparameters: dict[str, Any], state: Any, *, seed: Any, env: Any, device: Any,
                verbose: int) -> Any:
        """The agent as constructed before its state is restored (``state``: the saved
        :meth:`checkpoint_state`, for a class that needs it to build itself)."""
        return cls(env=env, seed=seed, device=device, verbose=verbose, **hyperparameters)

    def save(self, path: Any) -> None:
        """Write the agent (``.zip`` added when ``path`` has no suffix): its hyper-parameters, seed,
        step counter and :meth:`checkpoint_state`."""
        state = {"seed": self.seed, "num_timesteps": self.num_timesteps, "agent": self.checkpoint_state()}
        save_agent(path, type(self).__name__, self.save_format, self.checkpoint_hyperparameters(), state)

    @classmethod
    def load(cls, path: Any, env: Any = None, device: Any = "auto", verbose: int = 0, **overrides: Any) -> Any:
        """The agent :meth:`save` wrote at ``path``, rebuilt and restored: it predicts as the saved one
        and a ``learn`` continues where it stopped. ``env``: the env to act and learn in (whether it
        is optional depends on the class); ``overrides``: constructor arguments that replace saved
        hyper-parameters (e.g. more env runners for a resumed run)."""
        parameters = inspect.signature(cls.__init__).parameters
        if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
            unknown = sorted(set(overrides) - set(parameters))
            if unknown:
                raise TypeError(f"{cls.__name__}.load: not an argument of its constructor: {', '.join(unknown)}")
        hyperparameters, saved = load_agent(path, cls.__name__, cls.save_format)
        agent = cls.rebuild({**hyperparameters, **overrides}, saved["agent"], seed=saved["seed"], env=env,
                            device=device, verbose=verbose)
        agent.num_timesteps = int(saved["num_timesteps"])
        agent.restore_checkpoint(saved["agent"])
        return agent


# -- bulk arrays (replay buffers) -------------------------------------------------------------------
META_ARRAY = "__meta__"


def save_arrays(path: Any, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Write named numeric arrays and a JSON ``meta`` dict into an ``.npz`` (no pickle)."""
    if META_ARRAY in arrays:
        raise ValueError(f"{META_ARRAY} is a reserved array name")
    for name, array in arrays.items():
        if np.asarray(array).dtype == object:
            raise TypeError(f"array {name!r} holds Python objects; only numeric arrays can be saved")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    encoded, _ = encode(meta)  # standard JSON: non-finite floats (an unbounded space's Box) as in a state tree
    encoded_meta = np.frombuffer(json.dumps(encoded, allow_nan=False).encode(), dtype=np.uint8)
    with target.open("wb") as handle:
        np.savez(handle, **{META_ARRAY: encoded_meta}, **arrays)


def load_arrays(path: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(arrays, meta) of a file written by :func:`save_arrays`; refuses a pickle or a foreign file."""
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"no saved arrays at {source}")
    if source.suffix == ".pkl":
        raise OlderCheckpointError(f"{source} was written by an older rlkit (a pickle, which rlkit no longer "
                                   "opens because unpickling can run code); retrain the agent with this version")
    try:
        with np.load(source, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (ValueError, OSError, zipfile.BadZipFile) as error:
        raise ValueError(f"{source} is not an rlkit array file: {error}") from None
    if META_ARRAY not in arrays:
        raise ValueError(f"{source} is not an rlkit array file (no {META_ARRAY})")
    try:
        meta = decode(json.loads(arrays.pop(META_ARRAY).tobytes().decode()), {})
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{source}: its metadata is not valid JSON ({error})") from None
    return arrays, meta


# -- spaces (an agent loaded without an env rebuilds them) ------------------------------------------
def space_to_json(space: Any) -> dict[str, Any]:
    """A Box, Discrete, MultiDiscrete, MultiBinary or Dict space as JSON-able data."""
    from gymnasium import spaces

    if isinstance(space, spaces.Box):
        return {"type": "Box", "low": space.low.tolist(), "high": space.high.tolist(),
                "shape": list(space.shape), "dtype": str(space.dtype)}
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": space.nvec.tolist(), "dtype": str(space.dtype)}
    if isinstance(space, spaces.MultiBinary):
        return {"type": "MultiBinary", "n": space.n if isinstance(space.n, int) else list(space.n)}
    if isinstance(space, spaces.Dict):
        return {"type": "Dict", "spaces": {k: space_to_json(v) for k, v in space.spaces.items()}}
    raise TypeError(f"a {type(space).__name__} space cannot be saved (allowed: Box, Discrete, MultiDiscrete, "
                    "MultiBinary, Dict)")


def space_from_json(data: dict[str, Any]) -> Any:
    from gymnasium import spaces

    kind = data.get("type")
    if kind == "Box":
        dtype = np.dtype(data["dtype"])
        return spaces.Box(np.asarray(data["low"], dtype=dtype), np.asarray(data["high"], dtype=dtype),
                          shape=tuple(data["shape"]), dtype=dtype)
    if kind == "Discrete":
        return spaces.Discrete(int(data["n"]), start=int(data.get("start", 0)))
    if kind == "MultiDiscrete":
        return spaces.MultiDiscrete(np.asarray(data["nvec"]), dtype=np.dtype(data["dtype"]))
    if kind == "MultiBinary":
        return spaces.MultiBinary(data["n"])
    if kind == "Dict":
        return spaces.Dict({k: space_from_json(v) for k, v in data["spaces"].items()})
    raise ValueError(f"unknown space type {kind!r} in a saved agent")

