"""The ``rlkit`` command: train, evaluate, list, bench.

Only the standard library is imported at start-up; each command imports what it needs, so
``rlkit --help`` answers at once. A :class:`~rlkit.errors.UserError` anywhere ends the command with
its message and exit code 2, without a traceback.
"""

from __future__ import annotations

import sys
from typing import Callable

from rlkit.errors import RunStopped, UserError
from rlkit.threads import limit_threads_in_environment

USAGE = """\
usage: rlkit <command> [key=value ...]

commands:
  train      train an agent:   rlkit train env=CartPole-v1 agent=ppo [key=value ...]
             several runs:     rlkit train -m seed=0,1,2 env=CartPole-v1 agent=ppo
             continue a run:   rlkit train resume=runs/<date>/<time>_<env>_<agent> [total_timesteps=N]
  evaluate   replay a saved agent: rlkit evaluate run=<run dir> [episodes=N] [checkpoint=best|latest]
  list       the envs, agents and benchmark suites, one line each
  bench      run a benchmark suite: rlkit bench <suite> [key=value ...]
             its options: rlkit bench <suite> --help
  certify    re-verify a run's Lyapunov certificate (agent=lyapunov, lyapunov_discovery):
             rlkit certify run=<run dir> [checkpoint=latest|best]

on Ray:      rlkit train env=CartPole-v1 agent=rllib_ppo ray.num_env_runners=2 [ray.address=auto]
             rlkit train -m seed=0,1,2 agent=ppo backend=ray [ray.scheduler=asha]

`rlkit train --help` shows the config groups and every option with its default.
"""

TRAIN_USAGE = """\
usage: rlkit train [-m] [--cfg] [key=value ...]

  -m, --multirun   sweep: each comma-separated value (seed=0,1,2) is a run of its own,
                   gathered under <runs_root>/multirun/<date>/<time>/
  --cfg            print the resolved config and exit
  resume=<dir>     continue a stopped run from its latest checkpoint
  run_dir=<dir>    this run's directory (Hydra's hydra.run.dir=<dir> is read as this; under -m,
                   hydra.sweep.dir=<dir> or run_dir=<dir> is the multirun's directory)
"""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    limit_threads_in_environment()
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0
    if argv[0] == "--version":
        from rlkit import __version__

        print(f"rlkit {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    handler = COMMANDS.get(command)
    if handler is None:
        print(f"rlkit: error: unknown command {command!r}; allowed: {', '.join(COMMANDS)}\n", file=sys.stderr)
        print(USAGE, end="", file=sys.stderr)
        return 2
    try:
        return handler(rest)
    except UserError as error:
        print(f"rlkit: error: {error}", file=sys.stderr)
        return 2
    except RunStopped as error:
        print(f"rlkit: {error}", file=sys.stderr)
        return 2


def _split_flags(args: list[str], allowed: tuple[str, ...]) -> tuple[set[str], list[str]]:
    flags = {a for a in args if a.startswith("-")}
    unknown = flags - set(allowed)
    if unknown:
        raise UserError(f"unknown option {sorted(unknown)[0]!r}; allowed: {', '.join(allowed)}")
    return flags, [a for a in args if not a.startswith("-")]


def train_command(args: list[str]) -> int:
    flags, overrides = _split_flags(args, ("-m", "--multirun", "--cfg", "-h", "--help"))
    from rlkit import config

    if flags & {"-h", "--help"}:
        print(TRAIN_USAGE)
        print(config.help_text())
        return 0
    multirun = bool(flags & {"-m", "--multirun"})
    resume = [o for o in overrides if o.startswith("resume=")]
    if resume and multirun:
        raise UserError("resume= continues one run; it cannot be combined with -m")
    if multirun:
        from rlkit.multirun import multirun as run_all

        run_all(overrides, print_config="--cfg" in flags)
        return 0
    if resume:
        from pathlib import Path

        cfg = config.compose_resume(Path(resume[-1].split("=", 1)[1]), overrides)
    else:
        cfg = config.compose(overrides)
    if "--cfg" in flags:
        from omegaconf import OmegaConf

        print(OmegaConf.to_yaml(cfg, resolve=True), end="")
        return 0
    from rlkit import catalogue
    from rlkit.train import train, uses_ray

    if cfg.backend == "ray" and not uses_ray(catalogue.resolve_factory(cfg.agent.factory)):
        from rlkit.distributed import run_as_tasks

        summary = run_as_tasks([cfg], [overrides], announce=lambda _: None)[0]  # the run as one task
        if summary["status"] == "failed":
            raise UserError(summary["error"])
    else:
        summary = train(cfg, overrides)
    report(summary)
    return 130 if summary["status"] == "interrupted" else 0  # 130: the shell's code for Ctrl-C


def report(summary: dict) -> None:
    final, best = summary["final_eval"], summary["best_eval"]
    line = (f"{summary['status']}: {summary['num_timesteps']} steps in {summary['wall_time_s']:.1f} s "
            f"({summary['steps_per_s']} steps/s)")
    if final.get("mean_return") is not None:
        line += (f"; evaluation return {final['mean_return']:.2f} ± {final['std_return']:.2f} at step "
                 f"{final['timesteps']:.0f}; best {best['mean_return']:.2f} at step {best['timesteps']}")
    print(f"{line}\nrun directory: {summary['run_dir']}")


def evaluate_command(args: list[str]) -> int:
    _, pairs = _split_flags(args, ())
    from rlkit.replay import evaluate_run

    result = evaluate_run(pairs)
    print(
        f"{result['episodes']} episodes ({result['checkpoint']} checkpoint, step {result['timesteps']}): "
        f"return {result['mean_return']:.2f} ± {result['std_return']:.2f}, "
        f"length {result['mean_length']:.1f} ± {result['std_length']:.1f}"
    )
    return 0


def list_command(args: list[str]) -> int:
    _, rest = _split_flags(args, ())
    if rest:
        raise UserError(f"rlkit list takes no arguments, got {' '.join(rest)!r}; it lists every env, agent and "
                        f"bench suite (a suite's options: rlkit bench <suite> --help)")
    from rlkit import catalogue
    from rlkit.bench import suite_description, suite_factory, suite_names

    rows = [("env", name, catalogue.entry_config("env", name).get("id", ""), catalogue.entry_description("env", name))
            for name in catalogue.entry_names("env")]
    rows.append(("env", "<Gymnasium id>", "", "any registered Gymnasium id works as env=, e.g. env=Pendulum-v1"))
    rows += [("agent", name, catalogue.entry_config("agent", name).get("factory", ""),
              catalogue.entry_description("agent", name)) for name in catalogue.entry_names("agent")]
    rows += [("bench", name, suite_factory(name), suite_description(name)) for name in suite_names()]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])
    return 0


def bench_command(args: list[str]) -> int:
    flags, rest = _split_flags(args, ("-h", "--help"))
    from rlkit import bench

    if not rest or "=" in rest[0]:
        usage = f"rlkit bench <suite> [key=value ...]; suites: {', '.join(bench.suite_names())}"
        if flags:
            print(f"usage: {usage}\n`rlkit bench <suite> --help` lists a suite's options; `rlkit list` describes them")
            return 0
        raise UserError(f"name a suite: {usage}")
    if flags:
        options = {**bench.suite_options(bench.suite_function(rest[0])), "runs_root": "runs"}
        print(f"usage: rlkit bench {rest[0]} [key=value ...]\n\n{bench.suite_description(rest[0])}\n\n"
              "options (the defaults):")
        print("\n".join(f"  {key}={_override_text(value)}" for key, value in options.items()))
        return 0
    out = bench.run_suite(rest[0], rest[1:])
    print(f"results: {out}")
    return 0


def _override_text(value: object) -> str:
    """``value`` as a user writes it on the command line."""
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(map(_override_text, value)) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if value != "" else "''"


def certify_command(args: list[str]) -> int:
    _, pairs = _split_flags(args, ())
    from rlkit.certify import certify_run

    outcome = certify_run(pairs)
    if outcome["holds"]:
        print(outcome["description"])
        return 0
    print("certificate does NOT hold:\n  " + "\n  ".join(outcome["problems"]), file=sys.stderr)
    return 1


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "train": train_command,
    "evaluate": evaluate_command,
    "list": list_command,
    "bench": bench_command,
    "certify": certify_command,
}


if __name__ == "__main__":
    sys.exit(main())
