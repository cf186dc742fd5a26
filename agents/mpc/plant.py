"""What a model-based agent needs from an environment: the control system and the maps between
observations/actions and plant states/inputs.

A control environment (``envs.control``) exposes, on its unwrapped instance, ``system`` (a
:class:`~envs.control.system.ControlSystem`) and the numpy conversions ``observation_to_state``,
``state_to_observation``, ``action_to_input`` and ``input_to_action``. :func:`plant_interface` finds
them behind Gymnasium wrappers and inside an SB3 VecEnv (in-process or subprocess: the unwrapped
env of worker 0 is fetched once with ``get_attr``, so conversions are local calls afterwards).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

REQUIRED_METHODS = ("observation_to_state", "input_to_action")


@dataclass
class PlantInterface:
    """The control system plus the conversions of one (unwrapped) control environment."""

    system: Any
    model_env: Any  # the unwrapped env whose conversion methods are called
    observation_space: Any
    action_space: Any

    def states(self, observations: np.ndarray) -> np.ndarray:
        """Plant states (batch, n) from observations (batch, *observation_shape)."""
        n = self.system.n_states
        try:
            states = np.asarray(self.model_env.observation_to_state(observations), dtype=np.float64)
        except (ValueError, TypeError, IndexError):
            states = None
        if states is None or states.shape != (len(observations), n):  # written for one observation
            states = np.stack([
                np.asarray(self.model_env.observation_to_state(o), dtype=np.float64).reshape(n)
                for o in observations
            ])
        return states

    def actions(self, inputs: np.ndarray) -> np.ndarray:
        """Actions (batch, *action_shape) from plant inputs (batch, m), clipped to the action space."""
        actions = np.stack([np.asarray(self.model_env.input_to_action(u)) for u in inputs])
        actions = actions.reshape((len(inputs),) + tuple(self.action_space.shape))
        low, high = self.action_space.low, self.action_space.high
        return np.clip(actions, low, high).astype(self.action_space.dtype)


def _describe(env: Any) -> str:
    spec = getattr(env, "spec", None)
    if spec is not None and getattr(spec, "id", None):
        return spec.id
    return type(env).__name__


def plant_interface(env: Any) -> PlantInterface:
    """The :class:`PlantInterface` of a Gymnasium env (wrapped or not) or an SB3 VecEnv.

    Raises ``ValueError`` naming what is missing when the env exposes no control system.
    """
    if env is None:
        raise ValueError("this agent needs an environment that exposes a control system; got env=None")
    try:
        from stable_baselines3.common.vec_env import VecEnv
    except ImportError:  # pragma: no cover - SB3 is a dependency
        VecEnv = ()  # type: ignore[assignment]
    if isinstance(env, VecEnv):
        try:
            unwrapped = env.get_attr("unwrapped", indices=[0])[0]
        except Exception as error:
            raise ValueError(f"cannot fetch the environment model from the VecEnv: {error}") from None
        name = _describe(unwrapped)
    else:
        unwrapped = getattr(env, "unwrapped", env)
        name = _describe(env)
    system = getattr(unwrapped, "system", None)
    if system is None or not hasattr(system, "linearize"):
        raise ValueError(
            f"env {name} exposes no control system: this agent needs an environment from envs.control "
            f"whose unwrapped instance has a `system` (a ControlSystem with x_eq, u_eq, linearize(), "
            f"Q, R and constraints), e.g. env=double_integrator"
        )
    missing = [method for method in REQUIRED_METHODS if not callable(getattr(unwrapped, method, None))]
    if missing:
        raise ValueError(f"env {name} has a control system but lacks {', '.join(missing)}")
    return PlantInterface(system, unwrapped, env.observation_space, env.action_space)
