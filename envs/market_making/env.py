"""``rlkit/MarketMaking-v0``: event-based market making on replayed limit-order-book data."""

from __future__ import annotations

import functools
import logging
import math
import weakref
from collections import deque

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.market_making import accounting as acc
from envs.market_making import engine as eng
from envs.market_making.features import (POSITION_FEATURES, FlowWindows, book_features,
                                         n_market_features)
from envs.market_making.metrics import episode_metrics
from envs.market_making.rewards import REWARDS, Reward, StepOutcome

log = logging.getLogger(__name__)

LEVELS = (0, 4, 9, 14)
# the reference work's Discrete(17): (bid level, ask level) for actions 1..15; (0, 0) is missing
REFERENCE_PAIRS = ((0, 4), (0, 9), (0, 14), (4, 0), (4, 4), (4, 9), (4, 14), (9, 0), (9, 4), (9, 9),
                   (9, 14), (14, 0), (14, 4), (14, 9), (14, 14))
EXTENDED_PAIRS = tuple((b, a) for b in LEVELS for a in LEVELS)
ACTION_LAYOUTS = {"reference": REFERENCE_PAIRS, "extended": EXTENDED_PAIRS}
SPLITS = ("train", "test", "all")
# every MarketMakingEnv of this process, so an agent handed only an observation (rlkit's evaluation
# loop) can find the env it came from: see observing_envs()
_LIVE_ENVS: weakref.WeakSet = weakref.WeakSet()


@functools.lru_cache(maxsize=4)
def _synthetic_days(days: int, seed: int, session_seconds: float) -> tuple:
    from envs.market_making.data import split_days, synthetic_events

    return tuple(split_days(synthetic_events(days, seed=seed, session_seconds=session_seconds)).items())


def _data_days(data) -> tuple:
    from envs.market_making.data import load_events, split_days

    return tuple(split_days(load_events(data)).items())


class MarketMakingEnv(gym.Env):
    """Market making on a replayed limit-order book, deciding on an event, time, tick or volume clock.

    The agent keeps at most one resting buy and one resting sell order. Between two decisions every
    market event of the data goes through the book and the fill engine
    (:mod:`envs.market_making.engine`): orders fill only when trades reach their price, after the
    queue ahead (:mod:`envs.market_making.queues`), partially if need be. One episode is one day
    of the data (or a random window of it), and ends with the inventory flattened at market.

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
                 stack: int = 1) -> None:
        allowed = {"split": (split, SPLITS), "actions": (actions, tuple(ACTION_LAYOUTS)),
                   "quote_unit": (quote_unit, ("level", "tick")), "reward": (reward, REWARDS),
                   "clock": (clock, ("event", "time", "tick", "volume")),
                   "queue": (queue, ("notional", "conservative", "probabilistic"))}
        for name, (value, choices) in allowed.items():
            if value not in choices:
                raise ValueError(f"unknown {name} {value!r}; allowed: {', '.join(choices)}")
        positive = {"order_notional": order_notional, "max_inventory": max_inventory, "depth": depth,
                    "stack": stack, "dt": dt, "every": every, "threshold": threshold, "volume": volume}
        bad = [name for name, value in positive.items() if not value > 0]
        if bad or latency_ms < 0 or (episode_seconds is not None and episode_seconds <= 0):
            raise ValueError(f"bad argument(s) {bad or ['latency_ms/episode_seconds']}: {', '.join(positive)} "
                             "and episode_seconds must be > 0, latency_ms >= 0")
        if max(LEVELS) >= depth and quote_unit == "level":
            log.debug("depth %d < quoted levels: far quotes fall back to ticks", depth)
        self.days = _synthetic_days(int(synthetic_days), int(synthetic_seed), float(session_seconds)) \
            if data is None else _data_days(data)
        dates = [d for d, _ in self.days]
        if split == "all":
            chosen = dates
        elif len(dates) < 2:
            log.warning("the data has one day (%s): it serves as both train and test day", dates[0])
            chosen = dates
        else:
            from envs.market_making.data import train_test_days

            train, test = train_test_days(dates, test=test_days)
            chosen = train if split == "train" else test
        self.day_indices = [dates.index(d) for d in chosen]
        self.split = split
        self.pairs = ACTION_LAYOUTS[actions]
        self.flatten_action = len(self.pairs) + 1
        self.action_space = spaces.Discrete(len(self.pairs) + 2)
        self.quote_unit = quote_unit
        self.order_notional, self.max_inventory = float(order_notional), int(max_inventory)
        self.episode_seconds = episode_seconds
        self.depth, self.windows, self.stack = int(depth), tuple(float(w) for w in windows), int(stack)
        self.engine_kwargs = dict(queue=queue, queue_power=queue_power, latency_ns=int(latency_ms * 1e6),
                                  maker_fee=maker_fee, taker_fee=taker_fee, clock=clock,
                                  dt_ns=int(dt * 1e9), every=int(every), threshold=threshold,
                                  volume=volume, depth=self.depth)
        self.reward_fn = Reward(reward, taker_fee=taker_fee, dampening=dampening, ceiling=ceiling,
                                eta=eta, inventory_penalty=inventory_penalty)
        self.n_market = n_market_features(self.depth, len(self.windows))
        self.n_features = self.n_market + len(POSITION_FEATURES)
        self.observation_space = spaces.Box(-10.0, 10.0, (self.stack * self.n_features,), np.float32)
        self._scalers: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._ticks = np.empty((2, self.depth), np.int64)
        self._qty = np.empty((2, self.depth), np.float64)
        self._next_test = 0
        self.engine: eng.Engine | None = None
        _LIVE_ENVS.add(self)

    # -- features -------------------------------------------------------------------------------
    def _market_features(self, engine: eng.Engine, flows: FlowWindows, last_mid: float) -> np.ndarray:
        out = np.empty(self.n_market, np.float64)
        b, mid = engine.book, engine.mid
        book_features(b.bid, b.ask, b.state, self.depth, engine.tick_size, mid, engine.ofi,
                      self._ticks, self._qty, out)
        s = engine.step
        flows.update(engine.now, s[eng.S_BUY_VOLUME], s[eng.S_SELL_VOLUME], s[eng.S_MID_UP],
                     s[eng.S_MID_DOWN])
        k = 7 * self.depth + 2
        out[k] = math.log(mid / last_mid) if last_mid > 0 and mid > 0 else 0.0
        out[k + 1:] = flows.features()
        return out

    def _scaler(self, day: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean and deviation of the market features over the previous day (the first: itself),
        from a replay without orders on the same clock."""
        source = max(day - 1, 0)
        if source not in self._scalers:
            engine = eng.Engine(self.days[source][1], **self.engine_kwargs)
            flows = FlowWindows(self.windows)
            rows, mid = [], engine.mid
            while True:
                engine.clear_step()
                more = engine.advance()
                rows.append(self._market_features(engine, flows, mid))
                mid = engine.mid
                if not more:
                    break
            x = np.asarray(rows)
            std = x.std(axis=0)
            self._scalers[source] = (x.mean(axis=0), np.where(std > 1e-12, std, 1.0))
        return self._scalers[source]

    def _observation(self, market: np.ndarray) -> np.ndarray:
        e, mid = self.engine, self.engine.mid
        z = np.clip((market - self.mean) / self.std, -10.0, 10.0)
        position = e.account[acc.POSITION]
        capital = self.max_inventory * self.order_notional
        features = np.zeros(len(POSITION_FEATURES))
        features[0] = position / self.limit_qty
        features[1] = 100.0 * acc.unrealized(e.account, mid) / capital
        features[2] = 100.0 * e.account[acc.REALIZED] / capital
        for o in (0, 1):
            if e.oi[o, eng.OI_ACTIVE]:
                features[3 + o] = e.oi[o, eng.OI_TICK] * e.tick_size / mid - 1.0
                front, size = e.of[o, eng.OF_FRONT], e.of[o, eng.OF_SIZE]
                features[5 + o] = (e.of[o, eng.OF_EXEC] - front) / (front + size)
        vector = np.concatenate([z, np.clip(features, -10.0, 10.0)]).astype(np.float32)
        self._frames.append(vector)
        return np.concatenate(self._frames) if self.stack > 1 else vector

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
                "decisions": len(self.mids) - 1, "step_trades": float(e.step[eng.S_TRADES]),
                "action_quotes": quotes}

    # -- Gymnasium API --------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = options or {}
        if "day" in options:
            day = self.day_indices[int(options["day"]) % len(self.day_indices)]
        elif self.split == "test":
            day = self.day_indices[self._next_test % len(self.day_indices)]
            self._next_test += 1
        else:
            day = self.day_indices[int(self.np_random.integers(len(self.day_indices)))]
        table = self.days[day][1]
        self.day = day
        self.mean, self.std = self._scaler(day)
        if self.engine is None or self.engine.table is not table:
            self.engine = eng.Engine(table, **self.engine_kwargs)
        start, stop = 0, len(table)
        if self.episode_seconds is not None:
            length = int(self.episode_seconds * 1e9)
            first, last = int(table.time[0]), int(table.time[-1])
            offset = int(self.np_random.integers(max(last - first - length, 0) + 1))
            start = int(np.searchsorted(table.time, first + offset))
            stop = int(np.searchsorted(table.time, first + offset + length))
            while start > 0 and table.time[start - 1] == table.time[start]:
                start -= 1  # never cut a message
        e = self.engine
        e.reset(start, stop)
        mid = e.mid
        self.order_qty = self.order_notional / mid
        self.limit_qty = self.max_inventory * self.order_qty
        e.cf[eng.CF_LIMIT] = self.limit_qty * (1.0 + 1e-9)
        self.reward_fn.reset()
        self.flows = FlowWindows(self.windows)
        self._frames = deque(maxlen=self.stack)
        e.clear_step()
        market = self._market_features(e, self.flows, mid)
        obs = self._observation(market)
        for _ in range(self.stack - 1):
            self._frames.append(self._frames[-1])
        obs = np.concatenate(self._frames) if self.stack > 1 else obs
        self.mid = mid
        self.equity = [acc.equity(e.account, mid)]
        self.inventory = [0.0]
        self.mids = [mid]
        return obs, {"time": e.now, "mid": mid, "day": str(self.days[day][0])}

    def _quote(self, bid_level: int, ask_level: int) -> None:
        e = self.engine
        position, limit, qty = e.account[acc.POSITION], self.limit_qty, self.order_qty
        for o, level in ((0, bid_level), (1, ask_level)):
            side = 1 if o == 0 else -1
            if side * position + qty > limit * (1.0 + 1e-9):
                e.cancel(o)
                continue
            tick = e.level_tick(side, level) if self.quote_unit == "level" else None
            if tick is None:
                bb, ba = e.best_ticks()
                best = bb if side > 0 else ba
                if abs(best) >= eng.NO_ASK:
                    e.cancel(o)
                    continue
                tick = best - side * level
            e.quote(o, tick, qty)

    def step(self, action):
        if self.engine is None:
            raise RuntimeError("call reset() before step()")
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} outside {self.action_space}")
        e = self.engine
        action = int(action)
        equity0, realized0, market0 = self.equity[-1], e.account[acc.REALIZED], e.account[acc.MARKET_ORDERS]
        if action == self.flatten_action:
            e.flatten()
        elif action > 0:
            self._quote(*self.pairs[action - 1])
        q = e.account[acc.POSITION] / self.order_qty
        e.clear_step()
        more = e.advance()
        if not more:
            e.flatten()
        mid = e.mid
        if not mid > 0:
            mid = self.mid
        equity = acc.equity(e.account, mid)
        n = self.order_notional
        outcome = StepOutcome(q=q, dm=mid / self.mid - 1.0, pi=(e.account[acc.REALIZED] - realized0) / n,
                              h=e.step[eng.S_CAPTURE] / self.order_qty,
                              fills=int(e.step[eng.S_FILLS] + e.account[acc.MARKET_ORDERS] - market0),
                              dE=(equity - equity0) / n)
        reward = self.reward_fn(outcome)
        market = self._market_features(e, self.flows, self.mid)
        self.mid = mid
        self.equity.append(equity)
        self.inventory.append(e.account[acc.POSITION] / self.order_qty)
        self.mids.append(mid)
        obs = self._observation(market)
        info = {"time": e.now, "mid": mid, "position": float(e.account[acc.POSITION]),
                "cash": float(e.account[acc.CASH]), "equity": equity, "fills": outcome.fills,
                "events": int(e.step[eng.S_ROWS])}
        terminated = not more
        if terminated:
            info["metrics"] = episode_metrics(np.asarray(self.equity), np.asarray(self.inventory),
                                              np.asarray(self.mids),
                                              capital=self.max_inventory * self.order_notional,
                                              account=e.accounts())
        return obs, reward, terminated, False, info


def observing_envs(observation) -> list[MarketMakingEnv]:
    """The live :class:`MarketMakingEnv` instances of this process whose latest observation equals
    ``observation`` (read-only). Rule-based agents use it to read :meth:`MarketMakingEnv.market_state`
    when all they are handed is an observation (as in rlkit's evaluation loop); copies of the
    observation (a VecEnv's buffer) match too, a normalised or otherwise transformed one does not."""
    observation = np.asarray(observation)
    found = []
    for env in list(_LIVE_ENVS):
        frames = getattr(env, "_frames", None)
        if env.engine is None or not frames:
            continue
        latest = np.concatenate(frames) if env.stack > 1 else frames[-1]
        if latest.shape == observation.shape and np.array_equal(latest, observation):
            found.append(env)
    return found
