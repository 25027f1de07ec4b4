"""OS file locks that the OS releases when the holder dies: ``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows.

Used by the SQLite store's run lock (``app.store.lock``) and by the BILL request ledger that the window, ``serve``
and ``sync`` share (``app.clients.bill_budget``). ``flock`` locks belong to the open file, so two handles in one
process exclude each other as two processes do.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

POLL_SECONDS = 0.01


def try_lock(handle) -> bool:
    """Take the lock on an open file without waiting: False if someone holds it."""
    if os.name == "nt":  # pragma: no cover - Windows
        import msvcrt

        try:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def unlock(handle) -> None:
    if os.name == "nt":  # pragma: no cover - Windows
        import msvcrt

        with contextlib.suppress(OSError):
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class LockTimeout(OSError):
    """Someone held the lock for longer than the caller would wait."""


@contextlib.contextmanager
def locked(path: Path, wait: float) -> Iterator[None]:
    """Hold the lock on ``path`` (created, private) for a short read-modify-write; ``LockTimeout`` after ``wait``
    seconds."""
    deadline = time.monotonic() + wait
    old = os.umask(0o077)
    try:
        handle = open(path, "a+b")  # noqa: SIM115 - closed below, after the unlock
    finally:
        os.umask(old)
    try:
        while not try_lock(handle):
            if time.monotonic() >= deadline:
                raise LockTimeout(f"{path} stayed locked for {wait:g} s")
            time.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            unlock(handle)
    finally:
        handle.close()
