"""The combinatorial gridworlds (ProcMaze, ButtonGrid, PanFlute): Gymnasium's contract, the rules of
each task as the source paper states them, state save and restore, seeding, bad input."""

from __future__ import annotations

import copy
import itertools
import pickle
from collections import deque

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs  # noqa: F401  (registers the envs)
from envs.gridworlds import EPISODE_STEPS, GRIDWORLD_ENVS, MOVES
from envs.gridworlds.button_grid import BUTTON_OFF, BUTTON_ON, ButtonGridEnv
from envs.gridworlds.pan_flute import PanFluteEnv
from envs.gridworlds.proc_maze import EMPTY, GOAL, PLAYER, WALL, ProcMazeEnv, carve_maze, default_teleport_prob

NOOP, UP, LEFT, DOWN, RIGHT = range(5)


def make_all():
    return [ProcMazeEnv(), ButtonGridEnv(), PanFluteEnv(), ProcMazeEnv(grid_size=7), ButtonGridEnv(4, 5)]


# -- Gymnasium's contract ------------------------------------------------------------------
@pytest.mark.parametrize("env", make_all(), ids=lambda e: f"{type(e).__name__}")
def test_check_env(env):
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float32 and env.observation_space.contains(obs)
    assert set(np.unique(obs)) <= {0.0, 1.0}


def test_registered_with_100_step_episodes():
    for env_id in GRIDWORLD_ENVS:
        env = gym.make(env_id)
        assert env.spec.max_episode_steps == EPISODE_STEPS == 100
        env.reset(seed=1)
        truncated = terminated = False
        for t in range(1, 101):
            _, _, terminated, truncated, _ = env.step(0 if env_id.endswith("PanFlute-v0") else NOOP)
            if terminated:
                break
        assert terminated or (truncated and t == 100)


def test_observation_sizes():
    assert ProcMazeEnv(grid_size=4).observation_space.shape == (4 * 4 * 4,)
    assert ButtonGridEnv(grid_size=10).observation_space.shape == (10 * 10 * 3,)
    assert PanFluteEnv(pipes=5).observation_space.shape == (15,)
    assert ProcMazeEnv().action_space.n == ButtonGridEnv().action_space.n == PanFluteEnv().action_space.n == 5
    assert PanFluteEnv(pipes=3).action_space.n == 3


# -- ProcMaze --------------------------------------------------------------------------------
def free_neighbours(free: np.ndarray, r: int, c: int) -> list[tuple[int, int]]:
    g = free.shape[0]
    return [(r + dr, c + dc) for dr, dc in MOVES[1:] if 0 <= r + dr < g and 0 <= c + dc < g and free[r + dr, c + dc]]


def reachable(free: np.ndarray, start: tuple[int, int]) -> set[tuple[int, int]]:
    seen, queue = {start}, deque([start])
    while queue:
        for cell in free_neighbours(free, *queue.popleft()):
            if cell not in seen:
                seen.add(cell)
                queue.append(cell)
    return seen


@pytest.mark.parametrize("grid_size", [2, 3, 4, 7])
def test_maze_is_a_maximal_tree_of_corridors(grid_size):
    rng = np.random.default_rng(grid_size)
    for _ in range(200):
        free = ~carve_maze(rng, grid_size)
        cells = [tuple(int(i) for i in cell) for cell in np.argwhere(free)]
        assert len(cells) >= 2
        assert reachable(free, cells[0]) == set(cells)  # connected
        pairs = sum(len(free_neighbours(free, *cell)) for cell in cells) // 2
        assert pairs == len(cells) - 1  # a tree: no loops
        for r, c in np.argwhere(~free):  # maximal: no wall could be freed without a loop
            assert len(free_neighbours(free, r, c)) != 1


def test_maze_observation_start_and_goal():
    env = ProcMazeEnv(grid_size=4)
    mazes = set()
    for seed in range(100):
        obs, _ = env.reset(seed=seed)
        grid = obs.reshape(4, 4, 4)
        free = grid[..., EMPTY] == 1
        np.testing.assert_array_equal(free, ~env.walls)
        np.testing.assert_array_equal(grid[..., WALL], 1 - grid[..., EMPTY])
        assert grid[..., PLAYER].sum() == grid[..., GOAL].sum() == 1
        player, goal = map(tuple, (np.argwhere(grid[..., PLAYER])[0], np.argwhere(grid[..., GOAL])[0]))
        assert player != goal and free[player] and free[goal]
        assert goal in reachable(free, player)
        mazes.add(free.tobytes())
    assert len(mazes) > 20  # a new maze per reset


def shortest_path_actions(env: ProcMazeEnv) -> list[int]:
    free = ~env.walls
    parents, queue = {env.player: None}, deque([env.player])
    while queue:
        cell = queue.popleft()
        for action, (dr, dc) in enumerate(MOVES):
            nxt = (cell[0] + dr, cell[1] + dc)
            if action and 0 <= nxt[0] < env.grid_size and 0 <= nxt[1] < env.grid_size and free[nxt] \
                    and nxt not in parents:
                parents[nxt] = (cell, action)
                queue.append(nxt)
    actions, cell = [], env.goal
    while parents[cell] is not None:
        cell, action = parents[cell]
        actions.append(action)
    return actions[::-1]


def test_maze_ends_one_step_after_the_goal_with_minus_one_per_step():
    env = ProcMazeEnv(grid_size=6, teleport_prob=0.0)
    for seed in range(30):
        env.reset(seed=seed)
        path = shortest_path_actions(env)
        for action in path:
            obs, reward, terminated, truncated, _ = env.step(action)
            assert reward == -1.0 and not terminated and not truncated
        assert env.player == env.goal and obs.reshape(6, 6, 4)[env.goal + (PLAYER,)] == 1
        _, reward, terminated, _, _ = env.step(NOOP)
        assert reward == -1.0 and terminated


def test_maze_walls_and_edges_block():
    env = ProcMazeEnv(grid_size=5, teleport_prob=0.0)
    rng = np.random.default_rng(0)
    env.reset(seed=3)
    for _ in range(300):
        if env.player == env.goal:
            env.reset(seed=int(rng.integers(1000)))
            continue
        before, action = env.player, int(rng.integers(5))
        env.step(action)
        target = (before[0] + MOVES[action][0], before[1] + MOVES[action][1])
        inside = 0 <= target[0] < 5 and 0 <= target[1] < 5
        assert env.player == (target if inside and not env.walls[target] else before)


def test_maze_teleport():
    env = ProcMazeEnv(grid_size=4, teleport_prob=1.0)
    env.reset(seed=0)
    obs, _, terminated, _, _ = env.step(NOOP)
    assert env.player == env.goal and not terminated and obs.reshape(4, 4, 4)[env.goal + (PLAYER,)] == 1
    assert env.step(NOOP)[2]
    env = ProcMazeEnv(grid_size=4, teleport_prob=0.0)
    for seed in range(50):
        env.reset(seed=seed)
        for _ in range(20):
            env.step(NOOP)
            assert env.player != env.goal
    assert ProcMazeEnv().teleport_prob == pytest.approx(0.01) == default_teleport_prob(4)


# -- ButtonGrid ------------------------------------------------------------------------------
def walk_to(env: ButtonGridEnv, cell: tuple[int, int], final: bool = True) -> list[float]:
    """Moves to ``cell`` (rows first); ``final=False`` stops one step short. Returns the rewards."""
    moves = []
    dr, dc = cell[0] - env.player[0], cell[1] - env.player[1]
    moves += [DOWN if dr > 0 else UP] * abs(dr) + [RIGHT if dc > 0 else LEFT] * abs(dc)
    return [env.step(a)[1] for a in (moves if final else moves[:-1])]


def test_buttons_toggle_when_stepped_onto():
    env = ButtonGridEnv(grid_size=3, buttons=2, spontaneous_prob=0.0)
    env.reset(seed=0)

    def place(player, on):
        env.set_state({**env.get_state(), "player": player, "buttons": [(1, 2), (0, 0)], "on": [on, False]})

    place((1, 1), False)
    obs, reward, *_ = env.step(RIGHT)  # onto the button: on
    grid = obs.reshape(3, 3, 3)
    assert env.on.tolist() == [True, False] and reward == 0.0
    assert grid[1, 2, BUTTON_ON] == 1 and grid[1, 2, BUTTON_OFF] == 0 and grid[1, 2, 0] == 1
    obs, *_ = env.step(LEFT)  # leaving it toggles nothing
    assert env.on.tolist() == [True, False] and obs.reshape(3, 3, 3)[1, 2, BUTTON_ON] == 1
    obs, *_ = env.step(RIGHT)  # onto it again: off
    assert env.on.tolist() == [False, False] and obs.reshape(3, 3, 3)[1, 2, BUTTON_OFF] == 1
    place((1, 2), False)
    env.step(NOOP)  # standing on it toggles nothing, nor does bumping into the grid's edge
    env.step(RIGHT)
    assert env.player == (1, 2) and env.on.tolist() == [False, False]


def test_reward_the_step_after_all_are_on_then_new_layout():
    env = ButtonGridEnv(grid_size=5, buttons=3, spontaneous_prob=0.0)
    env.reset(seed=0)
    env.set_state({**env.get_state(), "player": (0, 0), "buttons": [(0, 2), (2, 2), (4, 4)], "on": [False] * 3})
    rewards = walk_to(env, (0, 2)) + walk_to(env, (2, 2)) + walk_to(env, (4, 4))
    assert rewards == [0.0] * len(rewards) and env.on.all()
    layout = env.get_state()
    obs, reward, terminated, truncated, _ = env.step(NOOP)
    assert reward == 1.0 and not terminated and not truncated
    assert not env.on.any() and len(set(env.buttons) | {env.player}) == 4
    assert (env.buttons, env.player) != (layout["buttons"], layout["player"])
    grid = obs.reshape(5, 5, 3)
    assert grid[..., BUTTON_OFF].sum() == 3 and grid[..., BUTTON_ON].sum() == 0 and grid[..., 0].sum() == 1
    assert env.step(NOOP)[1] == 0.0
    # stepping onto a button that is on switches it off again
    env.set_state({**env.get_state(), "player": (0, 0), "buttons": [(0, 1), (3, 3), (4, 4)], "on": [True, True, False]})
    env.step(RIGHT)
    assert env.on.tolist() == [False, True, False]
    assert env.step(NOOP)[1] == 0.0


def test_buttons_switch_on_spontaneously():
    env = ButtonGridEnv(grid_size=4, buttons=2, spontaneous_prob=1.0)
    env.reset(seed=0)
    obs, reward, *_ = env.step(NOOP)
    assert reward == 0.0 and env.on.all() and obs.reshape(4, 4, 3)[..., BUTTON_ON].sum() == 2
    assert env.step(NOOP)[1] == 1.0
    assert ButtonGridEnv(grid_size=10).spontaneous_prob == pytest.approx(1 / 1000)
    env = ButtonGridEnv(grid_size=4, buttons=2, spontaneous_prob=0.0)
    env.reset(seed=0)
    for _ in range(200):
        assert env.step(NOOP)[1] == 0.0 and not env.on.any()


# -- PanFlute --------------------------------------------------------------------------------
def test_pan_flute_known_answer():
    env = PanFluteEnv(pipes=5, spontaneous_prob=0.0)
    env.reset(seed=0)
    rewards, observations = [], []
    for pipe in [4, 3, 2, 1, 0, 0, 0]:
        obs, reward, *_ = env.step(pipe)
        rewards.append(reward)
        observations.append(obs)
    assert rewards == [0, 0, 0, 0, 0, 1, 0]  # paid on the step after the 0 is played
    # after the 5th step every pipe holds a single 1 in its last bit
    np.testing.assert_array_equal(observations[4], [1, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1])
    # the first step: pipe 4's head (bit 10) only
    np.testing.assert_array_equal(np.flatnonzero(observations[0]), [10])


def test_pan_flute_other_patterns_pay_nothing():
    env = PanFluteEnv(pipes=5, spontaneous_prob=0.0)
    rng = np.random.default_rng(0)
    patterns = set(itertools.product(range(5), repeat=5)) - {(4, 3, 2, 1, 0)}
    sample = rng.choice(len(patterns), size=300, replace=False)
    patterns = sorted(patterns)
    for i in sample:
        env.reset()
        rewards = [env.step(pipe)[1] for pipe in patterns[i] + (0,)]
        assert rewards == [0.0] * 6, patterns[i]


def test_pan_flute_shift_registers():
    env = PanFluteEnv(pipes=3, spontaneous_prob=0.0)
    env.reset(seed=0)
    # pipes: [b0] [b1 b2] [b3 b4 b5]
    np.testing.assert_array_equal(env.step(2)[0], [0, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(env.step(1)[0], [0, 1, 0, 0, 1, 0])
    np.testing.assert_array_equal(env.step(2)[0], [0, 0, 1, 1, 0, 1])
    np.testing.assert_array_equal(env.step(0)[0], [1, 0, 0, 0, 1, 0])


def test_pan_flute_spontaneous_setting():
    """With probability p, after the shift and heads of a step, every last bit is set: the step's
    observation shows it and the next step pays."""
    env = PanFluteEnv(pipes=5, spontaneous_prob=1.0)
    env.reset(seed=0)
    obs, reward, *_ = env.step(2)
    assert reward == 0.0
    np.testing.assert_array_equal(np.flatnonzero(obs), [0, 2, 3, 5, 9, 14])  # tails + pipe 2's head
    assert env.step(0)[1] == 1.0
    assert PanFluteEnv().spontaneous_prob == pytest.approx(1 / 25)
    env = PanFluteEnv(pipes=5)
    env.reset(seed=0)
    hits = 0
    for _ in range(5000):
        obs, *_ = env.step(0)
        hits += bool(obs[env.tails[1:]].all())  # only a spontaneous setting sets pipes 1-4's last bits
    assert 5000 / 25 * 0.75 < hits < 5000 / 25 * 1.25


# -- state save and restore, seeding ---------------------------------------------------------
def rollout(env, actions):
    return [(obs.tolist(), reward, terminated) for obs, reward, terminated, *_ in map(env.step, actions)]


@pytest.mark.parametrize("make", [lambda: ProcMazeEnv(grid_size=5, teleport_prob=0.2),
                                  lambda: ButtonGridEnv(grid_size=3, buttons=2, spontaneous_prob=0.2),
                                  lambda: PanFluteEnv(pipes=4, spontaneous_prob=0.3)],
                         ids=["ProcMaze", "ButtonGrid", "PanFlute"])
def test_state_round_trip(make):
    env = make()
    assert type(env).supports_state_restore
    env.reset(seed=5)
    rng = np.random.default_rng(1)
    for _ in range(7):
        env.step(int(rng.integers(env.action_space.n)))
    actions = [int(a) for a in rng.integers(env.action_space.n, size=200)]
    state = pickle.loads(pickle.dumps(env.get_state()))
    saved = copy.deepcopy(state)
    first = rollout(env, actions)
    env.set_state(state)
    assert rollout(env, actions) == first
    other = make()  # a fresh env restored from the same state
    other.set_state(saved)
    assert rollout(other, actions) == first
    if isinstance(env, ProcMazeEnv):  # episodic: the random actions do end episodes
        assert any(terminated for *_, terminated in first)


@pytest.mark.parametrize("make", [lambda: ProcMazeEnv(teleport_prob=0.1), lambda: ButtonGridEnv(3, 2, 0.1),
                                  lambda: PanFluteEnv(spontaneous_prob=0.2)], ids=["ProcMaze", "ButtonGrid", "PanFlute"])
def test_state_from_observation(make):
    """An observation holds the whole state but the random generator: set from it (and given the same
    generator state), another env continues exactly as the original."""
    env, other = make(), make()
    env.reset(seed=2)
    other.reset(seed=9)
    rng = np.random.default_rng(3)
    actions = [int(a) for a in rng.integers(env.action_space.n, size=60)]
    for action in actions[:5]:
        obs, *_ = env.step(action)
    other.set_state_from_observation(obs)
    other.np_random.bit_generator.state = env.np_random.bit_generator.state
    assert rollout(other, actions) == rollout(env, actions)


@pytest.mark.parametrize("env_id", list(GRIDWORLD_ENVS))
def test_seeds_reproduce(env_id):
    def run(seed):
        env = gym.make(env_id)
        out = [env.reset(seed=seed)[0].tolist()]
        rng = np.random.default_rng(0)
        for _ in range(300):
            obs, reward, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
            out.append((obs.tolist(), reward, terminated, truncated))
            if terminated or truncated:
                out.append(env.reset()[0].tolist())
        return out

    assert run(3) == run(3)
    if "PanFlute" not in env_id:  # PanFlute starts from zeros whatever the seed
        assert run(3)[0] != run(4)[0]


# -- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize("make, match", [
    (lambda: ProcMazeEnv(grid_size=1), r"grid_size must be an integer >= 2"),
    (lambda: ProcMazeEnv(grid_size=3.5), r"grid_size must be an integer >= 2"),
    (lambda: ProcMazeEnv(teleport_prob=1.5), r"teleport_prob must be a probability in \[0, 1\]"),
    (lambda: ProcMazeEnv(teleport_prob=-0.1), r"teleport_prob must be a probability in \[0, 1\]"),
    (lambda: ButtonGridEnv(grid_size=1), r"grid_size must be an integer >= 2"),
    (lambda: ButtonGridEnv(grid_size=3, buttons=9), r"buttons must be an integer in \[1, 8\]"),
    (lambda: ButtonGridEnv(buttons=0), r"buttons must be an integer in \[1, 99\]"),
    (lambda: ButtonGridEnv(spontaneous_prob=2), r"spontaneous_prob must be a probability in \[0, 1\]"),
    (lambda: PanFluteEnv(pipes=0), r"pipes must be an integer >= 1"),
    (lambda: PanFluteEnv(spontaneous_prob=-1), r"spontaneous_prob must be a probability in \[0, 1\]"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_actions_and_order():
    for env in (ProcMazeEnv(), ButtonGridEnv(), PanFluteEnv()):
        with pytest.raises(RuntimeError, match="reset"):
            env.step(0)
        env.reset(seed=0)
        for bad in (5, -1, 1.5):
            with pytest.raises(ValueError, match=r"action must be an integer in \[0, 4\]"):
                env.step(bad)
        env.step(np.int64(4))
    with pytest.raises(ValueError, match="this env"):
        ButtonGridEnv(buttons=2).set_state({"player": (0, 0), "buttons": [(1, 1)], "on": [False], "rng": None})
    big = ProcMazeEnv(grid_size=5)
    big.reset(seed=0)
    with pytest.raises(ValueError, match="this env"):
        ProcMazeEnv(grid_size=4).set_state(big.get_state())
