"""agent=hybrid_roa (agents.hybrid_roa.{networks,training,planner,agent}): the per-mode networks, LQR
pretraining, the empirical region of attraction, the RoA planner and the agent surface, with tiny
settings (the method's quality is a benchmark's business, not a test's)."""

from __future__ import annotations

import json
import logging
import math
import zipfile

import gymnasium as gym
import numpy as np
import pytest
import scipy.stats
import torch

from agents.hybrid_roa.agent import HybridRoAAgent
from agents.hybrid_roa.base import LQRSchedule, deviation, shift_reference
from agents.hybrid_roa.networks import STATE_SCALE, ModeController, ModeLyapunov, RoALevel, context
from agents.hybrid_roa.planner import RoAPlanner
from agents.hybrid_roa.training import (Ranges, converges, empirical_levels, pretrain, sample_deviations,
                                        sample_params)
from callback_events import EventRecorder
from envs.hybrid.car import CarTracking
from envs.hybrid.car_env import FIELD, OBSERVATION_FIELDS, CarHybridEnv
from car_drive import drive

ROAD = [{"length": 7.5, "turn": 0.0, "friction": "normal", "speed": 8.0},
        {"length": 15.0, "turn": 0.5, "friction": "icy", "speed": 6.0}]
TINY = dict(controller_hidden=[16], lyapunov_hidden=[16], lyapunov_features=4, level_hidden=[8],
            pretrain_iterations=300, level_contexts=4, level_states=16, rollout_steps=100, batch=32,
            n_speeds=4, n_offsets=3, refine_steps=1)
TINY_OVERRIDES = ["agent.controller_hidden=[16]", "agent.lyapunov_hidden=[16]", "agent.lyapunov_features=4",
                  "agent.level_hidden=[8]", "agent.pretrain_iterations=300", "agent.level_contexts=4",
                  "agent.level_states=16", "agent.rollout_steps=100", "agent.batch=32", "agent.n_speeds=4",
                  "agent.n_offsets=3", "agent.refine_steps=1"]
LIMIT = 8.0
PLANNER_LOG = "agents.hybrid_roa.planner"


def params_of(speed, curvature, mu_scale, offset=0.0) -> torch.Tensor:
    """Parameter rows [v_ref, omega_ref, 0, mu_scale] for a reference on an arc (broadcast)."""
    speed, curvature, mu_scale, offset = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64)
                                                               for a in (speed, curvature, mu_scale, offset)))
    omega = speed * curvature / (1.0 - offset * curvature)
    return torch.from_numpy(np.stack([speed, omega, np.zeros_like(speed), mu_scale], -1))


def observation(system, speed, curvature, mu_scale, offset=0.0, e=None, nominal=None, next_mu=None,
                next_curvature=0.0, next_speed=None, distance=100.0) -> np.ndarray:
    """A float64 observation of a car at steady cornering (plus deviation ``e``) behind a reference."""
    x_eq, _ = system.equilibrium(params_of(speed, curvature, mu_scale, offset))
    obs = np.zeros(len(OBSERVATION_FIELDS))
    obs[:7] = x_eq.numpy() + (0.0 if e is None else np.asarray(e, dtype=np.float64))
    values = dict(mu_scale=mu_scale, reference_speed=speed, curvature=curvature, offset=offset,
                  nominal_speed=speed if nominal is None else nominal,
                  next_mu_scale=mu_scale if next_mu is None else next_mu, next_curvature=next_curvature,
                  next_speed=speed if next_speed is None else next_speed, distance_to_switch=distance,
                  lateral_error=offset + obs[1])
    for name, value in values.items():
        obs[FIELD[name]] = value
    return obs


# -- fixtures: networks pretrained once, an agent trained once ------------------------------------------
@pytest.fixture(scope="module")
def system():
    return CarTracking()


@pytest.fixture(scope="module")
def schedule(system):
    return LQRSchedule(system)


@pytest.fixture(scope="module")
def normal_pair(system, schedule):
    """The normal mode's controller and V, pretrained on the LQR over the whole speed range."""
    torch.manual_seed(0)
    controller, lyapunov = ModeController([32], LIMIT).double(), ModeLyapunov([32], 4).double()
    pretrain(system, schedule, controller, lyapunov, 1.0, Ranges(), 600, 1e-2)
    return controller, lyapunov


@pytest.fixture(scope="module")
def icy_fast_controller(system, schedule):
    """The icy mode's controller pretrained at 27-30 m/s only (a small LQR grid: quick)."""
    torch.manual_seed(1)
    controller, lyapunov = ModeController([16], LIMIT).double(), ModeLyapunov([16], 4).double()
    pretrain(system, schedule, controller, lyapunov, 0.1, Ranges(speed=(27.0, 30.0)), 300, 1e-2)
    return controller


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(agent, its planned env, the path it was saved to) after learn with tiny settings."""
    env = CarHybridEnv(road=ROAD, reference_commands=True)
    agent = HybridRoAAgent(env=env, seed=0, **TINY)
    agent.learn(64)
    path = tmp_path_factory.mktemp("hybrid_roa") / "agent.zip"
    agent.save(path)
    return agent, env, path


def planner_of(agent, **kwargs) -> RoAPlanner:
    """A fresh planner (zero counters, no warning given yet) on the agent's trained networks."""
    settings = dict(n_speeds=agent.hyperparameters["n_speeds"], n_offsets=agent.hyperparameters["n_offsets"],
                    refine_steps=agent.hyperparameters["refine_steps"])
    return RoAPlanner(agent.system, agent.lyapunovs, agent.level, **{**settings, **kwargs})


# -- networks ---------------------------------------------------------------------------------------
def random_contexts(n, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return context(sample_params(gen, n, 1.0, Ranges()))


def test_lyapunov_is_zero_at_the_equilibrium_and_positive_elsewhere():
    torch.manual_seed(3)
    lyapunov = ModeLyapunov([16], 4).double()
    with torch.no_grad():  # a non-zero nonlinear part too, not only the zero-initialised one
        lyapunov.features[-1].weight.normal_()
        lyapunov.features[-1].bias.normal_()
    ctx = random_contexts(64)
    zero = torch.zeros(64, 7, dtype=torch.float64)
    with torch.no_grad():
        assert torch.all(lyapunov(zero, ctx) == 0.0)
        gen = torch.Generator().manual_seed(4)
        for size in (1e-4, 1e-2, 1.0, 10.0):
            e = size * torch.randn(64, 7, generator=gen, dtype=torch.float64)
            assert torch.all(lyapunov(e, ctx) > 0.0)
        # P(c) is symmetric positive semi-definite
        P = lyapunov.cost_matrix(ctx)
        torch.testing.assert_close(P, P.transpose(-1, -2))
        assert torch.all(torch.linalg.eigvalsh(P) > -1e-10)


def test_controller_is_the_clipped_equilibrium_input_at_zero_deviation_and_stays_in_the_box():
    torch.manual_seed(5)
    controller = ModeController([16], LIMIT).double()
    with torch.no_grad():
        controller.residual[-1].weight.normal_()
    ctx = random_contexts(32, seed=1)
    u_eq = torch.zeros(32, 2, dtype=torch.float64)
    u_eq[:, 1] = torch.linspace(-12.0, 12.0, 32, dtype=torch.float64)  # some beyond the limit
    with torch.no_grad():
        u = controller(torch.zeros(32, 7, dtype=torch.float64), ctx, u_eq)
        torch.testing.assert_close(u, u_eq.clamp(-LIMIT, LIMIT), rtol=0, atol=1e-12)
        big = 50.0 * torch.randn(32, 7, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
        u_big = controller(big, ctx, u_eq)
    assert torch.all(u_big.abs() <= LIMIT)
    assert torch.any(u_big.abs() == LIMIT)  # large deviations do saturate


def test_a_fresh_controller_is_linear_in_the_deviation_before_saturation():
    torch.manual_seed(7)
    controller = ModeController([16], LIMIT).double()
    ctx = random_contexts(32, seed=2)
    u_eq = torch.tensor([0.0, 0.5], dtype=torch.float64).expand(32, 2)
    e = 1e-3 * torch.randn(32, 7, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    with torch.no_grad():
        once, twice, minus = (controller(scale * e, ctx, u_eq) - u_eq for scale in (1.0, 2.0, -1.0))
        gains = controller.gains(ctx)
    assert torch.all(once.abs() > 0)
    torch.testing.assert_close(twice, 2 * once, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(minus, -once, rtol=1e-10, atol=1e-14)
    # and the linear map is -K(c) on the scaled deviation, in units of the limit
    scaled = e / torch.tensor(STATE_SCALE, dtype=torch.float64)
    torch.testing.assert_close(once, -LIMIT * (gains @ scaled.unsqueeze(-1)).squeeze(-1), rtol=1e-10, atol=1e-14)


def test_roa_level_is_positive():
    level = RoALevel([8]).double()
    params = sample_params(torch.Generator().manual_seed(9), 50, 0.1, Ranges())
    with torch.no_grad():
        assert torch.all(level(params) > 0)


# -- pretraining --------------------------------------------------------------------------------------
def off_grid_cases(system, n=200, seed=11):
    """(params, small deviations, u_eq) at random speeds and curvatures between the grid's points."""
    rng = np.random.default_rng(seed)
    speed = rng.uniform(4.0, 29.0, n) + 0.37  # the pretraining grid steps 1.5 m/s from 3
    params = params_of(speed, rng.uniform(-0.1, 0.1, n), 1.0)
    e = torch.from_numpy(rng.uniform(-1, 1, (n, 7)) * np.array(STATE_SCALE) * 0.02)
    _, u_eq = system.equilibrium(params)
    return params, e, u_eq


def test_pretrained_controller_matches_the_lqr_between_grid_points(system, schedule, normal_pair):
    controller, _ = normal_pair
    params, e, u_eq = off_grid_cases(system)
    with torch.no_grad():
        u = controller(e, context(params), u_eq).numpy()
    u_lqr = schedule.control(params.numpy(), e.numpy(), u_eq.numpy())
    assert np.all(np.abs(u_lqr) < LIMIT)  # small deviations: no saturation on either side
    net, lqr = u - u_eq.numpy(), u_lqr - u_eq.numpy()
    assert np.linalg.norm(net - lqr) / np.linalg.norm(lqr) < 0.08
    assert np.median(np.linalg.norm(net - lqr, axis=1) / np.linalg.norm(lqr, axis=1)) < 0.08
    # before pretraining, the gain network is nowhere near
    torch.manual_seed(0)
    fresh = ModeController([32], LIMIT).double()
    with torch.no_grad():
        far = fresh(e, context(params), u_eq).numpy() - u_eq.numpy()
    assert np.linalg.norm(far - lqr) / np.linalg.norm(lqr) > 0.5


def test_pretrained_lyapunov_ranks_states_as_the_lqr_cost_does(system, schedule, normal_pair):
    _, lyapunov = normal_pair
    params, e, _ = off_grid_cases(system, seed=12)
    with torch.no_grad():
        v = lyapunov(e, context(params)).numpy()
    cost = np.array([row @ schedule.gain_and_cost(p)[1] @ row for p, row in zip(params.numpy(), e.numpy())])
    assert scipy.stats.spearmanr(v, cost).statistic > 0.95
    ratio = v / cost  # V is the LQR cost up to one normalising constant
    assert ratio.max() / ratio.min() < 2.0
    # the nonlinear part is still zero: V is exactly quadratic
    with torch.no_grad():
        torch.testing.assert_close(lyapunov(3 * e, context(params)), 9 * lyapunov(e, context(params)))


# -- the empirical region of attraction ----------------------------------------------------------------
def test_converges_known_answers(system, normal_pair, icy_fast_controller):
    controller, _ = normal_pair
    ranges = Ranges(rollout_steps=400)
    normal = params_of([5.0, 15.0, 28.0, 10.0], [0.0, 0.05, -0.1, 0.02], 1.0)
    zero = torch.zeros(4, 7, dtype=torch.float64)
    small = zero.clone()
    small[3, 1], small[3, 3] = 0.3, 0.5  # 30 cm to the side and 0.5 m/s slow
    assert converges(system, controller, torch.cat([zero[:3], small[3:]]), normal, ranges).tolist() == [True] * 4
    icy = params_of([30.0, 30.0], [0.0, 0.02], 0.1)
    huge = torch.zeros(2, 7, dtype=torch.float64)
    huge[1, 1], huge[1, 4] = 2.9, 1.5  # 2.9 m to the side, heading 1.5 rad off, at 30 m/s on ice
    assert converges(system, icy_fast_controller, huge, icy, ranges).tolist() == [True, False]


def test_every_sampled_state_below_the_empirical_level_converges(system, normal_pair):
    controller, lyapunov = normal_pair
    ranges = Ranges(rollout_steps=150)
    params = params_of([6.0, 18.0, 27.0], [0.05, -0.02, 0.0], 1.0)
    n_states = 48
    levels = empirical_levels(system, controller, lyapunov, params, n_states, ranges,
                              torch.Generator().manual_seed(21))
    # the same samples again: empirical_levels draws (rows * n_states) deviations from the generator
    e = sample_deviations(torch.Generator().manual_seed(21), len(params) * n_states, 3.0)
    rows = params.repeat_interleave(n_states, 0)
    inside = converges(system, controller, e, rows, ranges).view(-1, n_states)
    with torch.no_grad():
        v = lyapunov(e, context(rows)).view(-1, n_states)
    assert inside.any() and not inside.all()  # a meaningful check: both kinds were sampled
    for row in range(len(params)):
        assert torch.all(inside[row][v[row] < levels[row]])
        if inside[row].all():
            assert levels[row] == v[row].max()
        else:  # the level is the V of a sampled state that does not converge: as large as it can be
            assert levels[row] == v[row][~inside[row]].min()


# -- the planner --------------------------------------------------------------------------------------
def roa_terms_by_hand(agent, planner, obs, speed, offset):
    """The planner's RoA terms recomputed from the observation bookkeeping of agents.hybrid_roa.base and
    the env: the car's deviation from steady cornering now (``deviation``), kept while the reference
    ramps toward the target until the switch (``shift_reference`` moves the reference's fields), then,
    past the switch, the env's re-expression about the next segment (its turn rate shifts the yaw-rate
    error; the state is otherwise unchanged) under the next mode."""
    system, k = agent.system, planner.k
    ramp_accel, ramp_offset_rate, lookahead_s = planner.ramp_accel, planner.ramp_offset_rate, planner.lookahead_s
    _, e_now, _, _ = deviation(system, obs[None])
    car_speed = max(obs[FIELD["reference_speed"]] + obs[FIELD["speed_error"]], 1.0)
    time_to_switch = obs[FIELD["distance_to_switch"]] / car_speed
    horizon = min(time_to_switch, lookahead_s)
    v0, d0 = obs[FIELD["reference_speed"]], obs[FIELD["offset"]]
    v_land = v0 + np.clip(speed - v0, -ramp_accel * horizon, ramp_accel * horizon)
    d_land = d0 + np.clip(offset - d0, -ramp_offset_rate * horizon, ramp_offset_rate * horizon)
    landed = shift_reference(np.repeat(obs[None], len(speed), 0), np.stack([v_land, d_land], -1))
    params, _, x_eq, _ = deviation(system, landed)
    landed[:, :7] = x_eq + e_now  # the controller kept the deviation while the reference ramped
    mode_of = {1.0: "normal", 0.1: "icy"}

    def term(observations):
        p, e, _, _ = deviation(system, observations)
        mode = mode_of[round(float(observations[0, FIELD["mu_scale"]]), 1)]
        with torch.no_grad():
            v = agent.lyapunovs[mode](torch.from_numpy(e), context(torch.from_numpy(p)))
            c = agent.level(torch.from_numpy(p))
        return torch.relu(v - c / k)

    v1 = term(landed)
    if time_to_switch > lookahead_s:
        return v1
    after = landed.copy()
    omega_before = params[:, 1]
    after[:, FIELD["curvature"]] = obs[FIELD["next_curvature"]]
    after[:, FIELD["mu_scale"]] = obs[FIELD["next_mu_scale"]]
    after[:, FIELD["yaw_rate_error"]] -= deviation(system, after)[0][:, 1] - omega_before
    return v1 + term(after)


@pytest.mark.parametrize("distance", [100.0, 9.0, 0.0])  # far (V1 alone); near (V1 + V2); at the switch
def test_objective_recomputed_from_the_observation_bookkeeping(trained, distance):
    agent, _, _ = trained
    k = 1e9  # c / k ~ 0: the RoA terms are the V's themselves
    planner = planner_of(agent, k=k)
    obs = observation(agent.system, 9.0, 0.06, 1.0, offset=0.4, e=[0.1, 0.3, 0.01, -0.4, 0.05, 0.02, 0.01],
                      nominal=11.0, next_mu=0.1, next_curvature=-0.04, distance=distance)
    speed = np.array([4.0, 9.0, 12.5, 20.0, 3.0])
    offset = np.array([-1.2, 0.4, 0.0, 1.0, 1.5])
    with torch.no_grad():
        total, roa = planner.objective(obs, torch.from_numpy(speed), torch.from_numpy(offset))
    expected = roa_terms_by_hand(agent, planner, obs, speed, offset)
    torch.testing.assert_close(roa, expected, rtol=1e-6, atol=1e-9)  # a wrong shift is off by far more
    assert torch.all(roa > 0) and torch.all(total >= roa)
    if distance == 0.0:  # no time to ramp: every candidate lands where the reference is now
        torch.testing.assert_close(roa, roa[:1].expand(5))


def test_objective_inside_the_regions_is_the_pull_toward_the_nominal_reference(trained):
    agent, _, _ = trained
    planner = planner_of(agent)
    obs = observation(agent.system, 9.0, 0.06, 1.0, offset=0.4, nominal=11.0, distance=100.0)  # steady cornering
    speed = torch.tensor([4.0, 9.0, 11.0, 12.5, 3.0], dtype=torch.float64)
    offset = torch.tensor([-1.2, 0.4, 0.0, 1.0, 1.5], dtype=torch.float64)
    with torch.no_grad():
        total, roa = planner.objective(obs, speed, offset)
    assert torch.all(roa == 0)
    pull = planner.speed_weight * (1 - speed / 11.0) ** 2 + planner.offset_weight * (offset / planner.max_offset) ** 2
    torch.testing.assert_close(total, pull, rtol=1e-12, atol=1e-15)


def test_steady_cornering_far_from_a_switch_keeps_the_nominal_reference(trained, caplog):
    agent, _, _ = trained
    planner = planner_of(agent, n_speeds=6, n_offsets=5)
    for speed, curvature, mu in ((12.0, 0.05, 1.0), (7.0, -0.03, 0.1)):
        obs = observation(agent.system, speed, curvature, mu, next_mu=1.1 - mu, distance=100.0)
        with caplog.at_level(logging.WARNING, logger=PLANNER_LOG):
            command_speed, command_offset, feasible = planner.plan(obs)
        assert feasible
        assert abs(command_speed - speed) <= (speed - 3.0) / 5  # within one step of the speed grid
        assert abs(command_offset) < 1e-6
    assert planner.plans == 2 and planner.infeasible == 0
    assert not [r for r in caplog.records if r.name == PLANNER_LOG]


def test_infeasible_plan_falls_back_counts_and_warns_once(trained, caplog):
    agent, _, _ = trained
    planner = planner_of(agent)
    far = [0.0, 2.9, 0.0, 0.0, 1.5, 0.0, 0.0]  # 2.9 m to the side, heading 1.5 rad off, 30 m/s on ice
    obs = observation(agent.system, 30.0, 0.02, 0.1, e=far, next_mu=1.0, distance=100.0)
    with caplog.at_level(logging.WARNING, logger=PLANNER_LOG):
        speed, offset, feasible = planner.plan(obs)
        assert not feasible and planner.infeasible == 1 and planner.plans == 1
        assert 3.0 <= speed <= 30.0 and -1.5 <= offset <= 1.5
        warnings = [r for r in caplog.records if r.name == PLANNER_LOG]
        assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
        assert "no candidate lands inside both regions of attraction" in warnings[0].getMessage()
        obs[FIELD["distance_to_switch"]] = 1.0  # near the switch this time: still hopeless
        speed, offset, feasible = planner.plan(obs)
        assert not feasible and planner.infeasible == 2 and planner.plans == 2
        assert 3.0 <= speed <= 30.0 and -1.5 <= offset <= 1.5
        assert len([r for r in caplog.records if r.name == PLANNER_LOG]) == 1


# -- the agent ----------------------------------------------------------------------------------------
def test_learned_agent_acts_inside_the_action_space(trained):
    agent, env, _ = trained
    assert agent.trained and agent.num_timesteps >= 64
    _, actions, _, _ = drive(agent, env, seed=1, steps=60)
    assert actions.shape == (60, 4)
    low, high = env.action_space.low, env.action_space.high
    assert np.all(actions >= low) and np.all(actions <= high)
    # a batch of observations gives a batch of actions
    obs = np.stack([env.reset(seed=s)[0] for s in range(3)])
    batch, _ = agent.predict(obs, episode_start=np.ones(3, bool))
    assert batch.shape == (3, 4) and np.all(batch >= low) and np.all(batch <= high)


def test_without_reference_commands_the_agent_is_its_mode_controllers(trained):
    _, _, path = trained
    env = CarHybridEnv(road=ROAD)
    agent = HybridRoAAgent.load(path, env=env)
    seen, actions, _, _ = drive(agent, env, seed=2, steps=30)
    assert actions.shape == (30, 2) and np.all(np.abs(actions) <= LIMIT)
    np.testing.assert_allclose(actions, agent.control(seen.astype(np.float64)), rtol=1e-6, atol=1e-6)
    assert agent.planner.plans == 0
    # an untrained agent acts in the default env (random roads, no commands) too
    default_env = CarHybridEnv()
    fresh = HybridRoAAgent(env=default_env, **TINY)
    action, _ = fresh.predict(default_env.reset(seed=0)[0])
    assert action.shape == (2,) and default_env.action_space.contains(action)


def test_save_load_round_trip_acts_identically(trained):
    agent, env, path = trained
    first, second = (HybridRoAAgent.load(path, env=env) for _ in range(2))
    assert first.hyperparameters == agent.hyperparameters and first.trained
    _, before, _, _ = drive(first, env, seed=3, steps=20)
    _, after, _, _ = drive(second, env, seed=3, steps=20)
    assert before.shape == (20, 4)
    np.testing.assert_array_equal(after, before)
    _, original, _, _ = drive(agent, env, seed=3, steps=20)  # a reset clears the original's held command
    np.testing.assert_array_equal(original, before)


def test_learn_calls_the_callback_once_per_iteration_and_stops_when_told(trained):
    _, env, path = trained
    agent = HybridRoAAgent.load(path, env=env)  # trained: learn skips the pretraining
    start, batch = agent.num_timesteps, agent.hyperparameters["batch"]
    recorder = EventRecorder()
    agent.learn(4 * batch, callback=recorder, progress_bar=True, reset_num_timesteps=False)
    counts = [start + batch * i for i in range(1, 5)]  # 2 iterations per mode, batch states each
    assert recorder.events == [("start", start), *[(event, n) for n in counts
                                                   for event in ("rollout_start", "step", "rollout_end")],
                               ("end", start + 4 * batch)]
    stopping = EventRecorder(stop_at=batch)
    agent.learn(4 * batch, callback=stopping)
    assert agent.num_timesteps == batch and stopping.events[-1] == ("end", batch)


def test_planner_replans_every_replan_every_steps_and_after_a_reset(trained):
    _, env, path = trained
    agent = HybridRoAAgent.load(path, env=env)
    every = agent.hyperparameters["replan_every"]
    _, actions, info, _ = drive(agent, env, seed=4, steps=95)
    assert len(actions) == 95 and "metrics" not in info  # no episode end inside
    assert agent.planner.plans == math.ceil(95 / every)
    # a new episode (episode_start) re-plans at once and restarts the count
    _, actions, _, _ = drive(agent, env, seed=5, steps=23)
    assert agent.planner.plans == math.ceil(95 / every) + math.ceil(23 / every)
    # a batch of a new size starts every row's schedule afresh
    obs = np.stack([env.reset(seed=s)[0] for s in (6, 7)])
    plans = agent.planner.plans
    agent.predict(obs)
    assert agent.planner.plans == plans + 2


def test_reference_commands_ramp_toward_the_planned_target(trained):
    agent, env, _ = trained
    seen, actions, _, _ = drive(agent, env, seed=8, steps=60)
    dt = agent.system.dt
    # each step's command moves the reference the env shows by at most ramp_accel dt, ramp_offset_rate dt
    speed_step = actions[:, 2] - seen[:, FIELD["reference_speed"]]
    offset_step = actions[:, 3] - seen[:, FIELD["offset"]]
    accel, rate = agent.planner.ramp_accel, agent.planner.ramp_offset_rate
    assert accel == agent.hyperparameters["ramp_accel"] and rate == agent.hyperparameters["ramp_offset_rate"]
    assert np.all(np.abs(speed_step) <= accel * dt + 1e-5)
    assert np.all(np.abs(offset_step) <= rate * dt + 1e-5)
    # a reference far from the target: the command is one full ramp step toward it; near it, the target
    obs = seen[0].astype(np.float64)
    v0, d0 = obs[FIELD["reference_speed"]], obs[FIELD["offset"]]
    assert agent.planner.command(obs, (v0 - 5.0, d0 + 1.0)) == pytest.approx((v0 - accel * dt, d0 + rate * dt))
    assert agent.planner.command(obs, (v0 + 1e-3, d0 - 1e-3)) == pytest.approx((v0 + 1e-3, d0 - 1e-3))


@pytest.mark.parametrize("kwargs, message", [
    ({"gamma": 0.9}, r"unknown hyper-parameter\(s\) \['gamma'\]; allowed: .*anchor_weight, batch, "),
    ({"policy": "MlpPolicy"}, r"unknown hyper-parameter\(s\) \['policy'\]"),
    ({"n_speeds": 0}, "at least one speed"),
    ({"k": 0.5}, r"k .* must be >= 1"),
    ({"batch": 0}, "batch must be a positive integer"),
    ({"rollout_steps": 2.5}, "rollout_steps must be a positive integer"),
])
def test_bad_hyperparameters_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HybridRoAAgent(env=CarHybridEnv(road=ROAD, reference_commands=True), **kwargs)


def test_bad_envs_and_observations_are_named():
    with pytest.raises(ValueError, match="controls the hybrid car: it needs env=car_hybrid"):
        HybridRoAAgent(env=gym.make("Pendulum-v1"))
    env = CarHybridEnv(road=ROAD, reference_commands=True)
    agent = HybridRoAAgent(env=env, **TINY)
    obs, _ = env.reset(seed=0)
    obs[FIELD["heading_error"]] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        agent.predict(obs)
    with pytest.raises(ValueError, match="17 entries"):
        agent.predict(np.zeros(5))


# -- through the host ---------------------------------------------------------------------------------
def test_rlkit_trains_hybrid_roa_and_its_checkpoint_loads(train_run):
    run = train_run("env=car_hybrid_planned", "agent=hybrid_roa", "+env.kwargs.n_segments=2", "total_timesteps=64",
                    "eval.episodes=1", *TINY_OVERRIDES)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed"
    written = [path for path in run.rglob("*") if path.is_file()]
    assert not [path for path in written if path.suffix in (".pkl", ".pt", ".pth")]
    for archive in (path for path in written if path.suffix == ".zip"):  # nothing pickled in what the run wrote
        with zipfile.ZipFile(archive) as opened:
            assert sorted(opened.namelist()) == ["meta.json", "tensors.safetensors"], archive
    env = CarHybridEnv(n_segments=2, reference_commands=True)
    agent = HybridRoAAgent.load(run / "checkpoints" / "latest" / "agent.zip", env=env)
    assert agent.trained and agent.hyperparameters["controller_hidden"] == [16]
    obs, _ = env.reset(seed=0)
    action, _ = agent.predict(obs, episode_start=True)
    assert action.shape == (4,) and env.action_space.contains(action)


def test_gradient_refinement_never_returns_a_worse_command_than_the_grid(trained):
    agent, _, _ = trained
    near = [0.0, 1.5, 0.0, 2.0, 0.4, 0.0, 0.0]
    obs = observation(agent.system, 25.0, 0.05, 0.1, e=near, next_mu=0.1, distance=5.0)
    grid, refined = planner_of(agent, refine_steps=0), planner_of(agent, refine_steps=3)
    plans = [planner.plan(obs.copy()) for planner in (grid, refined)]

    def value(command):
        with torch.no_grad():
            total, _ = grid.objective(obs, torch.tensor([command[0]], dtype=torch.float64),
                                      torch.tensor([command[1]], dtype=torch.float64))
        return float(total)

    assert value(plans[1]) <= value(plans[0]) + 1e-12
    low, high = grid.speed_range
    assert low <= plans[1][0] <= high and abs(plans[1][1]) <= grid.max_offset


def test_numpy_policy_equals_the_torch_controller():
    torch.manual_seed(3)
    controller = ModeController([16, 16], LIMIT).double()
    for layer in controller.residual:  # a nonzero nonlinear part (it starts at zero)
        if isinstance(layer, torch.nn.Linear):
            torch.nn.init.normal_(layer.weight, std=0.5)
    gen = torch.Generator().manual_seed(4)
    params = sample_params(gen, 64, 1.0, Ranges())
    e = sample_deviations(gen, 64, 3.0)
    _, u_eq = CarTracking().equilibrium(params)
    with torch.no_grad():
        expected = controller(e, context(params), u_eq).numpy()
    got = controller.numpy_policy()(e.numpy(), context(params.numpy()), u_eq.numpy())
    assert np.any(np.abs(expected) == LIMIT) and np.any(np.abs(expected) < LIMIT)  # both regimes seen
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
