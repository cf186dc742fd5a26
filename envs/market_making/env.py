"""``rlkit/MarketMaking-v0``: event-based market making on replayed limit-order-book data."""

from __future__ import annotations

import functools
import logging
import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.market_making import accounting as acc
from envs.market_making import engine as eng
from envs.market_making.features import POSITION_FEATURES, n_market_features
from envs.market_making.games import (F_EQUITY, F_LIMIT_QTY, F_MID, F_ORDER_QTY, G_CURSOR, G_FILLS, Day, Games,
                                      Rules, episode_rows, fit_scaler, game_engine, make_rules, prepare_day,
                                      quote_levels)
from envs.market_making.metrics import episode_metrics
from envs.market_making.rewards import REWARDS, Reward

log = logging.getLogger(__name__)

LEVELS = (0, 4, 9, 14)
# the reference work's Discrete(17): (bid level, ask level) for actions 1..15; (0, 0) is missing
REFERENCE_PAIRS = ((0, 4), (0, 9), (0, 14), (4, 0), (4, 4), (4, 9), (4, 14), (9, 0), (9, 4), (9, 9),
                   (9, 14), (14, 0), (14, 4), (14, 9), (14, 14))
EXTENDED_PAIRS = tuple((b, a) for b in LEVELS for a in LEVELS)
ACTION_LAYOUTS = {"reference": REFERENCE_PAIRS, "extended": EXTENDED_PAIRS}
SPLITS = ("train", "test", "all")
# the scalar entries of market_state() that market_observation=True publishes, each a Box (1,) float64
MARKET_SCALARS = ("time", "time_left", "mid", "tick_size", "best_bid", "best_ask", "inventory", "position",
                  "order_qty", "max_inventory", "decisions", "step_trades")


@functools.lru_cache(maxsize=4)
def _synthetic_days(days: int, seed: int, session_seconds: float) -> tuple:
    from envs.market_making.data import split_days, synthetic_events

    return tuple(split_days(synthetic_events(days, seed=seed, session_seconds=session_seconds)).items())


def _data_days(data) -> tuple:
    from envs.market_making.data import load_events, split_days

    return tuple(split_days(load_events(data)).items())


@dataclass
class Settings:
    """The arguments of ``rlkit/MarketMaking-v0`` checked, with what follows from them: the days, the
    spaces, the engine's configuration, the reward. Both :class:`MarketMakingEnv` and
    :class:`~envs.market_making.vector.MarketMakingVectorEnv` are built from one."""

    days: tuple
    day_indices: list
    split: str
    pairs: tuple
    flatten_action: int
    action_space: spaces.Discrete
    quote_unit: str
    order_notional: float
    max_inventory: int
    episode_seconds: float | None
    depth: int
    windows: tuple
    stack: int
    engine_kwargs: dict
    reward_fn: Reward
    n_market: int
    n_features: int
    observation_space: spaces.Box

    @classmethod
    def from_arguments(cls, arguments: dict[str, Any]) -> Settings:
        """From :class:`MarketMakingEnv`'s arguments by name (all of them, defaults applied)."""
        a = dict(arguments)
        if a.pop("market_observation", False):
            raise ValueError("market_observation=True is an option of the single env (MarketMakingEnv, "
                             "vec_env=dummy|subproc); the batched engine does not publish the market state")
        data, split, test_days = a["data"], a["split"], a["test_days"]
        actions, quote_unit, reward = a["actions"], a["quote_unit"], a["reward"]
        clock, queue, depth, stack = a["clock"], a["queue"], a["depth"], a["stack"]
        allowed = {"split": (split, SPLITS), "actions": (actions, tuple(ACTION_LAYOUTS)),
                   "quote_unit": (quote_unit, ("level", "tick")), "reward": (reward, REWARDS),
                   "clock": (clock, ("event", "time", "tick", "volume")),
                   "queue": (queue, ("notional", "conservative", "probabilistic"))}
        for name, (value, choices) in allowed.items():
            if value not in choices:
                raise ValueError(f"unknown {name} {value!r}; allowed: {', '.join(choices)}")
        positive = {name: a[name] for name in ("order_notional", "max_inventory", "depth", "stack", "dt", "every",
                                               "threshold", "volume")}
        bad = [name for name, value in positive.items() if not value > 0]
        episode_seconds, latency_ms = a["episode_seconds"], a["latency_ms"]
        if bad or latency_ms < 0 or (episode_seconds is not None and episode_seconds <= 0):
            raise ValueError(f"bad argument(s) {bad or ['latency_ms/episode_seconds']}: {', '.join(positive)} "
                             "and episode_seconds must be > 0, latency_ms >= 0")
        if max(LEVELS) >= depth and quote_unit == "level":
            log.debug("depth %d < quoted levels: far quotes fall back to ticks", depth)
        days = _synthetic_days(int(a["synthetic_days"]), int(a["synthetic_seed"]), float(a["session_seconds"])) \
            if data is None else _data_days(data)
        dates = [d for d, _ in days]
        if split == "all":
            chosen = dates
        elif len(dates) < 2:
            log.warning("the data has one day (%s): it serves as both train and test day", dates[0])
            chosen = dates
        else:
            from envs.market_making.data import train_test_days

            train, test = train_test_days(dates, test=test_days)
            chosen = train if split == "train" else test
        pairs = ACTION_LAYOUTS[actions]
        depth, windows, stack = int(depth), tuple(float(w) for w in a["windows"]), int(stack)
        n_market = n_market_features(depth, len(windows))
        n_features = n_market + len(POSITION_FEATURES)
        taker_fee = a["taker_fee"]
        return cls(
            days=days, day_indices=[dates.index(d) for d in chosen], split=split, pairs=pairs,
            flatten_action=len(pairs) + 1, action_space=spaces.Discrete(len(pairs) + 2), quote_unit=quote_unit,
            order_notional=float(a["order_notional"]), max_inventory=int(a["max_inventory"]),
            episode_seconds=episode_seconds, depth=depth, windows=windows, stack=stack,
            engine_kwargs=dict(queue=queue, queue_power=a["queue_power"], latency_ns=int(latency_ms * 1e6),
                               maker_fee=a["maker_fee"], taker_fee=taker_fee, clock=clock,
                               dt_ns=int(a["dt"] * 1e9), every=int(a["every"]), threshold=a["threshold"],
                               volume=a["volume"], depth=depth),
            reward_fn=Reward(reward, taker_fee=taker_fee, dampening=a["dampening"], ceiling=a["ceiling"],
                             eta=a["eta"], inventory_penalty=a["inventory_penalty"]),
            n_market=n_market, n_features=n_features,
            observation_space=spaces.Box(-10.0, 10.0, (stack * n_features,), np.float32))

    def rules(self) -> Rules:
        """What the compiled games take of these settings."""
        return make_rules(engine_kwargs=self.engine_kwargs, pairs=self.pairs, flatten_action=self.flatten_action,
                          quote_unit=self.quote_unit, reward=self.reward_fn, depth=self.depth,
                          windows=self.windows, stack=self.stack, order_notional=self.order_notional,
                          max_inventory=self.max_inventory)

    def first_day(self, rng: np.random.Generator, next_test: int) -> tuple[int, int]:
        """The day (index into ``days``) an episode starts on, as ``reset`` draws it: test days in
        order (``next_test``: how many came before), others uniformly from ``rng``. Returns the
        day and the next ``next_test``."""
        if self.split == "test":
            return self.day_indices[next_test % len(self.day_indices)], next_test + 1
        return self.day_indices[int(rng.integers(len(self.day_indices)))], next_test


class DayLibrary:
    """The days an env has prepared (tapes) and their feature scalers, built on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rules = settings.rules()
        self._days: dict[int, Day] = {}
        self._scalers: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def day(self, index: int) -> Day:
        if index not in self._days:
            self._days[index] = prepare_day(self.settings.days[index][1], self.settings.depth)
        return self._days[index]

    def scaler(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean and deviation of the market features over the previous day (the first: itself),
        from a replay without orders on the same clock."""
        source = max(index - 1, 0)
        if source not in self._scalers:
            self._scalers[source] = fit_scaler(self.day(source), self.rules)
        return self._scalers[source]


class MarketMakingEnv(gym.Env):
    """Market making on a replayed limit-order book, deciding on an event, time, tick or volume clock.

    The agent keeps at most one resting buy and one resting sell order. Between two decisions every
    market event of the data goes through the book and the fill engine
    (:mod:`envs.market_making.engine`): orders fill only when trades reach their price, after the
    queue ahead (:mod:`envs.market_making.queues`), partially if need be. One episode is one day
    of the data (or a random window of it), and ends with the inventory flattened at market.

    The env is one game of :class:`~envs.market_making.games.Games`, whose compiled kernels also
    step :class:`~envs.market_making.vector.MarketMakingVectorEnv`, its batched mode
    (``gym.make_vec("rlkit/MarketMaking-v0", num_envs=n)``): game ``i`` of a batch is this env
    seeded with the ``i``-th seed.

    ## Action Space
    ``Discrete(17)`` (``actions="reference"``, the source paper's layout) or ``Discrete(18)``
    (``"extended"``). A quote at book level ``l`` is the price of the ``l``-th non-empty level of
    that side (0 = the best; ``quote_unit="tick"``: ``l`` ticks behind the best):

    =========  ==============================================================================
    action     meaning
    =========  ==============================================================================
    0          no-op: resting orders stay
    1..15      reference: quote (bid level, ask level) = (0,4) (0,9) (0,14) (4,0) (4,4) (4,9)
               (4,14) (9,0) (9,4) (9,9) (9,14) (14,0) (14,4) (14,9) (14,14)
    1..16      extended: every pair of levels {0, 4, 9, 14}, bid-major: (0,0) (0,4) .. (14,14)
    16 / 17    flatten: cancel both orders and close the inventory with a market order
    =========  ==============================================================================

    A quote at a side's current price keeps the resting order and its queue place; a side whose
    fill could take ``|inventory|`` beyond ``max_inventory`` orders is not quoted (its order is
    cancelled).

    ## Observation Space
    ``Box(-10, 10, (stack x (7 depth + 3 + 2 windows + 7),), float32)``: market features
    (:mod:`envs.market_making.features`: level distances and notionals, order-flow imbalance per
    level, depth imbalance, spread, mid return, trade-flow imbalance and RSI-like indicators per
    window) z-scored with mean and deviation fitted on the previous day of the data (the first day
    on itself) and clipped to +-10, then the 7 position features (inventory / limit, unrealized and
    realized PnL in % of capital, order distances, queue completion). No reward in it. ``stack``
    > 1 concatenates the last ``stack`` vectors, oldest first.

    ``market_observation=True`` (what the rule-based market makers of :mod:`agents.market_making`
    need) makes it a ``Dict``: ``features`` (the Box above) and the raw, unscaled state of
    :meth:`market_state` (:func:`market_observation_space`): ``time``, ``time_left``, ``mid``,
    ``tick_size``, ``best_bid``, ``best_ask``, ``inventory``, ``position``, ``order_qty``,
    ``max_inventory``, ``decisions``, ``step_trades`` (float64, shape (1,); a price that does not exist
    is 0), ``action_quotes`` (float64 (n_actions, 2): the bid and ask each action would quote now, 0
    where it would not quote that side) and ``action_quoted`` (MultiBinary (n_actions, 2): the sides
    it would quote). The state travels with the observation, so it reaches an agent in another
    process (a subprocess VecEnv, Ray) as well.

    ## Rewards
    By name (``reward``), in percent of one order's notional: the paper's ``unrealized``,
    ``unrealized_realized``, ``asymmetrical``, ``asymmetrical_ceiling``, ``realized``,
    ``trade_completion``, ``differential_sharpe``, and ``cash_pnl``, ``inventory_penalty``; the
    formulas are in :mod:`envs.market_making.rewards`. The flattening at the end is in the last
    step's reward.

    ## Starting State
    The day's book replayed to its first consistent state (or to the window's start), no orders,
    no inventory, cash 0. Training days are drawn with ``np_random``; test days are taken in order.

    ## Episode End
    Terminated when the day's (window's) events run out: the inventory is flattened at market
    (taker fee, walking the book). ``info["metrics"]`` then holds PnL (cash and % of capital),
    Sharpe, Sortino, max drawdown, trades, fill ratio, inventory max and mean, market orders, fees
    and buy-and-hold (:mod:`envs.market_making.metrics`).

    ## Arguments
    - ``data``: None: seeded synthetic Cont-Stoikov-Talreja days (``synthetic_days``,
      ``synthetic_seed``, ``session_seconds``); else a file, folder or glob for
      :func:`~envs.market_making.data.load_events`.
    - ``split``: ``train``, ``test`` or ``all`` days; ``test_days``: the last days held out (a count
      or a fraction; a one-day data set serves both splits, with a warning).
    - ``episode_seconds``: None (a whole day) or the length of a random window of the day.
    - ``clock``: ``event`` (``threshold``, relative mid move, 1e-4), ``time`` (``dt`` seconds),
      ``tick`` (``every`` messages) or ``volume`` (``volume``, base quantity traded).
    - ``actions``: ``reference`` or ``extended``; ``quote_unit``: ``level`` or ``tick``.
    - ``order_notional`` (quote currency; the order size in base is fixed per episode at the first
      mid), ``max_inventory`` (orders).
    - ``queue``: ``notional``, ``conservative`` or ``probabilistic`` (``queue_power``);
      ``latency_ms``: order entry latency.
    - ``maker_fee``, ``taker_fee``: fractions of notional (negative: a rebate).
    - ``reward`` and its parameters ``dampening``, ``ceiling``, ``eta``, ``inventory_penalty``.
    - ``depth``: book levels in the features; ``windows``: indicator windows in seconds;
      ``stack``: observations stacked.
    - ``market_observation``: add the raw market state to the observation (a Dict; see above).

    ## Version History
    - v0: first version.
    """

    metadata = {"render_modes": []}

    def __init__(self, data=None, *, split: str = "train", test_days: int | float = 1,
                 synthetic_days: int = 4, synthetic_seed: int = 0, session_seconds: float = 3600.0,
                 episode_seconds: float | None = None, clock: str = "event", threshold: float = 1e-4,
                 dt: float = 1.0, every: int = 100, volume: float = 1.0, actions: str = "reference",
                 quote_unit: str = "level", order_notional: float = 1000.0, max_inventory: int = 10,
                 queue: str = "conservative", queue_power: float = 2.0, latency_ms: float = 0.0,
                 maker_fee: float = 0.0, taker_fee: float = 0.002, reward: str = "trade_completion",
                 dampening: float = 0.35, ceiling: float | None = None, eta: float = 0.01,
                 inventory_penalty: float = 0.01, depth: int = 15, windows=(300.0, 900.0, 1800.0),
                 stack: int = 1, market_observation: bool = False) -> None:
        arguments = {name: value for name, value in locals().items() if name not in ("self", "market_observation")}
        self.settings = settings = Settings.from_arguments(arguments)
        for name in ("days", "day_indices", "split", "pairs", "flatten_action", "action_space", "quote_unit",
                     "order_notional", "max_inventory", "episode_seconds", "depth", "windows", "stack",
                     "engine_kwargs", "reward_fn", "n_market", "n_features", "observation_space"):
            setattr(self, name, getattr(settings, name))
        self.library = DayLibrary(settings)
        self._games = None  # the day's game (a batch of one), rebuilt when the day changes
        self._game_day = -1
        self._actions = np.zeros(1, np.int64)
        self._live = np.ones(1, np.bool_)
        self._next_test = 0
        self.engine: eng.Engine | None = None
        self.market_observation = bool(market_observation)
        self.features_space = settings.observation_space
        if self.market_observation:
            self.observation_space = market_observation_space(self.features_space, self.action_space.n)

    def _scaler(self, day: int) -> tuple[np.ndarray, np.ndarray]:
        return self.library.scaler(day)

    def _start_game(self, day: int) -> None:
        """A fresh book, orders and account on ``day``, and the Engine over them."""
        games = Games(1, [self.library.day(day)], self.library.rules)
        games.set_scaler(0, *self._scaler(day))
        self._games, self._game_day = games, day
        self.engine = game_engine(games, 0)

    # -- read-only raw state for rule-based agents ------------------------------------------------
    def market_state(self) -> dict:
        """The raw (unscaled) state a rule-based quoting agent needs, read-only, after ``reset``.

        ``time`` and ``time_left`` (to the episode's last event) in seconds; ``mid``,
        ``tick_size``, ``best_bid``, ``best_ask`` (NaN on an empty side) in quote currency;
        ``inventory`` in orders (position / order size), ``position`` and ``order_qty`` in base,
        ``max_inventory`` in orders; ``decisions`` taken this episode (0 right after reset);
        ``step_trades``: market trades during the last step (0 after reset); ``action_quotes``: ``(n_actions, 2)`` bid and ask prices each action would quote now
        (NaN for a side it would not quote: no-op, flatten, a side beyond the inventory limit or an
        empty side), computed as :meth:`step` quotes.
        """
        if self.engine is None:
            raise RuntimeError("call reset() before market_state()")
        from envs.market_making.data.book import top_levels

        e = self.engine
        bb, ba = e.best_ticks()
        tick_size = e.tick_size
        position = float(e.account[acc.POSITION])
        quotable = [position + self.order_qty <= self.limit_qty * (1.0 + 1e-9),
                    -position + self.order_qty <= self.limit_qty * (1.0 + 1e-9)]
        depth = max(LEVELS) + 1
        ticks = np.empty((2, depth), np.int64)
        top_levels(e.book.bid, e.book.ask, e.book.state, depth, ticks, np.empty((2, depth)))
        quotes = np.full((self.action_space.n, 2), np.nan)
        for a, pair in enumerate(self.pairs, start=1):
            for o, level in enumerate(pair):
                best = bb if o == 0 else ba
                if not quotable[o] or abs(best) >= eng.NO_ASK:
                    continue
                tick = int(ticks[o, level]) if self.quote_unit == "level" and ticks[o, level] >= 0 else -1
                if tick < 0:  # as step(): a missing level falls back to ticks behind the best
                    tick = best - (1 if o == 0 else -1) * level
                quotes[a, o] = tick * tick_size
        stop = min(e.stop, len(e.table)) - 1
        end = int(e.table.time[stop]) if stop >= 0 else e.now
        return {"time": e.now * 1e-9, "time_left": max(end - e.now, 0) * 1e-9, "mid": float(e.mid),
                "tick_size": tick_size, "best_bid": bb * tick_size if bb != eng.NO_BID else math.nan,
                "best_ask": ba * tick_size if ba != eng.NO_ASK else math.nan,
                "inventory": position / self.order_qty, "position": position,
                "order_qty": self.order_qty, "max_inventory": self.max_inventory,
                "decisions": len(self.mids) - 1, "step_trades": float(e.step["trades"]),
                "action_quotes": quotes}

    # -- Gymnasium API --------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = options or {}
        if "day" in options:
            day = self.day_indices[int(options["day"]) % len(self.day_indices)]
        else:
            day, self._next_test = self.settings.first_day(self.np_random, self._next_test)
        table = self.days[day][1]
        self.day = day
        self.mean, self.std = self._scaler(day)
        if self._games is None or self._game_day != day:
            self._start_game(day)
        start, stop = episode_rows(table, self.episode_seconds, self.np_random)
        games, e = self._games, self.engine
        games.reset(np.zeros(1, np.int64), np.zeros(1, np.int64), np.array([start]), np.array([stop]))
        e.cursor, e.stop = int(games.gi[0, G_CURSOR]), int(stop)
        mid = float(games.gf[0, F_MID])
        self.order_qty = float(games.gf[0, F_ORDER_QTY])
        self.limit_qty = float(games.gf[0, F_LIMIT_QTY])
        obs = games.obs[0].copy()
        frame = obs[-self.n_features:]
        self._frames = deque([frame] * self.stack, maxlen=self.stack)
        self.mid = mid
        self.equity = [float(games.gf[0, F_EQUITY])]
        self.inventory = [0.0]
        self.mids = [mid]
        return self._observation(obs), {"time": e.now, "mid": mid, "day": str(self.days[day][0])}

    def _quote(self, bid_level: int, ask_level: int) -> None:
        e, games = self.engine, self._games
        quote_levels(bid_level, ask_level, self.quote_unit == "level", self.order_qty, self.limit_qty,
                     e.book_arrays, e.game, games.top_ticks, games.top_qty)

    def step(self, action):
        if self.engine is None:
            raise RuntimeError("call reset() before step()")
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} outside {self.action_space}")
        games, e = self._games, self.engine
        self._actions[0] = int(action)
        rewards, done = games.step(self._actions, self._live)
        e.cursor = int(games.gi[0, G_CURSOR])
        mid, equity = float(games.gf[0, F_MID]), float(games.gf[0, F_EQUITY])
        self.mid = mid
        self.equity.append(equity)
        self.inventory.append(e.account[acc.POSITION] / self.order_qty)
        self.mids.append(mid)
        obs = games.obs[0].copy()
        self._frames.append(obs[-self.n_features:])
        info = {"time": e.now, "mid": mid, "position": float(e.account[acc.POSITION]),
                "cash": float(e.account[acc.CASH]), "equity": equity, "fills": int(games.gi[0, G_FILLS]),
                "events": int(e.step["rows"])}
        terminated = bool(done[0])
        if terminated:
            info["metrics"] = episode_metrics(np.asarray(self.equity), np.asarray(self.inventory),
                                              np.asarray(self.mids),
                                              capital=self.max_inventory * self.order_notional,
                                              account=e.accounts())
        return self._observation(obs), float(rewards[0]), terminated, False, info

    def _observation(self, features: np.ndarray) -> np.ndarray | dict[str, np.ndarray]:
        """The features, or with ``market_observation`` the Dict of the features and the market state."""
        if not self.market_observation:
            return features
        state = self.market_state()
        quotes = state["action_quotes"]
        observation = {"features": features}
        for name in MARKET_SCALARS:
            value = float(state[name])
            observation[name] = np.array([value if value == value else 0.0])
        observation["action_quotes"] = np.nan_to_num(quotes, nan=0.0)
        observation["action_quoted"] = (~np.isnan(quotes)).astype(np.int8)
        return observation


def market_observation_space(features: spaces.Box, n_actions: int) -> spaces.Dict:
    """The observation space of ``market_observation=True``: ``features`` (the default observation)
    and the raw market state of :meth:`MarketMakingEnv.market_state`, one float64 Box per entry;
    a price that does not exist (``mid``, ``best_bid``, ``best_ask`` on an empty side, a side an
    action would not quote in ``action_quotes``) is 0, and ``action_quoted`` marks the quoted sides."""
    unbounded = {name: spaces.Box(-np.inf, np.inf, (1,), np.float64) for name in MARKET_SCALARS}
    return spaces.Dict({"features": features, **unbounded,
                        "action_quotes": spaces.Box(-np.inf, np.inf, (n_actions, 2), np.float64),
                        "action_quoted": spaces.MultiBinary((n_actions, 2))})
