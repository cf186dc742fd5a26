"""The box queue of a branch and bound, and its budgets.

A verifier takes boxes from the queue in batches, decides each (proved, refuted, excluded) or splits
it in two along its widest side relative to the region, and the halves go back to the front of the
queue: the search is depth first, so the queue stays small. Boxes are float64 numpy arrays ``lo``,
``hi`` (B, n) with their split ``depth`` (B,).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class BoxQueue:
    """Boxes waiting for a verdict, the halves of the latest split first.

    The queue is a stack of chunks (the boxes of one :meth:`push` or :meth:`split`). :meth:`take`
    returns the next ``batch`` boxes in queue order; with ``fill=False`` a batch holds boxes of the
    newest chunk only (a smaller batch rather than one mixing the halves of a split with older
    boxes), with ``fill=True`` it is topped up from the chunks below. The order the boxes are taken in
    is the same either way.

    Args:
        region_low, region_high: the region whose sides the widest side of a box is measured against.
        fill: see above.
    """

    def __init__(self, region_low: Any, region_high: Any, fill: bool = False) -> None:
        self.region_low = np.asarray(region_low, dtype=np.float64)
        self.span = np.asarray(region_high, dtype=np.float64) - self.region_low
        self.fill = fill
        self.chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.taken = 0  # boxes handed out by take, in all

    def __len__(self) -> int:
        return sum(len(chunk[0]) for chunk in self.chunks)

    def push(self, lo: np.ndarray, hi: np.ndarray, depth: np.ndarray | None = None) -> None:
        """Put boxes at the front of the queue (``depth`` 0 when not given)."""
        if depth is None:
            depth = np.zeros(len(lo), dtype=np.int64)
        if len(lo):
            self.chunks.append((lo, hi, depth))

    def take(self, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lo, hi, depth) of up to ``batch`` boxes from the front of the queue (an empty batch when
        the queue is empty)."""
        parts = []
        wanted = batch
        while self.chunks and wanted > 0:
            lo, hi, depth = self.chunks.pop()
            if len(lo) > wanted:
                self.chunks.append((lo[wanted:], hi[wanted:], depth[wanted:]))
                lo, hi, depth = lo[:wanted], hi[:wanted], depth[:wanted]
            parts.append((lo, hi, depth))
            wanted -= len(lo)
            if not self.fill:
                break
        if not parts:
            n = len(self.span)
            return np.empty((0, n)), np.empty((0, n)), np.empty(0, dtype=np.int64)
        self.taken += batch - wanted
        if len(parts) == 1:
            return parts[0]
        return tuple(np.concatenate([part[k] for part in parts]) for k in range(3))  # type: ignore[return-value]

    def split(self, lo: np.ndarray, hi: np.ndarray, depth: np.ndarray) -> None:
        """Halve each box along its widest side relative to the region and put the halves at the
        front of the queue: all the lower halves, then all the upper ones, one deeper."""
        if not len(lo):
            return
        rows = np.arange(len(lo))
        axis = np.argmax((hi - lo) / self.span, axis=1)
        middle = (lo[rows, axis] + hi[rows, axis]) / 2
        lower_hi, upper_lo = hi.copy(), lo.copy()
        lower_hi[rows, axis] = middle
        upper_lo[rows, axis] = middle
        self.push(np.concatenate([lo, upper_lo]), np.concatenate([lower_hi, hi]),
                  np.concatenate([depth + 1, depth + 1]))

    def clear(self) -> int:
        """Empty the queue; returns how many boxes were left in it."""
        left = len(self)
        self.chunks.clear()
        return left


@dataclass
class Budget:
    """What a branch and bound may spend: splits per box path (``max_depth``), boxes
    (``max_boxes``), wall seconds from its creation (``timeout_s``; None: no limit). A box the budget
    leaves undecided counts as a timeout, so an exhausted budget never proves a claim."""

    max_depth: int
    max_boxes: int
    timeout_s: float | None = None
    started: float = field(default_factory=time.perf_counter)

    def too_deep(self, depth: np.ndarray) -> np.ndarray:
        """Which boxes may not be split again."""
        return depth >= self.max_depth

    def allows(self, boxes: int) -> bool:
        """Whether a search may have spent ``boxes`` boxes in all (within ``max_boxes``) and is
        within its time."""
        return boxes <= self.max_boxes and not self.over_time()

    def over_time(self) -> bool:
        return self.timeout_s is not None and time.perf_counter() - self.started > self.timeout_s

    def elapsed(self) -> float:
        return time.perf_counter() - self.started
