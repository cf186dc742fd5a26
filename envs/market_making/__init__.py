"""Event-based market making on limit-order-book data.

``envs.market_making.data`` holds the data side: one canonical columnar event format, loaders for
Binance, LOBSTER, crypto-rl and tardis files, a parquet cache, a validated L2 book (Numba) and a
seeded Cont-Stoikov-Talreja generator. The environment builds on it.
"""
