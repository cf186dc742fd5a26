"""Checkpoints are atomic: a crash while saving leaves the previous latest intact and loadable."""

import json

import pytest

from rlkit.checkpoints import CheckpointStore
from rlkit.errors import UserError


class FakeAgent:
    """Writes ``payload`` as its file; with ``crash`` it writes half of it, then fails."""

    replay_buffer = None

    def __init__(self, payload: bytes, crash: bool = False) -> None:
        self.payload, self.crash = payload, crash

    def save(self, path) -> None:
        with open(path, "wb") as handle:
            handle.write(self.payload[: len(self.payload) // 2])
            if self.crash:
                raise OSError("disk full")
            handle.write(self.payload[len(self.payload) // 2 :])


def test_a_crash_while_saving_keeps_the_previous_latest(tmp_path):
    store = CheckpointStore(tmp_path / "checkpoints")
    store.save(FakeAgent(b"good agent"), {"num_timesteps": 100})
    with pytest.raises(UserError, match="disk full; the previous checkpoint stays latest"):
        store.save(FakeAgent(b"newer agent", crash=True), {"num_timesteps": 200})
    assert not (store.directory / "step-000000000200.partial").exists()
    latest = store.load("latest")
    assert latest.state["num_timesteps"] == 100
    assert latest.agent_file.read_bytes() == b"good agent"

    store.save(FakeAgent(b"third agent"), {"num_timesteps": 300})  # clears the partial one
    assert sorted(p.name for p in store.directory.iterdir()) == ["latest", "step-000000000300"]


def test_best_keeps_its_directory_while_latest_moves_on(tmp_path):
    store = CheckpointStore(tmp_path / "checkpoints")
    store.save(FakeAgent(b"a"), {"num_timesteps": 1, "score": 9}, links=("latest", "best"))
    store.save(FakeAgent(b"b"), {"num_timesteps": 2})
    store.save(FakeAgent(b"c"), {"num_timesteps": 3})
    assert store.load("best").agent_file.read_bytes() == b"a"
    assert store.load("latest").agent_file.read_bytes() == b"c"
    assert len([p for p in store.directory.iterdir() if p.name.startswith("step-")]) == 2


def test_saving_the_same_step_again_refreshes_its_state(tmp_path):
    store = CheckpointStore(tmp_path / "checkpoints")
    store.save(FakeAgent(b"a"), {"num_timesteps": 5, "evaluations": 1})
    store.save(FakeAgent(b"a"), {"num_timesteps": 5, "evaluations": 2}, links=("latest", "best"))
    assert store.load("best").path == store.load("latest").path
    assert store.load("latest").state["evaluations"] == 2


def test_missing_incomplete_and_unknown_checkpoints_are_clear_errors(tmp_path):
    store = CheckpointStore(tmp_path / "run" / "checkpoints")
    with pytest.raises(UserError, match="has no latest checkpoint"):
        store.load("latest")
    with pytest.raises(UserError, match="checkpoint='newest' is not allowed; allowed: latest, best"):
        store.load("newest")
    store.save(FakeAgent(b"a"), {"num_timesteps": 1})
    (store.directory / "latest" / "agent.zip").unlink()
    with pytest.raises(UserError, match="is incomplete"):
        store.load("latest")
    (store.directory / "latest" / "agent.zip").write_bytes(b"a")
    (store.directory / "latest" / "state.json").write_text("{not json")
    with pytest.raises(UserError, match="is not valid JSON"):
        store.load("latest")


def test_state_round_trips(tmp_path):
    store = CheckpointStore(tmp_path / "checkpoints")
    state = {"num_timesteps": 7, "best_mean_return": 12.5, "best_timesteps": 7, "evaluations": 3}
    store.save(FakeAgent(b"x"), state)
    assert store.load().state == state
    assert json.loads((store.directory / "latest" / "state.json").read_text()) == state


class FakeOffPolicyAgent(FakeAgent):
    """A FakeAgent with a replay buffer, written to the path it is given."""

    replay_buffer = object()

    def save_replay_buffer(self, path) -> None:
        with open(path, "wb") as handle:
            handle.write(b"buffer")


def test_the_replay_buffer_is_an_npz_and_an_older_pickle_is_still_found(tmp_path):
    store = CheckpointStore(tmp_path / "checkpoints")
    store.save(FakeOffPolicyAgent(b"a"), {"num_timesteps": 1})
    latest = store.load("latest")
    assert latest.replay_buffer_file == latest.path / "replay_buffer.npz"
    assert latest.replay_buffer_file.read_bytes() == b"buffer"
    # an older rlkit's pickle is returned, so that loading it is refused rather than the buffer skipped
    latest.replay_buffer_file.rename(latest.path / "replay_buffer.pkl")
    assert latest.replay_buffer_file == latest.path / "replay_buffer.pkl"
    store.save(FakeAgent(b"b"), {"num_timesteps": 2})
    assert store.load("latest").replay_buffer_file is None


@pytest.mark.parametrize("state", ["[1]", "{}", '{"num_timesteps": "many"}', '{"num_timesteps": -3}', "null"])
def test_a_state_without_num_timesteps_is_refused_in_one_line(tmp_path, state):
    store = CheckpointStore(tmp_path / "checkpoints")
    store.save(FakeAgent(b"a"), {"num_timesteps": 1})
    (store.directory / "latest" / "state.json").write_text(state)
    with pytest.raises(UserError, match="must be a JSON object with num_timesteps"):
        store.load("latest")


def test_a_full_disk_while_writing_the_state_keeps_the_previous_latest(tmp_path, monkeypatch):
    import errno
    import os

    store = CheckpointStore(tmp_path / "checkpoints")
    store.save(FakeAgent(b"good agent"), {"num_timesteps": 100})
    real_replace = os.replace

    def full_disk(source, target):
        if str(target).endswith("state.json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(UserError, match="No space left on device; the previous checkpoint stays latest"):
        store.save(FakeAgent(b"newer agent"), {"num_timesteps": 200})
    monkeypatch.undo()
    assert store.load("latest").agent_file.read_bytes() == b"good agent"
    assert sorted(p.name for p in store.directory.iterdir()) == ["latest", "step-000000000100"]
