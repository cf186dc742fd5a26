"""Queue-position models: how much of a price level is ahead of our resting order.

Our orders are virtual: the replayed book never contains them, so the quantity ahead of an order
(``front``) is an estimate. Every model starts it at the level's visible size when the order
becomes active (0 when the order improves on the best price) and lets trades that reach the
order consume it before they fill us (the fill rules are in :mod:`~envs.market_making.engine`).
They differ in what else moves it:

================  ==============================================================================
model             queue ahead
================  ==============================================================================
``notional``      the reference work's: the level size at placement, consumed by the volume of
                  every trade that reaches the order (at *or through* its price); book updates
                  never change it (cancellations never help, and it is never capped).
``conservative``  risk-averse: consumed only by trades *at* the order's price; cancellations never
                  advance it, except that it can never exceed the level's visible size (the
                  orders ahead of us are physically in that level). A trade through the price
                  means the level was swept: the queue is gone.
``probabilistic`` as ``conservative``, plus a decrease of the level that no trade explains (a
                  cancellation of size ``c``) is split between the orders ahead and behind us:
                  the part ahead is ``p c`` with ``p = f(front) / (f(front) + f(back))``,
                  ``f(x) = x ** power`` (``back`` = level size - front), but never less than
                  what cannot be behind us (``c - back``). ``power`` large: cancellations fall
                  mostly on the larger side of us; 1: in proportion to the quantities.
================  ==============================================================================

``seen`` is the level size the model last accounted for: a trade at our price lowers it by the
trade quantity, so the feed's own level update that follows the trade is not taken for a
cancellation.
"""

from __future__ import annotations

from numba import njit

NOTIONAL, CONSERVATIVE, PROBABILISTIC = 0, 1, 2
QUEUE_MODELS = {"notional": NOTIONAL, "conservative": CONSERVATIVE, "probabilistic": PROBABILISTIC}


@njit(cache=True, nogil=True, inline="always")
def trade_reaches(model, at_price, front, seen, qty):
    """A trade of ``qty`` at (``at_price``) or through the order's price: returns ``(front, seen,
    volume left to fill us)``."""
    if model == NOTIONAL or at_price:
        front -= qty
        if at_price:
            seen = max(seen - qty, 0.0)
        if front < 0.0:
            left = -front
            front = 0.0
        else:
            left = 0.0
        return front, seen, left
    # a trade through our price under the conservative models: the level was swept
    return 0.0, 0.0, qty


@njit(cache=True, nogil=True, inline="always")
def level_changed(model, power, front, seen, new):
    """The visible size of the order's level became ``new``: returns ``(front, seen)``."""
    if model == NOTIONAL:
        return front, new
    if model == PROBABILISTIC and new < seen:
        cancelled = seen - new
        back = max(seen - front, 0.0)
        fb = back ** power
        ff = front ** power
        p = ff / (fb + ff) if fb + ff > 0.0 else 1.0  # the larger side takes more of it
        ahead = max(p * cancelled, cancelled - back)
        front = max(front - ahead, 0.0)
    if front > new:
        front = new
    return front, new
