"""Control systems with their models exposed: the CSTR, the clipped pendulum, the double integrator; and
autonomous systems (no input) for Lyapunov analysis.

A :class:`~envs.control.system.ControlSystem` is the model agents may use (batched, differentiable
torch dynamics, equilibrium, linearisation, constraints, cost); :class:`~envs.control.env.ControlEnv`
is the Gymnasium env around any of them, and :class:`~envs.control.vector.ControlVectorEnv` steps many
games of one on arrays (each task's vector entry point). Importing this package is cheap (no torch): the classes
load on first use, and :func:`register_control_envs` registers the tasks with Gymnasium.
"""

from __future__ import annotations

import importlib
from typing import Any

# Gymnasium id -> entry point; the short names in rlkit/conf/env/ point at these ids.
CONTROL_ENVS = {
    "rlkit/CSTR-v0": "envs.control.cstr:CSTREnv",
    "rlkit/CSTRSafe-v0": "envs.control.cstr:CSTRSafeEnv",
    "rlkit/PendulumClipped-v0": "envs.control.pendulum:ClippedPendulumEnv",
    "rlkit/DoubleIntegrator-v0": "envs.control.double_integrator:DoubleIntegratorEnv",
    "rlkit/InvertedPendulum-v0": "envs.control.inverted_pendulum:InvertedPendulumEnv",
    "rlkit/NLCPendulum-v0": "envs.control.inverted_pendulum:NLCPendulumEnv",
}
# Gymnasium id -> vector entry point: the batched engine of the task (gym.make_vec, vectorization_mode
# "vector_entry_point"), stepping many games on arrays
CONTROL_VECTOR_ENVS = {
    "rlkit/CSTR-v0": "envs.control.vector:CSTRVectorEnv",
    "rlkit/CSTRSafe-v0": "envs.control.vector:CSTRSafeVectorEnv",
    "rlkit/PendulumClipped-v0": "envs.control.vector:ClippedPendulumVectorEnv",
    "rlkit/DoubleIntegrator-v0": "envs.control.vector:DoubleIntegratorVectorEnv",
    "rlkit/InvertedPendulum-v0": "envs.control.vector:InvertedPendulumVectorEnv",
    "rlkit/NLCPendulum-v0": "envs.control.vector:NLCPendulumVectorEnv",
}
# autonomous systems (no input), for Lyapunov analysis
AUTONOMOUS_ENVS = {"rlkit/Autonomous-v0": "envs.control.autonomous_env:AutonomousEnv"}

_LAZY = {
    "ControlSystem": "envs.control.system",
    "INTEGRATORS": "envs.control.system",
    "ControlEnv": "envs.control.env",
    "CSTR": "envs.control.cstr",
    "CSTREnv": "envs.control.cstr",
    "CSTRSafeEnv": "envs.control.cstr",
    "ClippedPendulum": "envs.control.pendulum",
    "ClippedPendulumEnv": "envs.control.pendulum",
    "DoubleIntegrator": "envs.control.double_integrator",
    "DoubleIntegratorEnv": "envs.control.double_integrator",
    "InvertedPendulum": "envs.control.inverted_pendulum",
    "InvertedPendulumEnv": "envs.control.inverted_pendulum",
    "NLCPendulum": "envs.control.inverted_pendulum",
    "NLCPendulumEnv": "envs.control.inverted_pendulum",
    "AutonomousSystem": "envs.control.autonomous",
    "AutonomousEnv": "envs.control.autonomous_env",
    "ControlVectorEnv": "envs.control.vector",
}

__all__ = ["AUTONOMOUS_ENVS", "CONTROL_ENVS", "CONTROL_VECTOR_ENVS", "register_control_envs", *_LAZY]


def register_control_envs() -> None:
    """Register the control tasks with Gymnasium (idempotent), each with its batched engine as the
    vector entry point (the Autonomous env has none). Episode lengths are the envs' own (they
    truncate themselves: the setpoint schedule is part of the task), so no TimeLimit."""
    import gymnasium as gym

    for env_id, entry_point in {**CONTROL_ENVS, **AUTONOMOUS_ENVS}.items():
        if env_id not in gym.envs.registry:
            gym.register(env_id, entry_point=entry_point, vector_entry_point=CONTROL_VECTOR_ENVS.get(env_id))


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'envs.control' has no attribute {name!r}")
