"""What rlkit can run: env and agent configs shipped in ``rlkit/conf``, Gymnasium's registry, and
the agent classes the configs name. The host never lists agents or envs in code: a new config file
is a new catalogue entry."""

from __future__ import annotations

import difflib
import importlib
from pathlib import Path
from typing import Any

from rlkit.errors import UserError

CONF_DIR = Path(__file__).parent / "conf"
GYM_ENTRY = "gym"  # conf/env/gym.yaml: the entry that wraps any registered Gymnasium id


def entry_names(group: str) -> list[str]:
    """Names of the configs in a group (``env`` or ``agent``), sorted."""
    names = sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))
    return [n for n in names if not (group == "env" and n == GYM_ENTRY)]


def entry_description(group: str, name: str) -> str:
    """The leading comment of a config file (its first comment lines, joined): its description."""
    parts = []
    for line in (CONF_DIR / group / f"{name}.yaml").read_text().splitlines():
        if not line.startswith("#"):
            break
        parts.append(line.lstrip("# ").strip())
    return " ".join(parts)


def entry_config(group: str, name: str) -> dict[str, Any]:
    import yaml

    return yaml.safe_load((CONF_DIR / group / f"{name}.yaml").read_text()) or {}


def suggest(name: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(name, allowed, n=3, cutoff=0.6)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def resolve_factory(path: str) -> type:
    """Import ``"package.module:Name"`` and return the agent class it names."""
    module_name, _, attribute = path.partition(":")
    if not attribute:
        raise UserError(f"agent factory {path!r} must be written 'package.module:ClassName'")
    try:
        module = importlib.import_module(module_name)
    except (ImportError, ValueError, TypeError) as error:
        raise UserError(f"agent factory {path!r}: cannot import {module_name} ({error})") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise UserError(f"agent factory {path!r}: {module_name} has no {attribute}") from None


def hyperparameter_names(agent_class: type) -> set[str]:
    """The ``agent.<name>`` keys an agent takes (see :func:`agents.base.hyperparameter_names`)."""
    from agents.base import hyperparameter_names as names

    return names(agent_class)


def check_gym_id(env_id: str) -> None:
    """Fail with the allowed names unless ``env_id`` is registered with Gymnasium (an id written
    ``module:Name-v0`` imports ``module`` first, as ``gymnasium.make`` does)."""
    import gymnasium as gym

    import envs  # noqa: F401  (registers rlkit's own environments)

    module_name, _, bare_id = env_id.rpartition(":")
    if module_name:
        try:
            importlib.import_module(module_name)
        except (ImportError, ValueError, TypeError) as error:  # also a relative or malformed module name
            raise UserError(f"env {env_id!r}: cannot import {module_name} ({error})") from None
    if bare_id in gym.envs.registry:
        return
    short = entry_names("env")
    registered = sorted(gym.envs.registry)
    raise UserError(
        f"unknown env {env_id!r}{suggest(bare_id, short + registered)}; "
        f"allowed: a short name ({', '.join(short)}) or a registered Gymnasium id "
        f"(e.g. CartPole-v1, Pendulum-v1; `rlkit list` shows them all)"
    )
