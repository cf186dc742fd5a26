"""The gnn_dqn and cnn_dqn agent configs build, through the host's own path, agents that train on
football-shaped observations (fake envs here: the graph Box and the SMM planes)."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import NatureCNN

from agents.gnn_dqn import GNNDQN
from agents.gnn_dqn.networks import DenseGATLayer
from rlkit.config import compose
from rlkit.errors import UserError
from random_env import RandomObservations
from rlkit.train import agent_class_for, build_agent

SMALL = ["agent.learning_starts=16", "agent.buffer_size=256", "agent.batch_size=8", "device=cpu"]


def graph_env() -> gym.Env:
    return RandomObservations(spaces.Box(-1.0, 1.0, (24, 16), np.float32), actions=19, rewarded_action=12, cut_every=20)


def smm_env() -> gym.Env:
    return RandomObservations(spaces.Box(0, 255, (72, 96, 4), np.uint8), actions=19, rewarded_action=12, cut_every=20)


def test_gnn_dqn_config_has_the_papers_optimiser_settings():
    agent = compose(["agent=gnn_dqn"]).agent
    assert agent.factory == "agents.gnn_dqn:GNNDQN"
    assert agent.learning_rate == 1e-4 and agent.max_grad_norm == 0.7
    assert (agent.gnn, agent.edges, agent.hidden, agent.layers) == ("gcn", "full", 32, 2)


@pytest.mark.parametrize("gnn", ["gcn", "gat"])
def test_gnn_dqn_config_builds_and_trains(gnn):
    cfg = compose(["agent=gnn_dqn", f"agent.gnn={gnn}", *SMALL])
    env = graph_env()
    agent = build_agent(agent_class_for(cfg, env), cfg, env)
    assert isinstance(agent, GNNDQN) and agent.max_grad_norm == 0.7
    assert isinstance(agent.q_net.features_extractor.layers[0], DenseGATLayer) == (gnn == "gat")
    agent.learn(40)
    actions, _ = agent.predict(np.stack([env.observation_space.sample() for _ in range(4)]))
    assert actions.shape == (4,)


def test_gnn_dqn_config_refuses_a_non_graph_env_and_bad_values():
    cfg = compose(["agent=gnn_dqn", *SMALL])
    with pytest.raises(UserError, match="use env.kwargs.representation=graph"):
        agent_class_for(cfg, smm_env())
    cfg = compose(["agent=gnn_dqn", "agent.edges=delaunay", *SMALL])
    with pytest.raises(UserError, match="unknown edges 'delaunay'; allowed: full, radius, knn"):
        build_agent(GNNDQN, cfg, graph_env())


def test_cnn_dqn_config_trains_a_nature_cnn_on_the_smm_planes():
    cfg = compose(["agent=cnn_dqn", *SMALL])
    env = smm_env()
    agent = build_agent(agent_class_for(cfg, env), cfg, env)
    assert isinstance(agent.q_net.features_extractor, NatureCNN)
    assert agent.observation_space.shape == (4, 72, 96)  # SB3 moved the channels first
    assert agent.replay_buffer.optimize_memory_usage
    assert agent.replay_buffer.observations.dtype == np.uint8
    agent.learn(40)
    observations = np.stack([env.observation_space.sample() for _ in range(3)])
    actions, _ = agent.predict(observations)  # channel-last observations, as the env gives them
    assert actions.shape == (3,)
    with torch.no_grad():
        q = agent.q_net(torch.as_tensor(observations).permute(0, 3, 1, 2).float())
    assert q.shape == (3, 19)
    # the default buffer: 20000 observations of 72 * 96 * 4 bytes, stored once
    assert compose(["agent=cnn_dqn"]).agent.buffer_size * 72 * 96 * 4 < 0.6e9


def test_cnn_dqn_refuses_an_env_without_image_observations_before_building():
    cfg = compose(["agent=cnn_dqn", *SMALL])
    with pytest.raises(UserError, match="cnn_dqn needs image observations.*representation=extracted"):
        agent_class_for(cfg, graph_env())
