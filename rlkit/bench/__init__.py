"""``rlkit bench <suite>``: benchmark suites, registered by config.

A suite is a file ``rlkit/conf/bench/<suite>.yaml``: its leading comment is the one-line description
``rlkit list`` shows, and ``factory: package.module:function`` names a function
``run(out_dir: Path, **options) -> None`` that writes its results tables (CSV and Markdown, through
:func:`rlkit.bench.report.write_table`) and PNG plots into ``out_dir``
(``runs/bench/<suite>/<time>/``). Its keyword arguments, with their defaults, are the options a user
sets as ``key=value``. Time with :mod:`rlkit.bench.timing`. The host names no suite: a new file is a
new suite.
"""

from __future__ import annotations

import importlib
import inspect
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from rlkit import catalogue
from rlkit.errors import UserError

GROUP = "bench"  # rlkit/conf/bench/


def suite_names() -> list[str]:
    return catalogue.entry_names(GROUP)


def suite_description(name: str) -> str:
    return catalogue.entry_description(GROUP, name)


def suite_factory(name: str) -> str:
    """The ``module:function`` a suite's config names; an unknown suite ends with the allowed names."""
    names = suite_names()
    if name not in names:
        raise UserError(f"unknown benchmark suite {name!r}{catalogue.suggest(name, names)}; "
                        f"allowed: {', '.join(names)}")
    return str(catalogue.entry_config(GROUP, name).get("factory", ""))


def suite_function(name: str) -> Callable[..., Any]:
    factory = suite_factory(name)
    module_name, _, attribute = factory.partition(":")
    where = f"rlkit/conf/{GROUP}/{name}.yaml"
    if not attribute:
        raise UserError(f"{where}: factory {factory!r} must be written 'package.module:function'")
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise UserError(f"{where}: cannot load factory {factory!r} ({error})") from None
    return function


def suite_options(function: Callable[..., Any]) -> dict[str, Any]:
    """A suite function's options: its keyword arguments after ``out_dir`` and their defaults."""
    return {
        p.name: p.default
        for p in inspect.signature(function).parameters.values()
        if p.default is not inspect.Parameter.empty
    }


def run_suite(name: str, pairs: list[str], runs_root: str = "runs") -> Path:
    """Run suite ``name`` with ``key=value`` options; returns its output directory."""
    from rlkit.config import checked_value, parse_overrides

    function = suite_function(name)
    defaults = suite_options(function)
    options: dict[str, Any] = {}
    for parsed in parse_overrides(pairs):
        key = parsed.key_or_group
        if key == "runs_root":
            runs_root = str(parsed.value())
            continue
        if key not in defaults:
            allowed = ", ".join(f"{k} (default {v})" for k, v in defaults.items())
            raise UserError(f"unknown option {key!r} for suite {name}; allowed: {allowed}, runs_root")
        # a comma-separated value (envs=cstr,cstr_safe) is a list here, not a sweep
        value = list(parsed.sweep_string_iterator()) if parsed.is_sweep_override() else parsed.value()
        if isinstance(defaults[key], list) and not isinstance(value, list):
            value = [value]
        options[key] = checked_value(key, value, defaults[key])
    out_dir = Path(runs_root) / "bench" / name / datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    function(out_dir, **options)
    return out_dir
