"""Classical market-making baselines for ``rlkit/MarketMaking-v0``: Avellaneda-Stoikov, GLFT and
fixed-spread quoting, as rlkit agents (formulas in :mod:`agents.market_making.quoting`)."""

from agents.market_making.agents import AvellanedaStoikovAgent, FixedSpreadAgent, GLFTAgent, QuotingAgent
from agents.market_making.quoting import (MarketEstimator, avellaneda_stoikov_quotes, fixed_spread_quotes,
                                          glft_coefficients, glft_quotes, nearest_action)

__all__ = [
    "AvellanedaStoikovAgent",
    "FixedSpreadAgent",
    "GLFTAgent",
    "MarketEstimator",
    "QuotingAgent",
    "avellaneda_stoikov_quotes",
    "fixed_spread_quotes",
    "glft_coefficients",
    "glft_quotes",
    "nearest_action",
]
