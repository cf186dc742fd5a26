"""The football graph network as an RLlib RLModule (new API stack), and the agent that trains it.

:class:`GNNPPOModule` encodes a graph observation ``[B, nodes, features]`` (the football env's
``representation=graph``) with :class:`agents.gnn_dqn.networks.GNNFeaturesExtractor` -- the same
dense GCN/GAT layers and readout the SB3 GNN-DQN uses -- and puts a policy head and a value head on
the shared embedding, so PPO, APPO and IMPALA (which all need a value function) can train it.
:class:`RLlibGNNPPO` is PPO with that module (``agent=rllib_gnn_ppo``).
"""

from __future__ import annotations

from typing import Any

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

    ``model_config``: the GNN options of :class:`GNNFeaturesExtractor` (``gnn``, ``edges``,
    ``radius``, ``k``, ``hidden``, ``layers``, ``heads``, ``root_weight``) and ``head_hiddens``, the
    widths of the policy and value MLPs on the ``3 * hidden`` embedding.
    """

    def setup(self) -> None:
        config = dict(self.model_config or {})
        self.encoder = GNNFeaturesExtractor(self.observation_space, **{k: config[k] for k in GNN_OPTIONS if k in config})
        widths = [self.encoder.features_dim, *config.get("head_hiddens", [64])]
        if isinstance(self.action_space, spaces.MultiDiscrete):
            n_outputs = int(sum(self.action_space.nvec))
            self.action_dist_cls = TorchMultiCategorical.get_partial_dist_cls(
                input_lens=[int(n) for n in self.action_space.nvec])
        else:
            n_outputs = int(self.action_space.n)

        def head(outputs: int) -> nn.Sequential:
            layers: list[nn.Module] = []
            for a, b in zip(widths, widths[1:]):
                layers += [nn.Linear(a, b), nn.ReLU()]
            return nn.Sequential(*layers, nn.Linear(widths[-1], outputs))

        self.pi = head(n_outputs)
        self.vf = head(1)

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {Columns.ACTION_DIST_INPUTS: self.pi(self.encoder(batch[Columns.OBS]))}

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        embeddings = self.encoder(batch[Columns.OBS])
        return {Columns.ACTION_DIST_INPUTS: self.pi(embeddings), Columns.EMBEDDINGS: embeddings}

    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        if embeddings is None:
            embeddings = self.encoder(batch[Columns.OBS])
        return self.vf(embeddings).squeeze(-1)


class RLlibGNNPPO(RLlibAgent):
    """RLlib PPO with the football GNN as its RLModule (``agent=rllib_gnn_ppo``).

    Args (besides :class:`RLlibAgent`'s): gnn, edges, radius, k, hidden, layers, heads,
    root_weight as in :class:`agents.gnn_dqn.networks.GNNFeaturesExtractor`; head_hiddens, the
    policy and value MLP widths. ``model`` is not used (the module is this one).
    """

    algorithm = "PPO"
    supported_action_spaces = (spaces.Discrete, spaces.MultiDiscrete)

    def __init__(self, env: Any, gnn: str = "gcn", edges: str = "full", radius: float = 0.3, k: int = 6,
                 hidden: int = 32, layers: int = 2, heads: int = 4, root_weight: bool = True,
                 head_hiddens: list[int] | None = None, **kwargs: Any) -> None:
        check_gnn_options(gnn, edges, radius, k, hidden, layers, heads)
        self.gnn_config = {"gnn": gnn, "edges": edges, "radius": float(radius), "k": int(k),
                           "hidden": int(hidden), "layers": int(layers), "heads": int(heads),
                           "root_weight": bool(root_weight), "head_hiddens": list(head_hiddens or [64])}
        kwargs.pop("model", None)
        super().__init__(env, **kwargs)
        self.kwargs.update(self.gnn_config)

    @classmethod
    def check_env(cls, env: Any) -> None:
        super().check_env(env)
        shape = env.observation_space.shape
        if not isinstance(env.observation_space, spaces.Box) or len(shape or ()) != 2:
            raise ValueError(f"the GNN module needs graph observations of shape (nodes, features), got "
                             f"{env.observation_space}; use the football env with env.representation=graph")

    def _rl_module_settings(self) -> dict[str, Any]:
        from ray.rllib.core.rl_module.rl_module import RLModuleSpec

        return {"rl_module_spec": RLModuleSpec(module_class=GNNPPOModule, model_config=dict(self.gnn_config))}
