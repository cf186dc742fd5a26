"""``rlkit evaluate``: load a run's saved agent and replay it on fresh, seeded episodes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rlkit.errors import UserError

# key -> (default, description); a default of None is taken from the run's config
OPTIONS: dict[str, tuple[Any, str]] = {
    "run": ("", "the run directory (required)"),
    "episodes": (None, "episodes to play (default: the run's eval.episodes)"),
    "checkpoint": ("best", "best or latest"),
    "seed": (None, "first episode's seed (default: the run's evaluation seeds)"),
    "deterministic": (None, "deterministic actions (default: the run's eval.deterministic)"),
    "device": ("cpu", "auto, cpu or cuda"),
}


def _options(pairs: list[str]) -> dict[str, Any]:
    from rlkit.config import (CHECKPOINT_LINKS, DEVICES, MAX_EPISODES, check_seed, checked_value,
                              parse_overrides)

    values: dict[str, Any] = {}
    for parsed in parse_overrides(pairs):
        key = parsed.key_or_group
        if key not in OPTIONS:
            raise UserError(f"unknown option {key!r} for evaluate; allowed: {', '.join(OPTIONS)}")
        if parsed.is_sweep_override():
            raise UserError(f"{parsed.input_line!r} is a sweep; evaluate takes one value per option")
        values[key] = parsed.value()
    if not values.get("run") or not isinstance(values["run"], (str, int, float)) or isinstance(values["run"], bool):
        raise UserError("evaluate needs run=<run directory>")
    allowed = {"episodes": f"an integer from 1 to {MAX_EPISODES}", "seed": "an integer from 0 to 2**32-1",
               "deterministic": "true or false", "checkpoint": ", ".join(CHECKPOINT_LINKS),
               "device": ", ".join(DEVICES)}
    for key, text in allowed.items():
        if key in values and values[key] is None:
            raise UserError(f"{key}=null is not allowed; allowed: {text} (leave {key} out for its default)")
    for key, example in (("episodes", 1), ("seed", 1), ("deterministic", True)):
        if key in values:
            values[key] = checked_value(key, values[key], example)
    if "episodes" in values and not 1 <= values["episodes"] <= MAX_EPISODES:
        raise UserError(f"episodes must be from 1 to {MAX_EPISODES}, got {values['episodes']}")
    if "seed" in values:
        check_seed("seed", values["seed"])
    for key, choices in (("checkpoint", CHECKPOINT_LINKS), ("device", DEVICES)):
        if key in values and values[key] not in choices:
            raise UserError(f"{key}={values[key]!r} is not allowed; allowed: {', '.join(choices)}")
    return values


def evaluate_run(pairs: list[str]) -> dict[str, Any]:
    """Evaluate the agent saved in a run directory; returns the figures printed by the CLI."""
    from rlkit.config import load_saved
    from rlkit.environments import make_env
    from rlkit.evaluation import evaluate
    from rlkit.rundir import RunDirectory
    from rlkit.threads import limit_torch_threads
    from rlkit.train import EVAL_SEED_OFFSET, agent_class_for, load_agent

    options = _options(pairs)
    run = RunDirectory(Path(str(options["run"])))
    if not run.path.is_dir():
        what = "is not a directory" if run.path.exists() else "does not exist"
        raise UserError(f"run directory {run.path} {what}; run= takes a directory rlkit train wrote")
    cfg = load_saved(run.path)
    limit_torch_threads(cfg.threads)
    link = options.get("checkpoint", "best")
    checkpoint = run.checkpoints.load(link)
    env = make_env(cfg.env)
    try:
        agent = load_agent(agent_class_for(cfg, env), checkpoint, env, options.get("device", "cpu"))
        result = evaluate(
            agent,
            env,
            episodes=options.get("episodes", cfg.eval.episodes),
            seed=options["seed"] if "seed" in options else cfg.seed + EVAL_SEED_OFFSET,
            deterministic=options.get("deterministic", cfg.eval.deterministic),
        )
    finally:
        env.close()
    return {"checkpoint": link, "timesteps": checkpoint.state.get("num_timesteps"), **result.summary()}
