"""The window's demo against NAV 2016-2018 (the classic pages sandbox), by clicks on the toolbar's Sync now: the
demo's BILL payments wait in the journal batch for the accountant, and once the accountant posts the batch the
next click confirms them. The same flows as Business Central, with the one difference the clerk must see."""

from __future__ import annotations

from PySide6.QtCore import Qt


def _sync_now_button(window):
    from PySide6.QtWidgets import QToolBar

    toolbar = window.findChild(QToolBar, "sync-toolbar")
    return toolbar.widgetForAction(window.sync_action)


def test_classic_nav_demo_by_clicks(qtbot, navbill_home):
    from app.ui.application import open_session
    from app.ui.main_window import MainWindow

    session = open_session(navbill_home, demo=True, nav_flavor="classic")
    window = MainWindow(session.backend, profile_name=session.profile.name)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    try:
        assert session.sandboxes.nav_flavor == "classic" and "NAV 2016-2018" in window.windowTitle()
        with qtbot.waitSignal(window.refreshed, timeout=120_000):
            with qtbot.waitSignal(window.sync_finished, timeout=120_000) as finished:
                qtbot.mouseClick(_sync_now_button(window), Qt.MouseButton.LeftButton)
        outcome = finished.args[0]
        assert outcome.ok, outcome.summary
        assert len(session.store.invoice_rows(state="created")) > 30  # bills from the pages' posted invoices
        waiting = [row for row in session.store.payment_rows() if row.state == "in journal"]
        assert waiting, "the demo's BILL payments wait in NAV's journal batch for the accountant"
        assert not [row for row in session.store.payment_rows() if row.state == "posted"]

        session.sandboxes.nav.post_journal("PAYMENT", "BILL")  # the accountant posts the batch in NAV
        with qtbot.waitSignal(window.sync_finished, timeout=120_000) as finished:
            qtbot.mouseClick(_sync_now_button(window), Qt.MouseButton.LeftButton)
        assert finished.args[0].ok, finished.args[0].summary
        with session.sandboxes.nav.state_lock:
            left = [dict(r) for _, r in session.sandboxes.nav.company.journal_lines("PAYMENT", "BILL")]
        assert {row.state for row in session.store.payment_rows()} == {"posted"}, (
            [(r.payment_id, r.state) for r in session.store.payment_rows()], left)
    finally:
        window.shutdown()
        session.close()
