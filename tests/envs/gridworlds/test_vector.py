"""The gridworlds' batched engines (envs.gridworlds.vector): game by game the single envs under
gym.make (time limit included) in both autoreset modes, the lockstep random generators, partial
resets, seeding, registration and bad input."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from batched_equality import assert_games_match_single_envs, same
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode

from envs.gridworlds import GRIDWORLD_ENVS, register_gridworld_envs
from envs.gridworlds.vector import ButtonGridVectorEnv, LockstepPCG64, PanFluteVectorEnv, ProcMazeVectorEnv

register_gridworld_envs()

MAZE, BUTTONS, FLUTE = GRIDWORLD_ENVS
VECTOR_CLASSES = {MAZE: ProcMazeVectorEnv, BUTTONS: ButtonGridVectorEnv, FLUTE: PanFluteVectorEnv}

# (id, kwargs, steps): enough steps for every game to end (terminate or reach the time limit) at
# least once; probabilities > 0 so that each step's draw matters, and a short time limit with
# ProcMaze's teleport so that episodes also end terminated and truncated on the same step.
CASES = [
    (MAZE, {}, 250),
    (MAZE, {"grid_size": 6, "teleport_prob": 0.05}, 250),
    (MAZE, {"grid_size": 3, "teleport_prob": 0.5, "max_episode_steps": 3}, 60),
    (BUTTONS, {"grid_size": 3, "buttons": 2, "spontaneous_prob": 0.1}, 250),
    (BUTTONS, {"grid_size": 5, "buttons": 4, "spontaneous_prob": 0.05, "max_episode_steps": 40}, 120),
    (FLUTE, {}, 250),
    (FLUTE, {"pipes": 3, "spontaneous_prob": 0.3, "max_episode_steps": 30}, 100),
]


@pytest.mark.parametrize("autoreset_mode", ["next_step", "same_step"])
@pytest.mark.parametrize("env_id, kwargs, steps", CASES, ids=lambda c: str(c).replace("rlkit/", ""))
def test_games_match_single_envs(env_id, kwargs, steps, autoreset_mode):
    ends = assert_games_match_single_envs(env_id, kwargs, n=4, steps=steps, autoreset_mode=autoreset_mode)
    assert ends >= 4


def test_the_cases_reach_what_they_are_for():
    """The equality cases above pay rewards, re-draw layouts and end on a time limit that a step also
    terminates on: what they check is exercised."""
    maze = ProcMazeVectorEnv(4, grid_size=3, teleport_prob=0.5, max_episode_steps=3)
    buttons = ButtonGridVectorEnv(4, grid_size=3, buttons=2, spontaneous_prob=0.1)
    flute = PanFluteVectorEnv(4, pipes=3, spontaneous_prob=0.3, max_episode_steps=30)
    totals = {}
    for env in (maze, buttons, flute):
        env.reset(seed=3)
        rng = np.random.default_rng(0)
        both = rewards = 0
        for _ in range(100):
            _, reward, terminated, truncated, _ = env.step(rng.integers(env.single_action_space.n, size=4))
            both += int((terminated & truncated).sum())
            rewards += int((reward > 0).sum())
        totals[type(env).__name__] = (both, rewards)
    assert totals["ProcMazeVectorEnv"][0] > 0
    assert totals["ButtonGridVectorEnv"][1] > 0 and totals["PanFluteVectorEnv"][1] > 0


def test_lockstep_pcg64_draws_as_the_generators():
    generators = [seeding.np_random(s)[0] for s in range(5)]
    reference = [seeding.np_random(s)[0] for s in range(5)]
    for rng in generators[:3] + reference[:3]:
        rng.integers(3)  # leaves half of a 64-bit output buffered for the next 32-bit draw
    streams = LockstepPCG64(5)
    for i, rng in enumerate(generators):
        streams.adopt(i, rng)
    live = np.array([True, False, True, True, False])
    for _ in range(20):
        draws = streams.random(live)
        for i in np.flatnonzero(live):
            assert draws[i] == reference[i].random()
        live = ~live if draws[0] < 0.5 else live
    for i, rng in enumerate(generators):
        assert streams.checkout(i, rng) is rng
        assert rng.bit_generator.state == reference[i].bit_generator.state
        assert rng.integers(1000, size=3).tolist() == reference[i].integers(1000, size=3).tolist()
    with pytest.raises(TypeError, match="PCG64"):
        streams.adopt(0, np.random.Generator(np.random.MT19937(0)))


@pytest.mark.parametrize("env_id", list(GRIDWORLD_ENVS))
def test_make_vec_builds_the_engine_with_the_single_env_spaces(env_id):
    vec = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point")
    single = gym.make(env_id)
    assert type(vec.unwrapped) is VECTOR_CLASSES[env_id] and vec.num_envs == 3
    assert vec.unwrapped.max_episode_steps == single.spec.max_episode_steps == 100
    assert vec.single_observation_space == single.observation_space
    assert vec.single_action_space == single.action_space
    assert vec.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    obs, _ = vec.reset(seed=0)
    first, _ = single.reset(seed=0)
    assert obs.dtype == first.dtype == np.float32 and obs.shape == (3,) + first.shape
    assert obs in vec.observation_space
    step_obs, rewards, terminated, truncated, _ = vec.step(np.zeros(3, np.int64))
    assert step_obs.shape == obs.shape and rewards.dtype == np.float32 and rewards.shape == (3,)
    assert terminated.dtype == truncated.dtype == np.bool_
    same_step = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point",
                             autoreset_mode="same_step", max_episode_steps=7)
    assert same_step.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert same_step.unwrapped.max_episode_steps == 7
    assert gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point",
                        max_episode_steps=-1).unwrapped.max_episode_steps is None


def step_both(vec, singles, actions, pending):
    """One step of the batch (next_step mode) and of the singles; asserts they agree game by game.
    Returns the batch's observations and which games ended."""
    obs, rewards, terminated, truncated, _ = vec.step(actions)
    for i, env in enumerate(singles):
        want = (env.reset()[0], 0.0, False, False) if pending[i] else env.step(int(actions[i]))[:4]
        assert same((obs[i], float(rewards[i]), bool(terminated[i]), bool(truncated[i])), want), f"game {i}"
    return obs, terminated | truncated


@pytest.mark.parametrize("env_id, kwargs", [(MAZE, {"grid_size": 5, "teleport_prob": 0.1}),
                                            (BUTTONS, {"grid_size": 3, "spontaneous_prob": 0.2, "buttons": 2}),
                                            (FLUTE, {"spontaneous_prob": 0.3, "max_episode_steps": 9})],
                         ids=["ProcMaze", "ButtonGrid", "PanFlute"])
def test_reset_mask_restarts_only_the_masked_games(env_id, kwargs):
    """A partial reset restarts the masked games from their own generators (or new seeds), their time
    limits included, and leaves the others running: the singles reset alone stay in step."""
    vec = VECTOR_CLASSES[env_id](3, **kwargs)
    singles = [gym.make(env_id, **kwargs) for _ in range(3)]
    vec.reset(seed=5)
    for i, env in enumerate(singles):
        env.reset(seed=5 + i)
    rng = np.random.default_rng(1)
    pending = np.zeros(3, bool)  # games that ended on the last step: the next one restarts them
    for _ in range(8):
        before, pending = step_both(vec, singles, rng.integers(vec.single_action_space.n, size=3), pending)
    obs, _ = vec.reset(options={"reset_mask": np.array([False, True, False])})
    assert same(obs[[0, 2]], before[[0, 2]])
    assert same(obs[1], singles[1].reset()[0])
    obs, _ = vec.reset(seed=[None, None, 42], options={"reset_mask": np.array([True, False, True])})
    assert same(obs[0], singles[0].reset()[0]) and same(obs[2], singles[2].reset(seed=42)[0])
    pending[:] = False
    for _ in range(40):
        _, pending = step_both(vec, singles, rng.integers(vec.single_action_space.n, size=3), pending)
    with pytest.raises(ValueError, match="reset_mask"):
        vec.reset(options={"reset_mask": np.array([1, 0, 1])})


def test_seeds_int_list_and_none():
    a, b, c = (ProcMazeVectorEnv(3) for _ in range(3))
    assert same(a.reset(seed=7)[0], b.reset(seed=[7, 8, 9])[0])
    swapped = c.reset(seed=[9, 8, 7])[0]
    assert same(swapped[[2, 1, 0]], a.reset(seed=7)[0])
    fresh, other = ProcMazeVectorEnv(3), ProcMazeVectorEnv(3)
    assert not same(fresh.reset()[0], other.reset()[0])  # fresh entropy: the mazes differ
    with pytest.raises(ValueError, match="3 seeds"):
        a.reset(seed=[1, 2])


def test_sync_game_rngs_brings_the_generators_to_the_single_envs_state():
    vec = ButtonGridVectorEnv(3, grid_size=4, buttons=2, spontaneous_prob=0.2)
    singles = [gym.make(BUTTONS, grid_size=4, buttons=2, spontaneous_prob=0.2) for _ in range(3)]
    vec.reset(seed=11)
    for i, env in enumerate(singles):
        env.reset(seed=11 + i)
    for action in [1, 2, 3, 4, 0] * 4:
        vec.step(np.full(3, action))
        for env in singles:
            env.step(action)
    vec.sync_game_rngs()
    for rng, env in zip(vec.game_rngs, singles):
        assert rng.bit_generator.state == env.unwrapped.np_random.bit_generator.state


@pytest.mark.parametrize("make, match", [
    (lambda: ProcMazeVectorEnv(0), r"num_envs must be a positive integer, got 0"),
    (lambda: ProcMazeVectorEnv(2, grid_size=1), r"grid_size must be an integer >= 2"),
    (lambda: ProcMazeVectorEnv(2, teleport_prob=1.5), r"teleport_prob must be a probability in \[0, 1\]"),
    (lambda: ButtonGridVectorEnv(2, grid_size=3, buttons=9), r"buttons must be an integer in \[1, 8\]"),
    (lambda: ButtonGridVectorEnv(2, spontaneous_prob=-1), r"spontaneous_prob must be a probability in \[0, 1\]"),
    (lambda: PanFluteVectorEnv(2, pipes=0), r"pipes must be an integer >= 1"),
    (lambda: PanFluteVectorEnv(2, max_episode_steps=0), r"max_episode_steps must be an integer >= 1"),
    (lambda: PanFluteVectorEnv(2, autoreset_mode="later"), r"allowed: next_step, same_step"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("cls", [ProcMazeVectorEnv, ButtonGridVectorEnv, PanFluteVectorEnv])
def test_bad_actions(cls):
    env, n_actions = cls(3), 5
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(3, np.int64))
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions must have shape \(3,\) \(3 games of Discrete\(5\)\), got \(2,\)"):
        env.step(np.zeros(2, np.int64))
    for bad in ([0, n_actions, 1], [0, -1, 1]):
        with pytest.raises(ValueError, match=r"actions must lie in Discrete\(5\)"):
            env.step(np.array(bad))
    with pytest.raises(ValueError, match="actions must be integers"):
        env.step(np.array([0.5, 1.0, 2.0]))
    assert env.step(np.array([n_actions - 1, 0, 1]))[0].shape == env.observation_space.shape
    flute = PanFluteVectorEnv(2, pipes=3)
    flute.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions must lie in Discrete\(3\)"):
        flute.step(np.array([3, 0]))
