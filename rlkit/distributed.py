"""``backend=ray``: runs as Ray tasks, and multirun sweeps spread over a Ray cluster.

Each run (one, or every trial of ``rlkit train -m``) is one Ray task that calls
:func:`rlkit.train.train` where Ray puts it, inside a placement group holding the trial's CPUs and
GPUs (``ray.trial_cpus``, ``ray.trial_gpus``) plus, for an RLlib agent, one CPU per env runner:
the env runners the trial starts land in its own group, so trials never starve each other's
actors. Run directories are absolute paths under ``runs_root``: on a cluster that must be shared
storage (NFS, a mounted bucket), where TensorBoard reads them too.

With ``ray.scheduler=asha`` the trials go through Ray Tune instead, each evaluation reported to
Tune's ASHA scheduler, which stops weak trials at its rungs; a stopped trial keeps its run
directory (checkpoints, metrics.csv) and gets a summary.json saying so.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf

from rlkit import catalogue
from rlkit.errors import UserError

STOPPED_BY_SCHEDULER = "stopped_by_scheduler"


def trial_bundles(cfg: DictConfig) -> list[dict[str, float]]:
    """The placement-group bundles of one run: the driver's, then one CPU per RLlib env runner."""
    head = {"CPU": float(cfg.ray.trial_cpus)}
    if cfg.ray.trial_gpus:
        head["GPU"] = float(cfg.ray.trial_gpus)
    from rlkit.train import uses_ray

    runners = cfg.ray.num_env_runners if uses_ray(catalogue.resolve_factory(cfg.agent.factory)) else 0
    return [head] + [{"CPU": 1.0}] * int(runners)


def _check_fits(bundles: list[dict[str, float]], available: dict[str, float], local: bool) -> None:
    needed: dict[str, float] = {}
    for bundle in bundles:
        for key, value in bundle.items():
            needed[key] = needed.get(key, 0.0) + value
    short = {k: v for k, v in needed.items() if v > available.get(k, 0.0)}
    if short and local:
        have = ", ".join(f"{k}={available.get(k, 0):g}" for k in short)
        want = ", ".join(f"{k}={v:g}" for k, v in short.items())
        raise UserError(f"one trial needs {want} but the Ray cluster has {have}; lower ray.trial_cpus, "
                        f"ray.trial_gpus or ray.num_env_runners, or give Ray more (ray.num_cpus, ray.num_gpus)")


def _train_in_task(cfg_yaml: str, overrides: list[str]) -> dict[str, Any]:
    """The body of one trial's Ray task: the same training as a local run."""
    from rlkit.errors import RunStopped
    from rlkit.threads import limit_threads_in_environment
    from rlkit.train import train

    limit_threads_in_environment()
    cfg = OmegaConf.create(cfg_yaml)
    try:
        return train(cfg, overrides, announce=lambda _: None)
    except (UserError, RunStopped) as error:
        return {"status": "failed", "error": str(error), "run_dir": cfg.run_dir}


def _absolute(cfg: DictConfig) -> DictConfig:
    """A copy whose paths do not depend on the working directory of the process that runs it."""
    cfg = cfg.copy()
    for key in ("run_dir", "runs_root", "resume"):
        if cfg[key]:
            cfg[key] = str(Path(cfg[key]).absolute())
    return cfg


def run_as_tasks(configs: list[DictConfig], jobs: list[list[str]],
                 announce: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Run every config as a Ray task (all submitted at once; Ray runs as many as fit) and return
    their summaries in order. A failed trial is reported and does not stop the others."""
    from ray.util.placement_group import placement_group, remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    from rlkit.ray_cluster import connect

    ray = connect(configs[0].ray, configs[0].verbose)
    local = configs[0].ray.address in (None, "local")
    task = ray.remote(_train_in_task)
    labels = trial_labels(jobs)
    pending, groups = {}, []
    for number, (cfg, job) in enumerate(zip(configs, jobs)):
        bundles = trial_bundles(cfg)
        _check_fits(bundles, ray.cluster_resources(), local)
        group = placement_group(bundles, strategy="PACK")
        groups.append(group)
        head = bundles[0]
        ref = task.options(
            num_cpus=head["CPU"], num_gpus=head.get("GPU", 0),
            scheduling_strategy=PlacementGroupSchedulingStrategy(
                group, placement_group_bundle_index=0, placement_group_capture_child_tasks=True),
        ).remote(OmegaConf.to_yaml(_absolute(cfg), resolve=True), job)
        pending[ref] = number
    summaries: list[dict[str, Any] | None] = [None] * len(configs)
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            number = pending.pop(done[0])
            try:
                summary = ray.get(done[0])
            except Exception as error:  # noqa: BLE001  a crash in the trial: report it, keep the others
                summary = {"status": "failed", "error": f"{type(error).__name__}: {error}".splitlines()[0],
                           "run_dir": configs[number].run_dir}
            summaries[number] = summary
            remove_placement_group(groups[number])
            announce(_trial_line(number, labels[number], summary))
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
    return [s for s in summaries if s is not None]


def trial_labels(jobs: list[list[str]]) -> list[str]:
    """Each job's overrides that not all jobs share (``seed=1``), to name trials briefly."""
    shared = set.intersection(*(set(job) for job in jobs)) if len(jobs) > 1 else set()
    return [" ".join(o for o in job if o not in shared) or "(defaults)" for job in jobs]


def _trial_line(number: int, label: str, summary: dict[str, Any]) -> str:
    head = f"[trial {number}] {label}: {summary['status']}"
    if summary["status"] == "failed":
        return f"{head}: {summary.get('error')}"
    final = summary.get("final_eval") or {}
    if final.get("mean_return") is not None:
        head += f", {summary['num_timesteps']} steps, evaluation return {final['mean_return']:.2f}"
    return f"{head}; run directory: {summary['run_dir']}"


def tune_sweep(configs: list[DictConfig], jobs: list[list[str]], root: Path,
               announce: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """The trials through Ray Tune with the scheduler ``ray.scheduler`` names (ASHA), maximising
    the evaluation return over env steps."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    from rlkit.ray_cluster import connect

    first = configs[0]
    ray = connect(first.ray, first.verbose)
    local = first.ray.address in (None, "local")
    for cfg in configs:
        _check_fits(trial_bundles(cfg), ray.cluster_resources(), local)
    payload = [(OmegaConf.to_yaml(_absolute(cfg), resolve=True), job) for cfg, job in zip(configs, jobs)]

    def trainable(params: dict[str, Any]) -> None:
        _train_reporting(*payload[params["trial"]])

    # max_t one past the end: the final evaluation must not stop a trial before it writes summary.json
    scheduler = ASHAScheduler(time_attr="timesteps", max_t=int(first.total_timesteps) + 1,
                              grace_period=int(first.ray.grace_period),
                              reduction_factor=float(first.ray.reduction_factor))
    resources = tune.PlacementGroupFactory(trial_bundles(first), strategy="PACK")
    tuner = tune.Tuner(
        tune.with_resources(trainable, resources),
        param_space={"trial": tune.grid_search(list(range(len(configs))))},
        tune_config=tune.TuneConfig(scheduler=scheduler, metric="mean_return", mode="max"),
        run_config=tune.RunConfig(storage_path=str(Path(root, "tune").absolute()), name="sweep", verbose=0),
    )
    try:
        grid = tuner.fit()
    finally:
        # Tune keeps its own state as pickles (tuner.pkl, params.pkl, a cloudpickled
        # basic-variant-state-*.json, pickles hex-encoded in experiment_state-*.json); every trial's
        # results are in its run directory, and nothing a sweep leaves behind may be a pickle
        shutil.rmtree(Path(root, "tune"), ignore_errors=True)
    summaries, labels = [], trial_labels(jobs)
    for number, cfg in enumerate(configs):
        summary = _read_or_mark_stopped(Path(_absolute(cfg).run_dir), cfg)
        summaries.append(summary)
        announce(_trial_line(number, labels[number], summary))
    if grid.errors:
        announce(f"{len(grid.errors)} trial(s) raised: {grid.errors[0]}")
    return summaries


def _train_reporting(cfg_yaml: str, job: list[str]) -> None:
    from ray import tune

    from rlkit.threads import limit_threads_in_environment
    from rlkit.train import train

    limit_threads_in_environment()

    def report(row: dict[str, Any]) -> None:
        tune.report({"mean_return": row["mean_return"], "timesteps": int(row["timesteps"])})

    train(OmegaConf.create(cfg_yaml), job, announce=lambda _: None, on_evaluation=report)


def _read_or_mark_stopped(run_dir: Path, cfg: DictConfig) -> dict[str, Any]:
    """The run's summary.json, or -- for a trial the scheduler stopped before it wrote one -- a
    summary built from its metrics.csv and written there."""
    from rlkit.rundir import RunDirectory

    run = RunDirectory(run_dir)
    if run.summary_file.is_file():
        return json.loads(run.summary_file.read_text())
    metrics = run.read_metrics()
    last = metrics[-1] if metrics else {}
    summary = {
        "status": STOPPED_BY_SCHEDULER if metrics else "failed",
        "env": cfg.env.name, "agent": cfg.agent.name, "seed": cfg.seed,
        "total_timesteps": cfg.total_timesteps, "num_timesteps": int(last.get("timesteps", 0)),
        "final_eval": {k: last.get(k) for k in ("timesteps", "mean_return", "std_return", "mean_length")},
        "best_eval": {"mean_return": last.get("best_mean_return")},
        "scheduler": cfg.ray.scheduler, "run_dir": str(run_dir),
    }
    if metrics:
        run.write_summary(summary)
    return summary
