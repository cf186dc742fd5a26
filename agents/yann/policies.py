"""YANN-RL actor and critic as a stable-baselines3 TD3 policy.

Actor (:class:`YANNActor`), in SB3's normalised action ``a`` in [-1, 1]::

    a(obs) = clip( C_u YANN(theta(obs)) + c_u  +  residual(features(obs)), -1, 1 )

The YANN is the explicit MPC law of the linearised plant (its saturated LQR outside the feasible
set) at ``theta = x`` (regulation) or ``theta = (x, x_ref)`` (tracking the observed reference;
``theta(obs) = S_theta obs + s_theta``, see :mod:`.model`), and ``residual`` an MLP whose last layer is zero-initialised, so the initial actor *is* the
explicit MPC. The YANN's per-region laws and the residual are trained.

Critic (:class:`YANNCritic`), each of its ``n_critics`` Q-functions, in reward units::

    Q(obs, a) = -l(x, u) - gamma * V(x+, [x_ref])  +  residual(features, a),
    x+ = A (x - x_eq) + B (u - u_eq) + x_eq

with ``x`` the plant state, ``u`` the plant input, ``l`` the stage cost (the env's reward is ``-l``)
and ``V`` the explicit MPC's optimal cost as a piecewise-quadratic network
(:class:`~agents.yann.value.PiecewiseQuadratic`; the LQR value ``(x - x_eq)' P (x - x_eq)`` outside
the feasible set). When tracking, ``V`` takes ``theta+ = (x+, x_ref)`` (the reference is held
over the prediction, as the MPC assumes), the stage cost measures against the observed ``x_ref``
and the model's reference input ``u_r = u_eq + L_r (x_ref - x_eq)`` (the env's own reference input
is not observed; it differs from ``u_r`` by the plant-model mismatch), and the fallback value is
``(x - x_ref)' P (x - x_ref)``. This reads the linear problem's explicit state-action value as "pay the stage
cost now, then act optimally for the linear model from the predicted next state"; the paper does
not publish its construction. ``V`` is the undiscounted N-step cost with the Riccati terminal
cost, so the initial critic approximates the discounted value of the linear problem (exactly for
``gamma = 1`` and a plant equal to its linearisation). Its pieces and the zero-initialised residual
are trained.

Features for the residual layers: the plant state (and the observed reference, if the env shows
it) scaled by the state box to about [-1, 1]. All networks are float64.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BaseModel, BasePolicy
from stable_baselines3.td3.policies import TD3Policy
from torch import nn

from agents.yann.model import LinearOCP
from agents.yann.network import YANN, share_indicator_cache
from agents.yann.value import PiecewiseQuadratic

DEFAULT_RESIDUAL_ARCH = [64, 64]


def _buffer(module: nn.Module, name: str, value: Any, persistent: bool = True) -> None:
    module.register_buffer(name, th.as_tensor(np.asarray(value, dtype=np.float64), dtype=th.float64),
                           persistent=persistent)


def zero_output_mlp(inputs: int, outputs: int, hidden: list[int], activation_fn: type[nn.Module]) -> nn.Sequential:
    """An MLP whose last layer has zero weights and bias: it outputs exactly 0 until trained."""
    layers: list[nn.Module] = []
    width = inputs
    for size in hidden:
        layers += [nn.Linear(width, size), activation_fn()]
        width = size
    last = nn.Linear(width, outputs)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(*layers, last).double()


def yann_of(model: LinearOCP) -> YANN:
    """The YANN of the explicit MPC law, with the saturated LQR outside the feasible set."""
    fallback = (model.lqr_gain, model.lqr_offset, model.input_low, model.input_high)
    return YANN(model.regions, domain=model.domain, fallback=fallback, tolerance=model.tolerance)


def value_network_of(model: LinearOCP) -> PiecewiseQuadratic:
    """The explicit MPC cost ``V`` as a network, with the LQR value outside the feasible set."""
    return PiecewiseQuadratic([(E, f) for E, f, _, _ in model.regions], model.values, model.value_fallback,
                              domain=model.domain, tolerance=model.tolerance)


class _PlantCoordinates(nn.Module):
    """Observation -> state, reference, theta, features; action <-> input (fixed buffers, see
    :mod:`.model`)."""

    def __init__(self, model: LinearOCP) -> None:
        super().__init__()
        W, b = model.feature_map
        S_theta, s_theta = model.parameter_map
        n = model.n_states
        # the theta and reference maps are not saved in state_dict: they follow from the model (a
        # constructor argument), and checkpoints written before tracking existed stay loadable
        _buffer(self, "S_obs", model.S_obs)
        _buffer(self, "s_obs", model.s_obs)
        _buffer(self, "S_theta", S_theta, persistent=False)
        _buffer(self, "s_theta", s_theta, persistent=False)
        # the reference rows of theta (empty when regulating)
        _buffer(self, "S_ref", S_theta[n:] if model.tracking else np.zeros((0, S_theta.shape[1])), persistent=False)
        _buffer(self, "s_ref", s_theta[n:] if model.tracking else np.zeros(0), persistent=False)
        _buffer(self, "feature_W", W)
        _buffer(self, "feature_b", b)
        _buffer(self, "C_u", model.C_u)
        _buffer(self, "c_u", model.c_u)
        _buffer(self, "C_u_inv", np.linalg.inv(model.C_u))

    def flat(self, obs: th.Tensor) -> th.Tensor:
        return obs.reshape(len(obs), -1).to(th.float64)

    def state(self, obs: th.Tensor) -> th.Tensor:
        return th.addmm(self.s_obs, obs, self.S_obs.T)

    def reference(self, obs: th.Tensor) -> th.Tensor:
        """The observed reference, shape (B, n) when tracking, (B, 0) otherwise."""
        return th.addmm(self.s_ref, obs, self.S_ref.T)

    def parameters_of(self, obs: th.Tensor) -> th.Tensor:
        """The explicit solution's theta: ``x`` or ``(x, x_ref)``."""
        return th.addmm(self.s_theta, obs, self.S_theta.T)

    def features(self, obs: th.Tensor) -> th.Tensor:
        return th.addmm(self.feature_b, obs, self.feature_W.T)

    def action(self, u: th.Tensor) -> th.Tensor:
        return th.addmm(self.c_u, u, self.C_u.T)

    def input(self, action: th.Tensor) -> th.Tensor:
        return (action.to(th.float64) - self.c_u) @ self.C_u_inv.T


class YANNActor(BasePolicy):
    """The explicit-MPC YANN plus a zero-initialised residual (module docstring)."""

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        model: LinearOCP,
        net_arch: list[int],
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
    ) -> None:
        super().__init__(observation_space, action_space, normalize_images=normalize_images, squash_output=True)
        self.model, self.net_arch, self.activation_fn = model, list(net_arch), activation_fn
        self.coordinates = _PlantCoordinates(model)
        self.yann = yann_of(model)
        self.residual = zero_output_mlp(model.n_features, model.n_inputs, self.net_arch, activation_fn)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(model=self.model, net_arch=self.net_arch, activation_fn=self.activation_fn)
        return data

    def mpc_action(self, obs: th.Tensor) -> th.Tensor:
        """The YANN's (explicit MPC's) normalised action, unclipped."""
        obs = self.coordinates.flat(obs)
        return self.coordinates.action(self.yann(self.coordinates.parameters_of(obs)))

    def forward(self, obs: th.Tensor) -> th.Tensor:
        obs = self.coordinates.flat(obs)
        action = self.coordinates.action(self.yann(self.coordinates.parameters_of(obs)))
        action = action + self.residual(self.coordinates.features(obs))
        return th.clamp(action, -1.0, 1.0)

    def _predict(self, observation: th.Tensor, deterministic: bool = False) -> th.Tensor:
        return self(observation)


class LinearQ(nn.Module):
    """One critic: ``-l(x, u) - gamma V(x+_linear) + residual(features, a)`` (module docstring)."""

    def __init__(self, model: LinearOCP, gamma: float, net_arch: list[int], activation_fn: type[nn.Module]) -> None:
        super().__init__()
        self.gamma = float(gamma)
        self.tracking = bool(model.tracking)
        self.coordinates = _PlantCoordinates(model)
        self.value = value_network_of(model)
        for name in ("A", "B", "x_eq", "u_eq", "Q", "R", "x_ref", "u_ref"):
            _buffer(self, name, getattr(model, name))
        gain = model.reference_gain if model.reference_gain is not None else np.zeros((model.n_inputs, model.n_states))
        _buffer(self, "reference_gain", gain, persistent=False)
        self.residual = zero_output_mlp(model.n_features + model.n_inputs, 1, list(net_arch), activation_fn)

    def linear_q(self, x: th.Tensor, u: th.Tensor, x_ref: th.Tensor | None = None) -> th.Tensor:
        """The linear problem's state-action value, shape (B,); ``x_ref`` (B, n) when tracking."""
        if self.tracking:
            if x_ref is None:
                raise ValueError("a tracking critic needs the reference x_ref")
            u_ref = self.u_eq + (x_ref - self.x_eq) @ self.reference_gain.T
        else:
            x_ref, u_ref = self.x_ref, self.u_ref
        dx, du = x - x_ref, u - u_ref
        stage = ((dx @ self.Q) * dx).sum(-1) + ((du @ self.R) * du).sum(-1)
        x_next = self.x_eq + (x - self.x_eq) @ self.A.T + (u - self.u_eq) @ self.B.T
        theta_next = th.cat([x_next, x_ref], dim=1) if self.tracking else x_next
        return -stage - self.gamma * self.value(theta_next)

    def forward(self, obs: th.Tensor, action: th.Tensor) -> th.Tensor:
        obs = self.coordinates.flat(obs)
        action = action.to(th.float64)
        x, u = self.coordinates.state(obs), self.coordinates.input(action)
        x_ref = self.coordinates.reference(obs) if self.tracking else None
        residual = self.residual(th.cat([self.coordinates.features(obs), action], dim=1))
        return self.linear_q(x, u, x_ref).unsqueeze(-1) + residual


class YANNCritic(BaseModel):
    """``n_critics`` :class:`LinearQ` networks, with SB3's ContinuousCritic interface."""

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        model: LinearOCP,
        gamma: float,
        net_arch: list[int],
        activation_fn: type[nn.Module] = nn.ReLU,
        n_critics: int = 2,
        normalize_images: bool = True,
    ) -> None:
        super().__init__(observation_space, action_space, normalize_images=normalize_images)
        self.share_features_extractor = False
        self.n_critics = n_critics
        self.q_networks: list[nn.Module] = []
        for index in range(n_critics):
            q_net = LinearQ(model, gamma, net_arch, activation_fn)
            self.add_module(f"qf{index}", q_net)
            self.q_networks.append(q_net)

    def forward(self, obs: th.Tensor, actions: th.Tensor) -> tuple[th.Tensor, ...]:
        return tuple(q_net(obs, actions) for q_net in self.q_networks)

    def q1_forward(self, obs: th.Tensor, actions: th.Tensor) -> th.Tensor:
        return self.q_networks[0](obs, actions)


class YANNTD3Policy(TD3Policy):
    """TD3's policy with the YANN actor and critic, plus two actors that are not trained:

    - ``mpc_actor``: a frozen copy of the initial actor, the explicit MPC itself;
    - ``deployed_actor``: what :meth:`predict` uses (with ``act_with = "deployed"``, the default):
      the MPC until the agent's continuous policy improvement finds a trained actor that evaluates
      better, then a snapshot of that actor.

    ``act_with = "actor"`` makes :meth:`predict` use the actor being trained (for exploration).

    Arguments beyond TD3Policy's: ``model`` (the :class:`~agents.yann.model.LinearOCP`) and
    ``gamma`` (the critic's discount). ``net_arch`` gives the residual layers (default [64, 64]).
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        lr_schedule: Any,
        model: LinearOCP,
        gamma: float = 0.99,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        n_critics: int = 2,
        **kwargs: Any,
    ) -> None:
        self.model, self.gamma = model, float(gamma)
        self.act_with = "deployed"
        super().__init__(
            observation_space, action_space, lr_schedule,
            net_arch=DEFAULT_RESIDUAL_ARCH if net_arch is None else net_arch,
            activation_fn=activation_fn, n_critics=n_critics, **kwargs,
        )

    def _build(self, lr_schedule: Any) -> None:
        super()._build(lr_schedule)
        self.mpc_actor = copy.deepcopy(self.actor).requires_grad_(False)
        self.deployed_actor = copy.deepcopy(self.actor).requires_grad_(False)
        for actor in (self.mpc_actor, self.deployed_actor):
            actor.optimizer = None
            actor.set_training_mode(False)
        # the actors and critics share their fixed region layers' answers (one update feeds them
        # the same states); the cache belongs to this policy
        self.indicator_cache = share_indicator_cache(self)

    def make_actor(self, features_extractor: Any = None) -> YANNActor:
        arch = self.actor_kwargs["net_arch"]
        return YANNActor(self.observation_space, self.action_space, self.model, arch,
                         self.actor_kwargs["activation_fn"]).to(self.device)

    def make_critic(self, features_extractor: Any = None) -> YANNCritic:
        kwargs = self.critic_kwargs
        return YANNCritic(self.observation_space, self.action_space, self.model, self.gamma, kwargs["net_arch"],
                          kwargs["activation_fn"], kwargs["n_critics"]).to(self.device)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(model=self.model, gamma=self.gamma)
        return data

    def _predict(self, observation: th.Tensor, deterministic: bool = False) -> th.Tensor:
        actor = self.actor if self.act_with == "actor" else self.deployed_actor
        return actor(observation)

    def set_training_mode(self, mode: bool) -> None:
        # the trained networks only: the MPC and deployed actors stay in evaluation mode
        self.actor.set_training_mode(mode)
        self.critic.set_training_mode(mode)
        self.training = mode


__all__ = ["LinearQ", "YANNActor", "YANNCritic", "YANNTD3Policy", "value_network_of",
           "yann_of", "zero_output_mlp"]
