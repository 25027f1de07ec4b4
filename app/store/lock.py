"""One writer per company at a time: the run lock.

Every sync run (``sync``, ``serve``'s schedule and webhook runs, the window's Sync now) takes the store's run
lock for its whole length. Two processes on one home, or two machines sharing a store, never write at once:
the second waits a few seconds and then reports who holds the lock ("a sync is already running (started
10:02 by serve, pid 4711)") instead of running.

``RunLock`` is the interface; ``FileRunLock`` is an OS file lock beside the SQLite file (``fcntl.flock`` on
POSIX, ``msvcrt.locking`` on Windows), released by the OS when the holder dies, so a killed run never leaves
a stale lock. A shared store on PostgreSQL would implement the same interface with an advisory lock
(``pg_try_advisory_lock``) on one connection held for the run; ``ProcessRunLock`` serves in-memory stores.

Who holds the lock (process role, pid, trigger, start time) is written to ``<database>.lock.json`` beside
it, for the message; it is only informative: the lock itself is the OS lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

DEFAULT_WAIT_SECONDS = 5.0
POLL_SECONDS = 0.1


def default_wait() -> float:
    """How long a second run waits for the first (``NAVBILL_LOCK_WAIT`` seconds, default 5)."""
    try:
        return max(0.0, float(os.environ.get("NAVBILL_LOCK_WAIT", DEFAULT_WAIT_SECONDS)))
    except ValueError:
        return DEFAULT_WAIT_SECONDS


def process_role() -> str:
    """What this process is, in the words of the command that started it: serve, sync, check or the window."""
    role = os.environ.get("NAVBILL_PROCESS_ROLE")
    if role:
        return role
    for word in sys.argv[1:]:
        if word in ("serve", "sync", "check", "store", "settings"):
            return word
    return "the window"


@dataclass(frozen=True)
class LockHolder:
    role: str
    pid: int
    trigger: str
    started: str  # ISO local time

    def describe(self) -> str:
        try:
            at = datetime.fromisoformat(self.started).strftime("%H:%M")
        except ValueError:
            at = "?"
        by = self.role + (f" ({self.trigger})" if self.trigger and self.trigger not in self.role else "")
        return f"started {at} by {by}, pid {self.pid}"


class RunBusyError(Exception):
    """Another run holds the lock. ``str()`` is the sentence the clerk sees."""

    def __init__(self, holder: LockHolder | None, where: str = "") -> None:
        who = f" ({holder.describe()})" if holder else ""
        super().__init__(f"A sync is already running{who}; this one did not start. It will be picked up by "
                         "the next run; nothing needs to be done.")
        self.holder = holder
        self.where = where


class RunLock:
    """The interface: ``hold(trigger, wait)`` is a context manager for one run, or raises ``RunBusyError``."""

    def hold(self, trigger: str = "", wait: float | None = None) -> contextlib.AbstractContextManager[None]:
        raise NotImplementedError

    def holder(self) -> LockHolder | None:
        return None


class ProcessRunLock(RunLock):
    """Within one process only (an in-memory store, tests): a plain thread lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holder: LockHolder | None = None

    def holder(self) -> LockHolder | None:
        return self._holder

    @contextlib.contextmanager
    def hold(self, trigger: str = "", wait: float | None = None) -> Iterator[None]:
        wait = default_wait() if wait is None else wait
        if not self._lock.acquire(timeout=wait):
            raise RunBusyError(self._holder)
        self._holder = LockHolder(process_role(), os.getpid(), trigger, datetime.now().astimezone().isoformat())
        try:
            yield
        finally:
            self._holder = None
            self._lock.release()


def _try_lock(handle) -> bool:
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


def _unlock(handle) -> None:
    if os.name == "nt":  # pragma: no cover - Windows
        import msvcrt

        with contextlib.suppress(OSError):
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class FileRunLock(RunLock):
    """An OS lock on ``<database>.lock``. ``flock`` locks belong to the open file, so two engines in one
    process exclude each other as two processes do."""

    def __init__(self, database_file: Path) -> None:
        self.path = database_file.with_name(database_file.name + ".lock")
        self.info_path = database_file.with_name(database_file.name + ".lock.json")
        self._threads = threading.Lock()  # one waiter per process at a time polls the file

    def holder(self) -> LockHolder | None:
        try:
            data = json.loads(self.info_path.read_text(encoding="utf-8"))
            return LockHolder(str(data["role"]), int(data["pid"]), str(data.get("trigger", "")),
                              str(data["started"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _open(self):
        old = os.umask(0o077)
        try:
            return open(self.path, "a+b")  # noqa: SIM115 - kept open for the length of the run
        finally:
            os.umask(old)

    @contextlib.contextmanager
    def hold(self, trigger: str = "", wait: float | None = None) -> Iterator[None]:
        wait = default_wait() if wait is None else wait
        deadline = time.monotonic() + wait
        if not self._threads.acquire(timeout=wait):
            raise RunBusyError(self.holder(), str(self.path))
        try:
            handle = self._open()
            try:
                while not _try_lock(handle):
                    if time.monotonic() >= deadline:
                        raise RunBusyError(self.holder(), str(self.path))
                    time.sleep(POLL_SECONDS)
                holder = LockHolder(process_role(), os.getpid(), trigger, datetime.now().astimezone().isoformat())
                with contextlib.suppress(OSError):
                    self._write_info(holder)
                try:
                    yield
                finally:
                    with contextlib.suppress(OSError):
                        self.info_path.unlink()
                    _unlock(handle)
            finally:
                handle.close()
        finally:
            self._threads.release()

    def _write_info(self, holder: LockHolder) -> None:
        old = os.umask(0o077)
        try:
            temporary = self.info_path.with_name(self.info_path.name + f".{os.getpid()}")
            temporary.write_text(json.dumps({"role": holder.role, "pid": holder.pid, "trigger": holder.trigger,
                                             "started": holder.started}), encoding="utf-8")
            os.replace(temporary, self.info_path)
        finally:
            os.umask(old)
