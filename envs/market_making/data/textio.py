"""Reading text files (plain or gzip) so that every failure names the file and the line."""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from envs.market_making.data.errors import CorruptFileError


def open_text(path: str | Path):
    path = Path(path)
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    raw = gzip.open(path, "rb") if gzipped else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8", newline="")


def iter_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, text without the newline)``; a truncated or corrupt gzip stream or
    undecodable bytes raise :class:`CorruptFileError` naming the line where reading broke off. A
    last line without its newline is yielded (the caller's parser decides whether it is whole)."""
    number = 0
    try:
        with open_text(path) as f:
            for number, text in enumerate(f, 1):
                yield number, text.rstrip("\r\n")
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as error:
        raise CorruptFileError(path, number + 1, f"file is truncated or corrupt after line {number} "
                               f"({type(error).__name__}: {error}); re-download or re-record it") from None
    except UnicodeDecodeError as error:
        raise CorruptFileError(path, number + 1, f"not UTF-8 text ({error.reason})") from None


def read_csv_frame(path: str | Path, *, header: bool, names: list[str] | None = None,
                   dtypes: dict | None = None):
    """Read a CSV with pandas (fast path); on any failure, find the first bad line with a slow
    line-by-line pass and raise :class:`CorruptFileError` naming it."""
    import pandas as pd

    try:
        frame = pd.read_csv(path, header=0 if header else None, names=names, dtype=dtypes,
                            compression="infer", engine="c", na_filter=False)
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError, UnicodeDecodeError, ValueError,
            pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        locate_bad_csv_line(path, header=header, names=names, dtypes=dtypes)
        raise CorruptFileError(path, 0, f"does not parse as CSV: {error}") from None
    return frame


def locate_bad_csv_line(path, *, header: bool, names: list[str] | None, dtypes: dict | None) -> None:
    """Raise CorruptFileError at the first line whose field count or numeric fields are wrong."""
    expected = len(names) if names else None
    numeric = []
    for number, text in iter_lines(path):
        fields = text.split(",")
        if number == 1 and header:
            names = names or fields
            expected = len(names)
            numeric = [i for i, n in enumerate(names) if dtypes and np.dtype(dtypes.get(n, object)).kind in "fiu"]
            continue
        if expected is None:
            expected = len(fields)
            numeric = [i for i in range(expected) if dtypes and np.dtype(dtypes.get(i, object)).kind in "fiu"]
        if not text.strip():
            continue
        if len(fields) != expected:
            raise CorruptFileError(path, number, f"{len(fields)} fields, expected {expected}: {text[:80]!r}")
        for i in numeric:
            try:
                float(fields[i])
            except ValueError:
                raise CorruptFileError(path, number, f"field {i + 1} ({names[i] if names else i}) is "
                                       f"not a number: {fields[i][:40]!r}") from None


def numeric_column(frame, path, name: str, dtype=np.float64, header: bool = True) -> np.ndarray:
    """One column as ``dtype``, with the first non-numeric cell reported by file and line."""
    if name not in frame.columns:
        raise CorruptFileError(path, 1, f"missing column {name!r}; the file has {list(frame.columns)}")
    try:
        return frame[name].to_numpy(dtype=dtype)
    except (ValueError, TypeError):
        for i, value in enumerate(frame[name].astype(str).to_numpy()):
            try:
                float(value)
            except ValueError:
                raise CorruptFileError(path, i + 1 + header, f"column {name!r} is not a number: "
                                       f"{value[:40]!r}") from None
        raise


def numeric_columns(frame, path, columns: list[str], header: bool = True) -> dict[str, np.ndarray]:
    """Columns as float64 (see :func:`numeric_column`)."""
    return {name: numeric_column(frame, path, name, header=header) for name in columns}
