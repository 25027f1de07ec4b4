"""The daily reconciliation digest in the window (demo company, NAV 2016-2018 sandbox): at the digest time the
window compares NAV and BILL off the UI thread, the tray names the count and the biggest difference, a click on
the notice (and on the tray menu's entry) opens the Reconciliation tab, and a restart the same day stays quiet."""

from __future__ import annotations

import threading
from datetime import datetime

from PySide6.QtCore import QPoint, Qt


def test_the_digest_names_the_drift_and_opens_the_reconciliation_tab(qtbot, navbill_home, monkeypatch):
    from PySide6.QtWidgets import QToolBar

    from app.engine.digest import DigestState
    from app.engine.settings import EngineSettings
    from app.ui.application import open_session
    from app.ui.digest import ReconcileDigest
    from app.ui.main_window import MainWindow
    from app.ui.tray import TrayController

    session = open_session(navbill_home, demo=True, nav_flavor="classic")
    store = session.store
    settings = EngineSettings.load(store)
    settings.reconcile_digest_time = ""  # off while the first sync links vendors and holds invoices
    settings.save(store)
    window = MainWindow(session.backend, profile_name=session.profile.name)
    qtbot.addWidget(window)
    tray = TrayController(window)
    nine = datetime.now().replace(hour=9, minute=0, second=0, microsecond=0)
    digest = ReconcileDigest(window, tray, store, now=lambda: nine, interval_ms=50)
    window.show()
    qtbot.waitExposed(window)
    sync_button = window.findChild(QToolBar, "sync-toolbar").widgetForAction(window.sync_action)
    shown: list[tuple[str, str]] = []
    tray.notified.connect(lambda title, message: title.startswith("Reconciliation") and shown.append(
        (title, message)))
    try:
        with qtbot.waitSignal(window.sync_finished, timeout=120_000):
            qtbot.mouseClick(sync_button, Qt.MouseButton.LeftButton)
        assert DigestState.load(store).last_day is None  # off: nothing ran
        window.tabs.setCurrentWidget(window.vendors_tab)

        settings.reconcile_digest_time = "08:00"  # 09:00 now: due
        settings.save(store)
        with qtbot.waitSignal(digest.finished, timeout=120_000) as done:
            pass
        said = done.args[0]
        assert said is not None and shown and shown[-1] == (said.title, said.message)
        report = window.reconcile_tab.report
        assert report is not None and len(report.differences) == said.count > 0
        top = max(report.differences, key=lambda d: d.amount)
        assert f"{said.count} difference(s) between NAV and BILL" in said.message
        assert f"The biggest: {top.vendor}, {top.record}: NAV {top.nav}; BILL {top.bill}" in said.message
        assert window.tabs.currentWidget() is window.vendors_tab  # nothing jumps at the user

        tray.icon.messageClicked.emit()  # the desktop's part: the user clicked the notice
        assert window.tabs.currentWidget() is window.reconcile_tab
        assert window.reconcile_tab.model.rowCount() == said.count

        window.tabs.setCurrentWidget(window.vendors_tab)
        assert tray.reconcile_action.isVisible()
        assert tray.reconcile_action.text() == f"Open Reconciliation ({said.count} difference(s))"
        tray.menu.popup(QPoint(10, 10))
        qtbot.waitExposed(tray.menu)
        qtbot.mouseClick(tray.menu, Qt.MouseButton.LeftButton,
                         pos=tray.menu.actionGeometry(tray.reconcile_action).center())
        qtbot.waitUntil(lambda: window.tabs.currentWidget() is window.reconcile_tab, timeout=5_000)

        # the window restarts the same day: today's digest has run, so the same drift is not said again
        digest.timer.stop()
        count_before = len(shown)
        readers: list[bool] = []  # whether each read of the day's state was made on the UI thread
        load = DigestState.load.__func__
        monkeypatch.setattr(DigestState, "load", classmethod(
            lambda cls, store: readers.append(threading.current_thread() is threading.main_thread())
            or load(cls, store)))
        restarted = ReconcileDigest(window, tray, store, now=lambda: nine, interval_ms=50)
        answers: list[bool] = []
        restarted.looked.connect(answers.append)
        qtbot.waitUntil(lambda: len(answers) >= 3, timeout=10_000)  # a few timer ticks, each a look off the UI thread
        assert answers[:3] == [False, False, False]  # today's digest has run: not due again
        restarted.timer.stop()
        qtbot.waitUntil(lambda: not restarted.running, timeout=5_000)
        assert len(shown) == count_before
        assert readers and not any(readers), "the minute's look read the store on the UI thread"
    finally:
        digest.timer.stop()
        window.shutdown()
        tray.hide()
        session.close()
