"""The zip files that agents which are not SB3 models save themselves to (controllers, market
makers): the path convention SB3 uses (``.zip`` added when the name has no suffix) and a checked
read of one member."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Callable


def zip_path(path: Any) -> Any:
    """``path`` with ``.zip`` added when it has no suffix; a file object is returned as is."""
    if isinstance(path, (str, Path)):
        path = Path(path)
        return path if path.suffix else path.with_suffix(".zip")
    return path


def write_archive(path: Any, members: dict[str, bytes | str]) -> None:
    """Write ``members`` (name -> content) into the zip at ``path``, creating its folder."""
    target = zip_path(path)
    if isinstance(target, Path):
        target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)


def read_archive(path: Any, member: str, decode: Callable[[bytes], Any], *, kind: str,
                 save_format: int, class_name: str) -> dict[str, Any]:
    """``member`` of the zip at ``path``, decoded, after checking it is a ``kind`` of
    ``save_format`` saved by ``class_name``."""
    source = zip_path(path)
    if isinstance(source, Path) and not source.is_file():
        raise FileNotFoundError(f"no saved agent at {source}")
    with zipfile.ZipFile(source) as archive:
        data = decode(archive.read(member))
    if not isinstance(data, dict) or data.get("format") != save_format:
        raise ValueError(f"{path} is not a saved {kind} of format {save_format}")
    if data["class"] != class_name:
        raise ValueError(f"{path} holds a {data['class']}, not a {class_name}")
    return data
