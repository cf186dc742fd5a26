"""A run directory and the files in it.

    <run>/.hydra/config.yaml     the resolved config      <run>/metrics.csv    evaluations over time
    <run>/.hydra/overrides.yaml  the command-line overrides  <run>/summary.json  final figures
    <run>/tb/                    TensorBoard event files     <run>/checkpoints/  see rlkit.checkpoints
"""

from __future__ import annotations

import csv
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from rlkit.checkpoints import CheckpointStore

METRICS_COLUMNS = (
    "timesteps",
    "wall_time_s",
    "mean_return",
    "std_return",
    "mean_length",
    "std_length",
    "episodes",
    "best_mean_return",
    "violations_per_episode",
    "train_violations",
)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)


class RunDirectory:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    hydra_dir = property(lambda self: self.path / ".hydra")
    tb_dir = property(lambda self: self.path / "tb")
    metrics_file = property(lambda self: self.path / "metrics.csv")
    summary_file = property(lambda self: self.path / "summary.json")
    checkpoints = property(lambda self: CheckpointStore(self.path / "checkpoints"))

    @classmethod
    def create(cls, cfg: DictConfig, now: datetime | None = None) -> RunDirectory:
        """``cfg.run_dir`` if set, else ``<runs_root>/<date>/<time>_<env>_<agent>`` (with a
        numeric suffix when two runs start in the same second)."""
        if cfg.run_dir:
            path = Path(cfg.run_dir)
        else:
            now = now or datetime.now()
            base = Path(cfg.runs_root) / now.strftime("%Y-%m-%d") / _safe(
                f"{now.strftime('%H-%M-%S')}_{cfg.env.name}_{cfg.agent.name}"
            )
            path, suffix = base, 1
            while path.exists():
                suffix += 1
                path = base.with_name(f"{base.name}_{suffix}")
        path.mkdir(parents=True, exist_ok=True)
        return cls(path)

    def write_config(self, cfg: DictConfig, overrides: list[str]) -> None:
        self.hydra_dir.mkdir(parents=True, exist_ok=True)
        (self.hydra_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
        (self.hydra_dir / "overrides.yaml").write_text(yaml.safe_dump(list(overrides)))

    def record_resume(self, overrides: list[str], num_timesteps: int) -> None:
        """A resumed run keeps its original overrides and lists each resume in resumes.yaml."""
        path = self.hydra_dir / "resumes.yaml"
        resumes = (yaml.safe_load(path.read_text()) if path.is_file() else None) or []
        resumes.append(
            {"time": datetime.now().isoformat(timespec="seconds"), "from_timestep": num_timesteps,
             "overrides": list(overrides)}
        )
        path.write_text(yaml.safe_dump(resumes, sort_keys=False))

    def append_metrics(self, row: dict[str, Any]) -> None:
        """One row; the first row fixes the columns: the standard ones, then the env's own
        episode metrics (sorted), so every row of a run has the same columns."""
        if self.metrics_file.is_file():
            with self.metrics_file.open(newline="") as handle:
                columns = next(csv.reader(handle), list(METRICS_COLUMNS))
        else:
            columns = [*METRICS_COLUMNS, *sorted(k for k in row if k not in METRICS_COLUMNS)]
        new = not self.metrics_file.is_file()
        with self.metrics_file.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow({k: row.get(k, "") for k in columns})

    def read_metrics(self) -> list[dict[str, float]]:
        if not self.metrics_file.is_file():
            return []
        with self.metrics_file.open() as handle:
            return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(handle)]

    def write_summary(self, summary: dict[str, Any]) -> None:
        temporary = self.summary_file.with_name(".summary.json.tmp")
        temporary.write_text(json.dumps(summary, indent=2, default=str))
        os.replace(temporary, self.summary_file)
