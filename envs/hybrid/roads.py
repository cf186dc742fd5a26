"""Roads of constant-curvature segments, each with its friction mode and nominal speed.

A road starts at the origin heading along +x. Segment ``i`` is an arc (a straight line when its
turn is zero) of ``length`` metres turning by ``turn`` radians (positive: left). ``random_road``
draws them as in the source paper's car benchmark: lengths of 0.5, 1 or 2.5 x 15 m, turns of
+-0.5, 1 or 1.5 x 30 degrees, a friction mode per segment, a nominal speed per segment.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from envs.hybrid.system import ModeSchedule

SEGMENT_LENGTHS = tuple(15.0 * f for f in (0.5, 1.0, 2.5))
SEGMENT_TURNS = tuple(math.radians(30.0) * f for f in (0.5, 1.0, 1.5))
STRAIGHT = 1e-12  # |curvature| below which a segment is a straight line
_TURN_SIGNS = (-1.0, 1.0)


@dataclass(frozen=True)
class Segment:
    length: float  # [m]
    turn: float  # heading change over the segment [rad], positive to the left
    friction: str  # a mode name of the car (see envs.hybrid.car.FRICTION_MODES)
    speed: float  # nominal reference speed [m/s]

    @property
    def curvature(self) -> float:
        return self.turn / self.length


class Road:
    """A sequence of segments with its geometry: poses along the centreline and projection onto it."""

    def __init__(self, segments: Sequence[Segment], modes: Mapping[str, object] | None = None) -> None:
        segments = list(segments)
        if not segments:
            raise ValueError("a road needs at least one segment (got none)")
        for index, seg in enumerate(segments):
            if not (np.isfinite(seg.length) and seg.length > 0):
                raise ValueError(f"segment {index}: length must be a positive number of metres (got {seg.length})")
            if not (np.isfinite(seg.turn) and abs(seg.turn) < math.pi):
                raise ValueError(f"segment {index}: turn must be finite and under pi radians (got {seg.turn})")
            if not (np.isfinite(seg.speed) and seg.speed > 0):
                raise ValueError(f"segment {index}: speed must be positive (got {seg.speed})")
            if modes is not None and seg.friction not in modes:
                raise ValueError(f"segment {index}: unknown friction mode {seg.friction!r}; known: {sorted(modes)}")
        self.segments = segments
        self.starts = np.concatenate([[0.0], np.cumsum([s.length for s in segments])])
        # pose (x, y, heading) at the start of each segment
        poses = [(0.0, 0.0, 0.0)]
        for seg in segments:
            poses.append(_advance(*poses[-1], seg.curvature, seg.length))
        self.start_poses = poses
        # the car's mode switches when its position crosses a segment boundary (a guard on the state)
        self.friction_schedule = ModeSchedule(self.starts[:-1], [seg.friction for seg in segments])

    @property
    def length(self) -> float:
        return float(self.starts[-1])

    def __len__(self) -> int:
        return len(self.segments)

    def index_at(self, s: float) -> int:
        """The segment containing arc length ``s`` (clamped to the first and last)."""
        return int(min(max(np.searchsorted(self.starts, s, side="right") - 1, 0), len(self.segments) - 1))

    def pose(self, s: float, offset: float = 0.0) -> tuple[float, float, float]:
        """(x, y, heading) of the point ``offset`` metres left of the centreline at arc length ``s``."""
        index = self.index_at(s)
        seg = self.segments[index]
        x, y, heading = _advance(*self.start_poses[index], seg.curvature, s - self.starts[index])
        return x - offset * math.sin(heading), y + offset * math.cos(heading), heading

    def project(self, x: float, y: float, near: int) -> tuple[float, float]:
        """(arc length, signed lateral distance, left positive) of the closest centreline point,
        searched on segment ``near`` and its neighbours."""
        best = (math.inf, 0.0, 0.0)
        for index in range(max(near - 1, 0), min(near + 2, len(self.segments))):
            seg = self.segments[index]
            t, lateral = _project_on_segment(self.start_poses[index], seg.curvature, seg.length, x, y)
            px, py, _ = _advance(*self.start_poses[index], seg.curvature, t)
            distance = math.hypot(x - px, y - py)
            if distance < best[0] - 1e-12:
                best = (distance, self.starts[index] + t, lateral)
        return best[1], best[2]

    def to_dict(self) -> list[dict]:
        return [dict(length=s.length, turn=s.turn, friction=s.friction, speed=s.speed) for s in self.segments]

    @classmethod
    def from_dicts(cls, rows: Sequence[Mapping], modes: Mapping[str, object] | None = None) -> Road:
        segments = []
        for index, row in enumerate(rows):
            missing = {"length", "turn", "friction", "speed"} - set(row)
            if missing:
                raise ValueError(f"segment {index}: missing {sorted(missing)} (a segment needs length, turn, "
                                 "friction and speed)")
            segments.append(Segment(float(row["length"]), float(row["turn"]), str(row["friction"]), float(row["speed"])))
        return cls(segments, modes)


def random_road(rng: np.random.Generator, n_segments: int, frictions: Sequence[str],
                speed_range: tuple[float, float]) -> list[Segment]:
    """``n_segments`` random segments (see the module docstring)."""
    if n_segments < 1:
        raise ValueError(f"a road needs at least one segment (got n_segments={n_segments})")
    low, high = speed_range
    frictions = list(frictions)
    # seq[rng.integers(len(seq))] is what rng.choice(seq) draws (the same call on the generator), at a
    # quarter of choice's cost: the batched car draws a road per game at every restart
    segments = []
    for _ in range(n_segments):
        length = SEGMENT_LENGTHS[rng.integers(0, len(SEGMENT_LENGTHS), dtype=np.int64)]
        turn = SEGMENT_TURNS[rng.integers(0, len(SEGMENT_TURNS), dtype=np.int64)]
        turn *= _TURN_SIGNS[rng.integers(0, len(_TURN_SIGNS), dtype=np.int64)]
        friction = frictions[rng.integers(0, len(frictions), dtype=np.int64)]
        segments.append(Segment(length=float(length), turn=float(turn), friction=str(friction),
                                speed=float(rng.uniform(low, high))))
    return segments


def _advance(x: float, y: float, heading: float, curvature: float, t: float) -> tuple[float, float, float]:
    """The pose after ``t`` metres along an arc of ``curvature`` from (x, y, heading)."""
    if abs(curvature) < STRAIGHT:
        return x + t * math.cos(heading), y + t * math.sin(heading), heading
    end = heading + curvature * t
    return (x + (math.sin(end) - math.sin(heading)) / curvature,
            y - (math.cos(end) - math.cos(heading)) / curvature, end)


def _project_on_segment(start: tuple[float, float, float], curvature: float, length: float,
                        x: float, y: float) -> tuple[float, float]:
    """(arc length within the segment, clamped to [0, length]; signed lateral distance)."""
    x0, y0, heading = start
    if abs(curvature) < STRAIGHT:
        dx, dy = x - x0, y - y0
        t = dx * math.cos(heading) + dy * math.sin(heading)
        lateral = -dx * math.sin(heading) + dy * math.cos(heading)
        return min(max(t, 0.0), length), lateral
    radius = 1.0 / curvature  # signed: the centre lies on the left for a left turn
    cx, cy = x0 - radius * math.sin(heading), y0 + radius * math.cos(heading)
    angle0 = math.atan2(y0 - cy, x0 - cx)
    angle = math.atan2(y - cy, x - cx)
    swept = (angle - angle0 + math.pi) % (2.0 * math.pi) - math.pi
    t = min(max(swept / curvature, 0.0), length)
    lateral = abs(radius) - math.hypot(x - cx, y - cy)
    return t, lateral if curvature > 0 else -lateral
