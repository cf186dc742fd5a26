"""``agent=er_dqn``, ``agent=model_dqn`` and ``agent=perfect_model_dqn``: one DQN learner
(:mod:`agents.model_based.learner`) fed by experience replay, by a learned model's imagined rollouts,
or by rollouts on the true simulator, with everything else (network, optimiser, exploration, the
number of transitions per update) held equal, as in Young et al. (ICML 2023).

Each vector-env step is stored in the replay buffer; from ``learning_starts`` steps on, every step is
followed by ``updates_per_step`` updates (per parallel env), each on ``batch_size`` transitions.
Before ``learning_starts`` the agent acts uniformly at random, afterwards by the softmax of its
Q-values at ``temperature``.

The hyper-parameters are the constructors' keyword arguments (a subclass takes its parent's as
keywords); ``hyperparameters`` records them, and a checkpoint (:class:`agents.checkpoint.Checkpointed`)
rebuilds the agent from them and its saved sizes before restoring its state.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.utils import get_device

from agents.checkpoint import Checkpointed
from agents.model_based.buffer import ReplayBuffer
from agents.model_based.latent import LATENT_KINDS, LatentModel
from agents.model_based.learner import DQNLearner
from agents.model_based.models import LearnedModel, SimulatorModel, imagine, restorable_env
from agents.rollout import StepRunner


def _spaces(env: Any) -> tuple[Any, Any]:
    return env.observation_space, env.action_space


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def softmax_sample(probabilities: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One action per row of ``probabilities`` (B, n_actions), one uniform draw of ``rng`` per row."""
    cumulative = probabilities.astype(np.float64).cumsum(axis=1)
    draws = rng.random((len(cumulative), 1)) * cumulative[:, -1:]
    return np.minimum((cumulative <= draws).sum(axis=1), cumulative.shape[1] - 1)


class ReplayDQN(Checkpointed, StepRunner):
    """The DQN agent on replayed real transitions (``er_dqn``); subclasses change where a Q update's
    transitions come from (:meth:`q_batch`). Defaults are the paper's low-data regime (100k steps, 10
    updates per step, target refresh every 10 updates).

    Arguments
    ---------
    env
        The Gymnasium env or SB3 VecEnv to train on: Discrete actions, flat Box observations.
    learning_rate
        AdamW step size (betas 0.9/0.99, eps 1e-5, weight decay 1e-6) of the Q-network (and of a model).
    temperature
        Softmax exploration: actions ~ softmax(Q / temperature) (also the imagined rollouts' policy).
    gamma
        Discount factor, in [0, 1].
    hidden
        Widths of the ELU layers of the Q-network (and of each model network).
    buffer_size
        Transitions the replay buffer holds (a ring: the oldest are overwritten).
    learning_starts
        Env steps of uniform random actions before the first update.
    updates_per_step
        Updates after every env step, per parallel env (low-data regime: 10; high-data: 1).
    target_update_every
        Updates between target-network copies (low-data: 10; high-data: 100).
    batch_size
        Transitions per Q update.
    seed
        Seeds the networks' initial weights, exploration, replay sampling and the training env.
    device
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``.
    verbose
        Kept for SB3's surface; the agent prints nothing.
    """

    # 1: a pickled data.pkl; 2: agents.checkpoint's state tree with the agent's state beside the counters
    save_format: ClassVar[int] = 3
    supported_action_spaces: ClassVar[tuple[type[spaces.Space], ...]] = (spaces.Discrete,)
    name: ClassVar[str] = "er_dqn"

    @classmethod
    def check_env(cls, env: Any) -> None:
        observation_space, action_space = _spaces(env)
        if not isinstance(action_space, spaces.Discrete):
            raise ValueError(f"{cls.name} acts in a Discrete action space; the env's is {action_space}")
        if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 1:
            raise ValueError(f"{cls.name} needs flat Box observations (a vector); the env's are {observation_space}")

    def __init__(self, env: Any = None, learning_rate: float = 1e-4, temperature: float = 0.1, gamma: float = 0.9,
                 hidden: Sequence[int] = (200, 200, 200), buffer_size: int = 100_000, learning_starts: int = 1000,
                 updates_per_step: int = 10, target_update_every: int = 10, batch_size: int = 320,
                 seed: int | None = None, device: Any = "auto", verbose: int = 0) -> None:
        self._declare(learning_rate=learning_rate, temperature=temperature, gamma=gamma, hidden=hidden,
                      buffer_size=buffer_size, learning_starts=learning_starts, updates_per_step=updates_per_step,
                      target_update_every=target_update_every, batch_size=batch_size)
        if env is None:
            raise ValueError(f"{self.name} needs an env to size its networks; pass env=")
        self.check_env(env)
        observation_space, action_space = _spaces(env)
        self.env = env
        self._build(int(observation_space.shape[0]), int(action_space.n), seed, device, verbose)

    def _declare(self, **hyperparameters: Any) -> None:
        """Record one class's constructor arguments in ``hyperparameters`` (what a checkpoint rebuilds
        the agent from): a subclass declares its own, then calls its parent's constructor."""
        self.hyperparameters = {**hyperparameters, **self.__dict__.get("hyperparameters", {})}

    def _build(self, obs_dim: int, n_actions: int, seed: int | None, device: Any, verbose: int) -> None:
        """Check the declared hyper-parameters and build what they define (the constructor and load)."""
        self.validate(self.hyperparameters)
        self.hyperparameters["hidden"] = [int(width) for width in self.hyperparameters["hidden"]]
        self.obs_dim, self.n_actions = obs_dim, n_actions
        self.seed, self.verbose = (0 if seed is None else int(seed)), verbose
        self.device = get_device(device or "auto")  # as SB3 agents: "cuda" without CUDA is the CPU
        self._setup()

    # -- settings -------------------------------------------------------------------------
    @classmethod
    def validate(cls, h: dict[str, Any]) -> None:
        """A ValueError naming the first setting out of range."""
        def fail(name: str, allowed: str) -> None:
            raise ValueError(f"{cls.name}: {name} must be {allowed} (got {h[name]!r})")

        for name in ("buffer_size", "updates_per_step", "target_update_every", "batch_size"):
            if not _is_int(h[name]) or h[name] < 1:
                fail(name, "an integer >= 1")
        if not _is_int(h["learning_starts"]) or h["learning_starts"] < 0:
            fail("learning_starts", "an integer >= 0")
        for name in ("learning_rate", "temperature"):
            if not _is_real(h[name]) or not h[name] > 0 or not math.isfinite(h[name]):
                fail(name, "a positive number")
        if not _is_real(h["gamma"]) or not 0.0 <= h["gamma"] <= 1.0:
            fail("gamma", "a number in [0, 1]")
        hidden = h["hidden"]
        if (isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__iter__") or len(list(hidden)) == 0
                or not all(_is_int(w) and w >= 1 for w in hidden)):
            fail("hidden", "a non-empty list of positive layer widths")

    # -- building -------------------------------------------------------------------------
    def _setup(self) -> None:
        """Build what the settings define (called by __init__ and by load)."""
        h = self.hyperparameters
        self.num_timesteps, self._total_timesteps, self._last_obs = 0, 0, None
        self._logger = None
        self.training_wall_time_s = 0.0
        with torch.random.fork_rng(devices=[]):  # seeded weights without touching the global generator
            torch.manual_seed(self.seed)
            self.learner = DQNLearner(self.obs_dim, self.n_actions, list(h["hidden"]), h["learning_rate"], h["gamma"],
                                      h["temperature"], h["target_update_every"], self.device)
            self._build_model()
        self.replay_buffer = ReplayBuffer(h["buffer_size"], self.obs_dim)
        self.rng = np.random.default_rng(self.seed)  # buffer sampling and exploration
        self.predict_rng = np.random.default_rng([self.seed, 1])  # predict(deterministic=False) only
        self.generator = torch.Generator(device=self.device).manual_seed(self.seed)  # imagined rollouts

    def _build_model(self) -> None:
        """Subclasses: the model networks (built right after the Q-network, under the same seed)."""

    # -- acting ---------------------------------------------------------------------------
    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array, dtype=np.float32), device=self.device)

    def _softmax_sample(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return softmax_sample(self.learner.policy_probabilities(self._tensor(obs)).cpu().numpy(), rng)

    def explore(self, obs: np.ndarray) -> np.ndarray:
        """Training actions: uniform before ``learning_starts``, then the softmax policy."""
        if self.num_timesteps < self.hyperparameters["learning_starts"]:
            return self.rng.integers(self.n_actions, size=len(obs))
        return self._softmax_sample(obs, self.rng)

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        """Greedy actions when ``deterministic``, softmax samples otherwise."""
        obs = np.asarray(observation, dtype=np.float32)
        single = obs.ndim == 1
        obs = obs.reshape(-1, obs.shape[-1]) if obs.ndim else obs.reshape(1, -1)
        if obs.shape[-1] != self.obs_dim:
            raise ValueError(f"{self.name}: observations have {self.obs_dim} entries; "
                             f"got shape {np.shape(observation)}")
        if deterministic:
            actions = self.learner.greedy_actions(self._tensor(obs)).cpu().numpy()
        else:
            actions = self._softmax_sample(obs, self.predict_rng)
        actions = actions.astype(np.int64)
        return (actions[0] if single else actions), state

    # -- learning -------------------------------------------------------------------------
    def real_batch(self, n: int) -> dict[str, torch.Tensor]:
        """``n`` replayed real transitions as a Q batch (continuation 1 - terminated, weight 1)."""
        sample = self.replay_buffer.sample(n, self.rng)
        terminated = self._tensor(sample["terminated"])
        return {"obs": self._tensor(sample["obs"]), "actions": torch.as_tensor(sample["actions"], device=self.device),
                "rewards": self._tensor(sample["rewards"]), "next_obs": self._tensor(sample["next_obs"]),
                "continuation": 1.0 - terminated, "weights": torch.ones_like(terminated)}

    def q_batch(self) -> dict[str, torch.Tensor]:
        """The transitions of one Q update."""
        return self.real_batch(self.hyperparameters["batch_size"])

    def train(self, updates: int) -> None:
        losses = [self.learner.update(self.q_batch()) for _ in range(updates)]
        self.logger.record("train/loss", float(np.mean(losses)))
        self.logger.record("train/n_updates", self.learner.updates)

    # -- the StepRunner's loop: act, store, update ----------------------------------------------
    def _actions(self, env: Any) -> np.ndarray:
        return self.explore(self._last_obs)

    def _env_seed(self) -> int | None:
        return self.seed

    def _store(self, obs: Any, actions: np.ndarray, new_obs: Any, rewards: np.ndarray, dones: np.ndarray,
               infos: list[dict]) -> None:
        next_obs, terminated = np.array(new_obs, dtype=np.float32), np.zeros(len(infos), dtype=np.float32)
        for i, info in enumerate(infos):
            if dones[i]:  # the VecEnv reset this env: its transition ends in the terminal observation
                next_obs[i] = info["terminal_observation"]
                terminated[i] = not info.get("TimeLimit.truncated", False)
        self.replay_buffer.add(obs, actions, rewards, next_obs, terminated)

    def _after_step(self, env: Any) -> None:
        h = self.hyperparameters
        if self.num_timesteps >= h["learning_starts"]:
            started = time.perf_counter()
            self.train(h["updates_per_step"] * env.num_envs)
            self.training_wall_time_s += time.perf_counter() - started

    def _record_logs(self, logger: Any) -> None:
        logger.record("train/update_wall_time_s", round(self.training_wall_time_s, 3))

    def timing_summary(self) -> dict[str, float]:
        """For summary.json: wall seconds spent in updates, and per update."""
        updates = max(self.learner.updates, 1)
        return {"update_s": round(self.training_wall_time_s, 3),
                "ms_per_update": round(1000 * self.training_wall_time_s / updates, 3)}

    # -- env ------------------------------------------------------------------------------
    def get_env(self) -> Any:
        return self.env

    def set_env(self, env: Any) -> None:
        self.check_env(env)
        observation_space, action_space = _spaces(env)
        if observation_space.shape[0] != self.obs_dim or action_space.n != self.n_actions:
            raise ValueError(f"{self.name} was built for {self.obs_dim} observations and {self.n_actions} actions; "
                             f"the env has {observation_space.shape[0]} and {action_space.n}")
        self.env, self._last_obs = env, None

    # -- saving ---------------------------------------------------------------------------
    def get_parameters(self) -> dict[str, Any]:
        return {"q": self.learner.q.state_dict(), "target_q": self.learner.target_q.state_dict()}

    def checkpoint_state(self) -> dict[str, Any]:
        """Weights, optimiser states, counters and random generator states, with the observation and
        action sizes the agent is rebuilt with (no replay buffer: :meth:`save_replay_buffer`)."""
        return {"obs_dim": self.obs_dim, "n_actions": self.n_actions, "learner": self.learner.state(),
                "rng": self.rng.bit_generator.state, "predict_rng": self.predict_rng.bit_generator.state,
                "generator": self.generator.get_state(), "training_wall_time_s": self.training_wall_time_s}

    def restore_checkpoint(self, state: dict[str, Any]) -> None:
        # the tensors arrive on the CPU: load_state_dict copies them to the modules' device, a
        # generator state stays there
        self.learner.restore(state["learner"])
        self.rng.bit_generator.state = state["rng"]
        self.predict_rng.bit_generator.state = state["predict_rng"]
        self.generator.set_state(state["generator"])
        self.training_wall_time_s = state["training_wall_time_s"]

    @classmethod
    def rebuild(cls, hyperparameters: dict[str, Any], state: dict[str, Any], *, seed: Any, env: Any, device: Any,
                verbose: int) -> ReplayDQN:
        """Built from the hyper-parameters and the saved sizes, without an env; ``env`` (optional:
        ``predict`` needs none) must have the saved observation and action sizes."""
        agent = cls.__new__(cls)
        agent._declare(**hyperparameters)
        agent.env = None
        agent._build(int(state["obs_dim"]), int(state["n_actions"]), seed, device, verbose)
        if env is not None:
            agent.set_env(env)
        return agent

    def save_replay_buffer(self, path: Any) -> None:
        """The replay buffer as arrays (an ``.npz`` at ``path``, whatever its suffix; no pickle)."""
        self.replay_buffer.save(path)

    def load_replay_buffer(self, path: Any) -> None:
        buffer = ReplayBuffer.load(path)
        if buffer.obs_dim != self.obs_dim:
            raise ValueError(f"the replay buffer at {path} holds {buffer.obs_dim}-entry observations, "
                             f"not {self.obs_dim}")
        self.replay_buffer = buffer


class ERDQN(ReplayDQN):
    """``er_dqn``: Q trained on ``batch_size`` (320) replayed real transitions per update."""


class ModelDQN(ReplayDQN):
    """``model_dqn``: each update first fits the learned model on ``model_batch_size`` (32) replayed
    transitions, then trains Q on ``batch_size`` (320) transitions of which ``imagined_share`` are
    imagined (``n_rollouts`` rollouts of ``rollout_length`` steps from replayed observations under the
    current softmax policy, weighted by the predicted chance the rollout is still running) and the
    rest replayed. ``imagined_share`` 1 is the paper's model agent, 0 is experience replay exactly.

    Arguments (besides :class:`ReplayDQN`'s, which it takes as keywords)
    ---------------------------------------------------------------------
    env
        As :class:`ReplayDQN`'s, with 0/1 observations (the next-observation model is a Bernoulli per entry).
    model_batch_size
        Replayed transitions per model update (one model update per Q update).
    rollout_length
        Steps per imagined rollout (>= 1).
    imagined_share
        Share of ``batch_size`` that is imagined, the rest replayed, in [0, 1].
    n_rollouts
        Rollouts per update; None: ``ceil(imagined_share * batch_size / rollout_length)``.
    """

    name: ClassVar[str] = "model_dqn"

    def __init__(self, env: Any = None, model_batch_size: int = 32, rollout_length: int = 10,
                 imagined_share: float = 1.0, n_rollouts: int | None = None, **kwargs: Any) -> None:
        self._declare(model_batch_size=model_batch_size, rollout_length=rollout_length, imagined_share=imagined_share,
                      n_rollouts=n_rollouts)
        super().__init__(env=env, **kwargs)

    @classmethod
    def check_env(cls, env: Any) -> None:
        super().check_env(env)
        observation_space = _spaces(env)[0]
        if not (np.all(observation_space.low == 0) and np.all(observation_space.high == 1)):
            raise ValueError(f"{cls.name}'s next-observation model is a Bernoulli per entry: it needs 0/1 observations "
                             f"(a Box(0, 1), as the gridworlds proc_maze, button_grid, pan_flute); the env's are "
                             f"{observation_space}")

    @classmethod
    def validate(cls, h: dict[str, Any]) -> None:
        super().validate(h)
        for name in ("rollout_length", "model_batch_size"):
            if not _is_int(h[name]) or h[name] < 1:
                raise ValueError(f"{cls.name}: {name} must be an integer >= 1 (got {h[name]!r})")
        share = h["imagined_share"]
        if not _is_real(share) or not 0.0 <= share <= 1.0:
            raise ValueError(f"{cls.name}: imagined_share must be a number in [0, 1] (the share of each update's "
                             f"batch_size transitions that are imagined; got {share!r})")
        n_rollouts = h["n_rollouts"]
        if n_rollouts is not None:
            if not _is_int(n_rollouts) or n_rollouts < 1:
                raise ValueError(f"{cls.name}: n_rollouts must be null or an integer >= 1 (got {n_rollouts!r})")
            imagined = round(share * h["batch_size"])
            if n_rollouts * h["rollout_length"] < imagined:
                raise ValueError(f"{cls.name}: n_rollouts * rollout_length = {n_rollouts * h['rollout_length']} "
                                 f"cannot supply the {imagined} imagined transitions of an update "
                                 f"(imagined_share * batch_size); raise n_rollouts or leave it null")

    @property
    def n_imagined(self) -> int:
        h = self.hyperparameters
        return round(h["imagined_share"] * h["batch_size"])

    @property
    def n_rollouts(self) -> int:
        n = self.hyperparameters["n_rollouts"]
        return n if n is not None else math.ceil(self.n_imagined / self.hyperparameters["rollout_length"])

    def _build_model(self) -> None:
        h = self.hyperparameters
        self.model = LearnedModel(self.obs_dim, self.n_actions, list(h["hidden"]), h["learning_rate"], self.device)

    def _setup(self) -> None:
        super()._setup()
        self.model.generator = self.generator
        self._model_losses: list[dict[str, float]] = []
        self._imagined_weights: list[float] = []

    def update_model(self) -> None:
        batch = self.replay_buffer.sample(self.hyperparameters["model_batch_size"], self.rng)
        tensors = {key: (torch.as_tensor(value, device=self.device) if key == "actions" else self._tensor(value))
                   for key, value in batch.items()}
        self._model_losses.append(self.model.update(tensors))

    def imagined_batch(self) -> dict[str, torch.Tensor]:
        """``n_imagined`` transitions from rollouts under the current policy (rollout by rollout; a
        rollout count that overshoots loses the last rollout's last steps)."""
        starts = self._tensor(self.replay_buffer.sample_obs(self.n_rollouts, self.rng))
        rollouts = imagine(self.model, self.learner, starts, self.hyperparameters["rollout_length"], self.generator)
        return {key: value[: self.n_imagined] for key, value in rollouts.items()}

    def q_batch(self) -> dict[str, torch.Tensor]:
        n_imagined = self.n_imagined
        n_real = self.hyperparameters["batch_size"] - n_imagined
        if n_imagined == 0:
            return self.real_batch(n_real)
        self.update_model()
        imagined = self.imagined_batch()
        self._imagined_weights.append(float(imagined["weights"].mean()))
        if n_real == 0:
            return imagined
        real = self.real_batch(n_real)
        return {key: torch.cat([imagined[key], real[key].to(imagined[key].dtype)]) for key in imagined}

    def train(self, updates: int) -> None:
        super().train(updates)
        if self._model_losses:
            for name in self._model_losses[0]:
                self.logger.record(f"train/model_{name}_loss", float(np.mean([m[name] for m in self._model_losses])))
        if self._imagined_weights:
            self.logger.record("train/imagined_weight_mean", float(np.mean(self._imagined_weights)))
        self._model_losses, self._imagined_weights = [], []

    def get_parameters(self) -> dict[str, Any]:
        return super().get_parameters() | {"model": self.model.net.state_dict()}

    def checkpoint_state(self) -> dict[str, Any]:
        return super().checkpoint_state() | {"model": self.model.state()}

    def restore_checkpoint(self, state: dict[str, Any]) -> None:
        super().restore_checkpoint(state)
        self.model.restore(state["model"])


class LatentModelDQN(ModelDQN):
    """``latent_model_dqn``: ``model_dqn`` with a Dreamer-style latent model
    (:class:`agents.model_based.latent.LatentModel`): observations are encoded into ``latent_size``
    Gaussian dimensions, or ``latent_size`` categorical variables of ``latent_classes`` classes, the
    rollouts step in latent space and decode each observation.

    Arguments (besides :class:`ModelDQN`'s, which it takes as keywords)
    -------------------------------------------------------------------
    latent
        ``"categorical"`` (DreamerV2: groups of one-hot classes, straight-through gradients) or ``"gaussian"``.
    latent_size
        Categorical: number of variables; Gaussian: dimensions.
    latent_classes
        Classes per categorical variable (unused for Gaussian latents).
    kl_scale
        Weight of the balanced KL(posterior || prior) (0.8 on the prior's side, 0.2 on the posterior's).
    free_nats
        KL below this is not penalised.
    """

    name: ClassVar[str] = "latent_model_dqn"

    def __init__(self, env: Any = None, latent: str = "categorical", latent_size: int = 16, latent_classes: int = 8,
                 kl_scale: float = 1.0, free_nats: float = 1.0, **kwargs: Any) -> None:
        self._declare(latent=latent, latent_size=latent_size, latent_classes=latent_classes, kl_scale=kl_scale,
                      free_nats=free_nats)
        super().__init__(env=env, **kwargs)

    @classmethod
    def validate(cls, h: dict[str, Any]) -> None:
        super().validate(h)
        if h["latent"] not in LATENT_KINDS:
            raise ValueError(f"{cls.name}: latent must be one of {', '.join(LATENT_KINDS)} (got {h['latent']!r})")
        for name in ("latent_size", "latent_classes"):
            if not _is_int(h[name]) or h[name] < 1:
                raise ValueError(f"{cls.name}: {name} must be an integer >= 1 (got {h[name]!r})")
        for name in ("kl_scale", "free_nats"):
            if not _is_real(h[name]) or not 0.0 <= h[name] < math.inf:
                raise ValueError(f"{cls.name}: {name} must be a number >= 0 (got {h[name]!r})")

    def _build_model(self) -> None:
        h = self.hyperparameters
        self.model = LatentModel(self.obs_dim, self.n_actions, list(h["hidden"]), h["learning_rate"], self.device,
                                 latent=h["latent"], latent_size=h["latent_size"], latent_classes=h["latent_classes"],
                                 kl_scale=h["kl_scale"], free_nats=h["free_nats"])


class PerfectModelDQN(ModelDQN):
    """``perfect_model_dqn``: ``model_dqn``'s rollouts on the true simulator (an upper reference): copies
    of the env are set to the replayed observations (``set_state_from_observation``) and stepped. It
    needs an env that can restore its state from an observation (the gridworlds). It takes
    :class:`ModelDQN`'s arguments (``model_batch_size`` is unused: the simulator is not fitted; it is
    kept so that the settings match ``model_dqn``'s)."""

    name: ClassVar[str] = "perfect_model_dqn"

    @classmethod
    def check_env(cls, env: Any) -> None:
        restorable_env(env)  # first: the requirement a non-gridworld env most likely misses
        super().check_env(env)

    def _build_model(self) -> None:
        self.model = SimulatorModel(self.env, self.seed) if self.env is not None else None

    def _setup(self) -> None:
        ReplayDQN._setup(self)
        self._model_losses, self._imagined_weights = [], []

    def _before_learning(self) -> None:
        if self.model is None:
            self.model = SimulatorModel(self.env, self.seed)

    def set_env(self, env: Any) -> None:
        super().set_env(env)
        self.model = SimulatorModel(env, self.seed)

    def update_model(self) -> None:
        """The simulator needs no fitting."""

    def get_parameters(self) -> dict[str, Any]:
        return ReplayDQN.get_parameters(self)

    def checkpoint_state(self) -> dict[str, Any]:
        return ReplayDQN.checkpoint_state(self)

    def restore_checkpoint(self, state: dict[str, Any]) -> None:
        ReplayDQN.restore_checkpoint(self, state)

