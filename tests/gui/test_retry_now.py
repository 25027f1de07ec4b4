"""Retry now really runs now: on the demo sandboxes, an invoice held for an unmapped dimension value goes to BILL
the moment the clerk clicks Retry now (after mapping the value), without waiting for the schedule."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.ui.rows import HoldReason
from tests.gui.conftest import close_window


@pytest.fixture
def synced_demo_window(qtbot, navbill_home):
    from app.ui.application import open_session
    from app.ui.main_window import MainWindow

    session = open_session(navbill_home, demo=True)
    window = MainWindow(session.backend, profile_name=session.profile.name)
    window.show()
    qtbot.waitExposed(window)
    toolbar = window.findChild(type(window.addToolBar("probe")), "sync-toolbar")
    with qtbot.waitSignal(window.refreshed, timeout=180_000):
        with qtbot.waitSignal(window.sync_finished, timeout=180_000) as first:
            qtbot.mouseClick(toolbar.widgetForAction(window.sync_action), Qt.MouseButton.LeftButton)
    assert first.args[0].ok, first.args[0].summary
    yield window, session
    close_window(qtbot, window, session)


def test_retry_now_sends_a_fixed_invoice_at_once(qtbot, synced_demo_window):
    window, session = synced_demo_window
    tab = window.failures_tab
    held = next(r for r in tab.model.rows() if r.hold_reason == HoldReason.UNMAPPED_DIMENSION)
    assert held.vendor and held.amount is not None and held.date is not None
    code, value = held.dimension
    # The fix (mapping the value) is the Mappings tab's business, tested there; here only its effect.
    choice = next(c for c in session.backend.classification_choices() if "class" in c.kind)
    for other in [r for r in tab.model.rows() if r.dimension == (code, value)]:
        assert other.hold_reason == HoldReason.UNMAPPED_DIMENSION
    session.backend.set_dimension_mapping(code, value, choice.id)

    window.tabs.setCurrentWidget(tab)
    assert tab.select_where(lambda r: r.item_id == held.item_id)
    with qtbot.waitSignal(window.sync_finished, timeout=120_000) as finished:
        qtbot.mouseClick(tab.retry_button, Qt.MouseButton.LeftButton)
    assert finished.args[0].ok, finished.args[0].summary
    qtbot.waitUntil(lambda: not any(r.item_id == held.item_id for r in tab.model.rows()), timeout=30_000)
    created = {i.nav_number for i in session.store.invoice_rows(state="created")}
    assert held.record in created
    runs = session.store.runs(limit=1)
    assert list(runs[0].flows) == ["invoices"]  # only the flow the item needed, not a whole sync
