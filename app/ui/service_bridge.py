"""Qt signals for the Qt-free ``ConnectorService`` (scheduler, webhooks, subscriptions).

The service calls its callbacks on its own threads. Each callback here only emits a signal; the
window's slots are connected with ``QueuedConnection`` so they always run on the UI thread.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from app.ui.rows import StatusInfo

log = logging.getLogger("navbill.ui")

PREVIEW_KEY = "window-preview"  # the scheduler's key for the window's dry run: one waits at a time


def progress_triple(*args: Any, **kwargs: Any) -> tuple[str, int, int]:
    """Whatever shape the engine reports progress in, as (message, done, total)."""
    message = kwargs.get("message") or kwargs.get("text") or ""
    done = kwargs.get("done", 0)
    total = kwargs.get("total", 0)
    numbers = [a for a in args if isinstance(a, int) and not isinstance(a, bool)]
    words = [a for a in args if isinstance(a, str)]
    if not message and len(words) == 2 and len(numbers) == 1:  # the engine: (flow, done, message)
        return f"{words[0]}: {words[1]} ({numbers[0]:,})", 0, 0
    if not message and words:
        message = " — ".join(words)
    if len(numbers) >= 2:
        done, total = numbers[0], numbers[1]
    for arg in args:  # a progress object with attributes
        if not isinstance(arg, (str, int)):
            message = message or str(getattr(arg, "message", "") or getattr(arg, "flow", "") or arg)
            done = getattr(arg, "done", done) or done
            total = getattr(arg, "total", total) or total
    return str(message), int(done or 0), int(total or 0)


class ServiceBridge(QObject):
    run_started = Signal(str, str)  # kind ("run" | "targeted"), description
    run_finished = Signal(object)  # app.push.scheduler.RunOutcome
    progress = Signal(str, int, int)
    next_run_changed = Signal(object)  # datetime | None
    push_status_changed = Signal(object)  # app.push.status.StatusSnapshot
    # The window's preview left the scheduler's queue and runs now; its outcome is the next "targeted"
    # run_finished (the scheduler's worker runs one item at a time).
    preview_started = Signal()

    def __init__(self, service: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self._saved_schedule = None
        scheduler = service.scheduler
        scheduler.on_run_started(lambda kind, description: self.run_started.emit(kind, description))
        scheduler.on_run_finished(self.run_finished.emit)
        scheduler.on_progress(lambda *a, **k: self.progress.emit(*progress_triple(*a, **k)))
        scheduler.on_next_run_changed(self.next_run_changed.emit)
        service.status.on_change(self.push_status_changed.emit)

    def connect_window(self, window) -> None:
        queued = Qt.ConnectionType.QueuedConnection
        self.run_started.connect(window.service_run_started, queued)
        self.run_finished.connect(window.service_run_finished, queued)
        self.progress.connect(window.sync_progress, queued)
        self.preview_started.connect(window.service_preview_started, queued)
        self.next_run_changed.connect(window.set_next_sync, queued)
        self.push_status_changed.connect(window.show_push_status, queued)

    def disconnect_window(self, window) -> None:
        for signal, slot in ((self.run_started, window.service_run_started),
                             (self.run_finished, window.service_run_finished),
                             (self.progress, window.sync_progress),
                             (self.preview_started, window.service_preview_started),
                             (self.next_run_changed, window.set_next_sync),
                             (self.push_status_changed, window.show_push_status)):
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):  # never connected
                pass

    # --- commands (cheap: they only queue work on the service's own threads) ----------------------
    def sync_now(self) -> str:
        return self.service.sync_now()

    def request_run(self, flows: list[str]) -> str:
        """Run these flows now (Retry now), queued behind a run in progress like Sync now."""
        return self.service.scheduler.request_run(flows, reason="retry now")

    def preview(self, cancel: threading.Event) -> str:
        """Queue a dry run on the service's scheduler, so it never overlaps a run or a webhook's sync:
        one in progress finishes first. Returns the scheduler's answer ("queued", "merged", "stopped")."""
        engine = self.service.engine

        def dry_run():
            self.preview_started.emit()
            if cancel.is_set():  # cancelled while it waited: nothing to preview
                return None
            return engine.run(dry_run=True, progress=lambda *a, **k: self.progress.emit(*progress_triple(*a, **k)),
                              cancel=cancel, trigger="window preview")

        return self.service.scheduler.submit(PREVIEW_KEY, dry_run, "preview")

    def cancel(self) -> None:
        self.service.scheduler.cancel_current()

    def set_paused(self, paused: bool) -> None:
        """Pausing = no schedule and no polling; webhooks still arrive but only queue targeted syncs."""
        from app.push.scheduler import Schedule
        from app.push.service import POLL_JOB

        scheduler = self.service.scheduler
        if paused and self._saved_schedule is None:
            self._saved_schedule = scheduler.schedule
            self.service.set_schedule(Schedule(mode="manual"))
            scheduler.remove_periodic(POLL_JOB)
        elif not paused and self._saved_schedule is not None:
            self.service.set_schedule(self._saved_schedule)
            self._saved_schedule = None
            if not scheduler.has_periodic(POLL_JOB):
                scheduler.add_periodic(POLL_JOB, self.service.poll, self.service.settings.poll_interval)

    def status_info(self) -> StatusInfo:
        return status_from_snapshot(self.service.status.snapshot(), self.service.scheduler.next_run_time())


def status_from_snapshot(snapshot: Any, next_run: datetime | None = None) -> StatusInfo:
    expiries = [s.expires_at for side in (snapshot.nav, snapshot.bill) for s in side.subscriptions if s.expires_at]
    return StatusInfo(next_sync=next_run, nav_mode=snapshot.nav.mode.value, nav_mode_reason=snapshot.nav.reason,
                      bill_mode=snapshot.bill.mode.value, bill_mode_reason=snapshot.bill.reason,
                      subscription_expiry=min(expiries) if expiries else None)
