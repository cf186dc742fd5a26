"""RLlib agents behind the rlkit contract, on a real local Ray (2 CPUs) shared by this module."""

from __future__ import annotations

import os
import signal
import time

import gymnasium as gym
import numpy as np
import pytest
import ray
import torch

from agents.base import can_act_in
from agents.rllib.agent import MODULE_ID, RLlibAPPO, RLlibDQN, RLlibIMPALA, RLlibPPO, RLlibSAC, flatten

SMALL_PPO = {"train_batch_size_per_learner": 200, "minibatch_size": 100, "num_epochs": 1}


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_action_spaces_follow_rllib():
    box, discrete = gym.spaces.Box(-1, 1, (2,)), gym.spaces.Discrete(3)
    multi = gym.spaces.MultiDiscrete([3, 3])
    assert not can_act_in(RLlibDQN, box) and can_act_in(RLlibDQN, discrete)
    assert can_act_in(RLlibSAC, box) and can_act_in(RLlibSAC, discrete) and not can_act_in(RLlibSAC, multi)
    for agent_class in (RLlibPPO, RLlibAPPO, RLlibIMPALA):
        assert all(can_act_in(agent_class, space) for space in (box, discrete, multi))


def test_env_not_made_by_gymnasium_make_is_refused():
    from gymnasium.envs.classic_control.cartpole import CartPoleEnv

    with pytest.raises(ValueError, match="not made by gymnasium.make"):
        RLlibPPO(CartPoleEnv())


def test_bad_settings_fail_before_any_worker_starts():
    env = gym.make("CartPole-v1")
    with pytest.raises(ValueError, match="unknown training setting"):
        RLlibPPO(env, training={"no_such_setting": 1})
    with pytest.raises(ValueError, match="num_env_runners must be an integer >= 0"):
        RLlibPPO(env, num_env_runners=-1)
    with pytest.raises(ValueError, match="unknown model setting"):
        RLlibPPO(env, model={"fcnet_widths": [8]})


@pytest.mark.parametrize("agent_class", [RLlibAPPO, RLlibIMPALA])
def test_untrained_agent_predicts_valid_actions_without_workers(agent_class):
    env = gym.make("CartPole-v1")
    agent = agent_class(env)
    obs = np.stack([env.reset(seed=i)[0] for i in range(4)])
    actions, state = agent.predict(obs)
    assert state is None and actions.shape == (4,) and set(actions.tolist()) <= {0, 1}
    assert agent._algo is None  # no Algorithm, so no env runner, was built


def test_ppo_learns_saves_and_loads_the_same_policy(tmp_path):
    env = gym.make("CartPole-v1")
    agent = RLlibPPO(env, num_env_runners=1, seed=3, training=SMALL_PPO)
    before = {k: v.clone() for k, v in agent.get_parameters()["rl_module"].items()}
    agent.learn(400)
    assert agent.num_timesteps >= 400 and agent.iterations >= 2
    after = agent.get_parameters()["rl_module"]
    assert any(not torch.equal(before[k], after[k]) for k in before)  # training changed the weights
    obs = np.stack([env.reset(seed=i)[0] for i in range(16)])
    actions = agent.predict(obs)[0]
    agent.save(tmp_path / "agent")
    loaded = RLlibPPO.load(tmp_path / "agent.zip")
    assert np.array_equal(loaded.predict(obs)[0], actions)
    assert loaded.num_timesteps == agent.num_timesteps and loaded._algo is None  # restored lazily
    assert loaded.predict(obs[0])[0] == actions[0]  # a single observation gives a single action
    saved = {k: v.clone() for k, v in agent._algo.learner_group._learner.module[MODULE_ID].state_dict().items()}
    iteration = agent._algo.iteration
    agent.close()
    agent.save(tmp_path / "closed")  # after close: the state taken at close
    assert np.array_equal(RLlibPPO.load(tmp_path / "closed.zip").predict(obs)[0], actions)
    # continuing: the Algorithm starts from the saved state (weights, iteration), the counter goes on
    algo = loaded._algorithm()
    restored = algo.learner_group._learner.module[MODULE_ID].state_dict()
    assert all(torch.equal(saved[k], restored[k]) for k in saved) and algo.iteration == iteration
    assert np.array_equal(loaded.predict(obs)[0], actions)  # the env runner's module got the weights too
    loaded.learn(200, reset_num_timesteps=False)
    assert loaded.num_timesteps >= agent.num_timesteps + 200
    loaded.close()


def test_load_refuses_other_files(tmp_path):
    import zipfile

    from agents.checkpoint import OlderCheckpointError

    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a saved rlkit agent"):
        RLlibPPO.load(tmp_path / "junk.zip")
    with zipfile.ZipFile(tmp_path / "older.zip", "w") as archive:  # what rlkit wrote before: pickles inside
        archive.writestr("rlkit_agent.json", "{}")
        archive.writestr("algorithm/class_and_ctor_args.pkl", b"\x80\x04N.")
    with pytest.raises(OlderCheckpointError, match="older rlkit"):
        RLlibPPO.load(tmp_path / "older.zip")
    RLlibAPPO(gym.make("CartPole-v1")).save(tmp_path / "appo.zip")
    with pytest.raises(ValueError, match="holds a RLlibAPPO, not a RLlibPPO"):
        RLlibPPO.load(tmp_path / "appo.zip")


def test_unknown_hyperparameters_are_answered_with_the_real_ones():
    from agents.rllib.gnn_module import RLlibGNNPPO
    from rlkit.catalogue import hyperparameter_names

    env = gym.make("CartPole-v1")
    with pytest.raises(ValueError, match=r"RLlibPPO: unknown hyper-parameter\(s\) \['lr'\]; allowed: .*training"):
        RLlibPPO(env, lr=1e-3)
    assert {"gnn", "head_hiddens", "training"} <= hyperparameter_names(RLlibGNNPPO)
    # the Ray settings are constructor arguments the host fills from ray.<name>, not agent.<name>
    assert "num_env_runners" in RLlibPPO.ray_settings and not set(RLlibPPO.ray_settings) & hyperparameter_names(RLlibPPO)


def test_an_untrained_agent_round_trips_without_an_algorithm(tmp_path):
    import zipfile

    env = gym.make("CartPole-v1")
    agent = RLlibPPO(env, seed=5, num_env_runners=0, model={"fcnet_hiddens": [8]})
    obs = np.stack([env.reset(seed=i)[0] for i in range(8)])
    agent.save(tmp_path / "agent")
    with zipfile.ZipFile(tmp_path / "agent.zip") as archive:  # tensors and JSON only, no pickle
        assert sorted(archive.namelist()) == ["meta.json", "tensors.safetensors"]
    loaded = RLlibPPO.load(tmp_path / "agent.zip", env=env)
    assert loaded.hyperparameters == agent.hyperparameters and loaded.seed == 5
    assert np.array_equal(loaded.predict(obs)[0], agent.predict(obs)[0])
    assert loaded._algo is None and agent._algo is None
    # an Algorithm built later starts from the saved weights, not from fresh ones
    saved = agent._inference_module().state_dict()
    learner = loaded._algorithm().learner_group._learner.module[MODULE_ID].state_dict()
    assert all(torch.equal(saved[k], learner[k]) for k in saved)
    loaded.close()


def test_sac_actions_are_the_module_output_mapped_to_the_bounds():
    env = gym.make("Pendulum-v1")  # actions in [-2, 2]
    agent = RLlibSAC(env, num_env_runners=0)
    obs = np.stack([env.reset(seed=i)[0] for i in range(32)]).astype(np.float32)
    actions = agent.predict(obs)[0]
    module = agent._inference_module()
    with torch.no_grad():
        logits = module.forward_inference({"obs": torch.as_tensor(obs)})["action_dist_inputs"]
    squashed = np.tanh(logits[:, :1].numpy())  # the deterministic action: tanh of the mean, in [-1, 1]
    assert np.allclose(actions, 2.0 * squashed, atol=1e-5)  # unsquashed from [-1, 1] to [-2, 2]
    assert actions.shape == (32, 1) and np.all(np.abs(actions) <= 2.0)


def test_dqn_learns_one_iteration_greedy_actions(tmp_path):
    from stable_baselines3.common.callbacks import BaseCallback

    class Recorder(BaseCallback):
        def __init__(self):
            super().__init__()
            self.events = []

        def _on_rollout_start(self):
            self.events.append("rollout_start")

        def _on_step(self):
            self.events.append(("step", self.model.num_timesteps, self.logger.name_to_value.get("time/iterations")))
            return True

        def _on_rollout_end(self):
            self.events.append("rollout_end")

    env = gym.make("CartPole-v1")
    agent = RLlibDQN(env, num_env_runners=0, training={"num_steps_sampled_before_learning_starts": 32,
                                                       "train_batch_size_per_learner": 16})
    recorder = Recorder()
    agent.learn(64, callback=recorder, progress_bar=True)
    assert agent.iterations >= 1 and len(recorder.events) == 3 * agent.iterations  # one round per iteration
    assert recorder.events[:3] == ["rollout_start", ("step", recorder.events[1][1], 1.0), "rollout_end"]
    assert 0 < recorder.events[1][1] <= agent.num_timesteps
    # DQN's module holds target networks the inference module has not: the round trip still agrees
    agent.save(tmp_path / "dqn")
    loaded = RLlibDQN.load(tmp_path / "dqn.zip", env=env)
    obs = np.stack([env.reset(seed=i)[0] for i in range(8)])
    module = agent._inference_module()
    with torch.no_grad():
        q = module.compute_q_values({"obs": torch.as_tensor(obs)})["qf_preds"].numpy()
    assert np.array_equal(agent.predict(obs)[0], q.argmax(-1))
    assert np.array_equal(loaded.predict(obs)[0], q.argmax(-1))
    agent.close()


def test_a_killed_env_runner_is_restarted_and_training_goes_on():
    env = gym.make("CartPole-v1")
    agent = RLlibPPO(env, num_env_runners=2, env_runner_restart_delay_s=0.5, training=SMALL_PPO)
    agent.learn(200)
    algo = agent._algo
    pids = algo.env_runner_group.foreach_env_runner(lambda _: os.getpid(), local_env_runner=False)
    assert len(set(pids)) == 2
    os.kill(pids[0], signal.SIGKILL)
    deadline, healthy, restarts = time.monotonic() + 90, 0, 0
    steps_before = agent.num_timesteps
    while time.monotonic() < deadline and not (healthy == 2 and restarts >= 1):
        agent.learn(200, reset_num_timesteps=False)  # never raises: RLlib samples with the survivor
        result = flatten(algo.train())
        healthy = result["fault_tolerance/num_healthy_workers"]
        restarts = result["fault_tolerance/num_remote_worker_restarts"]
    assert healthy == 2 and restarts >= 1
    assert agent.num_timesteps > steps_before
    new_pids = algo.env_runner_group.foreach_env_runner(lambda _: os.getpid(), local_env_runner=False)
    assert pids[0] not in new_pids and len(set(new_pids)) == 2
    agent.close()


def test_gnn_module_on_the_football_graph():
    import envs  # noqa: F401
    from agents.rllib.gnn_module import GNNPPOModule, RLlibGNNPPO

    env = gym.make("rlkit/Football-v0", representation="graph", n_controlled=2)
    agent = RLlibGNNPPO(env, num_env_runners=0, hidden=16, gnn="gat", heads=2,
                        training={"train_batch_size_per_learner": 100, "minibatch_size": 50, "num_epochs": 1})
    module = agent._inference_module()
    assert isinstance(module, GNNPPOModule)
    obs = np.stack([env.reset(seed=i)[0] for i in range(5)])
    actions = agent.predict(obs)[0]
    assert actions.shape == (5, 2) and env.action_space.contains(actions[0])
    values = module.compute_values({"obs": torch.as_tensor(obs)})
    assert values.shape == (5,)
    with torch.no_grad():  # each player's graph is encoded on its own, by the same GNN
        embeddings = module._embed(torch.as_tensor(obs))
        assert torch.allclose(embeddings[:, 1], module.encoder(torch.as_tensor(obs[:, 1])), atol=1e-6)
    agent.learn(100)
    assert agent.num_timesteps >= 100
    agent.close()
    with pytest.raises(ValueError, match="graph observations"):
        RLlibGNNPPO(gym.make("CartPole-v1"))


def test_env_runners_step_the_batched_engine_when_the_env_has_one():
    import envs  # noqa: F401
    from agents.rllib import envs as rllib_envs
    from envs.football.vector import FootballVectorEnv

    env = gym.make("rlkit/Football-v0", scenario="academy_empty_goal_close")
    assert rllib_envs.vectorize_mode(env.spec) == "vector_entry_point"
    assert rllib_envs.vectorize_mode(gym.make("CartPole-v1").spec) == "sync"
    made = rllib_envs.make_from_spec({**rllib_envs.env_config(env.spec), "num_envs": 4})
    assert isinstance(made, FootballVectorEnv) and made.num_envs == 4
    assert made.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP  # what RLlib's runners expect

    agent = RLlibPPO(env, num_env_runners=0, num_envs_per_env_runner=8, seed=1,
                     training={"train_batch_size_per_learner": 256, "minibatch_size": 128, "num_epochs": 1})
    agent.learn(256)
    runner_env = agent._algo.env_runner.env.unwrapped
    assert isinstance(runner_env, FootballVectorEnv) and runner_env.num_envs == 8
    assert agent.num_timesteps >= 256
    agent.close()
