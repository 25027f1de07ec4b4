"""What a clerk met walking the window on the demo company: each test clicks and types on the real widgets."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.ui.table_model import ROW_ROLE
from tests.gui.conftest import seed_store

ITEM_LINE = ("line 20000: is an Item 1100 line, not a G/L account line; BILL needs a chart-of-accounts entry, so post "
             "such costs to a G/L account or enter this bill in BILL by hand")


@pytest.fixture
def walk_window(qtbot, store):
    """The seeded window plus an invoice held for an Item line (as the demo's 108005 is)."""
    from app.store import schema as t
    from app.ui.main_window import MainWindow
    from app.ui.store_backend import StoreBackend

    seed_store(store)
    with store.session() as s:
        s.add(t.InvoiceLink(nav_number="108005", vendor_number="V00010", vendor_invoice_number="INV-00030-01",
                            state="held", amount=Decimal("730.50"), posting_date=date(2026, 9, 8),
                            document_date=date(2026, 9, 8), due_date=date(2026, 10, 8)))
        s.add(t.QueueItem(kind="invoice", record_key="108005", reason=ITEM_LINE))
    window = MainWindow(StoreBackend(store))
    qtbot.addWidget(window)
    window.resize(1280, 780)
    window.show()
    qtbot.waitExposed(window)
    with qtbot.waitSignal(window.refreshed, timeout=10_000):
        window.refresh()
    yield window
    window.shutdown()


def click_row(tab_view, proxy, predicate) -> None:
    """Click the first row matching ``predicate`` with the mouse (as a clerk picks a row)."""
    for number in range(proxy.rowCount()):
        index = proxy.index(number, 0)
        if predicate(index.data(ROW_ROLE)):
            tab_view.scrollTo(index)
            QTest.mouseClick(tab_view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                             tab_view.visualRect(index).center())
            return
    raise AssertionError("no such row")


def test_fix_is_offered_only_where_there_is_something_to_map_or_link(qtbot, walk_window):
    """An invoice held for an Item line has no account to map and no vendor to link: Fix… stays grey (it used to
    open Mappings with "G/L account  is not in the mapping list yet; run a sync first"), the reason says what to do.
    """
    window = walk_window
    invoices = window.invoices_tab
    window.tabs.setCurrentWidget(invoices)
    click_row(invoices.view, invoices.proxy, lambda r: r.nav_number == "108005")
    assert invoices.current_row().nav_number == "108005"
    assert not invoices.fix_button.isEnabled()
    assert invoices.retry_button.isEnabled() and invoices.skip_button.isEnabled()
    QTest.mouseDClick(invoices.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                      invoices.view.visualRect(invoices.view.selectionModel().selectedRows()[0]).center())
    assert window.tabs.currentWidget() is invoices and not window.banner.isVisible()

    # An account to map still offers Fix…, and it lands on that account.
    click_row(invoices.view, invoices.proxy, lambda r: r.nav_number == "PI-1003")
    assert invoices.fix_button.isEnabled()
    QTest.mouseClick(invoices.fix_button, Qt.MouseButton.LeftButton)
    assert window.tabs.currentWidget() is window.mappings_tab
    assert window.mappings_tab.current_row().nav_account == "6150"

    failures = window.failures_tab
    window.tabs.setCurrentWidget(failures)
    click_row(failures.view, failures.proxy, lambda r: r.record == "108005")
    assert not failures.fix_button.isEnabled()
    assert "enter this bill in BILL by hand" in failures.detail.text()
