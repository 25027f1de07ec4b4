"""The window with its own ConnectorService on the demo sandboxes: scheduled syncs, webhooks, pause,
settings restarts, quit; and the dimension-mapping fix for a held invoice."""

from __future__ import annotations

import pytest
import requests
from PySide6.QtWidgets import QApplication

from app.ui.rows import HoldReason, VendorState
from tests.gui.conftest import close_window


@pytest.fixture
def service_window(qtbot, navbill_home):
    from app.ui.application import open_session
    from app.ui.main_window import MainWindow
    from app.ui.service_host import ServiceHost

    session = open_session(navbill_home, demo=True)
    window = MainWindow(session.backend, profile_name=session.profile.name)
    # Not qtbot.addWidget: pytest-qt deletes those before fixture teardown, and the service (owned by
    # the window) must be stopped first.
    host = ServiceHost(session, window, first_sync=True)
    window.show()
    with qtbot.waitSignal(window.sync_finished, timeout=180_000) as first:  # the demo's start-up sync
        with qtbot.waitSignal(host.started, timeout=60_000):
            assert host.start()
    assert first.args[0].ok, first.args[0].summary
    qtbot.waitUntil(lambda: window.invoices_tab.model.rowCount() > 0, timeout=30_000)  # the reload after it
    yield window, session, host
    close_window(qtbot, window, session, host)


def row_of(window, nav_number):
    return next((r for r in window.vendors_tab.model.rows() if r.nav_number == nav_number), None)


def test_a_nav_vendor_edit_reaches_bill_by_webhook_without_a_click(qtbot, service_window):
    window, session, host = service_window
    qtbot.waitUntil(lambda: window.nav_mode_label.text() == "NAV: push", timeout=60_000)
    assert window.nav_mode_label.toolTip()
    assert window.subscription_label.text().startswith("Subscription until")
    qtbot.waitUntil(lambda: row_of(window, "V00050") is not None
                    and row_of(window, "V00050").state == VendorState.LINKED, timeout=30_000)

    response = requests.post(f"{session.sandboxes.nav_url}/_sandbox/vendors/V00050", json={"Phone_No": "555-0100"},
                             timeout=30)
    assert response.ok, response.text

    def arrived() -> bool:
        row = row_of(window, "V00050")
        return row is not None and row.nav_fields.get("phone") == "555-0100" \
            and row.bill_fields.get("phone") == "555-0100"

    qtbot.waitUntil(arrived, timeout=60_000)  # nobody clicked anything: the NAV webhook did it
    assert host.built.service.nav_receiver.accepted >= 1


def test_status_bar_and_tray_show_schedule_and_modes(qtbot, service_window):
    from app.ui.tray import TrayController

    window, session, host = service_window
    tray = TrayController(window)
    qtbot.waitUntil(lambda: window.bill_mode_label.text() in ("BILL: push", "BILL: polling"), timeout=60_000)
    assert window.next_sync_label.text().startswith("Next sync: ") and "not scheduled" not in \
        window.next_sync_label.text()
    assert "NAV:" in tray.tooltip and "Next sync:" in tray.tooltip

    window.set_paused(True)
    assert host.built.service.scheduler.schedule.mode == "manual"
    assert window.next_sync_label.text() == "Next sync: paused"
    assert "Next sync: paused" in tray.tooltip
    window.set_paused(False)
    assert host.built.service.scheduler.schedule.mode == "interval"


def test_sync_now_runs_on_the_service_and_a_second_click_queues_one_follow_up(qtbot, service_window):
    window, session, host = service_window
    scheduler = host.built.service.scheduler
    before = scheduler.runs_completed
    with qtbot.waitSignal(window.sync_finished, timeout=120_000) as finished:
        window.sync_action.trigger()
        window.sync_action.trigger()  # while the first is queued or running: merged into one follow-up
        window.sync_action.trigger()
    assert finished.args[0].ok, finished.args[0].summary
    qtbot.waitUntil(lambda: scheduler.runs_completed >= before + 1 and not scheduler.busy
                    and scheduler.pending == (None, 0), timeout=120_000)
    assert scheduler.runs_completed - before <= 2


def test_settings_change_restarts_the_service_with_polling_only(qtbot, service_window):
    window, session, host = service_window
    values = dict(session.store.get_setting("push"))
    values.update(push_enabled=False, schedule="daily 07:15")
    session.store.set_setting("push", values)
    with qtbot.waitSignal(host.started, timeout=60_000):
        host.restart()
    service = host.built.service
    assert service.listener is None
    assert service.scheduler.schedule.describe() == "daily at 07:15"
    qtbot.waitUntil(lambda: window.nav_mode_label.text() == "NAV: polling", timeout=10_000)
    assert "turned off" in window.nav_mode_label.toolTip()


def test_quit_stops_the_service_first(qtbot, service_window):
    window, session, host = service_window
    scheduler = host.built.service.scheduler
    with qtbot.waitSignal(host.stopped, timeout=60_000):
        window.quit_app()
    assert not host.running and not scheduler.running
    assert window.service_bridge is None


def test_fix_a_dimension_value_in_the_ui_then_the_held_invoice_goes_to_bill(qtbot, service_window):
    window, session, host = service_window
    held = [r for r in window.invoices_tab.model.rows() if r.hold_reason == HoldReason.UNMAPPED_DIMENSION]
    assert held, [r.reason_text for r in window.invoices_tab.model.rows() if r.held]
    invoice = next(r for r in held if r.dimension == ("PROJECT", "P-1003"))
    assert "has no BILL classification" in invoice.reason_text

    window.tabs.setCurrentWidget(window.invoices_tab)
    assert window.invoices_tab.select_where(lambda r: r.nav_number == invoice.nav_number)
    assert window.invoices_tab.fix_button.isEnabled()
    window.invoices_tab.fix_button.click()
    mappings = window.mappings_tab
    assert window.tabs.currentWidget() is mappings
    selected = mappings.selected_dimension_rows()
    assert [(r.dimension_code, r.value_code) for r in selected] == [("PROJECT", "P-1003")]
    assert selected[0].required and not selected[0].mapped

    choices = mappings.classification_delegate.choices
    target = next(c for c in choices if c.label.startswith("Class: "))
    index = mappings.dimension_proxy.mapToSource(mappings.dimension_view.selectionModel().selectedRows()[0])
    cell = index.siblingAtColumn(3)
    with qtbot.waitSignal(window.command_finished, timeout=10_000) as done:
        assert mappings.dimension_model.setData(cell, target.id)  # what the combo delegate does
    assert done.args[1], window.banner.label.text()

    def mapped():  # other reloads (webhooks) may land first: wait for the one after the command
        row = next(r for r in mappings.dimension_model.rows() if (r.dimension_code, r.value_code) == ("PROJECT",
                                                                                                       "P-1003"))
        return row.classification_id == target.id and row.source == "user"

    qtbot.waitUntil(mapped, timeout=10_000)

    with qtbot.waitSignal(window.sync_finished, timeout=120_000) as finished:
        window.sync_action.trigger()
    assert finished.args[0].ok, finished.args[0].summary
    qtbot.waitUntil(lambda: any(r.nav_number == invoice.nav_number and r.bill_id
                                for r in window.invoices_tab.model.rows()), timeout=30_000)


def test_crash_handler_logs_critical_redacted_and_the_dialog_copies(qtbot, caplog):
    from PySide6.QtWidgets import QApplication

    from app.log import register_secret
    from app.ui.crash import CrashDialog, CrashHandler

    register_secret("hunter2-very-secret")
    handler = CrashHandler(show_dialog=False)
    try:
        raise ValueError("login failed for password hunter2-very-secret")
    except ValueError as error:
        handler(type(error), error, error.__traceback__)
    assert "hunter2-very-secret" not in handler.last_report
    assert "ValueError" in handler.last_report and "NavBill" in handler.last_report
    assert any(r.levelname == "CRITICAL" and "hunter2" not in r.getMessage() for r in caplog.records)
    dialog = CrashDialog(handler.last_report)
    qtbot.addWidget(dialog)
    dialog.copy_button.click()
    assert QApplication.clipboard().text() == handler.last_report


def test_screenshots_of_every_tab_after_a_demo_sync(qtbot, service_window, tmp_path):
    """Every tab renders to a picture that is not blank (into tmp_path: the README's screenshots in
    docs/screenshots come only from `python -m app.ui.screenshots`, run on purpose)."""
    from app.ui.screenshots import is_blank

    window, session, host = service_window
    SCREENSHOTS = tmp_path / "screenshots"
    qtbot.waitUntil(lambda: window.nav_mode_label.text() == "NAV: push"
                    and window.bill_mode_label.text() in ("BILL: push", "BILL: polling"), timeout=60_000)
    qtbot.waitUntil(lambda: "not scheduled" not in window.next_sync_label.text(), timeout=10_000)
    window.resize(1400, 820)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    scheduler = host.built.service.scheduler
    # Quiet first: a reload landing between selecting a row and the grab would clear the selection.
    qtbot.waitUntil(lambda: not scheduler.busy and scheduler.pending == (None, 0) and not window.tasks.busy,
                    timeout=60_000)

    def shoot(name: str) -> None:
        QApplication.processEvents()  # pending layouts first, so labels have their final size
        path = SCREENSHOTS / f"{name}.png"
        image = window.grab().toImage()
        assert not is_blank(image), name
        assert image.save(str(path))
        assert path.stat().st_size > 10_000

    window.tabs.setCurrentWidget(window.vendors_tab)
    assert window.vendors_tab.select_where(lambda r: r.state == VendorState.CONFLICT) or \
        window.vendors_tab.select_where(lambda r: r.state == VendorState.PROPOSED)
    shoot("main-window")
    shoot("vendors")
    window.tabs.setCurrentWidget(window.invoices_tab)
    window.invoices_tab.select_where(lambda r: r.hold_reason == HoldReason.UNMAPPED_DIMENSION)
    shoot("pending-invoices")
    window.tabs.setCurrentWidget(window.payments_tab)
    shoot("payments")
    window.tabs.setCurrentWidget(window.failures_tab)
    shoot("failed-postings")
    window.show_dimension_mapping("PROJECT", "P-1003")
    shoot("mappings")
    window.tabs.setCurrentWidget(window.activity_tab)
    shoot("activity")


def test_preview_runs_as_a_dry_run_on_the_services_scheduler(qtbot, service_window):
    window, session, host = service_window
    scheduler = host.built.service.scheduler
    started = []
    scheduler.on_run_started(lambda kind, description: started.append((kind, description)))
    # Polls may finish runs meanwhile (the preview then waits for them): wait for the preview's outcome.
    with qtbot.waitSignal(window.sync_finished, timeout=120_000, check_params_cb=lambda o: o.dry_run) as finished:
        assert window.start_sync(dry_run=True)
    outcome = finished.args[0]
    assert outcome.ok, outcome.summary
    assert ("targeted", "preview") in started
    assert any(run.dry_run for run in session.store.runs(limit=10))



def test_a_task_that_ends_as_its_window_goes_finishes_without_an_error(qtbot):
    """A task ends just as its window closes: its 'finished' is still queued when the task runner is deleted.
    Delivered afterwards it reaches nobody, and no 'Signal source has been deleted' escapes into the event loop
    (pytest-qt fails the test if one does)."""
    import shiboken6

    from app.ui.workers import TaskRunner

    runner = TaskRunner()
    runner.start("ends as its window goes", lambda _context: None)
    assert runner._pool.waitForDone(5_000)  # the task has ended; its signals wait in the event queue
    shiboken6.delete(runner)  # as a closed window's children go
    qtbot.wait(100)  # the queued signals are delivered now
