"""The command line: help, the catalogue, and bad input that ends in one clear message (exit 2)."""

import subprocess
import sys

import pytest

from rlkit import catalogue


def test_help_names_every_command(cli):
    code, out, _ = cli("--help")
    assert code == 0
    for command in ("train", "evaluate", "list", "bench"):
        assert f"\n  {command}" in out


def test_train_help_shows_groups_and_options(cli):
    code, out, _ = cli("train", "--help")
    assert code == 0
    for name in catalogue.entry_names("env") + catalogue.entry_names("agent"):
        assert f"    {name} " in out
    for option in ("total_timesteps:", "n_envs:", "eval:", "checkpoint:", "device:", "resume:"):
        assert option in out


def test_list_prints_each_env_agent_and_bench_suite_on_one_line(cli):
    code, out, _ = cli("list")
    assert code == 0
    lines = out.splitlines()
    for group in ("env", "agent", "bench"):
        for name in catalogue.entry_names(group):
            assert sum(line.split()[:2] == [group, name] for line in lines) == 1
    assert sum(line.startswith("agent ") for line in lines) == len(catalogue.entry_names("agent"))
    assert sum(line.startswith("bench ") for line in lines) == len(catalogue.entry_names("bench"))
    yann_latency = next(line for line in lines if line.split()[:2] == ["bench", "yann_latency"])
    assert "rlkit.bench.yann_latency:run" in yann_latency
    assert catalogue.entry_description("bench", "yann_latency") in yann_latency


def test_bench_help_lists_the_suites_and_a_suite_its_options(cli):
    code, out, _ = cli("bench", "--help")
    assert code == 0 and ", ".join(catalogue.entry_names("bench")) in out
    code, out, _ = cli("bench", "overhead", "--help")
    assert code == 0
    assert "usage: rlkit bench overhead [key=value ...]" in out
    assert "\n  steps=8192\n" in out and "\n  runs_root=runs" in out


def test_cfg_prints_resolved_config_with_overrides(cli):
    code, out, _ = cli("train", "--cfg", "env=Pendulum-v1", "agent=sac", "agent.learning_rate=1e-3",
                       "agent.policy_kwargs.net_arch=[64,64]", "n_envs=8", "eval.every=500")
    assert code == 0
    assert "id: Pendulum-v1" in out and "learning_rate: 0.001" in out
    assert "net_arch:\n    - 64\n    - 64" in out and "n_envs: 8" in out and "every: 500" in out


@pytest.mark.parametrize(
    "args, expected",
    [
        (["train", "env=NoSuchEnv-v0"], "unknown env 'NoSuchEnv-v0'"),
        (["train", "agent=dqnn"], "unknown agent 'dqnn' (did you mean dqn, er_dqn?); allowed: a2c"),
        (["train", "learning_rate=1e-3"], "unknown override key 'learning_rate'; allowed:"),
        (["train", "agent.lr=1e-3"], "agent ppo has no hyper-parameter 'lr'"),
        (["train", "seed=three"], "wrong type for seed: expected an integer, got 'three'"),
        (["train", "agent.learning_rate=fast"], "wrong type for agent.learning_rate: expected a number"),
        (["train", "agent.policy_kwargs.net_arch=64"], "expected a list"),
        (["train", "device=tpu"], "device='tpu' is not allowed; allowed: auto, cpu, cuda"),
        (["train", "n_envs=0"], "n_envs must be at least 1"),
        (["train", "seed"], "expected key=value overrides"),
        (["train", "--fast"], "unknown option '--fast'"),
        (["train", "resume=/no/such/run"], "is not an rlkit run directory"),
        (["train", "env=Pendulum-v1", "agent=dqn", "progress_bar=false"],
         "agent dqn cannot act in env Pendulum-v1: the action space is Box"),
        (["evaluate", "run=/no/such/run"], "run directory /no/such/run does not exist"),
        (["evaluate"], "evaluate needs run=<run directory>"),
        (["bench", "no_such_suite"], "unknown benchmark suite 'no_such_suite'; allowed: control_throughput, "),
        (["bench", "overheat"], "unknown benchmark suite 'overheat' (did you mean overhead?); allowed: "),
        (["bench"], "name a suite: rlkit bench <suite> [key=value ...]; suites: control_throughput, "),
        (["bench", "overhead", "--fast"], "unknown option '--fast'; allowed: -h, --help"),
        (["bench", "overhead", "steps=many"], "wrong type for steps"),
        (["fly"], "unknown command 'fly'"),
    ],
)
def test_bad_input_is_one_clear_message_and_exit_code_2(cli, args, expected):
    code, _, err = cli(*args)
    assert code == 2
    assert expected in err
    assert "Traceback" not in err


def test_dqn_refusal_names_the_agents_that_can_act(cli):
    _, _, err = cli("train", "env=Pendulum-v1", "agent=dqn")
    # not the MPC agents (no plant model), not the discrete-only DQNs
    assert "agents that can: a2c, ddpg, ppo, rllib_appo, rllib_impala, rllib_ppo, rllib_sac, sac, td3" in err


def test_resume_of_a_run_without_checkpoint_is_refused(cli, tmp_path):
    run = tmp_path / "incomplete"
    (run / ".hydra").mkdir(parents=True)
    code, out, _ = cli("train", "--cfg", "total_timesteps=500", f"run_dir={run}")
    (run / ".hydra" / "config.yaml").write_text(out)
    code, _, err = cli("train", f"resume={run}", "total_timesteps=1000")
    assert code == 2
    assert "has no latest checkpoint" in err


def test_installed_console_script_exits_2_without_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "rlkit", "train", "env=NoSuchEnv-v0"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.startswith("rlkit: error: unknown env 'NoSuchEnv-v0'")
    assert "Traceback" not in result.stderr


def test_cuda_without_a_gpu_is_refused():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    from rlkit.config import compose
    from rlkit.errors import UserError

    with pytest.raises(UserError, match="device=cuda but torch sees no CUDA device"):
        compose(["device=cuda"])


def test_a_corrupt_agent_file_is_a_clear_error(cli, train_run):
    from fast_settings import FAST_PPO

    run = train_run("env=CartPole-v1", *FAST_PPO, "total_timesteps=64", "eval.every=0")
    (run / "checkpoints" / "latest" / "agent.zip").write_bytes(b"not a zip file")
    code, _, err = cli("evaluate", f"run={run}", "checkpoint=latest")
    assert code == 2 and "cannot load the agent from" in err and "agent.zip" in err
    code, _, err = cli("evaluate", f"run={run}", "checkpoint=newest")
    assert code == 2 and "checkpoint='newest' is not allowed; allowed: latest, best" in err


def test_an_env_refusing_a_value_is_one_line_naming_what_is_allowed(cli, runs_root):
    code, _, err = cli("train", "env=football", "env.scenario=academy_nope", "agent=dqn", f"runs_root={runs_root}")
    assert code == 2 and "unknown scenario 'academy_nope'; allowed: academy_empty_goal_close" in err
    assert "Traceback" not in err and not runs_root.exists()


def test_the_real_football_engine_missing_points_at_its_install_recipe(cli, runs_root):
    import importlib.util

    if importlib.util.find_spec("gfootball") is not None:
        pytest.skip("gfootball is installed here")
    code, _, err = cli("train", "env=football", "env.backend=grf", "agent=dqn", f"runs_root={runs_root}")
    assert code == 2 and "gfootball" in err and "rlkit[grf]" in err and not runs_root.exists()
