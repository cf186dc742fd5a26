"""Observations: the fast batched builders equal the plain from-raw builders on random states, and
the layouts are Google Research Football's (GRF)."""

from __future__ import annotations

import numpy as np
import pytest

from envs.football import observations as obs
from envs.football.state import GK, N_STICKY, PLAYERS_PER_TEAM, SLOTS, FootballState

FAST = {"simple115v2": obs.simple115v2, "extracted": obs.extracted, "graph": obs.graph}
FROM_RAW = {"simple115v2": obs.simple115v2_from_raw, "extracted": obs.extracted_from_raw,
            "graph": obs.graph_from_raw}


def random_state(rng: np.random.Generator, n_games: int, n_controlled: int, sent_off: bool = False,
                 team_sizes: tuple[int, int] | None = None) -> FootballState:
    """Valid random games: random team sizes, positions (some off the pitch and the minimap),
    owners, modes, controlled players; absent slots hold garbage that every builder must ignore."""
    s = FootballState.allocate(n_games, n_controlled)
    s.pos[:] = rng.uniform(-1.3, 1.3, s.pos.shape)
    s.pos[..., 1] *= 0.45
    s.dir[:] = rng.normal(0.0, 0.012, s.dir.shape)
    s.roles[:] = rng.integers(0, 10, s.roles.shape)
    s.tired[:] = rng.uniform(0.0, 1.0, s.tired.shape)
    s.yellow[:] = rng.random(s.yellow.shape) < 0.2
    s.ball[:, 0] = rng.uniform(-1.1, 1.1, n_games)
    s.ball[:, 1] = rng.uniform(-0.5, 0.5, n_games)
    s.ball[:, 2] = rng.uniform(0.0, 2.0, n_games) * (rng.random(n_games) < 0.5)
    s.ball_dir[:] = rng.normal(0.0, 0.03, s.ball_dir.shape)
    s.ball_rot[:] = rng.normal(0.0, 0.1, s.ball_rot.shape)
    s.game_mode[:] = rng.integers(0, 7, n_games)
    s.score[:] = rng.integers(0, 9, s.score.shape)
    s.steps_left[:] = rng.integers(0, 3001, n_games)
    s.sticky[:] = rng.random(s.sticky.shape) < 0.3
    for g in range(n_games):
        n_left, n_right = team_sizes or (rng.integers(1, 12), rng.integers(0, 12))
        s.present[g, :n_left] = True
        s.present[g, PLAYERS_PER_TEAM:PLAYERS_PER_TEAM + n_right] = True
        if sent_off and n_left > 2:  # a red card inside the team: the row stays, inactive
            s.present[g, rng.integers(1, n_left - 1)] = False
        s.roles[g, 0] = GK
        team = rng.integers(-1, 2) if n_right else rng.integers(-1, 1)
        s.owner_team[g] = team
        s.owner_player[g] = -1 if team < 0 else rng.integers(0, n_left if team == 0 else n_right)
        s.controlled[g] = rng.choice(np.flatnonzero(s.present[g, :n_left]), n_controlled)
        s.designated[g] = s.controlled[g, 0]
    return s


def team_sizes(s: FootballState, g: int) -> tuple[int, int]:
    """Rows each team shows in raw: slots up to the last present one."""
    def rows(first: int) -> int:
        shown = np.flatnonzero(s.present[g, first:first + PLAYERS_PER_TEAM])
        return int(shown[-1]) + 1 if shown.size else 0
    return rows(0), rows(PLAYERS_PER_TEAM)


@pytest.mark.parametrize("sent_off", [False, True])
def test_fast_builders_equal_the_reference_builders_on_random_states(sent_off):
    rng = np.random.default_rng(7 + sent_off)
    s = random_state(rng, 300, 3, sent_off=sent_off)
    fast = {name: build(s) for name, build in FAST.items()}
    for g in range(s.n_games):
        for c in range(s.n_controlled):
            raw = obs.raw(s, g, c)
            np.testing.assert_array_equal(fast["simple115v2"][g, c], obs.simple115v2_from_raw(raw))
            np.testing.assert_array_equal(fast["extracted"][g, c], obs.extracted_from_raw(raw))
            np.testing.assert_allclose(fast["graph"][g, c], obs.graph_from_raw(raw), rtol=1e-6, atol=1e-7)


def test_fast_builders_fill_a_reused_buffer_like_a_fresh_one():
    rng = np.random.default_rng(1)
    first, second = random_state(rng, 50, 2), random_state(rng, 50, 2)
    for name, build in FAST.items():
        out = build(first)
        assert build(second, out=out) is out
        np.testing.assert_array_equal(out, build(second), err_msg=name)


def test_a_batch_equals_its_games_built_one_by_one():
    s = random_state(np.random.default_rng(2), 20, 2)
    for name, build in FAST.items():
        batch = build(s)
        for g in range(s.n_games):
            np.testing.assert_array_equal(batch[g], build(s.game(g))[0], err_msg=name)


def test_absent_slots_are_ignored():
    rng = np.random.default_rng(3)
    s = random_state(rng, 40, 1)
    before = {name: build(s) for name, build in FAST.items()}
    absent = ~s.present
    for field in (s.pos, s.dir):
        field[absent] = rng.uniform(-1, 1, field[absent].shape)
    s.roles[absent] = GK
    for name, build in FAST.items():
        np.testing.assert_array_equal(build(s), before[name], err_msg=name)


def test_wrong_output_buffer_is_refused():
    s = random_state(np.random.default_rng(4), 3, 1)
    with pytest.raises(ValueError, match=r"float32 array of shape \(3, 1, 115\)"):
        obs.simple115v2(s, out=np.zeros((3, 115), np.float32))
    with pytest.raises(ValueError, match="uint8"):
        obs.extracted(s, out=np.zeros((3, 1, 72, 96, 4), np.float32))
    with pytest.raises(ValueError, match="episode_steps"):
        obs.graph(s, episode_steps=0)


# ------------------------------------------------------------------------------------------ raw


def test_raw_has_grf_keys_and_only_present_players_in_the_left_frame():
    s = random_state(np.random.default_rng(5), 1, 2, team_sizes=(3, 2))
    s.controlled[0] = [2, 1]
    raw = obs.raw(s, 0, 1)
    assert tuple(raw) == obs.RAW_KEYS
    assert set(raw) == {
        "ball", "ball_direction", "ball_rotation", "ball_owned_team", "ball_owned_player",
        "left_team", "left_team_direction", "left_team_active", "left_team_roles",
        "left_team_tired_factor", "left_team_yellow_card", "right_team", "right_team_direction",
        "right_team_active", "right_team_roles", "right_team_tired_factor", "right_team_yellow_card",
        "active", "designated", "game_mode", "score", "steps_left", "sticky_actions"}
    assert raw["left_team"].shape == (3, 2) and raw["right_team"].shape == (2, 2)
    np.testing.assert_array_equal(raw["right_team"], s.pos[0, 11:13])  # stored in the left frame
    np.testing.assert_array_equal(raw["left_team_direction"], s.dir[0, :3])
    assert raw["active"] == 1 and obs.raw(s, 0, 0)["active"] == 2
    np.testing.assert_array_equal(raw["sticky_actions"], s.sticky[0, 1].astype(np.uint8))
    assert raw["sticky_actions"].shape == (N_STICKY,)
    assert list(raw["score"]) == list(s.score[0]) and raw["steps_left"] == s.steps_left[0]
    raw["ball"][0] = 99.0  # a copy, not a view
    assert s.ball[0, 0] != 99.0
    with pytest.raises(ValueError, match="slot 2"):
        obs.raw(s, 0, 2)


def test_raw_keeps_a_sent_off_player_as_inactive():
    s = random_state(np.random.default_rng(6), 1, 1, team_sizes=(5, 4))
    s.present[0, 2] = False
    raw = obs.raw(s, 0, 0)
    assert raw["left_team"].shape == (5, 2)
    assert raw["left_team_active"].tolist() == [True, True, False, True, True]


# ---------------------------------------------------------------------------------- simple115v2


def simple_state() -> FootballState:
    """2 left players, 1 right player, left player 1 owns the ball, a corner."""
    s = FootballState.allocate(1, 1)
    s.present[0, [0, 1, 11]] = True
    s.pos[0, [0, 1, 11]] = [[-0.9, 0.01], [0.3, -0.2], [0.95, 0.02]]
    s.dir[0, [0, 1, 11]] = [[0.001, 0.002], [0.011, -0.003], [-0.004, 0.005]]
    s.pos[0, 2] = [0.5, 0.5]  # garbage in an absent slot
    s.ball[0] = [0.31, -0.19, 0.11]
    s.ball_dir[0] = [0.02, -0.01, 0.003]
    s.owner_team[0], s.owner_player[0] = 0, 1
    s.controlled[0, 0] = 1
    s.game_mode[0] = 4
    s.roles[0, [0, 1, 11]] = [GK, 9, GK]
    s.score[0] = [2, 0]
    s.steps_left[0] = 300
    return s


def test_simple115v2_layout_is_grfs():
    s = simple_state()
    v = obs.simple115v2(s)[0, 0]
    f = np.float32
    assert v.shape == (115,) and v.dtype == np.float32
    np.testing.assert_array_equal(v[0:4], f([-0.9, 0.01, 0.3, -0.2]))
    np.testing.assert_array_equal(v[4:22], -1)
    np.testing.assert_array_equal(v[22:26], f([0.001, 0.002, 0.011, -0.003]))
    np.testing.assert_array_equal(v[26:44], -1)
    np.testing.assert_array_equal(v[44:46], f([0.95, 0.02]))
    np.testing.assert_array_equal(v[46:66], -1)
    np.testing.assert_array_equal(v[66:68], f([-0.004, 0.005]))
    np.testing.assert_array_equal(v[68:88], -1)
    np.testing.assert_array_equal(v[88:91], f([0.31, -0.19, 0.11]))
    np.testing.assert_array_equal(v[91:94], f([0.02, -0.01, 0.003]))
    np.testing.assert_array_equal(v[94:97], [0, 1, 0])  # owner: none, left, right
    np.testing.assert_array_equal(v[97:108], np.eye(11)[1])  # active player 1
    np.testing.assert_array_equal(v[108:115], np.eye(7)[4])  # corner
    assert (obs.SIMPLE115_BALL, obs.SIMPLE115_BALL_OWNER, obs.SIMPLE115_ACTIVE, obs.SIMPLE115_GAME_MODE) \
        == (88, 94, 97, 108)
    for team, one_hot in ((-1, [1, 0, 0]), (1, [0, 0, 1])):
        s.owner_team[0] = team
        np.testing.assert_array_equal(obs.simple115v2(s)[0, 0, 94:97], one_hot)


def test_simple115v2_full_teams_have_no_padding():
    s = random_state(np.random.default_rng(8), 5, 1, team_sizes=(11, 11))
    v = obs.simple115v2(s)
    np.testing.assert_array_equal(v[:, 0, 0:22], s.pos[:, :11].reshape(5, 22).astype(np.float32))
    np.testing.assert_array_equal(v[:, 0, 44:66], s.pos[:, 11:].reshape(5, 22).astype(np.float32))
    np.testing.assert_array_equal(v[:, 0, 94:].sum(axis=1), 3)  # three one-hots


# ------------------------------------------------------------------------------------ extracted


def marked(frame: np.ndarray, layer: int) -> list[tuple[int, int]]:
    return sorted(map(tuple, np.argwhere(frame[:, :, layer] == 255).tolist()))


@pytest.mark.parametrize("point, pixel", [
    ((0.0, 0.0), (36, 48)),  # centre spot
    ((-1.0, -1 / 2.25), (0, 0)),  # top-left corner of GRF's minimap
    ((1.0, 1 / 2.25), (71, 95)),  # bottom-right corner: x = 1 lands on col 96, clipped
    ((-1.0, -0.42), (1, 0)),  # the pitch's top-left corner (the minimap reaches y = -1/2.25)
    ((1.0, 0.42), (70, 95)),
    ((0.5, -0.21), (18, 72)),
    ((-1.2, 0.6), (71, 0)),  # off the minimap: clipped to the frame
    ((1.3, -0.7), (0, 95)),
    ((-0.999, 0.0), (36, 0)),
])
def test_smm_pixels_follow_grfs_formula(point, pixel):
    s = FootballState.allocate(1, 1)
    s.present[0, 0] = True
    s.pos[0, 0] = point
    s.ball[0, :2] = point
    frame = obs.extracted(s)[0, 0]
    for layer in (0, 2, 3):  # left team, ball, active player
        assert marked(frame, layer) == [pixel]
    assert marked(frame, 1) == []
    np.testing.assert_array_equal(frame, obs.extracted_from_raw(obs.raw(s, 0, 0)))


def test_smm_planes_are_left_right_ball_active():
    s = simple_state()
    frame = obs.extracted(s)[0, 0]
    assert frame.shape == (72, 96, 4) and frame.dtype == np.uint8
    assert set(np.unique(frame)) == {0, 255}
    pixel = lambda x, y: (int((y + 1 / 2.25) / (2 / 2.25) * 72), min(int((x + 1) / 2 * 96), 95))  # noqa: E731
    assert marked(frame, 0) == sorted([pixel(-0.9, 0.01), pixel(0.3, -0.2)])  # absent slot 2 unmarked
    assert marked(frame, 1) == [pixel(0.95, 0.02)]
    assert marked(frame, 2) == [pixel(0.31, -0.19)]
    assert marked(frame, 3) == [pixel(0.3, -0.2)]  # the controlled player, left player 1


# ---------------------------------------------------------------------------------------- graph


def test_graph_feature_names():
    assert obs.GRAPH_FEATURES == 16 == len(obs.GRAPH_FEATURE_NAMES)
    assert obs.GRAPH_FEATURE_NAMES[:3] == ("x", "y", "z") and obs.GRAPH_FEATURE_NAMES[15] == "present"
    assert (obs.GRAPH_NODES, obs.BALL_NODE, obs.GLOBAL_NODE) == (24, 22, 23)


def test_graph_columns():
    s = simple_state()
    nodes = obs.graph(s, episode_steps=400)[0, 0]
    assert nodes.shape == (24, 16) and nodes.dtype == np.float32
    f = np.float32
    np.testing.assert_array_equal(nodes[:, 15], [1, 1] + [0] * 9 + [1] + [0] * 10 + [1, 1])
    absent = [i for i in range(SLOTS) if i not in (0, 1, 11)]
    np.testing.assert_array_equal(nodes[absent], 0)
    keeper, carrier, opponent, ball, glob = nodes[0], nodes[1], nodes[11], nodes[22], nodes[23]
    # players: x, y, z=0, dx*100, dy*100, left, right, ball, global, active, owns, distance, keeper
    np.testing.assert_allclose(carrier, f([0.3, -0.2, 0, 1.1, -0.3, 1, 0, 0, 0, 1, 1,
                                           np.hypot(0.01, 0.01), 0, 0, 0, 1]), rtol=1e-6)
    np.testing.assert_allclose(keeper, f([-0.9, 0.01, 0, 0.1, 0.2, 1, 0, 0, 0, 0, 0,
                                          np.hypot(1.21, 0.2), 1, 0, 0, 1]), rtol=1e-6)
    np.testing.assert_allclose(opponent, f([0.95, 0.02, 0, -0.4, 0.5, 0, 1, 0, 0, 0, 0,
                                            np.hypot(0.64, 0.21), 1, 0, 0, 1]), rtol=1e-6)
    np.testing.assert_allclose(ball, f([0.31, -0.19, 0.11, 2.0, -1.0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1]),
                               rtol=1e-6)
    np.testing.assert_allclose(glob, f([0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 300 / 400, 2 / 5, 1]))


def test_graph_ball_owner_sign_and_score_clip():
    s = simple_state()
    s.owner_team[0], s.owner_player[0] = 1, 0
    s.score[0] = [0, 7]
    nodes = obs.graph(s)[0, 0]
    assert nodes[22, 10] == -1 and nodes[11, 10] == 1 and nodes[1, 10] == 0
    assert nodes[23, 14] == -1  # -7 clipped to -5, over 5
    assert nodes[23, 13] == np.float32(300 / obs.DEFAULT_EPISODE_STEPS)
    s.owner_team[0], s.owner_player[0] = -1, -1
    assert obs.graph(s)[0, 0, :, 10].tolist() == [0.0] * 24


def test_graph_absent_rows_are_zero_on_random_states():
    s = random_state(np.random.default_rng(9), 200, 2, sent_off=True)
    nodes = obs.graph(s)
    mask = nodes[..., 15]
    np.testing.assert_array_equal(mask[..., :SLOTS], np.repeat(s.present[:, None], 2, axis=1))
    np.testing.assert_array_equal(mask[..., 22:], 1)
    assert not nodes[mask == 0].any()
    np.testing.assert_array_equal(nodes[..., 9].sum(axis=-1), 1)  # one active player per slot
    assert (nodes[..., :22, 12] <= mask[..., :22]).all()


# -------------------------------------------------------------------------------------- spaces


@pytest.mark.parametrize("representation", obs.REPRESENTATIONS)
def test_observations_lie_in_their_space(representation):
    s = random_state(np.random.default_rng(10), 60, 2, sent_off=True)
    for g in range(s.n_games):
        space = obs.observation_space(representation, *team_sizes(s, g))
        for c in range(s.n_controlled):
            if representation == "raw":
                o = obs.raw(s, g, c)
            else:
                o = FAST[representation](s.game(g))[0, c]
            assert space.contains(o), (representation, g, c)
    assert obs.observation_space(representation, 3, 1).sample() is not None


def test_observation_space_shapes():
    assert obs.observation_space("simple115v2", 11, 11).shape == (115,)
    assert obs.observation_space("extracted", 4, 2).shape == (72, 96, 4)
    assert obs.observation_space("graph", 2, 0).shape == (24, obs.GRAPH_FEATURES)
    raw = obs.observation_space("raw", 3, 2)
    assert set(raw.spaces) == set(obs.RAW_KEYS)
    assert raw["left_team"].shape == (3, 2) and raw["right_team_roles"].shape == (2,)


def test_observation_space_names_what_is_allowed():
    with pytest.raises(ValueError, match="'pixels'.*raw, simple115v2, extracted, graph"):
        obs.observation_space("pixels", 3, 1)
    with pytest.raises(ValueError, match="12"):
        obs.observation_space("raw", 12, 1)
