"""The football graph network as an RLlib RLModule (new API stack), and the agent that trains it.

:class:`GNNPPOModule` encodes a graph observation ``[B, nodes, features]`` (the football env's
``representation=graph``) with :class:`agents.gnn_dqn.networks.GNNFeaturesExtractor` -- the same
dense GCN/GAT layers and readout the SB3 GNN-DQN uses -- and puts a policy head and a value head on
the shared embedding, so PPO, APPO and IMPALA (which all need a value function) can train it.
:class:`RLlibGNNPPO` is PPO with that module (``agent=rllib_gnn_ppo``).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from ray.rllib.core.columns import Columns
from ray.rllib.core.distribution.torch.torch_distribution import TorchMultiCategorical
from ray.rllib.core.rl_module.apis import ValueFunctionAPI
from ray.rllib.core.rl_module.torch.torch_rl_module import TorchRLModule
from torch import nn

from agents.gnn_dqn.networks import GNNFeaturesExtractor, check_gnn_options
from agents.rllib.agent import RLlibAgent

GNN_OPTIONS = ("gnn", "edges", "radius", "k", "hidden", "layers", "heads", "root_weight")


class GNNPPOModule(TorchRLModule, ValueFunctionAPI):
    """Policy and value heads on a GNN encoder of the football graph.

    Observations are one graph ``[nodes, features]`` per step, or one per controlled player
    ``[players, nodes, features]`` with a MultiDiscrete action per player: each player's graph is
    encoded by the same GNN and gets its own logits from the same policy head; the value is the
    mean of the players' values.

    ``model_config``: the GNN options of :class:`GNNFeaturesExtractor` (``gnn``, ``edges``,
    ``radius``, ``k``, ``hidden``, ``layers``, ``heads``, ``root_weight``) and ``head_hiddens``, the
    widths of the policy and value MLPs on the ``3 * hidden`` embedding.
    """

    def setup(self) -> None:
        config = dict(self.model_config or {})
        shape = self.observation_space.shape
        graph_space = gym.spaces.Box(-np.inf, np.inf, shape[-2:], np.float32)
        self.encoder = GNNFeaturesExtractor(graph_space, **{k: config[k] for k in GNN_OPTIONS if k in config})
        widths = [self.encoder.features_dim, *config.get("head_hiddens", [64])]
        if isinstance(self.action_space, spaces.MultiDiscrete):
            choices = {int(n) for n in self.action_space.nvec}
            if len(choices) != 1 or len(shape) != 3 or shape[0] != len(self.action_space.nvec):
                raise ValueError(f"a MultiDiscrete action needs one graph per player of the same action set; "
                                 f"got observations {shape} and actions {self.action_space}")
            n_outputs = choices.pop()
            self.action_dist_cls = TorchMultiCategorical.get_partial_dist_cls(
                input_lens=[n_outputs] * len(self.action_space.nvec))
        else:
            n_outputs = int(self.action_space.n)

        def head(outputs: int) -> nn.Sequential:
            layers: list[nn.Module] = []
            for a, b in zip(widths, widths[1:]):
                layers += [nn.Linear(a, b), nn.ReLU()]
            return nn.Sequential(*layers, nn.Linear(widths[-1], outputs))

        self.pi = head(n_outputs)
        self.vf = head(1)

    def _embed(self, obs: torch.Tensor) -> torch.Tensor:
        """``[B, 3 * hidden]`` for one graph per step, ``[B, players, 3 * hidden]`` for several."""
        if obs.dim() == 4:
            batch, players = obs.shape[:2]
            return self.encoder(obs.reshape(batch * players, *obs.shape[2:])).reshape(batch, players, -1)
        return self.encoder(obs)

    def _logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        logits = self.pi(embeddings)
        return logits.flatten(1) if logits.dim() == 3 else logits  # players' logits side by side

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {Columns.ACTION_DIST_INPUTS: self._logits(self._embed(batch[Columns.OBS]))}

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        embeddings = self._embed(batch[Columns.OBS])
        return {Columns.ACTION_DIST_INPUTS: self._logits(embeddings), Columns.EMBEDDINGS: embeddings}

    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        if embeddings is None:
            embeddings = self._embed(batch[Columns.OBS])
        values = self.vf(embeddings).squeeze(-1)
        return values.mean(-1) if values.dim() == 2 else values


class RLlibGNNPPO(RLlibAgent):
    """RLlib PPO with the football GNN as its RLModule (``agent=rllib_gnn_ppo``); the football env
    is built with its graph representation (``env_requirements``).

    Args (besides :class:`RLlibAgent`'s, but for ``model``: the module is this one):
        gnn: ``gcn`` or ``gat`` layers, as in :class:`agents.gnn_dqn.networks.GNNFeaturesExtractor`.
        edges: ``full``, ``radius`` or ``knn`` graph edges.
        radius: the edge radius of ``edges=radius``.
        k: the neighbours of ``edges=knn``.
        hidden: the GNN's width (the embedding is ``3 * hidden``).
        layers: GNN layers.
        heads: attention heads of ``gnn=gat``.
        root_weight: the GCN layers add a separate transform of each node's own features.
        head_hiddens: the policy and value MLP widths on the embedding (None: [64]).
    """

    env_requirements = {"representation": "graph"}

    algorithm = "PPO"
    supported_action_spaces = (spaces.Discrete, spaces.MultiDiscrete)

    def __init__(self, env: Any, seed: int = 0, device: str = "auto", verbose: int = 0, *, gnn: str = "gcn",
                 edges: str = "full", radius: float = 0.3, k: int = 6, hidden: int = 32, layers: int = 2,
                 heads: int = 4, root_weight: bool = True, head_hiddens: list[int] | None = None,
                 **kwargs: Any) -> None:
        if kwargs.get("model"):
            raise ValueError(f"rllib_gnn_ppo builds its own module, so it takes no model settings (got model="
                             f"{kwargs['model']!r}); set {', '.join(GNN_OPTIONS)} or head_hiddens instead")
        check_gnn_options(gnn, edges, radius, k, hidden, layers, heads)
        self.gnn_config = {"gnn": gnn, "edges": edges, "radius": float(radius), "k": int(k),
                           "hidden": int(hidden), "layers": int(layers), "heads": int(heads),
                           "root_weight": bool(root_weight), "head_hiddens": list(head_hiddens or [64])}
        super().__init__(env, seed, device, verbose, **kwargs)
        self.hyperparameters.pop("model")
        self.hyperparameters.update(self.gnn_config)

    @classmethod
    def check_env(cls, env: Any) -> None:
        super().check_env(env)
        shape = env.observation_space.shape
        if not isinstance(env.observation_space, spaces.Box) or len(shape or ()) not in (2, 3):
            raise ValueError(f"the GNN module needs graph observations of shape ([players,] nodes, features), got "
                             f"{env.observation_space}; use the football env with env.representation=graph")

    def _rl_module_settings(self) -> dict[str, Any]:
        from ray.rllib.core.rl_module.rl_module import RLModuleSpec

        return {"rl_module_spec": RLModuleSpec(module_class=GNNPPOModule, model_config=dict(self.gnn_config))}
