"""Who leads a team store's company, in the window, and taking the lead when it is free.

On a team store (PostgreSQL) one connector per company leads: it holds the leader lock and runs the schedule,
the webhook listener and subscription upkeep (app/push/leader.py). The window's ``ServiceHost`` tries to lead
when it starts; on a follower it is refused. ``LeaderWatch`` then asks the server every few seconds
(``NAVBILL_LEADER_POLL``, default 10 s), on a worker, who holds the lead and since when, shows it in the status
bar ("Leader: serve on ap-pc-2 since 10:02"), and starts the window's service (which takes the lead) as soon as
nobody holds it: the leader's process died or its PC slept and the server dropped its connection.

Sync now on a follower: when nobody leads, the window takes the lead and syncs at once; when another connector
leads, it is asked to sync (a PostgreSQL NOTIFY its lock connection listens to, app/push/leader.py), and the
follower's screens reload on the next polls to show the result. If asking fails, the window syncs itself under
the company's run lock (app/store/lock.py), so it never writes beside a sync running elsewhere.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import datetime

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QLabel

from app.ui.workers import TaskRunner

log = logging.getLogger("navbill.ui")


def leader_words(holder) -> str:
    """A LockHolder (app/store/lock.py) as the status bar says it: workstation and time first."""
    try:
        since = datetime.fromisoformat(holder.started).strftime("%H:%M")
    except (TypeError, ValueError):
        since = "?"
    trigger = f", {holder.trigger}" if holder.trigger and holder.trigger not in holder.role else ""
    return f"{holder.role} since {since} (pid {holder.pid}{trigger})"


class LeaderWatch(QObject):
    """Polls who leads (off the UI thread), shows it, and takes the lead for the window when it is free."""

    changed = Signal(str)  # the status bar's words, each time they change
    lead_lost = Signal()  # the window led and its lock is gone: its service restarts
    asked = Signal(str)  # a follower's Sync now was sent to the leader (its words)

    def __init__(self, session, window, host, *, poll_seconds: float | None = None) -> None:
        super().__init__(window)
        from app.push.leader import poll_seconds as default_poll

        self.session = session
        self.window = window
        self.host = host
        self.tasks = TaskRunner(self, max_threads=1)
        self.label = QLabel(window)
        self.label.setObjectName("leader_label")
        window.statusBar().addPermanentWidget(self.label)
        window.team_watch = self
        self.holder = None  # the last answer: a LockHolder, or None when nobody leads
        self.known = False  # has the server answered at least once?
        self.led_since: datetime | None = None
        self._asking = False
        self._refreshes = 0
        self._timer = QTimer(self)
        self._timer.setInterval(int((poll_seconds if poll_seconds is not None else default_poll()) * 1000))
        self._timer.timeout.connect(self.poll)
        host.started.connect(self._now_leading)
        host.stopped.connect(self._not_leading)
        host.failed.connect(self._start_failed)
        self._retry_after = 0.0  # after a start that failed for another reason: not before this (monotonic)
        self.label.setText("Leader: asking the team store…")

    @property
    def leading(self) -> bool:
        return self.host.built is not None

    def start(self) -> None:
        self._timer.start()
        self.poll()

    def stop(self) -> None:
        self._timer.stop()
        self.tasks.shutdown(5_000)

    def poll(self) -> None:
        """Ask the server who leads, on the worker; one question at a time."""
        if self.session.profile is None:
            self._show("Leader: none yet (set up the connection in Settings)")
            return
        if self._asking:
            return
        self._asking = True
        store, profile = self.session.store, self.session.profile

        def ask(_ctx):
            store.set_scope(profile.nav.company or profile.nav.company_id, profile.bill.organization_id)
            return store.leader_lock().holder()

        self.tasks.start("who leads", ask, on_success=self._answered, on_failure=self._unanswered)

    def _answered(self, holder) -> None:
        self._asking = False
        self.holder, self.known = holder, True
        if self.leading and (holder is None or holder.pid != os.getpid()):
            # The lock's connection was dropped (the server restarted, the PC slept): another connector may lead
            # by now, so this window's schedule and webhooks stop, and it leads again only if the lead is free.
            log.warning("The window lost the lead on the team store (%s); restarting its service",
                        leader_words(holder) if holder else "nobody holds it now")
            self.window.report("This window lost the lead on the team store (its connection to the server dropped); "
                               "its schedule and webhooks restart and take the lead again only if it is free.")
            self.led_since = None
            self.lead_lost.emit()
            self.host.restart()
            self._show("Leader: changing…")
            return
        if self.leading:
            self._show(f"Leader: this window since {(self.led_since or datetime.now()).strftime('%H:%M')}")
            return
        if holder is None:
            self._show("Leader: none — this window takes the lead")
            if not self.host.running and time.monotonic() >= self._retry_after:
                log.info("Nobody leads this company on the team store: the window takes the lead")
                self.host.start()
            return
        self._show(f"Leader: {leader_words(holder)}")
        if self._refreshes > 0:  # after asking the leader to sync: show what it did
            self._refreshes -= 1
            self.window.refresh()

    def _unanswered(self, message: str) -> None:
        self._asking = False
        self._show(f"Leader: unknown (the team store did not answer: {message})")

    def _show(self, text: str) -> None:
        if text != self.label.text():
            self.label.setText(text)
            self.label.setToolTip("On a team store one connector per company runs the schedule and the webhooks; "
                                  "the others take over when it stops. Sync now works on every PC.")
            self.changed.emit(text)

    def _start_failed(self, message: str) -> None:
        # Refused because another connector took the lead first: the next poll shows who, and the one after the
        # lead drops takes it. Any other reason (the vault is locked, NAV or BILL refused): try again in a
        # minute, not at every poll.
        from app.ui.service_host import FOLLOWING

        if FOLLOWING not in message:
            self._retry_after = time.monotonic() + 60.0

    def _now_leading(self, _bridge) -> None:
        self.led_since = datetime.now()
        self.poll()

    def _not_leading(self) -> None:
        self.led_since = None
        self.poll()

    def sync_now(self) -> bool:
        """Sync now on a follower. Nobody leads: the window takes the lead and its service syncs at once. Another
        connector leads: it is asked to sync (app/push/leader.py ``ask_leader``), and this window's screens follow
        its result. True when handled so; False when the window should run the sync itself (the store is not
        known to be shared yet, or asking failed: the run lock still keeps the two apart)."""
        if self.leading or self.host.running or self.session.profile is None:
            return False
        if not self.known:
            return False
        if self.holder is None:
            self._take_lead_to_sync()
            return True
        store, profile = self.session.store, self.session.profile
        import socket

        who = f"the window on {socket.gethostname()} (pid {os.getpid()})"

        def ask(_ctx):
            from app.push.leader import Leadership

            store.set_scope(profile.nav.company or profile.nav.company_id, profile.bill.organization_id)
            return Leadership(store, "window").ask_leader(who)

        self.tasks.start("ask the leader", ask, on_success=self._asked, on_failure=self._ask_failed)
        self.window.report("Asking the leader to sync now…")
        return True

    def _take_lead_to_sync(self) -> None:
        self.host.first_sync = True  # the service, once it leads, syncs at once
        self.host.start()
        self.window.report("Nobody leads this company's syncs: this window takes the lead and syncs now.")

    def _asked(self, holder) -> None:
        self.holder = holder
        if holder is None:  # the leader went away meanwhile
            self._take_lead_to_sync()
            return
        self._show(f"Leader: {leader_words(holder)}")
        self.window.report(f"Asked the leader ({leader_words(holder)}) to sync now; its result shows here as the "
                           "screens refresh.")
        self.asked.emit(leader_words(holder))
        self._refreshes = 6  # the next polls reload the screens, so the leader's sync shows here

    def _ask_failed(self, message: str) -> None:
        self.window.report(f"The leader could not be asked ({message}); syncing here instead.")
        self.window.start_sync_here()
