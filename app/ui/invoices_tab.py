"""Pending invoices: posted NAV invoices waiting to go to BILL, or held with the reason and a way to fix it."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox

from app.ui.base_tab import TableTab
from app.ui.rows import HoldReason, PendingInvoiceRow, money
from app.ui.table_model import ATTENTION, Column

INVOICE_COLUMNS = [
    Column[PendingInvoiceRow]("Invoice", lambda r: r.nav_number, width=90),
    Column[PendingInvoiceRow]("Vendor", lambda r: r.vendor_name or r.vendor_number,
                              tooltip=lambda r: f"NAV vendor {r.vendor_number}", width=220),
    Column[PendingInvoiceRow]("Vendor invoice", lambda r: r.vendor_invoice_number, width=110),
    # The values are dates (not text), so the table sorts these columns by date; blank on links recorded
    # before the store kept dates.
    Column[PendingInvoiceRow]("Posting date", lambda r: r.posting_date, width=90),
    Column[PendingInvoiceRow]("Due date", lambda r: r.due_date, width=90),
    Column[PendingInvoiceRow]("Amount", lambda r: r.amount, text=lambda r: money(r.amount, r.currency), numeric=True,
                              width=120),
    Column[PendingInvoiceRow]("Status", lambda r: r.status_text,
                              background=lambda r: ATTENTION if r.held else None, bold=lambda r: r.held, width=70),
    Column[PendingInvoiceRow]("Reason", lambda r: r.reason_text or r.hold_reason.value,
                              tooltip=lambda r: r.reason_text or r.hold_reason.value,
                              background=lambda r: ATTENTION if r.held else None),
]


class InvoicesTab(TableTab):
    title = "Pending invoices"
    hint = ("Posted NAV invoices that have not reached BILL yet. Held invoices say why; "
            "“Fix…” takes you to the vendor to link, or the account or dimension value to map, and the next sync "
            "sends them.")
    fix_vendor_requested = Signal(str)  # NAV vendor number
    fix_account_requested = Signal(str)  # NAV G/L account number
    fix_dimension_requested = Signal(str, str)  # NAV dimension code, value code

    def __init__(self, commands, parent=None) -> None:
        super().__init__(commands, INVOICE_COLUMNS, parent)
        self.fix_button = self.add_button("F&ix…", self.fix_selected,
                                          "Link the vendor, or map the account or dimension value, that holds this invoice")
        self.retry_button = self.add_button("&Retry now", self.retry_selected,
                                            "Send the selected held invoices to BILL now (after fixing the cause)")
        self.skip_button = self.add_button("&Skip…", self.skip_selected,
                                           "Stop trying this invoice; you are asked why (kept in the audit log)")
        self.view.doubleClicked.connect(lambda *_: self.fix_selected())
        self.show_filter = QComboBox(self)
        self.show_filter.addItem("Held or waiting", "pending")
        self.show_filter.addItem("All invoices", "all")
        self.show_filter.addItem("Already in BILL", "sent")
        self.show_filter.currentIndexChanged.connect(self._filter_status)
        self.actions_row.insertWidget(0, self.show_filter)
        # The whole reason and the next step for the selected invoice (the Reason cell shows only its start).
        self.detail = self.add_detail_pane("Selected invoice", self.NOTHING_SELECTED)
        self._filter_status()
        self.update_actions()

    NOTHING_SELECTED = "Select an invoice to read the whole reason and what to do."

    @staticmethod
    def detail_text(row: PendingInvoiceRow) -> str:
        """The invoice (number, vendor, amount with currency), where it stands, and the next step."""
        when = f" · posted {row.posting_date.isoformat()}" if row.posting_date else ""
        head = f"{row.label}{when}"
        if not row.held:
            return f"{head}\n" + (f"In BILL as bill {row.bill_id}." if row.bill_id else "Waiting: the next sync sends it.")
        vendor = f"“{row.vendor_name}” ({row.vendor_number})" if row.vendor_name else f"vendor {row.vendor_number}"
        steps = {
            HoldReason.UNLINKED_VENDOR: f"Link NAV vendor {vendor} to its BILL vendor: Fix… opens it in Vendors.",
            HoldReason.UNMAPPED_ACCOUNT: (f"Map G/L account {row.gl_account} to a BILL account: Fix… opens it in "
                                         "Mappings." if row.gl_account else "Map the account in Mappings."),
            HoldReason.UNMAPPED_DIMENSION: (f"Choose a BILL classification for {' '.join(row.dimension)}: Fix… opens "
                                            "it in Mappings." if row.dimension else "Map the dimension value in "
                                            "Mappings."),
        }
        step = steps.get(row.hold_reason)
        todo = (f"{step} The next sync sends the invoice (or Retry now)." if step else
                "Do what the reason says, then Retry now; Skip… it (with a note) if you enter it in BILL by hand.")
        return f"{head}\nHeld: {row.reason_text or 'no reason recorded'}\n\nWhat to do: {todo}"

    def _filter_status(self) -> None:
        choice = self.show_filter.currentData()
        predicates = {"pending": lambda r: not r.bill_id, "sent": lambda r: bool(r.bill_id), "all": None}
        self.proxy.set_predicate(predicates[choice])

    def count_text(self, rows) -> str:
        held = sum(1 for r in rows if r.held)
        return f"{len(rows):,} invoices · {held} held"

    def update_actions(self) -> None:
        row: PendingInvoiceRow | None = self.current_row()
        if hasattr(self, "skip_button"):
            held = [r for r in self.selected_rows() if r.held and r.item_id]
            self.retry_button.setEnabled(bool(held))
            self.skip_button.setEnabled(bool(held))
        if hasattr(self, "fix_button"):
            self.fix_button.setEnabled(bool(row and row.held and row.hold_reason in (
                HoldReason.UNLINKED_VENDOR, HoldReason.UNMAPPED_ACCOUNT, HoldReason.UNMAPPED_DIMENSION)))
        if hasattr(self, "detail"):
            self.detail.setText(self.detail_text(row) if row is not None else self.NOTHING_SELECTED)

    def fix_selected(self) -> None:
        row: PendingInvoiceRow | None = self.current_row()
        if row is None or not row.held:
            return
        if row.hold_reason == HoldReason.UNLINKED_VENDOR:
            self.fix_vendor_requested.emit(row.vendor_number)
        elif row.hold_reason == HoldReason.UNMAPPED_ACCOUNT:
            self.fix_account_requested.emit(row.gl_account)
        elif row.hold_reason == HoldReason.UNMAPPED_DIMENSION and row.dimension:
            self.fix_dimension_requested.emit(*row.dimension)

    def retry_selected(self) -> None:
        rows = [r for r in self.selected_rows() if r.held and r.item_id]
        if rows:
            self.commands.retry_now(rows)

    def skip_selected(self) -> None:
        from PySide6.QtWidgets import QDialog

        from app.ui.failures_tab import SkipDialog

        rows = [r for r in self.selected_rows() if r.held and r.item_id]
        if not rows:
            return
        dialog = SkipDialog(rows, self)
        if dialog.exec() != QDialog.DialogCode.Accepted or not dialog.note_text():
            return
        note, ids = dialog.note_text(), [r.item_id for r in rows]
        self.commands.run_command(f"Skip {rows[0].label}", lambda b: [b.skip(i, note) for i in ids])
