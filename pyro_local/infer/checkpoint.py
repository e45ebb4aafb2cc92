"""Checkpoint files: atomic writes and safe loads."""

from __future__ import annotations

import contextlib
import errno
import os
import pickle
import secrets
import signal
import threading
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import torch

#: Temporary files are named ``.<target>.<random>.tmp`` beside their target.
TEMPORARY_SUFFIX = ".tmp"


class CheckpointError(ValueError):
    """
    A file that cannot be loaded as a pyro-local checkpoint: empty, truncated,
    damaged, not written by :func:`torch.save`, or holding Python objects other than
    tensors, numbers, strings and containers (which are never unpickled, since
    unpickling them could run code). The message names the file and what is wrong.
    """


def _os_error(exc: BaseException) -> OSError | None:
    """The OSError behind ``exc``: itself, or one it was raised from (torch wraps a
    failed write, e.g. a full disk, in a RuntimeError)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


@contextlib.contextmanager
def _signals_held():
    """
    Holds SIGINT and SIGTERM back while a file is written, then delivers the first
    one that came. A signal handler that raises (Ctrl-C's KeyboardInterrupt, the
    CLI's SIGTERM) would otherwise raise inside :func:`torch.save`, whose zip writer
    then fails in its own clean-up with a RuntimeError that hides the interrupt.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread runs Python signal handlers
        return
    held = []
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(signum)
        if callable(handler):  # SIG_DFL / SIG_IGN / C handlers are left as they are
            previous[signum] = signal.signal(signum, lambda s, f: held.append(s))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if held:
            signal.raise_signal(held[0])


def _create_temporary(path: Path):
    # O_EXCL with a random name, not mkstemp: mkstemp makes mode 0600 files, and the
    # files of a run should get the permissions the user's umask gives.
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{TEMPORARY_SUFFIX}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        return tmp, os.fdopen(fd, "wb")
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(path))


def atomic_write(path, write: Callable, *, to_path: bool = False) -> Path:
    """
    Writes a file so that ``path`` always holds either the old file or the complete
    new one: ``write(f)`` fills a temporary file (binary) in the same folder, which
    is flushed to disk and replaces ``path`` in one rename. The file's mode follows
    the umask, as ``open`` would give it.

    With ``to_path=True``, ``write`` gets the temporary file's path instead of an open
    file, for writers that only write to a path (h5netcdf); the file exists, empty,
    when ``write`` is called.

    SIGINT and SIGTERM that arrive during the write take effect once it is done.

    :raises OSError: when the write fails (a full disk, a read-only folder), naming
        ``path``; the temporary file is removed and ``path`` is untouched.
    """
    with _signals_held():
        return _atomic_write(Path(path), write, to_path)


def _atomic_write(path: Path, write: Callable, to_path: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp, f = _create_temporary(path)
    except OSError as e:
        raise OSError(e.errno, f"could not write {path}: {e.strerror or e}") from e
    try:
        if to_path:
            f.close()
            write(tmp)
            f = open(tmp, "rb")  # fsync flushes the file's data, whichever fd asks
        with f:
            if not to_path:
                write(f)
                f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        cause = _os_error(e) if isinstance(e, Exception) else None
        if cause is not None:
            raise OSError(cause.errno, f"could not write {path}: {cause.strerror or cause}") from e
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass  # some filesystems cannot fsync a directory; the rename is still atomic
    return path


def atomic_save(obj, path) -> Path:
    """Saves ``obj`` with :func:`torch.save` through :func:`atomic_write`."""
    return atomic_write(path, lambda f: torch.save(obj, f))


def stale_temporaries(folder) -> list[Path]:
    """The temporary files :func:`atomic_write` left in ``folder`` when its process
    was killed (SIGKILL, power loss) before it could remove them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(f".*{TEMPORARY_SUFFIX}") if p.is_file())


def safe_load(path, map_location=None, mmap: bool = False):
    """
    :func:`torch.load` with ``weights_only=True`` (tensors, numbers, strings and
    containers, never arbitrary pickled objects), whatever ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``
    says. Every load in pyro-local goes through it.

    :raises FileNotFoundError: when ``path`` is not a file.
    :raises CheckpointError: when the file is empty, truncated, damaged, or holds
        other objects; the message says so, and never suggests loading it unsafely.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, "no checkpoint file here", str(path))
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the file is empty, not a pyro-local checkpoint")
    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols it may not read; the error says enough.
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"{path}: not a pyro-local checkpoint (it holds Python objects other than "
            "tensors, numbers and containers, or is not a torch file at all); it was not "
            "loaded, since unpickling such a file could run code"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as e:
        detail = str(e).strip().split(". ")[0].splitlines()[0] if str(e).strip() else ""
        raise CheckpointError(
            f"{path}: truncated or damaged, not a readable pyro-local checkpoint"
            + (f" ({detail})" if detail else "")
        ) from None


def load(path, map_location=None, mmap: bool = False) -> dict:
    """
    Loads a checkpoint written by :meth:`~pyro_local.infer.LocalSVI.save` through
    :func:`safe_load`. ``mmap=True`` maps the file instead of reading it, so reading
    only its small entries (``extra``) costs next to nothing.

    :raises CheckpointError: when the file is not such a checkpoint.
    """
    path = Path(path)
    if path.is_file() and path.stat().st_size and not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            zip_start = f.read(4) == b"PK\x03\x04"
        raise CheckpointError(
            f"{path}: truncated or damaged, not a readable pyro-local checkpoint" if zip_start
            else f"{path}: not a pyro-local checkpoint (not a file written by torch.save); "
            "it was not loaded")
    state = safe_load(path, map_location=map_location, mmap=mmap)
    if not isinstance(state, dict) or "format" not in state or "modules" not in state:
        raise CheckpointError(f"{path}: a torch file, but not a pyro-local checkpoint "
                              "(no engine state in it)")
    return state
