"""``agent=lyapunov``: a saturated neural controller trained jointly with a neural Lyapunov function,
and the region of attraction the in-house verifier proves for them.

``learn(total_timesteps)`` runs the counterexample-guided training
(:func:`agents.lyapunov.training.train_lyapunov`) for ``total_timesteps / batch`` iterations -- a
"step" is one sampled state -- starting from LQR, then finds by bisection the largest level
``rho`` whose sublevel set verifies (:func:`agents.lyapunov.verifier.largest_rho`) and keeps the
result as :attr:`certificate` (see :mod:`agents.lyapunov.certificate`), which the host writes to
``certificate.json``. ``predict`` maps observation -> state -> the controller's input -> action.
"""

from __future__ import annotations

import math
import time
from typing import Any, ClassVar, Sequence

import numpy as np
import torch
from gymnasium import spaces

from agents.checkpoint import Checkpointed
from agents.lyapunov import certificate as certificates
from agents.lyapunov.networks import NeuralController, NeuralLyapunov, lqr
from agents.lyapunov.training import train_lyapunov
from agents.lyapunov.verifier import BACKENDS, ClosedLoop, largest_rho, verify_with
from agents.loop import HostLogging, IterationLoop
from agents.mpc.plant import plant_interface

LOGGED = ("loss", "condition_loss", "roa_loss", "violations", "worst_violation", "level_set_fraction")


class LyapunovAgent(Checkpointed, HostLogging):
    """Neural controller + neural Lyapunov function with a verified region of attraction.

    Args:
        env: an env from ``envs.control`` (its ``system`` must be smooth: not stiffness-limited).
        seed: networks' initialisation, sampling and falsifier.
        controller_hidden, lyapunov_hidden, lyapunov_out, activation, eps: the networks
            (:class:`~agents.lyapunov.networks.NeuralController`, ``NeuralLyapunov``).
        kappa: the decrease rate; hole: half-width of the excluded cube around the equilibrium.
        box_low, box_high: the region B (default: the system's state box, which must be finite).
        rho: the level the training aims to make a region of attraction.
        batch, lr, margin, roa_weight, candidate_scale, pgd_steps, boundary_weight, region_growth,
        candidate_rollout (the region term pulls the level set over box states whose closed-loop
        rollout of this many steps converges; 0: over the box scaled by candidate_scale):
            training (:func:`~agents.lyapunov.training.train_lyapunov`; the last two default to off).
        verify: find and verify the largest level at the end of ``learn``.
        max_depth, rho_tolerance, max_boxes: the verifier's budget and the bisection's precision.
        backend: ``"bounds"`` (branch and bound with linear bounds, any model) or ``"z3"`` (one exact
            query, polynomial and piecewise-linear models); z3_timeout_s: the z3 query's budget.

    ``learn`` runs on :class:`agents.loop.IterationLoop` (the host's callbacks, evaluation and
    checkpoints as for every iteration-based agent); ``save``/``load`` are
    :class:`agents.checkpoint.Checkpointed`'s (the networks, the certificate and the counters).
    """

    save_format: ClassVar[int] = 3  # 1: a torch.save archive (lyapunov.pt); 2: the state beside the counters
    supported_action_spaces: ClassVar[tuple[type[spaces.Space], ...]] = (spaces.Box,)

    @classmethod
    def check_env(cls, env: Any) -> None:
        system = plant_interface(env).system
        if getattr(system, "stiff", False):
            raise ValueError(f"{system.name} takes stiffness-limited substeps, which the verifier cannot follow; "
                             f"give the system fixed substeps")
        lqr(system)  # an unstabilisable linearisation is refused here, with lqr's message

    def __init__(self, policy: Any = None, env: Any = None, seed: int = 0, device: Any = "auto", verbose: int = 0,
                 controller_hidden: Sequence[int] = (8, 8), lyapunov_hidden: Sequence[int] = (16, 16),
                 lyapunov_out: int = 8, activation: str = "relu", eps: float = 0.01, kappa: float = 0.01,
                 hole: float = 0.01, box_low: Sequence[float] | None = None,
                 box_high: Sequence[float] | None = None, rho: float = 1.0, batch: int = 256, lr: float = 1e-3,
                 margin: float = 1e-3, roa_weight: float = 1.0, candidate_scale: float = 0.5, pgd_steps: int = 10,
                 verify: bool = True, max_depth: int = 30, rho_tolerance: float = 0.05,
                 max_boxes: int = 2_000_000, boundary_weight: float = 0.0, region_growth: float = 1.0,
                 candidate_rollout: int = 100, backend: str = "bounds", z3_timeout_s: float = 60.0) -> None:
        if policy is not None:
            raise ValueError(f"LyapunovAgent has no policy option; leave policy unset (got {policy!r})")
        self.check_env(env)
        self.env, self.interface = env, plant_interface(env)
        system = self.interface.system
        self.hyperparameters = {
            "controller_hidden": list(controller_hidden), "lyapunov_hidden": list(lyapunov_hidden),
            "lyapunov_out": int(lyapunov_out), "activation": activation, "eps": float(eps), "kappa": float(kappa),
            "hole": float(hole), "rho": float(rho), "batch": int(batch), "lr": float(lr), "margin": float(margin),
            "roa_weight": float(roa_weight), "candidate_scale": float(candidate_scale), "pgd_steps": int(pgd_steps),
            "verify": bool(verify), "max_depth": int(max_depth), "rho_tolerance": float(rho_tolerance),
            "max_boxes": int(max_boxes), "boundary_weight": float(boundary_weight),
            "candidate_rollout": int(candidate_rollout), "backend": backend, "z3_timeout_s": float(z3_timeout_s),
            "region_growth": float(region_growth),
        }
        low = np.asarray(system.state_low if box_low is None else box_low, dtype=np.float64)
        high = np.asarray(system.state_high if box_high is None else box_high, dtype=np.float64)
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
            raise ValueError(f"the box must be finite; {system.name}'s state box is not: pass box_low and box_high")
        x_eq = np.asarray(system.x_eq, dtype=np.float64)
        if low.shape != x_eq.shape or high.shape != x_eq.shape or not np.all((low < x_eq) & (x_eq < high)):
            raise ValueError(f"the box [{low.tolist()}, {high.tolist()}] must have {len(x_eq)} entries per side "
                             f"and contain the equilibrium {x_eq.tolist()} in its interior")
        if not 0 <= kappa < 1:
            raise ValueError(f"kappa must be in [0, 1), got {kappa}")
        self.box_low, self.box_high = low, high
        self.hyperparameters.update(box_low=low.tolist(), box_high=high.tolist())
        self.seed, self.device, self.verbose = int(seed), device, verbose
        self.controller = NeuralController(system, hidden=tuple(controller_hidden), activation=activation, seed=seed)
        self.lyapunov = NeuralLyapunov(system, hidden=tuple(lyapunov_hidden), out=int(lyapunov_out),
                                       activation=activation, eps=eps, seed=seed + 1)
        if backend not in BACKENDS:
            raise ValueError(f"unknown verification back-end {backend!r}; allowed: {', '.join(BACKENDS)}")
        if backend == "z3":  # refuse a model z3 cannot encode (sin, exp, tanh ...) before any training
            from agents.lyapunov.z3_backend import Z3_OPS, Z3_XP, Z3Value

            symbols = Z3Value.variables([f"x{i}" for i in range(len(x_eq))])
            self.closed_loop().step(symbols, Z3_OPS, Z3_XP)
            self.lyapunov(symbols, Z3_OPS)
        self.num_timesteps = 0
        self.certificate: dict[str, Any] | None = None
        self.training_wall_time_s = 0.0

    # -- the contract -------------------------------------------------------------------------
    @property
    def system(self) -> Any:
        return self.interface.system

    def closed_loop(self) -> ClosedLoop:
        return ClosedLoop(self.system, self.controller, self.lyapunov)

    def learn(self, total_timesteps: int, callback: Any = None, progress_bar: bool = False,
              reset_num_timesteps: bool = True) -> LyapunovAgent:
        h = self.hyperparameters
        loop = IterationLoop(self, total_timesteps, callback, progress_bar, reset_num_timesteps, "lyapunov")
        iterations = max(1, math.ceil(int(total_timesteps) / h["batch"]))

        def after_iteration(iteration: int, record: dict[str, Any]) -> bool:
            return loop.after_iteration(h["batch"], {key: record[key] for key in LOGGED if key in record})

        started = time.perf_counter()
        train_lyapunov(self.system, self.controller, self.lyapunov, self.box_low, self.box_high, h["kappa"],
                       h["rho"], h["hole"], iterations, h["batch"], h["lr"], self.seed + self.num_timesteps,
                       callback=after_iteration, margin=h["margin"], roa_weight=h["roa_weight"],
                       candidate_scale=h["candidate_scale"], pgd_steps=h["pgd_steps"],
                       boundary_weight=h["boundary_weight"], region_growth=h["region_growth"],
                       candidate_rollout=h["candidate_rollout"])
        self.training_wall_time_s += time.perf_counter() - started
        if h["verify"] and not loop.stopped:  # before finish: the host's final evaluation sees the certified agent
            self.certify()
        loop.finish()
        return self

    def certify(self) -> dict[str, Any]:
        """Find the largest verified level and keep the certificate (also returned)."""
        h = self.hyperparameters
        started = time.perf_counter()
        backend = h["backend"]
        budget = ({"timeout_s": h["z3_timeout_s"]} if backend == "z3"
                  else {"max_depth": h["max_depth"], "max_boxes": h["max_boxes"]})
        rho, result = largest_rho(self.closed_loop(), self.box_low, self.box_high, h["kappa"], h["hole"],
                                  tolerance=h["rho_tolerance"], backend=backend, **budget)
        if not result.holds:  # not even a small level verifies: record the failed attempt at the training level
            result = verify_with(backend, self.closed_loop(), self.box_low, self.box_high, h["rho"], h["kappa"],
                                 h["hole"], **budget)
        self.certificate = certificates.build(
            self.closed_loop(), result, self.box_low, self.box_high, command="rlkit certify run=<run directory>",
            backend=backend,
            verification_wall_time_s=round(time.perf_counter() - started, 3),
            training_wall_time_s=round(self.training_wall_time_s, 3), eps=h["eps"],
            region_volume_fraction_sampled=certificates.sampled_region_share(
                self.lyapunov, self.box_low, self.box_high, result.rho if result.holds else 0.0))
        self.logger.record("lyapunov/certified_rho", rho)
        self.logger.record("lyapunov/verified_volume_fraction", result.verified_volume_fraction)
        return self.certificate

    def certificate_summary(self) -> dict[str, Any]:
        """The certificate's outcome for the run's summary.json."""
        result = self.certificate["result"]
        return {"status": result["status"], "rho": self.certificate["rho"],
                "verified_volume_fraction": result["verified_volume_fraction"]}

    def recheck_certificate(self, path: Any) -> tuple[bool, list[str], str]:
        """(holds, problems, a description) for the certificate file at ``path``: hashes of the plant,
        controller and V and the plant's parameters compared, V(x_eq) = 0, a region that is not
        vacuous, the claim text, and the verifier run again at the certificate's level
        (:func:`agents.lyapunov.certificate.recheck`)."""
        certificate = certificates.read(path)
        h = self.hyperparameters
        holds, problems, result = certificates.recheck(certificate, self.closed_loop(), max_depth=h["max_depth"],
                                                       max_boxes=h["max_boxes"])
        if not holds:
            return False, problems, ""
        return True, [], (f"certificate holds: {certificate['system']}, V <= {certificate['rho']:.6g} on the box "
                          f"{certificate['box_low']} .. {certificate['box_high']} (kappa {certificate['kappa']}, hole "
                          f"{certificate['hole']}); {result.verified} boxes verified in {result.wall_time_s:.1f} s\n"
                          f"proved: {certificate['claim']}")

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        observation = np.asarray(observation, dtype=np.float64)
        shape = tuple(self.interface.observation_space.shape)
        single = observation.shape == shape
        batch = observation.reshape((-1,) + shape)
        with torch.no_grad():
            u = self.controller(torch.as_tensor(self.interface.states(batch), dtype=torch.float64)).numpy()
        actions = self.interface.actions(u)
        return (actions[0] if single else actions), state

    def get_parameters(self) -> dict[str, dict]:
        return {"controller": self.controller.state_dict(), "lyapunov": self.lyapunov.state_dict()}

    # -- saving (agents.checkpoint.Checkpointed: the hyper-parameters and this state) -------------
    def checkpoint_state(self) -> dict[str, Any]:
        """The networks' tensors, the certificate and the training time."""
        return self.get_parameters() | {"certificate": self.certificate,
                                        "training_wall_time_s": self.training_wall_time_s}

    def restore_checkpoint(self, state: dict[str, Any]) -> None:
        self.controller.load_state_dict(state["controller"])
        self.lyapunov.load_state_dict(state["lyapunov"])
        self.certificate = state["certificate"]
        self.training_wall_time_s = float(state["training_wall_time_s"])
