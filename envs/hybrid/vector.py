"""Many car games in one engine: the batched mode of ``rlkit/CarHybrid-v0``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from envs.batched import BatchedEnv, live_box_actions
from envs import libm
from envs.hybrid.car import FRICTION_MODES, MIN_SPEED, error_dynamics
from envs.hybrid.car_env import DIVERGED, INITIAL_ERROR_SCALE, OBSERVATION_FIELDS, SWITCH_DISTANCE_CAP, CarHybridEnv
from envs.hybrid.roads import STRAIGHT, Road, random_road

# the columns of the segment table (one row per game and segment): the road's numbers and what the
# single env recomputes from them at every step (sin and cos of the start heading, an arc's centre
# and start angle), computed once per road with the same operations, hence the same values
_FIELDS = ("start", "end", "length", "curvature", "divisor", "straight", "speed", "mu", "mode", "x0", "y0",
           "heading0", "sin0", "cos0", "centre_x", "centre_y", "angle0", "radius")
F = {name: index for index, name in enumerate(_FIELDS)}
_MODE_NAMES = tuple(FRICTION_MODES)
# a distance comparison closer than this (relative) is redone with the single env's own projection:
# libm's hypot, used for speed, and CPython's math.hypot differ by up to 2 ulp
_CLOSE_CALL = 1e-14
_NEIGHBOURS = np.array([[-1], [0], [1]])  # Road.project's candidates around the nearest segment, in its order


def _floor_speed(v: np.ndarray) -> np.ndarray:
    return np.maximum(v, MIN_SPEED)


class CarHybridVectorEnv(BatchedEnv):
    """``num_envs`` games of :class:`~envs.hybrid.car_env.CarHybridEnv` stepped together on arrays.

    Each game drives its own road (drawn at each reset from the game's own generator, exactly as the
    single env draws it, or the fixed ``road``); the roads live in one table, and one ``step``
    advances every car (the car's ``error_dynamics`` on arrays with libm's ``cos``, ``sin`` and
    ``pow``), moves every reference point and locates every car on its road with the single env's
    formulas, in the same order, so game ``i`` reproduces the single env seeded with the ``i``-th seed
    under the same actions, bit for bit, step for step and across resets. ``gym.make_vec(
    "rlkit/CarHybrid-v0", num_envs=n, vectorization_mode="vector_entry_point")`` builds one.

    ## Spaces
    ``single_observation_space`` (``Box(-inf, inf, (17,), float32)``, the fields of
    ``envs.hybrid.car_env.OBSERVATION_FIELDS``) and ``single_action_space`` (``[steering rate,
    acceleration]`` in ``[-input_limit, input_limit]``, plus ``[reference speed, reference offset]``
    with ``reference_commands=True``) are the single env's; ``observation_space`` and
    ``action_space`` batch them. Rewards are float64 (the single env's Python floats, exactly),
    terminations and truncations bool, all of shape ``(num_envs,)``.

    ## Rewards
    Per game, ``1 - (lateral distance / max_lateral_error)^2``, or -1 at a diverged state.

    ## Episode End
    Per game: terminated off the road (more than ``max_lateral_error`` from the centreline, or a
    diverged state, whose observation is zeros); truncated when the reference reaches the road's end.
    :class:`~envs.batched.BatchedEnv`'s two autoreset modes: ``next_step`` (default) restarts an ended
    game on the next ``step`` (its action ignored, reward 0); ``same_step`` restarts it at once, its
    last observation in ``info["final_obs"]``. A restart draws a new road and starting error from the
    game's own generator.

    ## Seeding
    ``reset(seed=s)`` seeds game ``i`` with ``s + i``, a list one seed per game, None keeps each
    game's generator; ``reset(options={"reset_mask": mask})`` restarts only the masked games (the
    single env's ``road`` option has no batched form: pass ``road=`` to the constructor).

    ## Info
    The single env's keys batched over games with their ``_key`` masks, every game after every
    ``step``: ``mode`` (str), ``segment``, ``lateral_error``, ``s`` (all four in ``step_info_keys``, so
    SB3's adapter passes them on every step); ``metrics`` for the games whose episode ended in this
    step: an object array holding each such game's dict (``valid``, ``rmse``, ``progress``), so that
    ``info["metrics"][i]`` is the single env's ``info["metrics"]``. ``roads[i]`` is game ``i``'s
    current :class:`~envs.hybrid.roads.Road`.

    ## Arguments
    ``num_envs``, ``autoreset_mode`` (``next_step`` or ``same_step``) and exactly CarHybridEnv's
    keyword arguments: ``n_segments``, ``speed_range``, ``frictions``, ``road``,
    ``reference_commands``, ``max_lateral_error``, ``max_offset``, ``dt``, ``input_limit``,
    ``initial_error``.
    """

    metadata = {"render_modes": [], "autoreset_mode": BatchedEnv.metadata["autoreset_mode"]}
    step_info_keys = ("mode", "segment", "lateral_error", "s")

    def __init__(self, num_envs: int = 1, autoreset_mode: str = "next_step", **kwargs: Any) -> None:
        self.env = env = CarHybridEnv(**kwargs)  # checks the arguments as the single env does
        self.system, self.render_mode = env.system, None
        self.single_observation_space, self.single_action_space = env.observation_space, env.action_space
        self._setup_batch(num_envs, autoreset_mode)
        n = self.num_envs
        self.n_segments = len(env.fixed_road) if env.fixed_road is not None else env.n_segments
        self.roads: list[Road | None] = [None] * n
        self._fixed_table = None if env.fixed_road is None else self._segment_table([env.fixed_road])
        self._table = np.zeros((n, self.n_segments, len(_FIELDS)))
        self._starts = np.zeros((n, self.n_segments + 1))
        self._x = np.zeros((n, 7))
        self._s_ref, self._offset, self._v_ref = np.zeros(n), np.zeros(n), np.zeros(n)
        self._ref_segment = np.zeros(n, np.int64)
        self._s_car, self._lateral = np.zeros(n), np.zeros(n)
        self._car_segment = np.zeros(n, np.int64)
        self._steps = np.zeros(n, np.int64)
        self._squared_error_sum = np.zeros(n)
        self._valid = np.ones(n, np.bool_)
        self._diverged = np.zeros(n, np.bool_)  # the latest step diverged: the observation is zeros
        self._metrics = np.full(n, None, dtype=object)
        self._just_ended = np.zeros(n, np.bool_)  # the games whose episode ended in the latest step

    # -- roads ----------------------------------------------------------------------------------------
    def _segment_table(self, roads: list[Road]) -> np.ndarray:
        """The segment table of ``roads`` (shape (len(roads), n_segments, fields))."""
        mu_of = {name: self.system.mu_scale(name) for name in _MODE_NAMES}
        table = np.zeros((len(roads), self.n_segments, len(_FIELDS)))
        for row, road in zip(table, roads):
            row[:, F["start"]] = road.starts[:-1]
            row[:, F["end"]] = road.starts[1:]
            row[:, F["length"]] = [seg.length for seg in road.segments]
            row[:, F["curvature"]] = [seg.curvature for seg in road.segments]
            row[:, F["speed"]] = [seg.speed for seg in road.segments]
            row[:, F["mu"]] = [mu_of[seg.friction] for seg in road.segments]
            row[:, F["mode"]] = [_MODE_NAMES.index(seg.friction) for seg in road.segments]
            row[:, [F["x0"], F["y0"], F["heading0"]]] = road.start_poses[:-1]
        curvature, heading = table[..., F["curvature"]], table[..., F["heading0"]]
        straight = np.abs(curvature) < STRAIGHT
        # a straight segment's arc columns are never used; 1.0 keeps its divisions finite
        divisor = np.where(straight, 1.0, curvature)
        table[..., F["straight"]] = straight
        table[..., F["divisor"]] = divisor
        table[..., F["sin0"]], table[..., F["cos0"]] = libm.sin(heading), libm.cos(heading)
        radius = 1.0 / divisor
        table[..., F["radius"]] = radius
        x0, y0 = table[..., F["x0"]], table[..., F["y0"]]
        centre_x, centre_y = x0 - radius * table[..., F["sin0"]], y0 + radius * table[..., F["cos0"]]
        table[..., F["centre_x"]], table[..., F["centre_y"]] = centre_x, centre_y
        table[..., F["angle0"]] = libm.atan2(y0 - centre_y, x0 - centre_x)
        return table

    def _segments(self, ids: np.ndarray, index: np.ndarray) -> np.ndarray:
        """The table rows of segments ``index`` of games ``ids`` (shape (*index.shape, fields))."""
        return self._table.reshape(-1, len(_FIELDS))[ids * self.n_segments + index]

    def _index_at(self, starts: np.ndarray, s: np.ndarray) -> np.ndarray:
        """``Road.index_at`` for each game: the segment holding ``s``, clamped to the first and last
        (a NaN sorts after every start there, so it lands on the last)."""
        count = np.count_nonzero(starts <= s[:, None], axis=1)
        count[np.isnan(s)] = starts.shape[1]
        return np.minimum(np.maximum(count - 1, 0), self.n_segments - 1)

    # -- the car on its road ------------------------------------------------------------------------------
    def _locate(self, ids, starts, x, s_ref, offset, ref_segment):
        """``CarHybridEnv._locate_car`` for games ``ids``: (s_car, lateral error, car segment)."""
        seg = self._segments(ids, ref_segment)
        straight = seg[:, F["straight"]] > 0.0
        sin0, cos0, divisor = seg[:, F["sin0"]], seg[:, F["cos0"]], seg[:, F["divisor"]]
        # Road.pose: _advance along the reference's segment, then sideways by the offset
        along = s_ref - seg[:, F["start"]]
        end = seg[:, F["heading0"]] + seg[:, F["curvature"]] * along
        sin_end, cos_end = libm.sin(end), libm.cos(end)
        x_r = np.where(straight, seg[:, F["x0"]] + along * cos0, seg[:, F["x0"]] + (sin_end - sin0) / divisor)
        y_r = np.where(straight, seg[:, F["y0"]] + along * sin0, seg[:, F["y0"]] - (cos_end - cos0) / divisor)
        sin_h, cos_h = np.where(straight, sin0, sin_end), np.where(straight, cos0, cos_end)
        x_r, y_r = x_r - offset * sin_h, y_r + offset * cos_h
        sxe, sye = x[:, 0], x[:, 1]
        car_x = x_r + sxe * cos_h - sye * sin_h
        car_y = y_r + sxe * sin_h + sye * cos_h
        near = self._index_at(starts, s_ref + sxe)
        s_car, lateral = self._project(ids, car_x, car_y, near)
        return s_car, lateral, self._index_at(starts, s_car)

    def _project(self, ids, x, y, near):
        """``Road.project`` for games ``ids``: (arc length, signed lateral distance) of the closest
        centreline point on segment ``near`` or its neighbours (the three candidates of every game
        side by side in arrays of shape (3, k), compared in Road.project's order)."""
        k, last = len(ids), self.n_segments - 1
        index = near + _NEIGHBOURS
        exists = (index >= 0) & (index <= last)
        seg = self._segments(np.broadcast_to(ids, (3, k)), np.minimum(np.maximum(index, 0), last))
        straight = seg[..., F["straight"]] > 0.0
        x0, y0, sin0, cos0 = seg[..., F["x0"]], seg[..., F["y0"]], seg[..., F["sin0"]], seg[..., F["cos0"]]
        curvature, divisor = seg[..., F["curvature"]], seg[..., F["divisor"]]
        # _project_on_segment: where t lies along the segment (a straight's lateral distance on the way)
        cx, cy = x - seg[..., F["centre_x"]], y - seg[..., F["centre_y"]]
        swept = (libm.atan2(cy, cx) - seg[..., F["angle0"]] + math.pi) % (2.0 * math.pi) - math.pi
        t = swept / divisor
        any_straight = straight.any()
        if any_straight:
            dx, dy = x - x0, y - y0
            t = np.where(straight, dx * cos0 + dy * sin0, t)
            lateral_straight = -dx * sin0 + dy * cos0
        t = np.minimum(np.maximum(t, 0.0), seg[..., F["length"]])
        # the point at t (_advance) and its distance
        end = seg[..., F["heading0"]] + curvature * t
        px, py = x0 + (libm.sin(end) - sin0) / divisor, y0 - (libm.cos(end) - cos0) / divisor
        if any_straight:
            px, py = np.where(straight, x0 + t * cos0, px), np.where(straight, y0 + t * sin0, py)
        distance = libm.hypot(x - px, y - py)
        # Road.project keeps a candidate only if it is closer than the best so far by 1e-12
        best_distance, choice = np.full(k, np.inf), np.full(k, -1)
        close_call = np.zeros(k, np.bool_)
        for candidate in range(3):
            threshold = best_distance - 1e-12
            better = exists[candidate] & (distance[candidate] < threshold)
            close_call |= exists[candidate] & np.isfinite(threshold) & (np.abs(distance[candidate] - threshold) <= (
                _CLOSE_CALL * np.maximum(np.abs(distance[candidate]), np.abs(threshold))))
            best_distance = np.where(better, distance[candidate], best_distance)
            choice = np.where(better, candidate, choice)
        found = np.flatnonzero(choice >= 0)
        picked = (choice[found], found)
        s, lateral = np.zeros(k), np.zeros(k)  # Road.project's answer where no distance compares
        s[found] = seg[..., F["start"]][picked] + t[picked]
        if any_straight:
            lateral[found] = lateral_straight[picked]
        arcs = found[~straight[picked]]
        if len(arcs):
            # an arc's lateral distance needs CPython's own hypot to be the single env's to the bit
            on_arc = (choice[arcs], arcs)
            radius = seg[..., F["radius"]][on_arc]
            arc_lateral = np.abs(radius) - libm.py_hypot(cx[on_arc], cy[on_arc])
            lateral[arcs] = np.where(radius > 0.0, arc_lateral, -arc_lateral)
        for i in np.flatnonzero(close_call):
            s[i], lateral[i] = self.roads[ids[i]].project(x[i], y[i], int(near[i]))
        return s, lateral

    # -- BatchedEnv ------------------------------------------------------------------------------------
    def _reset_games(self, games: np.ndarray) -> None:
        if len(games) == 0:
            return
        env, rngs = self.env, self.game_rngs
        noise = np.zeros((len(games), 7))
        for row, i in enumerate(games):  # each game's draws in the single env's order: road, then noise
            if env.fixed_road is None:
                self.roads[i] = Road(random_road(rngs[i], env.n_segments, env.frictions, env.speed_range))
            else:
                self.roads[i] = env.fixed_road
            noise[row] = rngs[i].uniform(-1.0, 1.0, 7)
        roads = [self.roads[i] for i in games]
        self._table[games] = self._fixed_table if env.fixed_road is not None else self._segment_table(roads)
        self._starts[games] = [road.starts for road in roads]
        first = self._table[games, 0]
        v_ref, curvature, offset = first[:, F["speed"]], first[:, F["curvature"]], np.zeros(len(games))
        omega = v_ref * curvature / (1.0 - offset * curvature)
        params = np.stack([v_ref, omega, np.zeros(len(games)), first[:, F["mu"]]], axis=-1)
        x_eq, _ = self.system.equilibrium(params)
        x = x_eq + noise * INITIAL_ERROR_SCALE * env.initial_error
        stop = self.system.vehicle.max_steering
        x[:, 2] = np.clip(x[:, 2], -stop, stop)
        s_ref, ref_segment = np.zeros(len(games)), np.zeros(len(games), np.int64)
        s_car, lateral, car_segment = self._locate(games, self._starts[games], x, s_ref, offset, ref_segment)
        self._x[games], self._s_ref[games], self._offset[games], self._v_ref[games] = x, s_ref, offset, v_ref
        self._ref_segment[games] = ref_segment
        self._s_car[games], self._lateral[games], self._car_segment[games] = s_car, lateral, car_segment
        self._steps[games], self._squared_error_sum[games] = 0, 0.0
        self._valid[games], self._diverged[games], self._just_ended[games] = True, False, False
        self._metrics[games] = None

    def _step_games(self, actions: Any, live: np.ndarray):
        env, system, n_games = self.env, self.system, self.num_envs
        ids = np.flatnonzero(live)
        rows, a = live_box_actions(actions, live, env.checked_action)
        starts, x = self._starts[rows], self._x[rows].copy()
        s_ref, offset, v_ref = self._s_ref[rows], self._offset[rows], self._v_ref[rows]
        ref_segment = self._ref_segment[rows]
        curvature = self._segments(ids, ref_segment)[:, F["curvature"]]
        if env.reference_commands:
            # _move_reference, where the commanded speed or offset differs from the reference's
            speed = np.clip(a[:, 2], *env.speed_range)
            new_offset = np.clip(a[:, 3], -env.max_offset, env.max_offset)
            moved = (speed != v_ref) | (new_offset != offset)
            omega_before = v_ref * curvature / (1.0 - offset * curvature)
            omega_after = speed * curvature / (1.0 - new_offset * curvature)
            x[:, 3] = np.where(moved, x[:, 3] - (speed - v_ref), x[:, 3])
            x[:, 1] = np.where(moved, x[:, 1] - (new_offset - offset), x[:, 1])
            x[:, 5] = np.where(moved, x[:, 5] - (omega_after - omega_before), x[:, 5])
            v_ref, offset = np.where(moved, speed, v_ref), np.where(moved, new_offset, offset)
        omega = v_ref * curvature / (1.0 - offset * curvature)
        mu = self._segments(ids, self._car_segment[rows])[:, F["mu"]]
        # CarTracking.step_scalar: inputs clipped, one Euler step, the steering angle to its stops
        limit, stop, dt = system.input_limit, system.vehicle.max_steering, system.dt
        u = np.minimum(np.maximum(a[:, :2], -limit), limit)
        f = error_dynamics(system.vehicle, tuple(x.T), (u[:, 0], u[:, 1]), (v_ref, omega, 0.0, mu),
                           libm.cos, libm.sin, _floor_speed, libm.power)
        x = x + dt * np.stack(np.broadcast_arrays(*f), axis=1)
        x[:, 2] = np.minimum(np.maximum(x[:, 2], -stop), stop)
        s_ref = s_ref + dt * v_ref / (1.0 - offset * curvature)
        new_segment = self._index_at(starts, s_ref)
        length = starts[:, -1]
        switched = (new_segment != ref_segment) & (s_ref < length)
        if switched.any():
            # onto the next segment: its curvature (and, without commands, its nominal speed) take over
            seg = self._segments(ids, new_segment)
            speed = v_ref if env.reference_commands else seg[:, F["speed"]]
            new_curvature = seg[:, F["curvature"]]
            x[:, 3] = np.where(switched, x[:, 3] - (speed - v_ref), x[:, 3])
            v_ref = np.where(switched, speed, v_ref)
            omega_after = v_ref * new_curvature / (1.0 - offset * new_curvature)
            x[:, 5] = np.where(switched, x[:, 5] - (omega_after - omega), x[:, 5])
        s_car, lateral, car_segment = self._locate(ids, starts, x, s_ref, offset, new_segment)

        steps = self._steps[rows] + 1
        finite = np.all(np.abs(x) < DIVERGED, axis=1)
        off_road = ~finite | (np.abs(lateral) > env.max_lateral_error)
        valid = self._valid[rows] & ~off_road
        squared_error_sum = self._squared_error_sum[rows] + np.where(
            finite, np.minimum(libm.power(lateral, 2), 1e6), 1e6)
        terminated = off_road
        truncated = ~terminated & (s_ref >= length)
        rewards = np.where(finite, 1.0 - libm.power(lateral / env.max_lateral_error, 2), -1.0)

        self._x[rows], self._s_ref[rows], self._offset[rows], self._v_ref[rows] = x, s_ref, offset, v_ref
        self._ref_segment[rows] = new_segment
        self._s_car[rows], self._lateral[rows], self._car_segment[rows] = s_car, lateral, car_segment
        self._steps[rows], self._squared_error_sum[rows], self._valid[rows] = steps, squared_error_sum, valid
        self._diverged[rows] = ~finite
        ended = terminated | truncated
        self._just_ended[:] = False
        self._just_ended[rows] = ended
        for row in np.flatnonzero(ended):
            i = ids[row]
            self._metrics[i] = {"valid": float(valid[row]), "rmse": math.sqrt(squared_error_sum[row] / steps[row]),
                                "progress": min(s_car[row] / length[row], 1.0)}
        all_rewards = np.zeros(n_games)
        all_terminated, all_truncated = np.zeros(n_games, np.bool_), np.zeros(n_games, np.bool_)
        all_rewards[rows], all_terminated[rows], all_truncated[rows] = rewards, terminated, truncated
        return all_rewards, all_terminated, all_truncated

    def _observations(self, games: np.ndarray | None = None) -> np.ndarray:
        rows = slice(None) if games is None else games
        ids = np.arange(self.num_envs) if games is None else games
        car_segment = self._car_segment[rows]
        car = self._segments(ids, car_segment)
        reference = self._segments(ids, self._ref_segment[rows])
        following = self._segments(ids, np.minimum(car_segment + 1, self.n_segments - 1))
        s_car = self._s_car[rows]
        obs = np.empty((len(ids), len(OBSERVATION_FIELDS)))
        obs[:, :7] = self._x[rows]
        obs[:, 7] = car[:, F["mu"]]
        obs[:, 8], obs[:, 9] = self._v_ref[rows], reference[:, F["curvature"]]
        obs[:, 10], obs[:, 11] = self._offset[rows], reference[:, F["speed"]]
        obs[:, 12], obs[:, 13] = following[:, F["mu"]], following[:, F["curvature"]]
        obs[:, 14] = following[:, F["speed"]]
        obs[:, 15] = np.minimum(car[:, F["end"]] - s_car, SWITCH_DISTANCE_CAP)
        obs[:, 16] = self._lateral[rows]
        obs = obs.astype(np.float32)
        obs[self._diverged[rows]] = 0.0
        return obs

    def _step_info(self) -> dict[str, Any]:
        info = self.batched_info(self._info(), np.ones(self.num_envs, np.bool_))
        if self._just_ended.any():
            info.update(self.batched_info({"metrics": self._metrics.copy()}, self._just_ended.copy()))
        return info

    def _reset_info(self, games: np.ndarray) -> dict[str, Any]:
        mask = np.zeros(self.num_envs, np.bool_)
        mask[games] = True
        return self.batched_info(self._info(), mask)

    def _info(self) -> dict[str, np.ndarray]:
        modes = self._segments(np.arange(self.num_envs), self._car_segment)[:, F["mode"]].astype(np.int64)
        return {"mode": np.array(_MODE_NAMES)[modes], "segment": self._car_segment.copy(),
                "lateral_error": self._lateral.copy(), "s": self._s_car.copy()}

    def render(self) -> None:
        return None


__all__ = ["CarHybridVectorEnv"]
