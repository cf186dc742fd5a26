"""N seeds of ``er_dqn`` or ``model_dqn`` trained together in one process with vectorised parameters
(torch.func).

The N Q-networks (their target networks, and for ``model_dqn`` the learned models) are stacked with
``torch.func.stack_module_state``: every parameter gets a leading seed axis. Forward passes and the TD
loss run once for all seeds through batched matrix products over the seed axis (:func:`stacked_mlp`:
what ``torch.func.functional_call`` under ``torch.vmap`` computes, without its Python overhead per call,
which on small networks cost more than the N separate forward passes it replaces); one AdamW step on
the stacked tensors is exactly N independent AdamW steps (AdamW is element-wise), and the summed loss
gives each seed the gradient of its own loss. Every seed is a single-seed agent
(:class:`agents.model_based.agents.ERDQN`, :class:`~agents.model_based.agents.ModelDQN`) built by its
own constructor, whose env, replay buffer, random generator and initial weights it keeps;
``model_dqn``'s imagined rollouts of all seeds are one batched rollout (one shared torch generator for
their draws). Training runs on :class:`agents.loop.IterationLoop`, so callbacks, the progress bar and
the NaN guard work as for every other agent.

:func:`train_seeds` is the entry point:
``train_seeds("rlkit/PanFlute-v0", n_seeds=5, total_timesteps=20_000)``.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import stack_module_state

from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.utils import polyak_update

from agents.loop import HostLogging, IterationLoop, as_callback
from agents.model_based.agents import ERDQN, ModelDQN, ReplayDQN, softmax_sample
from agents.model_based.buffer import ReplayBuffer
from agents.model_based.learner import DQNLearner, adamw
from agents.model_based.models import LearnedModel, imagine, transition_nll


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
        self.params = stacked_copies([l.q for l in learners])
        self.target_params = {k: v.detach() for k, v in stacked_copies([l.target_q for l in learners]).items()}
        self.optimizer = adamw(list(self.params.values()), learning_rate)

    # -- forward --------------------------------------------------------------------------
    def q_values(self, obs: torch.Tensor, target: bool = False) -> torch.Tensor:
        """``Q_i(obs[i], .)`` for every seed i: obs (N, B, obs_dim) -> (N, B, n_actions)."""
        return stacked_mlp(self.target_params if target else self.params, "net", obs)

    @torch.no_grad()
    def policy_probabilities(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.q_values(obs) / self.temperature, dim=-1)

    @torch.no_grad()
    def sample_actions(self, obs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Softmax-policy actions for obs (N, B, obs_dim) -> (N, B)."""
        probabilities = self.policy_probabilities(obs)
        return torch.multinomial(probabilities.flatten(0, 1), 1, generator=generator)[:, 0].view(probabilities.shape[:2])

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
            polyak_update(self.params.values(), self.target_params.values(), 1.0)
        return losses.detach().cpu().numpy()

    def seed_state_dict(self, i: int, target: bool = False) -> dict[str, torch.Tensor]:
        """Seed i's Q (or target) weights as a :class:`QNetwork` state dict."""
        source = self.target_params if target else self.params
        return {name: value[i].detach().clone() for name, value in source.items()}


def stacked_copies(modules: Sequence[torch.nn.Module]) -> dict[str, torch.Tensor]:
    """Copies of the modules' parameters stacked along a leading seed axis (leaf tensors that require
    grad), named as in the modules' state dicts."""
    params, _ = stack_module_state([copy.deepcopy(m) for m in modules])
    return {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}


def stacked_mlp(params: dict[str, torch.Tensor], prefix: str, x: torch.Tensor) -> torch.Tensor:
    """The :func:`agents.model_based.networks.mlp` named ``prefix`` for every seed at once: x (N, B, in)
    -> (N, B, out), linear layers as batched products with the stacked weights, ELU between them."""
    layers = sorted(int(name[len(prefix) + 1:].split(".")[0]) for name in params
                    if name.startswith(prefix + ".") and name.endswith(".weight"))
    for position, index in enumerate(layers):
        weight, bias = params[f"{prefix}.{index}.weight"], params[f"{prefix}.{index}.bias"]
        x = torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))
        if position < len(layers) - 1:
            x = F.elu(x)
    return x


class StackedLearnedModel:
    """N :class:`LearnedModel` s as one, with the single model's losses (:func:`transition_nll`) and
    rollout interface over tensors that lead with the seed axis."""

    def __init__(self, models: Sequence[LearnedModel], learning_rate: float) -> None:
        self.params = stacked_copies([m.net for m in models])
        self.optimizer = adamw(list(self.params.values()), learning_rate)
        self.n_actions = models[0].net.n_actions
        self.generator: torch.Generator | None = None

    def forward(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """:meth:`TransitionModel.forward` for every seed: obs (N, B, obs_dim), actions (N, B)."""
        x = torch.cat([obs, F.one_hot(actions.long(), self.n_actions).to(obs.dtype)], dim=-1)
        reward = stacked_mlp(self.params, "reward", x)
        return (reward[..., 0], reward[..., 1].clamp(-10.0, 5.0), stacked_mlp(self.params, "termination", x)[..., 0],
                stacked_mlp(self.params, "next_obs", x))

    def losses(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per-seed losses (N,) of :func:`transition_nll`."""
        return torch.vmap(transition_nll)(self.forward(batch["obs"], batch["actions"]), batch)

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        """One AdamW step for every seed on its summed losses; the per-seed losses before the step."""
        losses = self.losses(batch)
        self.optimizer.zero_grad(set_to_none=True)
        sum(losses.values()).sum().backward()
        self.optimizer.step()
        return {name: value.detach().cpu().numpy() for name, value in losses.items()}

    def start(self, obs: torch.Tensor) -> None:
        """Nothing to set up: the model steps from any observation."""

    @torch.no_grad()
    def step(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean, _, termination, next_logits = self.forward(obs, actions)
        return mean, 1.0 - torch.sigmoid(termination), torch.bernoulli(torch.sigmoid(next_logits),
                                                                        generator=self.generator)

    def seed_state_dict(self, i: int) -> dict[str, torch.Tensor]:
        """Seed i's model weights as a :class:`TransitionModel` state dict."""
        return {name: value[i].detach().clone() for name, value in self.params.items()}


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


class SeedEvaluation(BaseCallback):
    """Every seed's mean greedy return (:func:`evaluate`) every ``every`` steps (None: only at the end)
    and at the end of training, at the host's evaluation point of the loop (a rollout start).
    ``evaluations[i]`` is seed i's [(step, return)]."""

    def __init__(self, make_env: Callable[[], Any], every: int | None, n_episodes: int) -> None:
        super().__init__()
        self.make_env, self.every, self.n_episodes = make_env, every, n_episodes
        self.envs: list[Any] = []
        self.evaluations: list[list[tuple[int, float]]] = []

    def _init_callback(self) -> None:
        self.envs = [self.make_env() for _ in self.model.seeds]
        self.evaluations = [[] for _ in self.model.seeds]

    def _evaluate(self) -> None:
        step = int(self.model.num_timesteps)
        if self.evaluations[0] and self.evaluations[0][-1][0] == step:
            return
        for i, value in enumerate(evaluate(self.model.learner, self.envs, self.n_episodes, self.model.seeds)):
            self.evaluations[i].append((step, float(value)))

    def _on_rollout_start(self) -> None:
        if self.every and self.model.num_timesteps % self.every == 0:
            self._evaluate()

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        self._evaluate()


class StackedSeeds(HostLogging):
    """N single-seed agents of one class (:class:`ERDQN` or :class:`ModelDQN`, built by their own
    constructor, so with their initial weights, replay buffers and random generators) trained together:
    their networks stacked (:class:`StackedDQNLearner`, :class:`StackedLearnedModel`), one env per seed.

    ``learn`` runs :class:`agents.loop.IterationLoop`: an iteration is one env step of every seed and,
    from ``learning_starts`` on, ``updates_per_step`` stacked updates; ``num_timesteps`` counts the env
    steps of each seed. The callback sees the agent as ``self.model`` (``seeds``, ``learner``).
    """

    STACKABLE: ClassVar[tuple[type[ReplayDQN], ...]] = (ERDQN, ModelDQN)

    def __init__(self, agent_class: type[ReplayDQN], make_env: Callable[[], Any], seeds: Sequence[int],
                 **hyperparameters: Any) -> None:
        if agent_class not in self.STACKABLE:
            raise ValueError(f"stacked training takes {', '.join(c.name for c in self.STACKABLE)} (got "
                             f"{getattr(agent_class, 'name', agent_class)!r}; perfect_model_dqn's rollouts step one "
                             f"simulator per rollout, which stacking does not speed up)")
        if not seeds:
            raise ValueError("stacked training needs at least one seed")
        self.seeds = [int(s) for s in seeds]
        self.agents = [agent_class(env=make_env(), seed=s, device="cpu", **hyperparameters) for s in self.seeds]
        self.hyperparameters = h = self.agents[0].hyperparameters
        self.n_actions = self.agents[0].n_actions
        self.envs = [agent.env for agent in self.agents]
        self.learner = StackedDQNLearner([agent.learner for agent in self.agents], h["learning_rate"])
        buffers, rngs = [a.replay_buffer for a in self.agents], [a.rng for a in self.agents]
        self.rngs = rngs  # exploration and replay sampling, per seed
        self.q_batch = _replay_batches(buffers, rngs, h["batch_size"])
        if agent_class is ModelDQN:
            self.learned_model = StackedLearnedModel([agent.model for agent in self.agents], h["learning_rate"])
            self.learned_model.generator = torch.Generator().manual_seed(self.seeds[0])  # one for all seeds' draws
            self.q_batch = _imagined_batches(self.learned_model, self.learner, buffers, rngs, h)
        self.num_timesteps = 0
        self.update_s = 0.0
        self.train_episode_returns: list[list[float]] = [[] for _ in self.seeds]
        self._obs: np.ndarray | None = None
        self._returns_now = np.zeros(len(self.seeds))

    def learn(self, total_timesteps: int, callback: Any = None, progress_bar: bool = False,
              reset_num_timesteps: bool = True) -> StackedSeeds:
        if reset_num_timesteps:
            self._obs = None
        loop = IterationLoop(self, total_timesteps, callback, progress_bar, reset_num_timesteps, "train")
        if self._obs is None:
            self._obs = np.stack([env.reset(seed=s)[0] for env, s in zip(self.envs, self.seeds)]).astype(np.float32)
        while loop.remaining > 0:
            if not loop.after_iteration(1, self._iteration()):
                break
        loop.finish()
        return self

    def _iteration(self) -> dict[str, float]:
        """Every seed steps its env once (and its buffer keeps the transition), then the updates."""
        h, obs = self.hyperparameters, self._obs
        if self.num_timesteps < h["learning_starts"]:
            actions = [int(rng.integers(self.n_actions)) for rng in self.rngs]
        else:
            probabilities = self.learner.policy_probabilities(torch.as_tensor(obs)[:, None, :])[:, 0].numpy()
            actions = [int(softmax_sample(probabilities[i:i + 1], rng)[0]) for i, rng in enumerate(self.rngs)]
        for i, (env, agent) in enumerate(zip(self.envs, self.agents)):
            next_obs, reward, terminated, truncated, _ = env.step(actions[i])
            agent.replay_buffer.add(obs[i], actions[i], reward, next_obs, float(terminated))
            self._returns_now[i] += reward
            if terminated or truncated:
                self.train_episode_returns[i].append(float(self._returns_now[i]))
                self._returns_now[i] = 0.0
                next_obs, _ = env.reset()
            obs[i] = next_obs
        if self.num_timesteps + 1 < h["learning_starts"]:
            return {}
        started = time.perf_counter()
        losses = [self.learner.update(self.q_batch()) for _ in range(h["updates_per_step"])]
        self.update_s += time.perf_counter() - started
        return {"loss": float(np.mean(losses)), "n_updates": self.learner.updates}


def train_seeds(env_id: str, n_seeds: int, total_timesteps: int, agent: type[ReplayDQN] | str = "er_dqn",
                seeds: Sequence[int] | None = None, env_kwargs: dict[str, Any] | None = None,
                eval_every: int | None = None, n_eval_episodes: int = 8, callback: Any = None,
                progress_bar: bool = False, **hyperparameters: Any) -> list[dict[str, Any]]:
    """Train ``n_seeds`` ``agent`` s (:class:`ERDQN` or :class:`ModelDQN`, the class or its name) together
    for ``total_timesteps`` env steps each on the Gymnasium env ``env_id`` made with ``env_kwargs`` (one
    env per seed, reset with its seed); the model and Q updates of all seeds are each one vectorised step,
    the imagined rollouts one batched rollout. ``hyperparameters`` are the agent's constructor arguments;
    every seed's greedy policy is evaluated every ``eval_every`` steps (None: only at the end) over
    ``n_eval_episodes`` episodes. ``callback`` and ``progress_bar`` as in an agent's ``learn``. Returns
    one dict per seed: its seed, ``eval`` ([(step, mean greedy return)]), ``final_return``,
    ``train_episode_returns`` and ``updates``; the first dict also carries the shared wall times."""
    import gymnasium as gym

    import envs  # noqa: F401  (registers rlkit/<Name>-v0)

    if isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or n_seeds < 1:
        raise ValueError(f"n_seeds must be an integer >= 1 (got {n_seeds!r})")
    seeds = list(range(n_seeds)) if seeds is None else [int(s) for s in seeds]
    if len(seeds) != n_seeds:
        raise ValueError(f"seeds has {len(seeds)} entries for n_seeds={n_seeds}")
    agent_class = next((c for c in StackedSeeds.STACKABLE if agent in (c, c.name)), agent)
    env_kwargs = dict(env_kwargs or {})

    def make_env() -> Any:
        return gym.make(env_id, **env_kwargs)

    start = time.perf_counter()
    stacked = StackedSeeds(agent_class, make_env, seeds, **hyperparameters)
    evaluation = SeedEvaluation(make_env, eval_every, n_eval_episodes)
    stacked.learn(total_timesteps, callback=[evaluation, as_callback(callback)], progress_bar=progress_bar)
    wall_s = time.perf_counter() - start
    updates = stacked.learner.updates
    results = [{"seed": s, "eval": evaluation.evaluations[i], "final_return": evaluation.evaluations[i][-1][1],
                "train_episode_returns": stacked.train_episode_returns[i], "updates": updates}
               for i, s in enumerate(seeds)]
    results[0].update(wall_s=round(wall_s, 3), update_s=round(stacked.update_s, 3),
                      ms_per_update=round(1000 * stacked.update_s / max(updates, 1), 3))
    return results


def _replay_batches(buffers: Sequence[ReplayBuffer], rngs: Sequence[np.random.Generator], n: int) -> Any:
    """A function giving every seed's ``n`` replayed transitions as one stacked Q batch."""
    return lambda: stack_batches([buffer.sample(n, rng) for buffer, rng in zip(buffers, rngs)])


def _imagined_batches(model: StackedLearnedModel, learner: StackedDQNLearner, buffers: Sequence[ReplayBuffer],
                      rngs: Sequence[np.random.Generator], h: dict[str, Any]) -> Any:
    """A function doing what :meth:`ModelDQN.q_batch` does, for every seed at once: fit the models on
    ``model_batch_size`` replayed transitions, roll out from replayed observations, mix in replayed ones."""
    n_imagined = round(h["imagined_share"] * h["batch_size"])
    n_real = h["batch_size"] - n_imagined
    n_rollouts = h["n_rollouts"] or math.ceil(n_imagined / h["rollout_length"])

    def q_batch() -> dict[str, torch.Tensor]:
        if n_imagined == 0:
            return stack_batches([buffer.sample(n_real, rng) for buffer, rng in zip(buffers, rngs)])
        samples = [buffer.sample(h["model_batch_size"], rng) for buffer, rng in zip(buffers, rngs)]
        model.update({key: torch.as_tensor(np.stack([s[key] for s in samples]),
                                           dtype=torch.int64 if key == "actions" else torch.float32)
                      for key in samples[0]})
        starts = torch.as_tensor(np.stack([buffer.sample_obs(n_rollouts, rng) for buffer, rng in zip(buffers, rngs)]),
                                 dtype=torch.float32)
        rollouts = imagine(model, learner, starts, h["rollout_length"], model.generator)
        imagined = {key: value[:, :n_imagined] for key, value in rollouts.items()}
        if n_real == 0:
            return imagined
        real = stack_batches([buffer.sample(n_real, rng) for buffer, rng in zip(buffers, rngs)])
        return {key: torch.cat([imagined[key], real[key].to(imagined[key].dtype)], dim=1) for key in imagined}

    return q_batch


def stack_batches(samples: Sequence[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Per-seed replay samples (``ReplayBuffer.sample``) as one Q batch with a leading seed axis."""
    def stacked(key: str, dtype: torch.dtype) -> torch.Tensor:
        return torch.as_tensor(np.stack([s[key] for s in samples]), dtype=dtype)

    terminated = stacked("terminated", torch.float32)
    return {"obs": stacked("obs", torch.float32), "actions": stacked("actions", torch.int64),
            "rewards": stacked("rewards", torch.float32), "next_obs": stacked("next_obs", torch.float32),
            "continuation": 1.0 - terminated, "weights": torch.ones_like(terminated)}
