"""50,000 rows: the models answer from a plain list; no widget per row or cell is ever created."""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from app.ui.base_tab import make_table
from app.ui.invoices_tab import INVOICE_COLUMNS
from app.ui.rows import HoldReason, PendingInvoiceRow, VendorDiffRow, VendorState
from app.ui.table_model import ROW_ROLE, RowTableModel
from app.ui.vendors_tab import VENDOR_COLUMNS

ROWS = 50_000


def vendor_rows(count: int) -> list[VendorDiffRow]:
    states = list(VendorState)
    return [VendorDiffRow(states[i % len(states)], f"V{i:06d}", f"009{i:012d}", {"name": f"Vendor {i}"},
                          {"name": f"Vendor {i}" if i % 7 else f"Vendor {i} Inc"}) for i in range(count)]


def test_vendor_model_with_50000_rows(qtbot):
    parent = QWidget()
    qtbot.addWidget(parent)
    model = RowTableModel(VENDOR_COLUMNS, parent)
    model.set_rows(vendor_rows(ROWS))
    view, proxy = make_table(model, parent)
    widgets_before = len(parent.findChildren(QWidget))
    assert model.rowCount() == ROWS and proxy.rowCount() == ROWS
    assert model.columnCount() == len(VENDOR_COLUMNS)
    last = model.index(ROWS - 1, 1)
    assert last.data() == f"V{ROWS - 1:06d}"
    assert last.data(ROW_ROLE).nav_number == f"V{ROWS - 1:06d}"
    assert model.index(7, 2).data(Qt.ItemDataRole.BackgroundRole) is not None  # a name difference highlighted
    view.resize(900, 600)
    view.show()
    qtbot.waitExposed(view)
    view.scrollToBottom()
    assert len(parent.findChildren(QWidget)) == widgets_before  # painting rows makes no widgets

    proxy.set_text("Vendor 4999")
    assert 0 < proxy.rowCount() < ROWS
    proxy.set_text("")
    proxy.set_predicate(lambda row: row.state == VendorState.CONFLICT)
    assert proxy.rowCount() == ROWS // len(VendorState)


def test_invoice_model_sorts_amounts_as_numbers(qtbot):
    parent = QWidget()
    qtbot.addWidget(parent)
    model = RowTableModel(INVOICE_COLUMNS, parent)
    model.set_rows([PendingInvoiceRow(f"PI{i}", "V1", "Vendor", f"X{i}", None, None, Decimal(i % 1000) + Decimal("0.5"),
                                      held=bool(i % 2), hold_reason=HoldReason.OTHER) for i in range(ROWS)])
    view, proxy = make_table(model, parent)
    amount_column = [c.header for c in INVOICE_COLUMNS].index("Amount")
    proxy.sort(amount_column, Qt.SortOrder.DescendingOrder)
    assert proxy.index(0, amount_column).data() == "999.50 USD"
    assert proxy.index(ROWS - 1, amount_column).data() == "0.50 USD"


def test_sort_order_survives_a_refill(qtbot):
    parent = QWidget()
    qtbot.addWidget(parent)
    model = RowTableModel(VENDOR_COLUMNS, parent)
    view, proxy = make_table(model, parent)
    model.set_rows(vendor_rows(30))
    view.sortByColumn(1, Qt.SortOrder.DescendingOrder)
    assert proxy.index(0, 1).data() == "V000029"
    model.set_rows(vendor_rows(40))
    assert proxy.index(0, 1).data() == "V000039"
