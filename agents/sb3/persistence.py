"""Saving and loading rlkit's SB3-based agents in rlkit's one checkpoint format
(:mod:`agents.checkpoint`): nothing is pickled on save or unpickled on load.

An agent keeps the keyword arguments it was constructed with, as given (``hyperparameters``: the
config forms such as ``activation_fn: tanh`` and ``action_noise: {kind: normal, sigma: 0.1}``).
``save`` writes them with the agent's state:

- the state dicts and torch variables that SB3's own ``_get_torch_save_params()`` names (policy,
  optimizers, SAC's ``log_ent_coef``), so no algorithm's networks are listed here;
- the progress SB3 keeps between ``learn`` calls (:data:`PROGRESS`: counters, the schedules'
  position, the exploration rate, the episode statistics, the last observation) and the state of
  the action noise;
- the observation and action spaces, so that an agent can be loaded without an env to predict.

``load`` rebuilds the agent from its hyper-parameters (``cls(env=env, device=device, **hyper)``;
without an env, from the saved spaces) and puts the state back, so a resumed ``learn`` continues as
it would after SB3's own ``load``. Replay buffers (SB3's ``ReplayBuffer`` and ``DictReplayBuffer``)
go to an ``.npz`` (:func:`agents.checkpoint.save_arrays`).
"""

from __future__ import annotations

import copy
import inspect
from collections import deque
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from agents.checkpoint import (encode, load_agent, load_arrays, save_agent, save_arrays, space_from_json,
                               space_to_json)

# What SB3 changes while it learns and reads again when ``learn`` continues (reset_num_timesteps=False),
# and what its setup derives from the env (SAC's target entropy, needed to load without one); an
# attribute an algorithm does not have is skipped.
PROGRESS = (
    "num_timesteps", "_total_timesteps", "_num_timesteps_at_start", "_episode_num", "_n_updates",
    "_current_progress_remaining", "_n_calls", "exploration_rate", "learning_starts", "seed",
    "ep_info_buffer", "ep_success_buffer", "target_entropy",
)
# where a continued ``learn`` steps from; ``_last_obs`` is dropped when loading with an env and
# force_reset, as SB3 does (the next learn then resets the env)
LAST_OBSERVATION = ("_last_obs", "_last_episode_starts", "_last_original_obs")
_DEQUES = ("ep_info_buffer", "ep_success_buffer")
# constructor arguments that are not hyper-parameters: load() supplies them
_NOT_HYPERPARAMETERS = ("env", "device", "_init_setup_model")
REPLAY_BUFFER_FORMAT = 1


class SB3Persistence:
    """Mixin (first base) for rlkit's SB3 algorithm classes: ``save``/``load`` and
    ``save_replay_buffer``/``load_replay_buffer`` in rlkit's checkpoint format (module docstring).

    A subclass names its own state beyond SB3's in ``persisted_attributes`` (plain values, arrays,
    tensors); one whose networks are built from the env sets ``load_needs_env`` to the reason.
    """

    save_format: ClassVar[int] = 1
    persisted_attributes: ClassVar[tuple[str, ...]] = ()
    load_needs_env: ClassVar[str | None] = None
    hyperparameters: dict[str, Any]

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        agent = super().__new__(cls)
        # the outermost constructor's arguments, as given (a subclass's __init__ may rewrite them
        # before SB3 sees them); a copy (copy.deepcopy) arrives without arguments and gets its dict copied
        agent.hyperparameters = _given_arguments(cls, args, kwargs)
        return agent

    # -- the agent ------------------------------------------------------------------------------
    def save(self, path: Any, exclude: Any = None, include: Any = None) -> None:
        """Write the agent (``.zip`` added when ``path`` has no suffix). ``exclude``/``include`` take
        names out of, or add attributes to, the saved progress (SB3's arguments)."""
        from stable_baselines3.common.save_util import recursive_getattr
        from stable_baselines3.common.utils import get_system_info

        names = (set(PROGRESS) | set(LAST_OBSERVATION) | set(self.persisted_attributes) | set(include or ()))
        names -= set(exclude or ())
        attributes = {}
        for name in sorted(names):
            if hasattr(self, name):
                value = getattr(self, name)
                attributes[name] = list(value) if isinstance(value, deque) else value
        _, variable_names = self._get_torch_save_params()
        state = {
            "spaces": {"observation": space_to_json(self.observation_space),
                       "action": space_to_json(self.action_space), "n_envs": int(self.n_envs)},
            "parameters": self.get_parameters(),
            "variables": {name: recursive_getattr(self, name) for name in variable_names},
            "attributes": attributes,
            "action_noise": _noise_state(self.action_noise),
            "system_info": get_system_info(print_info=False)[0],
        }
        hyperparameters = _config_form(self.hyperparameters)
        try:
            encode(hyperparameters)
        except TypeError as error:  # e.g. an ActionNoise object given instead of its spec
            where = str(error).removeprefix("state.")
            raise TypeError(f"{type(self).__name__} cannot be saved: hyper-parameter {where}; hyper-parameters must "
                            "be config values (e.g. activation_fn: tanh, action_noise: {kind: normal, sigma: 0.1})"
                            ) from None
        save_agent(path, type(self).__name__, self.save_format, hyperparameters, state)

    @classmethod
    def load(cls, path: Any, env: Any = None, device: Any = "auto", custom_objects: dict[str, Any] | None = None,
             print_system_info: bool = False, force_reset: bool = True, **kwargs: Any) -> Any:
        """The agent saved at ``path``, rebuilt from its hyper-parameters. ``custom_objects`` and
        ``kwargs`` change it: a constructor argument is passed to the constructor, anything else is
        set as an attribute once the agent is restored. ``force_reset`` (with an env): the next
        ``learn`` starts from a reset rather than from the saved last observation, as in SB3."""
        from stable_baselines3.common.utils import check_for_correct_spaces, get_system_info

        hyperparameters, state = load_agent(path, cls.__name__, cls.save_format)
        if print_system_info:
            print("== CURRENT SYSTEM INFO ==")
            get_system_info()
            print("== SAVED MODEL SYSTEM INFO ==")
            print("\n".join(f"- {key}: {value}" for key, value in state.get("system_info", {}).items()))
        overrides = {**(custom_objects or {}), **kwargs}
        accepted = _constructor_parameters(cls)
        hyperparameters.update({k: v for k, v in overrides.items() if k in accepted})
        observation_space = space_from_json(state["spaces"]["observation"])
        action_space = space_from_json(state["spaces"]["action"])
        if env is not None:
            env = cls._wrap_env(env, hyperparameters.get("verbose", 0))
            check_for_correct_spaces(env, observation_space, action_space)
            agent = cls(env=env, device=device, **hyperparameters)
        else:
            if cls.load_needs_env:
                raise ValueError(f"{cls.__name__} cannot be loaded without an env: {cls.load_needs_env}; "
                                 "pass env= to load()")
            agent = cls(env=None, device=device, _init_setup_model=False, **hyperparameters)
            agent.observation_space, agent.action_space = observation_space, action_space
            agent.n_envs = int(state["spaces"]["n_envs"])
            agent._rebuild_action_noise()
            agent._restore_attributes(state, keep_last_observation=True)  # as SB3: before the setup
            agent._setup_model()
        agent._restore(state, keep_last_observation=env is None or not force_reset)
        for name, value in overrides.items():  # as SB3's load: keyword arguments win over the saved values
            setattr(agent, name, value)
        return agent

    def _rebuild_action_noise(self) -> None:
        """Action noise given as a config spec needs the action space, which an agent constructed
        without an env learns only now."""
        spec = self.hyperparameters.get("action_noise")
        if self.action_noise is None and isinstance(spec, dict):
            from agents.sb3 import exploration_noise

            self.action_noise = exploration_noise(spec, self.action_space)

    def _restore(self, state: dict[str, Any], keep_last_observation: bool) -> None:
        from stable_baselines3.common.save_util import recursive_setattr

        self.set_parameters(state["parameters"], exact_match=True, device=self.device)
        for name, tensor in state["variables"].items():
            if tensor is not None:  # SAC with a fixed entropy coefficient saves none (as in SB3)
                recursive_setattr(self, f"{name}.data", tensor.to(self.device))
        self._restore_attributes(state, keep_last_observation)
        _restore_noise(self, state.get("action_noise"))
        if self.use_sde:  # as SB3's load: sample the gSDE exploration matrix on this device
            self.policy.reset_noise()

    def _restore_attributes(self, state: dict[str, Any], keep_last_observation: bool) -> None:
        for name, value in state["attributes"].items():
            if name == "_last_obs" and not keep_last_observation:
                continue
            if name in _DEQUES and value is not None:
                value = deque(value, maxlen=self._stats_window_size)
            setattr(self, name, value)

    # -- the replay buffer ----------------------------------------------------------------------
    def save_replay_buffer(self, path: Any) -> None:
        """Write the replay buffer's filled part to an ``.npz`` (added when ``path`` has no suffix)."""
        from stable_baselines3.common.buffers import DictReplayBuffer, ReplayBuffer

        buffer = self.replay_buffer
        if buffer is None:
            raise ValueError(f"{type(self).__name__} has no replay buffer to save")
        if type(buffer) not in (ReplayBuffer, DictReplayBuffer):
            raise TypeError(f"a {type(buffer).__name__} cannot be saved; rlkit saves ReplayBuffer and DictReplayBuffer")
        size = buffer.buffer_size if buffer.full else buffer.pos
        arrays = {f"{name}:{key}" if key else name: array[:size] for name, key, array in _buffer_arrays(buffer)}
        meta = {"format": REPLAY_BUFFER_FORMAT, "class": type(buffer).__name__, "pos": int(buffer.pos),
                "full": bool(buffer.full), "buffer_size": int(buffer.buffer_size),  # rows, of n_envs each
                "n_envs": int(buffer.n_envs),
                "optimize_memory_usage": bool(getattr(buffer, "optimize_memory_usage", False)),
                "handle_timeout_termination": bool(buffer.handle_timeout_termination),
                "observation_space": space_to_json(buffer.observation_space),
                "action_space": space_to_json(buffer.action_space)}
        save_arrays(_npz_path(path), arrays, meta)

    def load_replay_buffer(self, path: Any, truncate_last_traj: bool = True) -> None:
        """Replace the replay buffer by the one saved at ``path``. ``truncate_last_traj`` is SB3's
        argument for its HerReplayBuffer, which rlkit does not save; it is accepted and unused."""
        from stable_baselines3.common.buffers import DictReplayBuffer, ReplayBuffer

        source = _npz_path(path)
        arrays, meta = load_arrays(source)
        classes = {"ReplayBuffer": ReplayBuffer, "DictReplayBuffer": DictReplayBuffer}
        if meta.get("format") != REPLAY_BUFFER_FORMAT or meta.get("class") not in classes:
            raise ValueError(f"{source} is not a replay buffer of format {REPLAY_BUFFER_FORMAT} "
                             f"(it holds {meta.get('class')!r}, format {meta.get('format')!r})")
        observation_space = space_from_json(meta["observation_space"])
        action_space = space_from_json(meta["action_space"])
        if observation_space != self.observation_space or action_space != self.action_space:
            raise ValueError(f"{source} holds transitions of observation space {observation_space} and action space "
                             f"{action_space}; this agent has {self.observation_space} and {self.action_space}")
        buffer = classes[meta["class"]](  # its constructor takes the transitions of all envs together
            int(meta["buffer_size"]) * int(meta["n_envs"]), observation_space, action_space, device=self.device, n_envs=int(meta["n_envs"]),
            optimize_memory_usage=bool(meta["optimize_memory_usage"]),
            handle_timeout_termination=bool(meta["handle_timeout_termination"]))
        size = buffer.buffer_size if meta["full"] else int(meta["pos"])
        for name, key, target in _buffer_arrays(buffer):
            array_name = f"{name}:{key}" if key else name
            saved = arrays.pop(array_name, None)
            if saved is None or saved.shape != (size, *target.shape[1:]) or saved.dtype != target.dtype:
                found = "missing" if saved is None else f"{saved.dtype} {saved.shape}"
                raise ValueError(f"{source}: array {array_name!r} is {found}, expected {target.dtype} "
                                 f"{(size, *target.shape[1:])}")
            target[:size] = saved
        if arrays:
            raise ValueError(f"{source} holds arrays a {meta['class']} does not have: {', '.join(sorted(arrays))}")
        buffer.pos, buffer.full = int(meta["pos"]), bool(meta["full"])
        self.replay_buffer = buffer


# -- helpers ----------------------------------------------------------------------------------------
def _given_arguments(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The keyword form of a constructor call's arguments, without those load() supplies; empty
    when they do not fit the signature (the constructor then says what is wrong)."""
    try:
        bound = inspect.signature(cls.__init__).bind_partial(None, *args, **kwargs)
    except TypeError:
        return {}
    parameters = inspect.signature(cls.__init__).parameters
    given: dict[str, Any] = {}
    for position, (name, value) in enumerate(bound.arguments.items()):
        if position == 0:  # self
            continue
        if parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
            given.update(value)
        else:
            given[name] = value
    return {k: copy.deepcopy(v) for k, v in given.items() if k not in _NOT_HYPERPARAMETERS}


def _constructor_parameters(cls: type) -> set[str]:
    """Named parameters of the constructors along ``cls``'s MRO (an SB3 algorithm's chain of
    ``**kwargs`` ends in named ones)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = vars(klass).get("__init__")
        if init is not None and klass is not object:
            names |= {name for name, p in inspect.signature(init).parameters.items()
                      if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return names - {"self"}


def _config_form(value: Any) -> Any:
    """``value`` with activation classes written as their config names (``nn.Tanh`` -> ``tanh``)."""
    from agents.sb3 import ACTIVATIONS

    if isinstance(value, dict):
        return {k: _config_form(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_config_form(v) for v in value)
    if isinstance(value, type):
        names = [name for name, activation in ACTIVATIONS.items() if activation is value]
        if names:
            return names[0]
    return value


def _noise_state(noise: Any) -> Any:
    """The action noise's variables (OU's previous noise among them); per env when vectorised."""
    from stable_baselines3.common.noise import VectorizedActionNoise

    if noise is None:
        return None
    if isinstance(noise, VectorizedActionNoise):
        return {"vectorized": [_noise_state(each) for each in noise.noises]}
    # its arrays and numbers: the rest (a dtype) comes from the spec it is rebuilt from
    return {"variables": {k: v for k, v in vars(noise).items() if isinstance(v, (np.ndarray, int, float))}}


def _restore_noise(agent: Any, saved: Any) -> None:
    from stable_baselines3.common.noise import VectorizedActionNoise

    noise = agent.action_noise
    if saved is None or noise is None:
        return
    if "vectorized" in saved:
        per_env = saved["vectorized"]
        if len(per_env) != agent.n_envs:  # another number of envs: learn() vectorises the rebuilt noise afresh
            return
        base = noise.noises[0] if isinstance(noise, VectorizedActionNoise) else noise
        noise = agent.action_noise = VectorizedActionNoise(base, len(per_env))
        for each, state in zip(noise.noises, per_env):
            vars(each).update(state["variables"])
    elif not isinstance(noise, VectorizedActionNoise):
        vars(noise).update(saved["variables"])


def _buffer_arrays(buffer: Any) -> list[tuple[str, str, np.ndarray]]:
    """(name, dict key or "", array) of each array a replay buffer stores."""
    found = []
    for name in ("observations", "next_observations", "actions", "rewards", "dones", "timeouts"):
        value = getattr(buffer, name, None)
        if isinstance(value, dict):
            found.extend((name, key, array) for key, array in value.items())
        elif value is not None:  # next_observations is None with optimize_memory_usage
            found.append((name, "", value))
    return found


def _npz_path(path: Any) -> Path:
    path = Path(path)
    return path if path.suffix else path.with_suffix(".npz")
