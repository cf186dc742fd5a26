"""The C library's transcendental functions as numpy ufuncs, for batched engines that must replay a
single env computed in Python floats bit for bit.

Python's ``math`` module (and ``float ** 2``, and numpy scalars' ``**``) call the C library (libm);
numpy's array ``exp``, ``arctan2`` and ``x ** 2`` do not: they are vectorised implementations that
differ from libm in the last bit on a few per cent of inputs (measured on AVX-512 with numpy 2.4:
``exp`` on ~5%, ``arctan2`` on ~5%, ``x ** 2`` (computed as ``x * x``) on ~0.1%), so a trajectory
integrated with them drifts away from the single env's. The loops here are compiled by Numba to
calls of the very libm functions Python calls, so element ``i`` of ``exp(a)`` is ``math.exp(a[i])``.

``math.hypot`` is CPython's own algorithm, not libm's ``hypot`` (they differ on ~0.4% of inputs):
:func:`py_hypot` applies it element by element (exact, at Python speed); :data:`hypot` is libm's, for
callers that only need to compare distances and can fall back to ``math.hypot`` where a comparison
is too close to call (it is within 1 ulp of the true value, like CPython's).

Compiled on import (about a second, cached on disk by Numba afterwards); import this module only
where a batched engine needs it.
"""

from __future__ import annotations

import math

import numba
import numpy as np


def _ufunc(signature: str):
    """Compile a scalar function into a plain numpy ufunc (Numba's DUFunc wrapper costs about a
    microsecond of Python per call, more than the loop on a hundred elements)."""
    return lambda function: numba.vectorize([signature], cache=True)(function).ufunc


@_ufunc("float64(float64)")
def exp(x):
    return math.exp(x)


@_ufunc("float64(float64)")
def sin(x):
    return math.sin(x)


@_ufunc("float64(float64)")
def cos(x):
    return math.cos(x)


@_ufunc("float64(float64, float64)")
def atan2(y, x):
    return math.atan2(y, x)


@_ufunc("float64(float64, float64)")
def _pow(x, y):
    # y arrives at run time, so the compiler cannot turn pow(x, 2.0) into x * x as numpy does
    return math.pow(x, y)


@_ufunc("float64(float64, float64)")
def hypot(x, y):
    return math.hypot(x, y)


def power(x, exponent):
    """``x ** exponent`` as Python computes it on floats (libm's ``pow``), element by element."""
    return _pow(x, float(exponent))


def py_hypot(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """CPython's ``math.hypot`` element by element (float64 arrays of one shape)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return np.fromiter(map(math.hypot, x.ravel().tolist(), y.ravel().tolist()), np.float64, x.size).reshape(x.shape)
