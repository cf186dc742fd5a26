"""Running an agent that does not learn from its steps (a controller, a classical market maker) on
its env under SB3's callback protocol, so that rlkit's host evaluates, checkpoints and logs it like
any learner (see the contract in :mod:`agents.base`).

Each vector step is one rollout of length one: the host's callback evaluates and checkpoints at
rollout starts, and there is no update between steps to wait for.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import numpy as np

from agents.loop import HostLogging, connect_callback

LOG_EVERY = 1000  # environment steps between logger dumps


class StepRunner(HostLogging):
    """Mixin: ``learn``, ``logger`` and ``set_logger`` for agents that only act.

    The class using it sets ``self.env``, ``self.num_timesteps`` and ``self._last_obs`` and defines
    ``_actions(env)`` (the actions for ``self._last_obs`` on a VecEnv); it may override
    ``_before_learning()`` (build a controller), ``_record_logs(logger)`` (extra scalars) and, for an
    agent that learns from its steps, ``_store`` / ``_after_step`` (keep transitions, update) and
    ``_env_seed``.
    """

    _total_timesteps: int = 0

    def _actions(self, env: Any) -> np.ndarray:
        raise NotImplementedError

    def _before_learning(self) -> None:
        """Work to do before the first step (e.g. solving for a controller)."""

    def _record_logs(self, logger: Any) -> None:
        """Scalars of the agent's own to record at each dump."""

    def _store(self, obs: Any, actions: np.ndarray, new_obs: Any, rewards: np.ndarray, dones: np.ndarray,
               infos: list[dict]) -> None:
        """Keep a vector step's transitions (learners with a replay buffer); before the callback's step,
        so that a checkpoint taken there holds them."""

    def _after_step(self, env: Any) -> None:
        """Learn from what was stored (updates), after the callback's step when training goes on."""

    def _env_seed(self) -> int | None:
        """The seed for the VecEnv ``learn`` wraps a plain env in (None: the env's own seeding)."""
        return None

    def learn(self, total_timesteps: int, callback: Any = None, progress_bar: bool = False,
              reset_num_timesteps: bool = True) -> Any:
        """Act on the env for ``total_timesteps`` more steps with the SB3 callback protocol: the
        counter, the callback and the first observation as SB3 sets them up, then per vector step
        ``_actions``, ``_store``, the callback's step, ``_after_step``."""
        from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

        if self.env is None:
            raise ValueError(f"{type(self).__name__}.learn needs an env; pass env= to the constructor or load()")
        self._before_learning()
        if not isinstance(self.env, VecEnv):
            self.env = DummyVecEnv([lambda env=self.env: env])
            if self._env_seed() is not None:
                self.env.seed(self._env_seed())
        env = self.env
        if reset_num_timesteps:
            self.num_timesteps, self._last_obs = 0, None
        total_timesteps = int(total_timesteps) + self.num_timesteps  # an absolute target, as SB3
        self._total_timesteps = total_timesteps
        callback = connect_callback(self, callback, progress_bar)
        if self._last_obs is None:
            self._last_obs = env.reset()
        episode_returns: deque[float] = deque(maxlen=100)
        episode_lengths: deque[int] = deque(maxlen=100)
        dumped_at, start_time = self.num_timesteps, time.perf_counter()

        callback.on_training_start(locals(), globals())
        while self.num_timesteps < total_timesteps:
            callback.on_rollout_start()
            obs = self._last_obs
            actions = self._actions(env)
            new_obs, rewards, dones, infos = env.step(actions)
            self.num_timesteps += env.num_envs
            for info in infos:
                if "episode" in info:
                    episode_returns.append(float(info["episode"]["r"]))
                    episode_lengths.append(int(info["episode"]["l"]))
            self._store(obs, actions, new_obs, rewards, dones, infos)
            callback.update_locals(locals())
            continue_training = callback.on_step()
            self._last_obs = new_obs
            callback.on_rollout_end()
            if not continue_training:
                break
            self._after_step(env)
            if self.num_timesteps - dumped_at >= LOG_EVERY:
                dumped_at = self._dump_logs(dumped_at, episode_returns, episode_lengths, start_time)
        self._dump_logs(dumped_at, episode_returns, episode_lengths, start_time)
        callback.on_training_end()
        return self

    def _dump_logs(self, since: int, returns: deque, lengths: deque, start_time: float) -> int:
        if self.num_timesteps == since:
            return since
        logger = self.logger
        if returns:
            logger.record("rollout/ep_rew_mean", float(np.mean(returns)))
            logger.record("rollout/ep_len_mean", float(np.mean(lengths)))
        self._record_logs(logger)
        logger.record("time/total_timesteps", self.num_timesteps)
        logger.record("time/fps", int(self.num_timesteps / max(time.perf_counter() - start_time, 1e-9)))
        logger.dump(self.num_timesteps)
        return self.num_timesteps
