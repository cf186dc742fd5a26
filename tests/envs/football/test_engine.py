"""The built-in engine: end rules, sticky actions, control switching, determinism (a batch equals
single games), physical invariants under random play, full-game restarts, the AI's difficulty,
and input errors. Statistics use batches of games so the file stays fast."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from envs.football.engine import FootballEngine
from envs.football.scenarios import scenario
from envs.football.state import (ENDED_OUT_OF_PLAY, ENDED_POSSESSION_CHANGE, ENDED_SCORE, ENDED_TIME, GK,
                                 KICK_OFF, NORMAL, RUNNING)

RIGHT, TOP, LEFT, SHOT, SPRINT, RELEASE_DIR, RELEASE_SPRINT, DRIBBLE, RELEASE_DRIBBLE = 5, 3, 1, 12, 13, 14, 15, 17, 18


def controlled_x(st):
    return st.pos[np.arange(st.n_games), st.controlled[:, 0], 0]


def play(engine, policy, steps=None, seed=0):
    """Run ``policy(state, rng) -> (n_games,) actions`` until every game is done (or ``steps``)."""
    rng = np.random.default_rng(seed)
    st = engine.state
    steps = steps or int(st.steps_left.max())
    for _ in range(steps):
        if st.done.all():
            break
        engine.step(np.asarray(policy(st, rng), np.int64).reshape(st.n_games, -1))
    return st


def run_right_then_shoot(st, rng):
    return np.where(controlled_x(st) > 0.85, SHOT, RIGHT)


def random_policy(st, rng):
    return rng.integers(0, 19, (st.n_games, st.n_controlled))


# -- end rules -----------------------------------------------------------------------------------
def test_a_shot_from_close_scores_and_ends_the_episode():
    engine = FootballEngine("academy_empty_goal_close", n_games=1)
    engine.reset(seeds=[3])
    st = engine.state
    engine.step(np.array([[0]]))  # the player takes the ball at his feet
    assert st.owner_team[0] == 0 and st.owner_player[0] == 1 and st.designated[0] == 1
    for _ in range(20):
        engine.step(np.array([[SHOT]]))
        if st.done[0]:
            break
    assert st.done[0] and st.end_reason[0] == ENDED_SCORE
    assert st.goal[0] == 1 and st.score[0].tolist() == [1, 0]
    assert st.ball[0, 0] > 1.0 and abs(st.ball[0, 1]) < 0.044


def test_empty_goal_close_scores_for_a_sensible_agent_and_sometimes_for_a_random_one():
    n = 256
    always_shoot = play(FootballEngine("academy_empty_goal_close", n_games=n), lambda st, r: np.full(n, SHOT))
    assert (always_shoot.end_reason == ENDED_SCORE).mean() > 0.7
    run_and_shoot = play(FootballEngine("academy_empty_goal_close", n_games=n), run_right_then_shoot)
    assert (run_and_shoot.end_reason == ENDED_SCORE).mean() > 0.95
    scored = run_and_shoot.end_reason == ENDED_SCORE
    assert (run_and_shoot.score[scored] == [1, 0]).all() and (run_and_shoot.goal[scored] == 1).all()
    rand = play(FootballEngine("academy_empty_goal_close", n_games=n), random_policy)
    assert 0.03 < (rand.end_reason == ENDED_SCORE).mean() < 0.9
    assert rand.done.all()


def test_running_the_ball_over_the_side_line_ends_out_of_play():
    engine = FootballEngine("academy_empty_goal_close")
    engine.step(np.zeros((1, 1), np.int64))
    assert engine.state.owner_team[0] == 0
    st = play(engine, lambda st, r: [TOP], steps=100)
    assert st.done[0] and st.end_reason[0] == ENDED_OUT_OF_PLAY
    assert st.ball[0, 1] < -0.42 and st.score[0].tolist() == [0, 0] and st.goal[0] == 0


def test_losing_the_ball_to_the_right_team_ends_the_episode():
    engine = FootballEngine("academy_run_to_score", n_games=16)  # five defenders chase a player who idles
    st = play(engine, lambda st, r: np.zeros(16), steps=200)
    assert st.done.all() and (st.end_reason == ENDED_POSSESSION_CHANGE).all()
    assert (st.owner_team == 1).all()


def test_academy_corner_does_not_end_on_possession_change():
    st = play(FootballEngine("academy_corner", n_games=64), random_policy)
    assert not (st.end_reason == ENDED_POSSESSION_CHANGE).any()
    assert st.done.all()


def test_time_limit():
    short = dataclasses.replace(scenario("academy_empty_goal_close"), episode_steps=12)
    engine = FootballEngine(short)
    st = engine.state
    for t in range(12):
        assert not st.done[0] and st.steps_left[0] == 12 - t
        engine.step(np.zeros((1, 1), np.int64))  # the player keeps the ball and nobody comes
    assert st.done[0] and st.end_reason[0] == ENDED_TIME and st.steps_left[0] == 0
    before = st.copy()
    engine.step(np.zeros((1, 1), np.int64))  # a finished game is left alone
    assert np.array_equal(before.pos, st.pos) and st.steps_left[0] == 0


def test_reset_restarts_only_the_given_games():
    engine = FootballEngine("academy_empty_goal_close", n_games=3)
    st = play(engine, lambda st, r: np.full(3, SHOT))
    assert st.done.all()
    engine.reset(np.array([False, True, False]))
    assert st.done.tolist() == [True, False, True] and st.end_reason[1] == RUNNING
    assert st.score[1].tolist() == [0, 0] and st.steps_left[1] == 400 and st.ball[1].tolist() == [0.77, 0.0, 0.0]
    st.checkpoints[:] = 5
    engine.reset([0, 2], seeds=[1, 2])
    assert not st.done.any() and st.checkpoints[[0, 2]].sum() == 0 and (st.checkpoints[1] == 5).all()


# -- actions and control -------------------------------------------------------------------------
def test_sticky_flags():
    engine = FootballEngine("academy_3_vs_1_with_keeper", n_controlled=2)
    st = engine.state

    def flags(slot):
        return np.nonzero(st.sticky[0, slot])[0].tolist()

    engine.step(np.array([[RIGHT, LEFT]]))
    assert flags(0) == [4] and flags(1) == [0]
    engine.step(np.array([[SPRINT, 0]]))
    assert flags(0) == [4, 8] and flags(1) == [0]  # idle keeps everything
    engine.step(np.array([[TOP, DRIBBLE]]))
    assert flags(0) == [2, 8] and flags(1) == [0, 9]  # a new direction replaces the old one
    engine.step(np.array([[RELEASE_DIR, RELEASE_DRIBBLE]]))
    assert flags(0) == [8] and flags(1) == [0]
    engine.step(np.array([[RELEASE_SPRINT, 8]]))
    assert flags(0) == [] and flags(1) == [7]
    engine.reset()
    assert not st.sticky.any()


def test_direction_actions_move_the_controlled_player_and_sprint_is_faster():
    engine = FootballEngine("academy_empty_goal", n_games=2)
    st = engine.state
    engine.step(np.array([[0], [0]]))
    for _ in range(15):
        engine.step(np.array([[RIGHT], [SPRINT]]) if _ == 0 else np.array([[RIGHT], [RIGHT]]))
    x_run, x_sprint = st.pos[0, 1, 0], st.pos[1, 1, 0]
    assert 0.08 < x_run < x_sprint < 0.25
    assert st.owner_team.tolist() == [0, 0]  # he keeps the ball while running
    assert np.abs(st.ball[:, :2] - st.pos[:, 1]).max() < 0.02
    assert (st.tired[1, 1] > st.tired[0, 1])  # sprinting tires


def test_control_switches_to_the_pass_receiver_and_the_nearest_player():
    # pass_and_shoot without its defender (who stands next to the passer)
    drill = dataclasses.replace(scenario("academy_pass_and_shoot_with_keeper"), right=((1.0, 0.0),),
                                right_roles=(GK,), right_home=())
    engine = FootballEngine(drill, n_controlled=1)
    st = engine.state
    assert st.designated[0] == 2  # the player next to the ball (0.7, -0.3)
    for _ in range(3):
        engine.step(np.array([[0]]))
    assert st.owner_team[0] == 0 and st.owner_player[0] == 2
    engine.step(np.array([[7]]))  # bottom: towards the team-mate at (0.7, 0)
    engine.step(np.array([[11]]))  # short pass
    assert st.owner_team[0] == -1 and st.designated[0] == 1 and st.controlled[0, 0] == 1
    for _ in range(30):
        engine.step(np.array([[RELEASE_DIR]]))  # no direction: the receiver goes to meet the ball
        if st.owner_team[0] >= 0:
            break
    assert st.owner_team[0] == 0 and st.owner_player[0] == 1 and st.designated[0] == 1


def test_several_controlled_players_are_distinct_left_outfield_players():
    engine = FootballEngine("academy_3_vs_1_with_keeper", n_games=32, n_controlled=3)
    st = engine.state
    rng = np.random.default_rng(1)
    for _ in range(60):
        engine.step(rng.integers(0, 19, (32, 3)))
        live = ~st.done
        c = st.controlled[live]
        assert (np.sort(c, axis=1) == [1, 2, 3]).all()  # the keeper only if nobody else is left
        assert (c[:, 0] == st.designated[live]).all()
        owned = live & (st.owner_team == 0)
        assert (st.designated[owned] == st.owner_player[owned]).all()


# -- determinism ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["academy_3_vs_1_with_keeper", "11_vs_11_stochastic"])
def test_a_batch_equals_single_games(name):
    n, steps = 4, 150
    seeds = np.array([11, 12, 13, 14])
    actions = np.random.default_rng(5).integers(0, 19, (steps, n, 1))
    batch = FootballEngine(name, n_games=n)
    batch.reset(seeds=seeds)
    singles = [FootballEngine(name) for _ in range(n)]
    for i, e in enumerate(singles):
        e.reset(seeds=[seeds[i]])
    for t in range(steps):
        batch.step(actions[t])
        for i, e in enumerate(singles):
            e.step(actions[t, i:i + 1])
    for i, e in enumerate(singles):
        for field in ("pos", "dir", "ball", "ball_dir", "owner_team", "owner_player", "score", "done",
                      "end_reason", "controlled", "sticky", "tired", "rng", "game_mode"):
            assert np.array_equal(getattr(batch.state, field)[i], getattr(e.state, field)[0]), (i, field)


def test_same_seed_same_trajectory_and_other_seeds_differ():
    def trajectory(seed):
        engine = FootballEngine("11_vs_11_easy_stochastic", n_games=2)
        engine.reset(seeds=[seed, seed + 1])
        out = []
        for _ in range(100):
            engine.step(np.array([[RIGHT], [SHOT]]))
            out.append(engine.state.pos.copy())
        return np.array(out)

    a, b, c = trajectory(7), trajectory(7), trajectory(8)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


# -- invariants over random play -----------------------------------------------------------------
@pytest.mark.parametrize("name", ["academy_3_vs_1_with_keeper", "academy_counterattack_hard", "11_vs_11_stochastic"])
def test_invariants_under_random_play(name):
    n = 64
    engine = FootballEngine(name, n_games=n)
    st = engine.state
    s = engine.scenario
    rng = np.random.default_rng(2)
    roles0 = st.roles.copy()
    for _ in range(300):
        score0, live0 = st.score.copy(), ~st.done
        engine.step(rng.integers(0, 19, (n, 1)))
        live = ~st.done | live0  # games that moved this step
        assert np.abs(st.pos[:, :, 0]).max() <= 1.1 + 1e-9 and np.abs(st.pos[:, :, 1]).max() <= 0.5 + 1e-9
        assert np.abs(st.ball[live0, 0]).max() < 1.2 and np.abs(st.ball[live0, 1]).max() < 0.55
        assert (st.ball[:, 2] >= 0).all()
        # the owner: both fields agree, he exists, the ball is at his feet in open play
        assert ((st.owner_team < 0) == (st.owner_player < 0)).all()
        owned = np.nonzero(st.owner_team >= 0)[0]
        slot = st.owner_team[owned] * 11 + st.owner_player[owned]
        assert st.present[owned, slot].all()
        normal = st.game_mode[owned] == NORMAL
        gap = np.hypot(*(st.ball[owned, :2] - st.pos[owned, slot]).T)
        assert (gap[normal] < 0.02).all()
        # the score moves only with a goal, by one
        diff = st.score - score0
        assert (diff[:, 0] == (st.goal == 1) * live0).all() and (diff[:, 1] == (st.goal == -1) * live0).all()
        # control: left players that are present
        assert (st.controlled[:, 0] == st.designated).all()
        assert st.present[np.arange(n), st.controlled[:, 0]].all()
        assert (st.roles == roles0).all() and (st.present.sum(1) == s.n_left + s.n_right).all()
        assert (st.tired >= 0).all() and (st.tired <= 1).all()
        engine.reset(st.done)  # keep playing


# -- keeper, full game, difficulty -----------------------------------------------------------------
def test_the_keeper_saves_some_shots():
    n = 256
    engine = FootballEngine("academy_3_vs_1_with_keeper", n_games=n)
    st = play(engine, lambda st, r: np.where(controlled_x(st) > 0.8, SHOT, RIGHT))
    keeper_ball = (st.end_reason == ENDED_POSSESSION_CHANGE) & (st.owner_player == 0)
    scored = st.end_reason == ENDED_SCORE
    assert keeper_ball.mean() > 0.05 and scored.mean() > 0.1


def test_full_game_kick_off_after_a_goal():
    engine = FootballEngine("11_vs_11_stochastic")
    st = engine.state
    # the left centre forward alone in front of goal with the ball; the keeper off his line
    st.game_mode[0] = NORMAL
    st.pos[0, 2] = (0.9, 0.0)
    st.pos[0, 11] = (0.6, 0.35)
    st.ball[0] = (0.91, 0.0, 0.0)
    st.owner_team[0], st.owner_player[0] = 0, 2
    st.controlled[0, 0] = st.designated[0] = 2
    for _ in range(10):
        engine.step(np.array([[SHOT]]))
        if st.score[0].sum():
            break
    assert st.score[0].tolist() == [1, 0] and st.goal[0] == 1 and not st.done[0]
    # the right team kicks off from the centre, everybody in the kick-off formation
    assert st.game_mode[0] == KICK_OFF and st.owner_team[0] == 1 and st.ball[0].tolist() == [0, 0, 0]
    assert np.allclose(st.pos[0, 12], (0.0, -0.02)) and np.allclose(st.pos[0, 13], (0.0, 0.02))
    assert (st.pos[0, 1:11, 0] < 0).all() and st.pos[0, 0].tolist() == [-1.0, 0.0]
    engine.step(np.array([[0]]))
    assert st.goal[0] == 0 and st.score[0].tolist() == [1, 0]
    for _ in range(30):
        engine.step(np.array([[0]]))
    assert st.game_mode[0] == NORMAL  # the AI took the kick-off


def test_the_agent_takes_the_kick_off_and_the_ai_steps_in_if_he_waits():
    engine = FootballEngine("11_vs_11_stochastic", n_games=2)
    st = engine.state
    assert (st.designated == 1).all() and (st.game_mode == KICK_OFF).all()
    engine.step(np.array([[11], [0]]))  # game 0 passes at once, game 1 waits
    assert st.game_mode.tolist() == [NORMAL, KICK_OFF]
    assert not (st.owner_team[0] == 0 and st.owner_player[0] == 1)  # the taker played it (to a team-mate)
    assert np.allclose(st.pos[1, 1], (0.0, 0.02))  # the taker stays on the spot
    for _ in range(60):
        engine.step(np.array([[0], [0]]))
    assert st.game_mode[1] == NORMAL


def test_full_game_restarts_set_the_game_mode():
    n = 32
    engine = FootballEngine("11_vs_11_stochastic", n_games=n)
    st = engine.state
    seen = set()
    rng = np.random.default_rng(0)
    for _ in range(600):
        engine.step(rng.integers(0, 19, (n, 1)))
        seen.update(np.unique(st.game_mode).tolist())
    assert not st.done.any() and {NORMAL, KICK_OFF, 2, 4, 5} <= seen  # goal kick, corner, throw-in


def scripted_attacker(st, rng):
    """Carry the ball right (sprinting when free), shoot near goal; without it, press the ball."""
    x = controlled_x(st)
    has = st.owner_team == 0
    a = np.where(has, np.where(x > 0.7, SHOT, RIGHT), 11)  # 11 without the ball: pressure
    return a


def test_easy_opponents_concede_more_and_score_less_than_hard_ones():
    goals = {}
    for d in (0.05, 0.95):
        for policy in (scripted_attacker, random_policy):
            engine = FootballEngine("11_vs_11_stochastic", n_games=48, difficulty=d)
            engine.reset(seeds=np.arange(48))
            goals[d, policy] = play(engine, policy, steps=1000).score.sum(0)  # 48 games of 100 s
    assert goals[0.05, scripted_attacker][0] > 2 * goals[0.95, scripted_attacker][0]
    assert goals[0.05, random_policy][1] * 1.5 < goals[0.95, random_policy][1]


def test_lazy_opponents_stand_still_but_their_keeper_moves():
    engine = FootballEngine("academy_single_goal_versus_lazy", n_games=8)
    st = engine.state
    start = st.pos[:, 12:22].copy()
    play(engine, run_right_then_shoot, steps=80)
    moved = np.abs(st.pos[:, 12:22] - start).max()
    assert moved == 0.0
    assert (st.roles[:, 11] == GK).all()


# -- bad input -----------------------------------------------------------------------------------
def test_bad_input_errors():
    engine = FootballEngine("academy_3_vs_1_with_keeper", n_games=2, n_controlled=2)
    with pytest.raises(ValueError, match=r"shape \(2, 2\)"):
        engine.step(np.zeros((2, 1), np.int64))
    with pytest.raises(ValueError, match="0..18"):
        engine.step(np.array([[0, 19], [0, 0]]))
    with pytest.raises(ValueError, match="0..18"):
        engine.step(np.array([[0, 0], [-1, 0]], np.int32))
    with pytest.raises(ValueError, match="integers"):
        engine.step(np.full((2, 2), 0.5))
    engine.step(np.array([[1.0, 2.0], [3.0, 4.0]]))  # integral floats are fine
    with pytest.raises(ValueError, match="n_controlled"):
        FootballEngine("academy_empty_goal_close", n_controlled=3)
    with pytest.raises(ValueError, match="difficulty"):
        FootballEngine("11_vs_11_stochastic", difficulty=1.5)
    with pytest.raises(ValueError, match="n_games"):
        FootballEngine("11_vs_11_stochastic", n_games=0)
    with pytest.raises(ValueError, match="seeds"):
        engine.reset(seeds=[1])
    with pytest.raises(ValueError, match="games"):
        engine.reset([5])
    bad = FootballEngine("academy_empty_goal_close")
    state_before = bad.state.copy()
    with pytest.raises(ValueError):
        bad.step(np.array([[99]]))
    assert np.array_equal(bad.state.pos, state_before.pos) and bad.state.steps_left[0] == 400
