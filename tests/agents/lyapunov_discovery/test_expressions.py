"""agents.lyapunov_discovery.expressions: masked sampling never produces an invalid tree, the SymPy and
torch meanings agree, known expressions read as expected, bad libraries and sequences are refused."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
import torch

from agents.lyapunov_discovery.expressions import OPERATORS, TokenLibrary


def sample(library: TokenLibrary, rng: np.random.Generator, n: int) -> list[list[int]]:
    """``n`` sequences drawn token by token with random preferences, only among the allowed tokens."""
    sequences = [[] for _ in range(n)]
    slots = np.ones(n, dtype=int)
    for length in range(library.max_length):
        mask = library.next_token_mask(slots, length)
        for i in np.flatnonzero(slots > 0):
            assert mask[i].any(), (sequences[i], slots[i])  # a partial tree can always go on
            weights = rng.random(len(library)) * mask[i]
            token = int(np.argmax(weights))
            sequences[i].append(token)
            slots[i] += library.arities[token] - 1
        assert not library.next_token_mask(slots, length + 1)[slots == 0].any()  # nothing after a complete tree
    assert np.all(slots == 0)
    return sequences


@pytest.mark.parametrize("min_length, max_length", [(1, 5), (4, 12), (10, 20)])
def test_masked_sampling_always_gives_complete_trees_within_the_lengths(min_length, max_length):
    library = TokenLibrary(3, constants=(1.0, 0.5), min_length=min_length, max_length=max_length)
    for sequence in sample(library, np.random.default_rng(min_length), 400):
        library.check(sequence)  # raises on an invalid tree
        assert min_length <= len(sequence) <= max_length
        assert library.open_slots(sequence) == 0


def test_sympy_and_torch_meanings_agree_on_random_expressions():
    library = TokenLibrary(2, operators=tuple(OPERATORS), constants=(1.0, 0.5), min_length=3, max_length=15)
    x = torch.rand(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 4 - 2
    symbols = sympy.symbols(library.variables, real=True)
    for sequence in sample(library, np.random.default_rng(7), 60):
        expression = library.to_sympy(sequence)
        exact = sympy.lambdify(symbols, expression, "numpy")(x[:, 0].numpy(), x[:, 1].numpy())
        np.testing.assert_allclose(library.evaluate(sequence, x).numpy(), np.broadcast_to(exact, (50,)),
                                   rtol=1e-10, atol=1e-10)


def test_known_expressions():
    library = TokenLibrary(2, constants=(0.5,))
    quadratic = library.encode(["add", "square", "x1", "mul", "0.5", "square", "x2"])
    x1, x2 = sympy.symbols("x1 x2", real=True)
    assert sympy.simplify(library.to_sympy(quadratic) - (x1**2 + x2**2 / 2)) == 0
    x = torch.tensor([[1.0, 2.0], [-3.0, 0.0]], requires_grad=True)
    value = library.evaluate(quadratic, x)
    torch.testing.assert_close(value, torch.tensor([3.0, 9.0]))
    value.sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([[2.0, 2.0], [-6.0, 0.0]]))  # (2 x1, x2)
    with_one = TokenLibrary(2, constants=(1.0, 0.5))  # the pendulum's energy
    energy = with_one.encode(["add", "sub", "1.0", "cos", "x1", "mul", "0.5", "square", "x2"])
    assert sympy.simplify(with_one.to_sympy(energy) - (1 - sympy.cos(x1) + x2**2 / 2)) == 0


def test_bad_libraries_and_sequences_are_refused():
    with pytest.raises(ValueError, match=r"unknown or no operators \['exp'\]; allowed: add, sub"):
        TokenLibrary(2, operators=("add", "exp"))
    with pytest.raises(ValueError, match="n_states must be an integer >= 1"):
        TokenLibrary(0)
    with pytest.raises(ValueError, match="constants must be finite"):
        TokenLibrary(2, constants=(float("nan"),))
    with pytest.raises(ValueError, match="min_length <= max_length"):
        TokenLibrary(2, min_length=5, max_length=3)
    library = TokenLibrary(2)
    with pytest.raises(ValueError, match="incomplete: 1 operand"):
        library.encode(["add", "x1"])
    with pytest.raises(ValueError, match="complete before token 1"):
        library.encode(["x1", "x2"])
    with pytest.raises(ValueError, match=r"unknown tokens \['x3'\]"):
        library.encode(["square", "x3"])
    with pytest.raises(ValueError, match="states have 2 entries"):
        library.evaluate(library.encode(["x1"]), torch.zeros(4, 3))
