"""Mappings: NAV G/L account (+ dimensions) → BILL chart of accounts, and NAV dimension values → BILL
classifications, with suggestions.

The BILL account and classification columns are edited with a combo box. Choosing one does not change
the row in place: it sends a command, and the refreshed rows come back from the store.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QStyledItemDelegate,
    QVBoxLayout,
)

from app.ui.base_tab import TableTab, fit_columns, make_table
from app.ui.rows import BillAccountChoice, ClassificationChoice, DimensionMappingRow, MappingRow
from app.ui.table_model import ATTENTION, GOOD, HIGHLIGHT, ROW_ROLE, Column, RowTableModel

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


CLASSIFICATION_COLUMN = 3


def _dimension_state(row: DimensionMappingRow):
    if row.mapped:
        return GOOD
    return ATTENTION if row.required else None


DIMENSION_COLUMNS = [
    Column[DimensionMappingRow]("Dimension", lambda r: r.dimension_code, width=110),
    Column[DimensionMappingRow]("Value", lambda r: r.value_code, width=90),
    Column[DimensionMappingRow]("Value name", lambda r: r.value_name, width=200),
    Column[DimensionMappingRow]("BILL classification", lambda r: r.classification_label or (
        "— not mapped —" if r.required else "— not sent —"), background=_dimension_state,
        bold=lambda r: r.required and not r.mapped,
        tooltip=lambda r: "Double-click to choose the BILL classification" + (
            "" if r.mapped or not r.required else
            ": invoice lines with this value wait until it is mapped"), width=260),
    Column[DimensionMappingRow]("Chosen by", lambda r: {"user": "you", "suggested": "suggested"}.get(r.source,
                                                                                                  r.source),
                                background=lambda r: HIGHLIGHT if r.awaiting_confirmation else None, width=80),
    Column[DimensionMappingRow]("Suggestion", lambda r: r.suggested_label or (
        r.classification_label if r.source == "suggested" else ""),
        background=lambda r: HIGHLIGHT if r.awaiting_confirmation else None, width=220),
    Column[DimensionMappingRow]("Why suggested", lambda r: r.suggestion_reason),
]


class DimensionTableModel(RowTableModel[DimensionMappingRow]):
    classification_chosen = Signal(object, str)  # the row, the chosen classification id

    def flags(self, index):
        flags = super().flags(index)
        if index.column() == CLASSIFICATION_COLUMN:
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.EditRole and index.isValid():
            return self.row_at(index.row()).proposed_id
        return super().data(index, role)

    def setData(self, index, value, role=Qt.ItemDataRole.EditRole) -> bool:
        if index.column() != CLASSIFICATION_COLUMN or not value:
            return False
        row = self.row_at(index.row())
        if value != row.classification_id or row.source != "user":
            self.classification_chosen.emit(row, str(value))
        return True


class ClassificationDelegate(AccountDelegate):
    """A combo of BILL classifications ("Department: Production", "Class: Line 3 Retrofit", ...)."""


class MappingsTab(TableTab):
    title = "Mappings"
    hint = ("Where each NAV G/L account (and dimension combination) goes in BILL, and which BILL classification "
            "each NAV dimension value becomes. Double-click the BILL column to change it, or accept the "
            "suggestion. Invoices held for an unmapped account or dimension value go on the next sync.")

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
        self._build_dimension_table()
        self.update_actions()

    # --- dimension values → classifications -------------------------------------------------------
    def _build_dimension_table(self) -> None:
        self.dimension_model = DimensionTableModel(DIMENSION_COLUMNS, self)
        self.dimension_view, self.dimension_proxy = make_table(self.dimension_model, self)
        self.dimension_model.classification_chosen.connect(self._set_dimension_mapping)
        self.classification_delegate = ClassificationDelegate(self.dimension_view)
        self.dimension_view.setItemDelegateForColumn(CLASSIFICATION_COLUMN, self.classification_delegate)
        self.dimension_view.setEditTriggers(self.dimension_view.EditTrigger.DoubleClicked
                                            | self.dimension_view.EditTrigger.EditKeyPressed)
        self.dimension_view.selectionModel().selectionChanged.connect(lambda *_: self.update_actions())
        self.dimension_accept_button = QPushButton("Accept suggestion", self)
        self.dimension_accept_button.setToolTip("Map the selected values to the suggested BILL classifications")
        self.dimension_accept_button.clicked.connect(self.accept_selected_dimensions)
        self.dimension_remove_button = QPushButton("Don't send", self)
        self.dimension_remove_button.setToolTip("Remove the mapping of the selected values")
        self.dimension_remove_button.clicked.connect(self.remove_selected_dimensions)
        self.dimension_filter = QComboBox(self)
        self.dimension_filter.addItems(["All values", "Not mapped"])
        self.dimension_filter.currentIndexChanged.connect(
            lambda i: self.dimension_proxy.set_predicate((lambda r: not r.mapped) if i == 1 else None))
        self.dimension_filter_edit = QLineEdit(self)
        self.dimension_filter_edit.setPlaceholderText("Filter…")
        self.dimension_filter_edit.setClearButtonEnabled(True)
        self.dimension_filter_edit.textChanged.connect(self.dimension_proxy.set_text)
        self.dimension_count = QLabel(self)
        top = QHBoxLayout()
        for widget in (self.dimension_accept_button, self.dimension_remove_button, self.dimension_filter):
            top.addWidget(widget)
        top.addStretch(1)
        top.addWidget(self.dimension_count)
        top.addWidget(self.dimension_filter_edit)
        box = QGroupBox("Dimension values → BILL classifications", self)
        inner = QVBoxLayout(box)
        inner.addLayout(top)
        inner.addWidget(self.dimension_view, 1)
        accounts = QGroupBox("G/L accounts → BILL accounts", self)
        accounts_layout = QVBoxLayout(accounts)
        self.layout_.removeWidget(self.view)
        accounts_layout.addWidget(self.view)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.addWidget(accounts)
        self.splitter.addWidget(box)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.layout_.addWidget(self.splitter, 1)
        self._dimensions_fitted = False

    def set_classification_choices(self, choices: list[ClassificationChoice]) -> None:
        self.classification_delegate.choices = [BillAccountChoice(c.id, c.label) for c in choices]

    def set_dimension_rows(self, rows: list[DimensionMappingRow]) -> None:
        self.dimension_model.set_rows(rows)
        missing = sum(1 for r in rows if r.required and not r.mapped)
        self.dimension_count.setText(f"{len(rows):,} values · {missing} not mapped")
        if rows and not self._dimensions_fitted:
            fit_columns(self.dimension_view, DIMENSION_COLUMNS)
            self._dimensions_fitted = True
        self.update_actions()

    def selected_dimension_rows(self) -> list[DimensionMappingRow]:
        return [index.data(ROW_ROLE) for index in self.dimension_view.selectionModel().selectedRows()]

    def _set_dimension_mapping(self, row: DimensionMappingRow, classification_id: str) -> None:
        code, value = row.dimension_code, row.value_code
        self.commands.run_command(f"Map {code} {value}",
                                  lambda b: b.set_dimension_mapping(code, value, classification_id))

    def accept_selected_dimensions(self) -> None:
        chosen = [(r.dimension_code, r.value_code, r.proposed_id) for r in self.selected_dimension_rows()
                  if r.awaiting_confirmation]
        if chosen:
            self.commands.run_command(f"Accept {len(chosen)} classification suggestion(s)",
                                      lambda b: [b.set_dimension_mapping(*c) for c in chosen])

    def remove_selected_dimensions(self) -> None:
        chosen = [(r.dimension_code, r.value_code) for r in self.selected_dimension_rows() if r.mapped]
        if chosen:
            self.commands.run_command(f"Stop sending {len(chosen)} dimension value(s)",
                                      lambda b: [b.remove_dimension_mapping(*c) for c in chosen])

    def select_dimension(self, dimension_code: str, value_code: str) -> bool:
        self.dimension_filter_edit.clear()
        self.dimension_filter.setCurrentIndex(0)
        for proxy_row in range(self.dimension_proxy.rowCount()):
            index = self.dimension_proxy.index(proxy_row, 0)
            row = index.data(ROW_ROLE)
            if (row.dimension_code, row.value_code) == (dimension_code, value_code):
                self.dimension_view.selectRow(proxy_row)
                self.dimension_view.scrollTo(index, self.dimension_view.ScrollHint.PositionAtCenter)
                self.dimension_view.setFocus()
                return True
        return False

    def set_account_choices(self, choices: list[BillAccountChoice]) -> None:
        self.delegate.choices = list(choices)

    def count_text(self, rows) -> str:
        unmapped = sum(1 for r in rows if not r.mapped)
        return f"{len(rows):,} accounts · {unmapped} not mapped"

    def update_actions(self) -> None:
        if hasattr(self, "accept_button"):
            self.accept_button.setEnabled(any(r.awaiting_confirmation for r in self.selected_rows()))
        if hasattr(self, "dimension_remove_button"):
            rows = self.selected_dimension_rows()
            self.dimension_accept_button.setEnabled(any(r.awaiting_confirmation for r in rows))
            self.dimension_remove_button.setEnabled(any(r.mapped for r in rows))

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
