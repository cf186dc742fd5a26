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

LOG_EVERY = 1000  # environment steps between logger dumps


class StepRunner:
    """Mixin: ``learn``, ``logger`` and ``set_logger`` for agents that only act.

    The class using it sets ``self.env``, ``self.num_timesteps`` and ``self._last_obs`` and defines
    ``_actions(env)`` (the actions for ``self._last_obs`` on a VecEnv); it may override
    ``_before_learning()`` (build a controller) and ``_record_logs(logger)`` (extra scalars).
    """

    _logger: Any = None
    _total_timesteps: int = 0

    @property
    def logger(self) -> Any:
        if self._logger is None:
            from stable_baselines3.common.logger import Logger

            self._logger = Logger(folder=None, output_formats=[])
        return self._logger

    def set_logger(self, logger: Any) -> None:
        self._logger = logger

    def _actions(self, env: Any) -> np.ndarray:
        raise NotImplementedError

    def _before_learning(self) -> None:
        """Work to do before the first step (e.g. solving for a controller)."""

    def _record_logs(self, logger: Any) -> None:
        """Scalars of the agent's own to record at each dump."""

    def learn(self, total_timesteps: int, callback: Any = None, progress_bar: bool = False,
              reset_num_timesteps: bool = True) -> Any:
        """Act on the env for ``total_timesteps`` steps with the SB3 callback protocol."""
        self._before_learning()
        env, callback = self._begin_learning(total_timesteps, callback, progress_bar, reset_num_timesteps)
        total_timesteps = self._total_timesteps
        episode_returns: deque[float] = deque(maxlen=100)
        episode_lengths: deque[int] = deque(maxlen=100)
        dumped_at, start_time = self.num_timesteps, time.perf_counter()

        callback.on_training_start(locals(), globals())
        while self.num_timesteps < total_timesteps:
            callback.on_rollout_start()
            actions = self._actions(env)
            new_obs, rewards, dones, infos = env.step(actions)
            self.num_timesteps += env.num_envs
            for info in infos:
                if "episode" in info:
                    episode_returns.append(float(info["episode"]["r"]))
                    episode_lengths.append(int(info["episode"]["l"]))
            callback.update_locals(locals())
            continue_training = callback.on_step()
            self._last_obs = new_obs
            callback.on_rollout_end()
            if self.num_timesteps - dumped_at >= LOG_EVERY:
                dumped_at = self._dump_logs(dumped_at, episode_returns, episode_lengths, start_time)
            if not continue_training:
                break
        self._dump_logs(dumped_at, episode_returns, episode_lengths, start_time)
        callback.on_training_end()
        return self

    def _begin_learning(self, total_timesteps: int, callback: Any, progress_bar: bool, reset_num_timesteps: bool,
                        seed: int | None = None) -> tuple[Any, Any]:
        """What every ``learn`` does first: the env as a VecEnv (seeded with ``seed`` when wrapped here),
        the step counter (reset or continued; ``_total_timesteps`` becomes the absolute target, as in
        SB3), the callback initialised, the first observation. Returns (env, callback)."""
        from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

        if self.env is None:
            raise ValueError(f"{type(self).__name__}.learn needs an env; pass env= to the constructor or load()")
        if not isinstance(self.env, VecEnv):
            self.env = DummyVecEnv([lambda env=self.env: env])
            if seed is not None:
                self.env.seed(seed)
        if reset_num_timesteps:
            self.num_timesteps, self._last_obs = 0, None
        self._total_timesteps = int(total_timesteps) + self.num_timesteps
        callback = self._init_callback(callback, progress_bar)
        if self._last_obs is None:
            self._last_obs = self.env.reset()
        return self.env, callback

    def _init_callback(self, callback: Any, progress_bar: bool) -> Any:
        from stable_baselines3.common.callbacks import BaseCallback, CallbackList, ConvertCallback, ProgressBarCallback

        if isinstance(callback, list):
            callback = CallbackList(callback)
        elif callback is None:
            callback = CallbackList([])
        elif not isinstance(callback, BaseCallback):
            callback = ConvertCallback(callback)
        if progress_bar:
            callback = CallbackList([callback, ProgressBarCallback()])
        callback.init_callback(self)
        return callback

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
