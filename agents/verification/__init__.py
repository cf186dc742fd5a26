"""What the two verification stacks (:mod:`agents.lyapunov`, :mod:`agents.lyapunov_discovery`) share:

- :mod:`agents.verification.boxes`: the queue of boxes a branch and bound splits until each is decided,
  and the budgets (depth, boxes, seconds) that end it;
- :mod:`agents.verification.certificates`: certificate files (read, checked, written atomically) and
  the SHA-256 hashes that tie a certificate to what it is about;
- :mod:`agents.verification.z3_numbers`: floats into z3 as exact rationals and z3's answers back.

Each stack keeps what is its own: how a box is bounded and decided, how its models are encoded.
"""
