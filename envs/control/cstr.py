"""The continuous stirred-tank reactor (CSTR) of PC-Gym, and its tracking and safety tasks.

An exothermic, irreversible first-order reaction A -> B in a cooled tank (units: L, min, mol/L, K):

    dCa/dt = q/V (Caf - Ca) - rA
    dT/dt  = q/V (Ti - T) + (-dH)/(rho C) rA + UA/(rho C V) (Tc - T),   rA = k0 exp(-E/(R T)) Ca

with q = 100, V = 100, rho = 1000, C = 0.239, dH = -5e4, E/R = 8750, k0 = 7.2e10, UA = 5e4, Ti = 350,
Caf = 1. State (Ca, T), input the coolant temperature Tc. At Tc = 300 K the steady state
(0.4999, 350.0) is open-loop unstable (continuous eigenvalues -0.454, +2.83).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.control.env import ControlEnv
from envs.control.system import ControlSystem

# The tracking task of PC-Gym: 60 steps over 26 minutes.
EPISODE_MINUTES = 26.0
EPISODE_STEPS = 60


class CSTR(ControlSystem):
    """The PC-Gym CSTR as a :class:`ControlSystem`.

    The equilibrium (``x_eq``, ``u_eq``) is the steady state with concentration ``Ca_eq`` (default
    0.87 mol/L: T = 325.3 K, Tc = 300.5 K, the middle of the tracking setpoints 0.85-0.9 and stable
    open-loop); ``Ca_eq=0.4999`` gives the unstable steady state at Tc = 300 K. The stage cost is
    ``100 (Ca - Ca_ref)^2 + 0.01 (T - T_ref)^2 + 0.001 (Tc - Tc_ref)^2`` (Q = diag(100, 0.01),
    R = 0.001: a 0.01 mol/L concentration error weighs as much as the 1 K temperature error that
    comes with it at steady state, and the input is cheap). The state box Ca in [0, 1], T in
    [290, 400] K is the physical operating range; T above 400 K is a thermal runaway. With
    ``T_safe=(low, high)`` the safety constraints are ``g(x) = (low - T, T - high) <= 0``.

    The reactor is stiff where it runs away (the reaction rate grows by orders of magnitude with T),
    so each step of ``dt`` is split into ``substeps`` equal RK4 (or Euler) substeps (4 by default:
    within about 2e-5 K of a converged solution in the operating range), shortened further wherever
    a bound on the Jacobian's spectral radius would make the explicit integrator unstable (T above
    about 355 K for RK4 with 4 substeps; up to 490 K the reactor runs away). The substeps are equal,
    and the step map smooth, at the equilibria (including the unstable one at Tc = 300 K).

    ``fixed_substeps=n`` (for a verifier that bounds the step map on a region of states) replaces
    ``substeps`` and turns the shortening off: every step is then exactly n equal RK4 (or Euler)
    substeps of dt / n, one fixed formula in the state. The user must choose n large enough for the
    region considered: where the Jacobian's spectral radius times dt / n exceeds the integrator's
    stability limit (about 2.78 for RK4, 2 for Euler) the step is unstable and meaningless, which
    no error reports. :meth:`unstable_steady_state` gives the open-loop unstable steady state at
    Tc = 300 K, the natural target of a certified stabilising controller.
    """

    q, V, rho, C = 100.0, 100.0, 1000.0, 0.239
    dH, E_over_R, k0, UA = -5e4, 8750.0, 7.2e10, 5e4
    Ti, Caf = 350.0, 1.0
    stiff = True

    def __init__(
        self,
        *,
        Tc_low: float = 295.0,
        Tc_high: float = 302.0,
        T_safe: tuple[float, float] | None = None,
        Ca_eq: float = 0.87,
        dt: float = EPISODE_MINUTES / EPISODE_STEPS,
        integrator: str = "rk4",
        substeps: int = 4,
        Q: Any = (100.0, 0.01),
        R: Any = 0.001,
        name: str = "cstr",
        fixed_substeps: int | None = None,
    ) -> None:
        x_eq, u_eq = self.steady_state_for_Ca(Ca_eq)
        if fixed_substeps is not None:
            if isinstance(fixed_substeps, bool) or not isinstance(fixed_substeps, (int, np.integer)) \
                    or fixed_substeps < 1:
                raise ValueError(f"fixed_substeps must be a positive integer or None, got {fixed_substeps!r}")
            substeps = int(fixed_substeps)
            # ControlSystem._advance then takes its equal-substep path, a fixed smooth map
            self.stiff = False
        self.fixed_substeps = None if fixed_substeps is None else int(fixed_substeps)
        if T_safe is not None:
            T_safe = tuple(float(v) for v in T_safe)
            if len(T_safe) != 2 or not T_safe[0] < T_safe[1]:
                raise ValueError(f"T_safe must be (low, high) with low < high, got {T_safe!r}")
        self.T_safe = T_safe
        super().__init__(
            state_names=("Ca", "T"),
            input_names=("Tc",),
            dt=dt,
            x_eq=x_eq,
            u_eq=u_eq,
            state_low=(0.0, 290.0),
            state_high=(1.0, 400.0),
            input_low=(Tc_low,),
            input_high=(Tc_high,),
            Q=Q,
            R=R,
            integrator=integrator,
            substeps=substeps,
            name=name,
        )

    # -- model -----------------------------------------------------------------------------
    def _rhs(self, x, u, xp):
        (Ca, T), (Tc,) = x, u
        rate = self.k0 * xp.exp(-self.E_over_R / T) * Ca
        dCa = self.q / self.V * (self.Caf - Ca) - rate
        dT = (self.q / self.V * (self.Ti - T) - self.dH / (self.rho * self.C) * rate
              + self.UA / (self.rho * self.C * self.V) * (Tc - T))
        return dCa, dT

    def _stiffness(self, x, xp):
        # the infinity norm of D^-1 (df/dx) D with D = diag(1 mol/L, 100 K): an upper bound of the
        # spectral radius that also sees the large entries of a fast-changing Jacobian (in a runaway
        # the eigenvalues nearly cancel while the entries are in the hundreds)
        Ca, T = x
        k = self.k0 * xp.exp(-self.E_over_R / T)
        dk = k * self.E_over_R / (T * T)
        heat = -self.dH / (self.rho * self.C)
        a = self.q / self.V
        row_Ca = xp.abs(-a - k) + 100.0 * xp.abs(dk * Ca)
        row_T = xp.abs(heat * k) / 100.0 + xp.abs(-a - self.UA / (self.rho * self.C * self.V) + heat * dk * Ca)
        return xp.maximum(row_Ca, row_T)

    def _safety(self, x, xp):
        if self.T_safe is None:
            return ()
        T = x[1]
        return self.T_safe[0] - T, T - self.T_safe[1]

    def linear_safety(self) -> tuple[np.ndarray, np.ndarray] | None:
        if self.T_safe is None:
            return None
        return np.array([[0.0, -1.0], [0.0, 1.0]]), np.array([-self.T_safe[0], self.T_safe[1]])

    # -- steady states ---------------------------------------------------------------------
    @classmethod
    def steady_state_for_Ca(cls, Ca: float) -> tuple[np.ndarray, np.ndarray]:
        """The steady state (x, u) = ((Ca, T), (Tc,)) with concentration ``Ca``, in closed form:
        the mass balance gives the rate, Arrhenius gives T, the energy balance gives Tc."""
        Ca = float(Ca)
        if not 0.0 < Ca < cls.Caf:
            raise ValueError(f"a steady-state concentration must lie in (0, {cls.Caf:g}), got {Ca!r}")
        rate = cls.q / cls.V * (cls.Caf - Ca)
        T = -cls.E_over_R / np.log(rate / (cls.k0 * Ca))
        Tc = T - (cls.q / cls.V * (cls.Ti - T) - cls.dH / (cls.rho * cls.C) * rate) \
            * cls.rho * cls.C * cls.V / cls.UA
        return np.array([Ca, T]), np.array([Tc])

    @classmethod
    def unstable_steady_state(cls, Tc: float = 300.0) -> tuple[np.ndarray, np.ndarray]:
        """The open-loop unstable steady state (x, u) = ((Ca, T), (Tc,)) at coolant temperature
        ``Tc`` (default 300 K: Ca = 0.4999 mol/L, T = 350.0 K, continuous eigenvalues -0.454 and
        +2.834): the middle of the three steady states, a saddle, found by bisection on Ca of the
        closed-form coolant temperature of :meth:`steady_state_for_Ca`. (At 300 K the hot steady
        state, T = 369.7 K, is unstable too, an unstable focus; the cold one, 324.5 K, is stable.)
        ``CSTR(Ca_eq=x[0])`` is the system with it as the equilibrium. A ValueError where ``Tc``
        has fewer than three steady states."""
        Tc = float(Tc)
        if not np.isfinite(Tc):
            raise ValueError(f"Tc must be a finite temperature in K, got {Tc!r}")

        def excess(Ca: float) -> float:  # coolant temperature that holds Ca, minus Tc
            return float(cls.steady_state_for_Ca(Ca)[1][0]) - Tc

        grid = np.linspace(1e-3, cls.Caf - 1e-3, 2001)
        excesses = np.array([excess(Ca) for Ca in grid])
        crossings = np.nonzero(np.sign(excesses[:-1]) != np.sign(excesses[1:]))[0]
        if len(crossings) != 3:
            coolant = excesses + Tc
            turns = np.nonzero(np.sign(np.diff(coolant[:-1])) != np.sign(np.diff(coolant[1:])))[0] + 1
            window = (f"; three steady states exist for Tc between about "
                      f"{coolant[turns].min():.2f} and {coolant[turns].max():.2f} K") if len(turns) == 2 else ""
            raise ValueError(f"the CSTR has {len(crossings)} steady state(s) at Tc={Tc:g} K, so no middle "
                             f"(saddle) one{window}")
        low, high = grid[crossings[1]], grid[crossings[1] + 1]
        low_sign = np.sign(excess(low))
        for _ in range(200):  # bisection to the last bit of Ca
            middle = 0.5 * (low + high)
            if middle in (low, high):
                break
            if np.sign(excess(middle)) == low_sign:
                low = middle
            else:
                high = middle
        x, _ = cls.steady_state_for_Ca(0.5 * (low + high))
        return x, np.array([Tc])

    def steady_state(self, Tc: float, x_guess: Any, tol: float = 1e-12, max_iter: int = 50) -> np.ndarray:
        """The steady state at coolant temperature ``Tc`` nearest ``x_guess`` (Newton's method on
        f(x, Tc) = 0; there are up to three)."""
        x = np.asarray(self.check_state(np.asarray(x_guess, dtype=np.float64)), dtype=np.float64).copy()
        u = np.array([float(Tc)])
        for _ in range(max_iter):
            J, _ = self.continuous_jacobian(x, u)
            delta = np.linalg.solve(J, -self.f(x, u))
            x = x + delta
            if np.max(np.abs(delta) / np.maximum(np.abs(x), 1.0)) < tol:
                return x
        raise ValueError(f"{self.name}: no steady state found at Tc={Tc:g} from {list(x_guess)}")


def cstr_references(system: CSTR, setpoints, steps_per_setpoint: int) -> list:
    """The reference schedule (start_step, x_ref, u_ref) for Ca setpoints, each the steady state of
    its setpoint, held ``steps_per_setpoint`` steps; a ValueError if one needs Tc outside the box."""
    schedule = []
    for i, Ca in enumerate(setpoints):
        x_ref, u_ref = system.steady_state_for_Ca(Ca)
        if not system.input_low[0] <= u_ref[0] <= system.input_high[0]:
            raise ValueError(
                f"setpoint Ca={Ca:g} needs Tc={u_ref[0]:.2f} K at steady state, outside the input box "
                f"[{system.input_low[0]:g}, {system.input_high[0]:g}] K; choose setpoints whose steady "
                f"state the coolant can hold")
        schedule.append((i * steps_per_setpoint, x_ref, u_ref))
    return schedule


class CSTREnv(ControlEnv):
    """CSTR setpoint tracking (PC-Gym's task): follow the concentration setpoints with the coolant.

    ## Description
    The :class:`CSTR` (``env.unwrapped.system``) with coolant Tc in [295, 302] K, steps of 26/60 min,
    60 steps (26 minutes) per episode. The Ca setpoint is 0.85, then 0.9, then 0.87 mol/L, 20 steps
    each; the reference state and input are the setpoint's steady state: (T_ref, Tc_ref) =
    (327.3, 301.4), (321.7, 298.2), (325.3, 300.4) K (``env.unwrapped.reference_schedule``).

    ## Action Space
    ``Box(-1, 1, (1,))``, mapped affinely onto Tc in [Tc_low, Tc_high] (see :class:`ControlEnv`).

    ## Observation Space
    ``(Ca, T, Ca_ref, T_ref)`` in mol/L and K (``observation_scaling="physical"``, default), or each
    mapped from the state box Ca in [0, 1], T in [290, 400] onto [-1, 1] (``"normalized"``).

    ## Rewards
    ``-(100 (Ca - Ca_ref)^2 + 0.01 (T - T_ref)^2 + 0.001 (Tc - Tc_ref)^2)`` at the state before the
    step (see :class:`ControlEnv`), minus ``violation_penalty`` at a violating step.

    ## Starting State
    Uniform on Ca in [0.78, 0.82] mol/L, T in [328, 332] K, around PC-Gym's (0.8, 330).

    ## Episode End
    Truncated after ``episode_steps`` (60); terminated at a violation of the state box (or of the
    safety band, :class:`CSTRSafeEnv`) if ``terminate_on_violation``.

    ## Arguments
    - ``setpoints`` (0.85, 0.9, 0.87) and ``steps_per_setpoint`` (20): the Ca setpoint schedule;
      each must be a steady state the coolant box can hold.
    - ``episode_steps`` (60), ``initial_state_low`` / ``initial_state_high`` (above).
    - ``Tc_low``, ``Tc_high`` (295, 302): the coolant box. ``integrator`` ("rk4" or "euler"),
      ``substeps`` (4): see :class:`CSTR`.
    - ``observation_scaling``, ``terminate_on_violation``, ``violation_penalty``, ``render_mode``:
      see :class:`ControlEnv`.

    ## Version History
    - v0: initial version.
    """

    def __init__(
        self,
        setpoints=(0.85, 0.9, 0.87),
        steps_per_setpoint: int = 20,
        episode_steps: int = EPISODE_STEPS,
        initial_state_low=(0.78, 328.0),
        initial_state_high=(0.82, 332.0),
        Tc_low: float = 295.0,
        Tc_high: float = 302.0,
        T_safe: tuple[float, float] | None = None,
        integrator: str = "rk4",
        substeps: int = 4,
        observation_scaling: str = "physical",
        terminate_on_violation: bool = False,
        violation_penalty: float = 0.0,
        render_mode: str | None = None,
    ) -> None:
        system = CSTR(Tc_low=Tc_low, Tc_high=Tc_high, T_safe=T_safe, integrator=integrator,
                      substeps=substeps)
        super().__init__(
            system,
            episode_steps=episode_steps,
            initial_state_low=initial_state_low,
            initial_state_high=initial_state_high,
            reference_schedule=cstr_references(system, setpoints, steps_per_setpoint),
            observe_reference=True,
            observation_scaling=observation_scaling,
            terminate_on_violation=terminate_on_violation,
            violation_penalty=violation_penalty,
            render_mode=render_mode,
        )


class CSTRSafeEnv(CSTREnv):
    """CSTR tracking under a safety band: follow Ca setpoints while keeping 321 <= T <= 327 K.

    ## Description
    As :class:`CSTREnv`, with the wider coolant box Tc in [290, 310] K (enough to drive the
    reactor out of the band, or into thermal runaway) and the safety constraints
    ``g(x) = (321 - T, T - 327) <= 0`` counted in ``info`` (``violations``, ``episode_violations``).
    The setpoints 0.86, 0.89, 0.87 mol/L (20 steps each) have steady-state temperatures 326.3,
    323.0 and 325.3 K, inside the band; the first sits 0.7 K below its upper edge, so an
    aggressive controller overshoots it.

    ## Starting State
    Uniform on Ca in [0.86, 0.88] mol/L, T in [323, 326] K, inside the band.

    ## Arguments
    As :class:`CSTREnv`, with these defaults: ``setpoints=(0.86, 0.89, 0.87)``, ``Tc_low=290``,
    ``Tc_high=310``, ``T_safe=(321, 327)``, the starting box above.

    ## Version History
    - v0: initial version.
    """

    def __init__(
        self,
        setpoints=(0.86, 0.89, 0.87),
        initial_state_low=(0.86, 323.0),
        initial_state_high=(0.88, 326.0),
        Tc_low: float = 290.0,
        Tc_high: float = 310.0,
        T_safe: tuple[float, float] = (321.0, 327.0),
        **kwargs: Any,
    ) -> None:
        super().__init__(setpoints=setpoints, initial_state_low=initial_state_low,
                         initial_state_high=initial_state_high, Tc_low=Tc_low, Tc_high=Tc_high,
                         T_safe=T_safe, **kwargs)


__all__ = ["CSTR", "CSTREnv", "CSTRSafeEnv", "cstr_references"]
