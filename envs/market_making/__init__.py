"""Event-based market making on limit-order-book data.

``envs.market_making.data`` holds the data side: one canonical columnar event format, loaders for
Binance, LOBSTER, crypto-rl and tardis files, a parquet cache, a validated L2 book (Numba) and a
seeded Cont-Stoikov-Talreja generator. The environment builds on it.
"""

MARKET_MAKING_ENVS = {"rlkit/MarketMaking-v0": "envs.market_making.env:MarketMakingEnv"}


def register_market_making_envs() -> None:
    """Register ``rlkit/MarketMaking-v0`` with Gymnasium (idempotent; imports neither numba nor the
    env module: Gymnasium loads the entry point on ``gym.make``)."""
    import gymnasium as gym

    for env_id, entry_point in MARKET_MAKING_ENVS.items():
        if env_id not in gym.envs.registry:
            gym.register(env_id, entry_point=entry_point)
