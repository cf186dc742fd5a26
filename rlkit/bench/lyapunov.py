"""Suite ``lyapunov``: the verified region of attraction of the learned controller + neural Lyapunov
function (``agent=lyapunov``'s training) against the saturated LQR with its quadratic certificate
``(x - x_eq)' P (x - x_eq)``, on the same box, kappa and hole, with the same verifier.

Per system and controller: the largest verified level ``rho`` (bisection,
:func:`agents.lyapunov.verifier.largest_rho`), the share of the box where ``V <= rho`` (sampled:
100,000 uniform states, seed 12345 -- an estimate, not part of the proof), the share of the box the
proof covers (boxes proven either by the conditions or by ``V > rho``), the verification status, and
the training and verification wall times on one CPU thread. One row per learned seed. A PNG per
2-D system draws the certified level sets of both over the box.

The papers' region figures: the reference notes (``../shared/reference/control.md``, beside the
repository) give none for these regions, so the table states no paper figure rather than inventing one.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from rlkit.bench.report import machine_description, write_table

# the sampled region volume: fixed states so that every row is measured on the same points
VOLUME_SAMPLES = 100_000
VOLUME_SEED = 12345


def _inverted_pendulum() -> Any:
    from envs.control.inverted_pendulum import InvertedPendulum

    return InvertedPendulum()


def _inverted_pendulum_code() -> Any:
    from envs.control.inverted_pendulum import InvertedPendulum

    # the constants of the authors' released state-feedback scripts (the NLC pendulum's), dt = 0.05
    return InvertedPendulum(m=0.15, l=0.5, beta=0.1, name="inverted_pendulum_code")


def _nlc_pendulum() -> Any:
    from envs.control.inverted_pendulum import NLCPendulum

    return NLCPendulum()


def _cstr_unstable() -> Any:
    from envs.control.cstr import CSTR

    x_eq, _ = CSTR.unstable_steady_state(300.0)
    # one RK4 step per sample time: stable where |lambda| dt < 2.78 (|lambda| <= 2.9 /min here, dt
    # 0.43 min) and the shortest composition the bound propagation has to follow
    return CSTR(Ca_eq=float(x_eq[0]), fixed_substeps=1, name="cstr_unstable")


# name -> (system factory, box half-widths about the equilibrium, what the box is, share of max_boxes
# per verification)
SYSTEMS: dict[str, tuple[Callable[[], Any], tuple[float, ...], str, float]] = {
    "inverted_pendulum": (_inverted_pendulum, (1.0, 1.0),
                          "Yang/Dai pendulum (m = l = beta = 1, dt 0.05, |u| <= 6), box [-1, 1]^2", 1.0),
    "inverted_pendulum_code": (_inverted_pendulum_code, (1.0, 1.0),
                               "the same with the authors' code constants m = 0.15, l = 0.5, beta = 0.1, "
                               "box [-1, 1]^2", 1.0),
    "nlc_pendulum": (_nlc_pendulum, (1.0, 1.0), "NLC pendulum (Chang et al., dt 0.01, |u| <= 6), box [-1, 1]^2", 1.0),
    "cstr": (_cstr_unstable, (0.03, 1.5),
             "CSTR at its unstable steady state (Ca 0.4999 mol/L, T 350.0 K, Tc 300 K in [295, 302]), "
             "one RK4 step per 0.43 min; box Ca +- 0.03 mol/L, T +- 1.5 K (a small neighbourhood: the bounds "
             "of exp(-E/T) through an RK4 step are loose on larger boxes, and on whole-range boxes T's "
             "interval reaches 0)", 0.05),
}


def box_of(system: Any, half_widths: Any) -> tuple[np.ndarray, np.ndarray]:
    x_eq = np.asarray(system.x_eq, dtype=np.float64)
    half = np.asarray(half_widths, dtype=np.float64)
    return x_eq - half, x_eq + half


def certify(system: Any, controller: Any, lyapunov: Any, low: np.ndarray, high: np.ndarray, kappa: float,
            hole: float, verifier: dict[str, Any]) -> dict[str, Any]:
    """The largest verified level and what it covers; a verifier that cannot bound the problem
    (a ValueError from the bounds, e.g. a division whose interval straddles 0) is reported, not raised."""
    from agents.lyapunov.certificate import sampled_region_share
    from agents.lyapunov.verifier import ClosedLoop, largest_rho, verify

    loop = ClosedLoop(system, controller, lyapunov)
    options = {key: value for key, value in verifier.items() if key != "tolerance"}
    started = time.perf_counter()
    try:
        # within the benchmark's budget, a problem where even 1e-3 of V's largest value on a grid of
        # the box does not verify is reported as such, without bisecting further down
        grid = torch.cartesian_prod(*[torch.linspace(float(a), float(b), 21, dtype=torch.float64)
                                      for a, b in zip(low, high)])
        with torch.no_grad():
            small = 1e-3 * float(lyapunov(grid).max())
        first = verify(loop, low, high, small, kappa, hole, **options)
        if first.holds:
            rho, result = largest_rho(loop, low, high, kappa, hole, **verifier)
        else:
            rho, result = 0.0, first
    except ValueError as error:
        return {"rho": 0.0, "region_volume_fraction": 0.0, "proof_coverage": 0.0,
                "status": f"not bounded: {error}", "verify_s": time.perf_counter() - started}
    verify_s = time.perf_counter() - started
    status = "verified" if result.holds else f"no level verified ({result.status} at {result.rho:.3g})"
    return {"rho": rho, "region_volume_fraction": sampled_region_share(lyapunov, low, high, rho, VOLUME_SAMPLES,
                                                                       VOLUME_SEED),
            "proof_coverage": result.verified_volume_fraction, "status": status, "verify_s": verify_s}


# agent=lyapunov's defaults (rlkit/conf/agent/lyapunov.yaml) but roa_weight 1 (the lead's measured setting)
LEARNED_RECIPE: dict[str, Any] = {
    "controller_hidden": (8, 8), "lyapunov_hidden": (16, 16), "lyapunov_out": 8, "activation": "relu", "eps": 0.01,
    "rho": 1.0, "batch": 256, "lr": 1e-3, "margin": 1e-3, "roa_weight": 1.0, "candidate_scale": 0.5,
    "pgd_steps": 10, "boundary_weight": 0.0, "region_growth": 1.0, "candidate_rollout": 100,
}


def train_learned(system: Any, low: np.ndarray, high: np.ndarray, kappa: float, hole: float, seed: int,
                  iterations: int, settings: dict[str, Any]) -> tuple[Any, Any, float]:
    """The controller and V of ``agent=lyapunov`` trained with the agent's recipe; returns them
    and the training wall time."""
    from agents.lyapunov.networks import NeuralController, NeuralLyapunov
    from agents.lyapunov.training import train_lyapunov

    h = {**LEARNED_RECIPE, **settings}
    controller = NeuralController(system, hidden=tuple(h["controller_hidden"]), activation=h["activation"], seed=seed)
    lyapunov = NeuralLyapunov(system, hidden=tuple(h["lyapunov_hidden"]), out=int(h["lyapunov_out"]),
                              activation=h["activation"], eps=h["eps"], seed=seed + 1)
    started = time.perf_counter()
    train_lyapunov(system, controller, lyapunov, low, high, kappa, h["rho"], hole, iterations, h["batch"], h["lr"],
                   seed, margin=h["margin"], roa_weight=h["roa_weight"], candidate_scale=h["candidate_scale"],
                   pgd_steps=h["pgd_steps"], boundary_weight=h["boundary_weight"], region_growth=h["region_growth"],
                   candidate_rollout=h["candidate_rollout"])
    return controller, lyapunov, time.perf_counter() - started


def run(
    out_dir: Path,
    systems: list = ["inverted_pendulum", "inverted_pendulum_code", "nlc_pendulum", "cstr"],  # noqa: B006
    seeds: int = 1,
    iterations: int = 600,
    kappa: float = 0.01,
    hole: float = 0.01,
    rho_tolerance: float = 0.02,
    max_depth: int = 30,
    max_boxes: int = 2_000_000,
    plot: bool = True,
) -> None:
    """For each system: the LQR row, then ``seeds`` learned rows (``iterations`` training steps of
    :data:`LEARNED_RECIPE`'s batch each). The verifier's hole is a cube in state units, so it is
    ``hole`` times the box's smallest half-width (the pendulums: ``hole`` itself). ``max_boxes``
    bounds each verification (the CSTR's bisection gets a tenth of it: see the notes)."""
    from agents.lyapunov.networks import NeuralController, QuadraticLyapunov, lqr

    unknown = [name for name in systems if name not in SYSTEMS]
    if unknown:
        raise ValueError(f"unknown systems {unknown}; allowed: {', '.join(SYSTEMS)}")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 0:
        raise ValueError(f"seeds must be an integer >= 0, got {seeds!r}")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
    torch.set_num_threads(1)
    verifier = {"tolerance": rho_tolerance, "max_depth": max_depth}
    rows, plotted = [], []
    for name in systems:
        factory, half_widths, _, budget_share = SYSTEMS[name]
        system = factory()
        low, high = box_of(system, half_widths)
        system_hole = hole * float(min(half_widths))
        verifier["max_boxes"] = max(1, int(budget_share * max_boxes))
        common = {"system": name, "box": f"{np.round(low, 4).tolist()}..{np.round(high, 4).tolist()}",
                  "kappa": kappa, "hole": system_hole}
        started = time.perf_counter()
        lqr(system)
        lqr_pair = (NeuralController(system, seed=0), QuadraticLyapunov(system))  # untrained: the saturated LQR
        lqr_s = time.perf_counter() - started
        rows.append({**common, "controller": "lqr", "seed": "",
                     **certify(system, *lqr_pair, low, high, kappa, system_hole, verifier), "train_s": lqr_s})
        learned = []
        for seed in range(seeds):
            controller, lyapunov, train_s = train_learned(system, low, high, kappa, system_hole, seed, iterations, {})
            rows.append({**common, "controller": "learned", "seed": seed,
                         **certify(system, controller, lyapunov, low, high, kappa, system_hole, verifier),
                         "train_s": train_s})
            learned.append((lyapunov, rows[-1]["rho"]))
        plotted.append((name, low, high, lqr_pair[1], rows[-1 - len(learned)]["rho"], learned))
    columns = ["system", "controller", "seed", "box", "kappa", "hole", "rho", "region_volume_fraction",
               "proof_coverage", "status", "train_s", "verify_s"]
    notes = (f"# lyapunov: learned certificate vs LQR + x'Px on the same box ({machine_description()})\n\n"
             f"Systems: {'; '.join(f'{n}: {SYSTEMS[n][2]}' for n in systems)}. kappa {kappa}; the hole is "
             f"{hole} times the smallest half-width of the box. rho: the largest verified level (bisection to "
             f"{rho_tolerance} relative); region_volume_fraction: the share of the box with V <= rho, sampled "
             f"({VOLUME_SAMPLES} uniform states, seed {VOLUME_SEED}); proof_coverage: the share of the box the "
             f"verifier's proven sub-boxes cover (conditions or V > rho). train_s / verify_s: wall seconds on one "
             f"CPU thread; the LQR's train_s is the Riccati solve. Verification budget: {max_boxes} boxes per "
             f"attempt ({SYSTEMS['cstr'][3]:g} of it for the CSTR, whose boxes are slow to bound). Learned: "
             f"{iterations} iterations of agent=lyapunov's training (its defaults, roa_weight 1), from the LQR. The source papers (Yang, Dai et al. 2024; Chang, "
             f"Roohi, Gao 2019) as summarised in the project's reference notes report no region volumes "
             f"for these boxes, so there is no paper figure to compare with.")
    write_table(out_dir, [{key: row[key] for key in columns} for row in rows], notes=notes)
    if plot:
        for name, low, high, lqr_lyapunov, lqr_rho, learned in plotted:
            if len(low) == 2:
                plot_regions(out_dir / f"regions_{name}.png", name, low, high, lqr_lyapunov, lqr_rho, learned)


def plot_regions(path: Path, name: str, low: np.ndarray, high: np.ndarray, lqr_lyapunov: Any, lqr_rho: float,
                 learned: list[tuple[Any, float]]) -> None:
    """The certified level sets ``V = rho`` of the LQR and of each learned seed over the box."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes_values = [np.linspace(low[i], high[i], 301) for i in range(2)]
    grid = torch.as_tensor(np.stack(np.meshgrid(*axes_values, indexing="xy"), -1))
    figure, axis = plt.subplots(figsize=(5.5, 5))
    curves = [("LQR, x'Px", lqr_lyapunov, lqr_rho, "black")]
    curves += [(f"learned seed {seed}", lyapunov, rho, f"C{seed}") for seed, (lyapunov, rho) in enumerate(learned)]
    for label, lyapunov, rho, color in curves:
        if not rho > 0:
            continue
        with torch.no_grad():
            values = lyapunov(grid.reshape(-1, 2)).reshape(grid.shape[:2]).numpy()
        axis.contourf(*axes_values, values, levels=[-np.inf, rho], colors=[color], alpha=0.12)
        axis.contour(*axes_values, values, levels=[rho], colors=[color])
        axis.plot([], [], color=color, label=f"{label}: {float((values <= rho).mean()):.1%} of the box")
    axis.set_xlim(low[0], high[0])
    axis.set_ylim(low[1], high[1])
    axis.set_xlabel("x0")
    axis.set_ylabel("x1")
    axis.set_title(f"{name}: certified regions V <= rho")
    axis.legend(fontsize=8, loc="upper right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


__all__ = ["SYSTEMS", "run", "certify", "train_learned", "plot_regions", "box_of", "LEARNED_RECIPE"]
