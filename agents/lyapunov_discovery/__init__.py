"""Analytical Lyapunov function discovery (the RL-based generative approach): a policy samples symbolic
candidate Lyapunov functions as prefix token sequences, a falsifier scores them, risk-seeking policy
gradient trains the policy, a sound verifier certifies the best.

Built so far:
- :mod:`agents.lyapunov_discovery.expressions` -- the token library, valid-tree masking for sampling,
  and the SymPy and torch meanings of an expression;
- :mod:`agents.lyapunov_discovery.falsifier` -- sampling and a gradient attack on ``V > 0`` and
  ``dV/dt < 0`` over a box, the candidates' score;
the systems are :mod:`envs.control.autonomous`.
"""
