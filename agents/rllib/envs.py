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


def make_from_spec(env_config: dict) -> gym.Env | gym.vector.VectorEnv:
    """The creator RLlib calls on each env runner: ``env_config["spec"]`` is the EnvSpec. RLlib adds
    ``num_envs`` when it builds a vector env through the vector entry point (see
    :func:`vectorize_mode`): then all of the runner's envs are the games of the env's batched engine."""
    import envs  # noqa: F401  registers rlkit's envs in this process

    spec = env_config["spec"]
    if "num_envs" in env_config:
        return gym.make_vec(spec.id, num_envs=int(env_config["num_envs"]), vectorization_mode="vector_entry_point",
                            **spec.kwargs)
    return gym.make(spec)


def vectorize_mode(spec: gym.envs.registration.EnvSpec | None) -> str:
    """How RLlib's env runners batch their ``num_envs_per_env_runner`` envs: in the env's batched
    engine when it has one (one engine step for all of them), else Gymnasium's SyncVectorEnv."""
    import envs  # noqa: F401
    from envs.batched import batched_engine

    if spec is not None and batched_engine(spec.id) is not None:
        return "vector_entry_point"
    return "sync"


def env_config(spec: gym.envs.registration.EnvSpec) -> dict:
    """The ``env_config`` RLlib hands :func:`make_from_spec` on every env runner."""
    return {"spec": spec}


def register() -> None:
    """Register the creator with Ray under :data:`REGISTERED_NAME` (repeating it is harmless)."""
    from ray.tune.registry import register_env

    register_env(REGISTERED_NAME, make_from_spec)
