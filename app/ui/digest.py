"""The daily reconciliation digest in the tray (the rules are Qt-free, in ``app.engine.digest``).

A timer asks once a minute whether today's digest is due (``EngineSettings.reconcile_digest_time``, read each
time, so a changed setting counts at once). The question reads the store, so it is asked on the window's task
pool, quietly (the window does not turn busy every minute); when the answer is yes, the reconciliation runs
there too and settles the day's state. The UI thread only shows the outcome: the report fills the
Reconciliation tab, and a drift not yet announced today becomes a tray notice that opens that tab when clicked
(``TrayController.notify_digest``).
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
    looked = Signal(bool)  # a look at the clock and the day's state ended: whether the digest was due

    def __init__(self, window, tray, store, now: Callable[[], datetime] = datetime.now,
                 interval_ms: int = CHECK_INTERVAL_MS) -> None:
        super().__init__(window)
        self.window, self.tray, self.store, self.now = window, tray, store, now
        self.running = False  # a look or a reconciliation is on its way: the timer waits for it
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.check)
        self.timer.start()

    def check(self) -> bool:
        """Ask, off the UI thread, whether today's digest is due; True when the question went out."""
        if self.running or not getattr(self.window, "configured", True):
            return False
        self.running = True
        self.window.tasks.start("Daily reconciliation: due?", lambda ctx: self._is_due(), quiet=True,
                                on_success=self._looked, on_failure=self._look_failed)
        return True

    # -- on the task pool -------------------------------------------------------------------------------
    def _is_due(self) -> bool:
        try:
            at = rules.parse_time(EngineSettings.load(self.store).reconcile_digest_time)
        except Exception as exc:  # a bad value never stops the window; the settings command refuses it anyway
            log.warning("Daily reconciliation digest off: %s", exc)
            return False
        return rules.is_due(self.now(), at, rules.DigestState.load(self.store).last_day)

    def _reconcile(self):
        """The day's comparison, and whether its digest is news (the day's state settled either way)."""
        today = self.now().date()
        try:
            report = self.window.backend.reconcile()
        except Exception:
            state = rules.DigestState.load(self.store)
            rules.settle(state, today, None)  # tried today: again tomorrow, not every minute
            state.save(self.store)
            raise
        digest = rules.digest_for(report)
        state = rules.DigestState.load(self.store)
        show = rules.settle(state, today, digest)
        state.save(self.store)
        return report, digest, show

    # -- back on the UI thread --------------------------------------------------------------------------
    def _looked(self, due: bool) -> None:
        self.looked.emit(due)
        if not due:
            self.running = False
            return
        log.info("Daily reconciliation digest: comparing NAV and BILL")
        self.window.tasks.start("Daily reconciliation", lambda ctx: self._reconcile(),
                                on_success=self._done, on_failure=self._failed)

    def _look_failed(self, message: str) -> None:
        self.running = False
        log.warning("Daily reconciliation digest: could not read whether it is due: %s", message)
        self.looked.emit(False)

    def _done(self, outcome) -> None:
        self.running = False
        report, digest, show = outcome
        self.window.reconcile_tab.show_report(report)
        if show:
            self.tray.notify_digest(digest.title, digest.message, digest.count)
        elif digest is None:
            self.tray.clear_digest()
        self.finished.emit(digest if show else None)

    def _failed(self, message: str) -> None:
        self.running = False
        log.warning("Daily reconciliation digest could not compare NAV and BILL: %s", message)
        self.finished.emit(None)
