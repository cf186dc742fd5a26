"""Every bad input ends in one line naming the problem and what is allowed, and exit code 2: null and
out-of-range values, a damaged saved config, a saved config naming a factory the catalogue does not,
and random override strings thrown at ``rlkit train --cfg`` and ``rlkit evaluate`` (hypothesis)."""

from __future__ import annotations

import contextlib
import io
import math
import shutil

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fast_settings import FAST_PPO, QUIET
from rlkit.cli import main


def run_cli(*args: str) -> tuple[int, str, str]:
    """``rlkit <args>`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def assert_one_line_exit_2(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rlkit: error: "), err
    for fragment in fragments:
        assert fragment in err, err


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One real, tiny PPO run on CartPole, made once for the module."""
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    code, _, err = run_cli("train", *QUIET, *FAST_PPO, "env=CartPole-v1", "total_timesteps=64", "eval.every=0",
                           f"run_dir={run_dir}")
    assert code == 0, err
    return run_dir


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_run, copy)
    return copy


# -- 1. null, out-of-range and stray values ------------------------------------------------------

@pytest.mark.parametrize("key, allowed", [
    ("seed", "an integer"), ("total_timesteps", "an integer"), ("n_envs", "an integer"),
    ("threads", "an integer"), ("eval.every", "an integer"), ("eval.episodes", "an integer"),
    ("checkpoint.every", "an integer"), ("eval.deterministic", "true or false"),
    ("progress_bar", "true or false"), ("device", "auto, cpu, cuda"),
])
def test_null_for_an_option_that_needs_a_value_is_refused(key, allowed):
    code, _, err = run_cli("train", "--cfg", f"{key}=null")
    assert_one_line_exit_2(code, err, f"{key}=null is not allowed", allowed)


@pytest.mark.parametrize("seed", ["-1", str(2**32), "9" * 30, "9" * 5000])
def test_a_seed_outside_what_numpy_takes_is_refused(seed):
    code, _, err = run_cli("train", "--cfg", f"seed={seed}")
    assert_one_line_exit_2(code, err)
    assert "0 to 4294967295" in err or "integers here are at most" in err


def test_the_largest_seed_numpy_takes_is_accepted():
    code, out, _ = run_cli("train", "--cfg", f"seed={2**32 - 1}")
    assert code == 0 and f"seed: {2**32 - 1}" in out


def test_a_group_cannot_be_replaced_as_a_whole():
    code, _, err = run_cli("train", "--cfg", "eval=null")
    assert_one_line_exit_2(code, err, "eval is a group of options", "eval.every")


def test_list_refuses_arguments():
    code, _, err = run_cli("list", "foo")
    assert_one_line_exit_2(code, err, "rlkit list takes no arguments, got 'foo'")


@pytest.mark.parametrize("option, expected", [
    ("episodes=null", "episodes=null is not allowed; allowed: an integer from 1 to"),
    ("episodes=0", "episodes must be from 1 to"),
    ("seed=-1", "seed=-1 is not allowed"),
    ("deterministic=null", "deterministic=null is not allowed; allowed: true or false"),
    ("checkpoint=null", "checkpoint=null is not allowed; allowed: latest, best"),
    ("device=gpu", "device='gpu' is not allowed; allowed: auto, cpu, cuda"),
])
def test_evaluate_refuses_bad_options(tiny_run, option, expected):
    code, _, err = run_cli("evaluate", f"run={tiny_run}", option)
    assert_one_line_exit_2(code, err, expected)


# -- 2. a run's saved config ----------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("", "is empty"),
    ("- 1\n- 2\n", "is a list"),
    ("seed: [\n", "is not a readable YAML config"),
    ("5\n", "is not a readable YAML config"),
    ("seed: 1\n", "has no agent or env section"),
])
def test_a_damaged_saved_config_is_one_line(run_copy, text, expected):
    (run_copy / ".hydra" / "config.yaml").write_text(text)
    for command in (("evaluate", f"run={run_copy}"), ("train", f"resume={run_copy}")):
        code, _, err = run_cli(*command)
        assert_one_line_exit_2(code, err, expected, "config.yaml")


@pytest.mark.parametrize("old, new, expected", [
    ("seed: 0", "seed: null", "seed=null is not allowed"),
    ("deterministic: true", "deterministic: null", "eval.deterministic=null is not allowed"),
    ("episodes: 2", "episodes: [1]", "wrong type for eval.episodes"),
    ("seed: 0", "seed: -5", "seed=-5 is not allowed"),
    ("runs_root: ", "runs_root: ${oc.env:HOME}  #", "runs_root='${oc.env:HOME}' is an interpolation"),
    ("seed: 0", "seed: ${nowhere}", "seed='${nowhere}' is an interpolation"),
])
def test_a_saved_config_with_bad_values_is_refused(run_copy, old, new, expected):
    path = run_copy / ".hydra" / "config.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    code, _, err = run_cli("evaluate", f"run={run_copy}")
    assert_one_line_exit_2(code, err, expected)


def test_a_saved_group_replaced_by_a_number_is_refused(run_copy):
    path = run_copy / ".hydra" / "config.yaml"
    path.write_text(path.read_text().replace("\neval:\n", "\neval: 3\nold_eval:\n", 1))
    code, _, err = run_cli("evaluate", f"run={run_copy}")
    assert_one_line_exit_2(code, err, "config.yaml")


def test_evaluate_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    code, _, err = run_cli("evaluate", f"run={tmp_path / 'f'}")
    assert_one_line_exit_2(code, err, "is not a directory")


def test_a_saved_factory_other_than_the_catalogues_is_never_imported(run_copy, monkeypatch):
    import sys

    path = run_copy / ".hydra" / "config.yaml"
    path.write_text(path.read_text().replace("factory: agents.sb3:PPO", "factory: antigravity:fly"))
    monkeypatch.delitem(sys.modules, "antigravity", raising=False)
    for command in (("evaluate", f"run={run_copy}"), ("train", f"resume={run_copy}")):
        code, _, err = run_cli(*command)
        assert_one_line_exit_2(code, err, "agent.factory='antigravity:fly' is not the catalogue's factory",
                               "agents.sb3:PPO")
    code, _, err = run_cli("certify", f"run={run_copy}")  # this run has no certificate to check first
    assert_one_line_exit_2(code, err)
    assert "antigravity" not in sys.modules


def test_a_saved_env_id_naming_a_module_is_refused(run_copy):
    path = run_copy / ".hydra" / "config.yaml"
    path.write_text(path.read_text().replace("id: CartPole-v1", "id: this:CartPole-v1"))
    code, _, err = run_cli("evaluate", f"run={run_copy}")
    assert_one_line_exit_2(code, err, "would import the module 'this'")


# -- 4. random overrides (hypothesis) --------------------------------------------------------------

HOST_KEYS = ["seed", "total_timesteps", "n_envs", "vec_env", "device", "threads", "progress_bar", "verbose",
             "eval", "eval.every", "eval.episodes", "eval.deterministic", "checkpoint", "checkpoint.every",
             "checkpoint.replay_buffer", "backend", "ray.num_cpus", "ray.scheduler", "ray.address",
             "ray.num_env_runners", "ray.trial_gpus", "ray.grace_period", "runs_root", "run_dir",
             "agent.learning_rate", "agent.n_steps", "agent.policy_kwargs", "agent.policy_kwargs.net_arch",
             "agent.policy_kwargs.net_arch.0", "agent.nope", "env.kwargs", "env.kwargs.x", "env.id", "seed.x",
             "eval.every.x", "hydra.run.dir", "hydra.job.chdir", "agent", "env"]

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-2**70, max_value=2**70),
    st.sampled_from([0, 1, -1, 2**31, 2**32 - 1, 2**32, 2**63, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["ppo", "dqn", "cartpole", "CartPole-v1", "Pendulum-v1", "cpu", "cuda", "ray", "best"]),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3),
                   st.dictionaries(st.text("abcxyz", min_size=1, max_size=3), scalars, max_size=2))


def render(value) -> str:
    """``value`` as a user would type it on a command line (Hydra's syntax)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ",".join(map(render, value)) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{render(v)}" for k, v in value.items()) + "}"
    return value.replace(":", "")  # a ':' in env= imports a module, as gymnasium.make does


override_texts = st.one_of(
    st.builds(lambda key, value: f"{key}={render(value)}", st.sampled_from(HOST_KEYS), values),
    st.text(max_size=20),  # anything at all, '=' or not
    st.builds(lambda key, value: f"{key}={value}", st.text(max_size=8),
              st.text(max_size=8).map(lambda s: s.replace(":", ""))),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(override_texts, min_size=1, max_size=3))
def test_train_cfg_answers_any_overrides_with_0_or_one_line_and_2(overrides):
    code, _, err = run_cli("train", "--cfg", *overrides)
    event(f"exit {code}")
    if code != 0:
        assert_one_line_exit_2(code, err)


def mostly(valid, invalid):
    """``valid`` three times in four: a run of several options then often reaches the replay."""
    return st.integers(0, 3).flatmap(lambda n: invalid if n == 0 else valid)


evaluate_values = {
    "episodes": mostly(st.integers(1, 2), st.one_of(st.integers(max_value=0), st.integers(min_value=10**6 + 1),
                                                    values)),
    "seed": mostly(st.integers(0, 2**32 - 1), st.one_of(st.integers(max_value=-1), st.integers(min_value=2**32),
                                                        values)),
    "checkpoint": mostly(st.sampled_from(["best", "latest"]), values),
    "deterministic": mostly(st.booleans(), values),
    "device": mostly(st.sampled_from(["cpu", "auto"]), values),
}


def _episodes_cheap(options: dict) -> bool:
    """Leave out valid episode counts above 2 (a long replay, not a bad input), as the parser reads them."""
    from rlkit.config import parse_overrides
    from rlkit.errors import UserError

    if "episodes" not in options:
        return True
    try:
        episodes = parse_overrides([f"episodes={render(options['episodes'])}"])[0].value()
    except UserError:
        return True
    if isinstance(episodes, float) and math.isfinite(episodes) and episodes.is_integer():
        episodes = int(episodes)
    return not (isinstance(episodes, int) and not isinstance(episodes, bool) and 2 < episodes <= 10**6)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.fixed_dictionaries({}, optional=evaluate_values).filter(_episodes_cheap))
def test_evaluate_answers_any_options_with_0_or_one_line_and_2(tiny_run, options):
    code, out, err = run_cli("evaluate", f"run={tiny_run}", *(f"{k}={render(v)}" for k, v in options.items()))
    event(f"exit {code}")
    if code == 0:
        assert "episodes (" in out
    else:
        assert_one_line_exit_2(code, err)
