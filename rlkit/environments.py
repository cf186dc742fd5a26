"""Building the envs a run trains and evaluates on, from the ``env`` config."""

from __future__ import annotations

import functools
from typing import Any

import gymnasium as gym
from omegaconf import DictConfig, OmegaConf

from rlkit.errors import UserError


def _kwargs(env_cfg: DictConfig) -> dict[str, Any]:
    return OmegaConf.to_container(env_cfg.kwargs, resolve=True) if env_cfg.get("kwargs") else {}


def _gym_make(env_id: str, kwargs: dict[str, Any]) -> gym.Env:
    # module-level so subprocess workers can unpickle it; they register rlkit's envs themselves
    import envs  # noqa: F401

    return gym.make(env_id, **kwargs)


def make_env(env_cfg: DictConfig) -> gym.Env:
    """One env, as ``gymnasium.make(env.id, **env.kwargs)``; a bad argument is a UserError."""
    try:
        return _gym_make(env_cfg.id, _kwargs(env_cfg))
    except TypeError as error:  # an unknown or ill-typed constructor argument
        raise UserError(f"env {env_cfg.name}: bad env.kwargs ({error})") from None
    except (ValueError, ImportError) as error:  # a value the env refuses, an optional package missing
        raise UserError(f"env {env_cfg.name}: {error}") from None


def make_training_env(env_cfg: DictConfig, n_envs: int, vec_env: str, seed: int) -> Any:
    """``n_envs`` seeded copies in a VecEnv (in-process ``dummy`` or ``subproc``), each wrapped in
    SB3's Monitor so episode returns reach the logger."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    make_env(env_cfg).close()  # fail here, in this process, on a bad id or argument
    vec_env_cls = SubprocVecEnv if vec_env == "subproc" else DummyVecEnv
    return make_vec_env(
        functools.partial(_gym_make, env_cfg.id, _kwargs(env_cfg)),
        n_envs=n_envs,
        seed=seed,
        vec_env_cls=vec_env_cls,
    )
