"""Small runs of one agent of each family whose evaluation rows must not change when rlkit's
internals are rebuilt: the same seed gives the same run before and after (issue 19).

``python tests/helpers/first_evaluations.py`` records them into ``tests/rlkit/data/first_evaluations.json``; do
that only on purpose (a change that is meant to change what runs produce), and say so in the commit.
The recorded file names the commit it was recorded at.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

RECORD = Path(__file__).parents[1] / "rlkit" / "data" / "first_evaluations.json"
QUIET = ["progress_bar=false", "device=cpu", "eval.episodes=2"]

CASES: dict[str, list[str]] = {
    "ppo_cartpole": ["env=CartPole-v1", "agent=ppo", "agent.n_steps=64", "agent.batch_size=32",
                     "agent.n_epochs=1", "total_timesteps=256", "eval.every=128"],
    "dqn_cartpole": ["env=CartPole-v1", "agent=dqn", "agent.learning_starts=64", "agent.train_freq=32",
                     "agent.gradient_steps=4", "agent.buffer_size=5000", "agent.policy_kwargs.net_arch=[32,32]",
                     "total_timesteps=256", "eval.every=128"],
    "td3_cstr_safe": ["env=cstr_safe", "agent=td3", "agent.learning_starts=50", "agent.buffer_size=1000",
                      "agent.batch_size=32", "total_timesteps=120", "eval.every=60"],
    "er_dqn_proc_maze": ["env=proc_maze", "agent=er_dqn", "agent.learning_starts=50", "agent.updates_per_step=1",
                         "agent.batch_size=32", "agent.hidden=[32]", "total_timesteps=200", "eval.every=100"],
    "model_dqn_proc_maze": ["env=proc_maze", "agent=model_dqn", "agent.learning_starts=50", "agent.updates_per_step=1",
                            "agent.batch_size=32", "agent.hidden=[32]", "agent.model_batch_size=8",
                            "agent.rollout_length=2", "total_timesteps=120", "eval.every=60"],
    "lqr_cstr": ["env=cstr", "agent=lqr", "total_timesteps=20", "eval.every=0"],
    "yann_td3_double_integrator": ["env=double_integrator", "agent=yann_td3", "agent.learning_starts=50",
                                   "agent.batch_size=32", "total_timesteps=120", "eval.every=60"],
    "gnn_dqn_football": ["env=football", "env.kwargs.representation=graph", "agent=gnn_dqn",
                         "agent.learning_starts=16", "agent.buffer_size=256", "agent.batch_size=8",
                         "total_timesteps=64", "eval.every=32", "eval.episodes=1"],
    "avellaneda_stoikov_market_making": ["env=market_making", "agent=avellaneda_stoikov", "total_timesteps=50",
                                         "eval.every=0", "eval.episodes=1"],
    "lyapunov_inverted_pendulum": ["env=inverted_pendulum", "agent=lyapunov", "agent.batch=64", "agent.pgd_steps=5",
                                   "agent.box_low=[-1.0,-1.0]", "agent.box_high=[1.0,1.0]", "total_timesteps=320",
                                   "eval.episodes=1"],
    "hybrid_roa_car": ["env=car_hybrid_planned", "agent=hybrid_roa", "+env.kwargs.n_segments=2", "total_timesteps=64",
                       "eval.episodes=1", "agent.controller_hidden=[16]", "agent.lyapunov_hidden=[16]",
                       "agent.lyapunov_features=4", "agent.level_hidden=[8]", "agent.pretrain_iterations=300",
                       "agent.level_contexts=4", "agent.level_states=16", "agent.rollout_steps=100", "agent.batch=32",
                       "agent.n_speeds=4", "agent.n_offsets=3", "agent.refine_steps=1"],
}


def evaluation_rows(name: str, root: Path) -> list[dict[str, str]]:
    """The metrics.csv rows of case ``name`` run into ``root`` (timesteps and the return figures,
    as the CSV writes them: exact decimal text)."""
    from rlkit.cli import main

    run = root / name
    code = main(["train", *CASES[name], *QUIET, f"run_dir={run}"])
    if code != 0:
        raise RuntimeError(f"case {name} exited {code}")
    with (run / "metrics.csv").open() as handle:
        return [{k: row[k] for k in ("timesteps", "mean_return", "std_return", "mean_length")}
                for row in csv.DictReader(handle)]


def record() -> None:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    with tempfile.TemporaryDirectory() as root:
        rows = {name: evaluation_rows(name, Path(root)) for name in CASES}
    RECORD.parent.mkdir(exist_ok=True)
    RECORD.write_text(json.dumps({"recorded_at": commit, "cases": rows}, indent=1) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    record()
