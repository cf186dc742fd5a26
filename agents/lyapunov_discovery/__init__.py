"""Analytical Lyapunov function discovery (the RL-based generative approach): a policy samples symbolic
candidate Lyapunov functions as prefix token sequences, a falsifier scores them, risk-seeking policy
gradient trains the policy, a sound verifier certifies the best.

Modules:
- :mod:`agents.lyapunov_discovery.expressions` -- the token library, valid-tree masking for sampling,
  and the SymPy and torch meanings of an expression;
- :mod:`agents.lyapunov_discovery.falsifier` -- sampling and a gradient attack on ``V > 0`` and
  ``dV/dt < 0`` (or ``<= 0``) over a box, the candidates' score;
- :mod:`agents.lyapunov_discovery.policy` -- the masked expression transformer and the risk-seeking
  policy-gradient loss;
- :mod:`agents.lyapunov_discovery.search` -- the discovery loop;
- :mod:`agents.lyapunov_discovery.verifier` -- interval branch and bound on the SymPy forms, z3 for
  polynomial claims;
- :mod:`agents.lyapunov_discovery.certificate` -- certificate.json and its re-check;
- :mod:`agents.lyapunov_discovery.sympy_form` -- a certified expression as a token sequence, written
  and rebuilt token by token (nothing in a file is evaluated);
- :mod:`agents.lyapunov_discovery.region` -- the box minus a ball the claims are stated on;
- :mod:`agents.lyapunov_discovery.agent` -- ``agent=lyapunov_discovery`` (the common contract; its
  certificate re-checked by ``rlkit certify``).
The box queue, budgets and certificate files are shared with :mod:`agents.lyapunov`
(:mod:`agents.verification`). The systems are :mod:`envs.control.autonomous`, run as
``env=autonomous env.system=<name>``.
"""
