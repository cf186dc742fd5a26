"""Building the envs a run trains and evaluates on, from the ``env`` config."""

from __future__ import annotations

import functools
import inspect
from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator
from omegaconf import DictConfig, OmegaConf

from rlkit.errors import UserError


def _kwargs(env_cfg: DictConfig) -> dict[str, Any]:
    return OmegaConf.to_container(env_cfg.kwargs, resolve=True) if env_cfg.get("kwargs") else {}


def _gym_make(env_id: str, kwargs: dict[str, Any]) -> gym.Env:
    # module-level so subprocess workers can unpickle it; they register rlkit's envs themselves
    import envs  # noqa: F401

    return gym.make(env_id, **kwargs)


def constructor_arguments(env_id: str) -> set[str]:
    """The arguments the constructor behind a registered Gymnasium id takes by name (``gymnasium.make``
    passes its keyword arguments on to it); empty when the id or its entry point cannot be read."""
    import envs  # noqa: F401  registers rlkit's envs

    try:
        entry_point = gym.spec(env_id.rpartition(":")[2]).entry_point
        creator = load_env_creator(entry_point) if isinstance(entry_point, str) else entry_point
        parameters = inspect.signature(creator.__init__ if inspect.isclass(creator) else creator).parameters.values()
    except (gym.error.Error, ImportError, AttributeError, TypeError, ValueError):
        return set()
    return {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {"self"}


def make_env(env_cfg: DictConfig) -> gym.Env:
    """One env, as ``gymnasium.make(env.id, **env.kwargs)``; a bad argument is a UserError."""
    try:
        return _gym_make(env_cfg.id, _kwargs(env_cfg))
    except TypeError as error:  # an unknown or ill-typed constructor argument
        raise UserError(f"env {env_cfg.name}: bad env.kwargs ({error})") from None
    except (ValueError, ImportError) as error:  # a value the env refuses, an optional package missing
        raise UserError(f"env {env_cfg.name}: {error}") from None


def envs_with_batched_engines() -> list[str]:
    """The catalogue's env names whose env has a batched engine."""
    import envs  # noqa: F401  registers rlkit's envs
    from envs.batched import batched_engine
    from rlkit import catalogue

    return [name for name in catalogue.entry_names("env")
            if (env_id := catalogue.entry_config("env", name).get("id")) and batched_engine(env_id) is not None]


def make_batched_env(env_cfg: DictConfig, n_envs: int, autoreset_mode: str = "same_step") -> Any:
    """``n_envs`` games of the env in its batched engine (``gymnasium.make_vec`` through the registered
    vector entry point); a UserError naming the envs that have one when this env has none."""
    import envs  # noqa: F401  registers rlkit's envs
    from envs.batched import batched_engine

    if batched_engine(env_cfg.id) is None:
        raise UserError(f"env {env_cfg.name} has no batched engine, so vec_env=batched cannot run it; envs "
                        f"with one: {', '.join(envs_with_batched_engines())} (or use vec_env=dummy|subproc)")
    try:
        return gym.make_vec(env_cfg.id, num_envs=n_envs, vectorization_mode="vector_entry_point",
                            autoreset_mode=autoreset_mode, **_kwargs(env_cfg))
    except TypeError as error:
        raise UserError(f"env {env_cfg.name}: bad env.kwargs ({error})") from None
    except (ValueError, ImportError) as error:
        raise UserError(f"env {env_cfg.name}: {error}") from None


def make_training_env(env_cfg: DictConfig, n_envs: int, vec_env: str, seed: int) -> Any:
    """``n_envs`` seeded training envs as one SB3 VecEnv: copies of the env in-process (``dummy``) or
    one process each (``subproc``), each wrapped in SB3's Monitor, or the games of the env's batched
    engine (``batched``) behind VecMonitor; either way episode returns reach the logger."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecMonitor

    make_env(env_cfg).close()  # fail here, in this process, on a bad id or argument
    if vec_env == "batched":
        from rlkit.batched_vec_env import BatchedVecEnv

        venv = BatchedVecEnv(make_batched_env(env_cfg, n_envs),
                             reference=functools.partial(_gym_make, env_cfg.id, _kwargs(env_cfg)))
        venv.seed(seed)
        return VecMonitor(venv)
    vec_env_cls = SubprocVecEnv if vec_env == "subproc" else DummyVecEnv
    return make_vec_env(
        functools.partial(_gym_make, env_cfg.id, _kwargs(env_cfg)),
        n_envs=n_envs,
        seed=seed,
        vec_env_cls=vec_env_cls,
    )
