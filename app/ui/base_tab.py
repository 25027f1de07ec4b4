"""What every screen has in common: a filterable, sortable table and a row of actions.

Tabs never call the backend themselves. They ask the window to run a command
(``CommandSink.run_command``) on a worker; when it finishes the window reloads every screen, so what
the user sees always comes from the store (clients → engine → store → UI).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.ui.rows import ConnectorBackend
from app.ui.table_model import ROW_ROLE, SORT_ROLE, Column, RowTableModel


class CommandSink(Protocol):
    def run_command(self, description: str, command: Callable[[ConnectorBackend], Any]) -> None: ...
    def report(self, message: str) -> None: ...


class RowFilterProxy(QSortFilterProxyModel):
    """Text filter over every column, plus an optional predicate on the row object (a state combo)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterKeyColumn(-1)
        self._predicate: Callable[[Any], bool] | None = None
        self._text = ""

    def set_text(self, text: str) -> None:
        self.beginFilterChange()
        self._text = text.strip().lower()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        source = self.sourceModel()
        if isinstance(source, RowTableModel):
            source.sort(column, order)  # rows arrive sorted; the proxy keeps their order
        else:
            super().sort(column, order)

    def set_predicate(self, predicate: Callable[[Any], bool] | None) -> None:
        self.beginFilterChange()
        self._predicate = predicate
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:
        if self._predicate is not None:
            row = self.sourceModel().index(source_row, 0, source_parent).data(ROW_ROLE)
            if not self._predicate(row):
                return False
        if self._text:
            source = self.sourceModel()
            if isinstance(source, RowTableModel):
                return self._text in source.search_text(source_row)
            return super().filterAcceptsRow(source_row, source_parent)
        return True


def make_table(model, parent=None) -> tuple[QTableView, RowFilterProxy]:
    proxy = RowFilterProxy(parent)
    proxy.setSourceModel(model)
    view = QTableView(parent)
    view.setModel(proxy)
    view.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # keep the store's order at first
    view.setSortingEnabled(True)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setAlternatingRowColors(True)
    view.setTabKeyNavigation(False)  # Tab leaves the table for the next control; arrows move inside it
    view.setWordWrap(False)
    view.verticalHeader().setVisible(False)
    # Fixed row heights: the view never measures 50,000 rows to lay them out.
    view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 8)
    header = view.horizontalHeader()
    header.setStretchLastSection(True)
    header.setResizeContentsPrecision(200)  # size columns from the first rows, not all of them
    header.setHighlightSections(False)
    return view, proxy


def fit_columns(view: QTableView, columns: Sequence[Column]) -> None:
    view.resizeColumnsToContents()
    for number, column in enumerate(columns):
        if column.width:
            view.setColumnWidth(number, column.width)
        else:
            view.setColumnWidth(number, min(max(view.columnWidth(number), 60), 360))


class TableTab(QWidget):
    """A title line, actions, a filter box and one table. Subclasses add their columns and actions."""

    title = ""
    hint = ""

    def __init__(self, commands: CommandSink, columns: Sequence[Column], parent=None) -> None:
        super().__init__(parent)
        self.commands = commands
        self.model: RowTableModel = RowTableModel(columns, self)
        self.view, self.proxy = make_table(self.model, self)
        self.filter_edit = QLineEdit(self)
        self.filter_edit.setPlaceholderText("Filter…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.set_text)
        self.hint_label = QLabel(self.hint, self)
        self.hint_label.setWordWrap(True)
        self.count_label = QLabel(self)
        self.actions_row = QHBoxLayout()
        self.actions_row.setSpacing(6)
        top = QHBoxLayout()
        top.addLayout(self.actions_row)
        top.addStretch(1)
        top.addWidget(self.count_label)
        top.addWidget(self.filter_edit)
        self.layout_ = QVBoxLayout(self)
        self.layout_.addWidget(self.hint_label)
        self.layout_.addLayout(top)
        self.layout_.addWidget(self.view, 1)
        self.view.selectionModel().selectionChanged.connect(lambda *_: self.update_actions())
        self._fitted = False

    def add_button(self, text: str, handler: Callable[[], None], tooltip: str = "") -> QPushButton:
        button = QPushButton(text, self)
        button.setToolTip(tooltip)
        button.clicked.connect(handler)
        self.actions_row.addWidget(button)
        return button

    def add_detail_pane(self, title: str, placeholder: str) -> QLabel:
        """A pane under the table with the whole text of the selected row (its cells show only their start): the
        table and the pane share the height, the clerk may drag the line between them. Returns the pane's label."""
        detail = QLabel(placeholder, self)
        detail.setWordWrap(True)
        detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        detail.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        box = QGroupBox(title, self)
        QVBoxLayout(box).addWidget(detail)
        self.split_under_table(box, table_share=4, pane_share=1)
        return detail

    def split_under_table(self, pane: QWidget, table_share: int, pane_share: int) -> None:
        """Put ``pane`` under the table, in a splitter: the clerk may drag the line between them."""
        self.layout_.removeWidget(self.view)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.view)
        splitter.addWidget(pane)
        splitter.setStretchFactor(0, table_share)
        splitter.setStretchFactor(1, pane_share)
        self.layout_.addWidget(splitter, 1)

    def set_rows(self, rows: Sequence[Any]) -> None:
        self.model.set_rows(rows)
        self.count_label.setText(self.count_text(rows))
        if not self._fitted and rows:
            fit_columns(self.view, self.model.columns)
            self._fitted = True
        self.update_actions()

    def count_text(self, rows: Sequence[Any]) -> str:
        return f"{len(rows):,} rows"

    def selected_rows(self) -> list[Any]:
        rows = []
        for index in self.view.selectionModel().selectedRows():
            rows.append(index.data(ROW_ROLE))
        return rows

    def current_row(self) -> Any | None:
        selected = self.selected_rows()
        return selected[0] if selected else None

    def select_where(self, predicate: Callable[[Any], bool]) -> bool:
        """Select and scroll to the first visible row matching ``predicate`` (the 'fix it' jumps)."""
        for proxy_row in range(self.proxy.rowCount()):
            index = self.proxy.index(proxy_row, 0)
            if predicate(index.data(ROW_ROLE)):
                self.view.selectRow(proxy_row)
                self.view.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
                return True
        return False

    def update_actions(self) -> None:
        """Enable the buttons that make sense for the selection (subclasses)."""
