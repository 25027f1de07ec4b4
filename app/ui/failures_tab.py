"""Failed postings: every failed or held item with the vendor, document, amount, date and the whole reason;
Fix… takes you to what holds it, Retry now runs its flow at once (on a worker), Skip… asks why and confirms."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
)

from app.ui.base_tab import TableTab
from app.ui.rows import FailedItemRow, HoldReason, money
from app.ui.table_model import ATTENTION, HIGHLIGHT, Column

FAILURE_COLUMNS = [
    Column[FailedItemRow]("Vendor", lambda r: r.vendor, tooltip=lambda r: r.vendor, width=240),
    Column[FailedItemRow]("Document", lambda r: r.document, tooltip=lambda r: r.document, width=270),
    Column[FailedItemRow]("Amount", lambda r: r.amount, numeric=True, width=120,
                          text=lambda r: money(r.amount, r.currency) if r.amount is not None else ""),
    Column[FailedItemRow]("Date", lambda r: r.date, width=90),
    Column[FailedItemRow]("State", lambda r: "Held" if r.held else "Failed",
                          background=lambda r: HIGHLIGHT if r.held else ATTENTION, width=55),
    Column[FailedItemRow]("Attempts", lambda r: r.attempts, numeric=True, width=65),
    Column[FailedItemRow]("What went wrong", lambda r: r.error, tooltip=lambda r: r.error),
]

FIXABLE = (HoldReason.UNLINKED_VENDOR, HoldReason.UNMAPPED_ACCOUNT, HoldReason.UNMAPPED_DIMENSION)


class SkipDialog(QDialog):
    """Why skip, and an explicit confirmation naming the record(s): the Skip button stays grey until a note."""

    def __init__(self, rows: list[FailedItemRow], parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Skip — stop trying")
        first = rows[0]
        more = f" and {len(rows) - 1} more item(s)" if len(rows) > 1 else ""
        self.question = QLabel(f"Stop trying {first.label}{more}?\n\nThe connector will not send it again. Say why "
                               "(e.g. “paid by cheque outside BILL”); the note goes to the audit log.", self)
        self.question.setWordWrap(True)
        self.note = QPlainTextEdit(self)
        self.note.setPlaceholderText("Why this item is skipped…")
        self.note.setTabChangesFocus(True)
        note_label = QLabel("&Note", self)
        note_label.setBuddy(self.note)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.skip_button = self.buttons.addButton(f"Skip {first.document or first.record}" + (more and " …"),
                                                  QDialogButtonBox.ButtonRole.AcceptRole)
        self.skip_button.setEnabled(False)
        self.note.textChanged.connect(lambda: self.skip_button.setEnabled(bool(self.note.toPlainText().strip())))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.question)
        layout.addWidget(note_label)
        layout.addWidget(self.note)
        layout.addWidget(self.buttons)
        self.note.setFocus()
        self.resize(520, 300)

    def note_text(self) -> str:
        return self.note.toPlainText().strip()


class FailuresTab(TableTab):
    title = "Failed postings"
    hint = ("Items that could not be written. Fix the cause (Fix… takes you there), then Retry now; "
            "skip an item you have handled by hand, with a note saying why.")
    fix_vendor_requested = Signal(str)
    fix_account_requested = Signal(str)
    fix_dimension_requested = Signal(str, str)

    def __init__(self, commands, parent=None) -> None:
        super().__init__(commands, FAILURE_COLUMNS, parent)
        self.fix_button = self.add_button("F&ix…", self.fix_selected,
                                          "Go to the vendor to link, or the account or dimension value to map")
        self.retry_button = self.add_button("&Retry now", self.retry_selected,
                                            "Send the selected items again now (their sync runs at once)")
        self.retry_all_button = self.add_button("Retry &all now", self.retry_all, "Send every failed item again now")
        self.skip_button = self.add_button("&Skip…", self.skip_selected,
                                           "Stop trying this item; you are asked why, and the note goes to the audit log")
        self.view.doubleClicked.connect(lambda *_: self.fix_selected())
        # The whole reason and what to do, for the selected item (the table cell shows the start of it).
        self.detail = self.add_detail_pane("Selected item", "Select an item to read the whole reason.")
        self.skip_dialog: SkipDialog | None = None
        self.update_actions()

    def count_text(self, rows) -> str:
        return f"{len(rows):,} items need attention" if rows else "Nothing failed"

    def update_actions(self) -> None:
        if not hasattr(self, "skip_button"):
            return
        rows = self.selected_rows()
        row: FailedItemRow | None = rows[0] if rows else None
        self.retry_button.setEnabled(bool(rows))
        self.skip_button.setEnabled(bool(rows))
        self.fix_button.setEnabled(bool(row and row.hold_reason in FIXABLE))
        self.retry_all_button.setEnabled(self.model.rowCount() > 0)
        if row is None:
            self.detail.setText("Select an item to read the whole reason.")
        else:
            when = f" · {row.date.isoformat()}" if row.date else ""
            state = "Held: it waits until the cause is fixed." if row.held else \
                "Failed: the next sync tries again by itself."
            self.detail.setText(f"{row.label}{when}\n{state} Attempts: {row.attempts}.\n\n{row.error}")

    def fix_selected(self) -> None:
        row: FailedItemRow | None = self.current_row()
        if row is None:
            return
        if row.hold_reason == HoldReason.UNLINKED_VENDOR and row.vendor_number:
            self.fix_vendor_requested.emit(row.vendor_number)
        elif row.hold_reason == HoldReason.UNMAPPED_ACCOUNT and row.gl_account:
            self.fix_account_requested.emit(row.gl_account)
        elif row.hold_reason == HoldReason.UNMAPPED_DIMENSION and row.dimension:
            self.fix_dimension_requested.emit(*row.dimension)

    def retry_selected(self) -> None:
        rows = self.selected_rows()
        if rows:
            self.commands.retry_now(rows)

    def retry_all(self) -> None:
        rows = self.model.rows()
        if rows:
            self.commands.retry_now(rows)

    def skip_selected(self) -> None:
        rows = self.selected_rows()
        if not rows:
            return
        dialog = SkipDialog(rows, self)
        self.skip_dialog = dialog
        try:
            if dialog.exec() != QDialog.DialogCode.Accepted or not dialog.note_text():
                return
            note = dialog.note_text()
        finally:
            self.skip_dialog = None
        ids = [row.item_id for row in rows]
        self.commands.run_command(f"Skip {rows[0].label}" + (f" and {len(rows) - 1} more" if len(rows) > 1 else ""),
                                  lambda b: [b.skip(i, note) for i in ids])
