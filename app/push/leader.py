"""One leader per company on a team store: whoever holds the leader lock runs the scheduler, the webhook
listener and subscription upkeep; every other `serve` (or window) follows and takes over when the leader's
lock drops (its process died, its PC slept and the server dropped its connection).

On PostgreSQL the lock is an advisory lock on a connection of its own (``Store.leader_lock()``, see
app/store/lock.py); on a single workstation's SQLite store there is nobody to lead, and ``Leadership`` says
so at once (nothing changes there).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

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
        return self._held is not None

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
            self._lock.release(held)
