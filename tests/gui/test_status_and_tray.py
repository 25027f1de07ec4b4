"""One state model drives the status light, the tray icon, its tooltip and its status line; the tray menu by clicks."""

from __future__ import annotations

import socket

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from app.ui.icons import STATE_TEXT, ConnectorState
from tests.gui.conftest import close_window


def click_menu(qtbot, menu, action) -> None:
    """Open the tray menu and click one of its entries with the mouse."""
    menu.popup(QPoint(200, 200))
    qtbot.waitUntil(menu.isVisible, timeout=5_000)
    assert action.isEnabled(), action.text()
    QTest.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(action).center())
    qtbot.waitUntil(lambda: not menu.isVisible(), timeout=5_000)


@pytest.fixture
def tray(window):
    from app.ui.tray import TrayController

    controller = TrayController(window)
    yield controller
    controller.hide()


def test_tray_menu_status_line_pause_resume_and_needs_attention_by_clicks(qtbot, window, tray):
    window.show()
    assert [a.text() for a in tray.menu.actions() if a.text() and a.isVisible()][1:] == [
        "Sync now", "Pause syncing", "Open “Needs attention”", "Open", "Quit"]  # no digest yet: no Reconciliation
    # No connection yet (and failures in the store): the window, the icon, the tooltip and the menu agree.
    assert window.state == tray.current_state == ConnectorState.ATTENTION
    assert tray.status_action.text().startswith("Needs your attention: No connection is set up yet")
    assert not tray.status_action.isEnabled()
    assert window.state_label.text() == "● Needs your attention"
    assert tray.tooltip.startswith("NavBill: Needs your attention")

    click_menu(qtbot, tray.menu, tray.pause_action)
    assert window.paused and window.state == tray.current_state == ConnectorState.PAUSED
    assert tray.pause_action.text() == "Resume syncing" and window.pause_action.text() == "Resume syncing"
    assert tray.status_action.text().startswith("Syncing paused")
    assert "Syncing paused" in tray.tooltip and "Next sync: paused" in tray.tooltip
    click_menu(qtbot, tray.menu, tray.pause_action)
    assert not window.paused and tray.pause_action.text() == "Pause syncing"
    assert window.state == ConnectorState.ATTENTION

    window.tabs.setCurrentWidget(window.activity_tab)
    click_menu(qtbot, tray.menu, tray.attention_action)
    assert window.tabs.currentWidget() is window.failures_tab  # failed postings first

    # A notification remembers its tab; clicking it opens that tab.
    window.tabs.setCurrentWidget(window.payments_tab)
    tray.notify("3 item(s) need your attention in NavBill.")
    tray.icon.messageClicked.emit()
    assert window.tabs.currentWidget() is window.failures_tab


def free_closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends: nothing listens there


def test_unreachable_servers_say_cannot_reach_not_up_to_date(qtbot, window, tray, navbill_home):
    from app.setup.config import app_paths
    from app.setup.profiles import ProfileStore, demo_profile, demo_secrets
    from app.setup.vault import DEMO_PASSPHRASE, Vault
    from app.ui.application import build_engine_runner
    from app.ui.store_backend import StoreBackend

    port = free_closed_port()
    paths = app_paths(navbill_home).ensure()
    vault = Vault.open_with_passphrase(paths.database_url, DEMO_PASSPHRASE)
    profile = ProfileStore(paths, vault).save(demo_profile(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}"),
                                              demo_secrets())
    from app.clients.retry import RetryPolicy

    no_waiting = RetryPolicy(max_attempts=2, base_delay=0.0, max_delay=0.0, sleep=lambda seconds: None)
    window.backend = StoreBackend(window.backend.store, build_engine_runner(window.backend.store, profile, vault,
                                                                            retry=no_waiting))
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    with qtbot.waitSignal(window.sync_finished, timeout=120_000) as finished:
        QTest.keyClick(window.tabs.currentWidget().view, Qt.Key.Key_F5)  # F5 is Sync now
    outcome = finished.args[0]
    assert not outcome.ok and outcome.offline, outcome.summary
    assert window.state == tray.current_state == ConnectorState.OFFLINE
    assert window.state_label.text() == f"● {STATE_TEXT[ConnectorState.OFFLINE]}"
    assert tray.tooltip.startswith("NavBill: Cannot reach NAV or BILL")
    assert window.banner.isVisible() and window.banner.error


def test_webhook_activity_goes_to_the_activity_tab_not_the_status_text(window):
    from types import SimpleNamespace

    before = window.progress_label.text()
    window.service_run_finished(SimpleNamespace(kind="targeted", description="webhook: BILL vendor 00901ACME",
                                                ok=True, error=None, cancelled=False, result=None))
    assert window.progress_label.text() == before
    assert window.activity_tab.events.item(0).text().endswith(
        "webhook: BILL vendor “Acme Steel Supply” (00901ACME): done")


def test_missing_payment_settings_hold_only_payments_and_say_where_to_fix(qtbot, navbill_home):
    from app.engine.settings import EngineSettings
    from app.ui.application import open_session
    from app.ui.main_window import MainWindow
    from app.ui.tray import TrayController

    session = open_session(navbill_home, demo=True)
    EngineSettings(journal_template="PAYMENT", journal_batch="BILL", balancing_account_number="").save(session.store)
    window = MainWindow(session.backend, profile_name=session.profile.name)
    tray = TrayController(window)
    window.show()
    try:
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
        with qtbot.waitSignal(window.sync_finished, timeout=180_000) as finished:
            QTest.keyClick(window.tabs.currentWidget().view, Qt.Key.Key_F5)
        outcome = finished.args[0]
        assert not outcome.ok and "Payments wait" in outcome.summary and "Settings → Payments" in outcome.summary
        assert "vendors:" in outcome.summary and "invoices:" in outcome.summary  # the other flows ran
        assert session.store.invoice_rows(state="created")
        assert window.state == ConnectorState.ATTENTION and "Settings → Payments" in window.state_detail
        assert "Settings → Payments" in tray.status_action.toolTip() and window.banner.isVisible()
    finally:
        tray.hide()
        close_window(qtbot, window, session)


def test_after_a_restart_a_failed_last_sync_is_not_up_to_date(qtbot, seeded_store):
    from datetime import UTC, datetime

    from app.store import schema as t
    from app.ui.main_window import MainWindow
    from app.ui.store_backend import StoreBackend

    with seeded_store.session() as s:
        s.execute(t.QueueItem.__table__.delete())
        s.execute(t.Conflict.__table__.delete())
        s.execute(t.VendorLink.__table__.update().values(status="linked"))
        s.add(t.Run(started_at=datetime.now(UTC), finished_at=datetime.now(UTC), status="failed", flows=["payments"],
                    message="payments: not run. NAV: Payments need a journal template, a journal batch and a "
                            "balancing account in the settings."))
    window = MainWindow(StoreBackend(seeded_store, sync_runner=lambda *args, **kwargs: None))
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.refreshed, timeout=10_000):
        window.refresh()
    assert window.state == ConnectorState.ATTENTION
    assert window.state_detail.startswith("The last sync failed: Payments wait") and "Settings → Payments" in \
        window.state_detail
    with seeded_store.session() as s:
        s.add(t.Run(started_at=datetime.now(UTC), finished_at=datetime.now(UTC), status="completed", flows=["vendors"]))
    with qtbot.waitSignal(window.refreshed, timeout=10_000):
        window.refresh()
    assert window.state == ConnectorState.IDLE and window.state_label.text() == "● Up to date"
    window.shutdown()


def test_the_status_bar_shows_this_hours_bill_requests_shared_with_the_command_line(qtbot, navbill_home):
    """The window's syncs count BILL's hourly requests in the installation's ledger (where `sync`, `serve` and `check`
    count theirs), and the status bar says how many are used; at the stop line it says until when."""
    import json

    from app.clients.bill_budget import LEDGER_FILE
    from app.engine.settings import EngineSettings
    from app.ui.application import open_session
    from app.ui.main_window import MainWindow

    session = open_session(navbill_home, demo=True)
    window = MainWindow(session.backend, profile_name=session.profile.name)
    window.show()
    try:
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
        label = window.bill_requests_label
        with qtbot.waitSignal(window.refreshed, timeout=180_000):
            with qtbot.waitSignal(window.sync_finished, timeout=180_000):
                QTest.keyClick(window.tabs.currentWidget().view, Qt.Key.Key_F5)  # F5 is Sync now
        ledger = json.loads((session.paths.data_dir / LEDGER_FILE).read_text(encoding="utf-8"))
        used = ledger[session.profile.bill.organization_id]["used"]
        assert used >= 10  # a first sync: sign-in, lists, creates
        assert label.isVisible() and label.text() == f"BILL requests this hour: {used:,} / 20,000"
        assert "stops at 16,000 this hour, keeping 4,000 for the organization's other integrations" in label.toolTip()

        # A smaller limit set for this organization: the count is at the stop line, and the bar says until when.
        EngineSettings(bill_hourly_limit=used, bill_budget_headroom_percent=0).save(session.store)
        with qtbot.waitSignal(window.refreshed, timeout=10_000):
            window.refresh()
        assert label.text().startswith(f"BILL requests this hour: {used:,} / {used:,} (stopped until ")
        assert "is reached: syncs send nothing more to BILL until" in label.toolTip()
    finally:
        close_window(qtbot, window, session)
