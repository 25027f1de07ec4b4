"""One table model for every screen: a list of frozen row objects and a list of column specs.

Values are computed on demand in ``data()`` and never cached as widgets, so a table of 50,000 rows
costs one Python list and whatever the view paints. Sorting and filtering happen in a
``QSortFilterProxyModel`` on top (``SORT_ROLE`` gives it comparable values, not display strings).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

Row = TypeVar("Row")
ROW_ROLE = Qt.ItemDataRole.UserRole + 1  # the row object itself
SORT_ROLE = Qt.ItemDataRole.UserRole + 2

HIGHLIGHT = QColor("#ffe3b3")  # a difference or a problem: warm, readable with black text
ATTENTION = QColor("#ffd0cc")
GOOD = QColor("#dcf5dc")
CAUTION = QColor("#fff1c2")  # works, but something is missing (a warning step)
MUTED_TEXT = QColor("#6b6b6b")

_AnyIndex = QModelIndex | QPersistentModelIndex


def display_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, datetime):
        return value.astimezone().strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (tuple, list)):
        return ", ".join(display_text(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class Column(Generic[Row]):
    header: str
    value: Callable[[Row], Any]
    tooltip: Callable[[Row], str] | None = None
    background: Callable[[Row], QColor | None] | None = None  # e.g. highlight a difference
    bold: Callable[[Row], bool] | None = None
    numeric: bool = False  # right-aligned
    width: int = 0  # a hint for the view, in pixels; 0 = size to contents
    text: Callable[[Row], str] | None = None  # how the value reads (e.g. "1,250.00 USD"); it still sorts by value

    def shown(self, row: Row) -> str:
        return self.text(row) if self.text is not None else display_text(self.value(row))


class RowTableModel(QAbstractTableModel, Generic[Row]):
    def __init__(self, columns: Sequence[Column[Row]], parent=None) -> None:
        super().__init__(parent)
        self._columns = list(columns)
        self._rows: list[Row] = []
        self._search_text: list[str] | None = None  # built on the first text filter, dropped on refill
        self._sorted_by: tuple[int, Qt.SortOrder] | None = None  # kept across refills

    # --- filling -------------------------------------------------------------------------------
    def set_rows(self, rows: Sequence[Row]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        if self._sorted_by is not None:
            column, order = self._sorted_by
            self._rows.sort(key=self.sort_key(column), reverse=order == Qt.SortOrder.DescendingOrder)
        self._search_text = None
        self.endResetModel()

    def search_text(self, row: int) -> str:
        """Every column's shown text of one row, lower case (what the filter box searches)."""
        if self._search_text is None:
            self._search_text = ["\x1f".join(c.shown(r) for c in self._columns).lower()
                                 for r in self._rows]
        return self._search_text[row]

    def sort_key(self, column: int):
        getter = self._columns[column].value

        def key(row: Row):
            value = getter(row)
            if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
                return (0, value, "")
            if isinstance(value, (date, datetime)):
                return (1, 0, value.isoformat())
            return (2, 0, display_text(value).lower())

        return key

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        # Sorting the Python list with a key is far cheaper than a proxy calling data() n·log n times.
        if not 0 <= column < len(self._columns):
            return
        self.beginResetModel()
        self._sorted_by = (column, order)
        self._rows.sort(key=self.sort_key(column), reverse=order == Qt.SortOrder.DescendingOrder)
        self._search_text = None
        self.endResetModel()

    def rows(self) -> list[Row]:
        return list(self._rows)

    def row_at(self, row: int) -> Row:
        return self._rows[row]

    @property
    def columns(self) -> list[Column[Row]]:
        return list(self._columns)

    # --- Qt model API ----------------------------------------------------------------------------
    def rowCount(self, parent: _AnyIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's own signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self._columns[section].header
        return None

    def data(self, index: _AnyIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = self._columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.shown(row)
        if role == SORT_ROLE:
            value = column.value(row)
            if isinstance(value, Decimal):
                return float(value)
            if isinstance(value, (date, datetime)):
                return value.isoformat()
            return value if isinstance(value, (int, float)) else display_text(value).lower()
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.ToolTipRole and column.tooltip is not None:
            return column.tooltip(row) or None
        if role == Qt.ItemDataRole.BackgroundRole and column.background is not None:
            color = column.background(row)
            return QBrush(color) if color is not None else None
        if role == Qt.ItemDataRole.ForegroundRole and column.background is not None and column.background(row):
            return QBrush(QColor("black"))  # stay readable on a highlight under a dark theme
        if role == Qt.ItemDataRole.FontRole and column.bold is not None and column.bold(row):
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and column.numeric:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
