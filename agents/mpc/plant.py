"""What a model-based agent needs from an environment: the control system and the maps between
observations/actions and plant states/inputs.

A control environment (``envs.control``) exposes, on its unwrapped instance, ``system`` (a
:class:`~envs.control.system.ControlSystem`) and the numpy conversions ``observation_to_state``,
``state_to_observation``, ``action_to_input`` and ``input_to_action``, and, when it observes its
reference (``observe_reference``), ``observation_to_reference``. :func:`plant_interface` finds
them behind Gymnasium wrappers and inside an SB3 VecEnv (in-process or subprocess: the unwrapped
env of worker 0 is fetched once with ``get_attr``, so conversions are local calls afterwards).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

REQUIRED_METHODS = ("observation_to_state", "input_to_action")
REFERENCE_SETS = ("schedule", "state")
DEFAULT_REFERENCE_MARGIN = 0.02  # of the state box's width, around the schedule's references


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

    @property
    def observes_reference(self) -> bool:
        """Whether the observation carries the reference state (then the MPC can track it)."""
        return bool(getattr(self.model_env, "observe_reference", False)) and callable(
            getattr(self.model_env, "observation_to_reference", None))

    def references(self, observations: np.ndarray) -> np.ndarray:
        """Reference states (batch, n) from observations (batch, *observation_shape)."""
        if not self.observes_reference:
            raise ValueError("this env does not observe its reference, so there is none to track")
        n = self.system.n_states
        try:
            references = np.asarray(self.model_env.observation_to_reference(observations), dtype=np.float64)
        except (ValueError, TypeError, IndexError):
            references = None
        if references is None or references.shape != (len(observations), n):
            references = np.stack([
                np.asarray(self.model_env.observation_to_reference(o), dtype=np.float64).reshape(n)
                for o in observations
            ])
        return references

    def scheduled_references(self) -> np.ndarray | None:
        """The reference states of the env's ``reference_schedule`` (rows), or None without one."""
        schedule = getattr(self.model_env, "reference_schedule", None)
        if not schedule:
            return None
        return np.stack([np.asarray(entry[1], dtype=np.float64).reshape(self.system.n_states) for entry in schedule])

    def reference_box(self, reference_set: str = "schedule",
                      margin: float = DEFAULT_REFERENCE_MARGIN) -> tuple[np.ndarray, np.ndarray]:
        """The box of reference states a tracking MPC is posed for (absolute):

        - ``"schedule"``: the bounding box of the env's scheduled references widened on each side
          by ``margin`` times the state box's width, clipped to the state box (the state box when
          the env has no schedule or the box is unbounded);
        - ``"state"``: the state box.

        The smaller box keeps the explicit solution small: for the CSTR tracking env (horizon 10,
        one core) 539 regions solved in 20 s, against 1312 regions in 112 s for the whole state
        box. A reference outside the box gets the tracking saturated LQR.
        """
        if reference_set not in REFERENCE_SETS:
            raise ValueError(f"unknown reference_set {reference_set!r}; allowed: {', '.join(REFERENCE_SETS)}")
        if not np.isfinite(margin) or margin < 0:
            raise ValueError(f"reference_margin must be a finite number >= 0, got {margin!r}")
        low = np.asarray(self.system.state_low, dtype=np.float64).copy()
        high = np.asarray(self.system.state_high, dtype=np.float64).copy()
        references = self.scheduled_references() if reference_set == "schedule" else None
        if references is None or not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
            return low, high
        width = margin * (high - low)
        return np.maximum(references.min(0) - width, low), np.minimum(references.max(0) + width, high)

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
