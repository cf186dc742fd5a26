"""Event-based market making on limit-order-book data.

``envs.market_making.data`` holds the data side: one canonical columnar event format, loaders for
Binance, LOBSTER, crypto-rl and tardis files, a parquet cache, a validated L2 book (Numba) and a
seeded Cont-Stoikov-Talreja generator. The environment builds on it: :mod:`.engine` (the compiled
replay core), :mod:`.games` (games as arrays and their compiled step), :mod:`.env`
(:class:`MarketMakingEnv`, one game) and :mod:`.vector` (:class:`MarketMakingVectorEnv`, many).
"""

# Gymnasium id -> (entry point, vector entry point)
MARKET_MAKING_ENVS = {
    "rlkit/MarketMaking-v0": ("envs.market_making.env:MarketMakingEnv",
                              "envs.market_making.vector:MarketMakingVectorEnv"),
}


def register_market_making_envs() -> None:
    """Register ``rlkit/MarketMaking-v0`` with Gymnasium (idempotent; imports neither numba nor the
    env modules: Gymnasium loads the entry points on ``gym.make`` / ``gym.make_vec``, the batched
    engine :class:`~envs.market_making.vector.MarketMakingVectorEnv` on
    ``gym.make_vec(..., vectorization_mode="vector_entry_point")``)."""
    import gymnasium as gym

    for env_id, (entry_point, vector_entry_point) in MARKET_MAKING_ENVS.items():
        if env_id not in gym.envs.registry:
            gym.register(env_id, entry_point=entry_point, vector_entry_point=vector_entry_point)
