"""YANN-RL agents: TD3 and DDPG (stable-baselines3) whose actor and critic start as the explicit
MPC of the linearised plant (:mod:`agents.yann.policies`) and are trained on the true plant.

Construction linearises the env's control system at its equilibrium, solves the mp-QP of the
linear MPC with ppopt (tracking the observed reference when the env shows one, in
``theta = (x, x_ref)``: see :func:`agents.mpc.tracking_problem`) (:class:`agents.yann.model.LinearOCP`; solutions are cached under
``cache_dir``) and builds the networks from it, so before any training the agent acts exactly as
explicit MPC (its saturated LQR outside the feasible set). An env without a control system is a
``ValueError``.

Training is SB3's TD3/DDPG loop (replay buffer, target networks, logging, callbacks) with three
changes:

- **Warm-up without random actions.** SB3 acts uniformly at random for the first
  ``learning_starts`` steps; here the deployed policy (the MPC at first) plus the exploration noise
  acts instead. After the warm-up the actor being trained plus noise explores
  (``explore_with="actor"``), or the deployed policy keeps doing so (``explore_with="deployed"``,
  the cautious choice for safety-critical plants).
- **Continuous policy improvement.** Every ``improvement_eval_freq`` steps (and at the end of
  ``learn``) the actor being trained is evaluated, deterministically, on
  ``improvement_eval_episodes`` episodes seeded ``improvement_eval_seed + i`` of a private copy of
  the env; the explicit MPC is evaluated once on the same episodes. ``predict`` uses the *deployed*
  actor: the MPC until a trained actor's mean return beats the best return deployed so far, then a
  snapshot of that actor. So the deployed policy never evaluates worse than the linear MPC on
  those episodes. Logged: ``yann/deployed`` ("mpc" or "trained"), ``yann/deployed_trained`` (0/1),
  ``yann/candidate_return``, ``yann/deployed_return``, ``yann/mpc_return``.
- **Target networks** are soft-updated by SB3 through ``.data``, which torch does not track; the
  YANN compares its laws by value before reusing its big-M layer, so nothing needs refreshing.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import stable_baselines3 as sb3
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback, CallbackList

from agents.mpc.plant import DEFAULT_REFERENCE_MARGIN, plant_interface
from agents.sb3 import config_friendly_kwargs, exploration_noise
from agents.sb3.persistence import SB3Persistence
from agents.yann.model import LinearOCP
from agents.yann.policies import YANNTD3Policy

DEFAULT_CACHE_DIR = "~/.cache/rlkit/explicit_mpc"
IMPROVEMENT_SEED_OFFSET = 2_000_000  # improvement episodes reuse neither training nor host-evaluation seeds
EXPLORE_WITH = ("actor", "deployed")


class _ImprovementCallback(BaseCallback):
    """Runs the agent's continuous policy improvement check during ``learn``."""

    def __init__(self, agent: Any) -> None:
        super().__init__()
        self.agent = agent
        self.last_check = agent.num_timesteps

    def _on_training_start(self) -> None:
        self.last_check = self.agent.num_timesteps

    def _on_step(self) -> bool:
        freq = self.agent.improvement_eval_freq
        if freq and self.agent.num_timesteps - self.last_check >= freq:
            self.agent.improve_policy()
            self.last_check = self.agent.num_timesteps
        return True

    def _on_training_end(self) -> None:
        if self.agent.improvement_eval_freq and self.agent.num_timesteps > self.last_check:
            self.agent.improve_policy()
            self.last_check = self.agent.num_timesteps


class _YANNRL(SB3Persistence):
    """What YANN-TD3 and YANN-DDPG add to SB3's algorithm (module docstring)."""

    supported_action_spaces: ClassVar[tuple[type[spaces.Space], ...]] = (spaces.Box,)
    # saved beside SB3's state; the actors (trained, MPC, deployed) are in the policy's state dict
    persisted_attributes: ClassVar[tuple[str, ...]] = ("deployed", "mpc_return", "deployed_return",
                                                       "improvement_history")
    load_needs_env: ClassVar[str | None] = "its networks are built from the explicit MPC of the env's control system"
    policy_aliases: ClassVar[dict[str, type]] = {"YANNPolicy": YANNTD3Policy}

    @classmethod
    def check_env(cls, env: Any) -> None:
        """Raise ValueError unless ``env`` exposes a control system (the agent contract)."""
        plant_interface(env)

    def __init__(
        self,
        policy: Any = "YANNPolicy",
        env: Any = None,
        *,
        horizon: int = 10,
        cache_dir: str | None = DEFAULT_CACHE_DIR,
        track_reference: bool | None = None,
        reference_set: str = "schedule",
        reference_margin: float = DEFAULT_REFERENCE_MARGIN,
        action_noise: Any = None,
        improvement_eval_freq: int = 1000,
        improvement_eval_episodes: int = 5,
        improvement_eval_seed: int | None = None,
        explore_with: str = "actor",
        policy_kwargs: dict[str, Any] | None = None,
        _init_setup_model: bool = True,
        **kwargs: Any,
    ) -> None:
        if policy is None:
            policy = "YANNPolicy"
        if isinstance(policy, str) and policy not in self.policy_aliases:
            raise ValueError(f"unknown policy {policy!r} for {type(self).__name__}; allowed: YANNPolicy")
        if explore_with not in EXPLORE_WITH:
            raise ValueError(f"unknown explore_with {explore_with!r}; allowed: {', '.join(EXPLORE_WITH)}")
        for name, value in (("improvement_eval_freq", improvement_eval_freq),
                            ("improvement_eval_episodes", improvement_eval_episodes)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if improvement_eval_freq and not improvement_eval_episodes:
            raise ValueError("improvement_eval_episodes must be >= 1 when improvement_eval_freq > 0")
        self.horizon, self.cache_dir = int(horizon), cache_dir
        self.track_reference, self.reference_set = track_reference, reference_set
        self.reference_margin = float(reference_margin)
        self.improvement_eval_freq = int(improvement_eval_freq)
        self.improvement_eval_episodes = int(improvement_eval_episodes)
        seed = kwargs.get("seed")
        self.improvement_eval_seed = int(improvement_eval_seed if improvement_eval_seed is not None
                                         else (seed or 0) + IMPROVEMENT_SEED_OFFSET)
        self.explore_with = explore_with
        self.deployed = "mpc"
        self.mpc_return: float | None = None
        self.deployed_return: float | None = None
        self.improvement_history: list[dict[str, Any]] = []
        self._improvement_env: gym.Env | None = None
        self.explicit_solution: Any = None

        kwargs = config_friendly_kwargs({**kwargs, "policy_kwargs": policy_kwargs})
        policy_kwargs = dict(kwargs.pop("policy_kwargs", None) or {})
        if _init_setup_model:
            if env is None:
                raise ValueError(f"{type(self).__name__} needs an env with a control system to build its networks")
            model, self.explicit_solution = LinearOCP.from_env(
                env, self.horizon, cache_dir, kwargs.get("verbose", 0), track_reference=track_reference,
                reference_set=reference_set, reference_margin=self.reference_margin)
            policy_kwargs.update(model=model, gamma=kwargs.get("gamma", 0.99))
        noise = exploration_noise(action_noise, env.action_space) if env is not None else None
        super().__init__(policy, env, action_noise=noise, policy_kwargs=policy_kwargs,
                         _init_setup_model=_init_setup_model, **kwargs)

    # -- the model -----------------------------------------------------------------------------
    @property
    def linear_ocp(self) -> LinearOCP:
        return self.policy.model

    # -- acting --------------------------------------------------------------------------------
    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        """The deployed policy's action (see the module docstring)."""
        return super().predict(observation, state, episode_start, deterministic)

    def _sample_action(self, learning_starts: int, action_noise: Any = None, n_envs: int = 1) -> Any:
        warm_up = self.num_timesteps < learning_starts
        self.policy.act_with = "deployed" if warm_up or self.explore_with == "deployed" else "actor"
        try:
            return super()._sample_action(0, action_noise, n_envs)  # 0: never uniform random actions
        finally:
            self.policy.act_with = "deployed"

    # -- training ------------------------------------------------------------------------------
    def _init_callback(self, callback: Any, progress_bar: bool = False) -> BaseCallback:
        callback = super()._init_callback(callback, progress_bar)
        improvement = _ImprovementCallback(self)
        improvement.init_callback(self)
        combined = CallbackList([callback, improvement])
        combined.init_callback(self)
        return combined

    # -- continuous policy improvement ---------------------------------------------------------
    def improvement_env(self) -> gym.Env:
        """A private env for the improvement evaluations: ``gym.make`` of the training env's spec,
        or a copy of its unwrapped env when it has none."""
        if self._improvement_env is None:
            env = self.get_env()
            if env is None:
                raise ValueError("continuous policy improvement needs an env; pass env= to load()")
            unwrapped = env.get_attr("unwrapped", [0])[0]
            spec = getattr(unwrapped, "spec", None)
            try:
                self._improvement_env = gym.make(spec) if spec is not None else copy.deepcopy(unwrapped)
            except (gym.error.Error, ValueError, TypeError):  # a spec that cannot be remade
                self._improvement_env = copy.deepcopy(unwrapped)
        return self._improvement_env

    def evaluate_actor(self, actor: th.nn.Module) -> float:
        """Mean return of ``actor`` (deterministic) on the improvement episodes."""
        env = self.improvement_env()
        space = env.action_space
        total = 0.0
        for episode in range(self.improvement_eval_episodes):
            observation, _ = env.reset(seed=self.improvement_eval_seed + episode)
            done = False
            while not done:
                with th.no_grad():
                    obs = th.as_tensor(np.asarray(observation, dtype=np.float64)[None], device=self.device)
                    scaled = actor(obs).cpu().numpy()[0]
                action = np.clip(self.policy.unscale_action(scaled), space.low, space.high).astype(space.dtype)
                observation, reward, terminated, truncated, _ = env.step(action)
                total += float(reward)
                done = terminated or truncated
        return total / self.improvement_eval_episodes

    def improve_policy(self) -> str:
        """Evaluate the actor being trained; deploy a snapshot of it if it beats the policy deployed
        now (whose return, like the MPC's, is known from earlier). Returns what is deployed."""
        policy = self.policy
        if self.mpc_return is None:
            self.mpc_return = self.evaluate_actor(policy.mpc_actor)
        if self.deployed_return is None:
            self.deployed_return = self.mpc_return if self.deployed == "mpc" else self.evaluate_actor(policy.deployed_actor)
        candidate = self.evaluate_actor(policy.actor)
        if candidate > self.deployed_return:
            policy.deployed_actor.load_state_dict(policy.actor.state_dict())
            self.deployed, self.deployed_return = "trained", candidate
        self.improvement_history.append({"timesteps": int(self.num_timesteps), "candidate_return": candidate,
                                         "deployed_return": self.deployed_return, "mpc_return": self.mpc_return,
                                         "deployed": self.deployed})
        logger = getattr(self, "_logger", None)  # set by learn() or set_logger()
        if logger is None:
            return self.deployed
        logger.record("yann/deployed", self.deployed, exclude=("tensorboard",))
        logger.record("yann/deployed_trained", float(self.deployed == "trained"))
        logger.record("yann/candidate_return", candidate)
        logger.record("yann/deployed_return", self.deployed_return)
        logger.record("yann/mpc_return", self.mpc_return)
        return self.deployed

    def deploy_mpc(self) -> None:
        """Go back to deploying the explicit MPC."""
        self.policy.deployed_actor.load_state_dict(self.policy.mpc_actor.state_dict())
        self.deployed, self.deployed_return = "mpc", self.mpc_return


class YANNTD3(_YANNRL, sb3.TD3):
    """YANN-RL on TD3 (module docstring). Hyper-parameters are TD3's plus:

    Args:
        horizon: the MPC horizon N of the explicit solution the networks start from.
        cache_dir: where explicit solutions are cached (None: no cache).
        track_reference: the MPC tracks the observed reference (None: exactly when the env
            observes one; False: regulate to the equilibrium).
        reference_set, reference_margin: the references the explicit solution covers, "schedule"
            (the env's scheduled references widened by ``reference_margin`` times the state box's
            width) or "state" (the state box).
        action_noise: ``{kind: normal|ornstein_uhlenbeck|none, sigma: s}``, ``sigma`` a fraction of
            the action half-range (or an SB3 ActionNoise).
        improvement_eval_freq: steps between improvement checks (0: never; the MPC stays deployed).
        improvement_eval_episodes: episodes per check.
        improvement_eval_seed: seed of the first of them (default: seed + 2,000,000).
        explore_with: "actor" (the actor being trained explores) or "deployed".
        policy_kwargs: ``net_arch`` of the residual layers (default [64, 64]; a dict with ``pi``
            and ``qf`` for different actor and critic residuals), ``activation_fn`` (a name).
    """

    policy_aliases: ClassVar[dict[str, type]] = {"YANNPolicy": YANNTD3Policy}


class YANNDDPG(_YANNRL, sb3.DDPG):
    """YANN-RL on DDPG (one critic, no target smoothing, no policy delay); arguments as
    :class:`YANNTD3`."""

    policy_aliases: ClassVar[dict[str, type]] = {"YANNPolicy": YANNTD3Policy}


__all__ = ["YANNDDPG", "YANNTD3"]
