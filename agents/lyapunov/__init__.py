"""Lyapunov-certified neural controllers (issue 7, being built).

- :mod:`agents.lyapunov.ops`: the operations the networks and closed loops are written with, so one
  piece of code runs on torch tensors and on bounds.
- :mod:`agents.lyapunov.bounds`: sound forward linear bound propagation over input boxes.
- :mod:`agents.lyapunov.verifier`: branch and bound of the decrease and invariance conditions,
  the largest verified level by bisection.
- :mod:`agents.lyapunov.z3_backend`: the same claim decided exactly by z3.
- :mod:`agents.lyapunov.certificate`: certificate.json, hashes, re-verification.
The box queue, budgets, certificate files and hashes are shared with :mod:`agents.lyapunov_discovery`
(:mod:`agents.verification`).
- :mod:`agents.lyapunov.networks`, :mod:`agents.lyapunov.falsifier`,
  :mod:`agents.lyapunov.training`: the controller and Lyapunov networks, counterexamples,
  counterexample-guided training.
"""
