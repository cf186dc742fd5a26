"""Suite ``hybrid``: car tracking over friction switches -- the RoA planner (``agent=hybrid_roa``)
against LQR, MPC, a control-Lyapunov-function controller and SAC/PPO, on the same random roads.

Every agent is trained with ``rlkit train`` (the code path a user runs; the controllers only set up),
loaded back from its run directory and driven with ``predict(obs, deterministic=True)`` over the same
``roads`` evaluation roads: ``CarHybridEnv`` reset with seeds 10_000 + i (10 segments, speeds 3-30 m/s,
mixed friction); the planner drives them in the env with reference commands (same seeds, same roads).

Per agent (RL: per seed and their mean): valid_rate (share of roads never more than 3 m off the
centreline), rmse (mean of the per-road lateral RMSE), progress (mean share of the road driven),
drive_time_ratio (on completed roads: the drive's duration over the road's nominal duration
sum(length / speed); a planner that slows down shows here), ms_per_step (wall time of ``predict`` per
control step over all drives, one thread) and train_s (wall seconds of the training; see
:func:`train_seconds`). The notes check the source paper's claims against the rows
(``../shared/reference/control.md`` beside the repository, "Hybrid systems neural control with a
region-of-attraction planner").
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from rlkit.bench.report import bar_plot, machine_description, write_table
from rlkit.threads import one_thread_worker

EVAL_SEED_BASE = 10_000  # evaluation road i is CarHybridEnv().reset(seed=EVAL_SEED_BASE + i)
# agent -> env it is trained and driven in
AGENT_ENVS = {
    "hybrid_roa": "car_hybrid_planned",
    "hybrid_lqr": "car_hybrid",
    "hybrid_mpc": "car_hybrid",
    "hybrid_clf": "car_hybrid",
    "sac": "car_hybrid",
    "ppo": "car_hybrid",
}
RL_AGENTS = ("sac", "ppo")
CONTROLLERS = ("hybrid_lqr", "hybrid_mpc", "hybrid_clf")  # they do not learn: train_s is their set-up
PLANNER = "hybrid_roa"
EVAL_EPISODES = 1  # the host's end-of-training evaluation (kept short: it is part of the measured call)
COLUMNS = ["agent", "env", "seed", "train_steps", "roads", "valid_rate", "completed", "rmse", "progress",
           "drive_time_ratio", "ms_per_step", "train_s", "status"]
FRICTION_COLOURS = {"normal": "#404040", "icy": "#40a0e0"}


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def evaluation_env(env_name: str, n_segments: int) -> Any:
    from envs.hybrid.car_env import CarHybridEnv

    return CarHybridEnv(n_segments=n_segments, reference_commands=env_name == "car_hybrid_planned")


def drive_roads(agent: Any, env_name: str, roads: int, n_segments: int, keep_trajectory: int = 0) -> dict[str, Any]:
    """Drive evaluation roads 0..roads-1 with ``agent.predict``; per-road metrics, the predict time and
    the car's x-y on road ``keep_trajectory``."""
    env = evaluation_env(env_name, n_segments)
    per_road, predict_s, env_s, steps, trajectory = [], 0.0, 0.0, 0, None
    for road in range(roads):
        obs, info = env.reset(seed=EVAL_SEED_BASE + road)
        xy = [env.road.pose(info["s"], info["lateral_error"])[:2]]
        done = False
        road_steps = 0
        while not done:
            started = time.perf_counter()
            # a new road is a new episode for agents that keep plans between steps (MPC)
            action, _ = agent.predict(obs, episode_start=np.array([road_steps == 0]), deterministic=True)
            stepped = time.perf_counter()
            obs, _, terminated, truncated, info = env.step(action)
            predict_s += stepped - started
            env_s += time.perf_counter() - stepped
            road_steps += 1
            done = terminated or truncated
            if road == keep_trajectory:
                xy.append(env.road.pose(info["s"], info["lateral_error"])[:2])
        metrics = info["metrics"]
        nominal = sum(segment.length / segment.speed for segment in env.road.segments)
        completed = bool(truncated and not terminated)
        per_road.append({"valid": float(metrics["valid"]), "rmse": float(metrics["rmse"]),
                         "progress": float(metrics["progress"]), "completed": completed,
                         "time_ratio": road_steps * env.system.dt / nominal if completed else math.nan})
        steps += road_steps
        if road == keep_trajectory:
            trajectory = np.asarray(xy)
    return {"roads": per_road, "predict_s": predict_s, "env_s": env_s, "steps": steps, "trajectory": trajectory}


def summarise(drive: dict[str, Any]) -> dict[str, float]:
    roads = drive["roads"]
    ratios = [r["time_ratio"] for r in roads if r["completed"]]
    return {
        "roads": len(roads),
        "valid_rate": float(np.mean([r["valid"] for r in roads])),
        "completed": float(np.mean([r["completed"] for r in roads])),
        "rmse": float(np.mean([r["rmse"] for r in roads])),
        "progress": float(np.mean([r["progress"] for r in roads])),
        "drive_time_ratio": float(np.mean(ratios)) if ratios else math.nan,
        "ms_per_step": 1000.0 * drive["predict_s"] / max(drive["steps"], 1),
    }


def train_seconds(agent_name: str, measured_s: float, summary: dict[str, Any]) -> float:
    """The training's wall seconds: the agent's own figure when summary.json's ``timing`` has one
    (``train_s`` or ``setup_s``); for RL the whole ``rlkit train`` call (its one final evaluation
    episode included, about a second); for agents that do not learn from their steps (the controllers
    and the planner) the call less the host's acting loop and final evaluation (summary.json's
    ``wall_time_s``): what is left is building the agent, ``_before_learning`` and the run's files."""
    timing = summary.get("timing") or {}
    for key in ("train_s", "setup_s"):
        if isinstance(timing.get(key), (int, float)):
            return float(timing[key])
    if agent_name in RL_AGENTS:
        return measured_s
    return max(measured_s - float(summary.get("wall_time_s") or 0.0), 0.0)


def agent_job(job: dict[str, Any]) -> dict[str, Any]:
    """Train one agent with the rlkit host, load it from its run, drive the roads; runs in a worker."""
    from rlkit import catalogue
    from rlkit.config import compose
    from rlkit.errors import RunStopped
    from rlkit.threads import limit_torch_threads
    from rlkit.train import train

    limit_torch_threads(1)
    name, env_name = job["agent"], AGENT_ENVS[job["agent"]]
    row = {"agent": name, "env": env_name, "seed": job["seed"], "train_steps": job["steps"]}
    overrides = [f"env={env_name}", f"agent={name}", f"seed={job['seed']}", f"total_timesteps={job['steps']}",
                 "eval.every=0", f"eval.episodes={EVAL_EPISODES}", "checkpoint.every=0",
                 "checkpoint.replay_buffer=false", "progress_bar=false", "device=cpu", "threads=1",
                 f"env.kwargs.n_segments={job['n_segments']}", f"run_dir={job['run_dir']}"]
    cfg = compose(overrides)
    agent_class = catalogue.resolve_factory(cfg.agent.factory)
    import rlkit.callbacks  # noqa: F401  (imported before the clock starts: not part of any agent's time)
    import rlkit.environments  # noqa: F401
    started = time.perf_counter()
    try:
        summary = train(cfg, overrides, announce=lambda _: None)
    except RunStopped as stopped:  # a diverged learner is a result, not the end of the benchmark
        return {"row": {**row, "status": f"stopped: {stopped}"}, "trajectory": None}
    measured = time.perf_counter() - started
    agent = agent_class.load(Path(job["run_dir"]) / "checkpoints" / "latest" / "agent.zip", device="cpu")
    drive = drive_roads(agent, env_name, job["roads"], job["n_segments"])
    row.update(summarise(drive), train_s=train_seconds(name, measured, summary), status="ok")
    return {"row": row, "trajectory": drive["trajectory"]}


def _estimated_seconds(job: dict[str, Any]) -> float:
    """A job's rough cost on one thread of the 2-core development machine (for the order only):
    SAC ~30 and PPO ~450 steps/s; MPC ~40 ms and the rest ~1 ms per step of ~1800-step drives;
    the planner's training taken as ten minutes."""
    drive = job["roads"] * 180 * job["n_segments"]
    rates = {"sac": job["steps"] / 30, "ppo": job["steps"] / 450, PLANNER: 600.0}
    return rates.get(job["agent"], 0.0) + drive * (0.04 if job["agent"] == "hybrid_mpc" else 0.001)


def _run_jobs(jobs: list[dict[str, Any]], workers: int) -> list[dict[str, Any]]:
    if workers <= 1 or len(jobs) <= 1:
        return [agent_job(job) for job in jobs]
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    # the long jobs first, so that the short ones fill the gaps at the end
    order = sorted(range(len(jobs)), key=lambda i: -_estimated_seconds(jobs[i]))
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                             initializer=one_thread_worker) as pool:
        futures = {i: pool.submit(agent_job, jobs[i]) for i in order}
        return [futures[i].result() for i in range(len(jobs))]


def mean_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The mean over an RL agent's seeds (the seeds that ran)."""
    ok = [r for r in rows if r["status"] == "ok"]
    mean = {"agent": rows[0]["agent"], "env": rows[0]["env"], "seed": "mean", "train_steps": rows[0]["train_steps"],
            "status": f"{len(ok)}/{len(rows)} seeds ok"}
    for key in ("roads", "valid_rate", "completed", "rmse", "progress", "drive_time_ratio", "ms_per_step", "train_s"):
        values = [r[key] for r in ok if not (isinstance(r[key], float) and math.isnan(r[key]))]
        mean[key] = float(np.mean(values)) if values else math.nan
    return mean


def claims(rows: list[dict[str, Any]]) -> tuple[list[str], float]:
    """The paper's three claims checked on the per-agent rows (RL: their mean rows); and the ratio
    MPC ms_per_step / hybrid_roa ms_per_step (NaN when either is missing)."""
    by_agent = {r["agent"]: r for r in rows if r["status"] == "ok" or r["seed"] == "mean"}
    roa = by_agent.get(PLANNER)
    lines = []
    if roa is None:
        return [f"- {PLANNER} was not run: none of the paper's claims is checked."], math.nan
    baselines = {name: r for name, r in by_agent.items() if name != PLANNER}
    beaten = [name for name, r in baselines.items() if not roa["valid_rate"] > r["valid_rate"]]
    if baselines:
        verdict = "holds" if not beaten else f"does not hold (not above {', '.join(beaten)})"
        lines.append(f"- Higher valid rate than every baseline: {PLANNER} {roa['valid_rate']:.2f} vs "
                     + ", ".join(f"{n} {r['valid_rate']:.2f}" for n, r in baselines.items()) + f": {verdict}.")
    else:
        lines.append("- Higher valid rate than every baseline: no baseline was run.")
    ratio = math.nan
    if "hybrid_mpc" in by_agent and roa["ms_per_step"] > 0:
        ratio = by_agent["hybrid_mpc"]["ms_per_step"] / roa["ms_per_step"]
        verdict = "holds" if ratio >= 10 else ("holds in direction only" if ratio > 1 else "does not hold")
        lines.append(f"- 10-50x faster per step than MPC: MPC {by_agent['hybrid_mpc']['ms_per_step']:.3g} ms vs "
                     f"{PLANNER} {roa['ms_per_step']:.3g} ms per step, ratio {ratio:.3g}x: {verdict}.")
    else:
        lines.append("- 10-50x faster per step than MPC: hybrid_mpc was not run.")
    rl = {name: by_agent[name] for name in RL_AGENTS if name in by_agent}
    if rl:
        slower = [n for n, r in rl.items() if not roa["train_s"] < r["train_s"]]
        verdict = "holds" if not slower else f"does not hold (not below {', '.join(slower)})"
        lines.append(f"- Less training time than the RL baselines (paper: 0.25x): {PLANNER} {roa['train_s']:.3g} s vs "
                     + ", ".join(f"{n} {r['train_s']:.3g} s ({roa['train_s'] / r['train_s']:.2g}x)"
                                 for n, r in rl.items()) + f": {verdict}.")
    else:
        lines.append("- Less training time than the RL baselines: no RL baseline was run.")
    return lines, ratio


def run(
    out_dir: Path,
    agents: list = ["hybrid_roa", "hybrid_lqr", "hybrid_mpc", "hybrid_clf", "sac", "ppo"],  # noqa: B006
    roads: int = 25,
    seed: int = 0,
    sac_steps: int = 20_000,
    ppo_steps: int = 100_000,
    rl_seeds: int = 3,
    roa_steps: int = 51_200,
    controller_steps: int = 100,
    n_segments: int = 10,
    workers: int = 2,
    plot: bool = True,
) -> None:
    """Train every agent (RL: ``rl_seeds`` seeds from ``seed``) in ``workers`` processes of one thread
    each, then drive the ``roads`` evaluation roads (``n_segments`` segments each) with each."""
    from rlkit import catalogue

    unknown = [name for name in agents if name not in AGENT_ENVS]
    if unknown or not agents:
        raise ValueError(f"agents: unknown or none {unknown or list(agents)}; allowed: {', '.join(AGENT_ENVS)}")
    missing = [name for name in agents if name not in catalogue.entry_names("agent")]
    if missing:
        raise ValueError(f"agents {missing} are not installed (no rlkit/conf/agent/<name>.yaml); "
                         f"installed: {', '.join(n for n in AGENT_ENVS if n in catalogue.entry_names('agent'))}")
    for name, value in (("roads", roads), ("sac_steps", sac_steps), ("ppo_steps", ppo_steps),
                        ("rl_seeds", rl_seeds), ("roa_steps", roa_steps), ("controller_steps", controller_steps),
                        ("n_segments", n_segments), ("workers", workers)):
        _positive_int(name, value)
    _positive_int("seed", seed, minimum=0)
    out_dir = Path(out_dir)
    steps = {"sac": sac_steps, "ppo": ppo_steps, PLANNER: roa_steps, **dict.fromkeys(CONTROLLERS, controller_steps)}
    jobs = []
    for name in agents:
        for offset in range(rl_seeds if name in RL_AGENTS else 1):
            jobs.append({"agent": name, "seed": seed + offset, "steps": steps[name], "roads": roads,
                         "n_segments": n_segments, "run_dir": str(out_dir / "runs" / name / f"seed{seed + offset}")})
    started = time.perf_counter()
    results = _run_jobs(jobs, workers)
    elapsed = time.perf_counter() - started

    rows, trajectories = [], {}
    for name in agents:
        own = [result for job, result in zip(jobs, results) if job["agent"] == name]
        agent_rows = [{key: result["row"].get(key, math.nan) for key in COLUMNS} for result in own]
        rows.extend(agent_rows)
        if name in RL_AGENTS:
            rows.append(mean_row(agent_rows))
        if own[0]["trajectory"] is not None:
            trajectories[name] = own[0]["trajectory"]
    claim_lines, ratio = claims(rows)
    notes = (f"# hybrid: car tracking over friction switches, RoA planner vs baselines ({machine_description()})\n\n"
             f"{roads} evaluation roads: CarHybridEnv(n_segments={n_segments}) reset with seeds {EVAL_SEED_BASE} + i "
             f"(lengths 0.5/1/2.5 x 15 m, turns +-0.5/1/1.5 x 30 deg, speeds 3-30 m/s, normal or icy per segment), "
             f"the same roads for every agent; {PLANNER} drives them with reference commands (car_hybrid_planned). "
             f"Each agent trained with rlkit train (seed {seed}; RL: {rl_seeds} seeds, SAC {sac_steps} and PPO "
             f"{ppo_steps} steps; {PLANNER} total_timesteps {roa_steps}; controllers {controller_steps} acting steps), "
             f"loaded from its run and driven with predict(deterministic=True). valid_rate: share of roads never "
             f"more than 3 m off the centreline; completed: share that reached the road's end; rmse: mean per-road "
             f"lateral RMSE [m]; progress: mean share of the road driven; drive_time_ratio: drive duration / "
             f"nominal duration sum(length/speed), completed roads only; ms_per_step: wall time of predict per "
             f"control step, one thread; train_s: training wall seconds (the agent's own timing if it reports "
             f"one; RL: the whole rlkit train call, its one final evaluation episode included; controllers and "
             f"{PLANNER}: the call less the host's acting loop and final evaluation, i.e. building the agent and "
             f"its set-up or training before acting). RL rows: one per seed and their mean. "
             f"Wall time of the suite {elapsed:.0f} s with {workers} worker(s).\n\n"
             f"MPC ms_per_step / {PLANNER} ms_per_step: {ratio:.3g}.\n\n"
             f"The source paper's claims (as summarised in the project's reference notes: higher success than MPC, RL, "
             f"common-Lyapunov, LQR, QP and HJB baselines; 10-50x faster than MPC; 0.25x the training time of "
             f"other learning methods), checked on these rows:\n" + "\n".join(claim_lines))
    write_table(out_dir, rows, notes=notes)
    if plot:
        shown = [r for r in rows if r["seed"] == "mean" or r["agent"] not in RL_AGENTS]
        bar_plot(out_dir / "valid_rate.png", [r["agent"] for r in shown], [r["valid_rate"] for r in shown],
                 "valid rate", f"valid rate over {roads} roads")
        if trajectories:
            plot_trajectories(out_dir / "trajectories.png", evaluation_env("car_hybrid", n_segments), trajectories)
    print((out_dir / "results.md").read_text())


def plot_trajectories(path: Path, env: Any, trajectories: dict[str, np.ndarray]) -> None:
    """Evaluation road 0's centreline, its segments coloured by friction, and each agent's car x-y."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    env.reset(seed=EVAL_SEED_BASE)
    road = env.road
    figure, axis = plt.subplots(figsize=(7, 6))
    for index, segment in enumerate(road.segments):
        s = np.linspace(road.starts[index], road.starts[index + 1], 50)
        for offset, style in ((0.0, "-"), (env.max_lateral_error, ":"), (-env.max_lateral_error, ":")):
            points = np.array([road.pose(value, offset)[:2] for value in s])
            axis.plot(points[:, 0], points[:, 1], style, color=FRICTION_COLOURS.get(segment.friction, "grey"),
                      linewidth=3 if offset == 0 else 1, alpha=0.5)
    for friction, colour in FRICTION_COLOURS.items():
        axis.plot([], [], color=colour, linewidth=3, alpha=0.5, label=f"{friction} road (dotted: +-3 m)")
    for index, (name, xy) in enumerate(trajectories.items()):
        axis.plot(xy[:, 0], xy[:, 1], color=f"C{index}", linewidth=1, label=name)
    axis.set_aspect("equal")
    axis.set_xlabel("x [m]")
    axis.set_ylabel("y [m]")
    axis.set_title(f"evaluation road 0 (seed {EVAL_SEED_BASE})")
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


__all__ = ["run", "drive_roads", "summarise", "train_seconds", "claims", "mean_row", "AGENT_ENVS", "EVAL_SEED_BASE"]
