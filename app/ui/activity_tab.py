"""Activity: the run history and the audit log, filterable and exportable to CSV."""

from __future__ import annotations

import csv
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QFileDialog, QGroupBox, QListWidget, QSplitter, QVBoxLayout

from app.ui.base_tab import TableTab, fit_columns, make_table
from app.ui.rows import AuditRow, RunRow
from app.ui.table_model import ATTENTION, GOOD, Column, RowTableModel

RUN_COLUMNS = [
    Column[RunRow]("Started", lambda r: r.started, width=130),
    Column[RunRow]("Finished", lambda r: r.finished, width=130),
    Column[RunRow]("Result", lambda r: r.status,
                   background=lambda r: GOOD if r.status.lower() in ("ok", "completed", "succeeded", "finished")
                   else ATTENTION, width=100),
    Column[RunRow]("Preview", lambda r: "dry run" if r.dry_run else "", width=70),
    Column[RunRow]("Summary", lambda r: r.summary),
]

AUDIT_COLUMNS = [
    Column[AuditRow]("Time", lambda r: r.time, width=130),
    Column[AuditRow]("By", lambda r: r.actor, width=70),
    Column[AuditRow]("Action", lambda r: r.action, width=160),
    Column[AuditRow]("Record", lambda r: r.record, tooltip=lambda r: r.record, width=280),
    Column[AuditRow]("Detail", lambda r: r.detail),
]


class ActivityTab(TableTab):
    title = "Activity"
    hint = "Every sync run, and every change the connector or a user made. Filter, then export what you see."

    def __init__(self, commands, parent=None) -> None:
        super().__init__(commands, AUDIT_COLUMNS, parent)
        self.actor_filter = QComboBox(self)
        self.actor_filter.addItem("Everyone", None)
        self.actor_filter.currentIndexChanged.connect(self._filter_actor)
        self.actions_row.addWidget(self.actor_filter)
        self.export_button = self.add_button("Export CSV…", self.export_dialog, "Save the rows shown to a CSV file")

        self.runs_model = RowTableModel(RUN_COLUMNS, self)
        self.runs_view, self.runs_proxy = make_table(self.runs_model, self)
        runs_box = QGroupBox("Sync runs", self)
        QVBoxLayout(runs_box).addWidget(self.runs_view)
        audit_box = QGroupBox("Audit log", self)
        self.layout_.removeWidget(self.view)
        QVBoxLayout(audit_box).addWidget(self.view)
        # What webhooks and polls just did (the status line is for the connector's state, not for these).
        self.events = QListWidget(self)
        self.events.setAlternatingRowColors(True)
        events_box = QGroupBox("Just now (webhooks and polls)", self)
        QVBoxLayout(events_box).addWidget(self.events)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(runs_box)
        splitter.addWidget(events_box)
        splitter.addWidget(audit_box)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 1)
        splitter.setStretchFactor(2, 4)
        self.layout_.addWidget(splitter, 1)
        self._runs_fitted = False

    def add_event(self, text: str, limit: int = 200) -> None:
        from datetime import datetime

        self.events.insertItem(0, f"{datetime.now().strftime('%H:%M:%S')}  {text}")
        while self.events.count() > limit:
            self.events.takeItem(self.events.count() - 1)

    def set_runs(self, runs: list[RunRow]) -> None:
        self.runs_model.set_rows(runs)
        if runs and not self._runs_fitted:
            fit_columns(self.runs_view, RUN_COLUMNS)
            self._runs_fitted = True

    def set_rows(self, rows) -> None:
        super().set_rows(rows)
        current = self.actor_filter.currentData()
        actors = sorted({r.actor for r in rows if r.actor})
        self.actor_filter.blockSignals(True)
        self.actor_filter.clear()
        self.actor_filter.addItem("Everyone", None)
        for actor in actors:
            self.actor_filter.addItem(actor, actor)
        found = self.actor_filter.findData(current)
        self.actor_filter.setCurrentIndex(max(found, 0))
        self.actor_filter.blockSignals(False)

    def count_text(self, rows) -> str:
        return f"{len(rows):,} audit entries"

    def _filter_actor(self) -> None:
        actor = self.actor_filter.currentData()
        self.proxy.set_predicate(None if actor is None else (lambda row: row.actor == actor))

    def export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export audit log", "navbill-audit.csv", "CSV files (*.csv)")
        if path:
            count = self.export_csv(Path(path))
            self.commands.report(f"Exported {count} rows to {path}")

    def export_csv(self, path: Path) -> int:
        """Write the rows the filter shows, in the order shown, with the shown text."""
        headers = [self.proxy.headerData(c, Qt.Orientation.Horizontal) for c in range(self.proxy.columnCount())]
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(headers)
            for proxy_row in range(self.proxy.rowCount()):
                writer.writerow([self.proxy.index(proxy_row, c).data() for c in range(self.proxy.columnCount())])
        return self.proxy.rowCount()
