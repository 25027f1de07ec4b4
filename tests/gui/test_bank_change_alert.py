"""A vendor's bank account changes in BILL between two clicks on Sync now (demo, Business Central sandbox): the
window raises it at once, the tray's sentence names it, and Failed postings shows the row (the queue's bank-detail
item; the numbers themselves are nowhere)."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.gui.conftest import click_sync_now, demo_window


def test_bank_change_reaches_the_tray_and_failed_postings(qtbot, navbill_home):
    from PySide6.QtWidgets import QToolBar

    session, window = demo_window(qtbot, navbill_home)
    sync_button = window.findChild(QToolBar, "sync-toolbar").widgetForAction(window.sync_action)
    try:
        click_sync_now(qtbot, window)
        row = next(iter(session.store.invoice_rows(state="created")))
        vendor_id = session.sandboxes.bill.bills[row.bill_id]["vendorId"]
        session.sandboxes.bill.set_vendor_bank_account(vendor_id, {
            "nameOnAccount": "Remit To", "accountNumber": "123456789012", "routingNumber": "021000021"})
        with qtbot.waitSignal(window.attention_needed, timeout=120_000) as alert:
            qtbot.mouseClick(sync_button, Qt.MouseButton.LeftButton)
        assert "1 vendor bank-detail change(s) in BILL to confirm" in alert.args[0]
        failures = window.failures_tab
        shown = [failures.model.index(r, c).data(Qt.ItemDataRole.DisplayRole)
                 for r in range(failures.model.rowCount()) for c in range(failures.model.columnCount())]
        assert f"Bank details of BILL vendor {vendor_id}" in shown
        assert not any("123456789012" in str(text) or "9012" in str(text) for text in shown)
    finally:
        window.shutdown()
        session.close()
