"""A family's batched engine as one stable-baselines3 ``VecEnv`` (``vec_env=batched``).

SB3 steps its envs through the ``VecEnv`` interface; DummyVecEnv and SubprocVecEnv do it one Python env
at a time. :class:`BatchedVecEnv` hands the whole batch of actions to an
:class:`envs.batched.BatchedEnv` built in ``same_step`` autoreset mode, which is SB3's convention: a
game that ends is restarted in the same step, its last observation goes into that game's info as
``terminal_observation`` and a time-limit end is flagged ``TimeLimit.truncated``, exactly what
DummyVecEnv produces for the same games.
"""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv


class BatchedVecEnv(VecEnv):
    """SB3's ``VecEnv`` over one batched engine.

    ``reference`` makes one single env of the same task on demand: ``get_attr`` answers from it what
    all games share (``unwrapped`` for an agent that reads the env's model, ``spec``, constants), since
    the batch has no per-game Python objects; ``set_attr`` and ``env_method`` reach only attributes
    and methods of the batched engine itself, applied to every game.
    """

    def __init__(self, batched: Any, reference: Any = None) -> None:
        if batched.metadata.get("autoreset_mode") != gym.vector.AutoresetMode.SAME_STEP:
            raise ValueError("BatchedVecEnv needs a batched engine in same_step autoreset mode, got "
                             f"{batched.metadata.get('autoreset_mode')}")
        self.batched = batched  # before VecEnv's constructor, which reads render_mode through get_attr
        self._make_reference = reference
        self._reference: gym.Env | None = None
        self._actions: np.ndarray | None = None
        self._info_keys = tuple(getattr(batched, "step_info_keys", ()))
        super().__init__(batched.num_envs, batched.single_observation_space, batched.single_action_space)

    # -- stepping ------------------------------------------------------------------------------------
    def reset(self) -> Any:
        seeds = None if all(s is None for s in self._seeds) else list(self._seeds)
        observations, info = self.batched.reset(seed=seeds)
        self._reset_seeds()
        self._reset_options()
        self.reset_infos = self._game_infos(info, np.ones(self.num_envs, np.bool_))
        return observations

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> tuple[Any, np.ndarray, np.ndarray, list[dict]]:
        observations, rewards, terminated, truncated, info = self.batched.step(self._actions)
        dones = np.logical_or(terminated, truncated)
        infos = self._game_infos(info, dones)
        for i in np.flatnonzero(dones):
            infos[i]["terminal_observation"] = info["final_obs"][i]
            infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
        return observations, np.asarray(rewards, np.float32), dones, infos

    def _game_infos(self, info: dict[str, Any], ended: np.ndarray) -> list[dict]:
        """One dict per game: the ``step_info_keys`` every step; every entry for the games that ended
        (their episode's last info, as DummyVecEnv hands it on)."""
        infos: list[dict] = [{} for _ in range(self.num_envs)]
        for key in self._info_keys:
            if key in info:
                for game, value in zip(infos, np.asarray(info[key]).tolist()):
                    game[key] = value
        games = np.flatnonzero(ended)
        if len(games):
            for key, value in info.items():
                if key.startswith("_") or key == "final_obs":
                    continue
                mask = info.get(f"_{key}")
                for i in games:
                    if mask is None or mask[i]:
                        infos[i][key] = value[i]
        return infos

    # -- what all games share --------------------------------------------------------------------------
    def _reference_env(self) -> gym.Env:
        if self._reference is None:
            if self._make_reference is None:
                raise AttributeError("this batched env has no single reference env to read attributes from")
            self._reference = self._make_reference()
        return self._reference

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        n = len(self._get_indices(indices))
        if attr_name == "render_mode":  # the engine's, which renders every game
            return [getattr(self.batched, "render_mode", None)] * n
        if attr_name in ("unwrapped", "spec") or not hasattr(self.batched, attr_name):
            env = self._reference_env()
            value = env.unwrapped if attr_name == "unwrapped" else env.get_wrapper_attr(attr_name)
        else:
            value = getattr(self.batched, attr_name)
        return [value] * n

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        if len(self._get_indices(indices)) != self.num_envs:
            raise ValueError(f"set_attr({attr_name!r}) on a batched env sets it for every game; indices "
                             "must be None or all of them")
        setattr(self.batched, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any) -> list[Any]:
        n = len(self._get_indices(indices))
        if method_name == "get_wrapper_attr":
            return self.get_attr(*method_args, indices=indices)
        method = getattr(self.batched, method_name, None)
        if not callable(method):
            raise AttributeError(f"the batched engine {type(self.batched).__name__} has no method {method_name!r}; "
                                 "a batched env has no per-game env objects to call it on")
        return [method(*method_args, **method_kwargs)] * n

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * len(self._get_indices(indices))

    def get_images(self) -> Sequence[np.ndarray | None]:
        frames = self.batched.render() if self.render_mode == "rgb_array" else None
        return list(frames) if frames is not None else [None] * self.num_envs

    def close(self) -> None:
        self.batched.close()
        if self._reference is not None:
            self._reference.close()
