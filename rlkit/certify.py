"""``rlkit certify run=<dir>``: re-verify a run's certificate from its saved files.

The agent is restored from the run's checkpoint, the hashes of its plant, controller and Lyapunov
function are recomputed and compared with ``certificate.json``, and the verifier runs again at the
certificate's level, box, decrease rate and hole. The certificate holds only if all agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rlkit.errors import UserError

CERTIFICATE_FILE = "certificate.json"
OPTIONS = {"run": "the run directory (required)", "checkpoint": "latest (default) or best"}


def certify_run(pairs: list[str]) -> dict[str, Any]:
    from agents.lyapunov import certificate as certificates
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
    try:
        certificate = certificates.read(run.path / CERTIFICATE_FILE)
    except ValueError as error:
        raise UserError(str(error)) from None
    cfg = load_saved(run.path)
    limit_torch_threads(cfg.threads)
    checkpoint = run.checkpoints.load(str(options.get("checkpoint", "latest")))
    env = make_env(cfg.env)
    try:
        agent = load_agent(agent_class_for(cfg, env), checkpoint, env, "cpu")
        if not hasattr(agent, "closed_loop"):
            raise UserError(f"agent {cfg.agent.name} carries no Lyapunov certificate to check")
        h = getattr(agent, "hyperparameters", {})
        holds, problems, result = certificates.recheck(
            certificate, agent.closed_loop(), max_depth=h.get("max_depth", 30), max_boxes=h.get("max_boxes", 2_000_000))
    finally:
        env.close()
    return {"holds": holds, "problems": problems, "certificate": certificate, "result": result}


def write_certificate(run_path: Path, certificate: dict[str, Any]) -> Path:
    """``certificate.json`` in the run directory, with the command that re-verifies it."""
    from agents.lyapunov import certificate as certificates

    path = Path(run_path) / CERTIFICATE_FILE
    certificates.write(path, {**certificate, "reverify": f"rlkit certify run={Path(run_path)}"})
    return path
