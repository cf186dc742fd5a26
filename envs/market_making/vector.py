"""Many market-making episodes in one engine: the batched mode of ``rlkit/MarketMaking-v0``."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from envs.batched import BatchedEnv
from envs.market_making.env import DayLibrary, MarketMakingEnv, Settings
from envs.market_making.games import Games, episode_rows


class MarketMakingVectorEnv(BatchedEnv):
    """``num_envs`` market-making episodes replayed side by side, stepped together by compiled kernels.

    The games are those of :class:`~envs.market_making.env.MarketMakingEnv` (same arguments, spaces
    per game, rewards, episode ends) but live as rows of arrays in one
    :class:`~envs.market_making.games.Games`: one ``step`` makes every game's decision, replays its
    events to its next decision (order matching, queues, accounting, clock), flattens the games
    whose day ran out, and computes rewards and observations, in two compiled kernel calls and one
    NumPy expression, with no Python loop over games (except over the games that restart). The
    single env runs the same kernels as a batch of one, so game ``i`` reproduces
    ``gym.make("rlkit/MarketMaking-v0", **kwargs)`` seeded with the ``i``-th seed under the same
    actions, bit for bit. The days are loaded and prepared (their tapes, their feature scalers)
    once and shared read-only by every game; each game has its own book window, orders, account,
    clock and flow windows. ``gym.make_vec("rlkit/MarketMaking-v0", num_envs=n)`` builds one.

    ## Spaces
    ``single_observation_space`` (``Box(-10, 10, (stack x (7 depth + 10 + 2 windows),), float32)``) and
    ``single_action_space`` (``Discrete(17)``, ``Discrete(18)`` with ``actions="extended"``) are
    MarketMakingEnv's; ``observation_space`` and ``action_space`` batch them
    (``MultiDiscrete([17] * num_envs)``). Rewards are float64 (the single env's are Python floats;
    float32 would round them), terminations and truncations bool, all of shape ``(num_envs,)``.

    ## Rewards
    MarketMakingEnv's, by name (``reward=``: ``unrealized``, ``unrealized_realized``,
    ``asymmetrical``, ``asymmetrical_ceiling``, ``realized``, ``trade_completion``,
    ``differential_sharpe``, ``cash_pnl``, ``inventory_penalty``), in percent of one order's notional;
    the flattening at the end of a game is in its last step's reward.

    ## Episode End
    A game terminates when its day (or window of ``episode_seconds``) runs out of events: its
    inventory is flattened at market. Games never truncate. Each game draws its next day and window
    from its own generator, as the single env's ``reset`` draws them from ``np_random`` (test days in
    order, per game).

    ## Autoreset
    :class:`~envs.batched.BatchedEnv`'s two modes (``autoreset_mode=``): ``next_step`` (Gymnasium's
    default: the step after an end ignores that game's action and returns its first observation,
    reward 0) or ``same_step`` (SB3's: the ending step returns the next episode's first observation,
    the last one in ``info["final_obs"]``). ``reset(seed=s)`` seeds game ``i`` with ``s + i`` (a list:
    one seed per game); ``reset(options={"reset_mask": mask})`` restarts only the masked games.

    ## Info
    None per step (the single env's per-step info and end-of-episode ``metrics`` are built in Python
    from per-step histories; run MarketMakingEnv for them, e.g. in evaluation).

    ## Arguments
    ``num_envs``, ``autoreset_mode``, and MarketMakingEnv's arguments, with its defaults: ``data``,
    ``split``, ``test_days``, ``synthetic_days``, ``synthetic_seed``, ``session_seconds``,
    ``episode_seconds``, ``clock`` (``event``, ``time``, ``tick``, ``volume``) with ``threshold``,
    ``dt``, ``every``, ``volume``; ``actions``, ``quote_unit``, ``order_notional``,
    ``max_inventory``, ``queue`` (``notional``, ``conservative``, ``probabilistic``) with
    ``queue_power``, ``latency_ms``, ``maker_fee``, ``taker_fee``, ``reward`` with ``dampening``,
    ``ceiling``, ``eta``, ``inventory_penalty``; ``depth``, ``windows``, ``stack``. Every value the
    single env takes works batched.

    ## Cost
    Each game holds its own book: a window of ticks as wide as the widest day's book prices plus
    1,000 ticks each side, at most 2^20 (:meth:`~envs.market_making.data.book.L2Book.for_table`), 16
    bytes per tick (a real BTC day with far quotes: 16 MiB per game), and overflow maps for the
    levels outside it. Each day's tape adds 25 bytes per event row, once. A day whose book would move
    its window (prices spanning more than 2^20 ticks) has no tape and replays through the book's own
    kernels, about ten times slower.
    """

    metadata = {"render_modes": [], "autoreset_mode": BatchedEnv.metadata["autoreset_mode"]}

    def __init__(self, num_envs: int = 1, data=None, *, autoreset_mode: str = "next_step", **kwargs: Any) -> None:
        arguments = inspect.signature(MarketMakingEnv).bind(data, **kwargs)
        arguments.apply_defaults()
        self.settings = settings = Settings.from_arguments(arguments.arguments)
        self.single_observation_space = settings.observation_space
        self.single_action_space = settings.action_space
        self._setup_batch(num_envs, autoreset_mode)
        library = DayLibrary(settings)
        days = [library.day(i) for i in settings.day_indices]
        self.games = Games(self.num_envs, days, library.rules)
        for j, day in enumerate(settings.day_indices):
            self.games.set_scaler(j, *library.scaler(day))
        self._batch_day = {day: j for j, day in enumerate(settings.day_indices)}
        self._next_test = [0] * self.num_envs

    # -- BatchedEnv ---------------------------------------------------------------------------------
    def _reset_games(self, games: np.ndarray) -> None:
        """Restart ``games``, each drawing its day and window from its own generator as
        MarketMakingEnv.reset() draws them from its np_random."""
        settings = self.settings
        days, starts, stops = (np.empty(len(games), np.int64) for _ in range(3))
        for j, i in enumerate(games):
            rng = self.game_rngs[i]
            day, self._next_test[i] = settings.first_day(rng, self._next_test[i])
            starts[j], stops[j] = episode_rows(settings.days[day][1], settings.episode_seconds, rng)
            days[j] = self._batch_day[day]
        self.games.reset(games, days, starts, stops)

    def _check_actions(self, actions: Any) -> np.ndarray:
        return np.ascontiguousarray(super()._check_actions(actions), np.int64)

    def _step_games(self, actions: np.ndarray, live: np.ndarray):
        rewards, done = self.games.step(actions, np.ascontiguousarray(live))
        return rewards, done, np.zeros(self.num_envs, np.bool_)

    def _observations(self, games: np.ndarray | None = None) -> np.ndarray:
        return self.games.obs.copy() if games is None else self.games.obs[games]
