"""The hybrid car: Gymnasium's contract, the car model (torch == float path, steady cornering,
Jacobians), road geometry, the mode schedule, reference commands, episode ends, seeding, bad input."""

from __future__ import annotations

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import envs  # noqa: F401  (registers the envs)
from agents.hybrid_roa.base import LQRSchedule, deviation
from envs.hybrid.car import FRICTION_MODES, CarTracking
from envs.hybrid.car_env import FIELD, OBSERVATION_FIELDS, CarHybridEnv, reference_params
from envs.hybrid.roads import Road, Segment, random_road
from envs.hybrid.system import ModeSchedule

SYSTEM = CarTracking()


def random_params(rng: np.random.Generator, n: int, mu_scale: float | None = None) -> np.ndarray:
    """[v_ref, omega_ref, a_ref, mu_scale]: speeds 3-30 m/s, curvatures within +-0.105 1/m."""
    speed = rng.uniform(3.0, 30.0, n)
    curvature = rng.uniform(-0.105, 0.105, n)
    mu = rng.choice([m.parameters["mu_scale"] for m in FRICTION_MODES.values()], n) if mu_scale is None \
        else np.full(n, mu_scale)
    return np.stack([speed, speed * curvature, np.zeros(n), mu], axis=-1)


def car_position(env: CarHybridEnv) -> tuple[float, float]:
    """The car's global (x, y) from the reference's pose and the error state (computed here, not by the env)."""
    x_r, y_r, heading = env.road.pose(env.s_ref, env.offset)
    sxe, sye = env.x[0], env.x[1]
    return (x_r + sxe * math.cos(heading) - sye * math.sin(heading),
            y_r + sxe * math.sin(heading) + sye * math.cos(heading))


def drive(env: CarHybridEnv, policy, max_steps: int = 100_000):
    """Steps until the episode ends; returns the observations, infos, terminated, truncated."""
    observations, infos = [], []
    obs = env._observation()
    for _ in range(max_steps):
        obs, _, terminated, truncated, info = env.step(policy(obs))
        observations.append(obs)
        infos.append(info)
        if terminated or truncated:
            return np.array(observations), infos, terminated, truncated
    raise AssertionError("the episode did not end")


def lqr_policy(env: CarHybridEnv):
    schedule = LQRSchedule(env.system)

    def policy(obs):
        params, e, _, u_eq = deviation(env.system, obs[None].astype(np.float64))
        return schedule.control(params, e, u_eq)[0]

    return policy


# -- Gymnasium's contract ------------------------------------------------------------------------

@pytest.mark.parametrize("reference_commands", [False, True])
def test_passes_gymnasiums_env_checker(reference_commands):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # the observation space is unbounded on purpose: errors can leave every box
        warnings.filterwarnings("ignore", message=".*Box observation space (minimum|maximum) value is")
        # the actions are physical units (inputs +-8, speeds, metres), as the source paper's car
        warnings.filterwarnings("ignore", message=".*symmetric and normalized space")
        check_env(CarHybridEnv(reference_commands=reference_commands), skip_render_check=True)


def test_registered_and_observation_layout():
    env = gym.make("rlkit/CarHybrid-v0", reference_commands=True)
    assert env.action_space.shape == (4,)
    obs, info = env.reset(seed=0)
    assert obs.shape == (len(OBSERVATION_FIELDS),) and info["mode"] in FRICTION_MODES
    road = env.unwrapped.road
    assert obs[FIELD["reference_speed"]] == pytest.approx(road.segments[0].speed)
    assert obs[FIELD["curvature"]] == pytest.approx(road.segments[0].curvature)
    assert obs[FIELD["mu_scale"]] == SYSTEM.mu_scale(road.segments[0].friction)


# -- the car model -------------------------------------------------------------------------------

def test_torch_dynamics_equal_the_float_path():
    rng = np.random.default_rng(0)
    n = 200
    x = rng.normal(0.0, 1.0, (n, 7)) * np.array([1.0, 1.0, 0.3, 3.0, 0.3, 0.5, 0.1])
    u = rng.uniform(-8.0, 8.0, (n, 2))
    params = random_params(rng, n)
    params[:, 2] = rng.uniform(-2.0, 2.0, n)  # a_ref enters the load transfer and the speed error
    batched = SYSTEM.dynamics(torch.from_numpy(x), torch.from_numpy(u), torch.from_numpy(params)).numpy()
    for row in range(n):
        scalar = SYSTEM.dynamics_scalar(tuple(x[row]), tuple(u[row]), tuple(params[row]))
        assert np.allclose(batched[row], scalar, rtol=1e-12, atol=1e-12)


def test_torch_step_equals_the_float_step_with_both_clips():
    rng = np.random.default_rng(1)
    n = 200
    x = rng.normal(0.0, 1.0, (n, 7)) * np.array([1.0, 1.0, 0.3, 3.0, 0.3, 0.5, 0.1])
    x[:20, 2] = rng.choice([-1.0, 1.0], 20) * 1.06  # steering next to its stop: the clip acts
    u = rng.uniform(-12.0, 12.0, (n, 2))  # beyond the +-8 box too
    params = random_params(rng, n)
    batched = SYSTEM.step(torch.from_numpy(x), torch.from_numpy(u), torch.from_numpy(params)).numpy()
    stop = SYSTEM.vehicle.max_steering
    assert np.any(np.abs(batched[:, 2]) == stop)
    for row in range(n):
        scalar = SYSTEM.step_scalar(tuple(x[row]), tuple(u[row]), tuple(params[row]))
        assert np.allclose(batched[row], scalar, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", sorted(FRICTION_MODES))
def test_equilibrium_is_steady_cornering(mode):
    rng = np.random.default_rng(1)
    params = torch.from_numpy(random_params(rng, 100, SYSTEM.mu_scale(mode)))
    x_eq, u_eq = SYSTEM.equilibrium(params)
    derivative = SYSTEM.dynamics(x_eq, u_eq, params)
    assert torch.allclose(derivative, torch.zeros_like(derivative), atol=1e-9)
    # the car moves along the path: heading error = -slip, no position/speed/yaw-rate error
    assert torch.equal(x_eq[:, 4], -x_eq[:, 6])
    assert torch.all(x_eq[:, [0, 1, 3, 5]] == 0)
    # a left turn steers left; straight ahead steers straight
    turning = params[:, 1].abs() > 1e-3
    assert torch.all(torch.sign(x_eq[turning, 2]) == torch.sign(params[turning, 1]))
    x0, _ = SYSTEM.equilibrium(torch.tensor([10.0, 0.0, 0.0, 1.0]))
    assert torch.allclose(x0, torch.zeros(7, dtype=torch.float64), atol=1e-15)


def test_linearize_mode_matches_central_differences():
    rng = np.random.default_rng(2)
    for params in random_params(rng, 6):
        A, B, x_eq, u_eq = SYSTEM.linearize_mode(torch.from_numpy(params))
        f = lambda x, u: np.asarray(SYSTEM.dynamics_scalar(tuple(x), tuple(u), tuple(params)))  # noqa: E731
        h = 1e-6
        A_fd = np.stack([(f(x_eq + h * e, u_eq) - f(x_eq - h * e, u_eq)) / (2 * h) for e in np.eye(7)], axis=1)
        B_fd = np.stack([(f(x_eq, u_eq + h * e) - f(x_eq, u_eq - h * e)) / (2 * h) for e in np.eye(2)], axis=1)
        assert A.shape == (7, 7) and B.shape == (7, 2)
        assert np.allclose(A, A_fd, rtol=1e-6, atol=1e-6)
        assert np.allclose(B, B_fd, rtol=1e-6, atol=1e-6)


# -- roads -------------------------------------------------------------------------------------

def test_pose_then_project_round_trips_on_random_roads():
    rng = np.random.default_rng(3)
    for _ in range(5):
        road = Road(random_road(rng, 10, ["normal", "icy"], (3.0, 30.0)))
        for s, d in zip(rng.uniform(0.0, road.length, 200), rng.uniform(-3.0, 3.0, 200)):
            x, y, _ = road.pose(s, d)
            s_back, d_back = road.project(x, y, road.index_at(s))
            assert s_back == pytest.approx(s, abs=1e-9) and d_back == pytest.approx(d, abs=1e-9)


def test_road_end_poses_are_known_points():
    straight = Road([Segment(25.0, 0.0, "normal", 10.0)])
    assert straight.length == 25.0
    assert np.allclose(straight.pose(25.0), (25.0, 0.0, 0.0), atol=1e-12)
    # a quarter circle to the left of length L has radius 2L/pi and ends at (R, R) heading +y
    length = 30.0
    radius = 2 * length / math.pi
    left = Road([Segment(length, math.pi / 2, "normal", 10.0)])
    assert np.allclose(left.pose(length), (radius, radius, math.pi / 2), atol=1e-12)
    right = Road([Segment(length, -math.pi / 2, "normal", 10.0)])
    assert np.allclose(right.pose(length), (radius, -radius, -math.pi / 2), atol=1e-12)
    # one metre to the left of the left turn's end lies inside the arc, at radius R - 1 from its centre (0, R)
    x, y, _ = left.pose(length, 1.0)
    assert (x, y) == pytest.approx((radius - 1.0, radius), abs=1e-12)
    # segments chain: a straight then a quarter turn
    chained = Road([Segment(10.0, 0.0, "icy", 5.0), Segment(length, math.pi / 2, "normal", 5.0)])
    assert np.allclose(chained.pose(10.0 + length), (10.0 + radius, radius, math.pi / 2), atol=1e-12)
    assert chained.index_at(9.999) == 0 and chained.index_at(10.0) == 1 and chained.index_at(1e9) == 1


def test_mode_schedule_index_and_mode():
    schedule = ModeSchedule([0.0, 10.0, 25.0], ["normal", "icy", "normal"])
    assert [schedule.index_at(p) for p in (-5.0, 0.0, 9.99, 10.0, 24.0, 25.0, 1e6)] == [0, 0, 0, 1, 1, 2, 2]
    assert [schedule.mode_at(p) for p in (5.0, 12.0, 30.0)] == ["normal", "icy", "normal"]
    with pytest.raises(ValueError, match="as many start points as mode names"):
        ModeSchedule([0.0, 1.0], ["normal"])
    with pytest.raises(ValueError, match="as many start points as mode names"):
        ModeSchedule([], [])
    with pytest.raises(ValueError, match="increase strictly"):
        ModeSchedule([0.0, 0.0], ["normal", "icy"])


# -- reference commands ------------------------------------------------------------------------

def test_moving_the_reference_leaves_the_car_where_it_is():
    env = CarHybridEnv(reference_commands=True)
    env.reset(seed=4)
    env.step(np.array([0.0, 0.0, env.v_ref, 0.0]))  # off the start
    before = car_position(env)
    x_before, v_ref_before, offset_before, lateral_before = env.x.copy(), env.v_ref, env.offset, env.lateral_error
    omega_before = env._omega_ref()
    speed, offset = 7.0, 0.8
    env._move_reference(speed, offset)
    env._locate_car()
    assert car_position(env) == pytest.approx(before, abs=1e-9)
    assert env.lateral_error == pytest.approx(lateral_before, abs=1e-9)
    assert env.x[1] == pytest.approx(x_before[1] - (offset - offset_before), abs=1e-12)
    # the car's own speed and yaw rate are unchanged, only their errors move
    assert env.x[3] + env.v_ref == pytest.approx(x_before[3] + v_ref_before, abs=1e-12)
    assert env.x[5] + env._omega_ref() == pytest.approx(x_before[5] + omega_before, abs=1e-12)
    # shift_reference (what controllers use to look ahead) agrees with the env's bookkeeping
    from agents.hybrid_roa.base import shift_reference

    env2 = CarHybridEnv(reference_commands=True)
    env2.reset(seed=4)
    obs, *_ = env2.step(np.array([0.0, 0.0, env2.v_ref, 0.0]))
    moved = shift_reference(obs[None].astype(np.float64), np.array([[speed, offset]]))[0]
    env2._move_reference(speed, offset)
    assert np.allclose(moved[:7], env2.x, atol=1e-6)  # obs are float32


def test_reference_commands_through_step_keep_the_lateral_error():
    """Two equal cars, one whose reference moves aside: after one step the car is within an Euler
    step's discretisation of the same place and y_error differs by minus the offset."""
    plain, moved = CarHybridEnv(reference_commands=True), CarHybridEnv(reference_commands=True)
    plain.reset(seed=5)
    moved.reset(seed=5)
    speed = plain.v_ref
    obs_plain, *_, info_plain = plain.step(np.array([0.5, 0.2, speed, 0.0]))
    obs_moved, *_, info_moved = moved.step(np.array([0.5, 0.2, speed, 1.2]))
    assert obs_moved[FIELD["offset"]] == pytest.approx(1.2)
    assert info_moved["lateral_error"] == pytest.approx(info_plain["lateral_error"], abs=1e-3)
    assert car_position(moved) == pytest.approx(car_position(plain), abs=1e-3)
    assert obs_moved[FIELD["y_error"]] == pytest.approx(obs_plain[FIELD["y_error"]] - 1.2, abs=1e-3)
    # commands beyond the ranges are clipped to them
    moved.step(np.array([0.0, 0.0, 1e3, -9.0]))
    assert moved.v_ref == moved.speed_range[1] and moved.offset == -moved.max_offset
    assert np.allclose(reference_params(moved._observation())[:2],
                       [moved.v_ref, moved._omega_ref()], rtol=1e-6)


# -- episode ends, modes, seeding ----------------------------------------------------------------

def test_driving_off_the_road_terminates_invalid():
    env = CarHybridEnv(road=[dict(length=200.0, turn=0.0, friction="normal", speed=10.0)], initial_error=0.0)
    env.reset(seed=0)
    observations, infos, terminated, truncated = drive(env, lambda obs: np.array([8.0, 0.0]))
    assert terminated and not truncated
    assert abs(infos[-1]["lateral_error"]) > env.max_lateral_error
    assert all(abs(info["lateral_error"]) <= env.max_lateral_error for info in infos[:-1])
    metrics = infos[-1]["metrics"]
    assert metrics["valid"] == 0.0 and 0 < metrics["progress"] < 1
    lateral = np.array([info["lateral_error"] for info in infos])
    assert metrics["rmse"] == pytest.approx(math.sqrt(np.mean(lateral**2)), rel=1e-9)
    assert all("metrics" not in info for info in infos[:-1])


def test_lqr_completes_a_gentle_road_valid_and_switches_mode_on_ice():
    road = [dict(length=30.0, turn=0.0, friction="normal", speed=8.0),
            dict(length=37.5, turn=0.2, friction="icy", speed=8.0)]
    env = CarHybridEnv(road=road, initial_error=0.5)
    env.reset(seed=1)
    observations, infos, terminated, truncated = drive(env, lqr_policy(env))
    assert truncated and not terminated
    metrics = infos[-1]["metrics"]
    assert metrics["valid"] == 1.0 and metrics["progress"] > 0.95 and metrics["rmse"] < 1.0
    modes = [info["mode"] for info in infos]
    switch = modes.index("icy")
    assert set(modes[:switch]) == {"normal"} and set(modes[switch:]) == {"icy"}
    # the mode follows the car's own arc length across the segment boundary at 30 m
    assert infos[switch - 1]["s"] < 30.0 <= infos[switch]["s"]
    assert observations[switch - 1][FIELD["mu_scale"]] == 1.0 and observations[switch][FIELD["mu_scale"]] == 0.1
    assert observations[switch - 1][FIELD["next_mu_scale"]] == pytest.approx(0.1)


def test_same_seed_same_road_and_trajectory():
    def episode(seed):
        env = CarHybridEnv()
        obs, _ = env.reset(seed=seed)
        policy = lqr_policy(env)
        trace = [obs]
        for _ in range(150):
            obs, reward, terminated, truncated, _ = env.step(policy(obs))
            trace.append(obs)
        return env.road.to_dict(), np.array(trace)

    road, trace = episode(11)
    road_again, trace_again = episode(11)
    road_other, _ = episode(12)
    assert road == road_again and np.array_equal(trace, trace_again)
    assert road != road_other


# -- bad input -----------------------------------------------------------------------------------

def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match=r"unknown mode 'mud'.*known modes: \['icy', 'normal'\]"):
        CarHybridEnv(frictions=("mud",))
    with pytest.raises(ValueError, match=r"unknown friction mode 'mud'; known: \['icy', 'normal'\]"):
        CarHybridEnv(road=[dict(length=10.0, turn=0.0, friction="mud", speed=5.0)])
    with pytest.raises(ValueError, match="at least one segment"):
        CarHybridEnv(road=[])
    with pytest.raises(ValueError, match="n_segments must be at least 1"):
        CarHybridEnv(n_segments=0)
    for length in (0.0, -5.0):
        with pytest.raises(ValueError, match="length must be a positive number"):
            CarHybridEnv(road=[dict(length=length, turn=0.0, friction="normal", speed=5.0)])
    with pytest.raises(ValueError, match=r"missing \['speed'\]"):
        CarHybridEnv(road=[dict(length=10.0, turn=0.0, friction="normal")])
    with pytest.raises(ValueError, match="speed_range"):
        CarHybridEnv(speed_range=(0, 10))
    env = CarHybridEnv()
    with pytest.raises(ValueError, match="missing"):
        env.reset(seed=0, options={"road": [dict(length=10.0)]})


@pytest.mark.parametrize("reference_commands", [False, True])
def test_bad_actions_are_clear_errors(reference_commands):
    env = CarHybridEnv(reference_commands=reference_commands)
    env.reset(seed=0)
    size = env.action_space.shape[0]
    with pytest.raises(ValueError, match="must be finite"):
        env.step(np.full(size, np.nan))
    with pytest.raises(ValueError, match="must have shape"):
        env.step(np.zeros(size + 1))
