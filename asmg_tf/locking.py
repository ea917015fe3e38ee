"""One writer per folder: an exclusive ``fcntl.flock`` on ``<folder>/.asmg.lock``, the holder recorded beside it.

The kernel drops a ``flock`` when its process dies (``kill -9`` included), so a lock left by a dead process is
free at once: the next writer takes it over, says whose it was, and sweeps the temporaries the dead writer left
(``sweep_temporaries``: safe only because no other writer can be inside the folder while we hold the lock). The
holder (pid, host, command, start time) is written atomically to ``<folder>/.asmg.lock.json`` after the lock is
taken; it is information for the message, never the lock itself (a reused pid cannot fake a holder).

A second process either waits, saying once whom it waits for, or with ``wait=False`` (``--no-wait`` on the command
line) raises ``LockBusy`` at once; the commands turn that into exit code ``EXIT_LOCKED`` (3). The lock file is never
deleted: unlinking a lock file others may have open would let two processes lock two different inodes.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable, Iterator

from asmg_tf.files import write_json

LOCK_FILE = ".asmg.lock"
HOLDER_FILE = LOCK_FILE + ".json"
#: exit code of a command that found its folder locked under ``--no-wait``
EXIT_LOCKED = 3
_POLL_SECONDS = 0.2
#: the process-wide policy the commands set from ``--no-wait`` (library calls wait by default)
_policy = {"wait": True}
#: folders this process holds now, with their nesting depth (a nested ``exclusive`` on the same folder is a no-op:
#: a second flock from the same process on a new descriptor would wait for itself)
_held: dict[str, int] = {}


class LockBusy(RuntimeError):
    """Another live process holds the lock; the message names it."""

    def __init__(self, folder: str, holder: dict | None):
        self.folder, self.holder = folder, holder or {}
        super().__init__(f"{folder} is locked by {describe(self.holder)}; wait for it or stop it, then run again")


def set_wait(wait: bool) -> None:
    """Whether locks taken in this process wait for their holder (True) or raise ``LockBusy`` (False)."""
    _policy["wait"] = bool(wait)


def describe(holder: dict) -> str:
    if not holder:
        return "another process (its holder record is not written yet)"
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("started", 0)))
    return f"pid {holder.get('pid')} on {holder.get('host')} since {started} ({holder.get('command', '?')})"


def read_holder(folder: str) -> dict | None:
    """The recorded holder of ``folder``'s lock (maybe a dead one), or None."""
    try:
        with open(os.path.join(folder, HOLDER_FILE)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def _is_dead_here(holder: dict | None) -> bool:
    return bool(holder) and holder.get("host") == socket.gethostname() and not pid_alive(int(holder.get("pid", -1)))


def sweep_temporaries(folder: str) -> list[str]:
    """Remove what writers killed mid-write leave in ``folder`` (recursively): ``.tmp-*`` staging folders and
    files (``write_checkpoint``, ``export_model``, spans), ``.<name>-*.tmp`` (``write_text``) and ``tmp*.npz``
    (``save_npz``). Sub-folders with their own lock file are left alone. Call only while holding ``folder``'s lock.
    Returns the removed paths."""
    removed = []
    for parent, dirs, files in os.walk(folder):
        # a sub-folder with its own lock file is another writer's domain (a cache entry, a model base path)
        dirs[:] = [d for d in dirs if not os.path.exists(os.path.join(parent, d, LOCK_FILE))]
        for name in list(dirs):
            if name.startswith(".tmp-"):
                shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
                removed.append(os.path.join(parent, name))
                dirs.remove(name)
        for name in files:
            stale = name.startswith(".tmp-") or (name.startswith(".") and name.endswith(".tmp"))
            stale = stale or (name.startswith("tmp") and name.endswith(".npz"))
            if stale:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(parent, name))
                removed.append(os.path.join(parent, name))
    return removed


@contextlib.contextmanager
def exclusive(
    folder: str,
    *,
    wait: bool | None = None,
    sweep: bool = False,
    log: Callable[[str], None] | None = None,
    timeout: float | None = None,
) -> Iterator[dict]:
    """Hold ``folder``'s exclusive lock for the ``with`` block (creates the folder); yields the holder record.

    ``wait`` None follows ``set_wait``. ``sweep`` removes dead writers' temporaries once the lock is held.
    ``timeout`` (seconds) bounds the wait, then ``LockBusy``. Raises ``LockBusy`` when another live process holds it.
    """
    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    wait = _policy["wait"] if wait is None else wait
    folder = os.path.abspath(folder)
    if folder in _held:
        _held[folder] += 1
        try:
            yield read_holder(folder) or {}
        finally:
            _held[folder] -= 1
        return
    os.makedirs(folder, exist_ok=True)
    fd = os.open(os.path.join(folder, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(fd, folder, wait=wait, log=log, timeout=timeout)
        previous = read_holder(folder)
        if previous and previous.get("pid") != os.getpid() and _is_dead_here(previous):
            log(f"taking over the lock on {folder} left by {describe(previous)}, which is no longer running")
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": " ".join(sys.argv) or "python",
            "started": time.time(),
        }
        try:
            write_json(os.path.join(folder, HOLDER_FILE), holder)
        except OSError:  # a full disk must not stop the lock: the record only feeds messages
            pass
        _held[folder] = 1
        if sweep:
            removed = sweep_temporaries(folder)
            if removed:
                log(f"removed {len(removed)} temporary file(s) left by an interrupted writer under {folder}")
        yield holder
    finally:
        if _held.pop(folder, None):  # a release (even by an exception) forgets the holder; only a kill leaves it
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(folder, HOLDER_FILE))
        os.close(fd)  # releases the flock


def run_command(func: Callable, args, prog: str = "asmg") -> int:
    """Run a command handler under the ``--no-wait`` policy of ``args``; a busy lock is one line and exit code 3."""
    set_wait(not getattr(args, "no_wait", False))
    try:
        return func(args)
    except LockBusy as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return EXIT_LOCKED


def _acquire(fd: int, folder: str, *, wait: bool, log: Callable[[str], None], timeout: float | None) -> None:
    start, told = time.monotonic(), False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise
        holder = read_holder(folder)
        if not wait or (timeout is not None and time.monotonic() - start >= timeout):
            raise LockBusy(folder, holder)
        if not told:
            orphan = (
                " (that pid is gone: a child process it started still holds the lock)" if _is_dead_here(holder) else ""
            )
            log(f"waiting for {folder}: locked by {describe(holder or {})}{orphan}; --no-wait fails at once instead")
            told = True
        time.sleep(_POLL_SECONDS)
