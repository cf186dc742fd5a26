"""Classical market makers with the rlkit agent contract: Avellaneda-Stoikov, GLFT, fixed spread.

They do not learn. Their quotes come from the env's raw market state, not from the scaled
features: they need :class:`~envs.market_making.env.MarketMakingEnv` made with
``market_observation=True``, whose observation is then a Dict of the features and the state of
:meth:`~envs.market_making.env.MarketMakingEnv.market_state` (the mid, the tick, the inventory, the
time left, the market's trades in the last step and, for every action, the bid and ask it would
quote now). The classes declare it (``env_requirements``), so ``rlkit train`` builds the env that
way; an env without it is refused by :meth:`QuotingAgent.check_env`. The agent computes its desired
bid and ask (:mod:`agents.market_making.quoting`) and takes the action whose quotes are nearest
(:func:`~agents.market_making.quoting.nearest_action`; with the reference layout, which lacks
(0, 0), a wish to quote both touches becomes (0, 4) or (4, 0)). They never take the no-op or the
flatten action; the env flattens at the episode's end.

Everything a decision needs is in the observation, so ``predict(observation)`` works wherever the
observation comes from: rlkit's evaluation, a subprocess VecEnv, Ray. ``learn(total_timesteps)``
drives the training env with these quotes for ``total_timesteps`` steps with SB3's callback
protocol (each vectorised step a rollout of length one), so the host's evaluation, checkpoints and
TensorBoard work as for a learner.

Online estimates (``sigma``, and ``A`` for GLFT): :class:`~agents.market_making.quoting.MarketEstimator`,
one per row of the observations the agent is handed (row ``i`` of a batch is env ``i`` of a
VecEnv; a single observation is row 0), started afresh when that row's episode starts
(``decisions == 0``). ``predict`` and ``learn`` keep separate estimators, so an evaluation during
training does not disturb the training env's. A saved agent (:class:`agents.checkpoint.Checkpointed`)
stores its hyper-parameters, seed and step counter only: the loaded agent quotes exactly as the
saved one on any episode it starts.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from agents.checkpoint import Checkpointed
from agents.market_making.quoting import (MarketEstimator, avellaneda_stoikov_quotes,
                                          fixed_spread_quotes, glft_quotes, nearest_action)
from agents.rollout import StepRunner

ENV_NAME = "rlkit/MarketMaking-v0 (env=market_making)"
# what act() reads of the market observation (envs.market_making.env.market_observation_space)
MARKET_KEYS = ("time", "time_left", "mid", "inventory", "decisions", "step_trades", "action_quotes",
               "action_quoted")


def _is_market_making(env: Any) -> bool:
    from stable_baselines3.common.vec_env import VecEnv

    from envs.market_making.env import MarketMakingEnv

    if isinstance(env, VecEnv):
        envs = getattr(env, "envs", None)
        if envs is not None:
            return all(isinstance(e.unwrapped, MarketMakingEnv) for e in envs)
        return bool(env.has_attr("market_state"))
    return isinstance(getattr(env, "unwrapped", env), MarketMakingEnv)


def _observes_market(env: Any) -> bool:
    space = getattr(env, "observation_space", None)
    return isinstance(space, spaces.Dict) and all(key in space.spaces for key in MARKET_KEYS)


def market_states(observation: Any) -> tuple[list[dict], bool]:
    """The market state of each row of a market observation (single or batched), as
    :meth:`~envs.market_making.env.MarketMakingEnv.market_state` gives it (NaN where a side is not
    quoted), and whether the observation was a single one."""
    if not isinstance(observation, dict) or any(key not in observation for key in MARKET_KEYS):
        raise ValueError(
            f"a quoting agent reads the market state from the observation: a Dict with {', '.join(MARKET_KEYS)}, "
            f"as {ENV_NAME} gives with market_observation=True (got "
            f"{sorted(observation) if isinstance(observation, dict) else type(observation).__name__})")
    quotes = np.asarray(observation["action_quotes"], np.float64)
    single = quotes.ndim == 2
    quotes = quotes.reshape((-1,) + quotes.shape[-2:])
    quoted = np.asarray(observation["action_quoted"]).reshape(quotes.shape).astype(bool)
    quotes = np.where(quoted, quotes, np.nan)
    scalars = {key: np.asarray(observation[key], np.float64).reshape(len(quotes)) for key in MARKET_KEYS[:6]}
    states = [{**{key: float(values[i]) for key, values in scalars.items()}, "action_quotes": quotes[i]}
              for i in range(len(quotes))]
    for state in states:
        state["decisions"] = int(state["decisions"])
    return states, single


class QuotingAgent(Checkpointed, StepRunner):

    # save/load: agents.checkpoint.Checkpointed's, with no state of the agent's own (the module docstring)
    save_format: ClassVar[int] = 3  # 1: a zip of agent.json; 2: no "agent" entry in the state
    supported_action_spaces: ClassVar[tuple[type[spaces.Space], ...]] = (spaces.Discrete,)
    # the env arguments the agent needs (rlkit's host applies them when it builds the envs)
    env_requirements: ClassVar[dict[str, Any]] = {"market_observation": True}

    @classmethod
    def check_env(cls, env: Any) -> None:
        """Raise ValueError unless ``env`` is a market-making env that observes the market state
        (the agent contract)."""
        if not _is_market_making(env):
            name = getattr(getattr(env, "spec", None), "id", None) or type(getattr(env, "unwrapped", env)).__name__
            raise ValueError(f"{cls.__name__} quotes bid and ask prices from a limit-order book: it needs "
                             f"{ENV_NAME}, not {name}")
        if not _observes_market(env):
            raise ValueError(f"{cls.__name__} reads the raw market state from the observation: make "
                             f"{ENV_NAME} with market_observation=True")

    def __init__(self, policy: Any = None, env: Any = None, seed: int | None = None, device: Any = "auto",
                 verbose: int = 0, **hyperparameters: Any) -> None:
        if policy is not None:
            raise ValueError(f"{type(self).__name__} has no policy network; leave policy unset (got {policy!r})")
        if env is not None:
            self.check_env(env)
        self.env = env
        self.seed = seed
        self.device = device  # unused: plain arithmetic
        self.verbose = verbose
        self.hyperparameters = dict(hyperparameters)
        self.num_timesteps = 0
        self._total_timesteps = 0
        self._last_obs: Any = None
        self._logger: Any = None
        # one estimator per observation row: for predict's callers, and for learn's training env
        self._estimators: dict[int, MarketEstimator] = {}
        self._training_estimators: dict[int, MarketEstimator] = {}

    # -- quoting ----------------------------------------------------------------------------
    def quotes(self, state: dict, estimator: MarketEstimator) -> tuple[float, float]:
        """Desired (bid, ask) prices for the env's ``market_state()``."""
        raise NotImplementedError

    def _new_estimator(self) -> MarketEstimator:
        h = self.hyperparameters
        return MarketEstimator(sigma0=h.get("sigma0", 1e-4), A0=h.get("A0", 1.0),
                               halflife=h.get("halflife", 300.0), prior_seconds=h.get("prior_seconds", 60.0))

    def act(self, state: dict, estimator: MarketEstimator) -> int:
        """The action for one env's ``market_state()``, updating that env's estimator."""
        estimator.update(state["time"], state["mid"], state["step_trades"])
        if not state["mid"] > 0:
            return 0  # a one-sided book: keep what rests
        bid, ask = self.quotes(state, estimator)
        return nearest_action(state["action_quotes"], bid, ask)

    def _act_on(self, observation: Any, estimators: dict[int, MarketEstimator]) -> tuple[np.ndarray, bool]:
        states, single = market_states(observation)
        actions = np.empty(len(states), np.int64)
        for row, state in enumerate(states):
            estimator = estimators.get(row)
            if estimator is None or state["decisions"] == 0:
                estimator = estimators[row] = self._new_estimator()  # a new episode: fresh estimates
            actions[row] = self.act(state, estimator)
        return actions, single

    # -- SB3 surface ------------------------------------------------------------------------
    def get_env(self) -> Any:
        return self.env

    def set_env(self, env: Any) -> None:
        self.check_env(env)
        self.env, self._last_obs = env, None
        self._training_estimators = {}

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        """The action for one market observation or a batch (``deterministic`` is ignored: the
        quotes are deterministic)."""
        actions, single = self._act_on(observation, self._estimators)
        return (actions[0] if single else actions), state

    def _actions(self, env: Any) -> np.ndarray:
        return self._act_on(self._last_obs, self._training_estimators)[0]


class AvellanedaStoikovAgent(QuotingAgent):
    """Avellaneda-Stoikov (2008): reservation price ``s (1 - q gamma sigma^2 tau)`` and total
    spread ``s (gamma sigma^2 tau + (2/gamma) ln(1 + gamma/k))`` (relative units, ``tau`` the
    seconds left in the episode; :mod:`agents.market_making.quoting`), mapped to the nearest action.

    Args:
        policy, env, seed, device, verbose: the common agent arguments (no network; deterministic).
        gamma: risk aversion (relative-price units: per unit of relative P&L per order).
        k: decay of the order-arrival intensity per unit of relative distance from the mid (fixed:
            1e4 means it falls by e every basis point).
        sigma0: prior relative mid volatility per square-root second (estimated online from mid
            returns from there on).
        halflife: half-life (seconds) of the online estimates.
        prior_seconds: weight of the prior, in seconds of data.
        max_tau: cap on ``tau`` (seconds); None: the episode's time left, as the model has it.
    """

    def __init__(self, policy: Any = None, env: Any = None, seed: int | None = None, device: Any = "auto",
                 verbose: int = 0, gamma: float = 5.0, k: float = 1e4, sigma0: float = 1e-4,
                 halflife: float = 300.0, prior_seconds: float = 60.0, max_tau: float | None = None) -> None:
        _positive(gamma=gamma, k=k, sigma0=sigma0, halflife=halflife, prior_seconds=prior_seconds,
                  **({} if max_tau is None else {"max_tau": max_tau}))
        super().__init__(policy, env, seed, device, verbose, gamma=gamma, k=k, sigma0=sigma0,
                         halflife=halflife, prior_seconds=prior_seconds, max_tau=max_tau)

    def quotes(self, state: dict, estimator: MarketEstimator) -> tuple[float, float]:
        h = self.hyperparameters
        tau = state["time_left"] if h["max_tau"] is None else min(state["time_left"], h["max_tau"])
        return avellaneda_stoikov_quotes(state["mid"], state["inventory"], h["gamma"], estimator.sigma,
                                         tau, h["k"])


class GLFTAgent(QuotingAgent):
    """Gueant-Lehalle-Fernandez-Tapia (2013), infinite-horizon closed form:
    ``delta_bid = c1 + (2q + 1)/2 sigma c2``, ``delta_ask = c1 - (2q - 1)/2 sigma c2`` with
    ``c1 = ln(1 + gamma/k)/gamma`` and ``c2 = sqrt(gamma/(2 A k) (1 + gamma/k)^(1 + k/gamma))``
    (relative units; :mod:`agents.market_making.quoting`), mapped to the nearest action.

    Args:
        policy, env, seed, device, verbose: the common agent arguments (no network; deterministic).
        gamma: risk aversion (relative units, as Avellaneda-Stoikov's).
        k: decay of the order-arrival intensity per unit of relative distance (fixed).
        A: order-arrival intensity at the mid, per second and side; None: estimated online as the
            market's trades per second and side (an upper bound of our fill rate at the touch).
        sigma0, A0: priors of the online volatility and intensity estimates.
        halflife, prior_seconds: as :class:`AvellanedaStoikovAgent`.
    """

    def __init__(self, policy: Any = None, env: Any = None, seed: int | None = None, device: Any = "auto",
                 verbose: int = 0, gamma: float = 1000.0, k: float = 1e4, A: float | None = None,
                 sigma0: float = 1e-4, A0: float = 1.0, halflife: float = 300.0,
                 prior_seconds: float = 60.0) -> None:
        _positive(gamma=gamma, k=k, sigma0=sigma0, A0=A0, halflife=halflife, prior_seconds=prior_seconds,
                  **({} if A is None else {"A": A}))
        super().__init__(policy, env, seed, device, verbose, gamma=gamma, k=k, A=A, sigma0=sigma0, A0=A0,
                         halflife=halflife, prior_seconds=prior_seconds)

    def quotes(self, state: dict, estimator: MarketEstimator) -> tuple[float, float]:
        h = self.hyperparameters
        A = estimator.A if h["A"] is None else h["A"]
        return glft_quotes(state["mid"], state["inventory"], h["gamma"], estimator.sigma, h["k"], A)


class FixedSpreadAgent(QuotingAgent):
    """Quotes at a constant half-spread around the mid, whatever the inventory, mapped to the
    nearest action (the env still stops quoting a side beyond the inventory limit).

    Args:
        policy, env, seed, device, verbose: the common agent arguments (no network; deterministic).
        half_spread_bps: the half-spread in basis points of the mid.
    """


    def __init__(self, policy: Any = None, env: Any = None, seed: int | None = None, device: Any = "auto",
                 verbose: int = 0, half_spread_bps: float = 2.0) -> None:
        if not half_spread_bps >= 0:
            raise ValueError(f"half_spread_bps must be >= 0, got {half_spread_bps!r}")
        super().__init__(policy, env, seed, device, verbose, half_spread_bps=half_spread_bps)

    def quotes(self, state: dict, estimator: MarketEstimator) -> tuple[float, float]:
        return fixed_spread_quotes(state["mid"], self.hyperparameters["half_spread_bps"] * 1e-4)


def _positive(**values: float) -> None:
    bad = [f"{name}={value!r}" for name, value in values.items()
           if not (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0)]
    if bad:
        raise ValueError(f"{', '.join(bad)}: must be a number > 0")
