"""FootballVectorEnv: the same trajectories as FootballEnv game by game (seeds, actions, autoresets),
Gymnasium's next-step autoreset, seeding, batched spaces and info, and bad input."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import iterate

from envs.football import register_football_envs
from envs.football.env import FootballEnv
from envs.football.vector import FootballVectorEnv

register_football_envs()


def same(a, b) -> bool:
    """Exactly equal values and shapes, and dtypes outside dicts (a batched raw Dict holds its scalars
    and flags in the batched space's dtypes)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(
            np.array_equal(a[k], b[k]) and np.shape(a[k]) == np.shape(b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return isinstance(b, (tuple, list)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)


def run_both(scenario: str, representation: str, n: int, steps: int, n_controlled: int = 1, seed: int = 10,
             action_seed: int = 0):
    """Step a FootballVectorEnv and n FootballEnvs (reset with seed + i, reset again without a seed
    when their episode ends, as next-step autoreset does) with the same random actions; assert every
    step agrees game by game. Returns the number of episode ends seen."""
    kwargs = dict(scenario=scenario, representation=representation, n_controlled=n_controlled)
    vec = FootballVectorEnv(num_envs=n, **kwargs)
    singles = [FootballEnv(**kwargs) for _ in range(n)]
    obs, info = vec.reset(seed=seed)
    single_obs = [env.reset(seed=seed + i)[0] for i, env in enumerate(singles)]
    assert same(list(iterate(vec.observation_space, obs)), single_obs)
    rng = np.random.default_rng(action_seed)
    done = np.zeros(n, bool)
    ends = 0
    for t in range(steps):
        actions = rng.integers(19, size=(n, n_controlled) if n_controlled > 1 else n)
        obs, rewards, terminated, truncated, info = vec.step(actions)
        batch = list(iterate(vec.observation_space, obs))
        for i, env in enumerate(singles):
            if done[i]:
                expected = (env.reset()[0], 0.0, False, False)
                steps_i = 0
            else:
                o, r, te, tr, inf = env.step(actions[i])
                expected, steps_i = (o, r, te, tr), inf["steps"]
                assert list(info["score"][i]) == list(inf["score"]) and info["goal"][i] == inf["goal"]
                assert info["end_reason"][i] == inf["end_reason"] and info["game_mode"][i] == inf["game_mode"]
                np.testing.assert_array_equal(info["rewards"][i], inf["rewards"])
            got = (batch[i], float(rewards[i]), bool(terminated[i]), bool(truncated[i]))
            assert same(got, expected), f"game {i} differs at step {t}"
            assert info["steps"][i] == steps_i
        done = terminated | truncated
        ends += int(done.sum())
    vec.close()
    return ends


@pytest.mark.parametrize("scenario", ["academy_empty_goal_close", "academy_3_vs_1_with_keeper"])
def test_games_are_footballenvs_with_the_same_seeds_and_actions(scenario):
    ends = run_both(scenario, "simple115v2", n=6, steps=120)
    assert ends >= 6  # autoresets were exercised


def test_a_full_game_batch_matches_single_games():
    run_both("11_vs_11_easy_stochastic", "simple115v2", n=3, steps=60)


@pytest.mark.parametrize("representation", ["raw", "extracted", "graph"])
def test_every_representation_matches_single_games(representation):
    assert run_both("academy_run_to_score_with_keeper", representation, n=3, steps=40) > 0


@pytest.mark.parametrize("representation", ["simple115v2", "raw"])
def test_two_controlled_players_match_single_games(representation):
    run_both("academy_3_vs_1_with_keeper", representation, n=3, steps=40, n_controlled=2)


def test_next_step_autoreset_ignores_the_action_and_pays_nothing():
    env = FootballVectorEnv(num_envs=2, scenario="academy_empty_goal_close", rewards="scoring")
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    first, _ = env.reset(seed=0)
    for taken in range(1, 81):
        obs, rewards, terminated, truncated, info = env.step(np.array([12, 0]))  # game 0 shoots, 1 idles
        if terminated[0]:
            break
    assert terminated[0] and rewards[0] == 1.0 and info["end_reason"][0] == "score"
    obs, rewards, terminated, truncated, info = env.step(np.array([12, 0]))
    assert rewards[0] == 0.0 and not terminated[0] and not truncated[0] and info["steps"][0] == 0
    assert info["end_reason"][0] == "running" and list(info["score"][0]) == [0, 0]
    assert info["steps"][1] == taken + 1 and info["end_reason"][1] == "running"  # game 1 plays on
    assert info["_score"].all()
    assert obs in env.observation_space


def test_episode_ends_are_terminated_or_truncated_at_the_time_limit_then_restart():
    env = FootballVectorEnv(num_envs=3, scenario="academy_empty_goal_close")
    env.reset(seed=1)
    ended = np.zeros(3, bool)
    for step in range(1, 401):
        _, _, terminated, truncated, info = env.step(np.zeros(3, int))  # an idle agent
        assert not (terminated & truncated).any()
        time_up = info["end_reason"] == "time"
        assert (truncated == time_up).all() and (~truncated | (info["steps"] == 400)).all()
        assert (terminated == np.isin(info["end_reason"], ["score", "out_of_play", "possession_change"])).all()
        ended |= terminated | truncated
        if ended.all():
            break
    assert ended.all()  # every drill ends within its 400 steps
    _, rewards, terminated, truncated, info = env.step(np.zeros(3, int))
    restarted = info["steps"] == 0
    assert restarted.any() and not rewards[restarted].any()
    assert not (terminated | truncated)[restarted].any()


def test_reset_mask_restarts_only_the_masked_games():
    env = FootballVectorEnv(num_envs=3, scenario="academy_3_vs_1_with_keeper")
    env.reset(seed=0)
    for _ in range(5):
        env.step(np.full(3, 5))
    _, info = env.reset(options={"reset_mask": np.array([False, True, False])})
    assert list(info["steps"]) == [5, 0, 5] and list(info["_steps"]) == [False, True, False]
    with pytest.raises(ValueError, match="reset_mask"):
        env.reset(options={"reset_mask": np.array([1, 0, 1])})
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"seed": 3})


def test_seeds_int_list_and_none():
    a, b = FootballVectorEnv(num_envs=3), FootballVectorEnv(num_envs=3)
    a.reset(seed=7)
    b.reset(seed=[7, 8, 9])
    np.testing.assert_array_equal(a.state.rng, b.state.rng)
    b.reset(seed=[9, 8, 7])
    assert b.state.rng[0] == a.state.rng[2] and b.state.rng[2] == a.state.rng[0]
    c = FootballVectorEnv(num_envs=3)
    c.reset()
    assert len(set(c.state.rng.tolist())) == 3
    with pytest.raises(ValueError, match="3 seeds"):
        a.reset(seed=[1, 2])


def test_spaces_batch_the_single_env_ones():
    env = FootballVectorEnv(num_envs=4, scenario="academy_3_vs_1_with_keeper", representation="extracted")
    single = FootballEnv(scenario="academy_3_vs_1_with_keeper", representation="extracted")
    assert env.single_observation_space == single.observation_space
    assert env.single_action_space == single.action_space
    assert env.observation_space.shape == (4, 72, 96, 4) and env.action_space == gym.spaces.MultiDiscrete([19] * 4)
    obs, _ = env.reset(seed=0)
    assert obs in env.observation_space
    two = FootballVectorEnv(num_envs=4, scenario="academy_3_vs_1_with_keeper", n_controlled=2)
    assert two.action_space.shape == (4, 2) and two.observation_space.shape == (4, 2, 115)


def test_bad_input():
    with pytest.raises(ValueError, match="num_envs"):
        FootballVectorEnv(num_envs=0)
    with pytest.raises(ValueError, match="builtin engine only"):
        FootballVectorEnv(num_envs=2, backend="grf")
    with pytest.raises(ValueError, match="allowed: raw, simple115v2, extracted, graph"):
        FootballVectorEnv(num_envs=2, representation="pixels")
    env = FootballVectorEnv(num_envs=2)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(2, int))
    env.reset(seed=0)
    for bad in (np.zeros(3, int), np.array([0, 19]), np.array([0.5, 1.0])):
        with pytest.raises(ValueError, match="action"):
            env.step(bad)


def test_copy_false_reuses_one_buffer():
    env = FootballVectorEnv(num_envs=2, copy=False)
    first, _ = env.reset(seed=0)
    second = env.step(np.full(2, 5))[0]
    assert np.shares_memory(first, second)
    fresh = FootballVectorEnv(num_envs=2)
    a, _ = fresh.reset(seed=0)
    assert not np.shares_memory(a, fresh.step(np.full(2, 5))[0])


def test_make_vec_builds_it_and_render_gives_one_frame_per_game():
    env = gym.make_vec("rlkit/Football-v0", num_envs=2, scenario="academy_corner", render_mode="rgb_array")
    assert isinstance(env.unwrapped, FootballVectorEnv)
    env.reset(seed=0)
    frames = env.render()
    assert len(frames) == 2 and frames[0].shape == (288, 384, 3)
    env.close()
