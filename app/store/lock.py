"""One writer per company at a time: the run lock.

Every sync run (``sync``, ``serve``'s schedule and webhook runs, the window's Sync now) takes the store's run
lock for its whole length. Two processes on one home, or two machines sharing a store, never write at once:
the second waits a few seconds and then reports who holds the lock ("a sync is already running (started
10:02 by serve, pid 4711)") instead of running.

``RunLock`` is the interface; ``FileRunLock`` is an OS file lock beside the SQLite file (``fcntl.flock`` on
POSIX, ``msvcrt.locking`` on Windows), released by the OS when the holder dies, so a killed run never leaves
a stale lock. A shared store on PostgreSQL implements the same interface with an advisory lock
(``AdvisoryLock``: ``pg_try_advisory_lock`` on one connection held for the run; the same class is the
scheduler's leader lock, app/push/leader.py); ``ProcessRunLock`` serves in-memory stores.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from app.setup.file_lock import try_lock, unlock

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
                while not try_lock(handle):
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
                    unlock(handle)
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


# -- a shared PostgreSQL store: advisory locks ---------------------------------------------------------------

APPLICATION_PREFIX = "navbill"
LOCK_KEY_INFO = "navbill_advisory_key"


def advisory_key(purpose: str, scope: str) -> int:
    """A signed 64-bit key for ``pg_try_advisory_lock``, from what is locked (``run``, ``leader``) and for whom
    (the NAV company and BILL organization, and the store's schema so two stores on one server never meet)."""
    import hashlib

    digest = hashlib.blake2b(f"{APPLICATION_PREFIX}|{purpose}|{scope}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class AdvisoryLock(RunLock):
    """One writer (``purpose='run'``) or one leader (``purpose='leader'``) per company on a PostgreSQL store.

    ``pg_try_advisory_lock`` is taken on a connection of its own, held for as long as the run (or the
    leadership) lasts. PostgreSQL drops the lock when that connection ends, so a holder that dies (SIGKILL, a
    PC that sleeps and loses its network) never leaves a stale lock: another process takes over as soon as
    the server notices the connection is gone (TCP keepalives, at most about a minute).

    Who holds it is read from the server itself (``pg_locks`` joined to ``pg_stat_activity``): the holder's
    connection carries ``navbill:<role>:<pid>:<host>:<trigger>`` as its application name, and the time the
    connection started is when it took the lock.
    """

    def __init__(self, engine, purpose: str = "run", scope: Callable[[], str] | str = "") -> None:
        self.engine = engine
        self.purpose = purpose
        self._scope = scope
        self._threads = threading.Lock()

    @property
    def scope(self) -> str:
        return self._scope() if callable(self._scope) else self._scope

    def key(self) -> int:
        return advisory_key(self.purpose, self.scope)

    def _connect(self, holder: LockHolder):
        import socket

        raw = self.engine.raw_connection()  # its own connection: the lock lives and dies with it
        name = ":".join((APPLICATION_PREFIX, holder.role, str(holder.pid), socket.gethostname(), holder.trigger))
        cursor = raw.cursor()
        try:
            cursor.execute("SELECT set_config('application_name', %s, false)", (name[:63],))
        finally:
            cursor.close()
        raw.commit()
        return raw

    def try_acquire(self, trigger: str = ""):
        """Take the lock without waiting: a connection to pass to ``release``, or None if someone holds it."""
        holder = LockHolder(process_role(), os.getpid(), trigger, datetime.now().astimezone().isoformat())
        key = self.key()
        raw = self._connect(holder)
        try:
            cursor = raw.cursor()
            try:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", (key,))
                got = bool(cursor.fetchone()[0])
            finally:
                cursor.close()
            raw.commit()
        except BaseException:
            raw.invalidate() if hasattr(raw, "invalidate") else raw.close()
            raise
        if not got:
            self._forget_name(raw)
            return None
        raw.info[LOCK_KEY_INFO] = key  # released by the key it was taken with, whatever the scope says later
        return raw

    @staticmethod
    def _forget_name(raw) -> None:
        """Back to the pool without the holder's name, so only a holder's connection ever carries it."""
        try:
            cursor = raw.cursor()
            try:
                cursor.execute("SELECT set_config('application_name', '', false)")
            finally:
                cursor.close()
            raw.commit()
            raw.close()
        except Exception:  # noqa: BLE001 - a connection that cannot say so is not reused
            with contextlib.suppress(Exception):
                raw.invalidate()

    def release(self, raw) -> None:
        """Give the lock back. If the connection is already gone, so is the lock."""
        try:
            key = raw.info.pop(LOCK_KEY_INFO, None)
            cursor = raw.cursor()
            try:
                cursor.execute("SELECT pg_advisory_unlock(%s)", (self.key() if key is None else key,))
                unlocked = bool(cursor.fetchone()[0])
            finally:
                cursor.close()
            raw.commit()
            if not unlocked:  # never put a connection that may still hold a lock back in the pool
                raw.invalidate()
                return
            self._forget_name(raw)
        except Exception:  # noqa: BLE001 - a dead connection has dropped its lock with it
            with contextlib.suppress(Exception):
                raw.invalidate()

    def holder(self) -> LockHolder | None:
        key = self.key()
        classid, objid = (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                cursor.execute(
                    "SELECT a.application_name, a.backend_start FROM pg_locks l JOIN pg_stat_activity a "
                    "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = %s "
                    "AND l.objid::bigint = %s AND l.objsubid = 1 AND l.database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())", (classid, objid))
                row = cursor.fetchone()
            finally:
                cursor.close()
            raw.commit()
        finally:
            raw.close()
        if row is None:
            return None
        parts = (row[0] or "").split(":", 4) + ["", "", "", "", ""]
        _, role, pid, host, trigger = parts[:5]
        started = row[1].astimezone().isoformat() if row[1] else ""
        return LockHolder(f"{role or 'another connector'}{f' on {host}' if host else ''}",
                          int(pid) if pid.isdigit() else 0, trigger, started)

    @contextlib.contextmanager
    def hold(self, trigger: str = "", wait: float | None = None) -> Iterator[None]:
        wait = default_wait() if wait is None else wait
        deadline = time.monotonic() + wait
        if not self._threads.acquire(timeout=wait):
            raise RunBusyError(self.holder(), self.purpose)
        try:
            while (raw := self.try_acquire(trigger)) is None:
                if time.monotonic() >= deadline:
                    raise RunBusyError(self.holder(), self.purpose)
                time.sleep(max(POLL_SECONDS, 0.25))
            try:
                yield
            finally:
                self.release(raw)
        finally:
            self._threads.release()
