"""Payments: BILL payments waiting to post to NAV, and those posted with the NAV document numbers made."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox

from app.ui.base_tab import TableTab
from app.ui.rows import PaymentRow, money
from app.ui.table_model import GOOD, Column

PAYMENT_COLUMNS = [
    Column[PaymentRow]("BILL payment", lambda r: r.bill_payment_id, width=170),
    Column[PaymentRow]("Vendor", lambda r: r.vendor_name, width=220),
    Column[PaymentRow]("Amount", lambda r: r.amount, text=lambda r: money(r.amount), numeric=True, width=120),
    # The day the connector posted it to NAV (the store keeps no BILL process date): never called "Paid on".
    Column[PaymentRow]("Posted to NAV on", lambda r: r.process_date, width=120,
                       tooltip=lambda r: "The day the connector posted this payment to NAV (blank while it waits)"),
    Column[PaymentRow]("Status", lambda r: "Posted to NAV" if r.posted else "Waiting",
                       background=lambda r: GOOD if r.posted else None, width=110),
    Column[PaymentRow]("NAV document", lambda r: r.nav_document_numbers, bold=lambda r: r.posted, width=130),
    Column[PaymentRow]("Applies to invoice", lambda r: r.applies_to, width=140),
    Column[PaymentRow]("Note", lambda r: r.note),
]


class PaymentsTab(TableTab):
    title = "Payments"
    hint = ("Payments made in BILL. Settled payments are posted to NAV as payment journal lines applied to the "
            "invoice; the NAV document number is shown once posted.")

    def __init__(self, commands, parent=None) -> None:
        super().__init__(commands, PAYMENT_COLUMNS, parent)
        self.status_filter = QComboBox(self)
        self.status_filter.addItem("All payments", None)
        self.status_filter.addItem("Waiting", False)
        self.status_filter.addItem("Posted to NAV", True)
        self.status_filter.currentIndexChanged.connect(self._filter_status)
        self.actions_row.addWidget(self.status_filter)

    def _filter_status(self) -> None:
        posted = self.status_filter.currentData()
        self.proxy.set_predicate(None if posted is None else (lambda row: row.posted == posted))

    def count_text(self, rows) -> str:
        posted = sum(1 for r in rows if r.posted)
        return f"{len(rows) - posted:,} waiting · {posted:,} posted"
