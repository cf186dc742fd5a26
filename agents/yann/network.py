"""Y-wise affine neural networks (YANNs): a piecewise-affine function on polytopes as a torch module.

A YANN represents ``u(x) = K_r x + k_r`` for ``x`` in region ``r = {x : E_r x <= f_r}`` exactly, for any
number of regions, inputs ``n`` and outputs ``m``. The explicit solution of a multi-parametric linear
MPC (an mp-QP) is such a function, so a YANN is that controller as a network whose affine laws can
then be trained.

Layers (``R`` regions, at most ``C`` constraints per region; shorter regions are padded with the row
``0 x <= 1``, which always holds):

1. **Constraint steps** -- ``Linear(n -> R*C)`` with weights ``-E`` and bias ``f + tolerance``, then a
   unit step: ``h_rc = 1`` where constraint ``c`` of region ``r`` holds (``E_rc x <= f_rc + tolerance``).
2. **Region indicators** -- 0/1 block weights summing a region's steps, bias ``1 - C``, ReLU:
   ``z_r = 1`` exactly when every constraint of region ``r`` holds.
3. **Tie-break** -- ``relu((I - L) z)`` with ``L`` the strictly lower-triangular ones: a region stays
   on only if no earlier region is on. A point on a facet shared by several regions (or, with a
   tolerance, near one) then belongs to the first of them. That is also ppopt's point location (the
   first region in its list within its tolerance), so a YANN built with ppopt's tolerance and
   region order reproduces ppopt's evaluation exactly, boundaries included.
4. **Big-M selection** -- on ``[z, x]``, per region ``r`` and output ``j`` the ReLU pair
   ``relu(M z_r + a_rj - M) - relu(M z_r - a_rj - M)`` with ``a_r = K_r x + k_r``, summed over regions
   by a fixed +-1 output layer. The active region (``z_r = 1``) contributes ``a_rj``; the others
   contribute 0 as long as ``|a_rj| < M``.

**Choice of M.** ``M = 2 max_r max_{x in D} |K_r x + k_r|_inf + 1`` over a box ``D`` containing every
region (given to the constructor, or the regions' bounding box found by linear programming). The
bound is exact interval arithmetic, ``|K_r c + k_r| + |K_r| w`` with ``c`` the box's centre and ``w``
its half-widths, and it is recomputed whenever the laws change, so the network stays exact after
training. A state in some region lies in ``D``, where every law is below ``M / 2``; a state in no
region takes the fallback branch, so the bound is never needed outside ``D``. The pair's rounding
error in float64 is about ``M * 1e-16``.

**Outside the feasible set** no region is active and layer 4 gives 0. A separate, explicit branch
then returns the *fallback*: the affine law ``K_f x + k_f`` clipped to ``[low, high]`` (typically
the saturated LQR), chosen by ``torch.where`` on "no region active", so it is exact too.

Layers 1-3 (:class:`PolytopeIndicators`) are buffers: no parameters, and no gradient flows through
them (the step has none). The per-region laws ``K``, ``k`` are trainable parameters. Everything is
float64 and batched; ``forward`` has no Python loop over regions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

Region = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # (E_r, f_r, K_r, k_r)
Polytope = tuple[np.ndarray, np.ndarray]  # (E_r, f_r)

PAD_SLACK = 1.0  # a padding row 0 x <= PAD_SLACK always holds


@dataclass(frozen=True)
class AffineFallback:
    """The law used where no region is active: ``clip(K x + k, low, high)``."""

    K: np.ndarray
    k: np.ndarray
    low: np.ndarray
    high: np.ndarray

    @classmethod
    def create(cls, K: Any, k: Any = None, low: Any = None, high: Any = None) -> AffineFallback:
        K = np.atleast_2d(np.asarray(K, dtype=np.float64))
        m = K.shape[0]
        k = np.zeros(m) if k is None else np.asarray(k, dtype=np.float64).reshape(m)
        low = np.full(m, -np.inf) if low is None else np.asarray(low, dtype=np.float64).reshape(m)
        high = np.full(m, np.inf) if high is None else np.asarray(high, dtype=np.float64).reshape(m)
        if np.any(low > high):
            raise ValueError(f"fallback bounds have low > high: low={low}, high={high}")
        return cls(K, k, low, high)


def check_polytopes(polytopes: Sequence[Polytope]) -> tuple[list[Polytope], int]:
    """The polytopes as float64 ``(E, f)`` pairs, and their dimension; clear errors otherwise."""
    if len(polytopes) == 0:
        raise ValueError("a YANN needs at least one region; the explicit solution has none")
    checked: list[Polytope] = []
    n = None
    for index, (E, f) in enumerate(polytopes):
        E = np.atleast_2d(np.asarray(E, dtype=np.float64))
        f = np.asarray(f, dtype=np.float64).reshape(-1)
        n = E.shape[1] if n is None else n
        if E.shape != (len(f), n):
            raise ValueError(f"region {index}: E has shape {E.shape} and f {f.shape}; expected E (c, {n}), f (c,)")
        if not (np.all(np.isfinite(E)) and np.all(np.isfinite(f))):
            raise ValueError(f"region {index} has non-finite constraints")
        checked.append((E, f))
    return checked, int(n)


def _split_regions(regions: Sequence[Region]) -> tuple[list[Polytope], np.ndarray, np.ndarray]:
    polytopes, laws = [], []
    for index, region in enumerate(regions):
        try:
            E, f, K, k = region
        except (TypeError, ValueError):
            raise ValueError(f"region {index} must unpack as (E, f, K, k), got {type(region).__name__}") from None
        polytopes.append((E, f))
        laws.append((np.atleast_2d(np.asarray(K, dtype=np.float64)), np.asarray(k, dtype=np.float64).reshape(-1)))
    polytopes, n = check_polytopes(polytopes)
    m = laws[0][0].shape[0]
    for index, (K, k) in enumerate(laws):
        if K.shape != (m, n) or k.shape != (m,):
            raise ValueError(f"region {index}: K has shape {K.shape} and k {k.shape}; expected K ({m}, {n}), k ({m},)")
        if not (np.all(np.isfinite(K)) and np.all(np.isfinite(k))):
            raise ValueError(f"region {index} has a non-finite law")
    return polytopes, np.stack([K for K, _ in laws]), np.stack([k for _, k in laws])


def bounding_box(polytopes: Sequence[Polytope]) -> tuple[np.ndarray, np.ndarray]:
    """The smallest box containing every polytope ``(E, f)`` (2 n linear programs each)."""
    from scipy.optimize import linprog

    polytopes, n = check_polytopes(polytopes)
    low, high = np.full(n, np.inf), np.full(n, -np.inf)
    for index, (E, f) in enumerate(polytopes):
        for i in range(n):
            for sign in (1.0, -1.0):
                c = np.zeros(n)
                c[i] = sign
                result = linprog(c, A_ub=E, b_ub=f, bounds=[(None, None)] * n, method="highs")
                if result.status == 3:
                    raise ValueError(f"region {index} is unbounded; pass the domain box explicitly")
                if result.status != 0:
                    raise ValueError(f"region {index}: cannot bound it ({result.message})")
                if sign > 0:
                    low[i] = min(low[i], result.fun)
                else:
                    high[i] = max(high[i], -result.fun)
    return low, high


def domain_box(domain: tuple[Any, Any] | None, polytopes: Sequence[Polytope], n: int) -> tuple[np.ndarray, np.ndarray]:
    if domain is None:
        return bounding_box(polytopes)
    low = np.asarray(domain[0], dtype=np.float64).reshape(-1)
    high = np.asarray(domain[1], dtype=np.float64).reshape(-1)
    if low.shape != (n,) or high.shape != (n,) or np.any(low > high) or not np.all(np.isfinite(low + high)):
        raise ValueError(f"domain must be a finite box (low, high) in {n} dimensions, got {domain}")
    return low, high


class IndicatorCache:
    """The last states each set of regions was asked about, and their indicators.

    Copies of the same fixed region layers (TD3's twin critics, their targets, the actor's YANN)
    are fed the same states in one update; sharing one cache (:func:`share_indicator_cache`) lets
    them compute the indicators once. Entries are keyed by the regions' content and hit only on an
    equal input, so a shared cache never changes an answer. A :class:`PolytopeIndicators` has its
    own until it is given a shared one.
    """

    def __init__(self) -> None:
        self._last: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def lookup(self, key: tuple, x: torch.Tensor) -> torch.Tensor | None:
        last = self._last.get(key)
        if last is not None and last[0].shape == x.shape and last[0].device == x.device and torch.equal(last[0], x):
            return last[1]
        return None

    def store(self, key: tuple, x: torch.Tensor, z: torch.Tensor) -> None:
        self._last[key] = (x.clone(), z)

    def clear(self) -> None:
        self._last.clear()


def share_indicator_cache(module: nn.Module) -> IndicatorCache:
    """Give every :class:`PolytopeIndicators` inside ``module`` one :class:`IndicatorCache` (a
    policy does so for its actors and critics) and return it."""
    cache = IndicatorCache()
    for child in module.modules():
        if isinstance(child, PolytopeIndicators):
            child.cache = cache
    return cache


class PolytopeIndicators(nn.Module):
    """Layers 1-3 of a YANN: ``x -> z``, one-hot over the regions containing ``x`` (the first of
    them), all zero where none does. Fixed buffers only; see the module docstring.

    Layers 1 and 2 are evaluated in an equivalent form that makes one pass over the (B, C*R) tensor
    instead of three: all C steps of region r are 1 (so ``relu(sum_c h_rc + 1 - C) = 1``) exactly
    when its largest violation ``max_c (E_rc x - f_rc - tol)`` is <= 0. Layer 3, ``relu(z - L z)``
    with ``L z`` the exclusive cumulative sum, is computed as ``relu(2 z - cumsum z)``.
    """

    def __init__(self, polytopes: Sequence[Polytope], tolerance: float = 0.0) -> None:
        super().__init__()
        polytopes, n = check_polytopes(polytopes)
        if not tolerance >= 0:
            raise ValueError(f"tolerance must be >= 0, got {tolerance}")
        self.tolerance = float(tolerance)
        self.n_inputs, self.n_regions = n, len(polytopes)
        self.max_constraints = width = max(len(f) for _, f in polytopes)
        E_pad = np.zeros((len(polytopes), width, n))
        f_pad = np.full((len(polytopes), width), PAD_SLACK)
        for r, (E, f) in enumerate(polytopes):
            E_pad[r, : len(f)] = E
            f_pad[r, : len(f)] = f
        # layer 1: Linear(n -> R*C), weight -E, bias f + tol, step. Stored constraint-major (column
        # c * R + r) as the violation map x -> E x - (f + tol), whose maxima over c layer 2 takes
        E_cr = np.transpose(E_pad, (1, 0, 2)).reshape(-1, n)
        f_cr = f_pad.T.reshape(-1)
        self.register_buffer("weight_t", torch.as_tensor(E_cr.T.copy(), dtype=torch.float64))
        self.register_buffer("offset", torch.as_tensor(-(f_cr + self.tolerance), dtype=torch.float64))
        # layers 2 (block ones, bias 1 - C, ReLU) and 3 (I - L, ReLU) have fixed 0/1 weights that
        # need no storage
        self.register_buffer("step_at_zero", torch.ones((), dtype=torch.float64))
        self.cache = IndicatorCache()  # the last answer; shared among copies by share_indicator_cache

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        key = self._fingerprint()
        x = x.detach()  # the step has no gradient
        z = self.cache.lookup(key, x)
        if z is not None:
            return z
        violation = torch.addmm(self.offset, x, self.weight_t)
        worst = violation.view(-1, self.max_constraints, self.n_regions).amax(1)
        z = torch.heaviside(worst.neg_(), self.step_at_zero)  # 1 where no constraint is violated
        z = z.mul(2.0).sub_(torch.cumsum(z, dim=-1)).relu_()
        self.cache.store(key, x, z)
        return z

    def _fingerprint(self) -> tuple:
        """Identifies the regions by content (recomputed only if a buffer is written)."""
        versions = (self.weight_t._version, self.offset._version, self.weight_t.data_ptr())
        if getattr(self, "_fingerprint_versions", None) != versions:
            self._fingerprint_value = (self.tolerance, self.weight_t.shape,
                                       hash(self.weight_t.detach().cpu().numpy().tobytes()),
                                       hash(self.offset.detach().cpu().numpy().tobytes()))
            self._fingerprint_versions = versions
        return self._fingerprint_value

    def extra_repr(self) -> str:
        return (f"inputs={self.n_inputs}, regions={self.n_regions}, "
                f"constraints_per_region<={self.max_constraints}, tolerance={self.tolerance:g}")


def feasible(z: torch.Tensor) -> torch.Tensor:
    """Which rows of the indicators ``z`` have an active region."""
    return z.sum(-1) > 0.5


class YANN(nn.Module):
    """A piecewise-affine function on polytopic regions, exactly, as a network (module docstring).

    Arguments
    ---------
    regions
        Sequence of ``(E_r, f_r, K_r, k_r)`` (or objects that unpack so, such as
        :class:`agents.mpc.Region`): region ``{x : E_r x <= f_r}`` with law ``K_r x + k_r``. Earlier
        regions win on shared facets.
    domain
        ``(low, high)``: a box containing every region, used for ``M``; by default the regions'
        bounding box (computed by linear programming).
    fallback
        :class:`AffineFallback` (or a tuple ``(K, k, low, high)``) used where no region is active;
        ``None`` means zero there.
    tolerance
        A constraint holds where ``E x <= f + tolerance``; use the point-location tolerance of the
        solver whose evaluation the YANN must reproduce (ppopt: 1e-5). Default 0: closed regions.
    """

    def __init__(
        self,
        regions: Sequence[Region],
        domain: tuple[Any, Any] | None = None,
        fallback: AffineFallback | tuple | None = None,
        tolerance: float = 0.0,
    ) -> None:
        super().__init__()
        polytopes, K, k = _split_regions(regions)
        self.indicators = PolytopeIndicators(polytopes, tolerance)
        self.n_regions, self.n_outputs, self.n_inputs = K.shape
        dt = torch.float64
        low, high = domain_box(domain, polytopes, self.n_inputs)
        self.register_buffer("domain_centre", torch.as_tensor((low + high) / 2, dtype=dt))
        self.register_buffer("domain_half_width", torch.as_tensor((high - low) / 2, dtype=dt))

        # layer 4: the per-region affine laws (trainable) and the fixed +-1 output layer
        self.K = nn.Parameter(torch.as_tensor(K, dtype=dt))
        self.k = nn.Parameter(torch.as_tensor(k, dtype=dt))
        rows = np.arange(2 * self.n_regions * self.n_outputs)
        output = np.zeros((len(rows), self.n_outputs))
        output[rows, rows % self.n_outputs] = np.where(rows < len(rows) // 2, 1.0, -1.0)
        self.register_buffer("output_weight", torch.as_tensor(output, dtype=dt))

        if fallback is None:
            fallback = AffineFallback.create(np.zeros((self.n_outputs, self.n_inputs)))
        elif not isinstance(fallback, AffineFallback):
            fallback = AffineFallback.create(*fallback)
        if fallback.K.shape != (self.n_outputs, self.n_inputs):
            raise ValueError(f"fallback gain must be {self.n_outputs}x{self.n_inputs}, got {fallback.K.shape}")
        self.register_buffer("fallback_K", torch.as_tensor(fallback.K, dtype=dt))
        self.register_buffer("fallback_k", torch.as_tensor(fallback.k, dtype=dt))
        self.register_buffer("fallback_low", torch.as_tensor(fallback.low, dtype=dt))
        self.register_buffer("fallback_high", torch.as_tensor(fallback.high, dtype=dt))
        # M and layer 4 for the tensors they were computed from (copies of them): see _refresh
        self._computed_from: tuple[torch.Tensor, ...] | None = None
        self._big_m = 0.0
        self._layer4: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def tolerance(self) -> float:
        return self.indicators.tolerance

    def big_m(self) -> float:
        """``M`` for the current laws (module docstring)."""
        self._refresh()
        return self._big_m

    def _inputs_unchanged(self) -> bool:
        # compared by value: writes through ``.data`` (SB3's soft target updates) leave no trace
        # in a tensor's version counter, so a version key would miss them
        seen = self._computed_from
        if seen is None:
            return False
        params, buffers = self._parameters, self._buffers  # (nn.Module's attribute lookup is slow)
        try:
            return (torch.equal(seen[0], params["K"]) and torch.equal(seen[1], params["k"])
                    and torch.equal(seen[2], buffers["domain_centre"])
                    and torch.equal(seen[3], buffers["domain_half_width"]))
        except RuntimeError:  # moved to another device since
            return False

    def _refresh(self, force: bool = False) -> None:
        """Recompute ``M`` and layer 4 unless the laws and the domain are what they were computed from."""
        if not force and self._inputs_unchanged():
            return
        with torch.no_grad():
            centre = self.K @ self.domain_centre + self.k
            spread = self.K.abs() @ self.domain_half_width
            self._big_m = float(2.0 * (centre.abs() + spread).max() + 1.0)
            weight, bias = self._layer4_affine()
            self._layer4 = (weight.contiguous(), bias)
            self._computed_from = tuple(t.detach().clone() for t in
                                        (self.K, self.k, self.domain_centre, self.domain_half_width))

    def _layer4_affine(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer 4's affine part ``x -> +-(K_rj x + k_rj) - M`` for its 2 R m units, ordered
        (sign, region, output): weight (n, 2 R m), bias (2 R m,). Its ``M z_r`` part is a fixed 0/1
        pattern times ``M``, applied by broadcasting."""
        weight = torch.stack([self.K, -self.K]).reshape(-1, self.n_inputs).T
        bias = torch.stack([self.k, -self.k]).reshape(-1) - self._big_m
        return weight, bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        single = x.dim() == 1
        if single:
            x = x.unsqueeze(0)
        if x.dtype != torch.float64:
            x = x.to(torch.float64)
        z = self.indicators.forward(x)  # (skipping Module.__call__ saves microseconds at batch 1)
        if torch.is_grad_enabled() and (self.K.requires_grad or self.k.requires_grad):
            self._refresh(force=True)  # training: M from the laws as they are now
            weight, bias = self._layer4_affine()  # differentiable in the laws
        else:
            self._refresh()
            weight, bias = self._layer4  # cached until the laws change
        pre = torch.addmm(bias, x, weight).view(-1, 2, self.n_regions, self.n_outputs)
        pre = pre + (self._big_m * z).view(-1, 1, self.n_regions, 1)
        u = torch.relu(pre).view(len(x), -1) @ self.output_weight  # sum_r relu(+) - relu(-)
        if z.sum().item() < len(x):  # a state in no region: the explicit fallback branch
            fallback = torch.clamp(F.linear(x, self.fallback_K, self.fallback_k), self.fallback_low, self.fallback_high)
            u = torch.where(feasible(z).unsqueeze(-1), u, fallback)
        return u[0] if single else u

    def active_region(self, x: Any) -> np.ndarray:
        """The index of the active region per state, -1 outside the feasible set."""
        with torch.no_grad():
            z = self.indicators(torch.atleast_2d(torch.as_tensor(x, dtype=torch.float64)))
            return torch.where(feasible(z), z.argmax(-1), -1).numpy()

    def extra_repr(self) -> str:
        return f"outputs={self.n_outputs}"


def parameter_count(network: nn.Module, include_buffers: bool = True) -> int:
    """Numbers in a network: trainable parameters plus (by default) its fixed layers' buffers."""
    count = sum(p.numel() for p in network.parameters())
    if include_buffers:
        count += sum(b.numel() for b in network.buffers())
    return count
