"""``rlkit train -m``: a Hydra-style sweep, one run per combination, under one directory."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf, open_dict

from rlkit import config
from rlkit.errors import UserError
from rlkit.rundir import write_atomically


def multirun(overrides: list[str], print_config: bool = False, announce: Any = print) -> Path | None:
    """Compose every job first (a mistake in any stops all before training starts), then train
    them in ``<runs_root>/multirun/<date>/<time>/<n>_<env>_<agent>`` (``run_dir=<dir>`` or Hydra's
    ``hydra.sweep.dir=<dir>`` names another directory for ``<n>_<env>_<agent>``): one after another, or with
    ``backend=ray`` as Ray tasks (:mod:`rlkit.distributed`)."""
    from rlkit.cli import report
    from rlkit.train import train

    jobs = config.expand_sweeps(overrides)
    configs = [config.compose(job, multirun=True) for job in jobs]
    if print_config:
        for job, cfg in zip(jobs, configs):
            announce(f"# {' '.join(job)}\n{OmegaConf.to_yaml(cfg, resolve=True)}")
        return None
    first = configs[0]
    now = datetime.now()
    root = Path(first.run_dir) if first.run_dir else (
        Path(first.runs_root) / "multirun" / now.strftime("%Y-%m-%d") / now.strftime("%H-%M-%S")
    )
    if root.exists() and any(root.iterdir()):
        raise UserError(f"multirun directory {root} exists and is not empty")
    root.mkdir(parents=True, exist_ok=True)
    listing = []
    for number, (job, cfg) in enumerate(zip(jobs, configs)):
        with open_dict(cfg):
            cfg.run_dir = str(root / f"{number}_{cfg.env.name}_{cfg.agent.name}".replace("/", "-"))
        listing.append({"job": number, "overrides": job, "run_dir": cfg.run_dir})
    write_atomically(root / "multirun.yaml", yaml.safe_dump(listing, sort_keys=False))
    if first.backend == "ray":
        from rlkit import distributed

        announce(f"{len(jobs)} trials on Ray under {root}")
        if first.ray.scheduler is not None:
            summaries = distributed.tune_sweep(configs, jobs, root, announce=announce)
        else:
            summaries = distributed.run_as_tasks(configs, jobs, announce=announce)
        failed = [s for s in summaries if s["status"] == "failed"]
        if failed:
            raise UserError(f"{len(failed)} of {len(jobs)} trials failed; the first: {failed[0].get('error')}")
        return root
    for number, (job, cfg) in enumerate(zip(jobs, configs)):
        announce(f"[{number + 1}/{len(jobs)}] {' '.join(job)}")
        report(train(cfg, job, announce=announce))
    return root
