"""Suite ``market_making_engine``: throughput of the market-making core, one core.

Data (``data=``): a recording file; by default (``data=""``) the Binance BTCUSDT minute shipped in
``envs/market_making/data/samples`` (``SAMPLES["binance"]``), so the figures depend on nothing
outside the repository. Name the full recording hftbacktest was measured on (138,000 rows) with
``data=<path>`` to measure on it. Parts (``parts=``):

- ``compile``: the engine and the strategy loop below started in a fresh process with an empty Numba
  cache (cold) and with the cache that run left (warm): import, load of the shipped minute, first run;
- ``replay``: events (rows) per second of the compiled loop re-quoting one bid and one ask at the
  touch every 100 ms of data time (time clock; conservative and probabilistic queues; 10 ms latency)
  — the figure to compare with hftbacktest's 5-6 M rows/s; the same loop without orders; the bare
  replay without a clock; and the same strategy scripted in Python calling
  :class:`~envs.market_making.engine.Engine`;
- ``env``: env steps per second through the Gymnasium API (features included) on the event clock
  and on the time clock (100 ms and 1 s), with a fixed action sequence;
- ``batched``: decisions per second of the batched env
  (:class:`~envs.market_making.vector.MarketMakingVectorEnv`, ``same_step``) with ``games`` games
  against the single env through ``gym.make``: uniformly random actions, the default synthetic days
  and event clock.
"""

from __future__ import annotations

import functools
from pathlib import Path

from rlkit.bench.report import machine_description, markdown_table, write_table
from rlkit.bench.timing import best_of, calls_within, numba_cold_and_warm

DT_NS = 100_000_000
LATENCY_NS = 10_000_000
PARTS = ("compile", "replay", "env", "batched")


def recording(data: str = "") -> Path:
    """The recording the market-making suites replay: ``data`` (a file) or, when empty, the Binance
    minute shipped with the package."""
    from envs.market_making.data import SAMPLES

    return Path(data) if data else Path(SAMPLES["binance"])


@functools.lru_cache(maxsize=1)
def quote_touch_kernel():
    from numba import njit

    from envs.market_making import engine as eng

    @njit(cache=True, nogil=True)
    def quote_touch(book, rows, start, stop, game, order_qty, quoting):
        """Replay with the time clock; at each decision quote the best bid and ask. Returns the
        number of decisions."""
        bid, ask, over_bid, over_ask, bs = book
        oi, of, account, cf, ci, clock, step, ofi = game
        decisions = 0
        r = start
        while r < stop:
            clock.msgs = 0
            r = eng.advance(book, rows, r, stop, game)
            clock.next_t = clock.now + ci[eng.CI_DT]
            decisions += 1
            if quoting:
                bb, ba = eng.best_ticks(bs, over_bid, over_ask)
                if bb != eng.NO_BID and ba != eng.NO_ASK:
                    eng.place(0, bb, order_qty, clock.now, bid, ask, over_bid, over_ask, bs, oi, of, account, ci)
                    eng.place(1, ba, order_qty, clock.now, bid, ask, over_bid, over_ask, bs, oi, of, account, ci)
        return decisions

    return quote_touch


def compiled_replay(engine, quoting: bool) -> tuple[int, int]:
    """One run of the compiled strategy loop from the engine's start; (rows, decisions)."""
    engine.reset()
    start = engine.cursor
    decisions = quote_touch_kernel()(engine.book_arrays, engine.rows, start, engine.stop, engine.game, 0.001, quoting)
    return engine.stop - start, decisions


def python_replay(engine) -> tuple[int, int]:
    engine.reset()
    start, decisions = engine.cursor, 0
    while engine.advance():
        bb, ba = engine.best_ticks()
        engine.quote(0, bb, 0.001)
        engine.quote(1, ba, 0.001)
        decisions += 1
    return engine.stop - start, decisions


def env_steps_per_second(env, seconds: float) -> float:
    """Whole episodes with a fixed action sequence until ``seconds`` have passed."""
    actions = [1, 5, 0, 4, 9, 0, 0, 2]
    steps = 0

    def episode(_: int) -> None:
        nonlocal steps
        env.reset(seed=steps)
        done = False
        while not done:
            *_, terminated, truncated, _ = env.step(actions[steps % len(actions)])
            steps += 1
            done = terminated or truncated

    _, elapsed = calls_within(episode, seconds)
    return steps / elapsed


def decisions_per_second(num_envs: int | None, seconds: float = 5.0, **kwargs) -> float:
    """Decisions per second of ``num_envs`` batched games (None: one single env through
    ``gym.make``) under uniformly random actions, after a warm-up, resets included."""
    import gymnasium as gym
    import numpy as np

    import envs  # noqa: F401  (registers the env)

    rng = np.random.default_rng(0)
    if num_envs is None:
        env = gym.make("rlkit/MarketMaking-v0", **kwargs)
        env.reset(seed=0)
        actions = rng.integers(0, int(env.action_space.n), 4096).tolist()

        def step(i: int) -> None:
            *_, terminated, truncated, _ = env.step(actions[i % 4096])
            if terminated or truncated:
                env.reset()

        steps, elapsed = calls_within(step, seconds)
        return steps / elapsed
    vec = gym.make_vec("rlkit/MarketMaking-v0", num_envs=num_envs, vectorization_mode="vector_entry_point",
                       autoreset_mode="same_step", **kwargs)
    vec.reset(seed=0)
    batches = [rng.integers(0, vec.single_action_space.n, num_envs) for _ in range(64)]
    for batch in batches[:16]:
        vec.step(batch)
    calls, elapsed = calls_within(lambda i: vec.step(batches[i % 64]), seconds)
    return calls * num_envs / elapsed


COMPILE_SCRIPT = """
import json, time
from envs.market_making.data import SAMPLES, load_events
from envs.market_making.engine import Engine
from rlkit.bench.market_making_engine import compiled_replay, DT_NS, LATENCY_NS
table = load_events(SAMPLES["binance"])
t = time.perf_counter()
compiled_replay(Engine(table, clock="time", dt_ns=DT_NS, latency_ns=LATENCY_NS), True)
print(json.dumps({"seconds": time.perf_counter() - t}))
"""


def _compile_rows() -> list[dict]:
    started = numba_cold_and_warm(COMPILE_SCRIPT)
    return [{"part": "compile", "case": f"engine + strategy loop, {label} Numba cache (fresh process)",
             "value": started[label]["seconds"], "unit": "s",
             "detail": "engine built and first run on the shipped minute"}
            for label in ("cold", "warm")]


def _replay_rows(table, repeats: int) -> list[dict]:
    from envs.market_making.engine import Engine

    rows = []
    for queue in ("conservative", "probabilistic"):
        engine = Engine(table, clock="time", dt_ns=DT_NS, latency_ns=LATENCY_NS, queue=queue)
        timing = best_of(lambda: compiled_replay(engine, True), repeats, warmup=1)
        count, decisions = timing.result
        fills = int(engine.accounts()["maker_fills"])
        rows.append({"part": "replay", "case": f"compiled loop, re-quote touch every 100 ms ({queue}, 10 ms latency)",
                     "value": count / timing.best / 1e6, "unit": "M rows/s",
                     "detail": f"{count:,} rows, {decisions:,} decisions, {fills} fills, {timing.best * 1e3:.1f} ms"})
    engine = Engine(table, clock="time", dt_ns=DT_NS)
    timing = best_of(lambda: compiled_replay(engine, False), repeats, warmup=1)
    rows.append({"part": "replay", "case": "compiled loop, no orders, 100 ms decisions",
                 "value": timing.result[0] / timing.best / 1e6, "unit": "M rows/s", "detail": ""})
    engine = Engine(table, clock="none")
    timing = best_of(lambda: (engine.reset(), engine.advance()), repeats, warmup=1)
    rows.append({"part": "replay", "case": "compiled replay, no clock, no orders",
                 "value": len(table) / timing.best / 1e6, "unit": "M rows/s", "detail": ""})
    engine = Engine(table, clock="time", dt_ns=DT_NS, latency_ns=LATENCY_NS)
    timing = best_of(lambda: python_replay(engine), max(1, repeats // 2))
    count, decisions = timing.result
    rows.append({"part": "replay", "case": "Python-scripted Engine, re-quote every 100 ms",
                 "value": count / timing.best / 1e6, "unit": "M rows/s",
                 "detail": f"{decisions / timing.best:,.0f} decisions/s"})
    return rows


def _env_rows(data: Path, seconds: float) -> list[dict]:
    from envs.market_making.env import MarketMakingEnv

    rows = []
    for label, kwargs in (("event clock 1e-4", dict(clock="event")),
                          ("time clock 100 ms", dict(clock="time", dt=0.1)),
                          ("time clock 1 s", dict(clock="time", dt=1.0))):
        env = MarketMakingEnv(str(data), split="all", order_notional=100.0, **kwargs)
        rows.append({"part": "env", "case": f"env steps ({label}, recording, features, depth 15)",
                     "value": env_steps_per_second(env, seconds), "unit": "steps/s", "detail": ""})
    env = MarketMakingEnv(session_seconds=600.0, synthetic_days=2, split="all")
    rows.append({"part": "env", "case": "env steps (event clock 1e-4, synthetic CST)",
                 "value": env_steps_per_second(env, seconds), "unit": "steps/s", "detail": ""})
    return rows


def _batched_rows(games: list, seconds: float) -> list[dict]:
    rows = [{"part": "batched", "case": "single env (gym.make)", "value": decisions_per_second(None, seconds),
             "unit": "decisions/s", "detail": ""}]
    rows += [{"part": "batched", "case": f"batched, {n} games", "value": decisions_per_second(int(n), seconds),
              "unit": "decisions/s", "detail": "same_step autoreset, synthetic days, event clock"} for n in games]
    return rows


def run(
    out_dir: Path,
    parts: list = list(PARTS),  # noqa: B006  (options, never mutated)
    data: str = "",
    repeats: int = 5,
    env_seconds: float = 3.0,
    games: list = [64, 256, 1024],  # noqa: B006
    batched_seconds: float = 5.0,
) -> None:
    """Run the chosen ``parts`` on ``data`` (a recording file; default: the shipped Binance minute);
    writes results.csv and results.md."""
    import torch

    from envs.market_making.data import load_events

    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise ValueError(f"unknown parts {unknown}; allowed: {', '.join(PARTS)}")
    torch.set_num_threads(1)
    path = recording(data)
    table = load_events(path)
    rows: list[dict] = []
    if "compile" in parts:
        rows += _compile_rows()
    if "replay" in parts:
        rows += _replay_rows(table, repeats)
    if "env" in parts:
        rows += _env_rows(path, env_seconds)
    if "batched" in parts:
        rows += _batched_rows(games, batched_seconds)
    result = write_table(out_dir, rows, notes=(
        f"# market_making_engine: the market-making core's throughput, one core ({machine_description()})\n\n"
        f"data: `{path.name}`, {len(table):,} rows. Replay figures: best of {repeats} after one warm-up run; "
        f"env figures: whole episodes for {env_seconds:g} s; batched: {batched_seconds:g} s per figure."))
    print(markdown_table(result))
