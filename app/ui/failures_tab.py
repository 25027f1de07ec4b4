"""Failed postings: every failed or held item with its error in plain words; retry one or all, or skip."""

from __future__ import annotations

from PySide6.QtWidgets import QInputDialog

from app.ui.base_tab import TableTab
from app.ui.rows import FailedItemRow
from app.ui.table_model import ATTENTION, HIGHLIGHT, Column

FAILURE_COLUMNS = [
    Column[FailedItemRow]("Kind", lambda r: r.kind, width=80),
    Column[FailedItemRow]("Record", lambda r: r.record, width=200),
    Column[FailedItemRow]("State", lambda r: "Held" if r.held else "Failed",
                          background=lambda r: HIGHLIGHT if r.held else ATTENTION, width=70),
    Column[FailedItemRow]("Attempts", lambda r: r.attempts, numeric=True, width=70),
    Column[FailedItemRow]("Last attempt", lambda r: r.last_attempt, width=130),
    Column[FailedItemRow]("What went wrong", lambda r: r.error, tooltip=lambda r: r.error),
]


class FailuresTab(TableTab):
    title = "Failed postings"
    hint = ("Items that could not be written. Fix the cause (in NAV, BILL or here), then retry; "
            "skip an item you have handled by hand, with a note saying why.")

    def __init__(self, commands, parent=None) -> None:
        super().__init__(commands, FAILURE_COLUMNS, parent)
        self.retry_button = self.add_button("Retry", self.retry_selected, "Try the selected items again now")
        self.retry_all_button = self.add_button("Retry all", self.retry_all, "Try every failed item again now")
        self.skip_button = self.add_button("Skip…", self.skip_selected,
                                           "Stop trying this item; your note goes to the audit log")
        self.update_actions()

    def count_text(self, rows) -> str:
        return f"{len(rows):,} items need attention" if rows else "Nothing failed"

    def update_actions(self) -> None:
        if hasattr(self, "skip_button"):
            has_selection = bool(self.selected_rows())
            self.retry_button.setEnabled(has_selection)
            self.skip_button.setEnabled(has_selection)
            self.retry_all_button.setEnabled(self.model.rowCount() > 0)

    def retry_selected(self) -> None:
        ids = [row.item_id for row in self.selected_rows()]
        if ids:
            self.commands.run_command(f"Retry {len(ids)} item(s)", lambda b: [b.retry(i) for i in ids])

    def retry_all(self) -> None:
        self.commands.run_command("Retry all failed items", lambda b: b.retry_all())

    def skip_selected(self, note: str | None = None) -> None:
        rows = self.selected_rows()
        if not rows:
            return
        if note is None:
            note, ok = QInputDialog.getMultiLineText(
                self, "Skip item", f"Why skip {rows[0].record}" + (f" and {len(rows) - 1} more" if len(rows) > 1
                                                                    else "") + "? (kept in the audit log)")
            if not ok:
                return
        ids = [row.item_id for row in rows]
        self.commands.run_command(f"Skip {len(ids)} item(s)", lambda b: [b.skip(i, note) for i in ids])
