"""A callback that writes down the events an agent's ``learn`` sends it, for tests of the callback
protocol (agents/base.py) that every agent follows."""

from __future__ import annotations

import math

from stable_baselines3.common.callbacks import BaseCallback


class EventRecorder(BaseCallback):
    """``events``: ``(event, num_timesteps)`` for each call; ``on_step`` returns False once the
    counter reaches ``stop_at``. ``total_timesteps`` is what ``on_training_start`` was told and
    ``losses`` the logger's values seen at each ``on_rollout_start`` (what the host's NaN guard reads)."""

    def __init__(self, stop_at: float = math.inf) -> None:
        super().__init__()
        self.events: list[tuple[str, int]] = []
        self.stop_at, self.total_timesteps, self.losses = stop_at, None, []

    def _on_training_start(self) -> None:
        self.total_timesteps = self.locals.get("total_timesteps")
        self.events.append(("start", self.model.num_timesteps))

    def _on_rollout_start(self) -> None:
        self.losses.append(dict(self.logger.name_to_value))
        self.events.append(("rollout_start", self.model.num_timesteps))

    def _on_step(self) -> bool:
        self.events.append(("step", self.model.num_timesteps))
        return self.model.num_timesteps < self.stop_at

    def _on_rollout_end(self) -> None:
        self.events.append(("rollout_end", self.model.num_timesteps))

    def _on_training_end(self) -> None:
        self.events.append(("end", self.model.num_timesteps))
