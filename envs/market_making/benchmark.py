"""Throughput of the market-making core: ``python -m envs.market_making.benchmark [data]``.

Default data: the full Binance recording of ../shared/data/lob when present (the 138,000-row
recording hftbacktest was measured on), else the shipped minute. On one core it prints:

- compile time: cold (a fresh Numba cache, in a subprocess) and warm (loading the on-disk cache);
- replay throughput in events (rows) per second of the compiled loop re-quoting one bid and one
  ask at the touch every 100 ms of data time (time clock; conservative queue; 10 ms latency) —
  the figure to compare with hftbacktest's 5-6 M rows/s; the same loop without orders; and the
  same strategy scripted in Python calling :class:`~envs.market_making.engine.Engine`;
- env steps per second through the Gymnasium API (features included) on the event clock and on
  the time clock (100 ms and 1 s), with a fixed action sequence.

``python -m envs.market_making.benchmark batched [n ...]`` measures instead decisions per second of
the batched env (:class:`~envs.market_making.vector.MarketMakingVectorEnv`, ``same_step``) with ``n``
games (default 64, 256, 1024) against the single env through ``gym.make``: uniformly random actions,
the default synthetic days and event clock, one thread.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

FULL = Path(__file__).resolve().parents[3] / "shared" / "data" / "lob" / "binance_spot_btcusdt_20240808.jsonl.gz"
DT_NS = 100_000_000


@functools.lru_cache(maxsize=1)
def quote_touch_kernel():
    from numba import njit

    from envs.market_making import engine as eng

    @njit(cache=True, nogil=True)
    def quote_touch(bid, ask, over_bid, over_ask, bs, kind, side, ticks, qty, flags, time, start, stop,
                    oi, of, account, cf, ci, clk, clkf, step, ofi, order_qty, quoting):
        """Replay with the time clock; at each decision quote the best bid and ask. Returns the
        number of decisions."""
        decisions = 0
        r = start
        while r < stop:
            clk[eng.K_MSGS] = 0
            r = eng.advance(bid, ask, over_bid, over_ask, bs, kind, side, ticks, qty, flags, time, r, stop,
                            oi, of, account, cf, ci, clk, clkf, step, ofi)
            clk[eng.K_NEXT_T] = clk[eng.K_NOW] + ci[eng.CI_DT]
            decisions += 1
            if quoting:
                bb, ba = eng.best_ticks(bs, over_bid, over_ask)
                if bb != eng.NO_BID and ba != eng.NO_ASK:
                    eng.place(0, bb, order_qty, clk[eng.K_NOW], bid, ask, over_bid, over_ask, bs, oi, of,
                              account, ci)
                    eng.place(1, ba, order_qty, clk[eng.K_NOW], bid, ask, over_bid, over_ask, bs, oi, of,
                              account, ci)
        return decisions

    return quote_touch


def compiled_replay(engine, quoting: bool) -> tuple[int, int]:
    """One run of the compiled strategy loop from the engine's start; (rows, decisions)."""
    b, e = engine.book, engine
    e.reset()
    start = e.cursor
    kernel = quote_touch_kernel()
    decisions = kernel(b.bid, b.ask, b.over_bid, b.over_ask, b.state, e.kind, e.side, e.ticks, e.qty, e.flags,
                       e.time, start, e.stop, e.oi, e.of, e.account, e.cf, e.ci, e.clk, e.clkf, e.step,
                       e.ofi, 0.001, quoting)
    return e.stop - start, decisions


def python_replay(engine) -> tuple[int, int]:
    engine.reset()
    start, decisions = engine.cursor, 0
    while engine.advance():
        bb, ba = engine.best_ticks()
        engine.quote(0, bb, 0.001)
        engine.quote(1, ba, 0.001)
        decisions += 1
    return engine.stop - start, decisions


def env_steps(env, seconds_max: float = 3.0) -> tuple[int, float]:
    actions = [1, 5, 0, 4, 9, 0, 0, 2]
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds_max:
        env.reset(seed=steps)
        done = False
        while not done:
            *_, terminated, truncated, _ = env.step(actions[steps % len(actions)])
            steps += 1
            done = terminated or truncated
    return steps, time.perf_counter() - start


COMPILE_SNIPPET = """
import time
t = time.perf_counter()
from envs.market_making.data import SAMPLES, load_events
from envs.market_making.engine import Engine
from envs.market_making.benchmark import compiled_replay, DT_NS
table = load_events(SAMPLES["binance"])
t1 = time.perf_counter()
engine = Engine(table, clock="time", dt_ns=DT_NS, latency_ns=10_000_000)
compiled_replay(engine, True)
print(t1 - t, time.perf_counter() - t1)
"""


def compile_seconds(cold: bool) -> float:
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as cache:
        if cold:
            env["NUMBA_CACHE_DIR"] = cache
        out = subprocess.run([sys.executable, "-c", COMPILE_SNIPPET], env=env, capture_output=True,
                             text=True, check=True, cwd=Path(__file__).resolve().parents[2])
    return float(out.stdout.split()[-1])


def best(fn, repeats: int = 5):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


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
        n_actions = int(env.action_space.n)
        actions = rng.integers(0, n_actions, 4096).tolist()
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            *_, terminated, truncated, _ = env.step(actions[steps % 4096])
            steps += 1
            if terminated or truncated:
                env.reset()
        return steps / (time.perf_counter() - start)
    vec = gym.make_vec("rlkit/MarketMaking-v0", num_envs=num_envs, vectorization_mode="vector_entry_point",
                       autoreset_mode="same_step", **kwargs)
    vec.reset(seed=0)
    batches = [rng.integers(0, vec.single_action_space.n, num_envs) for _ in range(64)]
    for batch in batches[:16]:
        vec.step(batch)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        vec.step(batches[steps % 64])
        steps += 1
    return steps * num_envs / (time.perf_counter() - start)


def batched_main(counts: list[int]) -> None:
    print(f"single env (gym.make): {decisions_per_second(None):,.0f} decisions/s")
    for n in counts or (64, 256, 1024):
        print(f"batched, {n} games: {decisions_per_second(n):,.0f} decisions/s")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["batched"]:
        batched_main([int(n) for n in argv[1:]])
        return
    from envs.market_making.data import SAMPLES, load_events
    from envs.market_making.engine import Engine
    from envs.market_making.env import MarketMakingEnv

    data = argv[0] if argv else (FULL if FULL.exists() else SAMPLES["binance"])
    table = load_events(data)
    print(f"data: {data}\n  {table}")
    print(f"compile (engine + strategy loop): cold {compile_seconds(True):.2f} s, "
          f"warm cache {compile_seconds(False):.2f} s")
    for queue in ("conservative", "probabilistic"):
        engine = Engine(table, clock="time", dt_ns=DT_NS, latency_ns=10_000_000, queue=queue)
        compiled_replay(engine, True)
        seconds, (rows, decisions) = best(lambda: compiled_replay(engine, True))
        fills = engine.accounts()["maker_fills"]
        print(f"compiled loop, re-quote touch every 100 ms ({queue}, 10 ms latency): {rows / seconds / 1e6:.2f} "
              f"M rows/s ({rows:,} rows, {decisions:,} decisions, {int(fills)} fills, {seconds * 1e3:.1f} ms)")
    engine = Engine(table, clock="time", dt_ns=DT_NS)
    seconds, (rows, decisions) = best(lambda: compiled_replay(engine, False))
    print(f"compiled loop, no orders, 100 ms decisions: {rows / seconds / 1e6:.2f} M rows/s")
    engine = Engine(table, clock="none")
    seconds, _ = best(lambda: (engine.reset(), engine.advance()))
    print(f"compiled replay, no clock, no orders: {len(table) / seconds / 1e6:.2f} M rows/s")
    engine = Engine(table, clock="time", dt_ns=DT_NS, latency_ns=10_000_000)
    seconds, (rows, decisions) = best(lambda: python_replay(engine), 3)
    print(f"Python-scripted Engine, re-quote every 100 ms: {rows / seconds / 1e6:.2f} M rows/s "
          f"({decisions / seconds:,.0f} decisions/s)")
    for label, kwargs in (("event clock 1e-4", dict(clock="event")),
                          ("time clock 100 ms", dict(clock="time", dt=0.1)),
                          ("time clock 1 s", dict(clock="time", dt=1.0))):
        env = MarketMakingEnv(str(data), split="all", order_notional=100.0, **kwargs)
        env.reset(seed=0)
        steps, seconds = env_steps(env)
        print(f"env steps/s ({label}, Binance, features, depth 15): {steps / seconds:,.0f} "
              f"({steps} steps in {seconds:.1f} s)")
    env = MarketMakingEnv(session_seconds=600.0, synthetic_days=2, split="all")
    env.reset(seed=0)
    steps, seconds = env_steps(env)
    print(f"env steps/s (event clock 1e-4, synthetic CST): {steps / seconds:,.0f}")


if __name__ == "__main__":
    main()
