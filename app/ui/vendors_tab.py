"""Vendors: NAV ⇄ BILL side by side. Link, unlink, accept a proposed match, resolve a conflict per field."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QStyledItemDelegate,
    QTableView,
    QVBoxLayout,
)

from app.domain.models import VENDOR_SYNC_FIELDS
from app.ui.base_tab import TableTab
from app.ui.rows import VendorDiffRow, VendorState
from app.ui.table_model import ATTENTION, GOOD, HIGHLIGHT, Column, display_text

FIELD_LABELS = {
    "name": "Name", "address_line1": "Address", "address_line2": "Address 2", "city": "City",
    "state": "State", "postal_code": "ZIP code", "country": "Country", "email": "E-mail", "phone": "Phone",
    "tax_id": "Tax ID", "is_1099": "1099 vendor", "inactive": "Inactive / blocked",
}

STATE_COLOURS = {
    VendorState.CONFLICT: ATTENTION,
    VendorState.PROPOSED: HIGHLIGHT,
    VendorState.LINKED: GOOD,
}

SIDE_NAV, SIDE_BILL = "nav", "bill"
MANY_SHOWN = 12  # vendors listed by name when several conflicts are resolved at once


def _differs(row: VendorDiffRow, field: str) -> QColor | None:
    return HIGHLIGHT if field in row.differing_fields() else None


VENDOR_COLUMNS = [
    Column[VendorDiffRow]("State", lambda r: r.state.value, background=lambda r: STATE_COLOURS.get(r.state),
                          tooltip=lambda r: r.reason, width=120),
    Column[VendorDiffRow]("NAV No.", lambda r: r.nav_number, width=80),
    Column[VendorDiffRow]("NAV name", lambda r: r.nav_fields.get("name", ""),
                          background=lambda r: _differs(r, "name"), width=230),
    Column[VendorDiffRow]("BILL name", lambda r: r.bill_fields.get("name", ""),
                          background=lambda r: _differs(r, "name"), width=230),
    Column[VendorDiffRow]("BILL id", lambda r: r.bill_id, width=170),
    Column[VendorDiffRow]("Differences", lambda r: ", ".join(FIELD_LABELS.get(f, f) for f in r.differing_fields()),
                          tooltip=lambda r: "Fields whose values differ between NAV and BILL", width=200),
    Column[VendorDiffRow]("Why", lambda r: r.reason),
]


class FieldCompareModel(QAbstractTableModel):
    """One vendor's fields: NAV value, BILL value, and (for conflicts) which side to keep."""

    HEADERS = ("Field", "NAV", "BILL", "Keep")

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.row: VendorDiffRow | None = None
        self.winners: dict[str, str] = {}

    def show(self, row: VendorDiffRow | None) -> None:
        self.beginResetModel()
        self.row = row
        suggested = row.suggested_sides if row else {}
        self.winners = {f: suggested.get(f, SIDE_NAV) for f in (row.conflict_fields if row else ())}
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() or self.row is None else len(VENDOR_SYNC_FIELDS)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None

    def flags(self, index):
        flags = super().flags(index)
        if self.row and index.column() == 3 and VENDOR_SYNC_FIELDS[index.row()] in self.winners:
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if self.row is None or not index.isValid():
            return None
        field = VENDOR_SYNC_FIELDS[index.row()]
        conflict = field in self.row.conflict_fields
        differs = field in self.row.differing_fields()
        if role == Qt.ItemDataRole.DisplayRole or role == Qt.ItemDataRole.EditRole:
            if index.column() == 0:
                return FIELD_LABELS.get(field, field)
            if index.column() == 1:
                return display_text(self.row.nav_fields.get(field, "")) if self.row.nav_fields else "—"
            if index.column() == 2:
                return display_text(self.row.bill_fields.get(field, "")) if self.row.bill_fields else "—"
            if conflict:
                return "NAV" if self.winners.get(field) == SIDE_NAV else "BILL"
            return ""
        colour = self._colour(field, index.column(), conflict, differs)
        if role == Qt.ItemDataRole.BackgroundRole and colour is not None:
            return QBrush(colour)
        if role == Qt.ItemDataRole.ForegroundRole and colour is not None:
            return QBrush(QColor("black"))  # the highlight colours are light: dark text on them
        if role == Qt.ItemDataRole.FontRole and conflict and index.column() in (1, 2):
            kept = (index.column() == 1) == (self.winners.get(field) == SIDE_NAV)
            font = QFont()
            font.setBold(kept)
            font.setStrikeOut(not kept)
            return font
        if role == Qt.ItemDataRole.ToolTipRole and conflict:
            suggested = (self.row.suggested_sides or {}).get(field)
            hint = f" ({suggested.upper()} changed it last)" if suggested else ""
            return f"Changed on both sides since the last sync: choose the value to keep{hint}"
        return None

    def _colour(self, field: str, column: int, conflict: bool, differs: bool) -> QColor | None:
        """A conflict shows the kept value green and the replaced one red; a plain difference is amber."""
        if column == 0:
            return None
        if conflict:
            keep_nav = self.winners.get(field) == SIDE_NAV
            if column == 3:
                return GOOD
            return GOOD if (column == 1) == keep_nav else ATTENTION
        return HIGHLIGHT if differs and column in (1, 2) else None

    def setData(self, index, value, role=Qt.ItemDataRole.EditRole) -> bool:
        if self.row is None or index.column() != 3:
            return False
        field = VENDOR_SYNC_FIELDS[index.row()]
        if field not in self.winners:
            return False
        self.winners[field] = SIDE_BILL if str(value).upper() == "BILL" else SIDE_NAV
        self.dataChanged.emit(self.index(index.row(), 0), self.index(index.row(), 3))  # repaint both sides
        return True


class SideDelegate(QStyledItemDelegate):
    def createEditor(self, parent, option, index):
        editor = QComboBox(parent)
        editor.addItems(["NAV", "BILL"])
        editor.activated.connect(lambda: self.commitData.emit(editor))
        return editor

    def setEditorData(self, editor, index):
        editor.setCurrentText(str(index.data()))

    def setModelData(self, editor, model, index):
        model.setData(index, editor.currentText())


class VendorsTab(TableTab):
    title = "Vendors"
    hint = ("Vendors in NAV and BILL side by side. Differences are highlighted. Link vendors that are the same "
            "company, accept the proposed matches, and choose a side for each field changed on both sides.")
    vendor_selected = Signal(object)

    def __init__(self, commands, parent=None) -> None:
        super().__init__(commands, VENDOR_COLUMNS, parent)
        self.state_filter = QComboBox(self)
        self.state_filter.addItem("All vendors", None)
        for state in VendorState:
            self.state_filter.addItem(state.value.capitalize(), state)
        self.state_filter.currentIndexChanged.connect(self._filter_state)
        self.actions_row.addWidget(self.state_filter)
        self.link_button = self.add_button("&Link…", self.link_selected,
                                           "Link this NAV vendor to a BILL vendor that is the same company")
        self.unlink_button = self.add_button("U&nlink…", self.unlink_selected, "Stop syncing this pair (asks first)")
        self.accept_button = self.add_button("&Accept match…", self.accept_selected,
                                             "Link the proposed pair; you choose whose name both keep")
        self.resolve_button = self.add_button("&Resolve conflict…", self.resolve_selected,
                                              "Write the values chosen in the Keep column to both sides")
        self.undo_button = self.add_button("&Undo resolution", self.undo_resolution,
                                           "Open the last resolved conflict again (until a sync has written it)")
        self.undo_button.setEnabled(False)
        self.last_resolution: tuple[str, str, list[int]] | None = None  # (vendor label, nav number, conflict ids)

        self.compare_model = FieldCompareModel(self)
        self.compare_view = QTableView(self)
        self.compare_view.setModel(self.compare_model)
        self.compare_view.verticalHeader().setVisible(False)
        self.compare_view.setItemDelegateForColumn(3, SideDelegate(self.compare_view))
        self.compare_view.setEditTriggers(QTableView.EditTrigger.AllEditTriggers)
        header = self.compare_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        self.compare_caption = QLabel("Select a vendor to compare its fields.", self)
        box = QGroupBox("Fields side by side", self)
        box_layout = QVBoxLayout(box)
        box_layout.addWidget(self.compare_caption)
        box_layout.addWidget(self.compare_view)

        self.split_under_table(box, table_share=3, pane_share=2)
        self.update_actions()

    def count_text(self, rows) -> str:
        conflicts = sum(1 for r in rows if r.state == VendorState.CONFLICT)
        proposed = sum(1 for r in rows if r.state == VendorState.PROPOSED)
        return (f"{len(rows):,} vendors · {proposed} proposed · {conflicts} "
                f"{'conflict' if conflicts == 1 else 'conflicts'}")

    def _filter_state(self) -> None:
        state = self.state_filter.currentData()
        self.proxy.set_predicate(None if state is None else (lambda row: row.state == state))

    def update_actions(self) -> None:
        row: VendorDiffRow | None = self.current_row()
        if hasattr(self, "compare_model"):
            self.compare_model.show(row)
            if row is None:
                self.compare_caption.setText("Select a vendor to compare its fields.")
            else:
                self.compare_caption.setText(self._caption(row))
            first_conflict = None
            for number, field in enumerate(VENDOR_SYNC_FIELDS):
                if row is not None and field in row.conflict_fields:
                    self.compare_view.openPersistentEditor(self.compare_model.index(number, 3))
                    first_conflict = number if first_conflict is None else first_conflict
            if first_conflict is not None:  # the choice to make is in sight, not below the fold
                self.compare_view.scrollTo(self.compare_model.index(first_conflict, 0),
                                           QTableView.ScrollHint.PositionAtCenter)
        state = row.state if row else None
        if hasattr(self, "resolve_button"):
            self.link_button.setEnabled(state in (VendorState.ONLY_NAV, VendorState.PROPOSED))
            self.unlink_button.setEnabled(state in (VendorState.LINKED, VendorState.CONFLICT))
            self.accept_button.setEnabled(state == VendorState.PROPOSED)
            self.resolve_button.setEnabled(state == VendorState.CONFLICT or any(
                r.state == VendorState.CONFLICT for r in self.selected_rows()))

    @staticmethod
    def _caption(row: VendorDiffRow) -> str:
        who = " ⇄ ".join(p for p in (row.nav_number, row.bill_id) if p)
        text = f"{row.name} ({who}) — {row.state.value}"
        if row.reason:
            text += f": {row.reason}"
        return text

    def bill_only_choices(self) -> list[VendorDiffRow]:
        return [r for r in self.model.rows() if r.state == VendorState.ONLY_BILL]

    @staticmethod
    def vendor_label(row: VendorDiffRow) -> str:
        return f"“{row.name}” ({row.nav_number})" if row.nav_number else f"BILL vendor “{row.name}”"

    def ask(self, title: str, text: str, yes: str, extra: str = "") -> str:
        """A confirmation naming the record: returns "yes", "extra" or "" (cancelled)."""
        box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.Cancel, self)
        yes_button = box.addButton(yes, QMessageBox.ButtonRole.AcceptRole)
        extra_button = box.addButton(extra, QMessageBox.ButtonRole.AcceptRole) if extra else None
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        self.confirmation = box
        try:
            box.exec()
            clicked = box.clickedButton()
        finally:
            self.confirmation = None
            box.deleteLater()  # a child of the tab: without this, one more box per question for the window's life
        return "yes" if clicked is yes_button else "extra" if extra_button is not None and clicked is extra_button \
            else ""

    def link_selected(self, bill_id: str | None = None) -> None:
        row: VendorDiffRow | None = self.current_row()
        if row is None or not row.nav_number:
            return
        choices = self.bill_only_choices()
        bill_name = ""
        if not bill_id:
            if row.state == VendorState.PROPOSED and row.bill_id:
                bill_id, bill_name = row.bill_id, str(row.bill_fields.get("name") or "")
            elif not choices:
                self.commands.report("There is no unlinked BILL vendor to link to.")
                return
            else:
                labels = [f"{c.name} ({c.bill_id})" for c in choices]
                label, ok = QInputDialog.getItem(self, "Link vendor",
                                                 f"BILL vendor that is the same company as {row.name}:",
                                                 labels, 0, False)
                if not ok:
                    return
                chosen = choices[labels.index(label)]
                bill_id, bill_name = chosen.bill_id, chosen.name
        else:
            bill_name = next((c.name for c in choices if c.bill_id == bill_id), "")
        nav_number = row.nav_number
        target = f"BILL vendor “{bill_name}”" if bill_name else f"BILL vendor {bill_id}"
        self.commands.run_command(f"Link {self.vendor_label(row)} to {target}", lambda b: b.link(nav_number, bill_id))

    def unlink_selected(self) -> None:
        row = self.current_row()
        if row is None or not row.nav_number:
            return
        bill_name = str(row.bill_fields.get("name") or row.bill_id)
        if self.ask("Unlink vendor", f"Unlink NAV vendor {self.vendor_label(row)} from BILL vendor “{bill_name}”?\n\n"
                    "Changes stop going across, and new invoices of this vendor wait until it is linked again. "
                    "Both stay in this list as unlinked; Link… joins them again.", "Unlink") != "yes":
            return
        nav_number = row.nav_number
        self.commands.run_command(f"Unlink {self.vendor_label(row)}", lambda b: b.unlink(nav_number))

    def accept_selected(self) -> None:
        row = self.current_row()
        if row is None or row.state != VendorState.PROPOSED:
            return
        nav_name, bill_name = str(row.nav_fields.get("name") or ""), str(row.bill_fields.get("name") or "")
        nav_number = row.nav_number
        if nav_name and bill_name and nav_name != bill_name:
            answer = self.ask("Accept match", f"Link NAV vendor “{nav_name}” ({nav_number}) with BILL vendor "
                              f"“{bill_name}”.\n\nThe names differ. Which name should both keep?",
                              f"Keep NAV's “{nav_name}”", f"Keep BILL's “{bill_name}”")
            if not answer:
                return
            side = "nav" if answer == "yes" else "bill"
        else:
            if self.ask("Accept match", f"Link NAV vendor “{nav_name}” ({nav_number}) with BILL vendor "
                        f"“{bill_name or row.bill_id}”?", "Link them") != "yes":
                return
            side = "nav"
        kept = nav_name if side == "nav" else bill_name
        self.commands.run_command(f"Accept match for “{nav_name}” ({nav_number}), keeping the name “{kept}”",
                                  lambda b: b.accept_proposal(nav_number, side))

    def resolve_selected(self) -> None:
        conflicts = [r for r in self.selected_rows() if r.state == VendorState.CONFLICT]
        if len(conflicts) > 1:
            self._resolve_many(conflicts)
            return
        row = self.current_row()
        if row is None or row.state != VendorState.CONFLICT:
            return
        nav_number, winners = row.nav_number, dict(self.compare_model.winners)
        lines = []
        for field in row.conflict_fields:
            keep = winners.get(field, SIDE_NAV)
            kept = row.nav_fields.get(field) if keep == SIDE_NAV else row.bill_fields.get(field)
            lost = row.bill_fields.get(field) if keep == SIDE_NAV else row.nav_fields.get(field)
            other = "BILL" if keep == SIDE_NAV else "NAV"
            lines.append(f"• {FIELD_LABELS.get(field, field)}: keep {keep.upper()}'s “{display_text(kept)}” "
                         f"({other}'s “{display_text(lost)}” is replaced in {other})")
        if self.ask("Resolve conflict", f"Resolve the conflict on {self.vendor_label(row)}?\n\n" + "\n".join(lines)
                    + "\n\nThe next sync writes this; until then Undo resolution opens it again.",
                    "Resolve") != "yes":
            return
        label = self.vendor_label(row)

        def remember(ids: list[int]) -> None:
            self.last_resolution = (label, nav_number, list(ids or []))
            self.undo_button.setEnabled(bool(ids))

        self.commands.run_command(f"Resolve the conflict on {label}",
                                  lambda b: b.resolve_conflict(nav_number, winners), on_result=remember)

    def _resolve_many(self, rows: list[VendorDiffRow]) -> None:
        """Several conflicts at once, each as its Keep column says (the suggestion, or what the clerk chose for the
        vendor shown below): a first link against a NAV without 1099 codes opens one per 1099 vendor."""
        shown = self.current_row()
        choices: list[tuple[VendorDiffRow, dict[str, str]]] = []
        for row in rows:
            chosen = (dict(self.compare_model.winners) if shown is not None and row.nav_number == shown.nav_number
                      else row.suggested_sides)
            choices.append((row, {f: chosen.get(f, SIDE_NAV) for f in row.conflict_fields}))
        lines = []
        for row, winners in choices[:MANY_SHOWN]:
            kept = "; ".join(f"{FIELD_LABELS.get(f, f)}: keep {side.upper()}'s “"
                             f"{display_text(row.nav_fields.get(f) if side == SIDE_NAV else row.bill_fields.get(f))}”"
                             for f, side in winners.items())
            lines.append(f"• {self.vendor_label(row)}: {kept}")
        if len(choices) > MANY_SHOWN:
            lines.append(f"… and {len(choices) - MANY_SHOWN} more, each as its Keep column says")
        if self.ask("Resolve conflicts", f"Resolve the conflicts on {len(choices)} vendors?\n\n" + "\n".join(lines)
                    + "\n\nThe other side's value is replaced in each. The next sync writes this; until then Undo "
                    "resolution opens them all again.", f"Resolve {len(choices)}") != "yes":
            return
        label = f"{len(choices)} vendors"

        def remember(ids: list[int]) -> None:
            self.last_resolution = (label, "", list(ids or []))
            self.undo_button.setEnabled(bool(ids))

        self.commands.run_command(
            f"Resolve the conflicts on {label}",
            lambda b: [i for row, winners in choices for i in b.resolve_conflict(row.nav_number, winners)],
            on_result=remember)

    def undo_resolution(self) -> None:
        if self.last_resolution is None:
            return
        label, _nav_number, ids = self.last_resolution
        self.last_resolution = None
        self.undo_button.setEnabled(False)
        self.commands.run_command(f"Undo the resolution on {label}", lambda b: b.undo_resolution(ids))
