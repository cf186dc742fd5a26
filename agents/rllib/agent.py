"""RLlib's algorithms behind the rlkit agent contract (new API stack: RLModule, Learner, EnvRunner).

An :class:`RLlibAgent` holds an RLlib ``Algorithm``: ``learn`` runs ``algorithm.train()`` iterations
until the env steps sampled reach the target, reporting each iteration to the SB3 logger (so the
host's TensorBoard gets RLlib's figures) and to the callback (so the host evaluates and checkpoints
on its schedule) through :class:`agents.loop.IterationLoop`; ``predict`` runs the RLModule in this
process. ``save`` writes the rlkit checkpoint format (:class:`agents.checkpoint.Checkpointed`): the
constructor's hyper-parameters and the Algorithm's state -- RLModule weights, optimizer state,
counters and metrics, all tensors and plain data -- never an RLlib checkpoint directory, whose class
and constructor files are pickles. ``load`` rebuilds the agent from the hyper-parameters, lazily: the
module alone gets the saved weights for ``predict`` (no Ray needed to replay an agent), the Algorithm
with its env runners is built and given the saved state only when ``learn`` is called.

Ray itself is started on first use (a local instance) unless the caller connected to a cluster
before (``ray.init(address=...)``), which is what ``rlkit train`` does with ``ray.address``.
"""

from __future__ import annotations

import collections
import math
import time
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from agents.base import refuse_unknown
from agents.checkpoint import Checkpointed
from agents.loop import HostLogging, IterationLoop
from agents.rllib import envs as rllib_envs

MODULE_ID = "default_policy"
# where the (learner's, complete) RLModule weights sit in the Algorithm's state
MODULE_STATE_PATH = ("learner_group", "learner", "rl_module", MODULE_ID)

# RLlib result entries worth a TensorBoard curve, besides every learner entry holding "loss"
_REPORTED = {
    "env_runners/episode_return_mean": "rollout/ep_rew_mean",
    "env_runners/episode_len_mean": "rollout/ep_len_mean",
    "env_runners/num_env_steps_sampled": "rllib/env_steps_sampled_this_iter",
    "env_runners/sample": "time/sample_s",
    "time_this_iter_s": "time/iteration_s",
    "fault_tolerance/num_healthy_workers": "ray/healthy_env_runners",
    "fault_tolerance/num_remote_worker_restarts": "ray/env_runner_restarts",
}


def flatten(result: dict, prefix: str = "") -> dict[str, Any]:
    """RLlib's nested result dict as ``{"a/b/c": value}``."""
    flat: dict[str, Any] = {}
    for key, value in result.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}/"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _number(value: Any) -> float | None:
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    return None


def _nest(path: tuple[str, ...], value: Any) -> dict:
    """``{path[0]: {path[1]: ... value}}``."""
    for key in reversed(path):
        value = {key: value}
    return value


def _deterministic_action(dist: Any) -> Any:
    """The distribution's mode. RLlib 2.60's squashed Gaussian (SAC) returns its mean *before* the
    tanh as the deterministic action; the mode of the squashed distribution is the tanh of it."""
    from ray.rllib.core.distribution.torch.torch_distribution import TorchSquashedGaussian

    if isinstance(dist, TorchSquashedGaussian):
        import torch

        return dist.low + (torch.tanh(dist.loc) + 1.0) * (dist.high - dist.low) / 2.0
    return dist.to_deterministic().sample()


class RLlibAgent(Checkpointed, HostLogging):
    """An RLlib algorithm with the rlkit agent surface. Subclasses name the algorithm.

    Args:
        env: a Gymnasium env or SB3 VecEnv made by ``gymnasium.make`` (its spec is what the env
            runners rebuild the env from).
        seed: seeds RLlib (env runners, module initialisation).
        device: ``"cuda"`` needs ``num_gpus_per_learner >= 1``; the learner's device follows
            ``num_gpus_per_learner``, ``predict`` runs on the CPU.
        num_env_runners: remote sampling actors (0 samples in this process); from the host's
            ``ray.num_env_runners``.
        num_envs_per_env_runner: envs in each env runner: the games of the env's batched engine where
            it has one (one engine step for all), else a Gymnasium SyncVectorEnv of single envs; from
            ``ray.num_envs_per_env_runner``.
        num_gpus_per_learner: GPUs for the (local) learner; fractions allowed; from ``ray.num_gpus_per_learner``.
        rollout_fragment_length: steps per env per sample call, or ``"auto"``.
        training: keyword arguments of RLlib's ``AlgorithmConfig.training`` for this algorithm
            (``lr``, ``gamma``, ``train_batch_size_per_learner``, ...).
        model: RLlib's default model config (``fcnet_hiddens``, ``fcnet_activation``, ...).
        restart_failed_env_runners: a crashed env runner is replaced and training goes on.
        env_runner_restart_delay_s: how long RLlib waits before restarting one.
        max_iterations_without_progress: ``learn`` raises if this many ``train()`` calls in a row
            sample no env step (a cluster with no room for the env runners).
    """

    algorithm: ClassVar[str] = ""
    save_format: ClassVar[int] = 2  # 1: the state beside the counters
    supported_action_spaces: ClassVar[tuple[type[spaces.Space], ...]] = ()
    # the host passes its ray.<name> settings to these constructor arguments
    ray_settings: ClassVar[tuple[str, ...]] = ("num_env_runners", "num_envs_per_env_runner", "num_gpus_per_learner")

    def __init__(
        self,
        env: Any,
        seed: int = 0,
        device: str = "auto",
        verbose: int = 0,
        *,
        num_env_runners: int = 1,
        num_envs_per_env_runner: int = 1,
        num_gpus_per_learner: float = 0,
        rollout_fragment_length: int | str = "auto",
        training: dict | None = None,
        model: dict | None = None,
        restart_failed_env_runners: bool = True,
        env_runner_restart_delay_s: float = 5.0,
        max_iterations_without_progress: int = 20,
        **unknown: Any,
    ) -> None:
        refuse_unknown(type(self), unknown)
        self.check_env(env)
        spec = rllib_envs.env_spec_of(env)
        self._check_counts(num_env_runners, num_envs_per_env_runner, num_gpus_per_learner)
        if device == "cuda" and not num_gpus_per_learner:
            raise ValueError("device=cuda: give the learner a GPU with num_gpus_per_learner >= 1 (ray.num_gpus_per_learner)")
        self.seed = int(seed)
        self.hyperparameters: dict[str, Any] = {
            "num_env_runners": int(num_env_runners), "num_envs_per_env_runner": int(num_envs_per_env_runner),
            "num_gpus_per_learner": float(num_gpus_per_learner),
            "rollout_fragment_length": rollout_fragment_length, "training": dict(training or {}),
            "model": dict(model or {}), "restart_failed_env_runners": bool(restart_failed_env_runners),
            "env_runner_restart_delay_s": float(env_runner_restart_delay_s),
            "max_iterations_without_progress": int(max_iterations_without_progress),
        }
        self.verbose = verbose
        self.env_spec = spec
        self.observation_space = env.observation_space
        self.action_space = env.action_space
        self.num_timesteps = 0
        self.iterations = 0
        # seconds per learn() iteration: inside algorithm.train(), and the whole iteration with the
        # reporting and callbacks around it (what `rlkit bench ray` compares with plain RLlib)
        self.train_call_seconds: collections.deque = collections.deque(maxlen=100_000)
        self.iteration_seconds: collections.deque = collections.deque(maxlen=100_000)
        self._algo = None
        self._module = None
        # the Algorithm's state (of one never trained: its module's weights alone) from a checkpoint
        # or from before close(): what the next Algorithm starts from and the next save writes
        self._saved_state: dict | None = None
        self._config = self.algorithm_config()  # built now, so a bad setting fails before any worker starts

    # -- the contract -------------------------------------------------------------------------
    @classmethod
    def check_env(cls, env: Any) -> None:
        if rllib_envs.env_spec_of(env) is None:
            raise ValueError("RLlib's env runners rebuild the env from its Gymnasium spec; "
                             "this env was not made by gymnasium.make (register it and make it by id)")
        obs_space = env.observation_space
        if isinstance(obs_space, (spaces.Graph, spaces.Sequence, spaces.Text)):
            raise ValueError(f"RLlib cannot batch {type(obs_space).__name__} observations; flatten them to a Box")

    def learn(self, total_timesteps: int, callback: Any = None, progress_bar: bool = False,
              reset_num_timesteps: bool = True) -> RLlibAgent:
        algo = self._algorithm()
        loop = IterationLoop(self, total_timesteps, callback, progress_bar, reset_num_timesteps, "train")
        base, sampled_at_start = self.num_timesteps, self._lifetime_steps(None)
        idle = 0
        while loop.remaining > 0:
            started = time.perf_counter()
            result = algo.train()
            self.train_call_seconds.append(time.perf_counter() - started)
            self.iterations += 1
            flat = flatten(result)
            steps = base + int(self._lifetime_steps(flat) - sampled_at_start) - self.num_timesteps
            idle = idle + 1 if steps == 0 else 0
            if idle >= self.hyperparameters["max_iterations_without_progress"]:
                raise RuntimeError(f"{idle} RLlib iterations in a row sampled no env step: are the env runners "
                                   f"alive and does the cluster have CPUs for them?")
            keep_going = loop.after_iteration(steps, self._report(flat))  # the losses as train/<name>
            self.iteration_seconds.append(time.perf_counter() - started)
            if not keep_going:
                break
        loop.finish()
        return self

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, None]:
        import torch

        obs = np.asarray(observation, dtype=np.float32)
        single = obs.shape == self.observation_space.shape
        batch = torch.as_tensor(obs[None] if single else obs)
        module = self._inference_module()
        with torch.no_grad():
            out = module.forward_inference({"obs": batch})
            if "actions" in out:  # DQN's module picks the greedy action itself
                actions = out["actions"]
            else:
                dist = module.get_inference_action_dist_cls().from_logits(out["action_dist_inputs"])
                actions = _deterministic_action(dist) if deterministic else dist.sample()
        actions = self._to_env_actions(actions.cpu().numpy())
        return (actions[0] if single else actions), None

    # -- saving (agents.checkpoint.Checkpointed: the hyper-parameters and this state) -------------
    def checkpoint_state(self) -> dict[str, Any]:
        """The Algorithm's state (of one never built: the module's initial weights alone), the
        iteration counter and the env's spec."""
        if self._algo is not None:
            algorithm_state = self._algo.get_state()
        elif self._saved_state is not None:
            algorithm_state = self._saved_state
        else:  # never trained: the module's initial weights, no Algorithm (and no env runner) built for it
            algorithm_state = _nest(MODULE_STATE_PATH, self._inference_module().get_state())
        return {"iterations": self.iterations, "env_spec": self._env_spec_json(), "algorithm": algorithm_state}

    def restore_checkpoint(self, state: dict[str, Any]) -> None:
        """Kept until needed: the module gets the weights on the first ``predict``, the Algorithm
        the whole state on the first ``learn``."""
        self.iterations = int(state["iterations"])
        self._saved_state = state["algorithm"]

    @classmethod
    def rebuild(cls, hyperparameters: dict[str, Any], state: dict[str, Any], *, seed: Any, env: Any, device: Any,
                verbose: int) -> RLlibAgent:
        """``env`` defaults to one made from the saved spec (``load``'s overrides change constructor
        arguments, e.g. more env runners for a resumed run)."""
        if env is None:
            if state.get("env_spec") is None:
                raise ValueError(f"this {cls.__name__} was saved without an env spec; pass env= to load()")
            env = gym.make(gym.envs.registration.EnvSpec.from_json(state["env_spec"]))
        return super().rebuild(hyperparameters, state, seed=seed, env=env, device=device, verbose=verbose)

    def _env_spec_json(self) -> str | None:
        if self.env_spec is None:
            return None
        try:
            return self.env_spec.to_json()
        except (TypeError, ValueError):  # constructor arguments JSON cannot hold: load then needs env=
            return None

    def timing_summary(self) -> dict[str, float | int]:
        """Median seconds per iteration of the last ``learn`` calls: inside ``algorithm.train()``
        and in all (with reporting and callbacks); the host adds it to summary.json."""
        import statistics

        if not self.iteration_seconds:
            return {"iterations": self.iterations}
        return {"iterations": self.iterations,
                "median_train_call_s": round(statistics.median(self.train_call_seconds), 6),
                "median_iteration_s": round(statistics.median(self.iteration_seconds), 6)}

    def get_parameters(self) -> dict[str, dict]:
        return {"rl_module": self._inference_module().state_dict()}

    def close(self) -> None:
        """Stop the env runners (the Algorithm); the agent can still predict, save and learn on."""
        if self._algo is not None:
            self._module = self._copy_module(self._algo)
            self._saved_state = self._algo.get_state()
            self._algo.stop()
            self._algo = None

    # -- the RLlib side -----------------------------------------------------------------------
    def algorithm_config(self) -> Any:
        """The RLlib AlgorithmConfig these arguments describe."""
        import ray.rllib.algorithms as algorithms

        config_class = getattr(algorithms, f"{self.algorithm}Config")
        k = self.hyperparameters
        config = (
            config_class()
            .environment(env=rllib_envs.REGISTERED_NAME, env_config=rllib_envs.env_config(self.env_spec),
                         observation_space=self.observation_space, action_space=self.action_space)
            .env_runners(num_env_runners=k["num_env_runners"], num_envs_per_env_runner=k["num_envs_per_env_runner"],
                         gym_env_vectorize_mode=rllib_envs.vectorize_mode(self.env_spec),
                         rollout_fragment_length=k["rollout_fragment_length"])
            .learners(num_learners=0, num_gpus_per_learner=k["num_gpus_per_learner"])
            .fault_tolerance(restart_failed_env_runners=k["restart_failed_env_runners"],
                             delay_between_env_runner_restarts_s=k["env_runner_restart_delay_s"])
            .debugging(seed=self.seed, log_level="ERROR")
            .reporting(log_gradients=False)
        )
        try:
            config = config.training(**k["training"])
        except TypeError as error:
            raise ValueError(f"{self.algorithm}: unknown training setting ({error})") from None
        config = config.rl_module(**self._rl_module_settings())
        try:
            config.validate()
        except (ValueError, KeyError) as error:
            raise ValueError(f"RLlib {self.algorithm} refuses this configuration: {error}") from None
        return config

    def _rl_module_settings(self) -> dict[str, Any]:
        """``AlgorithmConfig.rl_module`` arguments: RLlib's default module with ``model``;
        subclasses with their own module override this."""
        from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

        try:
            return {"model_config": DefaultModelConfig(**self.hyperparameters["model"])}
        except TypeError as error:
            raise ValueError(f"unknown model setting ({error})") from None

    def _algorithm(self) -> Any:
        if self._algo is None:
            import ray

            if not ray.is_initialized():
                ray.init(include_dashboard=False, log_to_driver=self.verbose > 0)
            rllib_envs.register()
            algo = self._config.build_algo()
            if self._saved_state is not None:  # set_state syncs the weights to the env runners too
                algo.set_state(self._saved_state)
                self._saved_state = None
            self._algo, self._module = algo, None
        return self._algo

    @staticmethod
    def _copy_module(algo: Any) -> Any:
        import copy

        return copy.deepcopy(algo.get_module()).to("cpu").eval()

    def _inference_module(self) -> Any:
        if self._algo is not None:
            module = self._algo.get_module()
            return module if next(module.parameters()).device.type == "cpu" else self._copy_module(self._algo)
        if self._module is None:  # build the module alone, as RLlib would, and give it the saved weights
            spec = self._config.get_rl_module_spec(env=None, spaces={
                "__env__": (self.observation_space, self.action_space),
                MODULE_ID: (self.observation_space, self.action_space)})
            module = spec.build()
            if self._saved_state is not None:
                self._set_weights(module, self._saved_weights())
            self._module = module.eval()
        return self._module

    def _saved_weights(self) -> dict[str, Any]:
        state = self._saved_state
        for key in MODULE_STATE_PATH:
            state = state[key]
        return state

    @staticmethod
    def _set_weights(module: Any, weights: dict[str, Any]) -> None:
        """The saved weights into a module built from the spec: every weight it has must be saved
        (the learner's module may hold more, e.g. DQN's and SAC's target networks)."""
        import torch

        missing, _ = module.load_state_dict({k: torch.as_tensor(v) for k, v in weights.items()}, strict=False)
        if missing:
            raise ValueError(f"the saved RLModule weights lack {', '.join(missing[:3])}: saved by another module layout")

    def _to_env_actions(self, actions: np.ndarray) -> np.ndarray:
        """RLlib's module-to-env step for Box actions: the module acts in [-1, 1], unsquashed to
        the bounds (normalize_actions), or clipped to them (clip_actions)."""
        if not isinstance(self.action_space, spaces.Box):
            return actions
        from ray.rllib.utils.spaces.space_utils import clip_action, unsquash_action

        if self._config.normalize_actions:
            return np.asarray(unsquash_action(actions, self.action_space), dtype=self.action_space.dtype)
        if self._config.clip_actions:
            return np.asarray(clip_action(actions, self.action_space), dtype=self.action_space.dtype)
        return actions

    def _lifetime_steps(self, flat: dict | None) -> float:
        """Env steps sampled over the Algorithm's life (restored with a checkpoint); ``flat``
        is the last result, or None to ask the Algorithm's metrics before the first iteration."""
        if flat is None:
            from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME

            try:
                return float(self._algo.metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0))
            except (KeyError, TypeError, ValueError):  # a fresh Algorithm has no such metric yet
                return 0.0
        for key in ("env_runners/num_env_steps_sampled_lifetime", "num_env_steps_sampled_lifetime"):
            value = _number(flat.get(key))
            if value is not None and math.isfinite(value):
                return value
        return 0.0

    def _report(self, flat: dict[str, Any]) -> dict[str, float]:
        """Record RLlib's figures worth a curve; returns the learner's losses (``{name: value}``),
        which the loop records as ``train/<name>`` and guards against NaN."""
        for key, name in _REPORTED.items():
            value = _number(flat.get(key))
            if value is not None:
                self.logger.record(name, value)
        self.logger.record("time/iterations", self.iterations)
        self.logger.record("time/wall_clock", time.time())
        losses = {}
        for key, value in flat.items():
            number = _number(value)
            if key.startswith("learners/") and "loss" in key and number is not None:
                losses[key.split("/", 2)[-1].replace("/", "_")] = number
        return losses

    @staticmethod
    def _check_counts(num_env_runners: Any, num_envs_per_env_runner: Any, num_gpus_per_learner: Any) -> None:
        if isinstance(num_env_runners, bool) or not isinstance(num_env_runners, int) or num_env_runners < 0:
            raise ValueError(f"num_env_runners must be an integer >= 0, got {num_env_runners!r}")
        if isinstance(num_envs_per_env_runner, bool) or not isinstance(num_envs_per_env_runner, int) \
                or num_envs_per_env_runner < 1:
            raise ValueError(f"num_envs_per_env_runner must be an integer >= 1, got {num_envs_per_env_runner!r}")
        if not isinstance(num_gpus_per_learner, (int, float)) or num_gpus_per_learner < 0:
            raise ValueError(f"num_gpus_per_learner must be a number >= 0, got {num_gpus_per_learner!r}")


_ON_POLICY_SPACES = (spaces.Discrete, spaces.MultiDiscrete, spaces.Box)


class RLlibPPO(RLlibAgent):
    """RLlib's PPO (``agent=rllib_ppo``)."""

    algorithm = "PPO"
    supported_action_spaces = _ON_POLICY_SPACES


class RLlibAPPO(RLlibAgent):
    """RLlib's asynchronous PPO (``agent=rllib_appo``)."""

    algorithm = "APPO"
    supported_action_spaces = _ON_POLICY_SPACES


class RLlibIMPALA(RLlibAgent):
    """RLlib's IMPALA, V-trace actor-learner (``agent=rllib_impala``)."""

    algorithm = "IMPALA"
    supported_action_spaces = _ON_POLICY_SPACES


class RLlibDQN(RLlibAgent):
    """RLlib's DQN, Rainbow options included (``agent=rllib_dqn``); discrete actions only."""

    algorithm = "DQN"
    supported_action_spaces = (spaces.Discrete,)


class RLlibSAC(RLlibAgent):
    """RLlib's SAC (``agent=rllib_sac``), continuous or discrete actions."""

    algorithm = "SAC"
    supported_action_spaces = (spaces.Box, spaces.Discrete)
