"""The agent contract: the surface every rlkit agent offers.

It is stable-baselines3's surface, so SB3 algorithms satisfy it as they are, and learners that are
not RL in SB3's sense (explicit MPC, Lyapunov training) implement the same methods so that
``rlkit train`` and ``rlkit evaluate`` treat all agents alike.

Required
--------
``supported_action_spaces``
    Class attribute: the Gymnasium space classes the agent can act in. The host refuses an env
    whose action space is not an instance of one of them before anything is built.
``num_timesteps``
    Environment steps taken so far (the counter TensorBoard and checkpoints use).
``learn(total_timesteps, callback=None, progress_bar=False, reset_num_timesteps=True)``
    Train for ``total_timesteps`` more steps. ``callback`` is a
    :class:`stable_baselines3.common.callbacks.BaseCallback`; a non-SB3 agent calls
    ``callback.init_callback(self)``, ``callback.on_training_start(locals(), globals())``, then
    ``callback.on_step()`` after each environment step (after updating ``num_timesteps``; a
    ``False`` return means stop), ``on_rollout_start``/``on_rollout_end`` around data collection
    where it has such phases, and ``callback.on_training_end()``. With
    ``reset_num_timesteps=False`` the counter continues (a resumed run).
``predict(observation, state=None, episode_start=None, deterministic=True)``
    Returns ``(action, state)``; ``observation`` may be a single observation or a batch.
``save(path)`` / ``load(path, env=None, device="auto")`` (a classmethod)
    A round trip: the loaded agent predicts exactly what the saved one did. One format for all
    (:mod:`agents.checkpoint`: JSON and safetensors, the agent rebuilt from its hyper-parameters):
    SB3 algorithms get it from :class:`agents.sb3.persistence.SB3Persistence`, every other agent
    from :class:`agents.checkpoint.Checkpointed` (it names its state in ``checkpoint_state`` /
    ``restore_checkpoint``).

Optional (the host uses them where present)
-------------------------------------------
``check_env(env)`` (a classmethod)
    Raises ``ValueError`` naming what is missing when the agent cannot work with ``env`` for a
    reason the action space does not show (e.g. an MPC agent on an env without a control model);
    the host calls it before building anything.
``env_requirements``
    Class attribute: env constructor arguments the agent needs, e.g. ``{"representation": "graph"}``.
    When a run's config is composed the host sets each in ``env.kwargs`` if the env takes that
    argument (its config lists it or its constructor names it), so ``rlkit train env=football
    agent=gnn_dqn`` gets the graph observation and the run's saved config records it; the user's own
    ``env.kwargs.<name>=...`` (or ``env.<name>=...``) still wins, and an env that takes no such argument
    is left as it is, for ``check_env`` to refuse.
``set_logger(logger)``
    Receives an SB3 :class:`~stable_baselines3.common.logger.Logger` writing to the run's
    TensorBoard directory; ``logger.record(key, value)`` then ``logger.dump(step)``.
``save_replay_buffer(path)`` / ``load_replay_buffer(path)`` and a ``replay_buffer`` attribute
    Off-policy agents: the buffer is checkpointed so a resumed run continues with it.
``get_parameters()``
    A dict of state dicts of the agent's torch modules, checked for NaN before a checkpoint.
``certificate``, ``certificate_summary()``, ``recheck_certificate(path)``
    Agents that prove something (a Lyapunov certificate): after ``learn`` the host writes the
    ``certificate`` dict to ``certificate.json`` in the run directory and ``certificate_summary()`` into
    ``summary.json``; ``rlkit certify`` restores the agent and calls ``recheck_certificate(path)``, which
    returns ``(holds, problems, one-line description)`` and raises ``ValueError`` on a malformed file.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from gymnasium import spaces


@runtime_checkable
class Agent(Protocol):
    """Structural type of an rlkit agent; see the module docstring for the full contract."""

    supported_action_spaces: ClassVar[tuple[type[spaces.Space], ...]]
    num_timesteps: int

    def learn(
        self,
        total_timesteps: int,
        callback: Any = None,
        progress_bar: bool = False,
        reset_num_timesteps: bool = True,
    ) -> Agent: ...

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]: ...

    def save(self, path: Any) -> None: ...

    @classmethod
    def load(cls, path: Any, env: Any = None, device: Any = "auto", **kwargs: Any) -> Agent: ...


def can_act_in(agent_class: type, action_space: spaces.Space) -> bool:
    """Whether ``agent_class`` declares support for ``action_space``."""
    supported = getattr(agent_class, "supported_action_spaces", None)
    if supported is None:  # an agent that declares nothing is trusted
        return True
    return isinstance(action_space, tuple(supported))


def incompatibility(agent_class: type, env: Any) -> str | None:
    """Why ``agent_class`` cannot work with ``env`` (a Gymnasium env), or None if it can."""
    if not can_act_in(agent_class, env.action_space):
        supported = ", ".join(s.__name__ for s in agent_class.supported_action_spaces)
        return f"the action space is {env.action_space}, it supports {supported}"
    check_env = getattr(agent_class, "check_env", None)
    if check_env is not None:
        try:
            check_env(env)
        except ValueError as error:
            return str(error)
    return None


def unwrapped_env(env: Any) -> Any:
    """The unwrapped Gymnasium env behind ``env``: plain, wrapped, or the first env of an SB3 VecEnv
    (fetched once with ``get_attr``, so a subprocess env arrives as a local copy)."""
    if hasattr(env, "get_attr") and hasattr(env, "num_envs"):
        return env.get_attr("unwrapped", indices=[0])[0]
    return getattr(env, "unwrapped", env)


HOST_ARGUMENTS = frozenset({"self", "env", "seed", "device", "verbose", "tensorboard_log"})


def hyperparameter_names(agent_class: type) -> set[str]:
    """An agent's hyper-parameters: the keyword arguments its constructor accepts (following
    ``**kwargs`` up the MRO, as SB3's classes pass them on), minus those the host sets (env, seed,
    device, verbose) and the Ray settings an agent on Ray takes from ``ray.<name>``."""
    import inspect

    names: set[str] = set()
    for klass in agent_class.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        parameters = inspect.signature(init).parameters.values()
        names |= {p.name for p in parameters
                  if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and not p.name.startswith("_")}
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return names - HOST_ARGUMENTS - set(getattr(agent_class, "ray_settings", ()))


def refuse_unknown(agent_class: type, unknown: dict[str, Any]) -> None:
    """A ValueError naming the ``unknown`` keyword arguments a constructor received and the
    hyper-parameters ``agent_class`` takes (for constructors that collect ``**unknown``)."""
    if unknown:
        raise ValueError(f"{agent_class.__name__}: unknown hyper-parameter(s) {sorted(unknown)}; "
                         f"allowed: {', '.join(sorted(hyperparameter_names(agent_class)))}")
