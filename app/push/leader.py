"""One leader per company on a team store: whoever holds the leader lock runs the scheduler, the webhook
listener and subscription upkeep; every other `serve` (or window) follows and takes over when the leader's
lock drops (its process died, its PC slept and the server dropped its connection).

On PostgreSQL the lock is an advisory lock on a connection of its own (``Store.leader_lock()``, see
app/store/lock.py); on a single workstation's SQLite store there is nobody to lead, and ``Leadership`` says
so at once (nothing changes there).

A follower's Sync now asks the leader (``ask_leader``): a PostgreSQL NOTIFY on the company's channel, which the
leader LISTENs to on its lock connection; the leader's ``watch`` thread, which queries that connection every
few seconds anyway, hears it and calls ``on_sync_request`` (serve and the window queue a sync).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable

log = logging.getLogger("navbill.push")

DEFAULT_POLL_SECONDS = 10.0


def poll_seconds() -> float:
    """How often a follower asks whether the lead is free (``NAVBILL_LEADER_POLL``, default 10 s)."""
    try:
        return max(0.05, float(os.environ.get("NAVBILL_LEADER_POLL", DEFAULT_POLL_SECONDS)))
    except ValueError:
        return DEFAULT_POLL_SECONDS


class Leadership:
    def __init__(self, store, trigger: str = "serve") -> None:
        self.store = store
        self.trigger = trigger
        self.shared = bool(getattr(store, "is_postgres", False))
        self._lock = store.leader_lock() if self.shared else None
        self._held = None
        self.on_sync_request: Callable[[str], None] | None = None  # the leader hears a follower's Sync now

    @property
    def leading(self) -> bool:
        return not self.shared or self._held is not None

    def leader(self) -> str:
        """Who leads, in a sentence ("serve on ap-pc-2, pid 4711, since 10:02"), or "" when nobody does."""
        if not self.shared:
            return ""
        holder = self._lock.holder()
        return holder.describe() if holder else ""

    def try_lead(self) -> bool:
        if self.leading:
            return True
        self._held = self._lock.try_acquire(self.trigger)
        if self._held is not None:
            self._listen(self._held)
        return self._held is not None

    def channel(self) -> str:
        """The company's NOTIFY channel for Sync now requests (from the leader lock's key: one per company)."""
        return f"navbill_sync_{self._lock.key() & 0xFFFFFFFFFFFFFFFF:x}"

    def _listen(self, held) -> None:
        """LISTEN on the lock's connection; notifications arrive with the watch thread's queries."""
        try:
            driver = getattr(held, "driver_connection", held)
            driver.add_notify_handler(self._notified)
            cursor = held.cursor()
            try:
                cursor.execute(f'LISTEN "{self.channel()}"')
            finally:
                cursor.close()
            held.commit()
        except Exception:  # noqa: BLE001 - without it followers' Sync now runs on their own PC, as before
            log.warning("Could not listen for Sync now requests from other workstations", exc_info=True)

    def _notified(self, notify) -> None:
        who = getattr(notify, "payload", "") or "another workstation"
        log.info("Sync now asked for by %s", who)
        if self.on_sync_request is not None:
            try:
                self.on_sync_request(who)
            except Exception:  # noqa: BLE001 - a request that cannot be queued must not stop the watch
                log.warning("The sync asked for by %s could not be queued", who, exc_info=True)

    def ask_leader(self, who: str):
        """A follower's Sync now: ask whoever leads to sync. Returns the leader (a LockHolder), or None when
        nobody leads (then the caller may take the lead itself). Never on SQLite (there is nobody to ask)."""
        if not self.shared:
            return None
        holder = self._lock.holder()
        if holder is None:
            return None
        from sqlalchemy import text

        with self.store.engine.begin() as connection:
            connection.execute(text("SELECT pg_notify(:channel, :who)"), {"channel": self.channel(), "who": who[:200]})
        return holder

    def wait_to_lead(self, stop: threading.Event, on_following: Callable[[str], None] | None = None,
                     poll: float | None = None) -> bool:
        """Block until this process leads (True) or ``stop`` is set (False). ``on_following`` hears who leads
        each time that changes."""
        poll = poll_seconds() if poll is None else poll
        told = None
        while not self.try_lead():
            who = self.leader()
            if on_following is not None and who != told:
                on_following(who)
                told = who
            if stop.wait(poll):
                return False
        return True

    def still_leading(self) -> bool:
        """Is the lead still ours? False once the lock's connection is gone (the server restarted, the network
        dropped while the PC slept): by then another connector may lead, so this one must stop."""
        if not self.shared:
            return True
        if self._held is None:
            return False
        try:
            cursor = self._held.cursor()
            try:
                cursor.execute("SELECT 1")
                cursor.fetchone()
            finally:
                cursor.close()
            self._held.commit()
            return True
        except Exception:  # noqa: BLE001 - any failure means the connection, and with it the lock, is gone
            return False

    def watch(self, stop: threading.Event, lost: threading.Event, poll: float | None = None) -> threading.Thread:
        """A thread that sets ``lost`` and ``stop`` when the lead is lost (checked every ``poll`` seconds)."""
        poll = poll_seconds() if poll is None else poll

        def check() -> None:
            while not stop.wait(poll):
                if not self.still_leading():
                    lost.set()
                    stop.set()
                    return

        thread = threading.Thread(target=check, name="leader-watch", daemon=True)
        thread.start()
        return thread

    def release(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            with contextlib.suppress(Exception):  # a pooled connection must not keep listening
                cursor = held.cursor()
                try:
                    cursor.execute("UNLISTEN *")
                finally:
                    cursor.close()
                held.commit()
                getattr(held, "driver_connection", held).remove_notify_handler(self._notified)
            self._lock.release(held)
