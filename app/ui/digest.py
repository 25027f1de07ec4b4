"""The daily reconciliation digest in the tray (the rules are Qt-free, in ``app.engine.digest``).

A timer looks once a minute whether today's digest is due (``EngineSettings.reconcile_digest_time``, read each
time, so a changed setting counts at once). When it is, the reconciliation runs on the window's task pool (never
on the UI thread); its report fills the Reconciliation tab, and a drift not yet announced today becomes a tray
notice that opens that tab when clicked (``TrayController.notify_digest``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import QObject, QTimer, Signal

from app.engine import digest as rules
from app.engine.settings import EngineSettings

log = logging.getLogger("navbill.ui")

CHECK_INTERVAL_MS = 60_000


class ReconcileDigest(QObject):
    """Runs the day's reconciliation once and tells the tray when NAV and BILL drift apart."""

    finished = Signal(object)  # the Digest shown, or None (clean, already announced, or failed)

    def __init__(self, window, tray, store, now: Callable[[], datetime] = datetime.now,
                 interval_ms: int = CHECK_INTERVAL_MS) -> None:
        super().__init__(window)
        self.window, self.tray, self.store, self.now = window, tray, store, now
        self.running = False
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.check)
        self.timer.start()

    def _digest_time(self):
        try:
            return rules.parse_time(EngineSettings.load(self.store).reconcile_digest_time)
        except Exception as exc:  # a bad value never stops the window; the settings command refuses it anyway
            log.warning("Daily reconciliation digest off: %s", exc)
            return None

    def check(self) -> bool:
        """Start today's digest if it is due and none runs; True when it started."""
        if self.running or not getattr(self.window, "configured", True):
            return False
        state = rules.DigestState.load(self.store)
        if not rules.is_due(self.now(), self._digest_time(), state.last_day):
            return False
        self.running = True
        log.info("Daily reconciliation digest: comparing NAV and BILL")
        self.window.tasks.start("Daily reconciliation", lambda ctx: self.window.backend.reconcile(),
                                on_success=self._done, on_failure=self._failed)
        return True

    def _done(self, report) -> None:
        self.running = False
        today = self.now().date()
        state = rules.DigestState.load(self.store)
        digest = rules.digest_for(report)
        show = rules.settle(state, today, digest)
        state.save(self.store)
        self.window.reconcile_tab.show_report(report)
        if show:
            self.tray.notify_digest(digest.title, digest.message, digest.count)
        elif digest is None:
            self.tray.clear_digest()
        self.finished.emit(digest if show else None)

    def _failed(self, message: str) -> None:
        self.running = False
        state = rules.DigestState.load(self.store)
        rules.settle(state, self.now().date(), None)  # tried today: again tomorrow, not every minute
        state.save(self.store)
        log.warning("Daily reconciliation digest could not compare NAV and BILL: %s", message)
        self.finished.emit(None)
