"""Wall-clock timing for benchmark suites: best of N calls, calls in a time budget, and Numba's cold
and warm start (first call, compilation included, against a call with the kernels loaded).

Every suite times through these, so a figure means the same in every table: ``time.perf_counter``
around the call only, warm-up calls outside the timing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[2]


@dataclass
class Timing:
    """``times``: seconds of each timed call; ``results``: what each returned; ``best``: the shortest."""

    times: list[float]
    results: list[Any]

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def result(self) -> Any:
        """What the last timed call returned."""
        return self.results[-1]


def best_of(call: Callable[..., Any], repeats: int = 5, warmup: int = 0,
            setup: Callable[[], Any] | None = None) -> Timing:
    """Call ``call`` ``warmup`` times untimed, then ``repeats`` times timed; the best time wins
    (the least disturbed by the rest of the machine). With ``setup``, every call (warm-up ones
    too) is ``call(setup())``, the setup outside the timing (e.g. a fresh book per replay)."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")

    def arguments() -> tuple:
        return () if setup is None else (setup(),)

    for _ in range(warmup):
        call(*arguments())
    times, results = [], []
    for _ in range(repeats):
        args = arguments()
        start = time.perf_counter()
        results.append(call(*args))
        times.append(time.perf_counter() - start)
    return Timing(times, results)


def interleaved(calls: Mapping[Hashable, Callable[[], Any]], repeats: int) -> dict[Hashable, Timing]:
    """``repeats`` rounds calling each of ``calls`` once in turn, timed (so a drift of the machine
    falls on every call alike, for side-by-side comparisons); the :class:`Timing` of each key."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    timings = {key: Timing([], []) for key in calls}
    for _ in range(repeats):
        for key, call in calls.items():
            start = time.perf_counter()
            timings[key].results.append(call())
            timings[key].times.append(time.perf_counter() - start)
    return timings


def best_seconds_per_call(calls: Sequence[Callable[[], Any]], min_seconds: float, repeats: int = 7,
                          warmup: int = 3) -> float:
    """Best over ``repeats`` of the mean seconds of one call, cycling through ``calls``; each repeat
    runs enough rounds of all of them to last about ``min_seconds / repeats`` (for calls too short
    to time one by one)."""
    for call in calls[:warmup]:
        call()

    def one_round(_: int = 0) -> None:
        for call in calls:
            call()

    rounds, _ = calls_within(one_round, min_seconds / repeats)
    def rounds_of_calls() -> None:
        for _ in range(rounds):
            one_round()

    return best_of(rounds_of_calls, repeats).best / (rounds * len(calls))


def calls_within(call: Callable[[int], Any], seconds: float) -> tuple[int, float]:
    """Call ``call(0)``, ``call(1)``, ... until ``seconds`` have passed (at least once); returns the
    number of calls and the seconds they took. The index picks, e.g., the next of some pre-drawn
    actions."""
    calls, start = 0, time.perf_counter()
    while True:
        call(calls)
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return calls, elapsed


def first_and_warm(call: Callable[[], Any]) -> tuple[float, float]:
    """Seconds of the first call (Numba compiles or loads its cache here) and of the second."""
    first = best_of(call, 1).best
    return first, best_of(call, 1).best


def numba_cold_and_warm(script: str, args: Sequence[str] = ()) -> dict[str, Any]:
    """Run the Python ``script`` in a fresh process twice, with one new, empty Numba cache folder:
    ``cold`` (every kernel compiled) and then ``warm`` (the kernels loaded from what the cold run
    cached). The script prints its figures as JSON on its last line; returns
    ``{"cold": figures, "warm": figures}``."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPOSITORY), env.get("PYTHONPATH", "")) if p)
    result = {}
    with tempfile.TemporaryDirectory(prefix="rlkit-numba-") as cache:
        env["NUMBA_CACHE_DIR"] = cache
        for label in ("cold", "warm"):
            out = subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True,
                                 cwd=REPOSITORY)
            if out.returncode != 0:
                raise RuntimeError(f"{label}-start subprocess failed:\n{out.stderr[-2000:]}")
            result[label] = json.loads(out.stdout.strip().splitlines()[-1])
    return result
