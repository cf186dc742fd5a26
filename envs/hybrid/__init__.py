"""Hybrid systems: plants whose dynamics switch between discrete modes.

- :mod:`envs.hybrid.system` -- the interface (modes, per-mode torch dynamics, switching);
- :mod:`envs.hybrid.car` -- the single-track car in tracking-error coordinates, friction modes;
- :mod:`envs.hybrid.roads` -- roads of segments with friction and nominal speed;
- :mod:`envs.hybrid.car_env` -- ``rlkit/CarHybrid-v0``, car tracking over mode switches;
- :mod:`envs.hybrid.vector` -- its batched engine, many cars on their own roads stepped on arrays.
"""

from __future__ import annotations

HYBRID_ENVS = {
    "rlkit/CarHybrid-v0": "envs.hybrid.car_env:CarHybridEnv",
}
# Gymnasium id -> vector entry point: the batched engine (gym.make_vec, vectorization_mode "vector_entry_point")
HYBRID_VECTOR_ENVS = {
    "rlkit/CarHybrid-v0": "envs.hybrid.vector:CarHybridVectorEnv",
}


def register_hybrid_envs() -> None:
    """Register the hybrid-system envs with Gymnasium, each with its batched engine as the vector
    entry point (idempotent; they end at the road's end)."""
    import gymnasium as gym

    for env_id, entry_point in HYBRID_ENVS.items():
        if env_id not in gym.envs.registry:
            gym.register(env_id, entry_point=entry_point, vector_entry_point=HYBRID_VECTOR_ENVS.get(env_id))
