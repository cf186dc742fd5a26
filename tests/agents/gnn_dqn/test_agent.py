"""GNNDQN: learns from graph observations, round-trips, keeps separate local and target GNNs,
and refuses bad hyper-parameters and non-graph envs with clear messages."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

from agents.base import Agent, incompatibility
from agents.gnn_dqn import GNNDQN
from agents.gnn_dqn.networks import GNNFeaturesExtractor

SHOT, RIGHT = 12, 5


class ShootOrRun(gym.Env):
    """One-step football-like task on the (24, 16) graph observation: the controlled player
    (column 9) should shoot (12) in the opponents' half (x > 0) and run right (5) in his own.
    1-3 left players, 0-2 right players, the ball and the global node are present."""

    observation_space = spaces.Box(-np.inf, np.inf, (24, 16), np.float32)
    action_space = spaces.Discrete(19)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        rng = self.np_random
        x = np.zeros((24, 16), np.float32)
        n_left, n_right = rng.integers(1, 4), rng.integers(0, 3)
        for i in [*range(n_left), *range(11, 11 + n_right)]:
            x[i, :2] = rng.uniform(-1, 1), rng.uniform(-0.42, 0.42)
            x[i, 5 if i < 11 else 6] = x[i, 15] = 1.0
        x[22, :2], x[22, 7], x[22, 15] = rng.uniform(-0.5, 0.5, 2), 1.0, 1.0
        x[23, 8] = x[23, 15] = 1.0
        x[rng.integers(0, n_left), 9] = 1.0
        self.observation = x
        return x, {}

    @staticmethod
    def best_action(observation):
        return SHOT if observation[np.argmax(observation[:, 9]), 0] > 0 else RIGHT

    def step(self, action):
        reward = float(action == self.best_action(self.observation))
        return self.observation, reward, True, False, {}


FAST = dict(buffer_size=2000, learning_starts=100, batch_size=32, train_freq=2, gradient_steps=1,
            target_update_interval=100, exploration_fraction=0.3, exploration_final_eps=0.05,
            hidden=16, policy_kwargs={"net_arch": [32]}, seed=0, device="cpu")


def held_out(count=300):
    env = ShootOrRun()
    observations = np.stack([env.reset(seed=10_000 + i)[0] for i in range(count)])
    return observations, np.array([ShootOrRun.best_action(o) for o in observations])


def q_values(agent, observations):
    with torch.no_grad():
        return agent.q_net(torch.as_tensor(observations)).numpy()


def test_gnn_dqn_learns_the_action_the_graph_shows():
    agent = GNNDQN(env=ShootOrRun(), gnn="gcn", learning_rate=1e-2, **FAST)
    assert isinstance(agent, Agent)
    agent.learn(1000)
    observations, best = held_out()
    actions, _ = agent.predict(observations, deterministic=True)
    assert (actions == best).mean() >= 0.9  # chance: 1/19


@pytest.mark.parametrize("gnn, edges", [("gcn", "knn"), ("gat", "radius")])
def test_save_load_round_trip_gives_identical_q_values(gnn, edges, tmp_path):
    agent = GNNDQN(env=ShootOrRun(), gnn=gnn, edges=edges, radius=0.5, k=2, heads=2,
                   **{**FAST, "learning_starts": 20})
    agent.learn(60)
    agent.save(tmp_path / "agent.zip")
    loaded = GNNDQN.load(tmp_path / "agent.zip", device="cpu")
    observations, _ = held_out(32)
    np.testing.assert_array_equal(q_values(loaded, observations), q_values(agent, observations))
    np.testing.assert_array_equal(loaded.predict(observations)[0], agent.predict(observations)[0])
    extractor = loaded.q_net.features_extractor
    assert isinstance(extractor, GNNFeaturesExtractor)
    assert (extractor.gnn, extractor.edges, extractor.k, extractor.radius) == (gnn, edges, 2, 0.5)
    assert (loaded.gnn, loaded.edges, loaded.heads) == (gnn, edges, 2)
    # with an env too, and the optimizer's state comes back as it was
    with_env = GNNDQN.load(tmp_path / "agent.zip", env=ShootOrRun(), device="cpu")
    np.testing.assert_array_equal(q_values(with_env, observations), q_values(agent, observations))
    saved, restored = agent.policy.optimizer.state_dict(), with_env.policy.optimizer.state_dict()
    assert saved["param_groups"] == restored["param_groups"] and saved["state"].keys() == restored["state"].keys()
    for index, values in saved["state"].items():
        for key, value in values.items():
            torch.testing.assert_close(restored["state"][index][key], value, rtol=0, atol=0)
    assert (with_env.num_timesteps, with_env._n_calls, with_env.exploration_rate) == (
        agent.num_timesteps, agent._n_calls, agent.exploration_rate)


def test_local_and_target_gnns_are_separate_and_synchronise_on_target_update():
    agent = GNNDQN(env=ShootOrRun(), learning_rate=1e-2, **{**FAST, "learning_starts": 20,
                                                           "target_update_interval": 10_000})
    local, target = agent.q_net, agent.q_net_target
    assert isinstance(local.features_extractor, GNNFeaturesExtractor)
    assert local.features_extractor is not target.features_extractor
    local_storage = {p.data_ptr() for p in local.parameters()}
    assert not local_storage & {p.data_ptr() for p in target.parameters()}
    gnn_weight = local.features_extractor.layers[0].weight
    target_weight = target.features_extractor.layers[0].weight
    torch.testing.assert_close(gnn_weight, target_weight)  # they start equal

    agent.learn(200)  # trains the local network; no target update within 10 000 steps
    assert not torch.equal(gnn_weight, target_weight)
    observations, _ = held_out(16)
    with torch.no_grad():
        target_q = target(torch.as_tensor(observations)).numpy()
    assert not np.array_equal(q_values(agent, observations), target_q)

    agent.target_update_interval = 1  # the next step is a target update (tau = 1: a copy)
    agent._on_step()
    for mine, theirs in zip(local.state_dict().values(), target.state_dict().values()):
        torch.testing.assert_close(mine, theirs)
    with torch.no_grad():
        gnn_weight.add_(1.0)  # still separate after the copy
    assert not torch.equal(gnn_weight, target_weight)


@pytest.mark.parametrize("options, message", [
    ({"gnn": "gin"}, "unknown gnn 'gin'; allowed: gcn, gat"),
    ({"edges": "delaunay"}, "unknown edges 'delaunay'; allowed: full, radius, knn"),
    ({"gnn": "gat", "hidden": 30, "heads": 4}, r"hidden \(30\) must be a multiple of heads \(4\)"),
    ({"layers": 0}, "layers must be an integer >= 1, got 0"),
    ({"policy": "CnnPolicy"}, "unknown policy 'CnnPolicy' for GNNDQN; allowed: MlpPolicy"),
])
def test_bad_hyperparameters_are_refused_by_name(options, message):
    with pytest.raises(ValueError, match=message):
        GNNDQN(env=ShootOrRun(), device="cpu", **options)


@pytest.mark.parametrize("space", [spaces.Box(-1, 1, (115,), np.float32),
                                   spaces.Box(0, 255, (72, 96, 4), np.uint8),
                                   spaces.Box(-1, 1, (2, 24, 16), np.float32),
                                   spaces.Dict({"ball": spaces.Box(-1, 1, (3,))})])
def test_a_non_graph_env_is_refused_with_the_fix(space):
    env = gym.make("CartPole-v1")
    env.observation_space = space
    reason = incompatibility(GNNDQN, env)
    assert reason is not None
    assert "Box of shape (24, 16)" in reason and "use env.kwargs.representation=graph" in reason
    with pytest.raises(ValueError, match="representation=graph"):
        GNNDQN(env=env, device="cpu")
    assert incompatibility(GNNDQN, ShootOrRun()) is None
