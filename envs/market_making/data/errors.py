"""Data problems, named by file and line, and the report of what a load counted and repaired.

Every problem a loader finds is either an error (a :class:`DataError` subclass whose message reads
``path:line: what was found; what is allowed``) or, where the format defines a repair and the caller
asked for ``strict=False``, a repair counted in a :class:`LoadReport` and logged as a warning. Rows
a loader does not turn into events (e.g. Binance ``bookTicker`` messages) are counted in the report
too: nothing is dropped silently.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

log = logging.getLogger("envs.market_making.data")


class DataError(ValueError):
    """A problem in a data file: ``path:line: problem``. ``line`` is 1-based, 0 when the problem is
    about the file as a whole."""

    def __init__(self, path: str, line: int, problem: str) -> None:
        self.path, self.line, self.problem = str(path), int(line), problem
        super().__init__(f"{self.path}:{self.line}: {problem}" if line else f"{self.path}: {problem}")


class CorruptFileError(DataError):
    """Truncated gzip, undecodable JSON, a CSV row that does not parse, missing columns."""


class UnknownFormatError(DataError):
    """No loader recognises the file."""


class UpdateIdGapError(DataError):
    """Update ids are not contiguous (Binance ``U`` != previous ``u`` + 1): messages were lost."""


class OutOfOrderError(DataError):
    """A timestamp earlier than the one before it."""


class CrossedBookError(DataError):
    """After a whole message the best bid is at or above the best ask."""


class NegativeSizeError(DataError):
    """A negative (or non-finite) size, or a non-finite or non-positive price."""


class BookMismatchError(DataError):
    """A LOBSTER message disagrees with the order-book file's change at its price."""


# The problems a strict=False load may repair, and how (the docstrings of the loaders refer to it).
REPAIRS = {
    "update_id_gap": "depth updates are skipped (counted) until the next snapshot line",
    "stale_update": "an update whose ids are at or below the last applied one is skipped",
    "out_of_order": "the timestamp is raised to the previous one",
    "crossed_book": "the stale opposite levels that the newest message crossed are removed "
                    "(inserted rows with the REPAIRED flag)",
    "negative_size": "the row is skipped",
    "book_mismatch": "the order-book file's levels are taken as the truth",
    "no_snapshot": "depth updates before any snapshot are skipped",
}


@dataclass
class LoadReport:
    """What loading counted: ``counts`` (messages and rows by kind, ignored streams), ``repairs``
    (problems repaired under ``strict=False``, by the names in :data:`REPAIRS`), ``skipped`` (rows
    not turned into events, by reason) and the first ``max_problems`` problems as
    ``"path:line: what"`` lines."""

    counts: Counter = field(default_factory=Counter)
    repairs: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    max_problems: int = 100

    def repaired(self, kind: str, path: str, line: int, what: str, rows_skipped: int = 0) -> None:
        self.repairs[kind] += 1
        if rows_skipped:
            self.skipped[kind] += rows_skipped
        text = f"{path}:{line}: {what} (repaired: {REPAIRS[kind]})"
        if len(self.problems) < self.max_problems:
            self.problems.append(text)
        if self.repairs[kind] <= 5:  # the report keeps the count; the log need not repeat itself
            log.warning(text)

    def merge(self, other: LoadReport) -> LoadReport:
        merged = LoadReport(self.counts + other.counts, self.repairs + other.repairs,
                            self.skipped + other.skipped, self.problems + other.problems,
                            self.max_problems)
        merged.problems = merged.problems[: self.max_problems]
        return merged

    def to_dict(self) -> dict:
        return {"counts": dict(self.counts), "repairs": dict(self.repairs),
                "skipped": dict(self.skipped), "problems": list(self.problems)}

    @classmethod
    def from_dict(cls, data: dict) -> LoadReport:
        return cls(Counter(data.get("counts", {})), Counter(data.get("repairs", {})),
                   Counter(data.get("skipped", {})), list(data.get("problems", [])))

    def __str__(self) -> str:
        parts = [f"counts {dict(self.counts)}"]
        if self.repairs:
            parts.append(f"repairs {dict(self.repairs)}")
        if self.skipped:
            parts.append(f"skipped rows {dict(self.skipped)}")
        return "; ".join(parts)
