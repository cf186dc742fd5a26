"""The one timing helper: best of N, calls within a budget, Numba's first call against a warm one,
and cold/warm starts in fresh processes sharing one new Numba cache folder."""

import time

import pytest

from rlkit.bench.timing import (best_of, best_seconds_per_call, calls_within, first_and_warm, interleaved,
                                numba_cold_and_warm)


def counting_sleep(seconds):
    calls = []

    def call():
        calls.append(1)
        time.sleep(seconds)
        return len(calls)

    return call, calls


def test_best_of_times_each_call_after_the_warm_up():
    call, calls = counting_sleep(0.01)
    timing = best_of(call, repeats=3, warmup=2)
    assert len(calls) == 5 and len(timing.times) == 3
    assert timing.results == [3, 4, 5] and timing.result == 5
    assert 0.01 <= timing.best == min(timing.times) < 0.5


def test_best_of_refuses_zero_repeats():
    with pytest.raises(ValueError, match="repeats must be at least 1"):
        best_of(lambda: None, repeats=0)


def test_best_of_with_a_setup_times_only_the_call_on_a_fresh_value():
    made = []

    def setup():
        time.sleep(0.05)  # outside the timing
        made.append(len(made))
        return made[-1]

    def call(value):
        time.sleep(0.005)
        return value

    timing = best_of(call, repeats=3, warmup=1, setup=setup)
    assert made == [0, 1, 2, 3] and timing.results == [1, 2, 3]  # one fresh value per call, warm-up too
    assert 0.005 <= timing.best < 0.04 and max(timing.times) < 0.04


def test_interleaved_calls_each_once_per_round():
    order = []
    timings = interleaved({"a": lambda: order.append("a") or len(order), "b": lambda: order.append("b")}, 3)
    assert order == ["a", "b"] * 3
    assert timings["a"].results == [1, 3, 5] and len(timings["b"].times) == 3
    with pytest.raises(ValueError, match="repeats must be at least 1"):
        interleaved({"a": lambda: None}, 0)


def test_calls_within_stops_once_the_budget_is_spent():
    indices = []
    count, elapsed = calls_within(lambda i: (indices.append(i), time.sleep(0.005)), 0.03)
    assert indices == list(range(count)) and 1 <= count <= 6
    assert elapsed >= 0.03
    assert calls_within(lambda i: None, 0.0)[0] == 1  # at least once


def test_best_seconds_per_call_is_the_time_of_one_call():
    call, calls = counting_sleep(0.002)
    seconds = best_seconds_per_call([call, call], min_seconds=0.02, repeats=2)
    assert 0.002 <= seconds < 0.1
    assert len(calls) >= 2 + 2 * 2  # warm-up, then two repeats of at least one round of both


def test_first_call_of_a_numba_kernel_includes_its_compilation():
    from numba import njit

    @njit
    def total(n):
        s = 0
        for i in range(n):
            s += i
        return s

    first, warm = first_and_warm(lambda: total(1000))
    assert first > 10 * warm


COUNT_CACHE = """
import json, os
cache = os.environ["NUMBA_CACHE_DIR"]
found = sorted(os.listdir(cache))
open(os.path.join(cache, "compiled"), "w").close()
print("noise")
print(json.dumps({"found": found}))
"""


def test_cold_and_warm_starts_share_one_new_cache_folder():
    started = numba_cold_and_warm(COUNT_CACHE)
    assert started == {"cold": {"found": []}, "warm": {"found": ["compiled"]}}


def test_a_failing_start_says_which_and_why():
    with pytest.raises(RuntimeError, match="(?s)cold-start subprocess failed:.*ZeroDivisionError"):
        numba_cold_and_warm("1 / 0")
