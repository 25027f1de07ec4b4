"""The Reconciliation tab, by clicks: on the demo (Business Central sandbox) after a Sync now, the clerk opens the
tab and clicks Compare NAV and BILL; the held invoices are listed with both sides and their cause."""

from __future__ import annotations

from PySide6.QtCore import Qt


def test_reconciliation_tab_by_clicks(qtbot, navbill_home):
    from PySide6.QtWidgets import QToolBar

    from app.ui.application import open_session
    from app.ui.main_window import MainWindow

    session = open_session(navbill_home, demo=True, nav_flavor="bc")
    window = MainWindow(session.backend, profile_name=session.profile.name)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    try:
        tab = window.reconcile_tab
        sync_button = window.findChild(QToolBar, "sync-toolbar").widgetForAction(window.sync_action)
        with qtbot.waitSignal(window.sync_finished, timeout=120_000):
            qtbot.mouseClick(sync_button, Qt.MouseButton.LeftButton)
        bar = window.tabs.tabBar()
        index = window.tabs.indexOf(tab)
        qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
        assert window.tabs.currentWidget() is tab and tab.summary.text() == "Not compared yet."
        with qtbot.waitSignal(window.command_finished, timeout=120_000) as finished:
            qtbot.mouseClick(tab.compare_button, Qt.MouseButton.LeftButton)
        assert finished.args == ["Reconciliation", True]
        qtbot.waitUntil(lambda: tab.compare_button.isEnabled(), timeout=10_000)
        rows = [tab.model.index(r, 0).data(Qt.ItemDataRole.DisplayRole) for r in range(tab.model.rowCount())]
        assert rows and tab.report is not None and len(rows) == len(tab.report.differences)
        causes = [tab.model.index(r, 5).data(Qt.ItemDataRole.DisplayRole) for r in range(tab.model.rowCount())]
        assert any(c.startswith("Held invoice: ") for c in causes)
        assert "difference(s)" in tab.summary.text() and "status (Open / Paid) only" in tab.summary.text()
    finally:
        window.shutdown()
        session.close()
