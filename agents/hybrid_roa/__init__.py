"""Hybrid-system control with a region-of-attraction planner ("Hybrid Systems Neural Control
with Region-of-Attraction Planner"), and its baselines, on the
hybrid car (``envs.hybrid``).

- :mod:`agents.hybrid_roa.base`: the car model an agent reads from the env, the LQR gain schedule,
  the shared controller-agent surface.
- :mod:`agents.hybrid_roa.networks`: per-mode controller and Lyapunov networks, the RoA-level network.
- :mod:`agents.hybrid_roa.training`: LQR pretraining, joint training, empirical RoA levels.
- :mod:`agents.hybrid_roa.planner`: :class:`RoAPlanner`, the reference command before a switch.
- :mod:`agents.hybrid_roa.agent`: :class:`HybridRoAAgent` (``agent=hybrid_roa``).
- :mod:`agents.hybrid_roa.baselines`: LQR per mode, nonlinear MPC, one common CLF
  (``agent=hybrid_lqr``, ``hybrid_mpc``, ``hybrid_clf``).
"""
