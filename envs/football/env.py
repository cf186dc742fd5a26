"""``rlkit/Football-v0``: Google Research Football's tasks on rlkit's Numba engine (or on GRF's own)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.football import observations, rewards
from envs.football.engine import ACTIONS, N_ACTIONS, FootballEngine, integer_actions
from envs.football.scenarios import SCENARIOS, Scenario
from envs.football.state import ENDED_TIME

BACKENDS = ("builtin", "grf")
# info["end_reason"], indexed by state.end_reason (RUNNING, ENDED_SCORE, ...)
END_REASONS = ("running", "score", "out_of_play", "possession_change", "time")
GRF_INSTALL = ("see the install recipe in README.md: the SDL2 (image, ttf, gfx) and Boost (python, thread, "
               "system, filesystem) development packages, then pip install 'rlkit[grf]' (gfootball==2.10.2 "
               "built with --no-build-isolation, psutil, six, gym==0.23.1)")

# the render frame: pitch, left team, right team, ball, active player (RGB)
_PITCH, _LINES = (30, 110, 40), (200, 230, 200)
_PLANE_COLOURS = ((250, 220, 40), (220, 40, 40), (255, 255, 255), (40, 220, 250))
RENDER_SCALE = 4


def check_arguments(scenario: str | Scenario, representation: str, reward_spec: str, n_controlled: int,
                    backend: str, difficulty: float | None) -> tuple[Scenario, tuple[str, ...]]:
    """Validate the constructor arguments shared by every football env; returns the scenario and the
    reward names. Bad values are ValueErrors that list what is allowed."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; allowed: {', '.join(BACKENDS)}")
    if isinstance(scenario, Scenario):
        spec = scenario
    elif scenario in SCENARIOS:
        spec = SCENARIOS[scenario]
    else:
        raise ValueError(f"unknown scenario {scenario!r}; allowed: {', '.join(SCENARIOS)}")
    if representation not in observations.REPRESENTATIONS:
        raise ValueError(f"unknown representation {representation!r}; allowed: "
                         f"{', '.join(observations.REPRESENTATIONS)}")
    if not isinstance(reward_spec, str):
        reward_spec = ",".join(reward_spec)  # a list of names, e.g. from a config
    reward_names = rewards.parse_rewards(reward_spec)
    if isinstance(n_controlled, bool) or int(n_controlled) != n_controlled \
            or not 1 <= n_controlled <= spec.n_left:
        raise ValueError(f"n_controlled must be an integer in 1..{spec.n_left} (the left players of "
                         f"{spec.name}), got {n_controlled!r}")
    if difficulty is not None and not 0.0 <= float(difficulty) <= 1.0:
        raise ValueError(f"difficulty must be None (the scenario's) or in [0, 1], got {difficulty!r}")
    return spec, reward_names


def football_spaces(spec: Scenario, representation: str, n_controlled: int) -> tuple[spaces.Space, spaces.Space]:
    """(observation space, action space) of one env: one slot's space as is for one controlled player,
    stacked on a first axis (a Tuple for ``raw``) for several."""
    one = observations.observation_space(representation, spec.n_left, spec.n_right)
    if n_controlled == 1:
        return one, spaces.Discrete(N_ACTIONS)
    if isinstance(one, spaces.Box):
        n = n_controlled
        obs_space = spaces.Box(np.broadcast_to(one.low, (n, *one.shape)).copy(),
                               np.broadcast_to(one.high, (n, *one.shape)).copy(), (n, *one.shape), one.dtype)
    else:
        obs_space = spaces.Tuple([one] * n_controlled)
    return obs_space, spaces.MultiDiscrete([N_ACTIONS] * n_controlled)


def check_actions(action: Any, n_controlled: int, batch: tuple[int, ...] = ()) -> np.ndarray:
    """``action`` as an int64 array of shape ``batch + (n_controlled,)``; ValueError for a wrong shape, a
    non-integer type or an action outside 0..18. One controlled player also takes shape ``batch``."""
    a = np.asarray(action)
    want = (*batch, n_controlled)
    if a.shape != want and not (n_controlled == 1 and a.shape == batch):
        shapes = f"{batch} or {want}" if n_controlled == 1 else f"{want}"
        raise ValueError(f"action must have shape {shapes}, got {a.shape}")
    a = integer_actions(a).reshape(want)
    if a.size and (a.min() < 0 or a.max() >= N_ACTIONS):
        raise ValueError(f"action out of range: {a.tolist()!r}; allowed: 0..{N_ACTIONS - 1} "
                         f"({', '.join(f'{i} {name}' for i, name in enumerate(ACTIONS))})")
    return a


def draw_game_seed(rng: np.random.Generator) -> int:
    """The engine seed of one game's next episode, drawn from that game's generator (the single env's
    ``np_random``; the vector env keeps one per game, so game i replays a single env)."""
    return int(rng.integers(0, 2**63 - 1, dtype=np.int64))


def build_batch(state, representation: str, spec: Scenario, out: np.ndarray | None = None) -> np.ndarray:
    """The fast builder's observations of every game and agent slot, ``(B, C, ...)`` (not ``raw``)."""
    if representation == "graph":  # its global node shows steps_left / the scenario's episode length
        return observations.graph(state, out=out, episode_steps=spec.episode_steps)
    return getattr(observations, representation)(state, out=out)


def from_raw(raw: dict, representation: str, spec: Scenario) -> np.ndarray:
    """One slot's observation from a GRF raw dict by the reference builders (not ``raw``)."""
    if representation == "graph":
        return observations.graph_from_raw(raw, episode_steps=spec.episode_steps)
    return getattr(observations, f"{representation}_from_raw")(raw)


def smm_frame(planes: np.ndarray, scale: int = RENDER_SCALE) -> np.ndarray:
    """A top-down RGB frame (72 scale x 96 scale x 3 uint8) from one slot's SMM planes (72, 96, 4)."""
    h, w = planes.shape[:2]
    frame = np.empty((h, w, 3), np.uint8)
    frame[:] = _PITCH
    frame[:, w // 2] = _LINES  # halfway line
    goal = np.abs(((np.arange(h) + 0.5) / h * 2 - 1) * observations.SMM_Y_HALF) < 0.044
    frame[goal, 0] = frame[goal, w - 1] = _LINES
    for plane, colour in enumerate(_PLANE_COLOURS):
        frame[planes[..., plane] > 0] = colour
    return np.repeat(np.repeat(frame, scale, axis=0), scale, axis=1)


def episode_metrics(score: np.ndarray) -> dict[str, float]:
    """The figures of an ended episode from its final score (left, right)."""
    goals_for, goals_against = int(score[0]), int(score[1])
    return {"scored": float(goals_for > 0), "goals_for": float(goals_for),
            "goals_against": float(goals_against), "goal_difference": float(goals_for - goals_against)}


class FootballEnv(gym.Env):
    """Google Research Football's academy and full-game tasks, on rlkit's fast built-in engine.

    ## Description
    The tasks, actions, observations and rewards of Google Research Football (GRF, Kurach et al.
    2020), simulated by :mod:`envs.football.engine`: a Numba engine with GRF's pitch (x in [-1, 1],
    y in [-0.42, 0.42], goals at x = +-1 for |y| < 0.044), 10 steps per game second, GRF-like player
    and ball physics and a built-in AI for every player the agent does not control. The agent plays
    the left team, attacking the goal at x = +1. ``backend="grf"`` runs the same task on GRF's own
    C++ engine instead (:class:`~envs.football.grf.GRFFootballEnv`, same spaces and info); for many
    games at once see :class:`~envs.football.vector.FootballVectorEnv`.

    ## Action Space
    ``Discrete(19)`` for one controlled player, ``MultiDiscrete([19] * n_controlled)`` for several
    (one action per agent slot). GRF's default action set:

    ======  ===================  ===========================================================
    action  name                 effect
    ======  ===================  ===========================================================
    0       idle                 nothing new (sticky actions keep acting)
    1-8     left, top_left, top, move in that direction (sticky until another direction or
            top_right, right,    release_direction; "top" is -y)
            bottom_right,
            bottom, bottom_left
    9       long_pass            lofted pass to a far teammate in the move (or facing) direction
    10      high_pass            high lofted pass
    11      short_pass           ground pass to a near teammate
    12      shot                 shoot at the goal at x = +1
    13      sprint               sprint (sticky) until release_sprint
    14      release_direction    stop moving
    15      release_sprint       stop sprinting
    16      sliding              sliding tackle
    17      dribble              dribble (sticky) until release_dribble
    18      release_dribble      stop dribbling
    ======  ===================  ===========================================================

    Agent slot 0 controls the designated player: the ball owner while the left team has the ball,
    otherwise the left player closest to it (the keeper only when he owns the ball); further slots take
    the next-closest left players. An action outside 0..18, a non-integer or a wrongly shaped action is
    a ValueError.

    ## Observation Space
    One observation per controlled player (for ``n_controlled > 1`` stacked on a first axis of length
    ``n_controlled``, or a ``Tuple`` for ``raw``), in GRF's layouts (:mod:`envs.football.observations`):

    - ``simple115v2``: ``Box((115,), float32)``: left positions (11 x 2), left directions (11 x 2),
      right positions, right directions (absent players -1), ball position (3) and direction (3), ball
      owner one-hot (none, left, right), active player one-hot (11), game mode one-hot (7).
    - ``extracted`` (GRF's super mini-map): ``Box(0, 255, (72, 96, 4), uint8)``: planes of the left
      team, the right team, the ball and the active player, 255 where one is.
    - ``graph``: ``Box((24, 16), float32)``: 22 player slots (left 0..10, right 11..21), the ball and a
      global node, 16 features each (``observations.GRAPH_FEATURE_NAMES``; column 15 masks absent slots).
    - ``raw``: GRF's raw ``Dict``: ball, ball_direction, ball_rotation, ball_owned_team,
      ball_owned_player, left_team (positions), left_team_direction, left_team_active, left_team_roles,
      left_team_tired_factor, left_team_yellow_card, the same for right_team, active, designated,
      game_mode, score, steps_left, sticky_actions.

    ## Rewards
    ``rewards="scoring"``: +1 when the left team scores, -1 when it concedes. ``"scoring,checkpoints"``
    adds GRF's checkpoint reward: 0.1 for each of ten distance-to-goal thresholds (0.99 - 0.8/9 k) the
    ball reaches while the slot's controlled player owns it, and whatever is left of the 1.0 on a goal.
    Per agent slot; the step's reward is their sum (``info["rewards"]`` has them one by one).

    ## Starting State
    The scenario's kick-off (GRF's positions, roles and ball). The engine's random stream for the
    episode is seeded from ``self.np_random``, so ``reset(seed=...)`` makes an episode reproducible.

    ## Episode End
    Academy scenarios terminate on a goal, on the ball going out of play and on a change of possession
    to the right team (GRF's rules). Every scenario truncates at its time limit (400 steps academy,
    3000 steps full game); full games run to the time limit (goals lead to kick-offs).

    ## Info
    ``score`` (left, right goals), ``goal`` (+1 the left team scored this step, -1 conceded, 0),
    ``game_mode`` (GRF's: 0 normal, 1 kick-off, 2 goal kick, 3 free kick, 4 corner, 5 throw-in,
    6 penalty), ``end_reason`` (``running``, ``score``, ``out_of_play``, ``possession_change``,
    ``time``), ``steps`` (steps since reset) and ``rewards`` (per agent slot, float32). At the end
    of an episode ``metrics`` holds ``scored`` (1 if the left team scored), ``goals_for``,
    ``goals_against`` and ``goal_difference``; evaluations average them (the score rate).

    ## Arguments
    - ``scenario``: a GRF scenario name (``envs.football.scenarios.SCENARIOS``): academy_empty_goal_close
      (default), academy_empty_goal, academy_run_to_score, academy_run_to_score_with_keeper,
      academy_pass_and_shoot_with_keeper, academy_run_pass_and_shoot_with_keeper,
      academy_3_vs_1_with_keeper, academy_corner, academy_counterattack_easy/hard,
      academy_single_goal_versus_lazy, 11_vs_11_easy_stochastic, 11_vs_11_stochastic,
      11_vs_11_hard_stochastic.
    - ``representation``: ``simple115v2`` (default), ``extracted``, ``graph`` or ``raw``.
    - ``rewards``: ``"scoring"`` or ``"scoring,checkpoints"`` (default), GRF's spelling.
    - ``n_controlled``: left players the agent controls, 1 (default) .. the scenario's left players.
    - ``backend``: ``builtin`` (default, this engine) or ``grf`` (Google Research Football's engine:
      needs ``gfootball``, which is not a default dependency; ``pip install 'rlkit[grf]'`` after the SDL2
      and Boost development packages, see the install recipe in README.md).
    - ``difficulty``: the right team's AI level in [0, 1] (GRF's 0.05 easy, 0.6 normal, 0.95 hard),
      None (default) for the scenario's own; builtin backend only.
    - ``render_mode``: None or ``rgb_array`` (a top-down frame drawn from the super mini-map planes).

    ## Version History
    - v0: first version.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __new__(cls, *args: Any, **kwargs: Any):
        # backend="grf" builds the real engine's env: a subclass, so Python then runs its __init__
        backend = args[4] if len(args) > 4 else kwargs.get("backend", "builtin")
        if cls is FootballEnv and backend == "grf":
            from envs.football.grf import GRFFootballEnv

            return super().__new__(GRFFootballEnv)
        return super().__new__(cls)

    def __init__(self, scenario: str = "academy_empty_goal_close", representation: str = "simple115v2",
                 rewards: str = "scoring,checkpoints", n_controlled: int = 1, backend: str = "builtin",
                 difficulty: float | None = None, render_mode: str | None = None) -> None:
        self._configure(scenario, representation, rewards, n_controlled, backend, difficulty, render_mode)
        self.engine = FootballEngine(self.scenario, n_games=1, n_controlled=self.n_controlled,
                                     difficulty=self.difficulty)
        self.state = self.engine.state
        self._action = np.zeros((1, self.n_controlled), np.int64)
        self._seed = np.zeros(1, np.int64)
        self._steps = 0
        self._running = False

    def _configure(self, scenario, representation, reward_spec, n_controlled, backend, difficulty,
                   render_mode) -> None:
        """The argument checks, attributes and spaces every backend shares."""
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"unknown render_mode {render_mode!r}; allowed: None, "
                             f"{', '.join(self.metadata['render_modes'])}")
        self.scenario, self.rewards = check_arguments(scenario, representation, reward_spec, n_controlled,
                                                      backend, difficulty)
        self.representation = representation
        self.n_controlled = int(n_controlled)
        self.backend = backend
        self.difficulty = None if difficulty is None else float(difficulty)
        self.render_mode = render_mode
        self.observation_space, self.action_space = football_spaces(self.scenario, representation,
                                                                    self.n_controlled)

    # -- observations ----------------------------------------------------------------------------
    def _observation(self):
        state, rep = self.state, self.representation
        if rep == "raw":
            obs = tuple(observations.raw(state, 0, slot) for slot in range(self.n_controlled))
            return obs[0] if self.n_controlled == 1 else obs
        batch = build_batch(state, rep, self.scenario)  # (1, n_controlled, ...)
        return batch[0, 0] if self.n_controlled == 1 else batch[0]

    def _info(self, slot_rewards: np.ndarray) -> dict[str, Any]:
        state = self.state
        return {"score": state.score[0].copy(), "goal": int(state.goal[0]), "game_mode": int(state.game_mode[0]),
                "end_reason": END_REASONS[state.end_reason[0]], "steps": self._steps, "rewards": slot_rewards}

    # -- the episode -----------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if options:
            raise ValueError(f"unknown reset options {sorted(options)}; FootballEnv takes none")
        self._seed[0] = draw_game_seed(self.np_random)
        self.engine.reset(seeds=self._seed)
        self._steps = 0
        self._running = True
        return self._observation(), self._info(np.zeros(self.n_controlled, np.float32))

    def step(self, action: Any):
        if not self._running:
            raise RuntimeError("the episode has ended (or never started): call reset() before step()")
        if self.n_controlled == 1 and (type(action) is int or isinstance(action, np.integer)) \
                and 0 <= action < N_ACTIONS:
            self._action[0, 0] = action  # the common case, without check_actions' array work
        else:
            self._action[0] = check_actions(action, self.n_controlled)
        self.engine.step(self._action)
        slot_rewards = rewards.compute(self.state, self.rewards)[0]
        self._steps += 1
        done = bool(self.state.done[0])
        truncated = done and int(self.state.end_reason[0]) == ENDED_TIME
        terminated = done and not truncated
        self._running = not done
        info = self._info(slot_rewards.copy())
        if done:
            info["metrics"] = episode_metrics(info["score"])
        return self._observation(), float(slot_rewards.sum()), terminated, truncated, info

    def _minimap(self) -> np.ndarray:
        """Agent slot 0's super mini-map planes (72, 96, 4) now."""
        return observations.extracted(self.state)[0, 0]

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() without a render_mode: construct the env with render_mode='rgb_array'")
            return None
        return smm_frame(self._minimap())
