"""GNN-DQN: stable-baselines3's DQN whose local and target Q-networks read the football graph
through a graph network ("Graph Neural Network based Agent in Google Research Football", 2022).

The Q-network is SB3's: a features extractor (:class:`agents.gnn_dqn.networks.GNNFeaturesExtractor`)
then an MLP head with one Q-value per action. SB3 builds a separate extractor for the target
network, so the local and target GNNs are distinct modules, synchronised every
``target_update_interval`` steps (``tau=1``). Replay buffer, exploration, logging and callbacks
are DQN's.
"""

from __future__ import annotations

from typing import Any, ClassVar

from gymnasium import spaces

from agents.gnn_dqn.networks import GNNFeaturesExtractor, check_gnn_options
from agents.sb3 import DQN

GRAPH_SHAPE = (24, 16)  # envs.football graph observation: 24 nodes x 16 features
POLICIES = ("MlpPolicy",)


class GNNDQN(DQN):
    """DQN with a GNN Q-network over the football graph observation (``representation=graph``).

    Hyper-parameters are DQN's (``learning_rate``, ``buffer_size``, ``max_grad_norm``, ...) plus:

    Args:
        gnn: ``"gcn"`` (graph convolution) or ``"gat"`` (graph attention).
        edges: ``"full"`` (all present nodes linked), ``"radius"`` (players and ball within
            ``radius`` pitch units) or ``"knn"`` (each node's ``k`` nearest); the global node is
            linked to every present node in all three.
        radius: the distance for ``edges="radius"``.
        k: the neighbour count for ``edges="knn"``.
        hidden: width of each graph layer (the features are ``3 * hidden``).
        layers: number of graph layers.
        heads: attention heads for ``gnn="gat"`` (``hidden`` must be a multiple).
        root_weight: GCN layers add a separate transform of each node's own features; plain GCN
            (``False``) gives every node of a complete graph the same embedding.
        policy_kwargs: SB3's; ``net_arch`` is the Q head on the graph features.
    """

    supported_action_spaces: ClassVar[tuple[type[spaces.Space], ...]] = (spaces.Discrete,)
    env_requirements: ClassVar[dict[str, Any]] = {"representation": "graph"}

    @classmethod
    def check_env(cls, env: Any) -> None:
        """Raise ValueError unless ``env`` observes the football graph (the agent contract)."""
        space = getattr(env, "observation_space", None)
        if not (isinstance(space, spaces.Box) and tuple(space.shape) == GRAPH_SHAPE):
            raise ValueError(
                f"{cls.__name__} needs the graph observation, a Box of shape {GRAPH_SHAPE} "
                f"(nodes x features), but the observation space is {space}; "
                f"use env.kwargs.representation=graph"
            )

    def __init__(
        self,
        policy: Any = "MlpPolicy",
        env: Any = None,
        *,
        gnn: str = "gcn",
        edges: str = "full",
        radius: float = 0.3,
        k: int = 6,
        hidden: int = 32,
        layers: int = 2,
        heads: int = 4,
        root_weight: bool = True,
        policy_kwargs: dict[str, Any] | None = None,
        _init_setup_model: bool = True,
        **kwargs: Any,
    ) -> None:
        if policy is None:
            policy = "MlpPolicy"
        if isinstance(policy, str) and policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r} for {type(self).__name__}; "
                             f"allowed: {', '.join(POLICIES)} (a Q head on the graph features)")
        check_gnn_options(gnn, edges, radius, k, hidden, layers, heads)
        if env is not None and _init_setup_model:
            self.check_env(env)
        self.gnn, self.edges, self.radius, self.k = gnn, edges, float(radius), int(k)
        self.hidden, self.layers, self.heads = int(hidden), int(layers), int(heads)
        self.root_weight = bool(root_weight)
        policy_kwargs = dict(policy_kwargs or {})
        policy_kwargs["features_extractor_class"] = GNNFeaturesExtractor
        policy_kwargs["features_extractor_kwargs"] = {  # the named hyper-parameters win
            **dict(policy_kwargs.get("features_extractor_kwargs") or {}),
            "gnn": gnn, "edges": edges, "radius": self.radius, "k": self.k,
            "hidden": self.hidden, "layers": self.layers, "heads": self.heads,
            "root_weight": self.root_weight,
        }
        super().__init__(policy, env, policy_kwargs=policy_kwargs, _init_setup_model=_init_setup_model,
                         **kwargs)
