"""Episode metrics from the per-decision equity, inventory and mid series.

``capital`` is the maximal capital at risk, ``max inventory x order notional``; percentages are of
it. Sharpe and Sortino are per episode (not annualised): ``mean / std x sqrt(steps)`` of the
per-step equity changes over capital (Sortino: the root mean square of the negative changes in place
of the standard deviation; 0 when the denominator is 0).
"""

from __future__ import annotations

import numpy as np


def episode_metrics(equity: np.ndarray, inventory: np.ndarray, mids: np.ndarray, *, capital: float,
                    account: dict) -> dict:
    """``equity``: cash + position x mid after each decision (first: at reset); ``inventory``:
    position in orders after each decision; ``mids``: the mid at each decision."""
    equity = np.asarray(equity, np.float64)
    returns = np.diff(equity) / capital
    n = len(returns)
    std = returns.std() if n > 1 else 0.0
    downside = np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2)) if n else 0.0
    pnl = float(equity[-1] - equity[0])
    drawdown = float(np.max(np.maximum.accumulate(equity) - equity)) if len(equity) else 0.0
    inventory = np.abs(np.asarray(inventory, np.float64))
    placed = account["placed_qty"]
    hold = float(mids[-1] / mids[0] - 1.0) if len(mids) > 1 and mids[0] > 0 else 0.0
    return {
        "pnl": pnl,
        "pnl_pct": 100.0 * pnl / capital,
        "sharpe": float(returns.mean() / std * np.sqrt(n)) if std > 0 else 0.0,
        "sortino": float(returns.mean() / downside * np.sqrt(n)) if downside > 0 else 0.0,
        "max_drawdown": drawdown,
        "max_drawdown_pct": 100.0 * drawdown / capital,
        "trades": int(account["maker_fills"]),
        "fill_ratio": float(account["maker_qty"] / placed) if placed > 0 else 0.0,
        "inventory_max": float(inventory.max()) if len(inventory) else 0.0,
        "inventory_mean": float(inventory.mean()) if len(inventory) else 0.0,
        "market_orders": int(account["market_orders"]),
        "fees": float(account["fees"]),
        "buy_and_hold_pct": 100.0 * hold,
        "buy_and_hold_pnl": capital * hold,
        "steps": n,
    }
