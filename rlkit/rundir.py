"""A run directory and the files in it.

    <run>/.hydra/config.yaml     the resolved config      <run>/metrics.csv    evaluations over time
    <run>/.hydra/overrides.yaml  the command-line overrides  <run>/summary.json  final figures
    <run>/.hydra/resumes.yaml    one entry per resume        <run>/.lock         the PID that owns the run
    <run>/tb/                    TensorBoard event files     <run>/checkpoints/  see rlkit.checkpoints

One process at a time owns a run directory (:meth:`RunDirectory.lock`); every file is written whole
(a temporary file in the same directory, then renamed over the old one), so a crash or a full disk
never leaves half a file.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from rlkit.checkpoints import CheckpointStore, replace_file
from rlkit.errors import UserError

LOCK_FILE = ".lock"

METRICS_COLUMNS = (
    "timesteps",
    "wall_time_s",
    "mean_return",
    "std_return",
    "mean_length",
    "std_length",
    "episodes",
    "best_mean_return",
    "violations_per_episode",
    "train_violations",
)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)


def write_atomically(path: Path, text: str) -> None:
    """``text`` as the whole of ``path``: written to a temporary file beside it, then renamed over
    it, so a reader (or a resume after a crash) sees the old file or the new one, never half of
    one. A file that cannot be written (a full disk, a read-only place) is a UserError naming it."""
    path = Path(path)
    try:
        replace_file(path, text)
    except OSError as error:
        raise UserError(f"cannot write {path}: {error.strerror or error}") from None


def _process_is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    except (OverflowError, ValueError):
        return False
    return True


class RunDirectory:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._locked = False

    hydra_dir = property(lambda self: self.path / ".hydra")
    tb_dir = property(lambda self: self.path / "tb")
    metrics_file = property(lambda self: self.path / "metrics.csv")
    summary_file = property(lambda self: self.path / "summary.json")
    lock_file = property(lambda self: self.path / LOCK_FILE)
    checkpoints = property(lambda self: CheckpointStore(self.path / "checkpoints"))

    @classmethod
    def refuse_existing(cls, cfg: DictConfig) -> None:
        """A fresh run never writes into an existing run: ``run_dir=`` must be new or empty."""
        if cfg.run_dir:
            cls(cfg.run_dir)._refuse_if_used()

    def _refuse_if_used(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise UserError(f"run_dir={self.path} is a file, not a directory; name a new directory")
        if self.path.is_dir() and any(not entry.name.startswith(LOCK_FILE) for entry in self.path.iterdir()):
            raise UserError(f"run_dir={self.path} already holds a run; continue it with "
                            f"resume={self.path}, or name a new or empty run_dir")

    @classmethod
    def create(cls, cfg: DictConfig, now: datetime | None = None, announce: Any = print) -> RunDirectory:
        """``cfg.run_dir`` if set (new or empty), else ``<runs_root>/<date>/<time>_<env>_<agent>``
        (with a numeric suffix when two runs start in the same second); returned locked."""
        try:
            if cfg.run_dir:
                run = cls(cfg.run_dir)
                run._refuse_if_used()
                run.path.mkdir(parents=True, exist_ok=True)
            else:
                now = now or datetime.now()
                root = Path(cfg.runs_root)
                if root.exists() and not root.is_dir():
                    raise UserError(f"runs_root={root} is a file, not a directory")
                base = root / now.strftime("%Y-%m-%d") / _safe(
                    f"{now.strftime('%H-%M-%S')}_{cfg.env.name}_{cfg.agent.name}"
                )
                base.parent.mkdir(parents=True, exist_ok=True)
                path, suffix = base, 1
                while True:
                    try:
                        path.mkdir()  # exclusive: two runs starting together get two directories
                        break
                    except FileExistsError:
                        suffix += 1
                        path = base.with_name(f"{base.name}_{suffix}")
                run = cls(path)
        except (FileExistsError, NotADirectoryError) as error:
            raise UserError(f"cannot create the run directory: {error.filename} is a file, "
                            f"not a directory") from None
        except OSError as error:
            raise UserError(f"cannot create the run directory {error.filename or cfg.run_dir or cfg.runs_root}: "
                            f"{error.strerror or error}") from None
        run.lock(announce)
        try:
            run._refuse_if_used()  # another run may have finished in it since the first look
        except UserError:
            run.unlock()
            raise
        return run

    # -- ownership ----------------------------------------------------------------------------
    def lock(self, announce: Any = print) -> None:
        """Own this run directory: ``.lock`` holding this process's PID, created only if absent.
        A lock held by a live process is a UserError naming its PID; one left by a process that
        is gone is taken over, and that is announced."""
        if not self.path.is_dir():
            raise UserError(f"{self.path} is not a directory")
        for _ in range(5):
            if self._create_lock():
                self._locked = True
                return
            try:
                text = self.lock_file.read_text().strip()
            except FileNotFoundError:
                continue  # released in between: try again
            except OSError as error:
                raise UserError(f"cannot read the lock {self.lock_file}: {error.strerror or error}") from None
            if not text.isdigit() or len(text) > 10:
                raise UserError(f"{self.path} is locked by {self.lock_file}, which holds no process id "
                                f"({text[:40]!r}); remove it if no rlkit process uses this run")
            pid = int(text)
            if pid == os.getpid() or _process_is_alive(pid):
                raise UserError(f"{self.path} is in use by process {pid} (lock {self.lock_file}); "
                                f"wait for it to finish, or stop it")
            if self._remove_stale_lock(text):
                announce(f"took over the lock of {self.path} from process {pid}, which is no longer running")
        raise UserError(f"cannot lock {self.path}: its lock file {self.lock_file} keeps changing")

    def _create_lock(self) -> bool:
        """Whether this process created the lock. The PID is written to a private file first and
        linked into place (exclusive, like O_EXCL), so no one ever reads a lock without its PID."""
        try:
            handle, temporary = tempfile.mkstemp(dir=self.path, prefix=f"{LOCK_FILE}.", suffix=".tmp")
        except OSError as error:
            raise UserError(f"cannot write in {self.path}: {error.strerror or error}") from None
        try:
            with os.fdopen(handle, "w") as stream:
                stream.write(f"{os.getpid()}\n")
            try:
                os.link(temporary, self.lock_file)
            except FileExistsError:
                return False
            except OSError:  # a file system without hard links: O_EXCL
                try:
                    descriptor = os.open(self.lock_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                except FileExistsError:
                    return False
                with os.fdopen(descriptor, "w") as stream:
                    stream.write(f"{os.getpid()}\n")
            return True
        finally:
            os.unlink(temporary)

    def _remove_stale_lock(self, stale: str) -> bool:
        """Remove the lock if it still holds ``stale``: it is renamed aside first, so when two
        processes take over the same stale lock, only one removes it and the other's new lock is
        put back."""
        aside = self.path / f"{LOCK_FILE}.stale-{os.getpid()}"
        try:
            os.replace(self.lock_file, aside)
        except FileNotFoundError:
            return False
        if aside.read_text().strip() != stale:  # another process's fresh lock: restore it
            try:
                os.link(aside, self.lock_file)
            except FileExistsError:
                pass
            aside.unlink()
            return False
        aside.unlink()
        return True

    def unlock(self) -> None:
        """Give up the run directory (only a lock this process holds)."""
        if not self._locked:
            return
        self._locked = False
        try:
            if self.lock_file.read_text().strip() == str(os.getpid()):
                self.lock_file.unlink()
        except OSError:
            pass

    # -- files --------------------------------------------------------------------------------
    def write_config(self, cfg: DictConfig, overrides: list[str]) -> None:
        try:
            self.hydra_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UserError(f"cannot create {self.hydra_dir}: {error.strerror or error}") from None
        write_atomically(self.hydra_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
        write_atomically(self.hydra_dir / "overrides.yaml", yaml.safe_dump(list(overrides)))

    def record_resume(self, overrides: list[str], num_timesteps: int, metrics_rows_dropped: int = 0) -> None:
        """A resumed run keeps its original overrides and lists each resume in resumes.yaml, with
        what its metrics lost and what TensorBoard may still hold past the checkpoint."""
        path = self.hydra_dir / "resumes.yaml"
        try:
            resumes = (yaml.safe_load(path.read_text()) if path.is_file() else None) or []
        except yaml.YAMLError:
            resumes = []
        if not isinstance(resumes, list):
            resumes = []
        resumes.append(
            {"time": datetime.now().isoformat(timespec="seconds"), "from_timestep": num_timesteps,
             "overrides": list(overrides),
             "metrics_rows_dropped": metrics_rows_dropped,
             "tensorboard": f"the event files in tb/ may hold events past step {num_timesteps} from "
                            f"before this resume; metrics.csv holds none"}
        )
        write_atomically(path, yaml.safe_dump(resumes, sort_keys=False))

    def _metrics_table(self) -> tuple[list[str] | None, list[dict[str, str]]]:
        if not self.metrics_file.is_file():
            return None, []
        with self.metrics_file.open(newline="") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            return (list(reader.fieldnames) if reader.fieldnames else None), rows

    def _write_metrics_table(self, columns: list[str], rows: list[dict[str, Any]]) -> None:
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in columns})
        write_atomically(self.metrics_file, buffer.getvalue())

    def append_metrics(self, row: dict[str, Any]) -> None:
        """One row; the first row fixes the columns: the standard ones, then the env's own
        episode metrics (sorted), so every row of a run has the same columns. The file is
        rewritten whole (a few rows per run), so it is never left with half a row."""
        columns, rows = self._metrics_table()
        if columns is None:
            columns = [*METRICS_COLUMNS, *sorted(k for k in row if k not in METRICS_COLUMNS)]
        self._write_metrics_table(columns, [*rows, row])

    def truncate_metrics(self, num_timesteps: int) -> int:
        """Drop the rows past ``num_timesteps`` (a run killed after its last checkpoint evaluated
        further; the resumed run evaluates those steps again) and rows left unreadable; returns
        how many were dropped."""
        columns, rows = self._metrics_table()
        if columns is None:
            return 0

        def kept(row: dict[str, str]) -> bool:
            try:
                return float(row.get("timesteps") or "nan") <= num_timesteps
            except ValueError:
                return False

        keep = [row for row in rows if kept(row)]
        if len(keep) != len(rows):
            self._write_metrics_table(columns, keep)
        return len(rows) - len(keep)

    def read_metrics(self) -> list[dict[str, float]]:
        if not self.metrics_file.is_file():
            return []
        with self.metrics_file.open() as handle:
            return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(handle)]

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_atomically(self.summary_file, json.dumps(summary, indent=2, default=str))
