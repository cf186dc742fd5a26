"""rlkit's agents: one sub-package per family, each implementing :class:`agents.base.Agent`.

Agents may import ``envs`` (for model interfaces) but never ``rlkit``: an agent is usable from
plain Python.
"""
