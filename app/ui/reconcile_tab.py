"""Reconciliation: do NAV and BILL still agree? The report of ``app.engine.reconcile``, on demand (a button)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel

from app.engine.reconcile import Difference, ReconcileReport
from app.ui.base_tab import TableTab
from app.ui.table_model import ATTENTION, Column

COLUMNS = [
    Column[Difference]("Kind", lambda d: d.kind, width=70),
    Column[Difference]("Vendor", lambda d: d.vendor, width=220),
    Column[Difference]("Record", lambda d: d.record, width=300),
    Column[Difference]("NAV", lambda d: d.nav, background=lambda d: ATTENTION, width=180),
    Column[Difference]("BILL", lambda d: d.bill, background=lambda d: ATTENTION, width=180),
    Column[Difference]("Likely cause", lambda d: d.cause, tooltip=lambda d: d.cause),
]


class ReconcileTab(TableTab):
    title = "Reconciliation"
    hint = ("For each linked vendor: NAV's open invoices against BILL's open bills, and BILL's payments against "
            "NAV's payment entries. Reads both sides, changes nothing.")

    def __init__(self, commands, parent=None) -> None:
        super().__init__(commands, COLUMNS, parent)
        self.compare_button = self.add_button("Compare NAV and BILL", self.compare,
                                              "Read both sides now and list every difference with its likely cause")
        self.summary = QLabel("Not compared yet.", self)
        self.summary.setWordWrap(True)
        self.layout_.insertWidget(1, self.summary)
        self.report: ReconcileReport | None = None

    def compare(self) -> None:
        self.compare_button.setEnabled(False)
        self.summary.setText("Comparing NAV and BILL…")

        def finish(report) -> None:
            self.show_report(report)

        self.commands.run_command("Reconciliation", lambda backend: backend.reconcile(), on_result=finish)
        # run_command reports a failure in the window's banner; the button comes back either way
        self.commands.command_finished.connect(self._enable)

    def _enable(self, *args) -> None:
        self.compare_button.setEnabled(True)
        try:
            self.commands.command_finished.disconnect(self._enable)
        except (RuntimeError, TypeError):
            pass

    def show_report(self, report: ReconcileReport) -> None:
        self.report = report
        self.set_rows(report.differences)
        head = (f"{report.vendors} linked vendor(s), {report.invoices} invoice(s), {report.payments} BILL "
                f"payment(s) compared: ")
        head += "NAV and BILL agree." if report.clean else f"{len(report.differences)} difference(s)."
        self.summary.setText(" ".join([head, *report.limits]))
