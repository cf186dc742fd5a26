"""rlkit's Gymnasium environments, one sub-package per family.

Importing ``envs`` registers every environment with Gymnasium as ``rlkit/<Name>-v0``. This package
imports neither ``agents`` nor ``rlkit``: its environments work with plain Gymnasium.
"""

from envs.control import register_control_envs
from envs.football import register_football_envs
from envs.gridworlds import register_gridworld_envs
from envs.hybrid import register_hybrid_envs
from envs.market_making import register_market_making_envs

register_control_envs()
register_market_making_envs()
register_football_envs()
register_hybrid_envs()
register_gridworld_envs()
