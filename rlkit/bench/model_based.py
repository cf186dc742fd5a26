"""``rlkit bench model_based``: experience replay vs a learned model vs the perfect model (Young et al.,
ICML 2023) in the low-data regime, on ProcMaze, ButtonGrid and PanFlute at CPU-feasible sizes.

Every (env, agent, seed) is one job in a worker process of one thread: the agent (``er_dqn``,
``model_dqn`` or ``perfect_model_dqn``, all with the same Q-learner settings) learns in chunks of
``eval_every`` env steps, and after each chunk its greedy policy is evaluated on ``n_eval_episodes``
fixed evaluation episodes (the same env seeds for every agent and seed). The table holds per env and
agent the mean and standard error over seeds of the final evaluation return and of the mean over the
curve (an area under the learning curve), the update cost, and whether the learned model beats ER.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from rlkit import catalogue
from rlkit.bench.report import machine_description, write_table
from rlkit.threads import one_thread_worker

AGENTS = ("er_dqn", "model_dqn", "perfect_model_dqn")  # the paper's comparison, run by default
ALLOWED_AGENTS = (*AGENTS, "latent_model_dqn")
ENVS = ("proc_maze", "button_grid", "pan_flute")
EVAL_SEED_BASE = 50_000  # evaluation episodes reset with seeds EVAL_SEED_BASE + e: the same for every agent
COLOURS = {"er_dqn": "#4878a8", "model_dqn": "#d8703a", "perfect_model_dqn": "#4a9a52", "latent_model_dqn": "#8a5aa8",
           "random": "grey"}
COLUMNS = ["env", "agent", "seeds", "final_return", "final_sem", "curve_mean", "curve_sem", "random_return",
           "ms_per_update", "wall_s_per_seed", "status"]


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum} (got {value!r})")
    return value


def env_kwargs(env: str, maze_size: int, button_grid_size: int, buttons: int, pipes: int) -> dict[str, int]:
    return {"proc_maze": {"grid_size": maze_size}, "button_grid": {"grid_size": button_grid_size, "buttons": buttons},
            "pan_flute": {"pipes": pipes}}[env]


def env_id(env: str) -> str:
    """The Gymnasium id of an env short name (its config in rlkit/conf/env)."""
    return catalogue.entry_config("env", env)["id"]


def make_env(env: str, kwargs: dict[str, Any]) -> Any:
    import gymnasium as gym

    import envs  # noqa: F401  (registers rlkit/<Name>-v0)

    return gym.make(env_id(env), **kwargs)


def agent_class(agent: str) -> type:
    """The class an agent config (rlkit/conf/agent) names."""
    return catalogue.resolve_factory(catalogue.entry_config("agent", agent)["factory"])


def evaluate(policy: Any, env: Any, n_episodes: int) -> float:
    """Mean return of ``policy(obs) -> action`` over ``n_episodes`` episodes (100 steps at most, the
    envs' time limit) reset with seeds ``EVAL_SEED_BASE + e``."""
    total = 0.0
    for episode in range(n_episodes):
        obs, _ = env.reset(seed=EVAL_SEED_BASE + episode)
        done = False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(policy(obs))
            total += float(reward)
            done = terminated or truncated
    return total / n_episodes


def random_return(env_name: str, kwargs: dict[str, Any], n_episodes: int) -> float:
    """The uniform random policy's evaluation return (the curves' floor)."""
    env = make_env(env_name, kwargs)
    rng = np.random.default_rng(0)
    return evaluate(lambda obs: int(rng.integers(env.action_space.n)), env, n_episodes)


def agent_job(job: dict[str, Any]) -> dict[str, Any]:
    """Train one agent on one env with one seed; its evaluation curve and cost."""
    started = time.perf_counter()
    env, eval_env = make_env(job["env"], job["env_kwargs"]), make_env(job["env"], job["env_kwargs"])
    agent = agent_class(job["agent"])(env=env, seed=job["seed"], device="cpu", **job["settings"])

    def greedy(obs: np.ndarray) -> int:
        return int(agent.predict(obs, deterministic=True)[0])

    curve = []
    while agent.num_timesteps < job["total_timesteps"]:
        chunk = min(job["eval_every"], job["total_timesteps"] - agent.num_timesteps)
        agent.learn(chunk, reset_num_timesteps=agent.num_timesteps == 0)
        curve.append((int(agent.num_timesteps), evaluate(greedy, eval_env, job["n_eval_episodes"])))
    result = {**{k: job[k] for k in ("env", "agent", "seed")}, "curve": curve,
              "ms_per_update": 1000 * agent.training_wall_time_s / max(agent.learner.updates, 1),
              "updates": agent.learner.updates, "wall_s": time.perf_counter() - started}
    if job.get("out"):
        Path(job["out"]).parent.mkdir(parents=True, exist_ok=True)
        Path(job["out"]).write_text(json.dumps(result))
    return result


# relative cost per update (measured): the long jobs start first
COST = {"er_dqn": 1.0, "perfect_model_dqn": 4.0, "model_dqn": 6.0, "latent_model_dqn": 8.0}


def run_jobs(jobs: list[dict[str, Any]], workers: int) -> list[dict[str, Any]]:
    if workers <= 1 or len(jobs) <= 1:
        return [agent_job(job) for job in jobs]
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    order = sorted(range(len(jobs)), key=lambda i: -COST[jobs[i]["agent"]])  # long jobs first
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                             initializer=one_thread_worker) as pool:
        futures = {i: pool.submit(agent_job, jobs[i]) for i in order}
        return [futures[i].result() for i in range(len(jobs))]


def _mean_sem(values: list[float]) -> tuple[float, float]:
    array = np.asarray(values, dtype=float)
    sem = float(array.std(ddof=1) / math.sqrt(len(array))) if len(array) > 1 else math.nan
    return float(array.mean()), sem


def summarise(results: list[dict[str, Any]], randoms: dict[str, float]) -> list[dict[str, Any]]:
    """One row per (env, agent): mean and standard error over seeds of the final evaluation return and
    of the curve's mean (every evaluation point counted once)."""
    rows = []
    for env in dict.fromkeys(r["env"] for r in results):
        for agent in dict.fromkeys(r["agent"] for r in results if r["env"] == env):
            own = [r for r in results if r["env"] == env and r["agent"] == agent]
            final = _mean_sem([r["curve"][-1][1] for r in own])
            curve = _mean_sem([float(np.mean([value for _, value in r["curve"]])) for r in own])
            rows.append({"env": env, "agent": agent, "seeds": len(own), "final_return": final[0], "final_sem": final[1],
                         "curve_mean": curve[0], "curve_sem": curve[1], "random_return": randoms[env],
                         "ms_per_update": float(np.mean([r["ms_per_update"] for r in own])),
                         "wall_s_per_seed": float(np.mean([r["wall_s"] for r in own])), "status": "ok"})
    return rows


def compare(rows: list[dict[str, Any]], first: str, second: str, key: str = "curve_mean") -> dict[str, str]:
    """Per env: whether ``first`` is above, below or level with ``second`` on ``key`` (a difference
    beyond two standard errors of the difference counts)."""
    verdicts = {}
    sem_key = key.replace("_mean", "_sem").replace("_return", "_sem")
    for env in dict.fromkeys(r["env"] for r in rows):
        by_agent = {r["agent"]: r for r in rows if r["env"] == env}
        if first not in by_agent or second not in by_agent:
            continue
        a, b = by_agent[first], by_agent[second]
        difference = a[key] - b[key]
        margin = 2 * math.sqrt(np.nan_to_num(a[sem_key]) ** 2 + np.nan_to_num(b[sem_key]) ** 2)
        verdict = "above" if difference > margin else ("below" if difference < -margin else "level")
        verdicts[env] = f"{verdict} ({a[key]:.3g} vs {b[key]:.3g}, difference {difference:+.3g}, 2 SE {margin:.2g})"
    return verdicts


def claims(rows: list[dict[str, Any]]) -> list[str]:
    """The paper's claims read off the rows."""
    lines = []
    for first, second, claim in (("model_dqn", "er_dqn", "the learned model beats experience replay"),
                                 ("perfect_model_dqn", "model_dqn", "the perfect model is at least the learned model"),
                                 ("perfect_model_dqn", "er_dqn", "the perfect model beats experience replay")):
        for key, label in (("curve_mean", "area under the curve"), ("final_return", "final return")):
            verdicts = compare(rows, first, second, key)
            if verdicts:
                lines.append(f"- {claim} ({label}, {first} vs {second}): "
                             + "; ".join(f"{env}: {text}" for env, text in verdicts.items()))
    return lines or ["- fewer than two agents ran: no claim is checked."]


def plot_curves(path: Path, results: list[dict[str, Any]], randoms: dict[str, float], titles: dict[str, str]) -> None:
    """One panel per env: the mean evaluation return over env steps per agent, +- one standard error."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = list(dict.fromkeys(r["env"] for r in results))
    figure, axes = plt.subplots(1, len(envs), figsize=(4.6 * len(envs), 3.8), squeeze=False)
    for axis, env in zip(axes[0], envs):
        for agent in dict.fromkeys(r["agent"] for r in results if r["env"] == env):
            curves = np.array([[v for _, v in r["curve"]] for r in results if r["env"] == env and r["agent"] == agent])
            steps = [s for s, _ in next(r for r in results if r["env"] == env and r["agent"] == agent)["curve"]]
            mean = curves.mean(axis=0)
            sem = curves.std(axis=0, ddof=1) / math.sqrt(len(curves)) if len(curves) > 1 else np.zeros_like(mean)
            axis.plot(steps, mean, color=COLOURS.get(agent), label=f"{agent} ({len(curves)} seeds)")
            axis.fill_between(steps, mean - sem, mean + sem, color=COLOURS.get(agent), alpha=0.2)
        axis.axhline(randoms[env], color=COLOURS["random"], linestyle="--", label="random policy")
        axis.set_title(titles[env])
        axis.set_xlabel("env steps")
        axis.set_ylabel("greedy evaluation return")
    axes[0][0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def run(
    out_dir: Path,
    envs: list = ["proc_maze", "button_grid", "pan_flute"],  # noqa: B006
    agents: list = list(AGENTS),  # noqa: B006
    seeds: int = 5,
    seed: int = 0,
    total_timesteps: int = 3000,
    learning_starts: int = 500,
    updates_per_step: int = 10,
    hidden: list = [64, 64],  # noqa: B006
    learning_rate: float = 3e-4,
    temperature: float = 0.03,
    eval_every: int = 250,
    n_eval_episodes: int = 16,
    maze_size: int = 4,
    button_grid_size: int = 4,
    buttons: int = 2,
    pipes: int = 5,
    workers: int = 2,
    plot: bool = True,
) -> None:
    """Train every agent on every env with ``seeds`` seeds from ``seed`` (the paper's low-data regime:
    ``updates_per_step`` 10, target refresh every 10 updates; other settings the agents' defaults)."""
    for name, values, allowed in (("envs", envs, ENVS), ("agents", agents, ALLOWED_AGENTS)):
        unknown = [v for v in values if v not in allowed]
        if unknown or not values:
            raise ValueError(f"{name}: unknown or none {unknown or list(values)}; allowed: {', '.join(allowed)}")
    for name, value, minimum in (("seeds", seeds, 1), ("seed", seed, 0), ("total_timesteps", total_timesteps, 1),
                                 ("learning_starts", learning_starts, 0), ("updates_per_step", updates_per_step, 1),
                                 ("eval_every", eval_every, 1), ("n_eval_episodes", n_eval_episodes, 1),
                                 ("workers", workers, 1)):
        _check_int(name, value, minimum)
    out_dir = Path(out_dir)
    settings = {"hidden": list(hidden), "learning_starts": learning_starts, "updates_per_step": updates_per_step,
                "learning_rate": learning_rate, "temperature": temperature}
    sizes = {env: env_kwargs(env, maze_size, button_grid_size, buttons, pipes) for env in envs}
    for env in envs:  # bad settings and sizes fail here, before any worker starts
        for agent in agents:
            agent_class(agent)(env=make_env(env, sizes[env]), device="cpu", **settings)
    jobs = [{"env": env, "agent": agent, "seed": seed + k, "env_kwargs": sizes[env], "settings": settings,
             "total_timesteps": total_timesteps, "eval_every": eval_every, "n_eval_episodes": n_eval_episodes,
             "out": str(out_dir / "runs" / env / agent / f"seed{seed + k}.json")}
            for env in envs for agent in agents for k in range(seeds)]
    started = time.perf_counter()
    results = run_jobs(jobs, workers)
    elapsed = time.perf_counter() - started
    randoms = {env: random_return(env, sizes[env], n_eval_episodes) for env in envs}
    rows = summarise(results, randoms)
    titles = {env: f"{env} ({', '.join(f'{k}={v}' for k, v in sizes[env].items())})" for env in envs}
    notes = (f"# model_based: experience replay vs learned model vs perfect model ({machine_description()})\n\n"
             f"Low-data regime (Young et al. 2023): {updates_per_step} updates per env step from step "
             f"{learning_starts}, target refresh every 10 updates, 320 transitions per Q update (ER: replayed; "
             f"model: 32 imagined 10-step rollouts under the softmax policy, model fitted on 32 replayed transitions "
             f"per update; perfect model: the same rollouts on the true simulator), Q-network and model networks "
             f"{list(hidden)} ELU (the paper: 3 x 200), AdamW step size {learning_rate:g}, softmax temperature "
             f"{temperature:g} "
             f"(for every agent), gamma 0.9; "
             f"{total_timesteps} env steps per run (the paper: 100k), {seeds} seeds ({seed}..{seed + seeds - 1}). "
             f"Envs: {'; '.join(titles.values())}. Greedy evaluation every {eval_every} steps over "
             f"{n_eval_episodes} episodes of at most 100 steps (env seeds {EVAL_SEED_BASE}+e, the same for every run). "
             f"final_return: the last evaluation; curve_mean: the mean over all evaluations of a run (area under "
             f"the curve / steps); _sem: standard error over seeds; random_return: the uniform random policy. "
             f"ms_per_update: one thread. Wall time of the suite {elapsed:.0f} s with {workers} worker(s).\n\n"
             f"The paper's claims, checked per env (a difference beyond two standard errors counts):\n"
             + "\n".join(claims(rows)))
    write_table(out_dir, rows, notes=notes)
    (out_dir / "curves.json").write_text(json.dumps(results))
    if plot:
        plot_curves(out_dir / "curves.png", results, randoms, titles)
    print((out_dir / "results.md").read_text())


def time_seeds(agent: str, n_seeds: int, hidden: list, total_timesteps: int, learning_starts: int,
               env: str = "pan_flute") -> dict[str, Any]:
    """Seconds of training ``n_seeds`` seeds as separate single-seed agents one after another, and as one
    stacked run (:func:`agents.model_based.multiseed.train_seeds`), same settings, one thread: the whole
    run and its updates alone (the stacked run's one final evaluation is in its whole-run time)."""
    from agents.model_based.multiseed import train_seeds

    settings = {"hidden": list(hidden), "learning_starts": learning_starts}
    started, separate_update_s = time.perf_counter(), 0.0
    for seed in range(n_seeds):
        single = agent_class(agent)(env=make_env(env, {}), seed=seed, device="cpu", **settings)
        single.learn(total_timesteps)
        separate_update_s += single.training_wall_time_s
    separate_s = time.perf_counter() - started
    started = time.perf_counter()
    results = train_seeds(env_id(env), n_seeds, total_timesteps, agent=agent_class(agent), **settings)
    stacked_s = time.perf_counter() - started
    return {"agent": agent, "hidden": "x".join(map(str, hidden)), "n_seeds": n_seeds,
            "updates_per_seed": results[0]["updates"], "separate_s": separate_s, "stacked_s": stacked_s,
            "separate_update_s": separate_update_s, "stacked_update_s": results[0]["update_s"],
            "update_ratio": separate_update_s / results[0]["update_s"]}


def run_seeds(
    out_dir: Path,
    agents: list = ["er_dqn", "model_dqn"],  # noqa: B006
    n_seeds: list = [1, 5],  # noqa: B006
    hiddens: list = [[64, 64], [200, 200, 200]],  # noqa: B006
    total_timesteps: int = 150,
    learning_starts: int = 100,
) -> None:
    """``rlkit bench model_based_seeds``: N seeds as N separate runs vs one stacked run (torch.func), per
    agent, network size and N, side by side in one process of one thread."""
    from rlkit.threads import limit_torch_threads

    limit_torch_threads(1)
    for name in agents:
        if name not in ("er_dqn", "model_dqn"):
            raise ValueError(f"agents: {name!r} has no stacked form; allowed: er_dqn, model_dqn")
    for n in n_seeds:
        _check_int("n_seeds", n, 1)
    _check_int("learning_starts", learning_starts, 0)
    if _check_int("total_timesteps", total_timesteps, 1) <= learning_starts:
        raise ValueError(f"total_timesteps ({total_timesteps}) must exceed learning_starts ({learning_starts}): "
                         f"the timing is of updates")
    for agent in agents:  # warm-up: first calls (imports, allocator) are not timed
        time_seeds(agent, 1, [8], learning_starts + 2, learning_starts)
    rows = [time_seeds(agent, n, list(hidden), total_timesteps, learning_starts)
            for agent in agents for hidden in hiddens for n in n_seeds]
    notes = (f"# model_based_seeds: N seeds separately vs stacked ({machine_description()})\n\n"
             f"pan_flute, {total_timesteps} env steps per seed, learning from step {learning_starts} with 10 updates "
             f"per step (the low-data regime), the agents' other defaults; separate_s: N single-seed agents trained "
             f"one after another; stacked_s: train_seeds with the N seeds' parameters stacked (torch.func "
             f"stack_module_state; batched matrix products over the seed axis), its final evaluation included; "
             f"_update_s: the time in updates alone; update_ratio = separate_update_s / stacked_update_s. "
             f"Measured side by side in one process, one thread.")
    write_table(out_dir, rows, notes=notes)
    print((out_dir / "results.md").read_text())
