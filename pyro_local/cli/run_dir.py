"""A run's folder: what it holds, its lock, and writing into it safely.

A run folder holds ``config.json`` (the :class:`~pyro_local.cli.config.RunConfig`),
``checkpoint.pt`` (the engine's state, with the configuration inside it),
``provenance.json`` (its training sessions), ``metrics.json``, ``report.html`` and
``inference_data.nc`` (the report's data), and ``.lock``. Every command that writes into
the folder holds an exclusive lock on ``.lock`` (``fcntl.flock``) while it runs, so a
second writer is refused at once rather than mixing its files with the first's. The
lock is released when the process ends, however it ends (the file stays; it is not
the lock). Files are replaced atomically and get the modes the umask gives.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path

from ..infer import checkpoint as ckpt
from .config import RunConfig
from .errors import UsageError

# Locks this process holds, by folder: the commands nest (demo trains, then reports).
_HELD: dict[Path, int] = {}


class RunDir:
    """
    A run's folder (see the module docstring).

    :param path: the folder; created by :meth:`lock` for a new run.
    """

    def __init__(self, path):
        self.path = Path(path)

    def __repr__(self):
        return f"RunDir({str(self.path)!r})"

    @property
    def config(self) -> Path:
        return self.path / "config.json"

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoint.pt"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.json"

    @property
    def report(self) -> Path:
        return self.path / "report.html"

    @property
    def lock_file(self) -> Path:
        return self.path / ".lock"

    def _prepare(self, create: bool) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise UsageError(f"{self.path}: exists and is not a folder; choose another folder")
        if not create:
            if not self.path.is_dir():
                raise UsageError(f"{self.path}: no such run folder")
            return
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(f"{self.path}: cannot create the run folder "
                             f"({e.strerror or e})") from None

    @contextlib.contextmanager
    def lock(self, command: str, create: bool = True):
        """
        Holds the folder's exclusive lock for the block (re-entrant within a process).

        :param str command: what this process does there (shown to a second writer).
        :param bool create: create the folder if needed (``train``), or require it.
        :raises UsageError: when another process holds the lock, or the folder
            cannot be created or written.
        """
        self._prepare(create)
        key = self.path.resolve()
        if key in _HELD:
            _HELD[key] += 1
            try:
                yield self
            finally:
                _HELD[key] -= 1
            return
        try:
            fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise UsageError(f"{self.path}: cannot write in this folder "
                             f"({e.strerror or e})") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                holder = os.read(fd, 200).decode(errors="replace").strip() or "starting"
                raise UsageError(f"{self.path} is in use by another pyro-local process "
                                 f"({holder}); wait for it to end, or choose another "
                                 "folder") from None
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()}: {command}\n".encode())
            _HELD[key] = 1
            try:
                yield self
            finally:
                del _HELD[key]
        finally:
            os.close(fd)  # releases the lock

    def remove_temporaries(self) -> list[Path]:
        """
        Removes the temporary files a killed writer left (a checkpoint being written
        when SIGKILL came); call it holding the lock, so no live writer's file goes.

        :returns: the files removed.
        """
        stale = ckpt.stale_temporaries(self.path)
        for p in stale:
            p.unlink(missing_ok=True)
        return stale

    def read_config(self):
        """The run's :class:`~pyro_local.cli.config.RunConfig`."""
        if not self.config.is_file():
            raise UsageError(f"{self.path}: no config.json here; is it a run folder "
                             "written by `pyro-local train`?")
        return RunConfig.from_json(self.config.read_text(), str(self.config))

    def require_checkpoint(self) -> Path:
        if not self.checkpoint.is_file():
            raise UsageError(f"{self.path}: no checkpoint.pt here; train first "
                             f"(`pyro-local train --out {self.path}`)")
        return self.checkpoint

    def write_text(self, path: Path, text: str) -> Path:
        """Writes ``text`` (UTF-8) to ``path`` in the folder atomically."""
        self.path.mkdir(parents=True, exist_ok=True)
        return ckpt.atomic_write(path, lambda f: f.write(text.encode()))
