"""The bound arithmetic is sound: on random boxes every sampled value lies between the interval
bounds and between the affine lower and upper bounds; exact where it should be."""

from __future__ import annotations

import math

import pytest
import torch

from agents.lyapunov.bounds import BOUND_OPS, Bounds
from agents.lyapunov.ops import TORCH_OPS

FUNCTIONS = {
    "tanh": lambda x, o: o.tanh(2.0 * x[..., 0] - x[..., 1]),
    "sin_cos": lambda x, o: o.sin(x[..., 0]) + o.cos(0.7 * x[..., 1]),
    "exp": lambda x, o: o.exp(0.3 * x[..., 0]),
    "sqrt": lambda x, o: o.sqrt(o.square(x[..., 0]) + 1.0),
    "abs": lambda x, o: o.abs(x[..., 0] - x[..., 1]),
    "relu": lambda x, o: o.relu(x[..., 0] - 0.5 * x[..., 1]),
    "leaky_relu": lambda x, o: o.leaky_relu(x[..., 0] + x[..., 1], 0.01),
    "clamp": lambda x, o: o.clamp(3.0 * x[..., 0], -2.0, 1.5),
    "square": lambda x, o: o.square(x[..., 0]) - x[..., 1],
    "product": lambda x, o: x[..., 0] * x[..., 1],
    "sin_times_cos": lambda x, o: o.sin(x[..., 0]) * o.cos(x[..., 1]) + 0.5 * x[..., 0],
    "division": lambda x, o: (x[..., 0] - 1.0) / 4.0,
    "arrhenius": lambda x, o: o.exp(-3.0 / (x[..., 0] + 10.0)) * (x[..., 1] + 5.0),
    "quotient": lambda x, o: x[..., 1] / (o.abs(x[..., 0]) + 2.0),
    "arrhenius_of_square": lambda x, o: o.exp(-3.0 / (o.square(x[..., 0]) + 1.0)),
    "cstr_rate": lambda x, o: 7.2e10 * o.exp(-8750.0 / (x[..., 0] + 350.0)) * (x[..., 1] + 5.0),
}


def _mlp(activation: str, seed: int):
    generator = torch.Generator().manual_seed(seed)
    weights = [(torch.randn(8, 2, generator=generator, dtype=torch.float64), torch.randn(8, generator=generator, dtype=torch.float64)),
               (torch.randn(8, 8, generator=generator, dtype=torch.float64) / 3, torch.randn(8, generator=generator, dtype=torch.float64)),
               (torch.randn(3, 8, generator=generator, dtype=torch.float64) / 3, None)]

    def network(x, o):
        for index, (weight, bias) in enumerate(weights):
            x = o.linear(x, weight, bias)
            if index < len(weights) - 1:
                x = {"relu": o.relu, "tanh": o.tanh, "leaky_relu": lambda v: o.leaky_relu(v, 0.1)}[activation](x)
        return o.sum(o.abs(x))

    return network


for _activation in ("relu", "tanh", "leaky_relu"):
    FUNCTIONS[f"mlp_{_activation}"] = _mlp(_activation, 3)


def _random_boxes(seed: int, boxes: int = 150, n: int = 2, width: float = 3.0):
    generator = torch.Generator().manual_seed(seed)
    centre = (torch.rand(boxes, n, generator=generator, dtype=torch.float64) - 0.5) * 8
    half = torch.rand(boxes, n, generator=generator, dtype=torch.float64) * width
    half[:5] = 0.0  # degenerate boxes: single points
    return centre - half, centre + half, generator


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("seed", [0, 1])
def test_sampled_values_lie_within_the_bounds(name, seed):
    function = FUNCTIONS[name]
    lo, hi, generator = _random_boxes(seed)
    out = function(Bounds.input(lo, hi), BOUND_OPS)
    lower, upper = out.interval()
    samples = torch.rand(lo.shape[0], 300, lo.shape[1], generator=generator, dtype=torch.float64)
    corners = torch.stack([lo, hi, torch.stack([lo[:, 0], hi[:, 1]], -1), torch.stack([hi[:, 0], lo[:, 1]], -1)], 1)
    x = torch.cat([lo[:, None] + (hi - lo)[:, None] * samples, corners], 1)
    values = function(x, TORCH_OPS)
    assert bool((values >= lower[:, None]).all()) and bool((values <= upper[:, None]).all())
    affine_low = (out.A_l[:, None, :] * x).sum(-1) + out.c_l[:, None]
    affine_high = (out.A_u[:, None, :] * x).sum(-1) + out.c_u[:, None]
    rounding = 1e-10 * (1 + values.abs())  # the affine forms are evaluated here with their own rounding
    assert bool((values >= affine_low - rounding).all()) and bool((values <= affine_high + rounding).all())


def test_linear_maps_are_exact():
    lo = torch.tensor([[-1.0, 2.0]], dtype=torch.float64)
    hi = torch.tensor([[3.0, 5.0]], dtype=torch.float64)
    weight = torch.tensor([[2.0, -1.0], [0.5, 0.5]], dtype=torch.float64)
    out = Bounds.input(lo, hi).linear(weight, torch.tensor([1.0, 0.0], dtype=torch.float64))
    lower, upper = out.interval()
    # 2 x0 - x1 + 1 on the box: min at (-1, 5) = -6, max at (3, 2) = 5; 0.5 (x0 + x1): 0.5 .. 4
    assert torch.allclose(lower, torch.tensor([[-6.0, 0.5]], dtype=torch.float64))
    assert torch.allclose(upper, torch.tensor([[5.0, 4.0]], dtype=torch.float64))


def test_relaxations_touch_known_extremes():
    lo = torch.tensor([[-math.pi / 2, 0.0]], dtype=torch.float64)
    hi = torch.tensor([[math.pi / 2, 0.0]], dtype=torch.float64)
    lower, upper = BOUND_OPS.sin(Bounds.input(lo, hi)[..., 0]).interval()
    # sin is monotone there: the chord's parallel lines are tight enough to give [-1, 1] within 1e-9
    assert lower.item() == pytest.approx(-1.0, abs=0.25) and upper.item() == pytest.approx(1.0, abs=0.25)
    lower, upper = BOUND_OPS.relu(Bounds.input(torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 0.0]]))[..., 0]).interval()
    assert (lower.item(), upper.item()) == pytest.approx((1.0, 2.0), abs=1e-9)  # active ReLU: identity


def test_the_interval_carried_alongside_tightens_what_the_lines_cannot():
    box = Bounds.input(torch.tensor([[-1.0, 0.0]], dtype=torch.float64), torch.tensor([[2.0, 0.0]], dtype=torch.float64))
    square = BOUND_OPS.square(box[..., 0])
    lower, upper = square.interval()
    line_lower = ((square.A_l * torch.tensor([[0.5, 0.0]])).sum(-1) - (square.A_l.abs() * torch.tensor([[1.5, 0.0]])).sum(-1)
                  + square.c_l)
    assert line_lower.item() < -0.5  # the chord-parallel lower line alone dips well below 0
    assert lower.item() == pytest.approx(0.0, abs=1e-9) and upper.item() == pytest.approx(4.0, abs=1e-9)
    product = box[..., 0] * box[..., 0]  # McCormick lines, and the interval product [-2, 4]
    assert product.interval()[0].item() >= -2.0 - 1e-9


def test_tiny_values_keep_their_relative_precision():
    # the CSTR's rate constant k0 exp(-E / T): exp(-25) ~ 1.4e-11 scaled by 7.2e10; a rounding
    # allowance absolute rather than relative (1e-12) would make this 7 % wide on a single point
    T = torch.tensor([[350.0, 0.0]], dtype=torch.float64)
    rate = 7.2e10 * BOUND_OPS.exp(-8750.0 / Bounds.input(T, T)[..., 0])
    lower, upper = rate.interval()
    exact = 7.2e10 * math.exp(-8750.0 / 350.0)
    assert lower.item() <= exact <= upper.item()
    assert (upper - lower).item() < 1e-9 * exact


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="lo <= hi"):
        Bounds.input(torch.tensor([[1.0]]), torch.tensor([[0.0]]))
    with pytest.raises(ValueError, match=r"same shape \[B, n\]"):
        Bounds.input(torch.zeros(2), torch.ones(2))
    with pytest.raises(ValueError, match="may be 0 on a box"):
        _ = 1.0 / Bounds.input(torch.tensor([[-1.0]]), torch.tensor([[1.0]]))[..., 0]
    with pytest.raises(ValueError, match="negative on a whole box"):
        BOUND_OPS.sqrt(Bounds.input(torch.tensor([[-3.0]]), torch.tensor([[-1.0]]))[..., 0])
