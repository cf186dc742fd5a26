"""agents.verification.boxes: the queue hands boxes out depth first, halves each along its widest side
relative to the region, and fills batches from older chunks only when asked; the budget's limits."""

from __future__ import annotations

import numpy as np

from agents.verification.boxes import BoxQueue, Budget


def test_split_halves_the_widest_side_relative_to_the_region_lower_halves_first():
    queue = BoxQueue([0.0, 0.0], [4.0, 1.0])
    lo, hi = np.array([[0.0, 0.0], [0.0, 0.0]]), np.array([[2.0, 1.0], [4.0, 0.25]])
    queue.split(lo, hi, np.array([3, 5]))
    # box 0 is half the region wide in x and all of it in y: split in y; box 1 is widest in x
    assert len(queue) == 4
    lo, hi, depth = queue.take(10)
    assert lo.tolist() == [[0.0, 0.0], [0.0, 0.0], [0.0, 0.5], [2.0, 0.0]]
    assert hi.tolist() == [[2.0, 0.5], [2.0, 0.25], [2.0, 1.0], [4.0, 0.25]]
    assert depth.tolist() == [4, 6, 4, 6] and len(queue) == 0 and queue.taken == 4


def test_batches_keep_the_newest_chunk_apart_unless_filled():
    def queue_with_two_chunks(fill):
        queue = BoxQueue([0.0], [1.0], fill=fill)
        queue.push(np.arange(5.0)[:, None], np.arange(1.0, 6.0)[:, None])
        queue.take(2)
        queue.push(np.array([[10.0]]), np.array([[11.0]]), np.array([7]))
        return queue

    plain, filled = queue_with_two_chunks(False), queue_with_two_chunks(True)
    assert plain.take(3)[0].ravel().tolist() == [10.0]  # the newest chunk alone
    assert plain.take(3)[0].ravel().tolist() == [2.0, 3.0, 4.0]
    lo, _, depth = filled.take(3)
    assert lo.ravel().tolist() == [10.0, 2.0, 3.0] and depth.tolist() == [7, 0, 0]  # the same order, topped up
    assert filled.clear() == 1 and len(filled) == 0 and filled.take(3)[0].shape == (0, 1)


def test_budget_limits():
    budget = Budget(max_depth=3, max_boxes=10)
    assert budget.too_deep(np.array([2, 3, 4])).tolist() == [False, True, True]
    assert budget.allows(10) and not budget.allows(11)
    assert not Budget(max_depth=1, max_boxes=10, timeout_s=0.0, started=0.0).allows(0)
