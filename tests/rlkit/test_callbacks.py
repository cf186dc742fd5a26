"""The NaN guard: bad losses or weights stop a run before they reach a checkpoint."""

import math

import gymnasium as gym
import torch
from stable_baselines3.common.logger import Logger

from agents.sb3 import PPO
from rlkit.callbacks import RunMonitor, non_finite_parameters
from rlkit.rundir import RunDirectory


def monitor_for(agent, tmp_path) -> RunMonitor:
    monitor = RunMonitor(RunDirectory(tmp_path), gym.make("CartPole-v1"), eval_every=0, eval_episodes=1,
                         eval_seed=0, deterministic=True, checkpoint_every=0, checkpoint_replay_buffer=False)
    agent.set_logger(Logger(folder=None, output_formats=[]))
    monitor.init_callback(agent)
    monitor.on_training_start({}, {})
    return monitor


def small_ppo():
    return PPO("MlpPolicy", gym.make("CartPole-v1"), n_steps=16, batch_size=16, seed=0, device="cpu",
               policy_kwargs={"net_arch": [8]})


def test_a_nan_loss_stops_the_run_at_the_next_step_and_writes_no_checkpoint_after_it(tmp_path):
    agent = small_ppo()
    monitor = monitor_for(agent, tmp_path)
    agent.logger.record("train/value_loss", math.nan)
    monitor.on_rollout_start()
    assert monitor.stop_reason == "train/value_loss became nan at step 0"
    assert monitor.on_step() is False
    monitor.on_training_end()
    # only the checkpoint written at the start of training, before any update
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["latest", "step-000000000000"]


def test_a_nan_diagnostic_is_not_a_nan_loss(tmp_path):
    agent = small_ppo()
    monitor = monitor_for(agent, tmp_path)
    agent.logger.record("train/explained_variance", math.nan)  # SB3: NaN when returns are constant
    monitor.on_rollout_start()
    assert monitor.stop_reason is None and monitor.on_step() is True


def test_poisoned_weights_are_found_and_never_checkpointed(tmp_path):
    agent = small_ppo()
    assert non_finite_parameters(agent) == []
    monitor = monitor_for(agent, tmp_path)
    assert monitor.save_checkpoint() is True
    with torch.no_grad():
        next(agent.policy.parameters())[0, 0] = math.inf
    assert non_finite_parameters(agent) == ["policy.mlp_extractor.policy_net.0.weight"]
    assert monitor.save_checkpoint() is False
    assert "NaN or infinity in the agent's weights" in monitor.stop_reason
    assert [p.name for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith("step-")] == ["step-000000000000"]
