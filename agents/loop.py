"""The one training loop of agents that are not SB3 algorithms and train in iterations (a gradient
step on sampled states, a search round, an RLlib ``train()`` call), beside
:class:`agents.rollout.StepRunner` for agents that step an env.

Both call the host's callback the same way SB3 does (see :mod:`agents.base`), so rlkit evaluates,
checkpoints, guards against NaN and draws the progress bar identically for every agent:

    on_training_start
    per iteration:  counter += steps, scalars recorded,
                    on_rollout_start (the host's NaN guard reads the recorded losses, then evaluates
                    and checkpoints when due), on_step (False: stop), on_rollout_end, logger dump
    on_training_end

Usage inside ``learn``::

    loop = IterationLoop(self, total_timesteps, callback, progress_bar, reset_num_timesteps, "lyapunov")
    train_something(..., after_iteration=lambda record: loop.after_iteration(batch, record))
    loop.finish()
"""

from __future__ import annotations

import logging
import math
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback, CallbackList, ConvertCallback

log = logging.getLogger(__name__)


class HostLogging:
    """Mixin: the ``logger`` / ``set_logger`` pair of the agent contract, with a logger that writes
    nowhere until the host hands one over."""

    _logger: Any = None

    @property
    def logger(self) -> Any:
        if self._logger is None:
            from stable_baselines3.common.logger import Logger

            self._logger = Logger(folder=None, output_formats=[])
        return self._logger

    @logger.setter
    def logger(self, logger: Any) -> None:
        self._logger = logger

    def set_logger(self, logger: Any) -> None:
        self._logger = logger


def as_callback(callback: Any) -> BaseCallback:
    """``callback`` in any form SB3 accepts (None, a list, a function ``f(locals, globals)``, a
    BaseCallback) as one BaseCallback."""
    if isinstance(callback, list):
        return CallbackList(callback)
    if callback is None:
        return CallbackList([])
    if not isinstance(callback, BaseCallback):
        return ConvertCallback(callback)
    return callback


def connect_callback(agent: Any, callback: Any, progress_bar: bool) -> Any:
    """The host's ``callback`` (see :func:`as_callback`) bound to ``agent``, with a progress bar over
    the agent's step counter when asked for."""
    callback = as_callback(callback)
    if progress_bar:
        callback = CallbackList([callback, StepCounterProgressBar()])
    callback.init_callback(agent)
    return callback


class StepCounterProgressBar(BaseCallback):
    """A tqdm bar that follows ``num_timesteps`` (an iteration may count many steps; SB3's own bar
    assumes one vector step per call)."""

    def __init__(self) -> None:
        super().__init__()
        self.bar: Any = None
        self.shown = 0

    def _on_training_start(self) -> None:
        import warnings

        from tqdm import TqdmExperimentalWarning
        from tqdm.rich import tqdm

        warnings.filterwarnings("ignore", category=TqdmExperimentalWarning)  # as SB3's own bar does
        total = self.locals.get("total_timesteps", self.model.num_timesteps) - self.model.num_timesteps
        self.bar, self.shown = tqdm(total=max(int(total), 0)), self.model.num_timesteps

    def _on_step(self) -> bool:
        self.bar.update(self.model.num_timesteps - self.shown)
        self.shown = self.model.num_timesteps
        return True

    def _on_training_end(self) -> None:
        self.bar.update(self.model.num_timesteps - self.shown)  # steps counted after the last iteration
        self.bar.refresh()
        self.bar.close()


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return True  # not a number: nothing to guard


class IterationLoop:
    """The callback protocol around one ``learn`` call of an iteration-based agent.

    ``prefix`` names the agent's TensorBoard section (``<prefix>/<key>`` for each recorded scalar).
    After :meth:`finish`, ``stopped`` says whether the host (or the NaN guard) ended training early.
    """

    def __init__(self, agent: Any, total_timesteps: int, callback: Any, progress_bar: bool,
                 reset_num_timesteps: bool, prefix: str) -> None:
        self.agent, self.prefix = agent, prefix
        if reset_num_timesteps:
            agent.num_timesteps = 0
        self.total_timesteps = agent.num_timesteps + int(total_timesteps)  # an absolute target, as SB3
        self.callback = connect_callback(agent, callback, progress_bar)
        self.stopped, self.stop_reason = False, None
        self.callback.on_training_start({"total_timesteps": self.total_timesteps, "self": agent}, {})

    @property
    def remaining(self) -> int:
        return max(self.total_timesteps - self.agent.num_timesteps, 0)

    def record(self, record: dict[str, Any] | None) -> None:
        """Record an iteration's scalars (``<prefix>/<key>``) for the next dump."""
        logger = self.agent.logger
        for key, value in (record or {}).items():
            if isinstance(value, (int, float)) or hasattr(value, "__float__"):
                logger.record(f"{self.prefix}/{key}", float(value))

    def after_iteration(self, steps: int, record: dict[str, Any] | None = None) -> bool:
        """Count an iteration's ``steps``, record its scalars, run the callback; returns whether
        training goes on (False once the host stopped it; every later call returns False too)."""
        if self.stopped:
            return False
        self.agent.num_timesteps += int(steps)
        self.record(record)
        non_finite = [key for key, value in (record or {}).items() if "loss" in key and not _finite(value)]
        callback = self.callback
        callback.update_locals({"record": record, "steps": steps})
        callback.on_rollout_start()  # the host checks the recorded losses, evaluates, checkpoints
        keep_going = callback.on_step()
        callback.on_rollout_end()
        self.agent.logger.dump(self.agent.num_timesteps)
        if non_finite and keep_going:  # without the host's guard, the loop's own
            keep_going = False
            self.stop_reason = f"{self.prefix}/{non_finite[0]} became {record[non_finite[0]]}"
        self.stopped = not keep_going
        return keep_going

    def finish(self) -> None:
        """End of ``learn``: the final scalars are dumped and the host's end-of-training work runs; a
        stop by the loop's own NaN guard is logged (the host's guard reports its own)."""
        if self.stop_reason is not None:
            log.warning("%s stopped training at step %d: %s", type(self.agent).__name__,
                        self.agent.num_timesteps, self.stop_reason)
        self.agent.logger.dump(self.agent.num_timesteps)
        self.callback.on_training_end()
