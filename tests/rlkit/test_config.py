"""Composition: overrides checked against the configs, typed like the defaults, and sweeps."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rlkit import catalogue, config
from rlkit.environments import constructor_arguments
from rlkit.errors import UserError


def test_gymnasium_id_becomes_the_env_with_its_name():
    cfg = config.compose(["env=Acrobot-v1"])
    assert cfg.env.id == "Acrobot-v1" and cfg.env.name == "Acrobot-v1"


def test_short_name_selects_the_config_file():
    cfg = config.compose(["env=pendulum", "agent=td3"])
    assert cfg.env.id == "Pendulum-v1" and cfg.env.name == "pendulum"
    assert cfg.agent.factory == "agents.sb3:TD3" and cfg.agent.name == "td3"


def test_overrides_take_the_defaults_types():
    cfg = config.compose(["total_timesteps=1e4", "agent.learning_rate=1", "agent.clip_range=0.1"])
    assert cfg.total_timesteps == 10000 and isinstance(cfg.total_timesteps, int)
    assert cfg.agent.learning_rate == 1.0 and isinstance(cfg.agent.learning_rate, float)


def test_a_constructor_argument_missing_from_the_yaml_can_still_be_set():
    cfg = config.compose(["agent=ppo", "agent.target_kl=0.02"])
    assert cfg.agent.target_kl == 0.02
    assert "target_kl" in config.agent_hyperparameters(cfg)
    assert "factory" not in config.agent_hyperparameters(cfg)


def test_env_shorthand_sets_a_constructor_argument_the_env_config_lists():
    cfg = config.compose(["env=market_making", "env.clock=time", "env.kwargs.reward=pnl"])
    assert cfg.env.kwargs.clock == "time" and cfg.env.kwargs.reward == "pnl" and "clock" not in cfg.env
    with pytest.raises(UserError, match="env.kwargs.<name>"):
        config.compose(["env=market_making", "env.no_such_argument=1"])


def test_a_non_integral_float_for_an_integer_is_refused():
    with pytest.raises(UserError, match="wrong type for seed: expected an integer, got 1.5"):
        config.compose(["seed=1.5"])


def test_sweeps_expand_to_the_cartesian_product():
    jobs = config.expand_sweeps(["seed=0,1,2", "agent=ppo,a2c", "n_envs=2"])
    assert len(jobs) == 6
    assert ["seed=2", "agent=a2c", "n_envs=2"] in jobs
    assert len({tuple(job) for job in jobs}) == 6


def test_a_sweep_without_multirun_is_refused():
    with pytest.raises(UserError, match="is a sweep; run several values with `rlkit train -m`"):
        config.compose(["seed=0,1"])


@given(st.integers(min_value=-10**9, max_value=10**9))
def test_integers_round_trip_through_checked_value(number):
    assert config.checked_value("seed", number, 0) == number
    assert config.checked_value("seed", float(number), 0) == number
    assert config.checked_value("lr", number, 0.5) == float(number)


@given(st.text(min_size=1).filter(lambda s: s.strip() != ""))
def test_text_for_a_number_is_always_refused(text):
    with pytest.raises(UserError, match="wrong type for x"):
        config.checked_value("x", text, 1.0)


@pytest.mark.parametrize("name", catalogue.entry_names("agent"))
def test_every_agent_config_resolves_and_an_unknown_key_lists_the_constructors_keys(name):
    cfg = config.compose([f"agent={name}"])
    agent_class = catalogue.resolve_factory(cfg.agent.factory)
    real = catalogue.hyperparameter_names(agent_class)
    set_here = set(config.agent_hyperparameters(cfg))
    assert set_here <= real, f"{name}.yaml sets {sorted(set_here - real)}, which {agent_class.__name__}() does not name"
    with pytest.raises(UserError, match=f"agent {name} has no hyper-parameter 'no_such_key'") as refused:
        config.compose([f"agent={name}", "agent.no_such_key=1"])
    assert str(refused.value).split("; allowed: ")[1].split(", ") == sorted(real)
    for key in sorted(set_here):
        if len(key) > 5:  # a misspelt key the config sets is answered with the key
            with pytest.raises(UserError, match=f"did you mean [^?]*\\b{key}\\b"):
                config.compose([f"agent={name}", f"agent.{key[:-1]}=1"])


@pytest.mark.parametrize("name", catalogue.entry_names("env"))
def test_every_env_config_resolves_to_constructor_arguments(name):
    cfg = config.compose([f"env={name}"])
    assert set(cfg.env.kwargs) <= constructor_arguments(cfg.env.id), f"{name}.yaml sets an argument {cfg.env.id} does not take"
    with pytest.raises(UserError, match=f"env {name} takes: env.id, env.kwargs"):
        config.compose([f"env={name}", "env.no_such_key=1"])


@pytest.mark.parametrize(("overrides", "run_dir"), [(["hydra.run.dir=out/one"], "out/one"),
                                                    (["hydra.job.chdir=false"], None),
                                                    (["hydra.run.dir=a", "run_dir=b"], "b")])
def test_hydras_directory_settings_are_read_as_rlkits(overrides, run_dir):
    assert config.compose(overrides).run_dir == run_dir


def test_hydras_sweep_dir_is_the_multiruns_directory(tmp_path):
    from rlkit.multirun import multirun

    listed = []
    multirun(["seed=0,1", f"hydra.sweep.dir={tmp_path}/sweep"], print_config=True, announce=listed.append)
    assert len(listed) == 2 and all(f"run_dir: {tmp_path}/sweep" in text for text in listed)


@pytest.mark.parametrize(("override", "multirun", "answer"), [
    ("hydra/sweeper=optuna", True, "sweeper and launcher plugins do not run under rlkit.*backend=ray ray.scheduler=asha"),
    ("hydra.sweeper.n_trials=20", True, "plugins do not run.*ray.scheduler=asha"),
    ("hydra/launcher=submitit_slurm", True, "plugins do not run.*backend=ray ray.address=<host:port>"),
    ("hydra/launcher=ray", False, "plugins do not run.*backend=ray ray.address=<host:port>"),
    ("hydra.job.chdir=true", False, "never changes the working directory.*run_dir=<dir>"),
    ("hydra.run.dir=out", True, "under -m the runs go under hydra.sweep.dir=<dir> \\(rlkit: run_dir=<dir>"),
    ("hydra.sweep.dir=out", False, "names a multirun's directory.*for one run use run_dir=<dir>"),
    ("hydra.mode=MULTIRUN", False, "use rlkit train -m"),
    ("+hydra.verbose=true", False, "rlkit reads hydra.run.dir \\(run_dir=\\), hydra.sweep.dir"),
])
def test_other_hydra_settings_are_refused_naming_the_rlkit_way(override, multirun, answer):
    with pytest.raises(UserError, match=answer):
        if multirun:
            config.compose(config.expand_sweeps(["seed=0,1", override])[0], multirun=True)
        else:
            config.compose([override])


@pytest.mark.parametrize("sweep", ["agent.learning_rate=interval(1e-5,1e-2)",
                                   "agent.learning_rate=tag(log,interval(1e-5,1e-2))"])
def test_a_search_space_sweep_is_refused_naming_ray_tune(sweep):
    for attempt in (lambda: config.expand_sweeps([sweep]), lambda: config.compose([sweep])):
        with pytest.raises(UserError, match="lists .* and range\\(...\\) sweeps; to stop weak trials early"):
            attempt()
