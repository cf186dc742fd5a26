"""The callback through which the host watches a training run: periodic evaluation (TensorBoard
and metrics.csv), checkpoints (latest, and best on a new best evaluation), and a guard that stops
the run on a NaN or infinity in observations, rewards, losses or weights before it reaches a
checkpoint.

It relies only on the agent contract (``num_timesteps``, ``predict``, ``save``, optional
``get_parameters``/``save_replay_buffer``), so non-SB3 agents that call SB3 callbacks get it too.
"""

from __future__ import annotations

import math
import time
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from rlkit.evaluation import evaluate
from rlkit.rundir import RunDirectory


def _next_multiple(value: int, every: int) -> int | float:
    return (value // every + 1) * every if every > 0 else math.inf


def non_finite_parameters(agent: Any) -> list[str]:
    """Names of the agent's tensors holding a NaN or an infinity."""
    get_parameters = getattr(agent, "get_parameters", None)
    if get_parameters is None:
        return []
    import torch

    bad = []
    for module_name, state_dict in get_parameters().items():
        for name, tensor in state_dict.items():
            if torch.is_tensor(tensor) and tensor.is_floating_point() and not torch.isfinite(tensor).all():
                bad.append(f"{module_name}.{name}")
    return bad


class RunMonitor(BaseCallback):
    """Evaluation, checkpoints and the NaN guard of one run.

    ``state`` is what the checkpoints carry besides the agent (best return so far, evaluations,
    training wall time) so a resumed run continues it.
    """

    def __init__(
        self,
        run: RunDirectory,
        eval_env: gym.Env,
        eval_every: int,
        eval_episodes: int,
        eval_seed: int,
        deterministic: bool,
        checkpoint_every: int,
        checkpoint_replay_buffer: bool,
        state: dict[str, Any] | None = None,
        on_evaluation: Any = None,
    ) -> None:
        super().__init__()
        self.on_evaluation = on_evaluation
        self.run = run
        self.eval_env = eval_env
        self.eval_every = eval_every
        self.eval_episodes = eval_episodes
        self.eval_seed = eval_seed
        self.deterministic = deterministic
        self.checkpoint_every = checkpoint_every
        self.checkpoint_replay_buffer = checkpoint_replay_buffer
        self.state = {"best_mean_return": -math.inf, "best_timesteps": None, "evaluations": 0,
                      "wall_time_s": 0.0, "last_evaluation": None, "train_violations": 0.0}
        self.state.update(state or {})
        self.stop_reason: str | None = None
        self.last_checkpoint: str | None = None
        self._clock_start = time.perf_counter()
        self._wall_time_at_start = float(self.state["wall_time_s"])
        # this session's time in data collection (between SB3's rollout start and end) and in the
        # run's own evaluations and checkpoints; the rest of the training time is the agent's updates
        self._seconds = {"collecting": 0.0, "evaluating": 0.0}
        self._rollout_start: float | None = None

    # -- SB3 events ---------------------------------------------------------------------------
    def _on_training_start(self) -> None:
        self._agent_has_rollouts = False
        self._clock_start = time.perf_counter()
        self._next_eval = _next_multiple(self.num_timesteps, self.eval_every)
        self._next_checkpoint = _next_multiple(self.num_timesteps, self.checkpoint_every)
        if not (self.run.checkpoints.directory / "latest").exists():
            # a first checkpoint before the first update: a run whose weights go bad in its first
            # update (an error raised inside the agent) still keeps a good one
            self.save_checkpoint()

    def _on_step(self) -> bool:
        if self.stop_reason is not None:
            return False
        for key in ("new_obs", "rewards"):
            value = self.locals.get(key)
            if isinstance(value, np.ndarray) and not np.isfinite(value).all():
                return self._stop(f"NaN or infinity in the {key.replace('new_obs', 'observations')}")
        for info in self.locals.get("infos") or ():
            self.state["train_violations"] += float(info.get("violations", 0))
        if not self._agent_has_rollouts:
            return self._periodic_work()
        return True

    def _on_rollout_start(self) -> None:
        # SB3 updates the agent between rollouts: evaluating here, not in the middle of a
        # rollout, scores (and checkpoints) the agent as updated with the steps counted so far.
        self._agent_has_rollouts = True
        if self._losses_are_finite():
            self._periodic_work()
        self._rollout_start = time.perf_counter()

    def _on_rollout_end(self) -> None:
        if self._rollout_start is not None:
            self._seconds["collecting"] += time.perf_counter() - self._rollout_start
            self._rollout_start = None

    def _on_training_end(self) -> None:
        start = time.perf_counter()
        if self.stop_reason is None and self._losses_are_finite():
            self.evaluate_and_checkpoint()
            self.save_checkpoint()
        self._seconds["evaluating"] += time.perf_counter() - start

    def time_split(self) -> dict[str, float] | None:
        """This session's training time split into collecting, updating (the rest) and evaluating
        (with checkpoints), in seconds; None for an agent without SB3's rollout phases."""
        if not getattr(self, "_agent_has_rollouts", False):
            return None
        total = time.perf_counter() - self._clock_start
        collecting, evaluating = self._seconds["collecting"], self._seconds["evaluating"]
        return {"collecting_s": round(collecting, 3), "updating_s": round(max(total - collecting - evaluating, 0.0), 3),
                "evaluating_s": round(evaluating, 3)}

    def _periodic_work(self) -> bool:
        start = time.perf_counter()
        try:
            return self._periodic_work_now()
        finally:
            self._seconds["evaluating"] += time.perf_counter() - start

    def _periodic_work_now(self) -> bool:
        if self.num_timesteps >= self._next_eval:
            self._next_eval = _next_multiple(self.num_timesteps, self.eval_every)
            if not self.evaluate_and_checkpoint():
                return False
        if self.num_timesteps >= self._next_checkpoint:
            self._next_checkpoint = _next_multiple(self.num_timesteps, self.checkpoint_every)
            if not self.save_checkpoint():
                return False
        return True

    def _losses_are_finite(self) -> bool:
        """The losses the last update recorded and has not yet dumped. Only losses: diagnostics
        may be NaN legitimately (SB3's explained_variance is NaN when the returns do not vary)."""
        for key, value in self.logger.name_to_value.items():
            if "loss" in key and isinstance(value, (float, np.floating)) and not np.isfinite(value):
                return self._stop(f"{key} became {value}")  # the next step returns False
        return True

    # -- work ---------------------------------------------------------------------------------
    def wall_time(self) -> float:
        return self._wall_time_at_start + time.perf_counter() - self._clock_start

    def evaluate_and_checkpoint(self) -> bool:
        """Evaluate, log, and checkpoint as best on a new best return."""
        if self.state.get("last_evaluation") == self.num_timesteps:
            return True
        result = evaluate(self.model, self.eval_env, self.eval_episodes, self.eval_seed, self.deterministic)
        self.state["evaluations"] += 1
        self.state["last_evaluation"] = self.num_timesteps
        is_best = result.mean_return > self.state["best_mean_return"]
        if is_best:
            self.state["best_mean_return"] = result.mean_return
            self.state["best_timesteps"] = self.num_timesteps
        summary = result.summary()
        for key in ("mean_return", "std_return", "mean_length", "violations_per_episode",
                    *result.episode_metrics):
            self.logger.record(f"eval/{key}", summary[key])
        self.logger.record("rollout/violations_total", self.state["train_violations"])
        self.logger.record("eval/best_mean_return", self.state["best_mean_return"])
        self.logger.dump(self.num_timesteps)
        row = {"timesteps": self.num_timesteps, "wall_time_s": round(self.wall_time(), 3),
               "best_mean_return": self.state["best_mean_return"],
               "train_violations": self.state["train_violations"], **summary}
        self.run.append_metrics(row)
        if is_best and not self.save_checkpoint(links=("latest", "best")):
            return False
        if self.on_evaluation is not None:  # after the checkpoint: a scheduler may stop the run here
            self.on_evaluation(row)
        return True

    def save_checkpoint(self, links: tuple[str, ...] = ("latest",)) -> bool:
        """Checkpoint unless the weights went bad (then stop and keep the last good one)."""
        bad = non_finite_parameters(self.model)
        if bad:
            return self._stop(f"NaN or infinity in the agent's weights ({', '.join(bad[:3])})")
        self.state["wall_time_s"] = self.wall_time()
        checkpoint = self.run.checkpoints.save(
            self.model,
            {**self.state, "num_timesteps": int(self.num_timesteps)},
            links=links,
            replay_buffer=self.checkpoint_replay_buffer,
        )
        self.last_checkpoint = str(checkpoint.path)
        return True

    def stop_on_error(self, reason: str, num_timesteps: int) -> None:
        """The run stopped by an error the agent raised from non-finite values (outside any
        callback): recorded like the guard's own stops."""
        if self.stop_reason is None:
            self.stop_reason = f"{reason} at step {num_timesteps}"

    def _stop(self, reason: str) -> bool:
        if self.stop_reason is None:
            self.stop_reason = f"{reason} at step {self.num_timesteps}"
        return False
