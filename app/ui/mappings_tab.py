"""Mappings: NAV G/L account (+ dimensions) → BILL chart of accounts, with suggestions.

The BILL account column is edited with a combo box. Choosing an account does not change the row in
place: it sends a ``set_mapping`` command, and the refreshed rows come back from the store.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QStyledItemDelegate

from app.ui.base_tab import TableTab
from app.ui.rows import BillAccountChoice, MappingRow
from app.ui.table_model import ATTENTION, GOOD, HIGHLIGHT, Column, RowTableModel

BILL_ACCOUNT_COLUMN = 3

MAPPING_COLUMNS = [
    Column[MappingRow]("NAV account", lambda r: r.nav_account, width=90),
    Column[MappingRow]("NAV account name", lambda r: r.nav_account_name, width=200),
    Column[MappingRow]("Dimensions", lambda r: r.dimensions_text or "(any)", width=170),
    Column[MappingRow]("BILL account", lambda r: r.bill_account_name or "— not mapped —",
                       background=lambda r: GOOD if r.mapped else ATTENTION, bold=lambda r: not r.mapped,
                       tooltip=lambda r: "Double-click to choose the BILL account", width=230),
    Column[MappingRow]("Classifications", lambda r: ", ".join(f"{k}: {v}" for k, v in r.classifications.items()),
                       width=170),
    Column[MappingRow]("Chosen by", lambda r: {"user": "you", "suggested": "suggested"}.get(r.source, r.source),
                       background=lambda r: HIGHLIGHT if r.awaiting_confirmation else None, width=80),
    Column[MappingRow]("Suggestion", lambda r: r.suggested_account_name or (
        r.bill_account_name if r.source == "suggested" else ""),
        background=lambda r: HIGHLIGHT if r.awaiting_confirmation else None, width=200),
    Column[MappingRow]("Why suggested", lambda r: r.suggestion_reason),
]


class MappingTableModel(RowTableModel[MappingRow]):
    mapping_chosen = Signal(object, str)  # the row, the chosen BILL account id

    def flags(self, index):
        flags = super().flags(index)
        if index.column() == BILL_ACCOUNT_COLUMN:
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.EditRole and index.isValid():
            row = self.row_at(index.row())
            return row.proposed_account_id
        return super().data(index, role)

    def setData(self, index, value, role=Qt.ItemDataRole.EditRole) -> bool:
        if index.column() != BILL_ACCOUNT_COLUMN or not value:
            return False
        row = self.row_at(index.row())
        if value != row.bill_account_id or row.source != "user":
            self.mapping_chosen.emit(row, str(value))
        return True


class AccountDelegate(QStyledItemDelegate):
    """A combo of BILL accounts; the suggested one is listed first."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.choices: list[BillAccountChoice] = []

    def createEditor(self, parent, option, index):
        editor = QComboBox(parent)
        for choice in self.choices:
            editor.addItem(choice.label, choice.id)
        return editor

    def setEditorData(self, editor, index):
        found = editor.findData(index.data(Qt.ItemDataRole.EditRole))
        editor.setCurrentIndex(max(found, 0))

    def setModelData(self, editor, model, index):
        model.setData(index, editor.currentData())


class MappingsTab(TableTab):
    title = "Mappings"
    hint = ("Where each NAV G/L account (and dimension combination) goes in BILL. Double-click the BILL account "
            "to change it, or accept the suggestion. Invoices held for an unmapped account go on the next sync.")

    def __init__(self, commands, parent=None) -> None:
        super().__init__(commands, MAPPING_COLUMNS, parent)
        # Swap in the editable model (same columns) before anything is shown.
        self.model = MappingTableModel(MAPPING_COLUMNS, self)
        self.proxy.setSourceModel(self.model)
        self.view.selectionModel().selectionChanged.connect(lambda *_: self.update_actions())
        self.model.mapping_chosen.connect(self._set_mapping)
        self.delegate = AccountDelegate(self.view)
        self.view.setItemDelegateForColumn(BILL_ACCOUNT_COLUMN, self.delegate)
        self.view.setEditTriggers(self.view.EditTrigger.DoubleClicked | self.view.EditTrigger.EditKeyPressed)
        self.accept_button = self.add_button("Accept suggestion", self.accept_selected,
                                             "Map the selected accounts to the suggested BILL accounts")
        self.unmapped_only = QComboBox(self)
        self.unmapped_only.addItems(["All accounts", "Not mapped"])
        self.unmapped_only.currentIndexChanged.connect(
            lambda i: self.proxy.set_predicate((lambda r: not r.mapped) if i == 1 else None))
        self.actions_row.addWidget(self.unmapped_only)
        self.update_actions()

    def set_account_choices(self, choices: list[BillAccountChoice]) -> None:
        self.delegate.choices = list(choices)

    def count_text(self, rows) -> str:
        unmapped = sum(1 for r in rows if not r.mapped)
        return f"{len(rows):,} accounts · {unmapped} not mapped"

    def update_actions(self) -> None:
        if hasattr(self, "accept_button"):
            self.accept_button.setEnabled(any(r.awaiting_confirmation for r in self.selected_rows()))

    def _set_mapping(self, row: MappingRow, bill_account_id: str) -> None:
        account, dimensions = row.nav_account, dict(row.dimensions)
        self.commands.run_command(f"Map {account} to {bill_account_id}",
                                  lambda b: b.set_mapping(account, dimensions, bill_account_id))

    def accept_selected(self) -> None:
        chosen = [(r.nav_account, dict(r.dimensions), r.proposed_account_id) for r in self.selected_rows()
                  if r.awaiting_confirmation]
        if chosen:
            self.commands.run_command(f"Accept {len(chosen)} suggestion(s)",
                                      lambda b: [b.set_mapping(*c) for c in chosen])

    def select_account(self, nav_account: str) -> bool:
        self.filter_edit.clear()
        self.unmapped_only.setCurrentIndex(0)
        return self.select_where(lambda r: r.nav_account == nav_account)
