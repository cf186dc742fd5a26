"""``rlkit certify run=<dir>``: check a run's certificate -- the whole claim -- from its saved files.

The agent is restored from the run's checkpoint (its plant built from the run's saved config) and
checks ``certificate.json`` with its own ``recheck_certificate(path)``. ``agent=lyapunov``
(:func:`agents.lyapunov.certificate.recheck`): the hashes of the plant's parameters, the controller and
V (each network's tensors *and* its definition: activation, eps, shapes), the plant's parameters as the
certificate states them, ``V(x_eq) = 0`` and ``eps > 0``, a region that is not vacuous (``rho > 0``, a
hole of at most 10 % of the box's smallest half-width, a state outside the hole with ``V <= rho``, at
least one box verified), the claim text, and the verifier re-run at the certificate's level, box,
decrease rate and hole. ``agent=lyapunov_discovery``
(:func:`agents.lyapunov_discovery.certificate.recheck`): the system's SymPy dynamics against the
certified ones, ``V(0) = 0``, the readable expression recomputed from the proved tokens, a ball of at
most 10 % of the box's half-width, the claim text, and the expression proved again (at least one box).
Every failure is named in the problems list and the command exits 1; the certificate holds only if
there is none. Opening a certificate executes nothing from it
(:mod:`agents.verification.certificates` reads it as JSON; an expression in it is a token sequence).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rlkit.errors import UserError

CERTIFICATE_FILE = "certificate.json"
OPTIONS = {"run": "the run directory (required)", "checkpoint": "latest (default) or best"}


def certify_run(pairs: list[str]) -> dict[str, Any]:
    from rlkit.config import load_saved, parse_overrides
    from rlkit.environments import make_env
    from rlkit.rundir import RunDirectory
    from rlkit.threads import limit_torch_threads
    from rlkit.train import agent_class_for, load_agent

    options: dict[str, Any] = {}
    for parsed in parse_overrides(pairs):
        if parsed.key_or_group not in OPTIONS:
            raise UserError(f"unknown option {parsed.key_or_group!r} for certify; allowed: {', '.join(OPTIONS)}")
        options[parsed.key_or_group] = parsed.value()
    if not options.get("run"):
        raise UserError("certify needs run=<run directory>")
    run = RunDirectory(Path(str(options["run"])))
    if not run.path.is_dir():
        raise UserError(f"run directory {run.path} does not exist")
    path = run.path / CERTIFICATE_FILE
    if not path.is_file():
        raise UserError(f"no certificate at {path}")
    cfg = load_saved(run.path)
    limit_torch_threads(cfg.threads)
    checkpoint = run.checkpoints.load(str(options.get("checkpoint", "latest")))
    env = make_env(cfg.env)
    try:
        agent = load_agent(agent_class_for(cfg, env), checkpoint, env, "cpu")
        if not hasattr(agent, "recheck_certificate"):
            raise UserError(f"agent {cfg.agent.name} carries no certificate to check")
        try:  # each certified agent reads its own kind of certificate and proves it again
            holds, problems, description = agent.recheck_certificate(path)
        except ValueError as error:  # a malformed file
            raise UserError(str(error)) from None
    finally:
        env.close()
    return {"holds": holds, "problems": problems, "description": description}


def write_certificate(run_path: Path, certificate: dict[str, Any]) -> Path:
    """``certificate.json`` in the run directory (written atomically), with the command that re-verifies it."""
    from agents.verification.certificates import write_certificate as write_atomically

    return write_atomically(Path(run_path) / CERTIFICATE_FILE,
                            {**certificate, "reverify": f"rlkit certify run={Path(run_path)}"})
