"""Market-making games side by side: their state as arrays and their step as compiled kernels.

Both environments run on this module: :class:`~envs.market_making.env.MarketMakingEnv` is a
:class:`Games` of one, :class:`~envs.market_making.vector.MarketMakingVectorEnv` a :class:`Games` of
``num_envs``. A step is two kernel calls and one NumPy expression, whatever the number of games:

1. :func:`step_games`: each live game takes its action (quotes or a flattening market order),
   replays the rows to its next decision (fills, queues, accounting, clock:
   :func:`~envs.market_making.engine.replay_to_decision`), flattens at the end of its rows, and
   gets its reward and its book features;
2. :func:`~envs.market_making.features.flow_decay`: the flow windows' decay factors (NumPy's ``exp``,
   see :mod:`~envs.market_making.features`);
3. :func:`observe_games`: the flow windows, the z-scored market features, the position features and
   the stacked observation of each live game.

Days are shared read-only by every game: their columns (concatenated when a batch holds several
days) and their tapes (:func:`~envs.market_making.engine.build_tape`). Each game keeps its own book
(its day's window of ticks, as :meth:`~envs.market_making.data.book.L2Book.for_table` sizes it, and
overflow maps for levels outside it), orders, account, clock and flow windows. A day whose book
moves its window has no tape: its games replay it through the book's own kernels (about ten times
slower), keeping the book between episodes on the same day as the single env's Engine does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numba import njit
from numba.typed import List

from envs.market_making import accounting as acc
from envs.market_making import engine as eng
from envs.market_making.data.book import BASE, L2Book, new_overflow, ticks_of, top_levels
from envs.market_making.data.events import EventTable
from envs.market_making.engine import (CF_LIMIT, CF_TICK, K_NEXT_T, K_MSGS, K_NOW, KF_LAST_MID, KF_MID0,
                                       KF_VOLUME, NO_ASK, S_BUY_VOLUME, S_CAPTURE, S_FILLS, S_MID_DOWN,
                                       S_MID_UP, S_SELL_VOLUME, CI_DT)
from envs.market_making.features import flow_decay, flow_features, market_features, position_features
from envs.market_making.rewards import reward_value

# per-game ints: row cursor and stop (rows of the batch's columns), day (of the batch), the day's
# first row, whether the flow windows have a time, that time, the last step's fills, the day whose
# book the game holds (-1: none)
G_CURSOR, G_STOP, G_DAY, G_FIRST, G_FLOW_SET, G_FLOW_TIME, G_FILLS, G_BOOK_DAY = range(8)
# per-game floats: order size (base), inventory limit (base), the last mid a decision saw (the book's,
# or the one before when the book had none), the book's mid then (NaN if none), equity then
F_ORDER_QTY, F_LIMIT_QTY, F_MID, F_BOOK_MID, F_EQUITY = range(5)
# shared ints: the flatten action, quote by level (else by tick), reward index, depth, stack, and
# scaler mode (the mid return against the book's last mid, as the scaler's replay computes it)
R_FLATTEN, R_QUOTE_LEVEL, R_REWARD, R_DEPTH, R_STACK, R_SCALER = range(6)
# shared floats: order notional, max inventory (orders), capital (their product)
R_NOTIONAL, R_MAX_INVENTORY, R_CAPITAL = range(3)
N_POSITION = 7


@njit(cache=True, nogil=True, error_model="numpy")
def quote_levels(bid_level, ask_level, quote_level, order_qty, limit_qty, now, bid, ask, over_bid, over_ask,
                 bs, oi, of, account, ci, top_ticks, top_qty):
    """Quote the bid at ``bid_level`` and the ask at ``ask_level`` (book levels, or ticks behind the
    best when ``quote_level`` is false or the level is missing); a side whose fill could take the
    inventory beyond ``limit_qty``, or whose book side is empty, is cancelled."""
    position = account[acc.POSITION]
    for o in range(2):
        level = bid_level if o == 0 else ask_level
        side = 1 if o == 0 else -1
        if side * position + order_qty > limit_qty * (1.0 + 1e-9):
            eng.place(o, 0, 0.0, now, bid, ask, over_bid, over_ask, bs, oi, of, account, ci)
            continue
        tick = -1
        if quote_level:
            top_levels(bid, ask, bs, level + 1, top_ticks, top_qty)
            tick = top_ticks[o, level]
        if tick < 0:
            bb, ba = eng.best_ticks(bs, over_bid, over_ask)
            best = bb if side > 0 else ba
            if abs(best) >= NO_ASK:
                eng.place(o, 0, 0.0, now, bid, ask, over_bid, over_ask, bs, oi, of, account, ci)
                continue
            tick = best - side * level
        eng.place(o, tick, order_qty, now, bid, ask, over_bid, over_ask, bs, oi, of, account, ci)


@njit(cache=True, nogil=True, error_model="numpy")
def reset_games(games, days, starts, stops, bid, ask, over_bids, over_asks, bs, oi, of, account, cf, ci, clk,
                clkf, step, ofi, gi, gf, rstate, flows, market, top_ticks, top_qty, kind, side, ticks, qty, flags,
                time, tbb, tba, tnb, tna, day_first, day_rows, day_base, day_width, day_tick, day_tape, cf_rules,
                rints, rfloats):
    """Start game ``games[j]`` on day ``days[j]`` with rows ``starts[j]..stops[j]-1`` of that day:
    the book replayed to the window's start (and on until it has both sides), no orders, a fresh
    account, the order size from the first mid, and the book features of the first observation."""
    depth = rints[R_DEPTH]
    for j in range(games.shape[0]):
        g = games[j]
        d = days[j]
        first = day_first[d]
        start = first + starts[j]
        stop = first + stops[j]
        w = day_width[d]
        b, a, s, c = bid[g, :w], ask[g, :w], bs[g], cf[g]
        over_bid, over_ask = over_bids[g], over_asks[g]
        if day_tape[d]:
            cursor = eng.tape_restart(b, a, over_bid, over_ask, s, day_base[d], kind, side, ticks, qty, flags, tbb,
                                      tba, tnb, tna, first, start, stop)
        else:
            if gi[g, G_BOOK_DAY] != d:  # a fresh book (the Engine of a new day); else the day's, emptied
                bid[g] = 0.0
                ask[g] = 0.0
                over_bid.clear()
                over_ask.clear()
                s[:] = 0
                s[BASE] = day_base[d]
                s[1] = -1
                s[2] = -1
            cursor = eng.restart(b, a, over_bid, over_ask, s, kind, side, ticks, qty, flags, first, start, stop)
        gi[g, G_BOOK_DAY] = d
        oi[g] = 0
        of[g] = 0.0
        account[g] = 0.0
        c[:] = cf_rules
        c[CF_TICK] = day_tick[d]
        now = time[max(cursor - 1, first)] if day_rows[d] > 0 else 0
        clk[g, K_NEXT_T] = now + ci[CI_DT]
        clk[g, K_MSGS] = 0
        clk[g, K_NOW] = now
        mid = eng.mid_price(s, over_bid, over_ask, c[CF_TICK])
        clkf[g, KF_MID0] = mid
        clkf[g, KF_VOLUME] = 0.0
        clkf[g, KF_LAST_MID] = mid
        order_qty = rfloats[R_NOTIONAL] / mid
        limit_qty = rfloats[R_MAX_INVENTORY] * order_qty
        c[CF_LIMIT] = limit_qty * (1.0 + 1e-9)
        gi[g, G_CURSOR] = cursor
        gi[g, G_STOP] = stop
        gi[g, G_DAY] = d
        gi[g, G_FIRST] = first
        gi[g, G_FLOW_SET] = 0
        gi[g, G_FILLS] = 0
        flows[g] = 0.0
        gf[g, F_ORDER_QTY] = order_qty
        gf[g, F_LIMIT_QTY] = limit_qty
        rstate[g] = 0.0
        step[g] = 0.0
        ofi[g] = 0.0
        market_features(b, a, s, depth, c[CF_TICK], mid, mid, ofi[g], top_ticks, top_qty, market[g])
        gf[g, F_MID] = mid
        gf[g, F_BOOK_MID] = mid
        gf[g, F_EQUITY] = account[g, acc.CASH] + account[g, acc.POSITION] * mid


@njit(cache=True, nogil=True, error_model="numpy")
def step_games(live, actions, rewards, done, bid, ask, over_bids, over_asks, bs, oi, of, account, cf, ci, clk,
               clkf, step, ofi, gi, gf, rstate, market, top_ticks, top_qty, kind, side, ticks, qty, flags, time,
               tbb, tba, tnb, tna, tslot, tinc, day_width, day_tape, pairs, rints, rfloats, rparams):
    """One decision of every game where ``live``: act, replay to the next decision, reward, book
    features. Writes ``rewards[g]`` and ``done[g]`` (the rows ran out: the game was flattened).
    A game's book is its row of ``bid``/``ask`` cut to its day's window, with its overflow maps."""
    flatten_action = rints[R_FLATTEN]
    quote_level = rints[R_QUOTE_LEVEL]
    reward_kind = rints[R_REWARD]
    depth = rints[R_DEPTH]
    scaler = rints[R_SCALER]
    notional = rfloats[R_NOTIONAL]
    for g in range(live.shape[0]):
        if not live[g]:
            continue
        w = day_width[gi[g, G_DAY]]
        b, a, s, c, st, fl = bid[g, :w], ask[g, :w], bs[g], cf[g], step[g], ofi[g]
        o_i, o_f, ac = oi[g], of[g], account[g]
        over_bid, over_ask = over_bids[g], over_asks[g]
        action = actions[g]
        equity0 = gf[g, F_EQUITY]
        realized0 = ac[acc.REALIZED]
        market0 = ac[acc.MARKET_ORDERS]
        order_qty = gf[g, F_ORDER_QTY]
        if action == flatten_action:
            eng.flatten(b, a, over_bid, over_ask, s, o_i, o_f, ac, c)
        elif action > 0:
            quote_levels(pairs[action - 1, 0], pairs[action - 1, 1], quote_level, order_qty, gf[g, F_LIMIT_QTY],
                         clk[g, K_NOW], b, a, over_bid, over_ask, s, o_i, o_f, ac, ci, top_ticks, top_qty)
        q = ac[acc.POSITION] / order_qty
        st[:] = 0.0
        fl[:] = 0.0
        stop = gi[g, G_STOP]
        cursor = eng.replay_to_decision(b, a, over_bid, over_ask, s, kind, side, ticks, qty, flags, time,
                                        day_tape[gi[g, G_DAY]], tbb, tba, tnb, tna, tslot, tinc, gi[g, G_CURSOR], stop,
                                        o_i, o_f, ac, c, ci, clk[g], clkf[g], st, fl)
        gi[g, G_CURSOR] = cursor
        more = cursor < stop
        if not more:
            eng.flatten(b, a, over_bid, over_ask, s, o_i, o_f, ac, c)
        book_mid = eng.mid_price(s, over_bid, over_ask, c[CF_TICK])
        last_mid = gf[g, F_MID]
        mid = book_mid if book_mid > 0 else last_mid
        equity = ac[acc.CASH] + ac[acc.POSITION] * mid
        fills = np.int64(st[S_FILLS] + ac[acc.MARKET_ORDERS] - market0)
        rewards[g] = reward_value(reward_kind, q, mid / last_mid - 1.0, (ac[acc.REALIZED] - realized0) / notional,
                                  st[S_CAPTURE] / order_qty, fills, (equity - equity0) / notional, rparams,
                                  rstate[g])
        market_features(b, a, s, depth, c[CF_TICK], book_mid, gf[g, F_BOOK_MID] if scaler else last_mid, fl,
                        top_ticks, top_qty, market[g])
        gf[g, F_MID] = mid
        gf[g, F_BOOK_MID] = book_mid
        gf[g, F_EQUITY] = equity
        gi[g, G_FILLS] = fills
        done[g] = not more


@njit(cache=True, nogil=True, error_model="numpy")
def observe_games(mask, fresh, decay, obs, market, flows, gi, gf, clk, step, account, oi, of, cf, day_mean,
                  day_std, rints, rfloats, position):
    """The observation of every game where ``mask``, after its reset (``fresh``: every stacked frame
    is the first one) or its step (the frames shift by one): flow windows, market features z-scored
    with the day's scaler and clipped to +-10, position features clipped, as float32."""
    depth = rints[R_DEPTH]
    stack = rints[R_STACK]
    n_market = market.shape[1]
    width = n_market + N_POSITION
    newest = (stack - 1) * width
    capital = rfloats[R_CAPITAL]
    for g in range(mask.shape[0]):
        if not mask[g]:
            continue
        st = step[g]
        m = market[g]
        flow_features(flows[g], decay[g], gi[g, G_FLOW_SET] != 0, st[S_BUY_VOLUME], st[S_SELL_VOLUME],
                      st[S_MID_UP], st[S_MID_DOWN], m, 7 * depth + 3)
        gi[g, G_FLOW_SET] = 1
        gi[g, G_FLOW_TIME] = clk[g, K_NOW]
        position_features(account[g], oi[g], of[g], cf[g, CF_TICK], gf[g, F_BOOK_MID], gf[g, F_LIMIT_QTY],
                          capital, position)
        row = obs[g]
        if stack > 1 and not fresh:
            for i in range(newest):
                row[i] = row[i + width]
        d = gi[g, G_DAY]
        mean = day_mean[d]
        std = day_std[d]
        for i in range(n_market):
            z = (m[i] - mean[i]) / std[i]
            if z < -10.0:
                z = -10.0
            elif z > 10.0:
                z = 10.0
            row[newest + i] = np.float32(z)
        for i in range(N_POSITION):
            v = position[i]
            if v < -10.0:
                v = -10.0
            elif v > 10.0:
                v = 10.0
            row[newest + n_market + i] = np.float32(v)
        if stack > 1 and fresh:
            for f in range(stack - 1):
                for i in range(width):
                    row[f * width + i] = row[newest + i]


# -- days ---------------------------------------------------------------------------------------------
@dataclass
class Day:
    """One day's rows (an :class:`EventTable`) with its book window (``base`` tick, ``width`` ticks,
    as :meth:`L2Book.for_table` sizes it) and its tape, None when the book moves its window."""

    table: EventTable
    base: int
    width: int
    tape: tuple[np.ndarray, ...] | None


def prepare_day(table: EventTable, depth: int) -> Day:
    """Replay ``table`` once to record its tape for order-flow imbalance over ``depth`` levels."""
    book = L2Book.for_table(table)
    base, width = int(book.state[BASE]), len(book.bid)
    n = len(table)
    tape = (np.empty(n, np.int32), np.empty(n, np.int32), np.empty(n, np.int32), np.empty(n, np.int32),
            np.empty(n, np.int32), np.empty(n, np.float64))
    fits = eng.build_tape(book.bid, book.ask, book.over_bid, book.over_ask, book.state, table.kind, table.side,
                          ticks_of(table), table.qty, depth, table.tick_size, *tape)
    return Day(table, base, width, tape if fits else None)


@dataclass(frozen=True)
class Rules:
    """What every game of a batch shares, as the kernels take it (see ``R_*``): the engine's
    configuration (``cf`` without tick and limit, ``ci``), the action layout, the reward and its
    parameters, the feature sizes and the flow windows in ns."""

    cf: np.ndarray
    ci: np.ndarray
    pairs: np.ndarray
    ints: np.ndarray
    floats: np.ndarray
    reward_params: np.ndarray
    windows_ns: np.ndarray
    n_market: int
    stack: int


def make_rules(*, engine_kwargs: dict, pairs, flatten_action: int, quote_unit: str, reward, depth: int,
               windows, stack: int, order_notional: float, max_inventory: int) -> Rules:
    """The :class:`Rules` of an env's settings (see :class:`~envs.market_making.env.Settings`)."""
    cf, ci = eng.engine_config(1.0, inventory_limit=np.inf, **engine_kwargs)
    n_windows = len(windows)
    ints = np.array([flatten_action, quote_unit == "level", reward.kind, depth, stack, 0], np.int64)
    floats = np.array([order_notional, max_inventory, max_inventory * order_notional], np.float64)
    return Rules(cf=cf, ci=ci, pairs=np.asarray(pairs, np.int64).reshape(-1, 2), ints=ints, floats=floats,
                 reward_params=reward.params.copy(), windows_ns=np.asarray(windows, np.float64) * 1e9,
                 n_market=7 * depth + 3 + 2 * n_windows, stack=stack)


class Games:
    """``n`` games over ``days`` (a list of :class:`Day`), with their state arrays.

    :meth:`reset` starts games on given days and rows; :meth:`step` advances the live ones by one
    decision. ``obs`` holds every game's current observation (float32, ``(n, stack x features)``),
    ``market`` its raw market features. ``set_scaler`` gives a day its feature mean and deviation
    before a game starts on it.
    """

    def __init__(self, n: int, days: list[Day], rules: Rules) -> None:
        self.n, self.days, self.rules = int(n), list(days), rules
        tapes = [d.tape is not None for d in days]
        tables = [d.table for d in days]
        rows = np.array([len(t) for t in tables], np.int64)

        def column(get, dtype):
            parts = [np.asarray(get(t), dtype) for t in tables]
            return parts[0] if len(parts) == 1 else np.concatenate(parts)

        self.kind = column(lambda t: t.kind, np.int8)
        self.side = column(lambda t: t.side, np.int8)
        self.ticks = column(ticks_of, np.int64)
        self.qty = column(lambda t: t.qty, np.float64)
        self.flags = column(lambda t: t.flags, np.uint8)
        self.time = column(lambda t: t.time, np.int64)
        dtypes = (np.int32,) * 5 + (np.float64,)
        # the columns of a day without a tape are never read: they may hold anything
        self.tape = tuple(column(lambda t, i=i: self._tape_of(t, i, dtypes[i]), dtypes[i]) for i in range(6))
        self.day_first = np.concatenate([[0], np.cumsum(rows)[:-1]]).astype(np.int64)
        self.day_rows = rows
        self.day_base = np.array([d.base for d in days], np.int64)
        self.day_tick = np.array([t.tick_size for t in tables], np.float64)
        self.day_tape = np.array(tapes, np.bool_)
        self.day_width = np.array([d.width for d in days], np.int64)
        n_market, width = rules.n_market, max(d.width for d in days)
        self.day_mean = np.zeros((len(days), n_market))
        self.day_std = np.ones((len(days), n_market))
        depth = int(rules.ints[R_DEPTH])
        self.bid = np.zeros((n, width))
        self.ask = np.zeros((n, width))
        self.bs = np.zeros((n, 6), np.int64)
        self.bs[:, BASE] = self.day_base[0]
        self.bs[:, 1:3] = -1
        self.over_bids = List([new_overflow() for _ in range(n)])
        self.over_asks = List([new_overflow() for _ in range(n)])
        self.oi = np.zeros((n, 2, 5), np.int64)
        self.of = np.zeros((n, 2, 6))
        self.account = np.zeros((n, acc.ACCOUNT_SIZE))
        self.cf = np.tile(rules.cf, (n, 1))
        self.clk = np.zeros((n, 3), np.int64)
        self.clkf = np.zeros((n, 3))
        self.step_acc = np.zeros((n, eng.STEP_SIZE))
        self.ofi = np.zeros((n, 2, max(depth, 1)))
        self.gi = np.zeros((n, 8), np.int64)
        self.gi[:, G_BOOK_DAY] = -1
        self.gf = np.zeros((n, 5))
        self.rstate = np.zeros((n, 2))
        self.market = np.zeros((n, n_market))
        self.flows = np.zeros((n, 4, len(rules.windows_ns)))
        self.obs = np.zeros((n, rules.stack * (n_market + N_POSITION)), np.float32)
        levels = int(rules.pairs.max()) + 1 if rules.pairs.size else 1
        self.top_ticks = np.empty((2, max(depth, levels)), np.int64)
        self.top_qty = np.empty((2, max(depth, levels)))
        self.position = np.empty(N_POSITION)

    def _tape_of(self, table: EventTable, i: int, dtype) -> np.ndarray:
        day = next(d for d in self.days if d.table is table)
        return day.tape[i] if day.tape is not None else np.zeros(len(table), dtype)

    def set_scaler(self, day: int, mean: np.ndarray, std: np.ndarray) -> None:
        self.day_mean[day] = mean
        self.day_std[day] = std

    def reset(self, games: np.ndarray, days: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> None:
        """Start ``games`` on ``days`` (indices into this batch's days) with rows ``starts..stops-1``
        of their day; their observations are then in ``obs``."""
        games = np.asarray(games, np.int64)
        r = self.rules
        reset_games(games, np.asarray(days, np.int64), np.asarray(starts, np.int64), np.asarray(stops, np.int64),
                    self.bid, self.ask, self.over_bids, self.over_asks, self.bs, self.oi, self.of, self.account,
                    self.cf, r.ci, self.clk, self.clkf, self.step_acc, self.ofi, self.gi, self.gf, self.rstate,
                    self.flows, self.market, self.top_ticks, self.top_qty, self.kind, self.side, self.ticks, self.qty,
                    self.flags, self.time, *self.tape[:4], self.day_first, self.day_rows, self.day_base,
                    self.day_width, self.day_tick, self.day_tape, r.cf, r.ints, r.floats)
        mask = np.zeros(self.n, np.bool_)
        mask[games] = True
        self._observe(mask, True, np.ones((self.n, len(r.windows_ns))))

    def step(self, actions: np.ndarray, live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One decision of the ``live`` games under ``actions`` (int64); returns rewards (float64) and
        the games whose rows ran out, both fresh arrays (zero and false where not live)."""
        r = self.rules
        rewards, done = np.zeros(self.n), np.zeros(self.n, np.bool_)
        step_games(live, actions, rewards, done, self.bid, self.ask, self.over_bids, self.over_asks, self.bs,
                   self.oi, self.of, self.account, self.cf, r.ci, self.clk, self.clkf, self.step_acc, self.ofi,
                   self.gi, self.gf, self.rstate, self.market, self.top_ticks, self.top_qty, self.kind,
                   self.side, self.ticks, self.qty, self.flags, self.time, *self.tape, self.day_width,
                   self.day_tape, r.pairs, r.ints, r.floats, r.reward_params)
        decay = flow_decay(self.clk[:, K_NOW] - self.gi[:, G_FLOW_TIME], r.windows_ns)
        self._observe(live, False, decay)
        return rewards, done

    def _observe(self, mask: np.ndarray, fresh: bool, decay: np.ndarray) -> None:
        r = self.rules
        observe_games(mask, fresh, decay, self.obs, self.market, self.flows, self.gi, self.gf, self.clk,
                      self.step_acc, self.account, self.oi, self.of, self.cf, self.day_mean, self.day_std, r.ints,
                      r.floats, self.position)


def game_engine(games: Games, g: int) -> eng.Engine:
    """An :class:`~envs.market_making.engine.Engine` over game ``g``'s state (a batch of one day:
    its rows are the day's), to read it and act on it with the Engine's methods."""
    day = games.days[int(games.gi[g, G_DAY])]
    table, w = day.table, day.width
    book = L2Book.__new__(L2Book)
    book.tick_size, book.bid, book.ask, book.state = table.tick_size, games.bid[g, :w], games.ask[g, :w], games.bs[g]
    book.over_bid, book.over_ask = games.over_bids[g], games.over_asks[g]
    return eng.Engine.over(table, book, cf=games.cf[g], ci=games.rules.ci, oi=games.oi[g], of=games.of[g],
                           account=games.account[g], clk=games.clk[g], clkf=games.clkf[g], step=games.step_acc[g],
                           ofi=games.ofi[g], cursor=games.gi[g, G_CURSOR], stop=games.gi[g, G_STOP])


def fit_scaler(day: Day, rules: Rules) -> tuple[np.ndarray, np.ndarray]:
    """Mean and deviation of the market features over ``day``, from a replay without orders on the
    rules' clock (a decision's features against the book's mid at the previous decision)."""
    ints = rules.ints.copy()
    ints[R_SCALER] = 1
    games = Games(1, [day], replace(rules, ints=ints))
    games.reset(np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64),
                np.array([len(day.table)], np.int64))
    actions, live, rows = np.zeros(1, np.int64), np.ones(1, np.bool_), []
    while True:
        _, done = games.step(actions, live)
        rows.append(games.market[0].copy())
        if done[0]:
            break
    x = np.asarray(rows)
    std = x.std(axis=0)
    return x.mean(axis=0), np.where(std > 1e-12, std, 1.0)


def episode_rows(table: EventTable, episode_seconds: float | None, rng: np.random.Generator) -> tuple[int, int]:
    """Rows ``start..stop-1`` of an episode on ``table``: all of them, or a window of
    ``episode_seconds`` at an offset drawn from ``rng`` (never starting inside a message)."""
    start, stop = 0, len(table)
    if episode_seconds is not None:
        length = int(episode_seconds * 1e9)
        first, last = int(table.time[0]), int(table.time[-1])
        offset = int(rng.integers(max(last - first - length, 0) + 1))
        start = int(np.searchsorted(table.time, first + offset))
        stop = int(np.searchsorted(table.time, first + offset + length))
        while start > 0 and table.time[start - 1] == table.time[start]:
            start -= 1
    return start, stop

