"""Sound linear bounds of a computation over input boxes (forward linear bound propagation).

A :class:`Bounds` holds, for a batch of input boxes ``lo[b] <= x <= hi[b]`` (``x`` in R^n), affine
functions that bound every element ``s`` of a value from below and above on the whole box:

    A_l[b, s] . x + c_l[b, s]  <=  value_s(x)  <=  A_u[b, s] . x + c_u[b, s]

Arithmetic keeps them exact where it can (sums, constant scalings, linear layers) and relaxes
nonlinear operations soundly (the CROWN family of relaxations, propagated forward, which is cheap
when the input has few dimensions, as a plant's state has):

- ReLU and LeakyReLU: CROWN's relaxation (the chord above; the better of the two linear pieces below).
- tanh, sin, cos, exp, sqrt, square, abs, clamp: two lines of the chord's slope, offset to touch the
  function from above and below. The offsets are exact: ``f(t) - k t`` is extremal on ``[l, u]``
  only at the ends or where ``f'(t) = k``, and these points are known in closed form for each
  function (``atanh(sqrt(1 - k))`` for tanh, ``acos(k) + 2 pi m`` for sin, the kinks for abs and
  clamp, ...), so no sampling is involved.
- products of two bounded values: McCormick's envelopes; ``1 / t`` on boxes away from 0.

A margin of 1e-12 relative to the magnitudes involved (10^4 times float64's unit roundoff, room for
the rounding accumulated through layers) is added to every relaxation's offsets and every interval,
so floating-point rounding cannot make a bound unsound; it is relative, not absolute, so tiny values
keep their precision. ``interval()`` gives each element's lower and upper bound on its box.

The same model code runs on tensors and on Bounds: ``BOUND_OPS`` offers the methods of
:class:`agents.lyapunov.ops.TorchOps`, and ``BOUND_XP`` the backend methods a
:class:`envs.control.system.ControlSystem` computes its dynamics with.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import torch

MARGIN = 1e-12  # relative safety margin (floating-point rounding is ~1e-16 relative per operation)
TINY = 1e-300   # and an absolute one, for results that are exactly 0

# slope_l, offset_l, slope_u, offset_u of the two lines, then the function's exact range low, high
Relaxation = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def _as_tensor(value: Any, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(value, dtype=like.dtype, device=like.device)


class Bounds:
    """Linear lower and upper bounds of a value of shape ``[B, *S]`` over ``B`` input boxes, with
    an elementwise interval ``[box_l, box_u]`` carried alongside (interval arithmetic): the
    reported interval is the intersection of the two, which helps where a relaxation's lines are
    loose (a square over a box that straddles 0 is >= 0, whatever its lower line says)."""

    __array_priority__ = 1000  # numpy scalars defer to our operators

    def __init__(self, lo: torch.Tensor, hi: torch.Tensor, A_l: torch.Tensor, c_l: torch.Tensor,
                 A_u: torch.Tensor, c_u: torch.Tensor, box_l: torch.Tensor, box_u: torch.Tensor) -> None:
        self.lo, self.hi = lo, hi
        self.A_l, self.c_l, self.A_u, self.c_u = A_l, c_l, A_u, c_u
        self.box_l, self.box_u = box_l, box_u

    # -- construction and reading -------------------------------------------------------------
    @classmethod
    def input(cls, lo: Any, hi: Any) -> Bounds:
        """The identity ``x`` on the boxes ``[lo, hi]`` (shape [B, n]); float64."""
        lo = torch.as_tensor(lo, dtype=torch.float64)
        hi = torch.as_tensor(hi, dtype=torch.float64)
        if lo.shape != hi.shape or lo.dim() != 2:
            raise ValueError(f"boxes need lo and hi of the same shape [B, n], got {tuple(lo.shape)} and {tuple(hi.shape)}")
        if not bool((lo <= hi).all()):
            raise ValueError("every box needs lo <= hi")
        batch, n = lo.shape
        eye = torch.eye(n, dtype=lo.dtype).expand(batch, n, n).clone()
        zero = torch.zeros(batch, n, dtype=lo.dtype)
        return cls(lo, hi, eye, zero, eye.clone(), zero.clone(), lo, hi)

    @property
    def shape(self) -> torch.Size:
        return self.c_l.shape

    def interval(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Elementwise lower and upper bounds over each box (the linear bounds minimised and maximised)."""
        center = (self.lo + self.hi) / 2
        radius = (self.hi - self.lo) / 2
        shape = (self.lo.shape[0],) + (1,) * (self.c_l.dim() - 1) + (self.lo.shape[1],)
        center, radius = center.reshape(shape), radius.reshape(shape)
        lower = (self.A_l * center).sum(-1) - (self.A_l.abs() * radius).sum(-1) + self.c_l
        upper = (self.A_u * center).sum(-1) + (self.A_u.abs() * radius).sum(-1) + self.c_u
        # widened by the rounding the affine evaluation (and the model's own arithmetic) may carry
        scale_l = (self.A_l.abs() * (center.abs() + radius)).sum(-1) + self.c_l.abs()
        scale_u = (self.A_u.abs() * (center.abs() + radius)).sum(-1) + self.c_u.abs()
        lower = torch.maximum(lower - MARGIN * scale_l - TINY, self.box_l)
        upper = torch.minimum(upper + MARGIN * scale_u + TINY, self.box_u)
        return lower, upper

    # -- exact operations ---------------------------------------------------------------------
    def __add__(self, other: Any) -> Bounds:
        if isinstance(other, Bounds):
            return Bounds(self.lo, self.hi, self.A_l + other.A_l, self.c_l + other.c_l,
                          self.A_u + other.A_u, self.c_u + other.c_u,
                          _round_down(self.box_l + other.box_l, self.box_l.abs() + other.box_l.abs()),
                          _round_up(self.box_u + other.box_u, self.box_u.abs() + other.box_u.abs()))
        value = _as_tensor(other, self.lo)
        return Bounds(self.lo, self.hi, self.A_l, self.c_l + value, self.A_u, self.c_u + value,
                      _round_down(self.box_l + value, self.box_l.abs() + value.abs()),
                      _round_up(self.box_u + value, self.box_u.abs() + value.abs()))

    __radd__ = __add__

    def __neg__(self) -> Bounds:
        return Bounds(self.lo, self.hi, -self.A_u, -self.c_u, -self.A_l, -self.c_l, -self.box_u, -self.box_l)

    def __sub__(self, other: Any) -> Bounds:
        return self + (-other if isinstance(other, Bounds) else -_as_tensor(other, self.lo))

    def __rsub__(self, other: Any) -> Bounds:
        return (-self) + other

    def scale(self, factor: Any) -> Bounds:
        """Multiplication by a constant (a number or a tensor broadcast over the value's shape)."""
        w = _as_tensor(factor, self.lo)
        if w.dim() == 0:
            w = w.expand(self.c_l.shape)
        w = torch.broadcast_to(w, torch.broadcast_shapes(w.shape, self.c_l.shape))
        positive = w >= 0
        wa = w.unsqueeze(-1)
        A_l = torch.where(positive.unsqueeze(-1), wa * self.A_l, wa * self.A_u)
        A_u = torch.where(positive.unsqueeze(-1), wa * self.A_u, wa * self.A_l)
        c_l = torch.where(positive, w * self.c_l, w * self.c_u)
        c_u = torch.where(positive, w * self.c_u, w * self.c_l)
        box_l = torch.where(positive, w * self.box_l, w * self.box_u)
        box_u = torch.where(positive, w * self.box_u, w * self.box_l)
        return Bounds(self.lo, self.hi, A_l, c_l, A_u, c_u, _round_down(box_l), _round_up(box_u))

    def __mul__(self, other: Any) -> Bounds:
        if isinstance(other, Bounds):
            return self._product(other)
        return self.scale(other)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Bounds:
        if isinstance(other, Bounds):
            return self * (1.0 / other)
        return self.scale(1.0 / _as_tensor(other, self.lo))

    def __rtruediv__(self, other: Any) -> Bounds:
        """``constant / value`` for a value that is positive, or negative, on each whole box."""
        return self.apply(relax_reciprocal).scale(other)

    def __getitem__(self, index: Any) -> Bounds:
        """Only ``value[..., i]`` (a component of the last dimension) and ``value[..., i:j]``."""
        if not (isinstance(index, tuple) and len(index) == 2 and index[0] is Ellipsis):
            raise TypeError("Bounds support indexing of the last dimension only: value[..., i]")
        item = index[1]
        return Bounds(self.lo, self.hi, self.A_l[..., item, :], self.c_l[..., item],
                      self.A_u[..., item, :], self.c_u[..., item], self.box_l[..., item], self.box_u[..., item])

    @staticmethod
    def stack(parts: Sequence[Bounds]) -> Bounds:
        """Values of equal shape [B, *S] stacked into [B, *S, k]."""
        first = parts[0]
        return Bounds(first.lo, first.hi, torch.stack([p.A_l for p in parts], -2), torch.stack([p.c_l for p in parts], -1),
                      torch.stack([p.A_u for p in parts], -2), torch.stack([p.c_u for p in parts], -1),
                      torch.stack([p.box_l for p in parts], -1), torch.stack([p.box_u for p in parts], -1))

    def linear(self, weight: torch.Tensor, bias: torch.Tensor | None) -> Bounds:
        """``value @ weight.T + bias`` over the last dimension."""
        weight = _as_tensor(weight.detach(), self.lo)
        positive, negative = weight.clamp(min=0), weight.clamp(max=0)
        A_l = torch.einsum("oi,...in->...on", positive, self.A_l) + torch.einsum("oi,...in->...on", negative, self.A_u)
        A_u = torch.einsum("oi,...in->...on", positive, self.A_u) + torch.einsum("oi,...in->...on", negative, self.A_l)
        c_l = self.c_l @ positive.T + self.c_u @ negative.T
        c_u = self.c_u @ positive.T + self.c_l @ negative.T
        box_l = self.box_l @ positive.T + self.box_u @ negative.T
        box_u = self.box_u @ positive.T + self.box_l @ negative.T
        magnitude = torch.maximum(self.box_l.abs(), self.box_u.abs()) @ weight.abs().T
        if bias is not None:
            bias = _as_tensor(bias.detach(), self.lo)
            c_l, c_u, box_l, box_u = c_l + bias, c_u + bias, box_l + bias, box_u + bias
            magnitude = magnitude + bias.abs()
        return Bounds(self.lo, self.hi, A_l, c_l, A_u, c_u, _round_down(box_l, magnitude), _round_up(box_u, magnitude))

    def sum(self) -> Bounds:
        """The sum over the last dimension."""
        return Bounds(self.lo, self.hi, self.A_l.sum(-2), self.c_l.sum(-1), self.A_u.sum(-2), self.c_u.sum(-1),
                      _round_down(self.box_l.sum(-1), self.box_l.abs().sum(-1)),
                      _round_up(self.box_u.sum(-1), self.box_u.abs().sum(-1)))

    # -- relaxations --------------------------------------------------------------------------
    def relax(self, relaxation: Relaxation) -> Bounds:
        """Compose with ``slope_l t + offset_l <= f(t) <= slope_u t + offset_u`` (per element); the
        interval becomes f's range."""
        slope_l, offset_l, slope_u, offset_u, range_l, range_u = relaxation
        lower = self.scale(slope_l)
        upper = self.scale(slope_u)
        return Bounds(self.lo, self.hi, lower.A_l, lower.c_l + offset_l, upper.A_u, upper.c_u + offset_u,
                      range_l, range_u)

    def apply(self, relax_on: Callable[[torch.Tensor, torch.Tensor], Relaxation]) -> Bounds:
        low, high = self.interval()
        return self.relax(relax_on(low, high))

    def _product(self, other: Bounds) -> Bounds:
        """McCormick: with x in [lx, ux] and y in [ly, uy],
        x y >= ly x + lx y - lx ly  and  x y <= uy x + lx y - lx uy."""
        lx, ux = self.interval()
        ly, uy = other.interval()
        lower = self.scale(ly) + other.scale(lx)
        upper = self.scale(uy) + other.scale(lx)
        corners = torch.stack([lx * ly, lx * uy, ux * ly, ux * uy])
        return Bounds(self.lo, self.hi, lower.A_l, lower.c_l - lx * ly, upper.A_u, upper.c_u - lx * uy,
                      _round_down(corners.min(0).values), _round_up(corners.max(0).values))


# -- relaxations of scalar functions on [l, u] --------------------------------------------------
def _margin(*values: torch.Tensor) -> torch.Tensor:
    """Rounding allowance of a result computed from terms of these magnitudes: relative to the
    terms, not to 1 -- an absolute allowance would swamp tiny values such as the CSTR's
    exp(-E / T) ~ 1e-11 before they are scaled by k0 ~ 7e10."""
    scale = sum(v.abs() for v in values)
    return MARGIN * scale + TINY


def _round_down(value: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
    """``value`` lowered by the rounding of a result whose terms had magnitude ``scale`` (default
    ``|value|``: a product or a function value, rounded relative to itself)."""
    return value - MARGIN * (value.abs() if scale is None else scale) - TINY


def _round_up(value: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
    return value + MARGIN * (value.abs() if scale is None else scale) + TINY


def _range(f: Callable[[torch.Tensor], torch.Tensor], candidates: list[torch.Tensor], l: torch.Tensor,
           u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """f's range on [l, u] from the ends and the candidates inside (its stationary points and kinks)."""
    values = []
    for t in [l, u] + candidates:
        inside = (t >= l) & (t <= u) & ~torch.isnan(t)
        values.append(torch.where(inside, f(torch.where(inside, t, l)), torch.full_like(l, float("nan"))))
    stacked = torch.stack(values)
    low = torch.nan_to_num(stacked, nan=math.inf).min(0).values
    high = torch.nan_to_num(stacked, nan=-math.inf).max(0).values
    return _round_down(low), _round_up(high)


def _chord_relaxation(f: Callable[[torch.Tensor], torch.Tensor], fprime: Callable[[torch.Tensor], torch.Tensor],
                      critical: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], list[torch.Tensor]],
                      l: torch.Tensor, u: torch.Tensor) -> Relaxation:
    """Lines of the chord's slope ``k`` through the extremes of ``f(t) - k t`` on ``[l, u]``.

    ``critical(k, l, u)`` lists candidate points (tensors shaped like ``l``, NaN where absent)
    where ``f'(t) = k`` or where ``f`` has a kink; candidates outside ``[l, u]`` are ignored.
    """
    width = u - l
    wide = width > 1e-12
    k = torch.where(wide, (f(u) - f(l)) / torch.where(wide, width, torch.ones_like(width)), fprime((l + u) / 2))
    candidates = [l, u] + critical(k, l, u)
    gaps = []
    for t in candidates:
        inside = (t >= l) & (t <= u) & ~torch.isnan(t)
        t_safe = torch.where(inside, t, l)
        gaps.append(torch.where(inside, f(t_safe) - k * t_safe, torch.full_like(l, float("nan"))))
    stacked = torch.stack(gaps)
    top = torch.nan_to_num(stacked, nan=-math.inf).max(0).values
    bottom = torch.nan_to_num(stacked, nan=math.inf).min(0).values
    margin = _margin(top, bottom, k * l, k * u)
    return (k, bottom - margin, k, top + margin) + _range(f, critical(torch.zeros_like(k), l, u), l, u)


def _none(k: torch.Tensor, l: torch.Tensor, u: torch.Tensor) -> list[torch.Tensor]:
    return []


def _periodic(base: torch.Tensor, l: torch.Tensor, u: torch.Tensor) -> list[torch.Tensor]:
    """``base + 2 pi m`` for every integer m with the point in [l, u] (as a list of tensors)."""
    two_pi = 2 * math.pi
    first = torch.ceil((l - base) / two_pi)
    last = torch.floor((u - base) / two_pi)
    count = int(torch.nan_to_num(last - first + 1, nan=0).clamp(min=0).max().item()) if l.numel() else 0
    points = []
    for j in range(count):
        m = first + j
        point = base + two_pi * m
        points.append(torch.where(m <= last, point, torch.full_like(point, float("nan"))))
    return points


def relax_tanh(l: torch.Tensor, u: torch.Tensor) -> Relaxation:
    def critical(k, l, u):
        root = torch.atanh(torch.sqrt((1 - k).clamp(0, 1 - 1e-16)))
        valid = (k > 0) & (k <= 1)
        nan = torch.full_like(k, float("nan"))
        return [torch.where(valid, root, nan), torch.where(valid, -root, nan)]

    return _chord_relaxation(torch.tanh, lambda t: 1 - torch.tanh(t) ** 2, critical, l, u)


def relax_sin(l: torch.Tensor, u: torch.Tensor) -> Relaxation:
    def critical(k, l, u):
        base = torch.acos(k.clamp(-1, 1))
        return _periodic(base, l, u) + _periodic(-base, l, u)

    return _chord_relaxation(torch.sin, torch.cos, critical, l, u)


def relax_cos(l: torch.Tensor, u: torch.Tensor) -> Relaxation:
    def critical(k, l, u):  # -sin t = k
        base = torch.asin((-k).clamp(-1, 1))
        return _periodic(base, l, u) + _periodic(math.pi - base, l, u)

    return _chord_relaxation(torch.cos, lambda t: -torch.sin(t), critical, l, u)


def relax_exp(l: torch.Tensor, u: torch.Tensor) -> Relaxation:
    def critical(k, l, u):
        return [torch.where(k > 0, torch.log(k.clamp(min=1e-300)), torch.full_like(k, float("nan")))]

    return _chord_relaxation(torch.exp, torch.exp, critical, l, u)


def relax_square(l: torch.Tensor, u: torch.Tensor) -> Relaxation:
    return _chord_relaxation(lambda t: t * t, lambda t: 2 * t, lambda k, l, u: [k / 2], l, u)


def relax_sqrt(l: torch.Tensor, u: torch.Tensor) -> Relaxation:
    """On [max(l, 0), u]: the real argument of a square root is never negative (the model itself
    would be NaN there), so a lower bound below 0 is only the looseness of the bounds before it."""
    if bool((u < 0).any()):
        raise ValueError("sqrt of a value that is negative on a whole box")
    l_safe = l.clamp(min=1e-300)
    u = torch.maximum(u, l_safe)

    def critical(k, l, u):  # 1 / (2 sqrt t) = k
        return [torch.where(k > 0, 1 / (4 * k.clamp(min=1e-150) ** 2), torch.full_like(k, float("nan")))]

    return _chord_relaxation(torch.sqrt, lambda t: 0.5 / torch.sqrt(t.clamp(min=1e-300)), critical, l_safe, u)


def relax_reciprocal(l: torch.Tensor, u: torch.Tensor) -> Relaxation:
    """1 / t on boxes that do not contain 0 (convex for t > 0, concave for t < 0)."""
    if bool(((l <= 0) & (u >= 0)).any()):
        raise ValueError("division by a value that may be 0 on a box (its bounds straddle 0)")

    def critical(k, l, u):  # -1 / t^2 = k, on the side of 0 the box lies on
        root = torch.sqrt(-1 / k.clamp(max=-1e-300))
        return [torch.where(l > 0, root, -root)]

    return _chord_relaxation(torch.reciprocal, lambda t: -1 / (t * t), critical, l, u)


def relax_abs(l: torch.Tensor, u: torch.Tensor) -> Relaxation:
    return _chord_relaxation(torch.abs, torch.sign, lambda k, l, u: [torch.zeros_like(l)], l, u)


def relax_clamp(low: torch.Tensor, high: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], Relaxation]:
    def relax(l: torch.Tensor, u: torch.Tensor) -> Relaxation:
        lo, hi = torch.broadcast_to(low, l.shape), torch.broadcast_to(high, l.shape)
        return _chord_relaxation(lambda t: torch.minimum(torch.maximum(t, lo), hi),
                                 lambda t: ((t > lo) & (t < hi)).to(t.dtype),
                                 lambda k, l, u: [lo, hi], l, u)

    return relax


def relax_leaky_relu(slope: float) -> Callable[[torch.Tensor, torch.Tensor], Relaxation]:
    """CROWN: the chord above; below, the piece (identity or ``slope t``) nearer the function."""
    def relax(l: torch.Tensor, u: torch.Tensor) -> Relaxation:
        one = torch.ones_like(l)
        a = torch.full_like(l, slope)
        active, inactive = l >= 0, u <= 0
        width = torch.where(active | inactive, one, u - l)
        chord = (u - slope * l) / width
        chord_offset = slope * l - chord * l
        lower_slope = torch.where(u > -l, one, a)
        slope_l = torch.where(active, one, torch.where(inactive, a, lower_slope))
        slope_u = torch.where(active, one, torch.where(inactive, a, chord))
        offset_u = torch.where(active | inactive, torch.zeros_like(l), chord_offset)
        margin = _margin(offset_u, slope_u * l, slope_u * u)
        leaky = lambda t: torch.maximum(t, slope * t)  # noqa: E731  (monotone: the range is at the ends)
        return (slope_l, -margin, slope_u, offset_u + margin, _round_down(leaky(l)), _round_up(leaky(u)))

    return relax


relax_relu = relax_leaky_relu(0.0)


def _elementwise(relax_on: Callable[[torch.Tensor, torch.Tensor], Relaxation]) -> staticmethod:
    """An op applying one scalar function elementwise through its relaxation."""
    return staticmethod(lambda x: x.apply(relax_on))


class BoundOps:
    """:class:`agents.lyapunov.ops.TorchOps` on Bounds."""

    relu = _elementwise(relax_relu)
    tanh = _elementwise(relax_tanh)
    sin = _elementwise(relax_sin)
    cos = _elementwise(relax_cos)
    exp = _elementwise(relax_exp)
    sqrt = _elementwise(relax_sqrt)
    square = _elementwise(relax_square)
    abs = _elementwise(relax_abs)

    @staticmethod
    def linear(x: Bounds, weight: torch.Tensor, bias: torch.Tensor | None) -> Bounds:
        return x.linear(weight, bias)

    @staticmethod
    def leaky_relu(x: Bounds, slope: float) -> Bounds:
        return x.apply(relax_leaky_relu(float(slope)))

    @staticmethod
    def clamp(x: Bounds, low: Any, high: Any) -> Bounds:
        low, high = _as_tensor(low, x.lo), _as_tensor(high, x.lo)
        return x.apply(relax_clamp(low, high))

    @staticmethod
    def sum(x: Bounds) -> Bounds:
        return x.sum()

    @staticmethod
    def stack(parts: Sequence[Bounds]) -> Bounds:
        return Bounds.stack(list(parts))


BOUND_OPS = BoundOps()


class BoundXP:
    """The backend protocol of :class:`envs.control.system.ControlSystem` (``xp.sin`` ...) on
    Bounds, for smooth (non-stiff) plants."""

    sin = staticmethod(BoundOps.sin)
    cos = staticmethod(BoundOps.cos)
    exp = staticmethod(BoundOps.exp)
    sqrt = staticmethod(BoundOps.sqrt)
    abs = staticmethod(BoundOps.abs)
    stack = staticmethod(BoundOps.stack)


BOUND_XP = BoundXP()
