"""One training run: config -> envs -> agent -> learn with the RunMonitor -> run directory."""

from __future__ import annotations

import math
import platform
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from rlkit import catalogue
from rlkit.config import agent_hyperparameters
from rlkit.errors import RunStopped, UserError
from rlkit.rundir import RunDirectory
from rlkit.threads import limit_torch_threads

EVAL_SEED_OFFSET = 1_000_000  # evaluation episodes never reuse training seeds


def agents_where(can: Any) -> list[str]:
    """The catalogue's agent names whose class passes ``can(agent_class)``: the alternatives a
    refusal names."""
    return [name for name in catalogue.entry_names("agent")
            if can(catalogue.resolve_factory(catalogue.entry_config("agent", name)["factory"]))]


def agent_class_for(cfg: DictConfig, env: Any) -> type:
    """The agent class the config names, refused (with the agents that can) if it cannot work
    with ``env``."""
    from agents.base import incompatibility

    agent_class = catalogue.resolve_factory(cfg.agent.factory)
    reason = incompatibility(agent_class, env)
    if reason is not None:
        able = agents_where(lambda other: incompatibility(other, env) is None)
        raise UserError(
            f"agent {cfg.agent.name} cannot act in env {cfg.env.name}: {reason}; "
            f"agents that can: {', '.join(able) or 'none'}"
        )
    return agent_class


def check_batched(cfg: DictConfig, agent_class: type) -> None:
    """``vec_env=batched`` needs an agent that learns from an SB3 VecEnv of many games: the SB3-based
    ones. The others are refused by name with the agents that can."""
    if cfg.vec_env != "batched":
        return
    from stable_baselines3.common.base_class import BaseAlgorithm

    if isinstance(agent_class, type) and issubclass(agent_class, BaseAlgorithm):
        return
    if uses_ray(agent_class):
        why = "it samples in RLlib's env runners; ray.num_envs_per_env_runner=N runs the batched engine there"
    else:
        why = "it collects its experience with its own loop, not from an SB3 VecEnv"
    able = agents_where(lambda other: isinstance(other, type) and issubclass(other, BaseAlgorithm))
    raise UserError(f"vec_env=batched: agent {cfg.agent.name} cannot use a batched env ({why}); "
                    f"agents that can: {', '.join(able)}")


def ray_settings(agent_class: type, cfg: DictConfig) -> dict[str, Any]:
    """The ``ray.<name>`` settings an agent on Ray (RLlib) takes as constructor arguments."""
    return {name: cfg.ray[name] for name in getattr(agent_class, "ray_settings", ())}


def uses_ray(agent_class: type) -> bool:
    return bool(getattr(agent_class, "ray_settings", ()))


def build_agent(agent_class: type, cfg: DictConfig, env: Any) -> Any:
    try:
        return agent_class(
            env=env, seed=cfg.seed, device=cfg.device, verbose=cfg.verbose, **agent_hyperparameters(cfg),
            **ray_settings(agent_class, cfg),
        )
    except (TypeError, ValueError, AssertionError, RuntimeError) as error:  # RuntimeError: torch, e.g. net_arch=[-1]
        message = " ".join(str(error).split()) or type(error).__name__
        raise UserError(f"agent {cfg.agent.name} rejected its configuration: {message}") from None


def load_agent(agent_class: type, checkpoint: Any, env: Any, device: str, replay_buffer: bool = False,
               **settings: Any) -> Any:
    """The checkpoint's agent (with its replay buffer when ``replay_buffer``: a resumed run), or a
    UserError: one line for a checkpoint of an older rlkit, the file and the reason otherwise."""
    from agents.checkpoint import OlderCheckpointError

    source = checkpoint.agent_file
    try:
        agent = agent_class.load(source, env=env, device=device, **settings)
        buffer_file = checkpoint.replay_buffer_file
        if replay_buffer and buffer_file is not None and hasattr(agent, "load_replay_buffer"):
            source = buffer_file
            agent.load_replay_buffer(buffer_file)
    except OlderCheckpointError as error:  # a pickle: never opened
        message = str(error)
        if "retrain" not in message:  # what to do about it, said once
            message += "; retrain the agent with this version"
        raise UserError(message) from None
    except Exception as error:  # a truncated zip, a foreign file, an incompatible version
        raise UserError(f"cannot load {'the agent' if source == checkpoint.agent_file else 'the replay buffer'} "
                        f"from {source}: {error}") from None
    return agent


def train(cfg: DictConfig, overrides: list[str], announce: Any = print,
          on_evaluation: Any = None) -> dict[str, Any]:
    """Train as ``cfg`` says and return the summary (also written to summary.json).

    ``on_evaluation(row)`` is called with each metrics.csv row (a Tune sweep reports them).
    Raises :class:`UserError` for configuration problems and :class:`RunStopped` when the NaN
    guard stopped the run (the last good checkpoint is kept).
    """
    from rlkit.environments import make_env

    limit_torch_threads(cfg.threads)
    if cfg.resume is None:
        RunDirectory.refuse_existing(cfg)  # before anything is built: a used run_dir is refused at once
    eval_env = make_env(cfg.env)
    agent_class = agent_class_for(cfg, eval_env)
    check_batched(cfg, agent_class)

    owned: list[RunDirectory] = []  # the run directory this process locked, unlocked at the end
    try:
        return _train(cfg, overrides, announce, on_evaluation, eval_env, agent_class, owned)
    finally:
        for run in owned:
            run.unlock()


def _train(cfg: DictConfig, overrides: list[str], announce: Any, on_evaluation: Any, eval_env: Any,
           agent_class: type, owned: list[RunDirectory]) -> dict[str, Any]:
    from stable_baselines3.common.logger import configure

    from rlkit.callbacks import RunMonitor, non_finite_parameters
    from rlkit.environments import make_training_env

    resumed = cfg.resume is not None
    if resumed:
        run = RunDirectory(cfg.resume)
        if run.path.is_dir():
            run.lock(announce)  # before the checkpoint is read: a second resume is refused here
            owned.append(run)
        checkpoint = run.checkpoints.load("latest")
        start = int(checkpoint.state["num_timesteps"])
        if start >= cfg.total_timesteps:
            raise UserError(
                f"{run.path} already ran {start} of total_timesteps={cfg.total_timesteps}; "
                f"pass a larger total_timesteps to continue it"
            )
    else:
        run, checkpoint, start = None, None, 0

    # a resumed run seeds its envs afresh so it does not replay the first run's episodes
    try:
        train_env = make_training_env(cfg.env, cfg.n_envs, cfg.vec_env, seed=cfg.seed + start)
    except BaseException:
        eval_env.close()
        raise
    agent = None
    try:
        if checkpoint is None:
            agent = build_agent(agent_class, cfg, train_env)
            _connect_to_ray(agent_class, cfg)
            # created only now, so a refused configuration leaves no empty run directory
            run = RunDirectory.create(cfg, announce=announce)
            owned.append(run)
            run.write_config(cfg, overrides)
        else:
            agent = load_agent(agent_class, checkpoint, train_env, cfg.device, replay_buffer=True,
                               **ray_settings(agent_class, cfg))
            _connect_to_ray(agent_class, cfg)
            run.write_config(cfg, _original_overrides(run))
            # rows past the checkpoint were evaluated by a session that then died: the resumed run
            # evaluates those steps again, so metrics.csv never repeats a step
            dropped = run.truncate_metrics(start)
            run.record_resume(overrides, start, metrics_rows_dropped=dropped)
        announce(f"run directory: {run.path}")
        if hasattr(agent, "set_logger"):
            agent.set_logger(configure(str(run.tb_dir), ["tensorboard"] + (["stdout"] if cfg.verbose else [])))
        monitor = RunMonitor(
            run,
            eval_env,
            eval_every=cfg.eval.every,
            eval_episodes=cfg.eval.episodes,
            eval_seed=cfg.seed + EVAL_SEED_OFFSET,
            deterministic=cfg.eval.deterministic,
            checkpoint_every=cfg.checkpoint.every,
            checkpoint_replay_buffer=cfg.checkpoint.replay_buffer,
            state=checkpoint.state if checkpoint else None,
            on_evaluation=on_evaluation,
        )
        status = "completed"
        try:
            agent.learn(
                cfg.total_timesteps - start,
                callback=monitor,
                progress_bar=cfg.progress_bar,
                reset_num_timesteps=not resumed,
            )
        except KeyboardInterrupt:
            status = "interrupted"
            monitor.save_checkpoint()
        except (ValueError, RuntimeError) as error:
            # non-finite weights make torch.distributions (SAC/PPO/A2C) raise before any callback
            # sees them: the NaN guard's stop, with the last good checkpoint kept
            bad = non_finite_parameters(agent)
            if not bad and not _names_non_finite_values(error):
                raise
            monitor.stop_on_error(
                f"NaN or infinity in the agent's weights ({', '.join(bad[:3])})" if bad
                else f"the agent met non-finite values ({type(error).__name__} from "
                     f"{'its action distribution' if 'distribution' in str(error) else 'inside the agent'})",
                int(getattr(agent, "num_timesteps", 0)),
            )
        if monitor.stop_reason is not None:
            status = "stopped"
        summary = _summary(cfg, run, agent, monitor, status, start)
        if getattr(agent, "certificate", None):  # a certified agent: certificate.json beside the summary
            from rlkit.certify import write_certificate

            write_certificate(run.path, agent.certificate)
            summary["certificate"] = agent.certificate_summary()
        run.write_summary(summary)
    finally:
        if hasattr(agent, "close"):  # an RLlib agent stops its env runners
            agent.close()
        eval_env.close()
        try:
            train_env.close()
        except (EOFError, BrokenPipeError, ConnectionResetError):
            pass  # Ctrl-C also reached subprocess workers; they are gone already

    if status == "stopped":
        kept = run.path / "checkpoints" / "latest"
        raise RunStopped(
            f"run stopped: {monitor.stop_reason}; the last good checkpoint is kept"
            + (f" at {kept.resolve()}" if kept.exists() else " (none was written yet)")
        )
    if status == "interrupted":
        announce(f"interrupted at step {agent.num_timesteps}; continue with: rlkit train resume={run.path}")
    return summary


def _names_non_finite_values(error: BaseException) -> bool:
    """Whether an error from inside the agent says it met NaN or infinite values (torch's
    distribution checks: "found invalid values"; SB3 and torch: "nan", "inf")."""
    text = str(error).lower()
    return "invalid values" in text or " nan" in text or "non-finite" in text or "infinit" in text


def _connect_to_ray(agent_class: type, cfg: DictConfig) -> None:
    """Ray for an agent that trains on it; called once the agent accepted its settings, so a
    refused agent or setting starts no Ray worker."""
    if uses_ray(agent_class):
        from rlkit.ray_cluster import connect

        connect(cfg.ray, cfg.verbose)


def _ray_version() -> str:
    import ray

    return ray.__version__


def _original_overrides(run: RunDirectory) -> list[str]:
    import yaml

    path = run.hydra_dir / "overrides.yaml"
    return list(yaml.safe_load(path.read_text()) or []) if path.is_file() else []


def _summary(
    cfg: DictConfig, run: RunDirectory, agent: Any, monitor: Any, status: str, start: int
) -> dict[str, Any]:
    import gymnasium
    import stable_baselines3
    import torch

    import rlkit

    metrics = run.read_metrics()
    best = monitor.state["best_mean_return"]
    final = metrics[-1] if metrics else {}
    wall = monitor.wall_time()
    return {
        "status": status,
        "env": cfg.env.name,
        "agent": cfg.agent.name,
        "seed": cfg.seed,
        "total_timesteps": cfg.total_timesteps,
        "num_timesteps": int(agent.num_timesteps),
        "resumed_from": start if cfg.resume is not None else None,
        "wall_time_s": round(wall, 3),
        "steps_per_s": round(agent.num_timesteps / wall, 1) if wall > 0 else None,
        "final_eval": {k: final.get(k) for k in ("timesteps", "mean_return", "std_return", "mean_length")},
        "best_eval": {
            "mean_return": best if math.isfinite(best) else None,
            "timesteps": monitor.state["best_timesteps"],
        },
        "evaluations": monitor.state["evaluations"],
        "checkpoint": monitor.last_checkpoint,
        "stop_reason": monitor.stop_reason,
        "versions": {
            "rlkit": rlkit.__version__,
            "stable_baselines3": stable_baselines3.__version__,
            "torch": torch.__version__,
            "gymnasium": gymnasium.__version__,
            "python": platform.python_version(),
            **({"ray": _ray_version()} if uses_ray(type(agent)) else {}),
        },
        "device": str(getattr(agent, "device", cfg.device)),
        **({"time_split": split} if (split := monitor.time_split()) else {}),
        **({"timing": agent.timing_summary()} if hasattr(agent, "timing_summary") else {}),
        "run_dir": str(Path(run.path)),
    }
