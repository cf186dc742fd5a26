"""Certificate files: JSON read with every problem named (a missing file, bad JSON, missing fields,
another version, a number that is not finite), written atomically; and the SHA-256 hashes that tie
a certificate to the exact objects it is about.

Reading a certificate never executes anything from it: it is parsed as JSON and its fields are
checked; an agent that needs an expression from it parses that with a strict grammar of its own.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping


def read_certificate(path: Any, required: Iterable[str], kind: str, version: int | None = None,
                     finite: Iterable[str] = ()) -> dict[str, Any]:
    """The certificate at ``path`` as a dict; a ValueError naming what is wrong when the file is
    missing or not JSON, lacks one of the ``required`` fields, has another ``version`` than this
    rlkit reads, or one of the ``finite`` fields is not a finite number. ``kind`` names the
    certificate in messages ("Lyapunov", "Lyapunov-discovery")."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no certificate at {path}")
    try:
        certificate = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(certificate, dict):
        raise ValueError(f"{path} is not a {kind} certificate (a JSON object is needed)")
    required = tuple(required)
    missing = [key for key in required if key not in certificate]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}: not a {kind} certificate (one needs "
                         f"{', '.join(required)})")
    if version is not None and certificate["version"] != version:
        raise ValueError(f"{path} has certificate version {certificate['version']!r}; this rlkit reads {version}")
    for key in finite:
        value = certificate[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{path}: {key} must be a finite number, got {value!r}")
    return certificate


def write_certificate(path: Any, certificate: Mapping[str, Any]) -> Path:
    """Write ``certificate`` as JSON to ``path`` atomically (a reader never sees half a file)."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(dict(certificate), indent=2))
    temporary.replace(path)
    return path


def hash_json(data: Any) -> str:
    """SHA-256 of ``data`` as canonical JSON (sorted keys; what JSON cannot hold as its ``str``)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def hash_tensors(tensors: Mapping[str, Any]) -> str:
    """SHA-256 of named tensors (e.g. a module's ``state_dict()``): names, shapes and float64 values,
    in order."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in tensors.items():
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().to("cpu", torch.float64).contiguous().numpy().tobytes())
    return digest.hexdigest()


def hash_mismatches(recorded: Mapping[str, Any], actual: Mapping[str, str]) -> list[str]:
    """A problem per hash of ``actual`` that ``recorded`` (the certificate's) does not match."""
    problems = []
    for name, value in actual.items():
        if recorded.get(name) != value:
            problems.append(f"the {name} hash does not match the saved {name} "
                            f"(certificate {str(recorded.get(name))[:12]}..., files {value[:12]}...)")
    return problems


def installed_versions(distributions: Iterable[str]) -> dict[str, str]:
    """The versions of the installed ``distributions`` (those not installed are left out)."""
    from importlib import metadata

    found = {}
    for name in distributions:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found
