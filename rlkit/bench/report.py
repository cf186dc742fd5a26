"""Writing a benchmark's results: one table as CSV and Markdown, and PNG plots."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any, Sequence

import pandas as pd


def machine_description() -> str:
    import os

    import torch

    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__} ({torch.get_num_threads()} thread), Python {platform.python_version()}"
    )


def write_table(out_dir: Path, rows: Sequence[dict[str, Any]], name: str = "results", notes: str = "") -> pd.DataFrame:
    """``<name>.csv`` and ``<name>.md`` (a Markdown table preceded by ``notes``)."""
    table = pd.DataFrame(list(rows))
    table.to_csv(out_dir / f"{name}.csv", index=False)
    (out_dir / f"{name}.md").write_text((notes + "\n\n" if notes else "") + markdown_table(table) + "\n")
    return table


def markdown_table(table: pd.DataFrame) -> str:
    def cell(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def bar_plot(path: Path, labels: Sequence[str], values: Sequence[float], ylabel: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    axes.bar(range(len(values)), values, color="#4878a8")
    axes.set_xticks(range(len(values)), labels, rotation=15, ha="right")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    for index, value in enumerate(values):
        axes.annotate(f"{value:.3g}", (index, value), ha="center", va="bottom")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
