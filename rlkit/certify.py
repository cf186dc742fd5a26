"""``rlkit certify run=<dir>``: re-verify a run's certificate from its saved files.

The agent is restored from the run's checkpoint and proves ``certificate.json`` again with its own
``recheck_certificate(path)``: ``agent=lyapunov`` recomputes the hashes of its plant, controller and
Lyapunov function and re-runs the verifier at the certificate's level, box, decrease rate and hole;
``agent=lyapunov_discovery`` checks the system's SymPy dynamics against the certified ones and proves the
certified expression again on the stated region. The certificate holds only if all agree. Opening a
certificate executes nothing from it (:mod:`agents.verification.certificates` reads it as JSON; an
expression in it is read by a strict parser).
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
