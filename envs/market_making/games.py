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

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numba import njit, typeof
from numba.typed import List

from envs.market_making import accounting as acc
from envs.market_making import engine as eng
from envs.market_making.data.book import BASE, L2Book, new_overflow, ticks_of, top_levels
from envs.market_making.data.events import EventTable
from envs.market_making.engine import CF_LIMIT, CF_TICK, CI_DT, NO_ASK
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
def quote_levels(bid_level, ask_level, quote_level, order_qty, limit_qty, book, game, top_ticks, top_qty):
    """Quote the bid at ``bid_level`` and the ask at ``ask_level`` (book levels, or ticks behind the
    best when ``quote_level`` is false or the level is missing) for ``game`` (an
    :class:`~envs.market_making.engine.Game`) on ``book``; a side whose fill could take the
    inventory beyond ``limit_qty``, or whose book side is empty, is cancelled."""
    bid, ask, over_bid, over_ask, bs = book
    oi, of, account, ci, now = game.oi, game.of, game.account, game.ci, game.clock.now
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
def reset_games(games, days, starts, stops, batch, overflow, columns, rules):
    """Start game ``games[j]`` of ``batch`` (a :class:`Batch`, its books' far levels in ``overflow``)
    on day ``days[j]`` (of ``columns``, the :class:`DayColumns`) with rows ``starts[j]..stops[j]-1``
    of that day: the book replayed to the window's start (and on until it has both sides), no
    orders, a fresh account, the order size from the first mid, and the book features of the first
    observation."""
    bid, ask, bs, over_bids, over_asks = batch.bid, batch.ask, batch.bs, overflow.bids, overflow.asks
    oi, of, account, cf, clock, step, ofi = (batch.oi, batch.of, batch.account, batch.cf, batch.clock,
                                             batch.step_acc, batch.ofi)
    gi, gf, rstate, flows, market = batch.gi, batch.gf, batch.rstate, batch.flows, batch.market
    top_ticks, top_qty = batch.top_ticks, batch.top_qty
    kind, side, ticks, qty, flags, time = columns.rows
    tbb, tba, tnb, tna = columns.tape.best_bid, columns.tape.best_ask, columns.tape.n_bid, columns.tape.n_ask
    day_first, day_rows, day_base, day_width, day_tick, day_tape = (columns.first, columns.n_rows, columns.base,
                                                                    columns.width, columns.tick, columns.has_tape)
    ci, cf_rules, rints, rfloats = rules.ci, rules.cf, rules.ints, rules.floats
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
        k = clock[g]
        k.next_t = now + ci[CI_DT]
        k.msgs = 0
        k.now = now
        mid = eng.mid_price(s, over_bid, over_ask, c[CF_TICK])
        k.mid0 = mid
        k.volume = 0.0
        k.last_mid = mid
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
        eng.clear_step(step[g])
        ofi[g] = 0.0
        market_features(b, a, s, depth, c[CF_TICK], mid, mid, ofi[g], top_ticks, top_qty, market[g])
        gf[g, F_MID] = mid
        gf[g, F_BOOK_MID] = mid
        gf[g, F_EQUITY] = account[g, acc.CASH] + account[g, acc.POSITION] * mid


@njit(cache=True, nogil=True, error_model="numpy")
def step_games(live, actions, rewards, done, batch, overflow, columns, rules):
    """One decision of every game of ``batch`` where ``live``: act, replay to the next decision,
    reward, book features. Writes ``rewards[g]`` and ``done[g]`` (the rows ran out: the game was
    flattened). A game's book is its row of ``bid``/``ask`` cut to its day's window, with its
    overflow maps."""
    bid, ask, bs, over_bids, over_asks = batch.bid, batch.ask, batch.bs, overflow.bids, overflow.asks
    oi, of, account, cf, clock, step, ofi = (batch.oi, batch.of, batch.account, batch.cf, batch.clock,
                                             batch.step_acc, batch.ofi)
    gi, gf, rstate, market, top_ticks, top_qty = (batch.gi, batch.gf, batch.rstate, batch.market, batch.top_ticks,
                                                  batch.top_qty)
    rows, tape, day_width, day_tape = columns.rows, columns.tape, columns.width, columns.has_tape
    ci, pairs, rints, rfloats, rparams = rules.ci, rules.pairs, rules.ints, rules.floats, rules.reward_params
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
        book = eng.Book(b, a, over_bid, over_ask, s)
        game = eng.Game(o_i, o_f, ac, c, ci, clock[g], st, fl)
        action = actions[g]
        equity0 = gf[g, F_EQUITY]
        realized0 = ac[acc.REALIZED]
        market0 = ac[acc.MARKET_ORDERS]
        order_qty = gf[g, F_ORDER_QTY]
        if action == flatten_action:
            eng.flatten(b, a, over_bid, over_ask, s, o_i, o_f, ac, c)
        elif action > 0:
            quote_levels(pairs[action - 1, 0], pairs[action - 1, 1], quote_level, order_qty, gf[g, F_LIMIT_QTY],
                         book, game, top_ticks, top_qty)
        q = ac[acc.POSITION] / order_qty
        eng.clear_step(st)
        fl[:] = 0.0
        stop = gi[g, G_STOP]
        cursor = eng.replay_to_decision(book, rows, tape, day_tape[gi[g, G_DAY]], gi[g, G_CURSOR], stop, game)
        gi[g, G_CURSOR] = cursor
        more = cursor < stop
        if not more:
            eng.flatten(b, a, over_bid, over_ask, s, o_i, o_f, ac, c)
        book_mid = eng.mid_price(s, over_bid, over_ask, c[CF_TICK])
        last_mid = gf[g, F_MID]
        mid = book_mid if book_mid > 0 else last_mid
        equity = ac[acc.CASH] + ac[acc.POSITION] * mid
        fills = np.int64(st.fills + ac[acc.MARKET_ORDERS] - market0)
        rewards[g] = reward_value(reward_kind, q, mid / last_mid - 1.0, (ac[acc.REALIZED] - realized0) / notional,
                                  st.capture / order_qty, fills, (equity - equity0) / notional, rparams,
                                  rstate[g])
        market_features(b, a, s, depth, c[CF_TICK], book_mid, gf[g, F_BOOK_MID] if scaler else last_mid, fl,
                        top_ticks, top_qty, market[g])
        gf[g, F_MID] = mid
        gf[g, F_BOOK_MID] = book_mid
        gf[g, F_EQUITY] = equity
        gi[g, G_FILLS] = fills
        done[g] = not more


@njit(cache=True, nogil=True, error_model="numpy")
def observe_games(mask, fresh, decay, batch, scaler, rules):
    """The observation of every game of ``batch`` where ``mask`` (its day's features scaled by
    ``scaler``, a :class:`Scaler`), after its reset (``fresh``: every
    stacked frame is the first one) or its step (the frames shift by one): flow windows, market
    features z-scored with the day's scaler and clipped to +-10, position features clipped, as
    float32."""
    obs, market, flows, gi, gf, clock, step = (batch.obs, batch.market, batch.flows, batch.gi, batch.gf,
                                               batch.clock, batch.step_acc)
    account, oi, of, cf, position = batch.account, batch.oi, batch.of, batch.cf, batch.position
    day_mean, day_std, rints, rfloats = scaler.mean, scaler.std, rules.ints, rules.floats
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
        flow_features(flows[g], decay[g], gi[g, G_FLOW_SET] != 0, st.buy_volume, st.sell_volume, st.mid_up,
                      st.mid_down, m, 7 * depth + 3)
        gi[g, G_FLOW_SET] = 1
        gi[g, G_FLOW_TIME] = clock[g].now
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


class Rules(NamedTuple):
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


class Batch(NamedTuple):
    """Every game's state, game first (the kernels take it as one argument): its book window (the
    far levels are in :class:`Overflow`), orders, account, configuration, clock and step records
    (:data:`~envs.market_making.engine.CLOCK`, :data:`~envs.market_making.engine.STEP`), order-flow
    imbalance, ``G_*`` ints and ``F_*`` floats, reward state, flow windows, raw market features and
    observation; then scratch space the kernels share."""

    bid: np.ndarray  # float64 (n, widest day's window)
    ask: np.ndarray
    bs: np.ndarray  # int64 (n, 6) the books' state
    oi: np.ndarray  # int64 (n, 2, 5)
    of: np.ndarray  # float64 (n, 2, 6)
    account: np.ndarray  # float64 (n, ACCOUNT_SIZE)
    cf: np.ndarray  # float64 (n, 7)
    clock: np.ndarray  # CLOCK (n,)
    step_acc: np.ndarray  # STEP (n,) step accumulators
    ofi: np.ndarray  # float64 (n, 2, depth)
    gi: np.ndarray  # int64 (n, 8)
    gf: np.ndarray  # float64 (n, 5)
    rstate: np.ndarray  # float64 (n, 2)
    flows: np.ndarray  # float64 (n, 4, windows)
    market: np.ndarray  # float64 (n, n_market)
    obs: np.ndarray  # float32 (n, stack x (n_market + N_POSITION))
    top_ticks: np.ndarray  # scratch: int64 (2, levels)
    top_qty: np.ndarray  # scratch: float64 (2, levels)
    position: np.ndarray  # scratch: float64 (N_POSITION,)

    @classmethod
    def allocate(cls, n: int, width: int, base: int, rules: Rules) -> "Batch":
        """Fresh state for ``n`` games with book windows of ``width`` ticks from tick ``base``."""
        depth = int(rules.ints[R_DEPTH])
        bs = np.zeros((n, 6), np.int64)
        bs[:, BASE] = base
        bs[:, 1:3] = -1
        gi = np.zeros((n, 8), np.int64)
        gi[:, G_BOOK_DAY] = -1
        levels = max(depth, int(rules.pairs.max()) + 1 if rules.pairs.size else 1)
        return cls(bid=np.zeros((n, width)), ask=np.zeros((n, width)),
                   bs=bs,
                   oi=np.zeros((n, 2, 5), np.int64), of=np.zeros((n, 2, 6)), account=np.zeros((n, acc.ACCOUNT_SIZE)),
                   cf=np.tile(rules.cf, (n, 1)), clock=np.zeros(n, eng.CLOCK), step_acc=np.zeros(n, eng.STEP),
                   ofi=np.zeros((n, 2, max(depth, 1))), gi=gi, gf=np.zeros((n, 5)), rstate=np.zeros((n, 2)),
                   market=np.zeros((n, rules.n_market)), flows=np.zeros((n, 4, len(rules.windows_ns))),
                   obs=np.zeros((n, rules.stack * (rules.n_market + N_POSITION)), np.float32),
                   top_ticks=np.empty((2, levels), np.int64), top_qty=np.empty((2, levels)),
                   position=np.empty(N_POSITION))


class Overflow(NamedTuple):
    """Every game's book levels outside its window: typed Lists of typed Dicts tick -> quantity (apart
    from :class:`Batch`: a kernel that takes them pays for their unboxing on every call)."""

    bids: Any
    asks: Any


class Scaler(NamedTuple):
    """Each day's market feature mean and deviation (rows: the batch's days)."""

    mean: np.ndarray
    std: np.ndarray


class DayColumns(NamedTuple):
    """The batch's days as the kernels read them: their rows and tapes concatenated, and per day its
    first row, row count, book window (base tick, width), tick size and whether it has a tape."""

    rows: eng.Rows
    tape: eng.Tape
    first: np.ndarray
    n_rows: np.ndarray
    base: np.ndarray
    width: np.ndarray
    tick: np.ndarray
    has_tape: np.ndarray


class Games:
    """``n`` games over ``days`` (a list of :class:`Day`), with their state (:class:`Batch`, whose
    arrays are also the Games' attributes: ``games.obs``, ``games.gi``, ...).

    :meth:`reset` starts games on given days and rows; :meth:`step` advances the live ones by one
    decision. ``obs`` holds every game's current observation (float32, ``(n, stack x features)``),
    ``market`` its raw market features. ``set_scaler`` gives a day its feature mean and deviation
    before a game starts on it.
    """

    def __init__(self, n: int, days: list[Day], rules: Rules) -> None:
        self.n, self.days, self.rules = int(n), list(days), rules
        tables = [d.table for d in days]

        def column(get, dtype):
            parts = [np.asarray(get(t), dtype) for t in tables]
            return parts[0] if len(parts) == 1 else np.concatenate(parts)

        rows = eng.Rows(kind=column(lambda t: t.kind, np.int8), side=column(lambda t: t.side, np.int8),
                        ticks=column(ticks_of, np.int64), qty=column(lambda t: t.qty, np.float64),
                        flags=column(lambda t: t.flags, np.uint8), time=column(lambda t: t.time, np.int64))
        dtypes = (np.int32,) * 5 + (np.float64,)
        # the columns of a day without a tape are never read: they may hold anything
        tape = eng.Tape(*(column(lambda t, i=i: self._tape_of(t, i, dtypes[i]), dtypes[i]) for i in range(6)))
        n_rows = np.array([len(t) for t in tables], np.int64)
        self.columns = DayColumns(
            rows=rows, tape=tape, first=np.concatenate([[0], np.cumsum(n_rows)[:-1]]).astype(np.int64),
            n_rows=n_rows, base=np.array([d.base for d in days], np.int64),
            width=np.array([d.width for d in days], np.int64),
            tick=np.array([t.tick_size for t in tables], np.float64),
            has_tape=np.array([d.tape is not None for d in days], np.bool_))
        self.scaler = Scaler(np.zeros((len(days), rules.n_market)), np.ones((len(days), rules.n_market)))
        self.state = Batch.allocate(self.n, max(d.width for d in days), int(self.columns.base[0]), rules)
        self.__dict__.update(self.state._asdict())  # games.obs, games.gi, ...: plain attributes, read every step
        self.overflow = Overflow(List([new_overflow() for _ in range(n)]), List([new_overflow() for _ in range(n)]))
        self.over_bids, self.over_asks = self.overflow
        self._now, self._flow_time = self.state.clock["now"], self.state.gi[:, G_FLOW_TIME]  # views, for every step
        # the kernels bound to these types: a call then skips Numba's typing of every bundle's fields
        games, live = np.zeros(0, np.int64), np.zeros(self.n, np.bool_)
        self._reset_games = _compiled(reset_games, games, games, games, games, self.state, self.overflow, self.columns,
                                       rules)
        self._step_games = _compiled(step_games, live, np.zeros(self.n, np.int64), np.zeros(self.n), live,
                                     self.state, self.overflow, self.columns, rules)
        self._observe_games = _compiled(observe_games, live, True, np.ones((self.n, len(rules.windows_ns))),
                                        self.state, self.scaler, rules)

    def _tape_of(self, table: EventTable, i: int, dtype) -> np.ndarray:
        day = next(d for d in self.days if d.table is table)
        return day.tape[i] if day.tape is not None else np.zeros(len(table), dtype)

    def set_scaler(self, day: int, mean: np.ndarray, std: np.ndarray) -> None:
        self.scaler.mean[day] = mean
        self.scaler.std[day] = std

    def reset(self, games: np.ndarray, days: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> None:
        """Start ``games`` on ``days`` (indices into this batch's days) with rows ``starts..stops-1``
        of their day; their observations are then in ``obs``."""
        games = np.ascontiguousarray(games, np.int64)
        self._reset_games(games, np.ascontiguousarray(days, np.int64), np.ascontiguousarray(starts, np.int64),
                          np.ascontiguousarray(stops, np.int64), self.state, self.overflow, self.columns,
                          self.rules)
        mask = np.zeros(self.n, np.bool_)
        mask[games] = True
        self._observe(mask, True, np.ones((self.n, len(self.rules.windows_ns))))

    def step(self, actions: np.ndarray, live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One decision of the ``live`` games under ``actions`` (int64); returns rewards (float64) and
        the games whose rows ran out, both fresh arrays (zero and false where not live)."""
        rewards, done = np.zeros(self.n), np.zeros(self.n, np.bool_)
        live = np.ascontiguousarray(live, np.bool_)
        self._step_games(live, np.ascontiguousarray(actions, np.int64), rewards, done, self.state, self.overflow,
                         self.columns, self.rules)
        decay = flow_decay(self._now - self._flow_time, self.rules.windows_ns)
        self._observe_games(live, False, decay, self.state, self.scaler, self.rules)
        return rewards, done

    def _observe(self, mask: np.ndarray, fresh: bool, decay: np.ndarray) -> None:
        self._observe_games(np.ascontiguousarray(mask, np.bool_), fresh, decay, self.state, self.scaler, self.rules)


def _compiled(kernel, *args):
    """``kernel`` compiled (or loaded from Numba's cache) for the types of ``args``; later calls must pass
    arguments of exactly those types."""
    return kernel.compile(tuple(typeof(a) for a in args))


def game_engine(games: Games, g: int) -> eng.Engine:
    """An :class:`~envs.market_making.engine.Engine` over game ``g``'s state (a batch of one day:
    its rows are the day's), to read it and act on it with the Engine's methods."""
    day = games.days[int(games.gi[g, G_DAY])]
    table, w = day.table, day.width
    book = L2Book.__new__(L2Book)
    book.tick_size, book.bid, book.ask, book.state = table.tick_size, games.bid[g, :w], games.ask[g, :w], games.bs[g]
    book.over_bid, book.over_ask = games.over_bids[g], games.over_asks[g]
    return eng.Engine.over(table, book, cf=games.cf[g], ci=games.rules.ci, oi=games.oi[g], of=games.of[g],
                           account=games.account[g], clock=games.clock[g], step=games.step_acc[g], ofi=games.ofi[g],
                           cursor=games.gi[g, G_CURSOR], stop=games.gi[g, G_STOP])


def fit_scaler(day: Day, rules: Rules) -> tuple[np.ndarray, np.ndarray]:
    """Mean and deviation of the market features over ``day``, from a replay without orders on the
    rules' clock (a decision's features against the book's mid at the previous decision)."""
    ints = rules.ints.copy()
    ints[R_SCALER] = 1
    games = Games(1, [day], rules._replace(ints=ints))
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

