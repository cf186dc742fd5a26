"""Checkpoints written atomically: a crash while saving never leaves a corrupt ``latest``.

Layout under ``<run>/checkpoints/``::

    step-000012000/      one complete checkpoint: agent.zip, replay_buffer.npz (off-policy),
                         state.json (written last: the marker that the directory is complete)
    latest -> step-...   symbolic links, switched with an atomic rename
    best   -> step-...

A checkpoint is first written as ``step-N.partial`` and renamed when complete; only then is a link
switched to it, and only then are directories no link points to removed.

Nothing in a checkpoint is a pickle: the agent is rlkit's checkpoint format (``agents.checkpoint``:
meta.json and tensors.safetensors in a zip), the replay buffer an ``.npz`` read without pickle, the
state JSON. A checkpoint of an older rlkit (a pickled agent.zip or replay_buffer.pkl) is refused when
it is loaded (:class:`agents.checkpoint.OlderCheckpointError`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlkit.errors import UserError

AGENT_FILE = "agent.zip"
REPLAY_BUFFER_FILE = "replay_buffer.npz"
OLDER_REPLAY_BUFFER_FILE = "replay_buffer.pkl"  # a pickle written by rlkit before issue 19: refused
STATE_FILE = "state.json"
LINKS = ("latest", "best")


@dataclass
class Checkpoint:
    path: Path
    state: dict[str, Any]

    @property
    def agent_file(self) -> Path:
        return self.path / AGENT_FILE

    @property
    def replay_buffer_file(self) -> Path | None:
        """The saved replay buffer; an older rlkit's pickle is returned too, so that loading it
        is refused with the older-rlkit message rather than the buffer silently dropped."""
        for name in (REPLAY_BUFFER_FILE, OLDER_REPLAY_BUFFER_FILE):
            if (self.path / name).is_file():
                return self.path / name
        return None


class CheckpointStore:
    """The checkpoints of one run."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def save(
        self,
        agent: Any,
        state: dict[str, Any],
        links: tuple[str, ...] = ("latest",),
        replay_buffer: bool = True,
    ) -> Checkpoint:
        """Write the agent (and its replay buffer) and point ``links`` at it."""
        name = f"step-{int(state['num_timesteps']):012d}"
        final = self.directory / name
        partial = self.directory / f"{name}.partial"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            if not (final / STATE_FILE).is_file():
                shutil.rmtree(partial, ignore_errors=True)
                partial.mkdir()
                agent.save(partial / AGENT_FILE)
                if replay_buffer and getattr(agent, "replay_buffer", None) is not None:
                    agent.save_replay_buffer(partial / REPLAY_BUFFER_FILE)
                replace_file(partial / STATE_FILE, json.dumps(state, indent=2))
                shutil.rmtree(final, ignore_errors=True)
                os.replace(partial, final)
            else:  # the same step saved again (e.g. latest, then best): refresh the state only
                replace_file(final / STATE_FILE, json.dumps(state, indent=2))
        except OSError as error:  # a full disk, a read-only place: the links still point at the last one
            shutil.rmtree(partial, ignore_errors=True)
            kept = self.directory / "latest"
            raise UserError(
                f"cannot write checkpoint {final}: {error.strerror or error}; "
                + (f"the previous checkpoint stays latest ({kept.resolve().name})" if kept.exists()
                   else "no checkpoint was written")
            ) from None
        try:
            for link in links:
                self._point(link, name)
        except OSError as error:
            raise UserError(f"cannot point {self.directory}/{link} at {name}: {error.strerror or error}") from None
        self._remove_unreferenced()
        return Checkpoint(final, state)

    def load(self, link: str = "latest") -> Checkpoint:
        """The checkpoint ``link`` points to, or a UserError saying what is missing."""
        if link not in LINKS:
            raise UserError(f"checkpoint={link!r} is not allowed; allowed: {', '.join(LINKS)}")
        path = self.directory / link
        if not path.exists():
            raise UserError(f"{self.directory.parent} has no {link} checkpoint ({path} is missing)")
        state_file = path / STATE_FILE
        if not state_file.is_file() or not (path / AGENT_FILE).is_file():
            raise UserError(f"checkpoint {path} is incomplete (needs {AGENT_FILE} and {STATE_FILE})")
        try:
            state = json.loads(state_file.read_text())
        except json.JSONDecodeError as error:
            raise UserError(f"checkpoint state {state_file} is not valid JSON: {error}") from None
        except (OSError, UnicodeDecodeError) as error:
            raise UserError(f"cannot read checkpoint state {state_file}: {error}") from None
        steps = state.get("num_timesteps") if isinstance(state, dict) else None
        if not isinstance(state, dict) or isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise UserError(f"checkpoint state {state_file} is not a checkpoint's state: it must be a JSON "
                            f"object with num_timesteps, a whole number >= 0")
        return Checkpoint(path.resolve(), state)

    def _point(self, link: str, target_name: str) -> None:
        temporary = self.directory / f".{link}.tmp"
        if temporary.is_symlink() or temporary.exists():
            temporary.unlink()
        temporary.symlink_to(target_name)
        os.replace(temporary, self.directory / link)  # atomic on POSIX

    def _remove_unreferenced(self) -> None:
        referenced = {
            os.readlink(self.directory / link)
            for link in LINKS
            if (self.directory / link).is_symlink()
        }
        for entry in self.directory.iterdir():
            if entry.name.startswith("step-") and entry.name not in referenced:
                shutil.rmtree(entry, ignore_errors=True)


def _new_file_mode() -> int:
    """The permissions ``open()`` gives a new file under this process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def replace_file(path: Path, text: str) -> None:
    """``text`` as the whole of ``path``: written to a temporary file beside it, synced, then renamed
    over it, so a reader (or a resume after a crash) sees the old file or the new one, never half of
    one. An OSError (a full disk, a read-only place) leaves ``path`` as it was and is raised."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(temporary, _new_file_mode())  # mkstemp's 0600 would hide a shared run from its readers
        with os.fdopen(handle, "w", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except OSError:
        Path(temporary).unlink(missing_ok=True)
        raise
