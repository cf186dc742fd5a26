"""N seeds of ``er_dqn`` trained together in one process with vectorised parameters (torch.func).

The N Q-networks (and their target networks) are stacked with ``torch.func.stack_module_state``: every
parameter gets a leading seed axis. Forward passes and the TD loss run once for all seeds through
``torch.func.functional_call`` under ``torch.vmap``; one AdamW step on the stacked tensors is exactly N
independent AdamW steps (AdamW is element-wise), and the summed loss gives each seed the gradient of its
own loss. Each seed keeps its own env, replay buffer and random generator, as the single-seed agent
(:class:`agents.model_based.agents.ERDQN`), whose defaults and learner constants are reused.

:func:`train_seeds` is the entry point: ``train_seeds("pan_flute", n_seeds=5, total_timesteps=20_000)``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.func import functional_call, stack_module_state

from agents.model_based.agents import ER_DEFAULTS, ERDQN
from agents.model_based.buffer import ReplayBuffer
from agents.model_based.learner import DQNLearner, adamw

# short names of the gridworlds (rlkit/conf/env/) -> Gymnasium ids
SHORT_NAMES = {"proc_maze": "rlkit/ProcMaze-v0", "button_grid": "rlkit/ButtonGrid-v0", "pan_flute": "rlkit/PanFlute-v0"}
EVAL_DEFAULTS: dict[str, Any] = dict(eval_every=None, n_eval_episodes=8)


class StackedDQNLearner:
    """N :class:`DQNLearner` s (same architecture and settings) as one: Q and target parameters stacked
    along a leading seed axis, one AdamW over the stacked tensors. Built from the learners' current
    weights (copied; the learners are left untouched)."""

    def __init__(self, learners: Sequence[DQNLearner], learning_rate: float) -> None:
        if not learners:
            raise ValueError("StackedDQNLearner needs at least one learner")
        first = learners[0]
        self.n_seeds = len(learners)
        self.gamma, self.temperature = first.gamma, first.temperature
        self.target_update_every, self.device = first.target_update_every, first.device
        self.updates = 0
        params, _ = stack_module_state([copy.deepcopy(l.q) for l in learners])
        target_params, _ = stack_module_state([copy.deepcopy(l.target_q) for l in learners])
        self.params = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
        self.target_params = {k: v.detach().clone() for k, v in target_params.items()}
        self.base = copy.deepcopy(first.q).to("meta")  # the architecture only; weights come from params
        self.optimizer = adamw(list(self.params.values()), learning_rate)

        def one(p: dict[str, torch.Tensor], obs: torch.Tensor) -> torch.Tensor:
            return functional_call(self.base, p, (obs,))

        self._q = torch.vmap(one)  # (params with seed axis, obs (N, B, obs_dim)) -> (N, B, n_actions)

    # -- forward --------------------------------------------------------------------------
    def q_values(self, obs: torch.Tensor, target: bool = False) -> torch.Tensor:
        """``Q_i(obs[i], .)`` for every seed i: obs (N, B, obs_dim) -> (N, B, n_actions)."""
        return self._q(self.target_params if target else self.params, obs)

    @torch.no_grad()
    def policy_probabilities(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.q_values(obs) / self.temperature, dim=-1)

    @torch.no_grad()
    def greedy_actions(self, obs: torch.Tensor) -> torch.Tensor:
        return self.q_values(obs).argmax(dim=-1)

    # -- learning -------------------------------------------------------------------------
    def td_losses(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-seed losses (N,) of :meth:`DQNLearner.td_loss` on a batch whose tensors lead with the seed axis."""
        with torch.no_grad():
            next_value = self.q_values(batch["next_obs"], target=True).max(dim=-1).values
            target = batch["rewards"] + self.gamma * batch["continuation"] * next_value
        value = self.q_values(batch["obs"]).gather(2, batch["actions"].long()[..., None])[..., 0]
        return (batch["weights"] * (value - target) ** 2).mean(dim=1)

    def update(self, batch: dict[str, torch.Tensor]) -> np.ndarray:
        """One AdamW step for every seed; returns the per-seed losses before the step."""
        losses = self.td_losses(batch)
        self.optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()  # seed i's parameters only see seed i's loss
        self.optimizer.step()
        self.updates += 1
        if self.updates % self.target_update_every == 0:
            with torch.no_grad():
                for name, value in self.params.items():
                    self.target_params[name].copy_(value)
        return losses.detach().cpu().numpy()

    def seed_state_dict(self, i: int, target: bool = False) -> dict[str, torch.Tensor]:
        """Seed i's Q (or target) weights as a :class:`QNetwork` state dict."""
        source = self.target_params if target else self.params
        return {name: value[i].detach().clone() for name, value in source.items()}


def seed_learner(seed: int, obs_dim: int, n_actions: int, h: dict[str, Any], device: torch.device) -> DQNLearner:
    """The single-seed agent's learner for ``seed`` (the same initial weights as ``ERDQN(seed=seed)``)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return DQNLearner(obs_dim, n_actions, list(h["hidden"]), h["learning_rate"], h["gamma"], h["temperature"],
                          h["target_update_every"], device)


def _make_env(env_id: str, env_kwargs: dict[str, Any]) -> Any:
    import gymnasium as gym

    from envs.gridworlds import register_gridworld_envs

    register_gridworld_envs()
    return gym.make(SHORT_NAMES.get(env_id, env_id), **env_kwargs)


def _softmax_sample(probabilities: np.ndarray, rng: np.random.Generator) -> int:
    """One action from a probability row, drawn as ``ReplayDQN._softmax_sample`` does."""
    cumulative = probabilities.astype(np.float64).cumsum()
    draw = rng.random() * cumulative[-1]
    return int(min((cumulative <= draw).sum(), len(cumulative) - 1))


@torch.no_grad()
def evaluate(learner: StackedDQNLearner, envs: Sequence[Any], n_episodes: int, seeds: Sequence[int]) -> np.ndarray:
    """Mean greedy return over ``n_episodes`` episodes for every seed (its own eval env), (N,)."""
    n = len(envs)
    totals = np.zeros(n)
    for episode in range(n_episodes):
        obs = np.stack([env.reset(seed=int(seeds[i]) * 1000 + episode)[0] for i, env in enumerate(envs)])
        running = np.ones(n, dtype=bool)
        while running.any():
            actions = learner.greedy_actions(torch.as_tensor(obs, dtype=torch.float32)[:, None, :])[:, 0].numpy()
            for i in np.flatnonzero(running):
                obs[i], reward, terminated, truncated, _ = envs[i].step(int(actions[i]))
                totals[i] += reward
                running[i] = not (terminated or truncated)
    return totals / n_episodes


def train_seeds(env_id: str, n_seeds: int, total_timesteps: int, agent: str = "er_dqn",
                seeds: Sequence[int] | None = None, env_kwargs: dict[str, Any] | None = None,
                **settings: Any) -> list[dict[str, Any]]:
    """Train ``n_seeds`` er_dqn agents together for ``total_timesteps`` env steps each (one env per seed,
    seeded with its seed); the Q updates of all seeds are one vectorised step. ``settings`` are er_dqn's
    (defaults :data:`ER_DEFAULTS`, validated the same way) plus ``eval_every`` (steps between greedy
    evaluations; None: only at the end) and ``n_eval_episodes``. Returns one dict per seed: its seed,
    ``eval`` ([(step, mean greedy return)]), ``final_return``, ``train_episode_returns`` and ``updates``;
    the first dict also carries the shared wall times."""
    if agent != "er_dqn":
        raise ValueError(f"train_seeds supports agent='er_dqn' only (got {agent!r})")
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or n_seeds < 1:
        raise ValueError(f"n_seeds must be an integer >= 1 (got {n_seeds!r})")
    seeds = list(range(n_seeds)) if seeds is None else [int(s) for s in seeds]
    if len(seeds) != n_seeds:
        raise ValueError(f"seeds has {len(seeds)} entries for n_seeds={n_seeds}")
    eval_settings = {**EVAL_DEFAULTS, **{k: settings.pop(k) for k in list(settings) if k in EVAL_DEFAULTS}}
    unknown = set(settings) - set(ER_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown er_dqn settings {sorted(unknown)}; allowed: {sorted(ER_DEFAULTS)}")
    h = {**ER_DEFAULTS, **settings}
    ERDQN.validate(h)
    env_kwargs = dict(env_kwargs or {})
    device = torch.device("cpu")

    envs = [_make_env(env_id, env_kwargs) for _ in seeds]
    eval_envs = [_make_env(env_id, env_kwargs) for _ in seeds]
    ERDQN.check_env(envs[0])
    obs_dim, n_actions = int(envs[0].observation_space.shape[0]), int(envs[0].action_space.n)
    learner = StackedDQNLearner([seed_learner(s, obs_dim, n_actions, h, device) for s in seeds], h["learning_rate"])
    buffers = [ReplayBuffer(h["buffer_size"], obs_dim) for _ in seeds]
    rngs = [np.random.default_rng(s) for s in seeds]
    obs = np.stack([env.reset(seed=s)[0] for env, s in zip(envs, seeds)]).astype(np.float32)
    returns_now = np.zeros(n_seeds)
    train_returns: list[list[float]] = [[] for _ in seeds]
    evals: list[list[tuple[int, float]]] = [[] for _ in seeds]
    update_s, start = 0.0, time.perf_counter()
    batch_size = h["batch_size"]

    def record_eval(step: int) -> None:
        for i, value in enumerate(evaluate(learner, eval_envs, eval_settings["n_eval_episodes"], seeds)):
            evals[i].append((step, float(value)))

    for step in range(1, int(total_timesteps) + 1):
        if step - 1 < h["learning_starts"]:
            actions = [int(rng.integers(n_actions)) for rng in rngs]
        else:
            probabilities = learner.policy_probabilities(torch.as_tensor(obs)[:, None, :])[:, 0].numpy()
            actions = [_softmax_sample(probabilities[i], rngs[i]) for i in range(n_seeds)]
        for i, env in enumerate(envs):
            next_obs, reward, terminated, truncated, _ = env.step(actions[i])
            buffers[i].add(obs[i], actions[i], reward, next_obs, float(terminated))
            returns_now[i] += reward
            if terminated or truncated:
                train_returns[i].append(float(returns_now[i]))
                returns_now[i] = 0.0
                next_obs, _ = env.reset()
            obs[i] = next_obs
        if step >= h["learning_starts"]:
            started = time.perf_counter()
            for _ in range(h["updates_per_step"]):
                samples = [buffer.sample(batch_size, rng) for buffer, rng in zip(buffers, rngs)]
                learner.update(stack_batches(samples))
            update_s += time.perf_counter() - started
        if eval_settings["eval_every"] and step % eval_settings["eval_every"] == 0:
            record_eval(step)
    if not evals[0] or evals[0][-1][0] != int(total_timesteps):
        record_eval(int(total_timesteps))
    wall_s = time.perf_counter() - start
    results = [{"seed": s, "eval": evals[i], "final_return": evals[i][-1][1], "train_episode_returns": train_returns[i],
                "updates": learner.updates} for i, s in enumerate(seeds)]
    results[0].update(wall_s=round(wall_s, 3), update_s=round(update_s, 3),
                      ms_per_update=round(1000 * update_s / max(learner.updates, 1), 3))
    return results


def stack_batches(samples: Sequence[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Per-seed replay samples (``ReplayBuffer.sample``) as one Q batch with a leading seed axis."""
    def stacked(key: str, dtype: torch.dtype) -> torch.Tensor:
        return torch.as_tensor(np.stack([s[key] for s in samples]), dtype=dtype)

    terminated = stacked("terminated", torch.float32)
    return {"obs": stacked("obs", torch.float32), "actions": stacked("actions", torch.int64),
            "rewards": stacked("rewards", torch.float32), "next_obs": stacked("next_obs", torch.float32),
            "continuation": 1.0 - terminated, "weights": torch.ones_like(terminated)}
