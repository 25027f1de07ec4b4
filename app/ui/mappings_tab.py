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
    QMessageBox,
    QPushButton,
    QSplitter,
    QStyledItemDelegate,
    QVBoxLayout,
)

from app.ui.base_tab import TableTab, fit_columns, make_table
from app.ui.rows import (
    BillAccountChoice,
    ClassificationChoice,
    DimensionMappingRow,
    MappingRow,
    account_mapping_warning,
    dimension_mapping_warning,
)
from app.ui.table_model import ATTENTION, GOOD, HIGHLIGHT, ROW_ROLE, Column, RowTableModel

BILL_ACCOUNT_COLUMN = 3

MAPPING_COLUMNS = [
    Column[MappingRow]("NAV account", lambda r: r.nav_account, width=90),
    Column[MappingRow]("NAV account name", lambda r: r.nav_account_name, width=200),
    Column[MappingRow]("Dimensions", lambda r: r.dimensions_text or "(any)", width=170),
    Column[MappingRow]("BILL account", lambda r: r.bill_account_name or "— not mapped —",
                       background=lambda r: GOOD if r.mapped else ATTENTION if r.invoices_waiting else None,
                       bold=lambda r: bool(r.invoices_waiting),
                       tooltip=lambda r: "Double-click to choose the BILL account", width=230),
    # Only an unmapped account on a held invoice's line needs the clerk; the others (a bank or payables account,
    # say) may stay unmapped for ever.
    Column[MappingRow]("Invoices waiting", lambda r: r.invoices_waiting,
                       text=lambda r: f"{r.invoices_waiting:,}" if r.invoices_waiting else "",
                       background=lambda r: ATTENTION if r.invoices_waiting else None, numeric=True, width=110,
                       tooltip=lambda r: f"{r.invoices_waiting} held invoice(s) have a line on this account; once it "
                       "is mapped, the next sync sends those that nothing else holds" if r.invoices_waiting else ""),
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
    """A combo of BILL accounts. Nothing is pre-selected: it opens on the current mapping or the suggestion,
    or on “— choose —”, which maps nothing (double-click + Enter never maps by accident)."""

    PLACEHOLDER = "— choose a BILL account —"

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.choices: list = []

    def createEditor(self, parent, option, index):
        editor = QComboBox(parent)
        editor.addItem(self.PLACEHOLDER, "")
        for choice in self.choices:
            editor.addItem(choice.label, choice.id)
        return editor

    def setEditorData(self, editor, index):
        found = editor.findData(index.data(Qt.ItemDataRole.EditRole) or "")
        editor.setCurrentIndex(found if found > 0 else 0)

    def setModelData(self, editor, model, index):
        if editor.currentData():
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

    PLACEHOLDER = "— choose a BILL classification —"


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
        # Queued: the question "Map anyway?" comes after the editor has closed, never inside its commit
        # (a reload during that dialog would delete the editor under it).
        self.model.mapping_chosen.connect(self._set_mapping, Qt.ConnectionType.QueuedConnection)
        self.delegate = AccountDelegate(self.view)
        self.view.setItemDelegateForColumn(BILL_ACCOUNT_COLUMN, self.delegate)
        self.view.setEditTriggers(self.view.EditTrigger.DoubleClicked | self.view.EditTrigger.EditKeyPressed)
        self.accept_button = self.add_button("&Accept suggestion", self.accept_selected,
                                             "Map the selected accounts to the suggested BILL accounts")
        self.undo_button = self.add_button("&Undo mapping", self.undo_mapping,
                                           "Put the last mapping you changed back as it was")
        self.undo_button.setEnabled(False)
        self.last_mapping: tuple | None = None
        self.classification_choices: list[ClassificationChoice] = []
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
        self.dimension_model.classification_chosen.connect(self._set_dimension_mapping,
                                                           Qt.ConnectionType.QueuedConnection)
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
        self.classification_choices = list(choices)
        self.classification_delegate.choices = [BillAccountChoice(c.id, c.label, c.kind) for c in choices]

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
        choice = next((c for c in self.classification_choices if c.id == classification_id), None)
        label = choice.label if choice else classification_id
        what = f"{code} {value} “{row.value_name}”" if row.value_name else f"{code} {value}"
        if choice is not None:
            kinds = {c.id: c.kind for c in self.classification_choices}
            warning = dimension_mapping_warning(row, choice, self.dimension_model.rows(), kinds)
            if warning and not self.override(f"Map {what} to “{label}”?", warning):
                self.commands.report(f"Not mapped: {what} stays as it was.")
                return
        self.commands.run_command(f"Map {what} to BILL “{label}”",
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

    def override(self, question: str, warning: str) -> bool:
        """An explicit "Map anyway" for a mapping that is probably wrong; Cancel is the default."""
        box = QMessageBox(QMessageBox.Icon.Warning, "Check this mapping", f"{question}\n\n{warning}",
                          QMessageBox.StandardButton.Cancel, self)
        anyway = box.addButton("Map anyway", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        self.confirmation = box
        try:
            box.exec()
        finally:
            self.confirmation = None
        return box.clickedButton() is anyway

    def _set_mapping(self, row: MappingRow, bill_account_id: str) -> None:
        account, dimensions = row.nav_account, dict(row.dimensions)
        choice = next((c for c in self.delegate.choices if c.id == bill_account_id), None)
        label = choice.label if choice else bill_account_id
        what = f"NAV G/L {account} “{row.nav_account_name}”" + (f" ({row.dimensions_text})" if dimensions else "")
        if choice is not None:
            warning = account_mapping_warning(row, choice)
            if warning and not self.override(f"Map {what} to BILL “{label}”?", warning):
                self.commands.report(f"Not mapped: {what} stays as it was.")
                return
        previous = row.bill_account_id if row.source == "user" else ""
        self.last_mapping = (what, account, dimensions, previous)
        self.undo_button.setEnabled(True)
        self.commands.run_command(f"Map {what} to BILL “{label}”",
                                  lambda b: b.set_mapping(account, dimensions, bill_account_id))

    def undo_mapping(self) -> None:
        """Put the last mapping changed here back as it was (the audit log keeps both)."""
        if self.last_mapping is None:
            return
        what, account, dimensions, previous = self.last_mapping
        self.last_mapping = None
        self.undo_button.setEnabled(False)
        if previous:
            self.commands.run_command(f"Undo: {what} back to its earlier BILL account",
                                      lambda b: b.set_mapping(account, dimensions, previous))
        else:
            self.commands.run_command(f"Undo: {what} not mapped again",
                                      lambda b: b.remove_mapping(account, dimensions))

    def accept_selected(self) -> None:
        rows = [r for r in self.selected_rows() if r.awaiting_confirmation]
        chosen = [(r.nav_account, dict(r.dimensions), r.proposed_account_id) for r in rows]
        if chosen:
            first = rows[0]
            target = first.suggested_account_name or first.bill_account_name
            text = f"Map NAV G/L {first.nav_account} “{first.nav_account_name}” to BILL “{target}”"
            if len(rows) > 1:
                text += f" and {len(rows) - 1} more suggestion(s)"
            self.commands.run_command(text, lambda b: [b.set_mapping(*c) for c in chosen])

    def select_account(self, nav_account: str) -> bool:
        self.filter_edit.clear()
        self.unmapped_only.setCurrentIndex(0)
        return self.select_where(lambda r: r.nav_account == nav_account)
