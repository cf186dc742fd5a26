"""Candidate Lyapunov functions as symbolic expressions: prefix (Polish) token sequences over a library
of operators, state variables and constants.

A sequence is a valid expression tree when every operator is followed by its operands; in prefix order
that is: the count of open slots, starting at 1 and changed by ``arity - 1`` per token, first reaches 0
at the last token. :meth:`TokenLibrary.next_token_mask` gives, for partial sequences, the tokens that
keep a completion within ``max_length`` possible (and forbid completing before ``min_length``), so a
policy that samples only allowed tokens never produces an invalid tree.

A complete sequence converts to a SymPy expression (:meth:`TokenLibrary.to_sympy`, for certificates and
exact checks) and evaluates on torch tensors (:meth:`TokenLibrary.evaluate`, for the falsifier).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

# operator name -> arity; the library a user picks from
OPERATORS: dict[str, int] = {"add": 2, "sub": 2, "mul": 2, "square": 1, "sin": 1, "cos": 1, "neg": 1}
DEFAULT_OPERATORS = ("add", "sub", "mul", "square", "sin", "cos")


class TokenLibrary:
    """The tokens of one system's expressions: ``operators`` (names from :data:`OPERATORS`), the state
    variables ``x1 .. xn`` and the numeric ``constants``; expressions of ``min_length`` to ``max_length``
    tokens."""

    def __init__(self, n_states: int, operators: Sequence[str] = DEFAULT_OPERATORS,
                 constants: Sequence[float] = (1.0,), min_length: int = 1, max_length: int = 20) -> None:
        if isinstance(n_states, bool) or not isinstance(n_states, int) or n_states < 1:
            raise ValueError(f"n_states must be an integer >= 1 (got {n_states!r})")
        unknown = [name for name in operators if name not in OPERATORS]
        if unknown or not operators:
            raise ValueError(f"unknown or no operators {unknown or list(operators)}; allowed: {', '.join(OPERATORS)}")
        if len(set(operators)) != len(operators):
            raise ValueError(f"operators are listed twice: {list(operators)}")
        values = [float(c) for c in constants]
        if not all(np.isfinite(values)):
            raise ValueError(f"constants must be finite numbers (got {list(constants)})")
        if not (isinstance(min_length, int) and isinstance(max_length, int) and 1 <= min_length <= max_length):
            raise ValueError(f"need 1 <= min_length <= max_length (got {min_length!r}, {max_length!r})")
        self.n_states, self.min_length, self.max_length = n_states, min_length, max_length
        self.operators = tuple(operators)
        self.variables = tuple(f"x{i + 1}" for i in range(n_states))
        self.constants = tuple(values)
        self.tokens: tuple[str, ...] = (*self.operators, *self.variables, *(repr(c) for c in values))
        self.arities = np.array([OPERATORS[name] for name in self.operators] + [0] * (n_states + len(values)))
        self.index = {token: i for i, token in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    # -- validity --------------------------------------------------------------------------------
    def open_slots(self, sequence: Sequence[int]) -> int:
        """Operand slots still open after the tokens of ``sequence`` (1 for the empty sequence)."""
        return 1 + int(sum(self.arities[t] - 1 for t in sequence))

    def next_token_mask(self, open_slots: np.ndarray, length: int) -> np.ndarray:
        """(B, n_tokens) booleans: the tokens allowed after partial sequences of ``length`` tokens with
        ``open_slots`` open slots each (0: complete, nothing allowed)."""
        open_slots = np.asarray(open_slots)[:, None]
        after = open_slots - 1 + self.arities[None, :]  # open slots once the token is placed
        remaining = self.max_length - length - 1  # tokens left after it
        allowed = (after <= remaining) & (open_slots > 0)
        too_short = (after == 0) & (length + 1 < self.min_length)
        return allowed & ~too_short

    def check(self, sequence: Sequence[int]) -> None:
        """A ValueError naming what is wrong unless ``sequence`` is one complete expression tree."""
        if not 1 <= len(sequence) <= self.max_length:
            raise ValueError(f"an expression has 1 to {self.max_length} tokens (got {len(sequence)})")
        slots = 1
        for position, token in enumerate(sequence):
            if not 0 <= int(token) < len(self.tokens):
                raise ValueError(f"token {token!r} at {position} is not in the library of {len(self.tokens)} tokens")
            if slots == 0:
                raise ValueError(f"the expression is complete before token {position} of {len(sequence)}")
            slots += int(self.arities[int(token)]) - 1
        if slots != 0:
            raise ValueError(f"the expression is incomplete: {slots} operand(s) missing")

    def encode(self, names: Sequence[str]) -> list[int]:
        """Token names (``["add", "square", "x1", ...]``) as a checked index sequence."""
        unknown = [name for name in names if name not in self.index]
        if unknown:
            raise ValueError(f"unknown tokens {unknown}; this library has {', '.join(self.tokens)}")
        sequence = [self.index[name] for name in names]
        self.check(sequence)
        return sequence

    def decode(self, sequence: Sequence[int]) -> list[str]:
        return [self.tokens[int(t)] for t in sequence]

    # -- meaning ---------------------------------------------------------------------------------
    def _tree(self, sequence: Sequence[int]) -> Any:
        """The nested (token, children...) tree of a checked sequence."""
        self.check(sequence)
        position = 0

        def build() -> Any:
            nonlocal position
            token = int(sequence[position])
            position += 1
            return (token, *(build() for _ in range(int(self.arities[token]))))

        return build()

    def to_sympy(self, sequence: Sequence[int]) -> Any:
        """The expression in SymPy over the symbols ``x1 .. xn``."""
        import sympy

        symbols = sympy.symbols(self.variables, real=True)
        functions = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
                     "square": lambda a: a**2, "sin": sympy.sin, "cos": sympy.cos, "neg": lambda a: -a}

        def convert(node: Any) -> Any:
            token = self.tokens[node[0]]
            if token in functions and node[0] < len(self.operators):
                return functions[token](*(convert(child) for child in node[1:]))
            if node[0] < len(self.operators) + self.n_states:
                return symbols[node[0] - len(self.operators)]
            return sympy.Float(self.constants[node[0] - len(self.operators) - self.n_states])

        return convert(self._tree(sequence))

    def evaluate(self, sequence: Sequence[int], x: torch.Tensor) -> torch.Tensor:
        """The expression at states ``x`` (..., n_states) -> (...), differentiable in ``x``."""
        if x.shape[-1] != self.n_states:
            raise ValueError(f"states have {self.n_states} entries; got shape {tuple(x.shape)}")
        functions = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "square": torch.square,
                     "sin": torch.sin, "cos": torch.cos, "neg": torch.neg}

        def value(node: Any) -> torch.Tensor:
            index = node[0]
            if index < len(self.operators):
                return functions[self.tokens[index]](*(value(child) for child in node[1:]))
            if index < len(self.operators) + self.n_states:
                return x[..., index - len(self.operators)]
            return torch.full(x.shape[:-1], self.constants[index - len(self.operators) - self.n_states],
                              dtype=x.dtype, device=x.device)

        return value(self._tree(sequence))
