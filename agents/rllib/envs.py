"""How RLlib's env runners, in other processes or on other machines, build the env the agent was
given: from its Gymnasium ``EnvSpec`` (id, constructor arguments, wrappers), recreated with
``gymnasium.make`` after importing :mod:`envs`, so rlkit's own envs are registered there too."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

REGISTERED_NAME = "rlkit-env"  # the name env runners look the creator up by (Tune's env registry)


def env_spec_of(env: Any) -> gym.envs.registration.EnvSpec | None:
    """The spec an env (or the first env of an SB3 VecEnv) was made from, or None when it was
    not made by ``gymnasium.make``."""
    if hasattr(env, "envs"):  # DummyVecEnv
        env = env.envs[0]
    elif hasattr(env, "get_attr"):  # SubprocVecEnv: ask the worker for the unwrapped env's spec
        return env.env_method("get_wrapper_attr", "spec", indices=[0])[0]
    unwrapped = getattr(env, "unwrapped", env)
    return getattr(unwrapped, "spec", None)


def make_from_spec(env_config: dict) -> gym.Env:
    """The creator RLlib calls on each env runner: ``env_config["spec"]`` is the EnvSpec."""
    import envs  # noqa: F401  registers rlkit's envs in this process

    return gym.make(env_config["spec"])


def env_config(spec: gym.envs.registration.EnvSpec) -> dict:
    """The ``env_config`` RLlib hands :func:`make_from_spec` on every env runner."""
    return {"spec": spec}


def register() -> None:
    """Register the creator with Ray under :data:`REGISTERED_NAME` (repeating it is harmless)."""
    from ray.tune.registry import register_env

    register_env(REGISTERED_NAME, make_from_spec)
