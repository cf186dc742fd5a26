"""Run configuration: Hydra composition of ``conf/config.yaml`` with an env and an agent, the user's
``key=value`` overrides checked against what exists and against the defaults' types, and multirun
sweeps expanded into one override list per job.

Composition uses Hydra's Compose API rather than ``@hydra.main`` so that ``rlkit train`` can sit
behind a sub-command, accept any Gymnasium id as ``env=``, and turn every mistake into one
:class:`~rlkit.errors.UserError` that names what is allowed. Without Hydra's application layer there
is no ``hydra`` node and no sweeper or launcher plugin: of Hydra's own settings ``hydra.run.dir``
(``run_dir``), ``hydra.sweep.dir`` (a multirun's ``run_dir``) and ``hydra.job.chdir=false`` are read,
the rest refused naming the rlkit way.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from rlkit import catalogue
from rlkit.errors import UserError

RESERVED_AGENT_KEYS = ("factory", "name")  # agent-config keys that are not hyper-parameters
DEVICES = ("auto", "cpu", "cuda")
VEC_ENVS = ("dummy", "subproc", "batched")
BACKENDS = ("local", "ray")
SCHEDULERS = ("asha",)
CHECKPOINT_LINKS = ("latest", "best")
MAX_SEED = 2**32 - 1  # numpy's seeds are 0..2**32-1 (SB3 seeds numpy, torch and random with it)
MAX_EPISODES = 1_000_000
CHOICES = {"device": DEVICES, "vec_env": VEC_ENVS, "backend": BACKENDS}
PATH_KEYS = ("runs_root", "run_dir", "resume")
MAX_INT = 2**63 - 1  # integers beyond int64 overflow in numpy and torch


@dataclass(frozen=True)
class Override:
    key: str
    value: Any
    text: str  # as the user wrote it


def parse_overrides(texts: list[str]) -> list[Any]:
    """Parse ``key=value`` strings with Hydra's grammar (lists, quoting, sweeps)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    bad = [t for t in texts if "=" not in t]
    if bad:
        raise UserError(f"expected key=value overrides, got {' '.join(bad)!r}")
    try:
        return OverridesParser.create().parse_overrides(texts)
    except OverrideParseException as error:  # Hydra's message points at the place on a second line
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"cannot parse overrides: {first}; allowed: key=value with a number, true/false, null, "
                        f"a 'quoted string', a list [a,b] or a mapping {{k:v}} "
                        f"(https://hydra.cc/docs/advanced/override_grammar/basic)") from None
    except ValueError as error:  # an integer of more digits than Python converts (sys.get_int_max_str_digits)
        reason = "an integer of thousands of digits" if "digits" in str(error) else str(error)
        raise UserError(f"cannot parse overrides: {reason}; integers here are at most {MAX_INT:,}") from None


def expand_sweeps(texts: list[str]) -> list[list[str]]:
    """The cartesian product of the sweep overrides (``seed=0,1,2``, ``seed=range(3)``), as Hydra's
    basic sweeper."""
    choices = []
    for override in parse_overrides(texts):
        if override.key_or_group.lstrip("+").startswith(("hydra.", "hydra/")):
            _from_hydra(override, multirun=True)  # a plugin's settings are refused before any job is listed
        if override.is_sweep_override():
            key = override.get_key_element()
            _check_enumerable(override)
            choices.append([f"{key}={value}" for value in override.sweep_string_iterator()])
        else:
            choices.append([override.input_line])
    return [list(job) for job in itertools.product(*choices)]


def _check_enumerable(override: Any) -> None:
    if not override.is_discrete_sweep():  # interval(...), Optuna's search spaces
        raise UserError(f"{override.input_line!r}: rlkit train -m runs lists (a,b,c or choice(a,b)) and "
                        f"range(...) sweeps; {SEARCH_INSTEAD}")


# What rlkit offers instead of Hydra's sweeper and launcher plugins: they are called by Hydra's
# application layer (@hydra.main), which rlkit does not use (see the module docstring).
SEARCH_INSTEAD = ("to stop weak trials early use Ray Tune's ASHA: rlkit train -m <lists> backend=ray "
                  "ray.scheduler=asha; to run on a cluster: backend=ray ray.address=<host:port>")


def _from_hydra(parsed: Any, multirun: bool) -> tuple[str, Any] | None:
    """The rlkit key and value a Hydra setting (``hydra.run.dir=...``) stands for, None for one that
    asks for what rlkit does anyway, or a UserError naming the rlkit way to get it."""
    key, text = parsed.key_or_group.lstrip("+"), parsed.input_line
    if key == "hydra.run.dir":
        if multirun:
            raise UserError(f"{text!r}: under -m the runs go under hydra.sweep.dir=<dir> "
                            f"(rlkit: run_dir=<dir>, one <n>_<env>_<agent> directory per job)")
        return "run_dir", parsed.value()
    if key == "hydra.sweep.dir":
        if not multirun:
            raise UserError(f"{text!r} names a multirun's directory (rlkit train -m); for one run use run_dir=<dir>")
        return "run_dir", parsed.value()  # the multirun's root (rlkit.multirun)
    if key == "hydra.job.chdir":
        if parsed.value() is False:
            return None
        raise UserError(f"{text!r}: rlkit never changes the working directory (hydra.job.chdir=false); "
                        f"a run writes into its run directory, run_dir=<dir>")
    if key.startswith(("hydra/sweeper", "hydra/launcher", "hydra.sweeper", "hydra.launcher")):
        raise UserError(f"{text!r}: Hydra's sweeper and launcher plugins do not run under rlkit, which composes "
                        f"with Hydra's Compose API and sweeps itself (-m: lists and range(...)); {SEARCH_INSTEAD}")
    if key == "hydra.mode":
        raise UserError(f"{text!r}: use rlkit train -m for a multirun")
    raise UserError(f"{text!r}: of Hydra's own settings rlkit reads hydra.run.dir (run_dir=), hydra.sweep.dir "
                    f"(run_dir= under -m) and hydra.job.chdir=false; the rest have no rlkit equivalent")


def _plain_overrides(texts: list[str], multirun: bool = False) -> list[Override]:
    overrides = []
    for parsed in parse_overrides(texts):
        if parsed.is_sweep_override():
            _check_enumerable(parsed)
            raise UserError(
                f"{parsed.input_line!r} is a sweep; run several values with `rlkit train -m`"
            )
        key, value = parsed.key_or_group.lstrip("+"), parsed.value()
        if key.startswith(("hydra.", "hydra/")):
            setting = _from_hydra(parsed, multirun)
            if setting is None:
                continue
            key, value = setting
        overrides.append(Override(key, value, parsed.input_line))
    return overrides


def compose(texts: list[str], multirun: bool = False) -> DictConfig:
    """The resolved run config for one set of overrides (no sweeps; ``multirun``: one job of
    ``rlkit train -m``, where ``hydra.sweep.dir`` is allowed and names the multirun's directory)."""
    overrides = _plain_overrides(texts, multirun)
    choices = {o.key: o.value for o in overrides if o.key in ("env", "agent")}
    values = [o for o in overrides if o.key not in ("env", "agent")]

    env_choice = str(choices.get("env", "cartpole"))
    agent_choice = str(choices.get("agent", "ppo"))
    agent_names = catalogue.entry_names("agent")
    if agent_choice not in agent_names:
        raise UserError(
            f"unknown agent {agent_choice!r}{catalogue.suggest(agent_choice, agent_names)}; "
            f"allowed: {', '.join(agent_names)}"
        )
    group_overrides = [f"agent={agent_choice}"]
    if env_choice in catalogue.entry_names("env"):
        group_overrides.append(f"env={env_choice}")
    else:
        catalogue.check_gym_id(env_choice)
        group_overrides.append(f"env={catalogue.GYM_ENTRY}")

    cfg = _hydra_compose(group_overrides)
    with open_dict(cfg):
        cfg.env.name = env_choice
        cfg.agent.name = agent_choice
        if env_choice not in catalogue.entry_names("env"):
            cfg.env.id = env_choice
    apply_env_requirements(cfg)
    for override in values:  # after the agent's requirements: the user's env.kwargs win
        apply_override(cfg, override)
    validate(cfg)
    return cfg


def apply_env_requirements(cfg: DictConfig) -> None:
    """Set the env constructor arguments the agent class declares it needs (its ``env_requirements``,
    e.g. ``{"representation": "graph"}``) in ``env.kwargs``, for the arguments this env takes (its
    config lists them or its constructor names them); other envs are left as they are, for the agent's
    ``check_env`` to refuse with its own message."""
    requirements = getattr(catalogue.resolve_factory(cfg.agent.factory), "env_requirements", None) or {}
    kwargs = cfg.env.get("kwargs") or {}
    unlisted = [key for key in requirements if key not in kwargs]
    taken = set(kwargs)
    if unlisted:
        from rlkit.environments import constructor_arguments

        taken |= constructor_arguments(cfg.env.id)
    with open_dict(cfg):
        for key, value in requirements.items():
            if key in taken:
                if cfg.env.get("kwargs") is None:
                    cfg.env.kwargs = {}
                cfg.env.kwargs[key] = value


def _hydra_compose(group_overrides: list[str]) -> DictConfig:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="rlkit.conf", version_base="1.3"):
        return hydra_compose(config_name="config", overrides=group_overrides)


def apply_override(cfg: DictConfig, override: Override, frozen: tuple[str, ...] = ()) -> None:
    """Set one ``key=value`` after checking the key exists (or is a hyper-parameter the agent
    accepts) and the value has the default's type."""
    key, value = override.key, override.value
    key = _env_shorthand(cfg, key)
    top = key.split(".")[0]
    if top in frozen:
        raise UserError(f"{override.text!r}: {top} settings cannot change here ({', '.join(frozen)} are fixed)")
    if top == "agent":
        _check_agent_key(cfg, key)
    elif top == "env":
        _check_env_key(cfg, key)
    elif _select(cfg, override, default=_MISSING) is _MISSING:
        raise UserError(f"unknown override key {key!r}; allowed: {', '.join(_settable_keys(cfg))}")
    default = _select(cfg, override, default=None, key=key)
    if top not in ("agent", "env"):
        value = checked_host_value(key, value, default)
    else:
        value = checked_value(key, value, default)
    try:
        with open_dict(cfg):
            OmegaConf.update(cfg, key, value, merge=False, force_add=True)
    except (OmegaConfBaseException, ValueError, TypeError, IndexError) as error:  # e.g. a.b=1 where a is a list
        raise UserError(f"{override.text!r}: cannot set {key} ({str(error).splitlines()[0]})") from None


_MISSING = object()


def _select(cfg: DictConfig, override: Override, default: Any, key: str | None = None) -> Any:
    key = key or override.key
    try:
        return OmegaConf.select(cfg, key, default=default)
    except OmegaConfBaseException as error:  # e.g. a.x where a is a list
        raise UserError(f"{override.text!r}: no such key {key} ({str(error).splitlines()[0]})") from None


def _settable_keys(cfg: DictConfig) -> list[str]:
    keys = []
    for name, node in cfg.items():
        if name in ("env", "agent"):
            keys.append(f"{name}.<key>")
        elif isinstance(node, DictConfig):
            keys.extend(f"{name}.{sub}" for sub in node)
        else:
            keys.append(str(name))
    return keys


def _check_agent_key(cfg: DictConfig, key: str) -> None:
    parts = key.split(".")
    if len(parts) < 2:
        return
    name = parts[1]
    agent_class = catalogue.resolve_factory(cfg.agent.factory)
    allowed = catalogue.hyperparameter_names(agent_class)
    if name in RESERVED_AGENT_KEYS or (name not in cfg.agent and name not in allowed):
        raise UserError(
            f"unknown override key {key!r}: agent {cfg.agent.name} has no hyper-parameter "
            f"{name!r}{catalogue.suggest(name, sorted(allowed))}; allowed: {', '.join(sorted(allowed))}"
        )


def _env_shorthand(cfg: DictConfig, key: str) -> str:
    """``env.<argument>`` for a constructor argument the env config lists in ``env.kwargs``
    (``env.scenario=...`` for ``env.kwargs.scenario=...``); other keys are returned unchanged."""
    parts = key.split(".")
    kwargs = cfg.env.get("kwargs") if "env" in cfg else None
    if len(parts) == 2 and parts[0] == "env" and parts[1] not in cfg.env and kwargs and parts[1] in kwargs:
        return f"env.kwargs.{parts[1]}"
    return key


def _check_env_key(cfg: DictConfig, key: str) -> None:
    parts = key.split(".")
    if len(parts) >= 2 and parts[1] not in cfg.env:
        allowed = [k for k in cfg.env if k != "name"]
        raise UserError(
            f"unknown override key {key!r}; env {cfg.env.name} takes: "
            f"{', '.join(f'env.{k}' for k in allowed)} (constructor arguments go in env.kwargs.<name>, or env.<name> for those the config lists)"
        )


def _type_name(value: Any) -> str:
    return type(value).__name__


def _expected(default: Any) -> str:
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, int):
        return "an integer"
    if isinstance(default, float):
        return "a number"
    if isinstance(default, str):
        return "a string"
    return "a value"


def checked_host_value(key: str, value: Any, default: Any) -> Any:
    """``checked_value`` for rlkit's own options (not ``env.*`` or ``agent.*``): null only where the
    default is null, and a group (``eval``, ``checkpoint``, ``ray``) set key by key."""
    if isinstance(default, DictConfig):
        keys = ", ".join(f"{key}.{sub}" for sub in default)
        raise UserError(f"{key} is a group of options and cannot be set as a whole; set its keys: {keys}")
    expected = f"one of {', '.join(CHOICES[key])}" if key in CHOICES else _expected(default)
    if key in PATH_KEYS:
        expected = "a directory" + (" or null" if default is None else "")
        if value is None and default is None:
            return value
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value):
            return str(value)
        raise UserError(f"{key}={value!r} is not allowed; expected {expected}")
    if value is None and default is not None:
        raise UserError(f"{key}=null is not allowed; expected {expected}")
    if isinstance(value, (dict, DictConfig, list, ListConfig)) and default is not None:
        raise UserError(f"wrong type for {key}: expected {expected}, got {value!r}")
    if isinstance(default, str) and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)  # runs_root=2024 is the directory "2024"
    return checked_value(key, value, default)


def checked_value(key: str, value: Any, default: Any) -> Any:
    """``value`` converted to the default's type, or a UserError naming both."""
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        expected = "true or false"
    elif isinstance(default, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            if abs(value) > MAX_INT:
                raise UserError(f"{key}={value:.3g} is out of range; integers here are at most {MAX_INT:,} in size")
            return value
        expected = "an integer"
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        expected = "a number"
    elif OmegaConf.is_list(default) or isinstance(default, list):
        if isinstance(value, list):
            return value
        expected = "a list such as [64,64]"
    else:
        return value
    raise UserError(f"wrong type for {key}: expected {expected}, got {value!r} ({_type_name(value)})")


def validate(cfg: DictConfig) -> None:
    """Value checks the types alone do not make, and that this machine can run the config."""
    validate_values(cfg)
    if cfg.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UserError("device=cuda but torch sees no CUDA device; allowed here: auto, cpu")


def check_seed(key: str, seed: Any) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        shown = f"{seed:.3g}" if isinstance(seed, int) and abs(seed) > MAX_INT else repr(seed)
        raise UserError(f"{key}={shown} is not allowed; a seed is an integer from 0 to {MAX_SEED} (2**32-1)")


def validate_values(cfg: DictConfig) -> None:
    """The checks of :func:`validate` that hold on any machine (a saved run's config is checked with
    these: it may have been made where CUDA is)."""

    def require(condition: bool, message: str) -> None:
        if not condition:
            raise UserError(message)

    _check_host_types(cfg)
    check_seed("seed", cfg.seed)
    require(cfg.eval.episodes <= MAX_EPISODES, f"eval.episodes must be at most {MAX_EPISODES}, got {cfg.eval.episodes}")
    require(cfg.device in DEVICES, f"device={cfg.device!r} is not allowed; allowed: {', '.join(DEVICES)}")
    require(cfg.vec_env in VEC_ENVS, f"vec_env={cfg.vec_env!r} is not allowed; allowed: {', '.join(VEC_ENVS)}")
    require(cfg.n_envs >= 1, f"n_envs must be at least 1, got {cfg.n_envs}")
    require(cfg.threads >= 1, f"threads must be at least 1, got {cfg.threads}")
    require(cfg.total_timesteps >= 1, f"total_timesteps must be at least 1, got {cfg.total_timesteps}")
    require(cfg.eval.every >= 0, f"eval.every must be 0 (only at the end) or positive, got {cfg.eval.every}")
    require(cfg.eval.episodes >= 1, f"eval.episodes must be at least 1, got {cfg.eval.episodes}")
    require(cfg.checkpoint.every >= 0, f"checkpoint.every must be 0 or positive, got {cfg.checkpoint.every}")
    require(cfg.backend in BACKENDS, f"backend={cfg.backend!r} is not allowed; allowed: {', '.join(BACKENDS)}")
    ray = cfg.ray
    require(ray.scheduler is None or ray.scheduler in SCHEDULERS,
            f"ray.scheduler={ray.scheduler!r} is not allowed; allowed: null, {', '.join(SCHEDULERS)}")
    require(ray.num_env_runners >= 0, f"ray.num_env_runners must be 0 or more, got {ray.num_env_runners}")
    require(ray.num_envs_per_env_runner >= 1,
            f"ray.num_envs_per_env_runner must be at least 1, got {ray.num_envs_per_env_runner}")
    for key in ("num_gpus_per_learner", "trial_cpus", "trial_gpus"):
        require(ray[key] >= 0, f"ray.{key} must be 0 or more, got {ray[key]}")
    for key in ("num_cpus", "num_gpus"):
        require(ray[key] is None or (isinstance(ray[key], (int, float)) and ray[key] >= 0),
                f"ray.{key} must be null or a number >= 0, got {ray[key]!r}")
    require(ray.grace_period >= 1 and ray.reduction_factor >= 2,
            f"ray.grace_period must be >= 1 and ray.reduction_factor >= 2, got {ray.grace_period}, {ray.reduction_factor}")
    require(ray.address is None or isinstance(ray.address, str),
            f"ray.address must be auto, local, host:port or ray://host:port, got {ray.address!r}")


def _host_defaults() -> DictConfig:
    """conf/config.yaml without its defaults list: rlkit's own options and their defaults."""
    defaults = OmegaConf.load(catalogue.CONF_DIR / "config.yaml")
    with open_dict(defaults):
        defaults.pop("defaults", None)
    return defaults


def _check_host_types(cfg: DictConfig) -> None:
    """Every option of conf/config.yaml has its default's type (null only where the default is null)."""

    def check(defaults: DictConfig, node: Any, prefix: str) -> None:
        if not isinstance(node, DictConfig):
            raise UserError(f"{prefix.rstrip('.')} must be a group of options ({', '.join(map(str, defaults))}), "
                            f"got {node!r}")
        for name, default in defaults.items_ex(resolve=False):
            key = f"{prefix}{name}"
            value = node.get(name)
            if isinstance(default, DictConfig):
                check(default, value, f"{key}.")
            elif default is not None:
                checked_host_value(key, value, default)

    check(_host_defaults(), cfg, "")


def agent_hyperparameters(cfg: DictConfig) -> dict[str, Any]:
    """The agent config minus the keys the host reads, as plain Python containers."""
    params = OmegaConf.to_container(cfg.agent, resolve=True)
    return {k: v for k, v in params.items() if k not in RESERVED_AGENT_KEYS}


def load_saved(run_dir: Path) -> DictConfig:
    """The resolved config a run saved in ``.hydra/config.yaml``, checked as a command line's would be:
    a mapping of the right types, an agent whose factory is the catalogue's for its name (a saved config
    never makes rlkit import a module the catalogue does not name) and an env rlkit can make without
    importing a module the id names."""
    path = run_dir / ".hydra" / "config.yaml"
    if not path.is_file():
        raise UserError(f"{run_dir} is not an rlkit run directory: {path} is missing")
    try:
        saved = OmegaConf.load(path)
    except Exception as error:  # YAML syntax, unreadable bytes, ... (OmegaConf wraps them differently)
        reason = " ".join(str(error).split())[:300] or type(error).__name__
        raise UserError(f"{path} is not a readable YAML config ({reason})") from None
    if not isinstance(saved, DictConfig) or len(saved) == 0:
        kind = "a list" if isinstance(saved, ListConfig) else "empty"
        raise UserError(f"{path} is {kind}; a run's config is a mapping of options (env, agent, seed, ...)")
    _check_saved_entries(saved, path)
    _refuse_interpolations(OmegaConf.to_container(saved, resolve=False), path)
    # options added since the run was made (backend, ray) take their defaults
    try:
        cfg = OmegaConf.merge(_host_defaults(), saved)
    except OmegaConfBaseException as error:
        raise UserError(f"{path}: {str(error).splitlines()[0]}") from None
    try:
        validate_values(cfg)
    except UserError as error:
        raise UserError(f"{path}: {error}") from None
    return cfg


def _refuse_interpolations(node: Any, path: Path, key: str = "") -> None:
    """A run saves its config resolved; a ``${...}`` in it was put there by hand and would read the
    opener's environment (``${oc.env:...}``) or fail on access."""
    if isinstance(node, dict):
        for name, value in node.items():
            _refuse_interpolations(value, path, f"{key}.{name}" if key else str(name))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _refuse_interpolations(value, path, f"{key}.{index}")
    elif isinstance(node, str) and "${" in node:
        raise UserError(f"{path}: {key}={node!r} is an interpolation; a run's saved config holds plain values "
                        f"(rlkit train writes it resolved)")


def _check_saved_entries(saved: DictConfig, path: Path) -> None:
    agent, env = saved.get("agent"), saved.get("env")
    if not isinstance(agent, DictConfig) or not isinstance(env, DictConfig):
        raise UserError(f"{path} has no agent or env section; it is not the config of an rlkit run")
    names = catalogue.entry_names("agent")
    name, factory = agent.get("name"), agent.get("factory")
    if name not in names:
        raise UserError(f"{path}: agent.name={name!r} is not in the catalogue; allowed: {', '.join(names)}")
    expected = catalogue.entry_config("agent", str(name)).get("factory")
    if factory != expected:
        raise UserError(f"{path}: agent.factory={factory!r} is not the catalogue's factory for agent {name} "
                        f"({expected}); rlkit imports only the factories rlkit/conf/agent/ names")
    env_id = env.get("id")
    if not isinstance(env_id, str) or not env_id:
        raise UserError(f"{path}: env.id must be a Gymnasium id, got {env_id!r}")
    if ":" in env_id:
        raise UserError(f"{path}: env.id={env_id!r} would import the module {env_id.rpartition(':')[0]!r}; "
                        f"a saved run is opened only with an id registered by rlkit or Gymnasium")


def compose_resume(run_dir: Path, texts: list[str]) -> DictConfig:
    """The saved config of ``run_dir`` with the overrides a resumed run may change."""
    cfg = load_saved(run_dir)
    for override in _plain_overrides(texts):
        if override.key == "resume":
            continue
        apply_override(cfg, override, frozen=("env", "agent", "seed", "run_dir", "runs_root"))
    with open_dict(cfg):
        cfg.resume = str(run_dir)
    validate(cfg)
    return cfg


def help_text() -> str:
    """``rlkit train --help``: the groups, then the commented defaults."""
    lines = ["config groups:"]
    for group in ("env", "agent"):
        lines.append(f"  {group}:")
        for name in catalogue.entry_names(group):
            lines.append(f"    {name:<18} {catalogue.entry_description(group, name)}")
        if group == "env":
            lines.append("    <Gymnasium id>     any registered Gymnasium id, e.g. env=Pendulum-v1")
    lines.append("  agent.<name>=<value> sets a hyper-parameter of the agent's constructor")
    lines.append("")
    lines.append("options (conf/config.yaml, the defaults):")
    lines.extend("  " + line for line in (catalogue.CONF_DIR / "config.yaml").read_text().splitlines())
    return "\n".join(lines)
