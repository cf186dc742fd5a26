"""The 14 GRF scenarios: names, player counts, roles, ball spots, end rules, and how the engine lays
them out in the state (right team mirrored into the left team's frame)."""

from __future__ import annotations

import numpy as np
import pytest

from envs.football.engine import FootballEngine
from envs.football.scenarios import SCENARIOS, Scenario, scenario
from envs.football.state import CB, CF, CM, CORNER, GK, KICK_OFF, LB, NORMAL, PLAYERS_PER_TEAM, RM

GRF_NAMES = (
    "academy_empty_goal_close", "academy_empty_goal", "academy_run_to_score", "academy_run_to_score_with_keeper",
    "academy_pass_and_shoot_with_keeper", "academy_run_pass_and_shoot_with_keeper", "academy_3_vs_1_with_keeper",
    "academy_corner", "academy_counterattack_easy", "academy_counterattack_hard", "academy_single_goal_versus_lazy",
    "11_vs_11_easy_stochastic", "11_vs_11_stochastic", "11_vs_11_hard_stochastic")

# name: (left players, right players, ball)
LAYOUT = {
    "academy_empty_goal_close": (2, 1, (0.77, 0.0)),
    "academy_empty_goal": (2, 1, (0.02, 0.0)),
    "academy_run_to_score": (2, 6, (0.02, 0.0)),
    "academy_run_to_score_with_keeper": (2, 6, (0.02, 0.0)),
    "academy_pass_and_shoot_with_keeper": (3, 2, (0.7, -0.28)),
    "academy_run_pass_and_shoot_with_keeper": (3, 2, (0.7, -0.28)),
    "academy_3_vs_1_with_keeper": (4, 2, (0.62, 0.0)),
    "academy_corner": (11, 11, (0.99, 0.41)),
    "academy_counterattack_easy": (11, 11, (0.26, -0.11)),
    "academy_counterattack_hard": (11, 11, (0.26, -0.11)),
    "academy_single_goal_versus_lazy": (11, 11, (-0.48, -0.06356)),
    "11_vs_11_easy_stochastic": (11, 11, (0.0, 0.0)),
    "11_vs_11_stochastic": (11, 11, (0.0, 0.0)),
    "11_vs_11_hard_stochastic": (11, 11, (0.0, 0.0)),
}


def test_all_grf_scenarios_and_only_them():
    assert tuple(SCENARIOS) == GRF_NAMES
    assert all(isinstance(s, Scenario) and s.name == name for name, s in SCENARIOS.items())


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="academy_empty_goal_close.*11_vs_11_hard_stochastic"):
        scenario("academy_empty_goal_far")
    with pytest.raises(ValueError, match="unknown football scenario"):
        FootballEngine("5_vs_5")


@pytest.mark.parametrize("name", GRF_NAMES)
def test_layout_counts_ball_and_keepers(name):
    n_left, n_right, ball = LAYOUT[name]
    s = scenario(name)
    assert (s.n_left, s.n_right, s.ball) == (n_left, n_right, ball)
    assert s.left_roles[0] == GK and s.right_roles[0] == GK  # GRF lists the keeper first
    assert s.deterministic is False
    st = FootballEngine(s).state
    assert st.present[0, :n_left].all() and not st.present[0, n_left:PLAYERS_PER_TEAM].any()
    assert st.present[0, 11:11 + n_right].all() and not st.present[0, 11 + n_right:].any()
    np.testing.assert_allclose(st.ball[0], [*ball, 0.0])
    np.testing.assert_allclose(st.pos[0, :n_left], s.left)
    np.testing.assert_allclose(st.pos[0, 11:11 + n_right], s.right)
    assert list(st.roles[0, :n_left]) == list(s.left_roles)
    assert list(st.roles[0, 11:11 + n_right]) == list(s.right_roles)
    assert st.steps_left[0] == s.episode_steps and st.score[0].tolist() == [0, 0]


def test_right_team_is_mirrored_into_the_left_frame():
    # GRF: academy_3_vs_1_with_keeper's right keeper at (-1, 0) and CB at (-0.75, 0) of its own frame
    s = scenario("academy_3_vs_1_with_keeper")
    assert s.right == ((1.0, 0.0), (0.75, 0.0)) and s.right_roles == (GK, CB)
    assert s.left == ((-1.0, 0.0), (0.6, 0.0), (0.7, 0.2), (0.7, -0.2)) and s.left_roles == (GK, CM, CM, CM)
    # the empty-goal drills park the right keeper in the left team's goal, far from the ball
    assert scenario("academy_empty_goal_close").right == ((-1.0, 0.0),)
    assert scenario("academy_run_to_score_with_keeper").right[0] == (1.0, 0.0)
    assert scenario("academy_run_to_score").right[1:] == ((-0.12, -0.2), (-0.12, -0.1), (-0.12, 0.0),
                                                          (-0.12, 0.1), (-0.12, 0.2))
    # counterattack easy vs hard differ by one centre back (GRF: 0.4 vs -0.4 in the right frame)
    assert scenario("academy_counterattack_easy").right[2] == (-0.4, 0.06356)
    assert scenario("academy_counterattack_hard").right[2] == (0.4, 0.06356)


def test_end_rules_lengths_and_difficulties():
    for name, s in SCENARIOS.items():
        if name.startswith("11_vs_11"):
            assert s.full_game and s.episode_steps == 3000
            assert not (s.end_on_score or s.end_on_out_of_play or s.end_on_possession_change)
            assert s.initial_mode == KICK_OFF and s.initial_owner == 1
        else:
            assert not s.full_game and s.end_on_score and s.end_on_out_of_play
            assert s.end_on_possession_change == (name != "academy_corner")
            assert s.episode_steps == (3000 if name == "academy_single_goal_versus_lazy" else 400)
            assert s.difficulty == 0.6
        assert s.lazy_opponents == (name == "academy_single_goal_versus_lazy")
    assert [SCENARIOS[f"11_vs_11_{k}stochastic"].difficulty for k in ("easy_", "", "hard_")] == [0.05, 0.6, 0.95]
    assert scenario("academy_corner").initial_mode == CORNER
    assert scenario("academy_3_vs_1_with_keeper").initial_mode == NORMAL


def test_full_game_kick_off_formation():
    s = scenario("11_vs_11_stochastic")
    st = FootballEngine(s).state
    # the left team kicks off: two players on the centre spot, the right team outside the circle
    assert st.pos[0, 1].tolist() == [0.0, 0.02] and st.pos[0, 2].tolist() == [0.0, -0.02]
    assert st.owner_team[0] == 0 and st.owner_player[0] == 1 and st.game_mode[0] == KICK_OFF
    right = st.pos[0, 11:]
    assert (np.hypot(right[:, 0], right[:, 1]) >= 0.05 - 1e-9).all() and (right[1:, 0] >= 0.0).all()
    assert list(st.roles[0, :11]) == [GK, RM, CF, LB, CB, CB, 3, CM, CM, CM, 6]
    # a 4-4-2-like shape: four defenders behind the midfield for each team
    assert (st.pos[0, 3:7, 0] < st.pos[0, 7:10, 0].min()).all()
    assert (st.pos[0, 14:18, 0] > st.pos[0, 18:21, 0].max()).all()
    assert st.roles[0, 3] == LB and st.roles[0, 11] == GK
