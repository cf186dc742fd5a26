"""``agent=lyapunov_discovery``: search for an analytical Lyapunov function of the env's autonomous system
with a transformer trained by risk-seeking policy gradient, and certify the first one the falsifier
cannot break and the sound verifier proves.

The env is ``env=autonomous`` (:class:`envs.control.autonomous_env.AutonomousEnv`); its ``system``
is the one analysed. ``learn(total_timesteps)`` samples ``total_timesteps`` candidate expressions
(``batch_size`` per policy update; a "step" is one sampled expression) and stops at the first verified
function, which it keeps as :attr:`expression` with the certificate (:mod:`.certificate`), written by
the host to ``certificate.json``; ``rlkit certify`` proves it again. ``predict`` returns the empty action
(the system has no input). ``learn`` runs on :class:`agents.loop.IterationLoop`; a checkpoint
(:class:`agents.checkpoint.Checkpointed`) keeps the certified V as the token sequence the search
sampled, rebuilt on load through the library's own operators.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces

from agents.base import unwrapped_env
from agents.checkpoint import Checkpointed
from agents.lyapunov_discovery import certificate as certificates
from agents.lyapunov_discovery.expressions import DEFAULT_OPERATORS, TokenLibrary
from agents.lyapunov_discovery.falsifier import decrease_margin
from agents.lyapunov_discovery.policy import ExpressionTransformer
from agents.lyapunov_discovery.search import discover, shifted_expression
from agents.lyapunov_discovery.verifier import verify, verify_polynomial_z3
from agents.loop import HostLogging, IterationLoop

VERIFY_TIMEOUT_S = 20.0  # per candidate inside the search (a certificate's re-check has no time limit)
LOGGED = ("best", "quantile", "mean", "survivors")  # of a search iteration's record, to TensorBoard


def system_of(env: Any) -> Any:
    """The autonomous system behind ``env``, with its SymPy form checked; a ValueError naming what is
    missing otherwise."""
    system = getattr(unwrapped_env(env), "system", None)
    if system is None or not hasattr(system, "region"):
        raise ValueError(f"agent lyapunov_discovery needs env=autonomous (an env whose system is an autonomous "
                         f"system dx/dt = f(x) with a region); got {unwrapped_env(env)!r}")
    try:
        system.symbolic_f()
    except NotImplementedError as error:
        raise ValueError(f"{system.name} has no SymPy form, which the verifier and the certificate need: "
                         f"{error}") from None
    return system


class LyapunovDiscoveryAgent(Checkpointed, HostLogging):
    """The generative Lyapunov-function search as an rlkit agent.

    Args:
        env: ``env=autonomous`` (any env whose unwrapped ``system`` is an
            :class:`~envs.control.autonomous.AutonomousSystem`).
        operators, constants, min_length, max_length: the token library
            (:class:`~agents.lyapunov_discovery.expressions.TokenLibrary`); the state variables are
            ``x1 .. xn`` in the system's state order.
        decrease: ``"strict"`` (dV/dt < 0: asymptotic stability) or ``"weak"`` (dV/dt <= 0: stability).
        batch_size, learning_rate, epsilon, entropy_weight, n_score_states, ball, width, layers, heads:
            the search (:func:`~agents.lyapunov_discovery.search.discover`; these defaults are the only ones).
        max_depth, max_boxes: the interval verifier's splits per box path and boxes per candidate.
        z3: also ask z3 when V and the dynamics are polynomials (its verdict goes into the certificate).
    """

    # 1: a torch.save archive (policy.pt) whose V was re-read from the certificate's srepr; 2: the state
    # beside the counters
    save_format: ClassVar[int] = 3
    supported_action_spaces: ClassVar[tuple[type[spaces.Space], ...]] = (spaces.Box,)

    @classmethod
    def check_env(cls, env: Any) -> None:
        system_of(env)

    def __init__(self, policy: Any = None, env: Any = None, seed: int = 0, device: Any = "auto", verbose: int = 0,
                 operators: Sequence[str] = DEFAULT_OPERATORS, constants: Sequence[float] = (),
                 min_length: int = 3, max_length: int = 20, decrease: str = "strict", batch_size: int = 200,
                 learning_rate: float = 3e-4, epsilon: float = 0.1, entropy_weight: float = 0.005,
                 n_score_states: int = 500, ball: float = 0.05, width: int = 64, layers: int = 2, heads: int = 4,
                 max_depth: int = 42, max_boxes: int = 200_000, z3: bool = True) -> None:
        if policy is not None:
            raise ValueError(f"LyapunovDiscoveryAgent has no policy option; leave policy unset (got {policy!r})")
        self.system = system_of(env)
        self.states, self.rhs = self.system.symbolic_f()  # built once: every candidate is verified against it
        self.library = TokenLibrary(self.system.n_states, operators=list(operators),
                                    constants=[float(c) for c in constants], min_length=int(min_length),
                                    max_length=int(max_length))
        self.search_settings = {
            "batch_size": int(batch_size), "learning_rate": float(learning_rate), "epsilon": float(epsilon),
            "entropy_weight": float(entropy_weight), "n_score_states": int(n_score_states), "ball": float(ball),
            "width": int(width), "layers": int(layers), "heads": int(heads), "decrease": decrease,
        }
        decrease_margin(decrease)  # a known decrease, or a ValueError naming them
        if batch_size < 1 or max_depth < 1 or max_boxes < 1:
            raise ValueError(f"batch_size, max_depth and max_boxes must be >= 1; got {batch_size}, {max_depth}, "
                             f"{max_boxes}")
        self.hyperparameters = {
            "operators": list(operators), "constants": [float(c) for c in constants], "min_length": int(min_length),
            "max_length": int(max_length), **self.search_settings, "max_depth": int(max_depth),
            "max_boxes": int(max_boxes), "z3": bool(z3),
        }
        self.seed, self.device, self.verbose = int(seed), device, verbose
        torch.manual_seed(self.seed)
        self.policy = ExpressionTransformer(self.library, int(width), int(layers), int(heads))
        self.num_timesteps = 0
        self.sequence: list[int] | None = None  # the certified V's tokens, as the search sampled them
        self.expression: Any = None  # the certified V, in the system's state symbols
        self.certificate: dict[str, Any] | None = None
        self.search_wall_time_s = 0.0

    # -- the search ----------------------------------------------------------------------------
    def in_state_symbols(self, expression: Any) -> Any:
        """``expression`` over the library's x1..xn rewritten in the system's state symbols."""
        import sympy

        return expression.subs({sympy.Symbol(name, real=True): state
                                for name, state in zip(self.library.variables, self.states)}, simultaneous=True)

    def verify_expression(self, expression: Any) -> tuple[bool, Any, np.ndarray | None]:
        """The verifier hook of the search: (holds, result, counterexample) for a candidate in x1..xn."""
        try:
            result = verify(self.in_state_symbols(expression), self.states, self.rhs, *self.system.region,
                            ball=self.search_settings["ball"], max_depth=self.hyperparameters["max_depth"],
                            decrease=self.search_settings["decrease"], max_boxes=self.hyperparameters["max_boxes"],
                            timeout_s=VERIFY_TIMEOUT_S)
        except (RecursionError, MemoryError, OverflowError):  # too large to handle: not proved, not refuted
            return False, None, None
        return result.holds, result, result.counterexample

    def learn(self, total_timesteps: int, callback: Any = None, progress_bar: bool = False,
              reset_num_timesteps: bool = True) -> LyapunovDiscoveryAgent:
        loop = IterationLoop(self, total_timesteps, callback, progress_bar, reset_num_timesteps, "discovery")
        batch = self.search_settings["batch_size"]
        iterations = math.ceil(total_timesteps / batch)

        def after_iteration(record: dict[str, float]) -> bool:
            return loop.after_iteration(batch, {key: record[key] for key in LOGGED})

        if self.certificate is None and iterations > 0:
            started = time.perf_counter()
            result = discover(self.system, self.library, seed=self.seed + self.num_timesteps,
                              verifier=self.verify_expression, policy=self.policy, callback=after_iteration,
                              iterations=iterations, **self.search_settings)
            self.search_wall_time_s += time.perf_counter() - started
            if result.sequence is not None:
                # the iteration that found it ends without the callback (the search stops there): its
                # expressions are counted, and the host's final evaluation sees the certified agent
                self.num_timesteps += batch
                self._certify(result)
        loop.finish()
        return self

    def _certify(self, result: Any) -> None:
        self.sequence = [int(token) for token in result.sequence]
        self.expression = self.in_state_symbols(result.expression)
        extra: dict[str, Any] = {
            "found_at_iteration": result.iteration, "search_wall_time_s": round(self.search_wall_time_s, 3),
            "sampled_expressions": self.num_timesteps, "falsifier_survivors": result.falsifier_survivors,
            "verifier_rejections": result.verifier_rejections, "seed": self.seed,
            "library": {key: self.hyperparameters[key] for key in ("operators", "constants", "min_length",
                                                                   "max_length")},
        }
        if self.hyperparameters["z3"]:
            try:
                extra["z3"] = verify_polynomial_z3(self.expression, self.states, self.rhs, *self.system.region,
                                                   ball=self.search_settings["ball"],
                                                   decrease=self.search_settings["decrease"])[0]
            except ValueError:
                extra["z3"] = "not polynomial"
        self.certificate = certificates.build(self.system, self.expression, result.verification,
                                              self.search_settings["ball"], self.hyperparameters["max_depth"],
                                              self.search_settings["decrease"], **extra)
        self.logger.record("discovery/verified", 1.0)
        self.logger.record("discovery/wall_time_to_verified_s", self.search_wall_time_s)

    # -- the certificate (the host writes it and re-checks it with rlkit certify) ---------------
    def certificate_summary(self) -> dict[str, Any]:
        c = self.certificate or {}
        return {"status": "verified" if c else "none", "expression": c.get("expression"),
                "decrease": c.get("decrease"), "search_wall_time_s": c.get("search_wall_time_s")}

    def recheck_certificate(self, path: Any) -> tuple[bool, list[str], str]:
        """(holds, problems, a one-line description) for the certificate file at ``path``."""
        certificate = certificates.read(path)
        holds, problems, result = certificates.recheck(certificate, self.system)
        if not holds:
            return False, problems, ""
        # the printed V is recomputed from the proved tokens (recheck refuses a readable form that differs)
        expression = certificates.expression_of(certificate, self.system)
        return True, [], (f"certificate holds: V = {expression} for {certificate['system']} on the "
                          f"box {certificate['box_low']} .. {certificate['box_high']} outside the ball "
                          f"{certificate['ball']} ({certificate['decrease']} decrease); {result.verified} boxes "
                          f"verified in {result.wall_s:.2f} s\nproved: {certificate['claim']}")

    # -- the contract -------------------------------------------------------------------------
    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        observation = np.asarray(observation, dtype=np.float64)
        single = observation.shape == (self.system.n_states,)
        batch = observation.reshape(-1, self.system.n_states)
        actions = np.zeros((len(batch), 0), dtype=np.float32)
        return (actions[0] if single else actions), state

    def get_parameters(self) -> dict[str, dict]:
        return {"policy": self.policy.state_dict()}

    # -- saving (agents.checkpoint.Checkpointed: the hyper-parameters and this state) -------------
    def checkpoint_state(self) -> dict[str, Any]:
        """The policy's tensors, the certified V as its token sequence, its certificate, the search time."""
        return self.get_parameters() | {"sequence": self.sequence, "certificate": self.certificate,
                                        "search_wall_time_s": self.search_wall_time_s}

    def restore_checkpoint(self, state: dict[str, Any]) -> None:
        """The certified V is rebuilt from its tokens through the library's own operators (nothing in
        the file is evaluated)."""
        self.policy.load_state_dict(state["policy"])
        self.search_wall_time_s = float(state["search_wall_time_s"])
        self.certificate = state["certificate"]
        if state["sequence"] is not None:
            self.sequence = [int(token) for token in state["sequence"]]  # checked by the library
            self.expression = self.in_state_symbols(shifted_expression(self.library, self.sequence))
