"""Classical market makers with the rlkit agent contract: Avellaneda-Stoikov, GLFT, fixed spread.

They do not learn. Their quotes come from the env's raw state, not from the observation (scaled
features): :meth:`~envs.market_making.env.MarketMakingEnv.market_state` gives the mid, the tick,
the inventory, the time left and, for every action, the bid and ask it would quote now. The agent
computes its desired bid and ask (:mod:`agents.market_making.quoting`) and takes the action whose
quotes are nearest (:func:`~agents.market_making.quoting.nearest_action`; with the reference
layout, which lacks (0, 0), a wish to quote both touches becomes (0, 4) or (4, 0)). They never take
the no-op or the flatten action; the env flattens at the episode's end.

``predict(observation)`` finds the env that produced the observation among the
:class:`MarketMakingEnv` instances alive in this process
(:func:`~envs.market_making.env.observing_envs`), so ``rlkit train``'s evaluation and ``rlkit
evaluate``, which hand an agent only observations, work as for a learner. An observation that no
live env produced (another process's env, a ``VecNormalize``d one) is refused with a clear message.
Inside ``learn`` the agent reads each training env directly (``VecEnv.env_method``, so subprocess
envs work there too).

``learn(total_timesteps)`` drives the training env with these quotes for ``total_timesteps``
steps with SB3's callback protocol (each vectorised step a rollout of length one), so the host's
evaluation, checkpoints and TensorBoard work as for a learner.

Online estimates (``sigma``, and ``A`` for GLFT): :class:`~agents.market_making.quoting.MarketEstimator`,
one per env, reset when the env starts an episode. A saved agent stores its hyper-parameters
only: the loaded agent quotes exactly as the saved one on any episode it starts.
"""

from __future__ import annotations

import json
import weakref
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from agents.market_making.quoting import (MarketEstimator, avellaneda_stoikov_quotes,
                                          fixed_spread_quotes, glft_quotes, nearest_action)
from agents.archive import read_archive, write_archive
from agents.rollout import StepRunner

SAVE_FORMAT = 1
META_FILE = "agent.json"
ENV_NAME = "rlkit/MarketMaking-v0 (env=market_making)"


def _is_market_making(env: Any) -> bool:
    from stable_baselines3.common.vec_env import VecEnv

    from envs.market_making.env import MarketMakingEnv

    if isinstance(env, VecEnv):
        envs = getattr(env, "envs", None)
        if envs is not None:
            return all(isinstance(e.unwrapped, MarketMakingEnv) for e in envs)
        return bool(env.has_attr("market_state"))
    return isinstance(getattr(env, "unwrapped", env), MarketMakingEnv)


class QuotingAgent(StepRunner):

    supported_action_spaces: ClassVar[tuple[type[spaces.Space], ...]] = (spaces.Discrete,)

    @classmethod
    def check_env(cls, env: Any) -> None:
        """Raise ValueError unless ``env`` is a market-making env (the agent contract)."""
        if not _is_market_making(env):
            name = getattr(getattr(env, "spec", None), "id", None) or type(getattr(env, "unwrapped", env)).__name__
            raise ValueError(f"{cls.__name__} quotes bid and ask prices from a limit-order book: it needs "
                             f"{ENV_NAME}, not {name}")

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
        self._estimators: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._remote_estimators: dict[Any, MarketEstimator] = {}
        self._last_env: Any = None

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

    def _estimator_for(self, store: Any, key: Any, state: dict) -> MarketEstimator:
        estimator = store.get(key)
        if estimator is None or state["decisions"] == 0:
            estimator = store[key] = self._new_estimator()  # a new episode: fresh estimates
        return estimator

    def _act_local(self, env: Any) -> int:
        state = env.market_state()
        return self.act(state, self._estimator_for(self._estimators, env, state))

    # -- SB3 surface ------------------------------------------------------------------------
    def get_env(self) -> Any:
        return self.env

    def set_env(self, env: Any) -> None:
        self.check_env(env)
        self.env, self._last_obs = env, None

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        """The action for one observation or a batch, read from the env that produced each
        (``deterministic`` is ignored: the quotes are deterministic)."""
        from envs.market_making.env import observing_envs

        observation = np.asarray(observation)
        single = observation.ndim == 1
        actions = []
        for row in observation.reshape(-1, observation.shape[-1]):
            envs = observing_envs(row)
            if not envs:
                raise ValueError(
                    f"{type(self).__name__} reads the raw book from the env that produced the observation, "
                    f"and no {ENV_NAME} in this process did: predict on observations of a live, "
                    f"un-normalised env (vec_env=dummy, no VecNormalize)")
            env = self._last_env if self._last_env in envs else envs[0]
            self._last_env = env
            actions.append(self._act_local(env))
        actions = np.asarray(actions, dtype=np.int64)
        return (actions[0] if single else actions), state

    def _vec_actions(self, env: Any) -> np.ndarray:
        local = getattr(env, "envs", None)
        if local is not None:
            return np.array([self._act_local(e.unwrapped) for e in local], dtype=np.int64)
        states = env.env_method("market_state")
        return np.array([self.act(s, self._estimator_for(self._remote_estimators, (id(env), i), s))
                         for i, s in enumerate(states)], dtype=np.int64)

    def _actions(self, env: Any) -> np.ndarray:
        return self._vec_actions(env)

    # -- saving -----------------------------------------------------------------------------
    def save(self, path: Any) -> None:
        """A zip holding the class, the hyper-parameters and the step counter (JSON)."""
        meta = {"format": SAVE_FORMAT, "class": type(self).__name__, "module": type(self).__module__,
                "hyperparameters": self.hyperparameters, "seed": self.seed, "num_timesteps": self.num_timesteps}
        write_archive(path, {
            META_FILE: json.dumps(meta, indent=2),
        })

    @classmethod
    def load(cls, path: Any, env: Any = None, device: Any = "auto", **kwargs: Any) -> QuotingAgent:
        """The agent ``save`` wrote (``env``: optional, the env to ``learn`` on)."""
        meta = read_archive(path, META_FILE, json.loads, kind="quoting agent", save_format=SAVE_FORMAT,
                             class_name=cls.__name__)
        agent = cls(env=env, seed=meta["seed"], device=device, verbose=kwargs.get("verbose", 0),
                    **meta["hyperparameters"])
        agent.num_timesteps = int(meta["num_timesteps"])
        return agent


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
