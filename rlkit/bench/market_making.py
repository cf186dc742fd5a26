"""Suite ``market_making``: PPO and A2C on the event clock against the time clock, several of the
source paper's rewards, tested on held-out days against Avellaneda-Stoikov, GLFT, fixed-spread
quoting and buy-and-hold.

The claim checked (Sadighian 2020): event-based decisions (act when the mid moved by
``threshold``, 1e-4) beat time-based ones (every ``dt`` seconds) in profit and stability.

Synthetic data (default): ``synthetic_days`` seeded Cont-Stoikov-Talreja sessions of
``session_seconds``; the last ``test_days`` are held out (``split=test``), the learners train on
the others with ``rlkit train`` (the code path a user runs), each (agent, clock, reward, seed) in one
of ``workers`` processes of one thread. ``data=<file|folder|glob>`` uses the user's days instead.
Each trained agent then plays every test day once, deterministically; the baselines (configs
``rlkit/conf/agent/<name>.yaml``, they do not learn) and buy-and-hold (``max_inventory`` orders'
worth of the asset bought at the first decision and marked at each) play the same days on each
clock. Figures per episode come from the env's ``info["metrics"]`` at the episode's end.

Real data (``real=true``): the Binance BTCUSDT sample shipped with the project (or ``real_data``),
one short recording of one day. The env splits by date, so it cannot hold out part of one day:
learners train on the recording and are tested on the same recording (in-sample, flagged in the
table's ``data`` column as ``binance (in-sample)``); this shows the pipeline on real data, not
out-of-sample performance.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rlkit.bench.report import machine_description, write_table
from rlkit.threads import one_thread_worker

SYNTHETIC = "synthetic"
REAL = "binance (in-sample)"
METRICS = ("pnl", "pnl_pct", "sharpe", "sortino", "max_drawdown_pct", "trades", "inventory_mean",
           "fill_ratio", "buy_and_hold_pct")


def _env_kwargs(data: str | None, clock: str, reward: str, *, actions: str, threshold: float, dt: float,
                synthetic_days: int, session_seconds: float, test_days: int) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"data": data, "clock": clock, "reward": reward, "actions": actions,
                              "threshold": threshold, "dt": dt, "test_days": test_days}
    if data is None:
        kwargs.update(synthetic_days=synthetic_days, session_seconds=session_seconds)
    return kwargs


def _play(agent: Any, kwargs: dict[str, Any], split: str) -> list[dict[str, Any]]:
    """Every day of ``split`` once, deterministically: the env's episode metrics and the return."""
    import gymnasium as gym

    import envs  # noqa: F401  (registers rlkit/MarketMaking-v0)

    env = gym.make("rlkit/MarketMaking-v0", **{**kwargs, "split": split})
    rows = []
    for day in range(len(env.unwrapped.day_indices)):
        obs, info = env.reset(seed=day, options={"day": day})
        total, done = 0.0, False
        while not done:
            action, _ = agent.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, step_info = env.step(action)
            total += float(reward)
            done = terminated or truncated
        metrics = step_info["metrics"]
        rows.append({"day": info["day"], "return": total, **{k: metrics[k] for k in METRICS},
                     "steps": metrics["steps"]})
    env.close()
    return rows


def _buy_and_hold(kwargs: dict[str, Any], split: str) -> list[dict[str, Any]]:
    """Buy-and-hold on the decision grid of a no-op policy (nothing quoted, nothing traded)."""
    from envs.market_making.env import MarketMakingEnv
    from envs.market_making.metrics import episode_metrics

    env = MarketMakingEnv(**{**kwargs, "split": split})
    capital = env.max_inventory * env.order_notional
    rows = []
    for day in range(len(env.day_indices)):
        _, info = env.reset(seed=day, options={"day": day})
        done = False
        while not done:
            _, _, done, _, _ = env.step(0)
        mids = np.asarray(env.mids)
        account = dict.fromkeys(("placed_qty", "maker_fills", "maker_qty", "market_orders", "fees"), 0.0)
        m = episode_metrics(capital * mids / mids[0], np.full(len(mids), float(env.max_inventory)), mids,
                            capital=capital, account=account)
        m["trades"] = 1
        rows.append({"day": info["day"], "return": math.nan, **{k: m[k] for k in METRICS}, "steps": m["steps"]})
    return rows


def _learner_job(job: dict[str, Any]) -> list[dict[str, Any]]:
    """Train one learner with the rlkit host, then test it; runs in a worker process."""
    from rlkit import catalogue
    from rlkit.config import compose
    from rlkit.errors import RunStopped
    from rlkit.train import train

    started = time.perf_counter()
    overrides = ["env=market_making", f"agent={job['agent']}", f"seed={job['seed']}",
                 f"total_timesteps={job['steps']}", "eval.every=0", "eval.episodes=1", "checkpoint.every=0",
                 "checkpoint.replay_buffer=false", "progress_bar=false", "device=cpu",
                 f"run_dir={job['run_dir']}"]
    overrides += [f"env.kwargs.{k}={_override_value(v)}" for k, v in job["env"].items()]
    cfg = compose(overrides)
    meta = {k: job[k] for k in ("data", "clock", "agent", "reward", "seed")}
    try:
        summary = train(cfg, overrides, announce=lambda _: None)
    except RunStopped as stopped:  # one diverged run is a result, not the end of the benchmark
        return [{**meta, "status": f"stopped: {stopped}", "job_s": time.perf_counter() - started}]
    trained = time.perf_counter() - started
    agent_class = catalogue.resolve_factory(cfg.agent.factory)
    agent = agent_class.load(Path(job["run_dir"]) / "checkpoints" / "latest" / "agent.zip", device="cpu")
    rows = _play(agent, job["env"], job["split"])
    return [{**meta, **row, "status": "ok", "train_steps_per_s": summary.get("steps_per_s"), "train_s": trained,
             "job_s": time.perf_counter() - started} for row in rows]


def _override_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):  # a path may hold characters Hydra's grammar reads otherwise
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return str(value)


def _baseline_job(job: dict[str, Any]) -> list[dict[str, Any]]:
    """A non-learning baseline (or buy-and-hold) on the test days; runs in a worker process."""
    from rlkit import catalogue

    started = time.perf_counter()
    if job["agent"] == "buy_and_hold":
        rows = _buy_and_hold(job["env"], job["split"])
    else:
        config = catalogue.entry_config("agent", job["agent"])
        agent_class = catalogue.resolve_factory(config.pop("factory"))
        # the env arguments the agent declares it needs (the rule agents: the market state in the observation)
        env_kwargs = {**job["env"], **(getattr(agent_class, "env_requirements", None) or {})}
        rows = _play(agent_class(**config), env_kwargs, job["split"])
    meta = {k: job[k] for k in ("data", "clock", "agent", "reward", "seed")}
    return [{**meta, **row, "status": "ok", "train_steps_per_s": math.nan, "train_s": 0.0,
             "job_s": time.perf_counter() - started} for row in rows]


def _run_jobs(jobs: list[dict[str, Any]], workers: int) -> list[dict[str, Any]]:
    functions = [_learner_job if job["learner"] else _baseline_job for job in jobs]
    if workers <= 1:
        results = [function(job) for function, job in zip(functions, jobs)]
    else:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        # the long learner jobs first, so the short baselines fill the gaps at the end
        order = sorted(range(len(jobs)), key=lambda i: not jobs[i]["learner"])
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                                 initializer=one_thread_worker) as pool:
            futures = {i: pool.submit(functions[i], jobs[i]) for i in order}
            results = [futures[i].result() for i in range(len(jobs))]
    return [row for rows in results for row in rows]


def run(
    out_dir: Path,
    agents: list = ["ppo", "a2c"],  # noqa: B006  (options, never mutated)
    clocks: list = ["event", "time"],  # noqa: B006
    rewards: list = ["trade_completion", "asymmetrical", "differential_sharpe"],  # noqa: B006
    seeds: int = 2,
    steps: int = 16384,
    baselines: list = ["avellaneda_stoikov", "glft", "fixed_spread"],  # noqa: B006
    data: str = "",
    synthetic_days: int = 5,
    test_days: int = 2,
    session_seconds: float = 3600.0,
    real: bool = True,
    real_data: str = "",
    real_seeds: int = 1,
    real_steps: int = 2048,
    actions: str = "reference",
    threshold: float = 1e-4,
    dt: float = 1.0,
    workers: int = 2,
) -> None:
    """Train every (agent, clock, reward, seed), test it and the baselines on held-out days.

    ``data``: empty for synthetic days, else a file, folder or glob of the user's (split by date);
    ``real``: also the in-sample run on the Binance sample (``real_data``: another recording).
    """
    from envs.market_making.data import SAMPLES
    from envs.market_making.rewards import REWARDS
    from rlkit import catalogue
    from rlkit.errors import UserError

    known = catalogue.entry_names("agent")
    for option, values, allowed in (("agents", agents, known), ("baselines", baselines, known),
                                    ("clocks", clocks, ["event", "time", "tick", "volume"]),
                                    ("rewards", rewards, list(REWARDS))):
        unknown = [v for v in values if v not in allowed]
        if unknown or not values:
            raise UserError(f"{option}: unknown or none {unknown or values}; allowed: {', '.join(allowed)}")
    out_dir = Path(out_dir)
    started = time.perf_counter()
    common = dict(actions=actions, threshold=threshold, dt=dt, synthetic_days=synthetic_days,
                  session_seconds=session_seconds, test_days=test_days)
    sources = [(SYNTHETIC if not data else f"data (held-out {test_days} day(s))", data or None, seeds, steps, "test")]
    if real:
        sources.append((REAL, real_data or str(SAMPLES["binance"]), real_seeds, real_steps, "all"))
    jobs = []
    for label, source, n_seeds, n_steps, split in sources:
        tag = "real" if label == REAL else "main"
        for clock in clocks:
            for agent in agents:
                for reward in rewards:
                    for seed in range(n_seeds):
                        jobs.append({"learner": True, "data": label, "clock": clock, "agent": agent,
                                     "reward": reward, "seed": seed, "steps": n_steps, "split": split,
                                     "env": _env_kwargs(source, clock, reward, **common),
                                     "run_dir": str(out_dir / "runs" / tag / clock / agent / reward / f"seed{seed}")})
            for baseline in [*baselines, "buy_and_hold"]:
                jobs.append({"learner": False, "data": label, "clock": clock, "agent": baseline, "reward": "-",
                             "seed": 0, "split": split, "env": _env_kwargs(source, clock, rewards[0], **common)})
    episodes = pd.DataFrame(_run_jobs(jobs, workers))
    episodes.to_csv(out_dir / "episodes.csv", index=False)
    stopped = episodes[episodes["status"] != "ok"]
    episodes = episodes[episodes["status"] == "ok"]

    table = _summarise(episodes)
    claim = _claim(episodes, agents)
    elapsed = time.perf_counter() - started
    notes = (f"# market_making: event vs time clock, PPO/A2C vs classical market makers ({machine_description()})\n\n"
             f"Learners: {seeds} seed(s) x {steps} steps on {synthetic_days - test_days} synthetic train day(s) "
             f"of {session_seconds:g} s" if not data else f"# market_making ({machine_description()})\n\nLearners on {Path(data).name}")
    notes += (f"; tested on {test_days} held-out day(s), one deterministic episode per day. Real data: "
              f"{real_seeds} seed(s) x {real_steps} steps, trained and tested on the same recording "
              f"(one day: the env cannot hold part of it out). Actions: {actions}; event threshold "
              f"{threshold:g}, time step {dt:g} s. Means over seeds x test days; pnl_pct is % of capital "
              f"(max inventory x order notional); pnl_pct_std over seeds x days measures (in)stability; "
              f"profitable: fraction of test episodes with pnl > 0. Wall time {elapsed:.0f} s with "
              f"{workers} worker(s). Runs stopped by the NaN guard (left out): {len(stopped)}"
              + "".join(f"; {r.clock}/{r.agent}/{r.reward}/seed {r.seed}" for r in stopped.itertuples()) + ".")
    write_table(out_dir, table.to_dict("records"), notes=notes)
    write_table(out_dir, claim.to_dict("records"), name="claim",
                notes="# The claim: event-based beats time-based in profit and stability\n\n"
                      "Per agent and data, over rewards x seeds x test days: mean and std of pnl_pct, mean "
                      "Sharpe and max drawdown, and (reward, seed) configurations profitable over the test "
                      "days; event_wins_profit / event_wins_stability compare the two clocks.")
    _plot(out_dir / "pnl.png", table)
    print(table.to_string(index=False))
    print(claim.to_string(index=False))


def _summarise(episodes: pd.DataFrame) -> pd.DataFrame:
    keys = ["data", "clock", "agent", "reward"]
    grouped = episodes.groupby(keys, sort=False)
    table = grouped.agg(episodes=("pnl_pct", "size"), pnl=("pnl", "mean"), pnl_pct=("pnl_pct", "mean"),
                        pnl_pct_std=("pnl_pct", "std"), sharpe=("sharpe", "mean"), sortino=("sortino", "mean"),
                        max_drawdown_pct=("max_drawdown_pct", "mean"), trades=("trades", "mean"),
                        inventory_mean=("inventory_mean", "mean"), test_return=("return", "mean"),
                        buy_and_hold_pct=("buy_and_hold_pct", "mean"), train_s=("train_s", "mean"))
    table["profitable"] = grouped["pnl"].apply(lambda p: float((p > 0).mean())).values
    table["pnl_pct_std"] = table["pnl_pct_std"].fillna(0.0)
    return table.reset_index()


def _claim(episodes: pd.DataFrame, agents: list) -> pd.DataFrame:
    rows = []
    learners = episodes[episodes["agent"].isin(agents)]
    for (data, agent), group in learners.groupby(["data", "agent"], sort=False):
        row: dict[str, Any] = {"data": data, "agent": agent}
        for clock in ("event", "time"):
            part = group[group["clock"] == clock]
            configs = part.groupby(["reward", "seed"])["pnl"].mean()
            row[f"{clock}_pnl_pct"] = float(part["pnl_pct"].mean()) if len(part) else math.nan
            row[f"{clock}_pnl_pct_std"] = float(part["pnl_pct"].std()) if len(part) > 1 else math.nan
            row[f"{clock}_sharpe"] = float(part["sharpe"].mean()) if len(part) else math.nan
            row[f"{clock}_max_drawdown_pct"] = float(part["max_drawdown_pct"].mean()) if len(part) else math.nan
            row[f"{clock}_profitable_configs"] = f"{int((configs > 0).sum())}/{len(configs)}"
        row["event_wins_profit"] = bool(row["event_pnl_pct"] > row["time_pnl_pct"])
        row["event_wins_stability"] = bool(row["event_pnl_pct_std"] < row["time_pnl_pct_std"]
                                           and row["event_max_drawdown_pct"] < row["time_max_drawdown_pct"])
        rows.append(row)
    return pd.DataFrame(rows)


def _plot(path: Path, table: pd.DataFrame) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sources = list(dict.fromkeys(table["data"]))
    figure, axes = plt.subplots(2, len(sources), figsize=(max(8, 0.55 * len(table)), 8), squeeze=False)
    colours = {"event": "#4878a8", "time": "#d08040"}
    for column, source in enumerate(sources):
        part = table[table["data"] == source]
        hold = part[part["agent"] == "buy_and_hold"]
        part = part[part["agent"] != "buy_and_hold"]
        labels = list(dict.fromkeys(f"{a}\n{r}" if r != "-" else a for a, r in zip(part["agent"], part["reward"])))
        for row, (metric, error, title) in enumerate((("pnl_pct", "pnl_pct_std", "PnL, % of capital"),
                                                       ("sharpe", None, "Sharpe (per episode)"))):
            axis = axes[row, column]
            for shift, clock in ((-0.2, "event"), (0.2, "time")):
                sub = part[part["clock"] == clock]
                x = [labels.index(f"{a}\n{r}" if r != "-" else a) + shift for a, r in zip(sub["agent"], sub["reward"])]
                axis.bar(x, sub[metric], width=0.4, color=colours[clock], label=f"{clock} clock",
                         yerr=sub[error] if error else None, capsize=2)
            if metric == "pnl_pct" and len(hold):
                axis.axhline(float(hold["pnl_pct"].mean()), color="black", linestyle="--", label="buy and hold")
            axis.axhline(0.0, color="grey", linewidth=0.5)
            axis.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
            axis.set_ylabel(title)
            axis.set_title(source)
            axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
