"""Model-based controllers with the rlkit agent contract: explicit MPC, online MPC, LQR.

They do not learn. ``learn(total_timesteps)`` builds the controller from the environment's control
system (linearised at its equilibrium; for explicit MPC this solves the mp-QP, or reads it from the
cache) and then drives the training env for ``total_timesteps`` steps, calling the SB3 callback
protocol so a host's evaluation, checkpoints and TensorBoard work as for a learner. Each
vectorised env step is one "rollout" of length one (``on_rollout_start``, ``on_step``,
``on_rollout_end``): the controller never changes, so every step is a point at which it may be
evaluated or checkpointed.

``predict`` maps observation -> plant state -> input -> action. Where the controller has no law
(explicit MPC: a state outside its regions; online MPC: an infeasible QP) it applies the saturated
LQR instead; ``fallback_steps`` counts those states and training logs their fraction as
``mpc/fallback_fraction``.

Tracking: when the env observes its reference (``observe_reference``, e.g. the CSTR setpoint
schedules) the controllers track it (``track_reference=None``, the default, decides so; ``True``
demands it, ``False`` regulates to the equilibrium regardless). The MPC problem is then posed in
``theta = (x, x_ref)`` (:mod:`agents.mpc.problem`), the explicit solution covers the states times
the reference box (``reference_set``, ``reference_margin``: see
:meth:`agents.mpc.plant.PlantInterface.reference_box`), and ``predict`` reads the reference from
the observation. Otherwise the MPC regulates to the system's equilibrium ``(x_eq, u_eq)``.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from agents.mpc.controllers import ExplicitMPCController, LQRController, OnlineMPCController
from agents.mpc.explicit import DEFAULT_CACHE_DIR, ExplicitSolution
from agents.mpc.plant import DEFAULT_REFERENCE_MARGIN, PlantInterface, plant_interface
from agents.mpc.problem import LinearMPCProblem
from agents.checkpoint import Checkpointed
from agents.rollout import StepRunner


def tracking_problem(interface: PlantInterface, horizon: int, track_reference: bool | None = None,
                     reference_set: str = "schedule",
                     reference_margin: float = DEFAULT_REFERENCE_MARGIN) -> LinearMPCProblem:
    """The linear MPC problem of the env's plant: tracking its observed reference when
    ``track_reference`` is True, or None and the env observes its reference; regulation otherwise."""
    if track_reference is not None and not isinstance(track_reference, (bool, np.bool_)):
        raise ValueError(f"track_reference must be true, false or null (auto), got {track_reference!r}")
    observes = interface.observes_reference
    tracking = observes if track_reference is None else bool(track_reference)
    if tracking and not observes:
        raise ValueError("track_reference=true needs an env that observes its reference (observe_reference); "
                         "this one does not: leave track_reference unset (null) to regulate")
    low = high = None
    if tracking:
        low, high = interface.reference_box(reference_set, reference_margin)
    else:
        interface.reference_box(reference_set, reference_margin)  # the same checks of the arguments
    return LinearMPCProblem.from_system(interface.system, horizon, tracking=tracking,
                                        reference_low=low, reference_high=high)


class ControllerAgent(Checkpointed, StepRunner):
    """Shared machinery of the controller agents; subclasses set ``_build_controller``. ``save`` and
    ``load`` are :class:`agents.checkpoint.Checkpointed`'s: the constructor's hyper-parameters, the MPC
    problem, the env's spec and (explicit MPC) the solution."""

    # 1: a pickled data.pkl; 2: the state beside the counters (the explicit solution as "controller")
    save_format: ClassVar[int] = 3
    _counts_at_dump = (0, 0)  # fallback and controlled steps at the last log dump

    supported_action_spaces: ClassVar[tuple[type[spaces.Space], ...]] = (spaces.Box,)

    @classmethod
    def check_env(cls, env: Any) -> None:
        """Raise ValueError unless ``env`` exposes a control system (the agent contract)."""
        plant_interface(env)

    def __init__(self, policy: Any = None, env: Any = None, seed: int | None = None,
                 device: Any = "auto", verbose: int = 0, horizon: int = 1, track_reference: bool | None = None,
                 reference_set: str = "schedule", reference_margin: float = DEFAULT_REFERENCE_MARGIN,
                 **hyperparameters: Any) -> None:
        if policy is not None:
            raise ValueError(f"{type(self).__name__} has no policy network; leave policy unset (got {policy!r})")
        self.env = env
        self.seed = seed
        self.device = device  # unused: the controllers run on the CPU in numpy
        self.verbose = verbose
        self.hyperparameters = {"horizon": horizon, "track_reference": track_reference,
                                "reference_set": reference_set, "reference_margin": reference_margin,
                                **hyperparameters}
        self.interface: PlantInterface | None = plant_interface(env)
        self.problem = tracking_problem(self.interface, horizon, track_reference, reference_set, reference_margin)
        self.controller: Any = None
        self.num_timesteps = 0
        self._total_timesteps = 0
        self._last_obs: Any = None
        self.fallback_steps = 0
        self.controlled_steps = 0
        self._logger: Any = None

    # -- the controller ---------------------------------------------------------------------
    def _build_controller(self) -> Any:
        raise NotImplementedError

    def setup_controller(self) -> Any:
        """Build the controller now (``learn`` and ``predict`` do it when needed)."""
        if self.controller is None:
            start = time.perf_counter()
            self.controller = self._build_controller()
            if self.verbose:
                print(f"{type(self).__name__}: controller ready in {time.perf_counter() - start:.2f} s")
        return self.controller

    # -- SB3 surface ------------------------------------------------------------------------
    def get_env(self) -> Any:
        return self.env

    def set_env(self, env: Any) -> None:
        interface = plant_interface(env)
        self._check_compatible(interface)
        self.env, self.interface, self._last_obs = env, interface, None

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        """The controller's action for one observation or a batch (``deterministic`` is ignored:
        the controllers are deterministic)."""
        if self.interface is None:
            raise ValueError(f"{type(self).__name__} was loaded without an env and saved from one without a "
                             f"Gymnasium spec; pass env= to load() to convert observations")
        controller = self.setup_controller()
        observation = np.asarray(observation, dtype=np.float64)
        shape = tuple(self.interface.observation_space.shape)
        single = observation.shape == shape
        if not single and observation.shape[1:] != shape:
            raise ValueError(f"expected an observation of shape {shape} or a batch (batch, *{shape}), "
                             f"got {observation.shape}")
        batch = observation.reshape((-1,) + shape)
        references = self.interface.references(batch) if self.problem.tracking else None
        u, fallback = controller.control(self.interface.states(batch), references)
        self.fallback_steps += int(fallback.sum())
        self.controlled_steps += len(batch)
        actions = self.interface.actions(u)
        return (actions[0] if single else actions), state

    def _before_learning(self) -> None:
        self.setup_controller()

    def _actions(self, env: Any) -> np.ndarray:
        return self.predict(self._last_obs)[0]

    def _record_logs(self, logger: Any) -> None:
        fallbacks, controlled = self._counts_at_dump
        if self.controlled_steps > controlled:
            logger.record("mpc/fallback_fraction",
                          (self.fallback_steps - fallbacks) / (self.controlled_steps - controlled))
        self._counts_at_dump = (self.fallback_steps, self.controlled_steps)

    # -- saving (agents.checkpoint.Checkpointed) ---------------------------------------------
    def checkpoint_hyperparameters(self) -> dict[str, Any]:
        """The hyper-parameters this class's constructor takes (``ControllerAgent`` keeps a few
        for every subclass: ``horizon`` of an LQR agent is not an argument)."""
        import inspect

        taken = inspect.signature(type(self).__init__).parameters
        return {name: value for name, value in self.hyperparameters.items() if name in taken}

    def checkpoint_state(self) -> dict[str, Any]:
        """The MPC problem as arrays, and the env's Gymnasium spec when it has one (so ``load``
        without an env can remake it); a subclass adds its controller's data (an explicit
        solution's critical regions)."""
        model_env = self.interface.model_env if self.interface is not None else None
        spec = getattr(model_env, "spec", None)
        try:
            env_spec = spec.to_json() if spec is not None else None
        except Exception:  # kwargs that are not JSON (an object): load() then needs env=
            env_spec = None
        return {"problem": self.problem.to_state(), "env_spec": env_spec}

    @classmethod
    def rebuild(cls, hyperparameters: dict[str, Any], state: dict[str, Any], *, seed: Any, env: Any, device: Any,
                verbose: int) -> ControllerAgent:
        """The agent with its saved problem (not derived again from an env, nor from overridden
        hyper-parameters): it predicts exactly as the saved one. ``env`` (optional) supplies the
        observation and action conversions and the env to ``learn`` on; without it the env is remade
        from its saved spec, where there is one."""
        agent = cls.__new__(cls)
        agent.env, agent.seed, agent.device, agent.verbose = None, seed, device, verbose
        agent.hyperparameters = {"horizon": 1, "track_reference": None, "reference_set": "schedule",
                                 "reference_margin": DEFAULT_REFERENCE_MARGIN, **hyperparameters}
        agent.problem = LinearMPCProblem.from_state(state["problem"])
        agent.num_timesteps, agent._total_timesteps, agent._last_obs, agent._logger = 0, 0, None, None
        agent.fallback_steps = agent.controlled_steps = 0
        agent.controller = None
        if env is not None:
            agent.interface = plant_interface(env)
            agent._check_compatible(agent.interface)
            agent.env = env
        elif state["env_spec"] is not None:
            import gymnasium as gym

            import envs  # noqa: F401  (registers rlkit's envs)

            agent.interface = plant_interface(gym.make(gym.envs.registration.EnvSpec.from_json(state["env_spec"])))
        else:
            agent.interface = None
        return agent

    def _check_compatible(self, interface: PlantInterface) -> None:
        system = interface.system
        if (system.n_states, system.n_inputs) != (self.problem.n_states, self.problem.n_inputs):
            raise ValueError(
                f"the env's system has {system.n_states} states and {system.n_inputs} inputs; this "
                f"agent controls {self.problem.n_states} states and {self.problem.n_inputs} inputs"
            )
        if getattr(self.problem, "tracking", False) and not interface.observes_reference:
            raise ValueError("this agent tracks a reference, but the env does not observe one "
                             "(observe_reference is off)")


class ExplicitMPCAgent(ControllerAgent):
    """Explicit linear MPC: the mp-QP of the linearised plant solved offline with ppopt, evaluated
    by point location; the saturated LQR outside the solution's regions.

    Args:
        policy: must stay None (there is no network).
        env: a control env (Gymnasium, wrapped, or an SB3 VecEnv) exposing ``system``.
        seed, device, verbose: the common agent arguments (the controller is deterministic).
        horizon: the MPC horizon N.
        cache_dir: where solved problems are cached (keyed by a hash of the problem); None: no cache.
        track_reference: track the observed reference (None: exactly when the env observes one).
        reference_set: the references the explicit solution covers: "schedule" (the env's
            scheduled references plus a margin) or "state" (the state box).
        reference_margin: that margin, a fraction of the state box's width on each side.
    """

    def __init__(self, policy: Any = None, env: Any = None, seed: int | None = None, device: Any = "auto",
                 verbose: int = 0, horizon: int = 10, cache_dir: str | None = DEFAULT_CACHE_DIR,
                 track_reference: bool | None = None, reference_set: str = "schedule",
                 reference_margin: float = DEFAULT_REFERENCE_MARGIN) -> None:
        super().__init__(policy, env, seed, device, verbose, horizon=horizon, track_reference=track_reference,
                         reference_set=reference_set, reference_margin=reference_margin, cache_dir=cache_dir)

    @property
    def solution(self) -> ExplicitSolution:
        return self.setup_controller().solution

    def _build_controller(self) -> ExplicitMPCController:
        solution = ExplicitSolution.solve(
            self.problem, cache_dir=self.hyperparameters["cache_dir"], verbose=self.verbose
        )
        if self.verbose:
            origin = "from the cache" if solution.solve_time_s is None else f"in {solution.solve_time_s:.2f} s"
            print(f"explicit MPC: {solution.n_regions} regions {origin}")
        return ExplicitMPCController(solution)

    def checkpoint_state(self) -> dict[str, Any]:
        """With the explicit solution, once solved (``load`` then needs no solve, nor the cache)."""
        solution = self.controller.solution.to_state() if self.controller is not None else None
        return super().checkpoint_state() | {"solution": solution}

    def restore_checkpoint(self, state: dict[str, Any]) -> None:
        if state["solution"] is not None:
            self.controller = ExplicitMPCController(ExplicitSolution.from_state(self.problem, state["solution"]))


class OnlineMPCAgent(ControllerAgent):
    """Linear MPC solved online with daqp at every step; the saturated LQR where the QP is
    infeasible.

    Args:
        policy, env, seed, device, verbose: as :class:`ExplicitMPCAgent`.
        horizon: the MPC horizon N.
        track_reference: as :class:`ExplicitMPCAgent` (the QP is solved for any reference).
    """

    def __init__(self, policy: Any = None, env: Any = None, seed: int | None = None, device: Any = "auto",
                 verbose: int = 0, horizon: int = 10, track_reference: bool | None = None) -> None:
        super().__init__(policy, env, seed, device, verbose, horizon=horizon, track_reference=track_reference)

    def _build_controller(self) -> OnlineMPCController:
        return OnlineMPCController(self.problem)


class LQRAgent(ControllerAgent):
    """The infinite-horizon LQR of the linearised plant (gain from the DARE), saturated to the
    input box; when tracking, ``u = clip(u_r + K (x - x_ref))`` with the reference input ``u_r``.

    Args:
        policy, env, seed, device, verbose: as :class:`ExplicitMPCAgent`.
        track_reference: as :class:`ExplicitMPCAgent`.
    """

    def __init__(self, policy: Any = None, env: Any = None, seed: int | None = None, device: Any = "auto",
                 verbose: int = 0, track_reference: bool | None = None) -> None:
        super().__init__(policy, env, seed, device, verbose, horizon=1, track_reference=track_reference)

    def _build_controller(self) -> LQRController:
        return LQRController(self.problem)
