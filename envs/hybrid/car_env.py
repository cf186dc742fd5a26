"""Car tracking on roads whose friction switches between segments (a hybrid system).

A single-track car (:mod:`envs.hybrid.car`) follows a reference point that moves along a random road
(:mod:`envs.hybrid.roads`) at each segment's nominal speed. The car's dynamics switch with the road
friction under its wheels: mode ``normal`` (mu scale 1.0) or ``icy`` (0.1). Explicit Euler at
``dt`` = 0.01 s, as the source paper's car.

Observation (17 floats)
    0-6   the tracking-error state ``[x_error, y_error, steering, speed_error, heading_error,
          yaw_rate_error, side_slip]`` relative to the reference point (see :mod:`envs.hybrid.car`)
    7     mu scale of the mode the car is in
    8-11  the reference's speed [m/s], its road curvature [1/m], its lateral offset [m] and the
          nominal speed of its segment [m/s]
    12-14 the next segment's mu scale, curvature and nominal speed
    15    distance from the car to the next segment [m] (capped at 100; the road's rest on the last)
    16    the car's signed lateral distance from the road's centreline [m]
Action
    ``[steering rate, acceleration]`` in ``[-input_limit, input_limit]``; with
    ``reference_commands=True`` also ``[reference speed, reference offset]`` in
    ``[speed_range[0], speed_range[1]]`` and ``[-max_offset, max_offset]``: a planner moves the
    reference point (the car must then be steered to the moved reference; the road is unchanged).
Reward
    ``1 - (lateral distance / max_lateral_error)^2`` per step: staying on the road, near its centre.
Episode end
    Terminated when the car is more than ``max_lateral_error`` (3 m) from the centreline or its
    state has diverged (not finite or a component beyond 1e6; the observation is then zeros); truncated when the reference reaches the end of the road. At the end
    ``info["metrics"]`` holds ``valid`` (1 when the lateral distance stayed under the limit all along),
    ``rmse`` (of the lateral distance) and ``progress`` (share of the road driven).
Arguments
    n_segments: segments of each random road (10). speed_range: nominal speeds drawn per segment and
    the reference commands' range, m/s ((3, 30)). frictions: the friction modes roads draw from
    (("normal", "icy")). road: a fixed road as a list of ``{length, turn, friction, speed}`` instead
    of random ones (``reset(options={"road": ...})`` sets one per episode). reference_commands: see
    Action. max_lateral_error: 3.0 m. max_offset: 1.5 m. dt: 0.01 s. input_limit: 8.0.
    initial_error: half-width of the uniform deviation from steady cornering the car starts with,
    per state, scaled by ``INITIAL_ERROR_SCALE`` (0.1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from envs.hybrid.car import FRICTION_MODES, CarTracking
from envs.hybrid.roads import Road, random_road

OBSERVATION_FIELDS = ("x_error", "y_error", "steering", "speed_error", "heading_error", "yaw_rate_error",
                      "side_slip", "mu_scale", "reference_speed", "curvature", "offset", "nominal_speed", "next_mu_scale",
                      "next_curvature", "next_speed", "distance_to_switch", "lateral_error")
FIELD = {name: index for index, name in enumerate(OBSERVATION_FIELDS)}
SWITCH_DISTANCE_CAP = 100.0
DIVERGED = 1e6  # a state component this large (or not finite) ends the episode as off the road
# per state: metres, metres, rad, m/s, rad, rad/s, rad at initial_error = 1
INITIAL_ERROR_SCALE = np.array([1.0, 1.0, 0.05, 1.0, 0.1, 0.1, 0.05])


def reference_params(observation: np.ndarray) -> np.ndarray:
    """The dynamics parameters ``[v_ref, omega_ref, a_ref, mu_scale]`` an observation implies (batched)."""
    obs = np.asarray(observation, dtype=np.float64)
    speed, curvature, offset = obs[..., FIELD["reference_speed"]], obs[..., FIELD["curvature"]], obs[..., FIELD["offset"]]
    omega = speed * curvature / (1.0 - offset * curvature)
    return np.stack([speed, omega, np.zeros_like(speed), obs[..., FIELD["mu_scale"]]], axis=-1)


class CarHybridEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, n_segments: int = 10, speed_range: Sequence[float] = (3.0, 30.0),
                 frictions: Sequence[str] = ("normal", "icy"), road: Sequence[dict] | None = None,
                 reference_commands: bool = False, max_lateral_error: float = 3.0, max_offset: float = 1.5,
                 dt: float = 0.01, input_limit: float = 8.0, initial_error: float = 1.0) -> None:
        self.system = CarTracking(dt=dt, input_limit=input_limit)
        frictions = [frictions] if isinstance(frictions, str) else list(frictions)
        if not frictions:
            raise ValueError(f"frictions must name at least one mode of {sorted(FRICTION_MODES)}")
        for name in frictions:
            self.system.mode(name)  # an unknown mode is an error naming the known ones
        if int(n_segments) < 1:
            raise ValueError(f"n_segments must be at least 1 (a road with no segments); got {n_segments}")
        low, high = (float(v) for v in speed_range)
        if not 0.0 < low <= high:
            raise ValueError(f"speed_range must be (low, high) with 0 < low <= high m/s (got {tuple(speed_range)})")
        if not max_lateral_error > 0 or not max_offset >= 0:
            raise ValueError("max_lateral_error must be positive and max_offset non-negative "
                             f"(got {max_lateral_error}, {max_offset})")
        self.n_segments, self.speed_range, self.frictions = int(n_segments), (low, high), frictions
        self.fixed_road = None if road is None else Road.from_dicts(road, FRICTION_MODES)
        self.reference_commands = bool(reference_commands)
        self.max_lateral_error, self.max_offset = float(max_lateral_error), float(max_offset)
        self.initial_error = float(initial_error)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(len(OBSERVATION_FIELDS),), dtype=np.float32)
        limit = self.system.input_limit
        if self.reference_commands:
            self.action_space = spaces.Box(np.array([-limit, -limit, low, -self.max_offset], dtype=np.float32),
                                           np.array([limit, limit, high, self.max_offset], dtype=np.float32))
        else:
            self.action_space = spaces.Box(-limit, limit, shape=(2,), dtype=np.float32)
        self.road: Road | None = None

    # -- the reference ----------------------------------------------------------------------
    def _reference_segment(self):
        return self.road.segments[self.road.index_at(self.s_ref)]

    def _omega_ref(self) -> float:
        curvature = self._reference_segment().curvature
        return self.v_ref * curvature / (1.0 - self.offset * curvature)

    def _move_reference(self, speed: float, offset: float) -> None:
        """Change the reference's speed and offset, keeping the car where it is (the errors shift)."""
        omega_before = self._omega_ref()
        x = self.x
        x[3] -= speed - self.v_ref
        x[1] -= offset - self.offset
        self.v_ref, self.offset = speed, offset
        x[5] -= self._omega_ref() - omega_before

    # -- Gymnasium API ----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if options and options.get("road") is not None:
            self.road = options["road"] if isinstance(options["road"], Road) else Road.from_dicts(options["road"], FRICTION_MODES)
        elif self.fixed_road is not None:
            self.road = self.fixed_road
        else:
            self.road = Road(random_road(self.np_random, self.n_segments, self.frictions, self.speed_range))
        first = self.road.segments[0]
        self.s_ref, self.offset, self.v_ref = 0.0, 0.0, first.speed
        params = torch.tensor([self.v_ref, self._omega_ref(), 0.0, self.system.mu_scale(first.friction)],
                              dtype=torch.float64)
        x_eq, _ = self.system.equilibrium(params)
        noise = self.np_random.uniform(-1.0, 1.0, 7) * INITIAL_ERROR_SCALE * self.initial_error
        self.x = x_eq.numpy() + noise
        self.x[2] = np.clip(self.x[2], -self.system.vehicle.max_steering, self.system.vehicle.max_steering)
        self.steps, self.squared_error_sum, self.valid = 0, 0.0, True
        self._locate_car()
        return self._observation(), self._info()

    def _locate_car(self) -> None:
        x_r, y_r, heading = self.road.pose(self.s_ref, self.offset)
        sxe, sye = self.x[0], self.x[1]
        car_x = x_r + sxe * math.cos(heading) - sye * math.sin(heading)
        car_y = y_r + sxe * math.sin(heading) + sye * math.cos(heading)
        self.s_car, self.lateral_error = self.road.project(car_x, car_y, self.road.index_at(self.s_ref + sxe))
        self.car_segment = self.road.index_at(self.s_car)
        self.mode = self.road.friction_schedule.mode_at(self.s_car)

    def _observation(self) -> np.ndarray:
        road, index = self.road, self.car_segment
        following = road.segments[min(index + 1, len(road) - 1)]
        mu = self.system.mu_scale
        distance = min(road.starts[index + 1] - self.s_car, SWITCH_DISTANCE_CAP)
        return np.concatenate([self.x, [
            mu(self.mode), self.v_ref, self._reference_segment().curvature, self.offset,
            self._reference_segment().speed,
            mu(following.friction), following.curvature, following.speed, distance, self.lateral_error,
        ]]).astype(np.float32)

    def _info(self) -> dict[str, Any]:
        return {"mode": self.mode, "segment": self.car_segment,
                "lateral_error": float(self.lateral_error), "s": float(self.s_car)}

    def checked_action(self, action) -> np.ndarray:
        """``action`` as a flat float64 array, or the ValueError ``step`` raises for it (the batched
        engine raises the same one for a game's action)."""
        action = np.asarray(action, dtype=np.float64).reshape(-1)
        if action.shape != self.action_space.shape:
            raise ValueError(f"action must have shape {self.action_space.shape} (got {action.shape})")
        if not np.all(np.isfinite(action)):
            raise ValueError(f"action must be finite (got {action.tolist()})")
        return action

    def step(self, action):
        action = self.checked_action(action)
        if self.reference_commands:
            speed = float(np.clip(action[2], *self.speed_range))
            offset = float(np.clip(action[3], -self.max_offset, self.max_offset))
            if speed != self.v_ref or offset != self.offset:
                self._move_reference(speed, offset)
        segment_before = self.road.index_at(self.s_ref)
        params = (self.v_ref, self._omega_ref(), 0.0, self.system.mu_scale(self.mode))
        self._step_state(action[:2], params)
        curvature = self._reference_segment().curvature
        self.s_ref += self.system.dt * self.v_ref / (1.0 - self.offset * curvature)
        if self.road.index_at(self.s_ref) != segment_before and self.s_ref < self.road.length:
            # onto the next segment: its curvature (and, without commands, its nominal speed) take over
            speed = self.v_ref if self.reference_commands else self._reference_segment().speed
            omega_before = params[1]
            self.x[3] -= speed - self.v_ref
            self.v_ref = speed
            self.x[5] -= self._omega_ref() - omega_before
        self._locate_car()
        self.steps += 1
        finite = bool(np.all(np.abs(self.x) < DIVERGED))
        off_road = not finite or abs(self.lateral_error) > self.max_lateral_error
        self.valid = self.valid and not off_road
        self.squared_error_sum += min(self.lateral_error**2, 1e6) if finite else 1e6
        terminated = off_road
        truncated = not terminated and self.s_ref >= self.road.length
        reward = 1.0 - (self.lateral_error / self.max_lateral_error) ** 2 if finite else -1.0
        info = self._info()
        if terminated or truncated:
            info["metrics"] = {"valid": float(self.valid), "rmse": math.sqrt(self.squared_error_sum / self.steps),
                               "progress": min(self.s_car / self.road.length, 1.0)}
        observation = self._observation() if finite else np.zeros(len(OBSERVATION_FIELDS), dtype=np.float32)
        return observation, float(reward), terminated, truncated, info

    def _step_state(self, u: np.ndarray, params: tuple) -> None:
        self.x = np.array(self.system.step_scalar(tuple(self.x.tolist()), (float(u[0]), float(u[1])), params))
