"""The real engine: Google Research Football (``gfootball``) behind FootballEnv's interface.

``gfootball`` is an optional dependency (``pip install 'rlkit[grf]'`` after its system packages; see
the install recipe in README.md). It speaks the old gym API (``reset() -> obs``, ``step() -> (obs,
reward, done, info)``); :class:`GRFFootballEnv` shims it to Gymnasium's and computes rlkit's
representations from GRF's raw observations with the reference builders
(``observations.*_from_raw``), so both backends observe the same.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
from gymnasium import spaces

from envs.football import observations
from envs.football.env import END_REASONS, GRF_INSTALL, FootballEnv, check_actions, episode_metrics, from_raw
from envs.football.state import NORMAL

_RUNNING, _SCORE, _OUT_OF_PLAY, _POSSESSION, _TIME = range(len(END_REASONS))


def import_gfootball():
    """``gfootball.env``, or an ImportError that says how to install it."""
    try:
        return importlib.import_module("gfootball.env")
    except ImportError as error:
        raise ImportError(f"backend 'grf' needs gfootball (Google Research Football), which is not "
                          f"installed ({error}); {GRF_INSTALL}") from error


class GRFFootballEnv(FootballEnv):
    """FootballEnv on Google Research Football's C++ engine: same constructor, spaces, rewards and info.

    Built by ``FootballEnv(..., backend="grf")`` or ``gym.make("rlkit/Football-v0", backend="grf")``.
    The game runs in ``gfootball.env.create_environment(env_name=scenario, representation="raw",
    rewards=..., number_of_left_players_agent_controls=n_controlled, render=False)``; its rewards are
    GRF's own (``scoring``, ``checkpoints``). Episodes end where GRF ends them; an end with
    ``steps_left == 0`` is a truncation, any other a termination. ``info["end_reason"]`` applies GRF's
    end rules (a goal, the game mode leaving normal play, the owning team changing) to its raw
    observations.

    ``reset(seed=...)`` draws the engine seed from ``self.np_random`` and hands it to GRF's config
    (``game_engine_random_seed``), which GRF reads when it rebuilds the scenario on reset: the same
    seed and actions replay the same episode (GRF's scenarios flagged deterministic ignore the seed).
    GRF's own clock runs one step longer than the scenario says: ``steps_left`` is 401 (3001) after
    its reset, so its academy episodes truncate after 401 steps, full games after 3001.
    ``difficulty`` must be None: GRF fixes the right team's difficulty per scenario
    (11_vs_11_easy_stochastic / 11_vs_11_stochastic / 11_vs_11_hard_stochastic).
    """

    def __init__(self, scenario: str = "academy_empty_goal_close", representation: str = "simple115v2",
                 rewards: str = "scoring,checkpoints", n_controlled: int = 1, backend: str = "grf",
                 difficulty: float | None = None, render_mode: str | None = None) -> None:
        if backend != "grf":
            raise ValueError(f"GRFFootballEnv runs backend 'grf', got backend {backend!r}")
        self._configure(scenario, representation, rewards, n_controlled, backend, difficulty, render_mode)
        if self.difficulty is not None:
            raise ValueError(f"backend 'grf' takes no difficulty (got {difficulty!r}): GRF fixes it per "
                             "scenario; choose 11_vs_11_easy_stochastic, 11_vs_11_stochastic or "
                             "11_vs_11_hard_stochastic, or use backend 'builtin'")
        gfootball_env = import_gfootball()
        self._slot_space = observations.observation_space("raw", self.scenario.n_left, self.scenario.n_right)
        self.grf = gfootball_env.create_environment(
            env_name=self.scenario.name, representation="raw", rewards=",".join(self.rewards),
            number_of_left_players_agent_controls=self.n_controlled, render=False,
            other_config_options={"action_set": "default"})
        self._raw: list[dict] = []
        self._steps = 0
        self._running = False

    # -- the old-API game ------------------------------------------------------------------------------
    def _seed_engine(self, seed: int) -> None:
        # GRF rebuilds its scenario on every reset from its config, which takes the engine seed; the
        # team processing order, drawn at random when the env was made, follows the seed as GRF
        # itself would set it for a fresh seed
        config = getattr(getattr(self.grf, "unwrapped", self.grf), "_config", None)
        if config is not None:
            config["game_engine_random_seed"] = seed
            config["reverse_team_processing"] = bool(seed % 2)

    def _raw_dicts(self, obs: Any) -> list[dict]:
        """GRF's raw observation (a list of one dict per controlled player) as dicts of rlkit's raw space."""
        if isinstance(obs, dict):
            obs = [obs]
        obs = list(obs)
        if len(obs) != self.n_controlled:
            raise RuntimeError(f"gfootball returned {len(obs)} observations for {self.n_controlled} controlled "
                               "players")
        return [self._normalise(d) for d in obs]

    def _normalise(self, d: dict) -> dict:
        """One GRF raw dict cast to the dtypes and shapes of rlkit's raw space (GRF mixes lists, Python
        ints and float64 arrays; older versions leave out ``designated``)."""
        out = {}
        for key, space in self._slot_space.spaces.items():
            value = d.get(key, d.get("active")) if key == "designated" else d[key]
            if isinstance(space, spaces.Discrete):
                out[key] = int(value)
                continue
            array = np.asarray(value)
            if array.size != int(np.prod(space.shape)):
                raise RuntimeError(f"gfootball's raw {key!r} has shape {array.shape}, rlkit's space "
                                   f"{space.shape}: does scenario {self.scenario.name} have the same players?")
            # flags as the builtin raw dicts hold them (GRF's uint8), other arrays in the space's dtype
            dtype = np.uint8 if isinstance(space, spaces.MultiBinary) else space.dtype
            out[key] = array.astype(dtype).reshape(space.shape)
        return out

    def _observation(self):
        if self.representation == "raw":
            obs = tuple(self._raw)
        else:
            obs = tuple(np.asarray(from_raw(d, self.representation, self.scenario), self.observation_space.dtype)
                        for d in self._raw)
            if self.n_controlled > 1:
                return np.stack(obs)
        return obs[0] if self.n_controlled == 1 else obs

    def _info(self, slot_rewards: np.ndarray, goal: int = 0, end_reason: int = _RUNNING) -> dict[str, Any]:
        d = self._raw[0]
        return {"score": np.asarray(d["score"], np.int32).reshape(2), "goal": int(goal),
                "game_mode": int(d["game_mode"]), "end_reason": END_REASONS[end_reason], "steps": self._steps,
                "rewards": slot_rewards}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super(FootballEnv, self).reset(seed=seed)
        if options:
            raise ValueError(f"unknown reset options {sorted(options)}; FootballEnv takes none")
        self._seed_engine(int(self.np_random.integers(0, 2_000_000_000)))
        result = self.grf.reset()
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict):
            result = result[0]  # a gym >= 0.26 wrapper already returned (obs, info)
        self._raw = self._raw_dicts(result)
        self._steps = 0
        self._prev_mode, self._prev_owner = -1, -1  # GRF's first step compares with nothing
        self._running = True
        return self._observation(), self._info(np.zeros(self.n_controlled, np.float32))

    def step(self, action: Any):
        if not self._running:
            raise RuntimeError("the episode has ended (or never started): call reset() before step()")
        actions = check_actions(action, self.n_controlled)
        result = self.grf.step(int(actions[0]) if self.n_controlled == 1 else actions.tolist())
        if len(result) == 5:  # a gym >= 0.26 wrapper: (obs, reward, terminated, truncated, info)
            obs, reward, term, trunc, _ = result
            done = bool(term or trunc)
        else:
            obs, reward, done, _ = result
            done = bool(done)
        before = self._raw[0]
        self._raw = self._raw_dicts(obs)
        self._steps += 1
        slot_rewards = np.asarray(reward, np.float32).reshape(-1)
        if slot_rewards.size == 1 and self.n_controlled > 1:
            slot_rewards = np.repeat(slot_rewards, self.n_controlled)
        now = self._raw[0]
        goal = int(np.sign((now["score"][0] - now["score"][1]) - (before["score"][0] - before["score"][1])))
        end_reason = self._end_reason(now, goal) if done else _RUNNING
        self._track()
        truncated = end_reason == _TIME
        self._running = not done
        info = self._info(slot_rewards, goal, end_reason)
        if done:
            info["metrics"] = episode_metrics(info["score"])
        return self._observation(), float(slot_rewards.sum()), done and not truncated, truncated, info

    def _end_reason(self, now: dict, goal: int) -> int:
        """Why GRF ended the episode, by its rules (football_env_core) and the scenario's flags."""
        spec, mode, owner = self.scenario, int(now["game_mode"]), int(now["ball_owned_team"])
        if goal and spec.end_on_score:
            return _SCORE
        if spec.end_on_out_of_play and mode != NORMAL and self._prev_mode == NORMAL:
            return _OUT_OF_PLAY
        if spec.end_on_possession_change and owner != -1 and self._prev_owner not in (-1, owner):
            return _POSSESSION
        if int(now["steps_left"]) <= 0:
            return _TIME
        # GRF ended the episode by a rule the scenario's flags do not show: name what changed
        return _SCORE if goal else _OUT_OF_PLAY if mode != NORMAL else _POSSESSION

    def _track(self) -> None:
        """Remember what GRF's end rules compare with: the last game mode and the last owning team."""
        now = self._raw[0]
        self._prev_mode = int(now["game_mode"])
        if int(now["ball_owned_team"]) != -1:
            self._prev_owner = int(now["ball_owned_team"])

    def _minimap(self) -> np.ndarray:
        return np.asarray(observations.extracted_from_raw(self._raw[0]), np.uint8)

    def close(self) -> None:
        grf, self.grf = getattr(self, "grf", None), None
        if grf is not None:
            grf.close()
