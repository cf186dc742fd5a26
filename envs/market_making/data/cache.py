"""A parquet cache of loaded event tables, keyed by the source files' path, size and mtime.

The key hashes each source file's absolute path, size and mtime (ns), the loader's name and
options, and the event format version; a changed or touched file misses. Files are written to a
temporary name in the cache folder and renamed into place (atomic), so a crash never leaves a half
written cache entry; an unreadable entry is reported, ignored and rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from envs.market_making.data.errors import log
from envs.market_making.data.events import FORMAT_VERSION, EventTable


def default_cache_dir() -> Path:
    """``$RLKIT_DATA_CACHE``, else ``$XDG_CACHE_HOME/rlkit/events`` (``~/.cache/rlkit/events``)."""
    if os.environ.get("RLKIT_DATA_CACHE"):
        return Path(os.environ["RLKIT_DATA_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rlkit" / "events"


CHECKS_VERSION = 2  # raised when the loaders' checks change: entries built under older checks are rebuilt


def cache_key(paths: list[str | Path], loader: str, options: dict) -> str:
    parts = []
    for path in paths:
        stat = Path(path).stat()
        parts.append([str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns])
    text = json.dumps([FORMAT_VERSION, CHECKS_VERSION, loader, sorted(options.items()), parts], default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def cache_path(cache_dir: Path, paths: list[str | Path], loader: str, options: dict) -> Path:
    stem = Path(paths[0]).name.split(".")[0]
    return Path(cache_dir) / f"{stem}-{cache_key(paths, loader, options)}.parquet"


def read_cached(path: Path) -> EventTable | None:
    if not path.exists():
        return None
    import pyarrow.parquet as pq

    try:
        return EventTable.from_arrow(pq.read_table(path))
    except Exception as error:  # a damaged entry is rebuilt, not fatal
        log.warning("ignoring unreadable cache entry %s (%s: %s)", path, type(error).__name__, error)
        return None


def write_table(table: EventTable, path: str | Path) -> Path:
    """Write ``table`` as parquet atomically (temporary file in the same folder, then rename)."""
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table.to_arrow(), tmp, compression="zstd")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_table(path: str | Path) -> EventTable:
    """Read an event table written by :func:`write_table`."""
    import pyarrow.parquet as pq

    return EventTable.from_arrow(pq.read_table(path))
