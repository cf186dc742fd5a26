"""The plants of the Lyapunov-certified control papers: the two inverted pendulums against their
formulas written out here, their equilibrium, linearisation and envs, an interval evaluation of
their step (what the bound-propagation verifier does), and the CSTR's verifier options (fixed
substeps against hand-rolled RK4, the unstable steady state at Tc = 300 K)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import scipy.linalg
import torch
import yaml
from gymnasium.utils.env_checker import check_env

import envs  # noqa: F401  (registers the envs)
from envs.control import CSTR, InvertedPendulum, InvertedPendulumEnv, NLCPendulum, NLCPendulumEnv
from envs.control.system import NUMPY

CONF_DIR = Path(__file__).parents[3] / "rlkit" / "conf" / "env"
G = 9.81


def yang_dai_acceleration(theta, theta_dot, u, m=1.0, l=1.0, beta=1.0):  # noqa: E741
    """Yang, Dai et al. 2024: theta_ddot = g/l sin(theta) - beta/(m l^2) theta_dot + u/(m l^2)."""
    return G / l * np.sin(theta) - beta / (m * l**2) * theta_dot + u / (m * l**2)


def nlc_acceleration(theta, theta_dot, u, m=0.15, l=0.5, b=0.1):  # noqa: E741
    """Chang, Roohi, Gao 2019: theta_ddot = (m g l sin(theta) - b theta_dot + u) / (m l^2)."""
    return (m * G * l * np.sin(theta) - b * theta_dot + u) / (m * l**2)


# name -> (system factory, written-out acceleration, dt, state bound, registered env id, config)
PLANTS = {
    "inverted_pendulum": (InvertedPendulum, yang_dai_acceleration, 0.05, 12.0,
                          "rlkit/InvertedPendulum-v0", "inverted_pendulum.yaml"),
    "nlc_pendulum": (NLCPendulum, nlc_acceleration, 0.01, 6.0, "rlkit/NLCPendulum-v0", "nlc_pendulum.yaml"),
}


@pytest.fixture(params=sorted(PLANTS))
def plant(request):
    return PLANTS[request.param]


def random_points(bound: float, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(-bound, bound, (count, 2)), rng.uniform(-6.0, 6.0, (count, 1))


def test_dynamics_are_the_papers_formulas_on_every_path(plant):
    make, acceleration, dt, bound, _, _ = plant
    system = make()
    x, u = random_points(bound, 200, seed=0)
    theta, theta_dot, torque = x[:, 0], x[:, 1], u[:, 0]
    f_expected = np.stack([theta_dot, acceleration(theta, theta_dot, torque)], -1)
    # one explicit Euler step of dt, position and velocity alike (no angle wrapping)
    step_expected = x + dt * f_expected

    assert np.allclose(system.f(x, u), f_expected, rtol=1e-12, atol=1e-12)
    assert np.allclose(system.f(torch.as_tensor(x), torch.as_tensor(u)).numpy(), f_expected, rtol=1e-12, atol=1e-12)
    assert np.allclose(system.discrete_step(x, u), step_expected, rtol=1e-12, atol=1e-12)
    torch_step = system.discrete_step(torch.as_tensor(x), torch.as_tensor(u))
    assert torch_step.dtype == torch.float64
    assert np.allclose(torch_step.numpy(), step_expected, rtol=1e-12, atol=1e-12)
    one_by_one = np.stack([system.step_state(a, b) for a, b in zip(x, u)])
    assert np.allclose(one_by_one, step_expected, rtol=1e-12, atol=1e-12)


def test_the_angle_is_not_wrapped(plant):
    make, acceleration, dt, _, _, _ = plant
    x = np.array([[4.0, 5.0], [-4.0, -5.0]])  # beyond +-pi, moving outwards
    x_next = make().discrete_step(x, np.zeros((2, 1)))
    assert np.allclose(x_next[:, 0], x[:, 0] + dt * x[:, 1], rtol=1e-14)
    assert abs(x_next[0, 0]) > math.pi and abs(x_next[1, 0]) > math.pi


def test_defaults_are_the_papers():
    ip = InvertedPendulum()
    assert (ip.g, ip.m, ip.l, ip.beta, ip.dt, ip.integrator, ip.substeps) == (9.81, 1.0, 1.0, 1.0, 0.05, "euler", 1)
    assert ip.input_low.tolist() == [-6.0] and ip.input_high.tolist() == [6.0]
    assert ip.state_low.tolist() == [-12.0, -12.0] and ip.state_high.tolist() == [12.0, 12.0]
    assert np.array_equal(ip.Q, np.eye(2)) and np.array_equal(ip.R, [[1.0]])
    nlc = NLCPendulum()
    assert (nlc.g, nlc.m, nlc.l, nlc.b, nlc.dt, nlc.integrator, nlc.substeps) == \
        (9.81, 0.15, 0.5, 0.1, 0.01, "euler", 1)
    assert nlc.input_high.tolist() == [6.0] and nlc.state_high.tolist() == [6.0, 6.0]
    # the NLC pendulum is the Yang-Dai formula with NLC's constants
    x, u = random_points(6.0, 50, seed=1)
    expected = yang_dai_acceleration(x[:, 0], x[:, 1], u[:, 0], m=0.15, l=0.5, beta=0.1)
    assert np.allclose(nlc.f(x, u)[:, 1], expected, rtol=1e-12, atol=1e-12)


def test_upright_with_no_torque_is_the_equilibrium(plant):
    system = plant[0]()
    assert system.x_eq.tolist() == [0.0, 0.0] and system.u_eq.tolist() == [0.0]
    assert system.f(np.zeros(2), np.zeros(1)).tolist() == [0.0, 0.0]
    zero_state, zero_input = torch.zeros(2, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    assert system.discrete_step(zero_state, zero_input).tolist() == [0.0, 0.0]
    assert system.equilibrium_residual() == 0.0
    # hanging down (theta = pi) is the other equilibrium, up to sin(pi) in floating point
    assert np.abs(system.f(np.array([math.pi, 0.0]), np.zeros(1))).max() < 1e-12


def test_linearisation_is_open_loop_unstable_and_controllable(plant):
    make, _, dt, _, _, _ = plant
    system = make()
    A, B = system.linearize()
    c = system.damping_gain  # beta / (m l^2)
    A_expected = np.eye(2) + dt * np.array([[0.0, 1.0], [system.g / system.l, -c]])
    B_expected = dt * np.array([[0.0], [1.0 / (system.m * system.l**2)]])
    assert np.allclose(A, A_expected, rtol=1e-12, atol=1e-14) and np.allclose(B, B_expected, rtol=1e-12, atol=1e-14)
    # the continuous unstable eigenvalue (-c + sqrt(c^2 + 4 g / l)) / 2, through the Euler step
    unstable = (-c + math.sqrt(c * c + 4.0 * system.g / system.l)) / 2.0
    assert np.max(np.abs(np.linalg.eigvals(A))) == pytest.approx(1.0 + dt * unstable, rel=1e-12)
    assert np.max(np.abs(np.linalg.eigvals(A))) > 1.0
    assert np.linalg.matrix_rank(np.hstack([B, A @ B])) == 2


class Interval:
    """A closed interval [lo, hi] (numpy arrays) with the operations the verifier's bound objects
    offer: + and - with each other and with constants, * and / by constants, unary -."""

    def __init__(self, lo, hi):
        self.lo, self.hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)

    @staticmethod
    def _of(value):
        return value if isinstance(value, Interval) else Interval(value, value)

    def __add__(self, other):
        other = self._of(other)
        return Interval(self.lo + other.lo, self.hi + other.hi)

    __radd__ = __add__

    def __neg__(self):
        return Interval(-self.hi, -self.lo)

    def __sub__(self, other):
        return self + (-self._of(other))

    def __rsub__(self, other):
        return self._of(other) + (-self)

    def __mul__(self, constant):
        if isinstance(constant, Interval):
            raise TypeError("the verifier multiplies bounds by constants only")
        a, b = self.lo * constant, self.hi * constant
        return Interval(np.minimum(a, b), np.maximum(a, b))

    __rmul__ = __mul__

    def __truediv__(self, constant):
        if isinstance(constant, Interval):
            raise TypeError("the verifier divides bounds by constants only")
        return self * (1.0 / constant)


class IntervalOps:
    """The backend ``xp`` a verifier passes: only sin, cos and exp (sound enclosures)."""

    @staticmethod
    def sin(x):  # |sin'| <= 1: the midpoint value +- the half width, within [-1, 1]
        mid, half = (x.lo + x.hi) / 2, (x.hi - x.lo) / 2
        return Interval(np.maximum(np.sin(mid) - half, -1.0), np.minimum(np.sin(mid) + half, 1.0))

    @staticmethod
    def cos(x):
        mid, half = (x.lo + x.hi) / 2, (x.hi - x.lo) / 2
        return Interval(np.maximum(np.cos(mid) - half, -1.0), np.minimum(np.cos(mid) + half, 1.0))

    @staticmethod
    def exp(x):
        return Interval(np.exp(x.lo), np.exp(x.hi))


def test_the_step_evaluates_on_bound_objects_and_encloses_the_true_steps(plant):
    """The verifier runs the same model code on bounds: an interval step over small boxes of states
    and inputs contains the step of every point sampled in them."""
    make, _, _, bound, _, _ = plant
    system = make()
    rng = np.random.default_rng(2)
    centres, centre_inputs = random_points(bound * 0.9, 20, seed=3)
    radius = np.array([0.05, 0.1])
    lo, hi = centres - radius, centres + radius
    u_lo, u_hi = centre_inputs - 0.2, centre_inputs + 0.2
    step = system.step_components((Interval(lo[:, 0], hi[:, 0]), Interval(lo[:, 1], hi[:, 1])),
                                  (Interval(u_lo[:, 0], u_hi[:, 0]),), IntervalOps)
    assert all(isinstance(part, Interval) for part in step)
    for _ in range(50):
        x = rng.uniform(lo, hi)
        u = rng.uniform(u_lo, u_hi)
        x_next = system.discrete_step(x, u)
        for i, part in enumerate(step):
            assert np.all(part.lo - 1e-12 <= x_next[:, i]) and np.all(x_next[:, i] <= part.hi + 1e-12)


@pytest.mark.parametrize("scaling", ["physical", "normalized"])
def test_envs_pass_gymnasiums_env_checker(plant, scaling):
    env_id = plant[4]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=".*Box observation space (minimum|maximum) value is")
        check_env(gym.make(env_id, observation_scaling=scaling).unwrapped, skip_render_check=True)


def discrete_lqr_gain(system, R: float) -> np.ndarray:
    A, B = system.linearize()
    P = scipy.linalg.solve_discrete_are(A, B, np.eye(2), R * np.eye(1))
    return np.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)


def test_a_saturated_lqr_balances_from_every_corner_of_the_starting_box(plant):
    env = gym.make(plant[4]).unwrapped
    K = discrete_lqr_gain(env.system, R=0.1)
    low, high = env.initial_state_low, env.initial_state_high
    assert np.all(low < 0) and np.all(high > 0) and np.all(high - low <= 1.0)  # a small box around upright
    for corner in ([low[0], low[1]], [low[0], high[1]], [high[0], low[1]], [high[0], high[1]]):
        env.reset(options={"initial_state": corner})
        steps, truncated, total = 0, False, 0.0
        while not truncated:
            u = np.clip(-K @ env.state, env.system.input_low, env.system.input_high)
            _, reward, terminated, truncated, info = env.step(env.input_to_action(u))
            assert not terminated and not info["violated"]
            total += reward
            steps += 1
        assert steps == env.episode_steps
        assert np.abs(env.state).max() < 1e-2, (corner, env.state)
        assert np.isfinite(total) and total < 0.0


def test_envs_are_registered_with_their_configs(plant):
    _, _, dt, bound, env_id, config = plant
    text = (CONF_DIR / config).read_text()
    assert text.startswith("# ") and len(text.splitlines()[0]) > 20
    assert yaml.safe_load(text) == {"id": env_id, "kwargs": {}}
    env = gym.make(env_id, episode_steps=7).unwrapped
    assert env.system.dt == dt and env.system.state_high.tolist() == [bound, bound]
    assert env.episode_steps == 7 and env.observation_space.shape == (2,)
    assert isinstance(gym.make("rlkit/InvertedPendulum-v0").unwrapped, InvertedPendulumEnv)
    assert isinstance(gym.make("rlkit/NLCPendulum-v0").unwrapped, NLCPendulumEnv)


def test_leaving_the_state_box_is_a_violation():
    env = InvertedPendulumEnv(terminate_on_violation=True)
    env.reset(options={"initial_state": [11.9, 10.0]})
    _, _, terminated, _, info = env.step(np.ones(1))
    assert terminated and info["violated"] and info["state"][0] > 12.0


def test_bad_arguments_are_value_errors():
    with pytest.raises(ValueError, match="inverted_pendulum: m must be a positive number, got -1"):
        InvertedPendulum(m=-1.0)
    with pytest.raises(ValueError, match="nlc_pendulum: b must be a number >= 0"):
        NLCPendulum(b=-0.1)
    with pytest.raises(ValueError, match="inverted_pendulum: beta must be a number >= 0"):
        InvertedPendulum(beta=float("nan"))
    with pytest.raises(ValueError, match="max_torque must be a positive number"):
        NLCPendulumEnv(max_torque=0.0)
    with pytest.raises(ValueError, match="initial_state_high .* outside the state box"):
        NLCPendulumEnv(initial_state_high=(7.0, 0.0))


# -- the CSTR's options for a verifier --------------------------------------------------------

def cstr_rhs(x: np.ndarray, Tc: np.ndarray) -> np.ndarray:
    """The PC-Gym CSTR written out (constants in the module docstring of envs/control/cstr.py)."""
    Ca, T = x[..., 0], x[..., 1]
    rate = 7.2e10 * np.exp(-8750.0 / T) * Ca
    dCa = 100.0 / 100.0 * (1.0 - Ca) - rate
    dT = (100.0 / 100.0 * (350.0 - T) + 5e4 / (1000.0 * 0.239) * rate
          + 5e4 / (1000.0 * 0.239 * 100.0) * (Tc[..., 0] - T))
    return np.stack([dCa, dT], -1)


def hand_rolled(x: np.ndarray, Tc: np.ndarray, dt: float, substeps: int, method: str) -> np.ndarray:
    h = dt / substeps
    for _ in range(substeps):
        k1 = cstr_rhs(x, Tc)
        if method == "euler":
            x = x + h * k1
            continue
        k2 = cstr_rhs(x + h / 2 * k1, Tc)
        k3 = cstr_rhs(x + h / 2 * k2, Tc)
        k4 = cstr_rhs(x + h * k3, Tc)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return x


@pytest.mark.parametrize("method, substeps", [("rk4", 8), ("rk4", 6), ("euler", 40)])
def test_cstr_fixed_substeps_are_hand_rolled_equal_substeps(method, substeps):
    """In the operating range and within 2 K of the unstable steady state (where the default
    shortens some substeps, and these counts are still stable)."""
    system = CSTR(integrator=method, fixed_substeps=substeps)
    assert system.fixed_substeps == substeps and system.substeps == substeps and not system.stiff
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.uniform([0.48, 348.0], [0.52, 352.0], (16, 2)),
                        rng.uniform([0.8, 318.0], [0.9, 335.0], (16, 2))])
    Tc = rng.uniform(295.0, 302.0, (32, 1))
    expected = hand_rolled(x, Tc, system.dt, substeps, method)
    assert np.all((expected[:, 1] > 290.0) & (expected[:, 1] < 500.0))  # a stable, meaningful step
    assert np.allclose(system.discrete_step(x, Tc), expected, rtol=1e-12, atol=1e-12)
    assert np.allclose(system.discrete_step(torch.as_tensor(x), torch.as_tensor(Tc)).numpy(), expected,
                       rtol=1e-12, atol=1e-12)
    assert np.allclose(np.stack([system.step_state(a, b) for a, b in zip(x, Tc)]), expected, rtol=1e-12, atol=1e-12)


def test_cstr_without_fixed_substeps_is_unchanged():
    """The default still shortens substeps in a runaway; equal substeps at the same count differ there
    but agree where the plant is not stiff."""
    default, fixed = CSTR(), CSTR(fixed_substeps=4)
    assert default.stiff and default.fixed_substeps is None and default.substeps == 4
    hot = np.array([0.5, 358.0]), np.array([300.0])
    fine = hand_rolled(hot[0], hot[1], default.dt, 2048, "rk4")
    assert np.allclose(default.step_state(*hot), fine, rtol=5e-5, atol=1e-5)
    assert not np.allclose(fixed.step_state(*hot), fine, rtol=5e-5, atol=1e-5)
    mild = np.array([0.87, 325.0]), np.array([300.0])
    assert np.array_equal(default.step_state(*mild), fixed.step_state(*mild))
    # only the fixed substeps are a map a bound backend can follow
    x, u = CSTR.steady_state_for_Ca(0.87)
    assert np.allclose(fixed.step_components(tuple(x), tuple(u), NUMPY), fixed.step_state(x, u), rtol=1e-15)
    with pytest.raises(ValueError, match="stiffness-limited substeps"):
        default.step_components(tuple(x), tuple(u), NUMPY)
    for bad in (0, -2, 2.5, True, "4"):
        with pytest.raises(ValueError, match="fixed_substeps must be a positive integer or None"):
            CSTR(fixed_substeps=bad)


def test_cstr_unstable_steady_state_at_tc_300():
    x, u = CSTR.unstable_steady_state()
    assert u.tolist() == [300.0]
    assert x[0] == pytest.approx(0.4999, abs=1e-4) and x[1] == pytest.approx(350.0, abs=0.01)
    assert np.abs(cstr_rhs(x, u)).max() < 1e-9
    A_c, _ = CSTR().continuous_jacobian(x, u)
    assert sorted(np.linalg.eigvals(A_c).real) == pytest.approx([-0.454, 2.834], abs=1e-3)
    # Newton from nearby finds the same point. It is the middle of three steady states at 300 K, a
    # saddle; the cold one is stable, the hot one (T = 369.7 K) an unstable focus
    assert np.allclose(CSTR().steady_state(300.0, x_guess=(0.5, 350.0)), x, rtol=1e-10)
    cold = CSTR().steady_state(300.0, x_guess=(0.9, 320.0))
    hot = CSTR().steady_state(300.0, x_guess=(0.1, 400.0))
    assert cold[1] == pytest.approx(324.475, abs=1e-3) and hot[1] == pytest.approx(369.705, abs=1e-3)
    assert np.all(np.linalg.eigvals(CSTR().continuous_jacobian(cold, u)[0]).real < 0)
    hot_eigenvalues = np.linalg.eigvals(CSTR().continuous_jacobian(hot, u)[0])
    assert np.all(hot_eigenvalues.real > 0) and np.all(hot_eigenvalues.imag != 0)
    # as the equilibrium of a system: its coolant temperature is 300 K again
    assert CSTR(Ca_eq=x[0]).u_eq == pytest.approx([300.0], abs=1e-9)
    assert CSTR.unstable_steady_state(301.0)[0][1] != x[1]
    with pytest.raises(ValueError, match=r"1 steady state\(s\) at Tc=295 K, so no middle \(saddle\) one; three "
                                         "steady states exist for Tc between about 298.08 and 303.23 K"):
        CSTR.unstable_steady_state(295.0)
