"""Running ``rlkit train`` from a benchmark: the same code path a user runs, results read back
from the run directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd


def train_and_read(overrides: list[str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Train with ``overrides`` (which set ``run_dir``); returns metrics.csv and summary.json."""
    from rlkit.config import compose
    from rlkit.train import train

    cfg = compose(overrides)
    train(cfg, overrides, announce=lambda _: None)
    run = Path(cfg.run_dir)
    return pd.read_csv(run / "metrics.csv"), json.loads((run / "summary.json").read_text())
