"""rlkit: the host that names, configures, runs and records environments and agents.

Importing ``rlkit`` is cheap on purpose (``rlkit --help`` starts in well under a second); the heavy
modules (torch, stable-baselines3, Hydra) are imported by the commands that need them.
"""

__version__ = "0.1.0"
