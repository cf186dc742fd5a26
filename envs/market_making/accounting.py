"""Cash, position and PnL of the market maker, as a float64 array a compiled loop updates in place.

Average-cost accounting: the position carries one average entry price; a fill that grows the
position (or opens it) moves the average, a fill that reduces it realizes
``closed qty * (fill price - average) * sign(position)``, and a fill that flips it realizes the
closed part and opens the rest at the fill price. Fees are paid in quote currency at every fill
(``fee rate * notional``; a negative maker fee is a rebate) and are part of the realized PnL. Hence,
at any time, with ``mid`` the book's mid price::

    cash + position * mid - initial cash  ==  realized + position * (mid - average)

(realized net of fees; the right-hand side's second term is the unrealized PnL). The tests check it.
(The reference work nets fills FIFO; average cost gives the same total PnL and the same realized PnL
whenever the position returns to zero, and needs no lot list.)
"""

from __future__ import annotations

import numpy as np
from numba import njit

# fields of the account array
(CASH, POSITION, AVERAGE, REALIZED, FEES, MAKER_FILLS, MAKER_QTY, MAKER_NOTIONAL, TAKER_QTY,
 MARKET_ORDERS, PLACED_QTY, REJECTED, TAKER_NOTIONAL) = range(13)
ACCOUNT_SIZE = 13
ACCOUNT_FIELDS = ("cash", "position", "average", "realized", "fees", "maker_fills", "maker_qty",
                  "maker_notional", "taker_qty", "market_orders", "placed_qty", "rejected",
                  "taker_notional")


def new_account(cash: float = 0.0) -> np.ndarray:
    account = np.zeros(ACCOUNT_SIZE, np.float64)
    account[CASH] = cash
    return account


@njit(cache=True, nogil=True)
def book_fill(account, direction, qty, price, fee_rate):
    """Book a fill: buy (``direction`` +1) or sell (-1) ``qty`` at ``price`` paying ``fee_rate``."""
    notional = qty * price
    fee = fee_rate * notional
    account[CASH] -= direction * notional + fee
    account[FEES] += fee
    account[REALIZED] -= fee
    position = account[POSITION]
    if position == 0.0 or (position > 0.0) == (direction > 0):
        size = abs(position)
        account[AVERAGE] = (account[AVERAGE] * size + price * qty) / (size + qty)
        account[POSITION] = position + direction * qty
        return
    size = abs(position)
    closed = min(qty, size)
    sign = 1.0 if position > 0.0 else -1.0
    account[REALIZED] += closed * (price - account[AVERAGE]) * sign
    left = position + direction * qty
    if abs(left) <= 1e-12 * max(size, qty):  # closed exactly (up to rounding)
        account[POSITION] = 0.0
        account[AVERAGE] = 0.0
    else:
        account[POSITION] = left
        if qty > size:  # flipped: the rest opens at the fill price
            account[AVERAGE] = price


def unrealized(account: np.ndarray, mid: float) -> float:
    position = account[POSITION]
    return float(position * (mid - account[AVERAGE])) if position else 0.0


def equity(account: np.ndarray, mid: float) -> float:
    """Cash plus the position valued at ``mid``."""
    return float(account[CASH] + account[POSITION] * mid)
