"""Settings and the first-run wizard (one QWizard serves both).

Pages: NAV connection, BILL connection, connection test (a worker; steps appear as they finish, each
passed, failed or not tried), payments (journal template and batch, balancing account), sync options
(schedule, push or polling, who wins a conflict), and a dry-run preview of the first sync in words.
Each page keeps Next grey until it has what it needs and says what is missing. Nothing is written to
NAV or BILL by the wizard, and nothing is saved before Finish (secrets only into the vault; password
fields are masked and never logged).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableView,
    QTimeEdit,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)

from app.ui.plan_words import PlanLine
from app.ui.table_model import ATTENTION, CAUTION, GOOD, Column, RowTableModel
from app.ui.theme import colour_text, warning_text
from app.ui.workers import TaskContext, TaskRunner

log = logging.getLogger("navbill.ui")


PASSED, WARNING, FAILED, NOT_TRIED = "passed", "warning", "failed", "not tried"


@dataclass(frozen=True)
class CheckStepRow:
    name: str
    state: str  # passed | warning (works, something optional is missing) | failed | not tried
    detail: str = ""
    fix: str = ""

    @property
    def passed(self) -> bool | None:
        """True passed, False failed, None never tried (an earlier step failed)."""
        return {PASSED: True, WARNING: True, FAILED: False}.get(self.state)

    @property
    def what_to_do(self) -> str:
        if self.state in (FAILED, WARNING):
            return f"{self.detail} → {self.fix}".strip(" →") if self.fix else self.detail
        return self.detail


STEP_COLUMNS = [
    Column[CheckStepRow]("Step", lambda r: r.name, width=230),
    Column[CheckStepRow]("Result", lambda r: r.state,
                         background=lambda r: {PASSED: GOOD, WARNING: CAUTION, FAILED: ATTENTION}.get(r.state),
                         bold=lambda r: r.state == FAILED, width=80),
    Column[CheckStepRow]("What was found / what to do", lambda r: r.what_to_do, tooltip=lambda r: r.what_to_do),
]


def password_field(parent=None, saved: bool = False) -> QLineEdit:
    field = QLineEdit(parent)
    field.setEchoMode(QLineEdit.EchoMode.Password)
    field.setPlaceholderText("(saved — leave empty to keep)" if saved else "")
    return field


def step_row(step: Any) -> CheckStepRow:
    """A step of app.check's CheckReport (status pass/warning/fail/skipped); a skipped step was never tried."""
    name = getattr(step, "title", None) or getattr(step, "name", None) or str(step)
    side = getattr(step, "side", "")
    name = f"{side}: {name}" if side else name
    status = str(getattr(step, "status", "") or "").lower()
    if status in ("pass", "passed", "ok"):
        state = PASSED
    elif status in ("warning", "warn"):
        state = WARNING
    elif status in ("fail", "failed", "error"):
        state = FAILED
    elif status:
        state = NOT_TRIED
    else:  # an older report without status: passed/ok
        passed = getattr(step, "passed", getattr(step, "ok", None))
        state = NOT_TRIED if passed is None else PASSED if passed else FAILED
    detail = getattr(step, "detail", "") or getattr(step, "message", "")
    return CheckStepRow(str(name), state, str(detail or ""), str(getattr(step, "fix", "") or ""))


def problem_label(parent=None) -> QLabel:
    """A line under a form that says what is missing before Next (palette colours, readable light or dark)."""
    label = QLabel("", parent)
    label.setWordWrap(True)
    colour_text(label, warning_text())
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    return label


class FormPage(QWizardPage):
    """A page whose Next stays grey until ``missing()`` is empty; the label says what is missing."""

    slug = "page"

    def __init__(self, wizard: SetupWizard) -> None:
        super().__init__(wizard)
        self.wizard_ = wizard
        self.problem = problem_label(self)

    def watch(self, *widgets) -> None:
        for widget in widgets:
            for signal in ("textChanged", "currentIndexChanged", "toggled", "valueChanged"):
                if hasattr(widget, signal):
                    getattr(widget, signal).connect(self._changed)
                    break

    def _changed(self, *_args) -> None:
        self.problem.setText("")
        self.completeChanged.emit()

    def missing(self) -> list[str]:
        return []

    def isComplete(self) -> bool:
        missing = self.missing()
        self.problem.setText(("Still needed: " + "; ".join(missing) + ".") if missing else "")
        return not missing


class NavPage(FormPage):
    slug = "nav"

    def __init__(self, wizard: SetupWizard) -> None:
        super().__init__(wizard)
        self.setTitle("Microsoft Dynamics NAV / Business Central")
        self.setSubTitle("Where the connector reads vendors and posted invoices, and posts payments.")
        nav = wizard.profile.nav
        saved = wizard.saved_secrets
        self.profile_name = QLineEdit(wizard.profile.name)
        self.profile_name.setToolTip("A name for this connection (e.g. the company). Renaming keeps the saved "
                                     "passwords and keys.")
        self.mode = QComboBox()
        self.mode.addItem("NAV / Business Central on premises (OData)", "onprem")
        self.mode.addItem("Business Central online (API)", "online")
        self.mode.setCurrentIndex(max(self.mode.findData(nav.mode), 0))
        self.server = QLineEdit(nav.server)
        self.server.setPlaceholderText("nav-server.example.local")
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(nav.port or 7048)
        self.use_https = QCheckBox("Use HTTPS")
        self.use_https.setChecked(nav.use_https)
        self.instance = QLineEdit(nav.server_instance)
        self.instance.setPlaceholderText("DynamicsNAV110")
        self.company = QLineEdit(nav.company)
        self.user = QLineEdit(nav.user)
        self.web_service_key = password_field(saved="nav.web_service_key" in saved)
        # NAV's Windows credential type signs in the Windows account itself (DOMAIN\user + its password).
        self.use_windows_auth = QCheckBox("Sign in with a Windows account (NTLM)")
        self.use_windows_auth.setChecked(bool(getattr(nav, "use_windows_auth", False)))
        self.windows_password = password_field(saved="nav.windows_password" in saved)
        self.tenant = QLineEdit(nav.tenant)
        self.client_id = QLineEdit(nav.client_id)
        self.client_secret = password_field(saved="nav.client_secret" in saved)
        form = QFormLayout(self)
        form.addRow("&Profile name", self.profile_name)
        form.addRow("&Kind", self.mode)
        form.addRow("&Server", self.server)
        form.addRow("OData p&ort", self.port)
        form.addRow("", self.use_https)
        form.addRow("Server &instance", self.instance)
        form.addRow("&Company", self.company)
        form.addRow("&User", self.user)
        form.addRow("&Web service access key", self.web_service_key)
        form.addRow("", self.use_windows_auth)
        form.addRow("Windows pass&word", self.windows_password)
        form.addRow("&Tenant (online)", self.tenant)
        form.addRow("C&lient id (online)", self.client_id)
        form.addRow("Client s&ecret (online)", self.client_secret)
        form.addRow(self.problem)
        self.watch(self.profile_name, self.mode, self.server, self.company, self.user, self.web_service_key,
                   self.use_windows_auth, self.windows_password, self.tenant, self.client_id, self.client_secret)
        self.mode.currentIndexChanged.connect(self._enable)
        self.use_windows_auth.toggled.connect(self._enable)
        self._enable()

    def _enable(self) -> None:
        online = self.mode.currentData() == "online"
        windows = self.use_windows_auth.isChecked()
        for widget in (self.server, self.port, self.use_https, self.instance, self.user, self.use_windows_auth):
            widget.setEnabled(not online)
        self.web_service_key.setEnabled(not online and not windows)
        self.windows_password.setEnabled(not online and windows)
        for widget in (self.tenant, self.client_id, self.client_secret):
            widget.setEnabled(online)

    def missing(self) -> list[str]:
        saved = self.wizard_.saved_secrets
        needed = []
        if not self.profile_name.text().strip():
            needed.append("a profile name")
        if self.mode.currentData() == "online":
            for field, what in ((self.tenant, "the tenant"), (self.client_id, "the client id")):
                if not field.text().strip():
                    needed.append(what)
            if not self.client_secret.text() and "nav.client_secret" not in saved:
                needed.append("the client secret")
        else:
            if not self.server.text().strip():
                needed.append("the NAV server")
            if not self.user.text().strip():
                needed.append("the user" if not self.use_windows_auth.isChecked() else "the Windows account")
            if self.use_windows_auth.isChecked():
                if not self.windows_password.text() and "nav.windows_password" not in saved:
                    needed.append("the Windows password")
            elif not self.web_service_key.text() and "nav.web_service_key" not in saved:
                needed.append("the web service access key")
        if not self.company.text().strip():
            needed.append("the company")
        return needed

    def validatePage(self) -> bool:
        from app.setup.profiles import validate_profile_name

        try:
            validate_profile_name(self.profile_name.text())
        except Exception as error:  # ConfigurationError: say it under the form
            self.problem.setText(str(error))
            self.profile_name.setFocus()
            return False
        return True


OTHER_GATEWAY = "other"


class BillPage(FormPage):
    slug = "bill"

    def __init__(self, wizard: SetupWizard) -> None:
        super().__init__(wizard)
        self.setTitle("BILL")
        self.setSubTitle("Where bills are created and payments are read.")
        bill = wizard.profile.bill
        saved = wizard.saved_secrets
        self.environment = QComboBox()
        self.environment.addItem("BILL sandbox (gateway.stage.bill.com)", "sandbox")
        self.environment.addItem("BILL production (gateway.prod.bill.com)", "production")
        self.environment.addItem("Another gateway (a test server)", OTHER_GATEWAY)
        gateway = bill.base_url.rstrip("/").removesuffix("/connect") if bill.base_url else ""
        self.environment.setCurrentIndex(max(self.environment.findData(OTHER_GATEWAY if gateway
                                                                        else bill.environment), 0))
        self.gateway = QLineEdit(gateway)
        self.gateway.setPlaceholderText("https://gateway.example.com")
        self.gateway.setToolTip("The BILL gateway's address; the connector calls <address>/connect and "
                                "<address>/connect-events")
        self.username = QLineEdit(bill.username)
        self.password = password_field(saved="bill.password" in saved)
        self.organization = QLineEdit(bill.organization_id)
        self.dev_key = password_field(saved="bill.dev_key" in saved)
        form = QFormLayout(self)
        form.addRow("&Environment", self.environment)
        form.addRow("&Gateway address", self.gateway)
        form.addRow("&User name (e-mail)", self.username)
        form.addRow("&Password", self.password)
        form.addRow("&Organization id", self.organization)
        form.addRow("&Developer key", self.dev_key)
        form.addRow(self.problem)
        self.watch(self.environment, self.gateway, self.username, self.password, self.organization, self.dev_key)
        self.environment.currentIndexChanged.connect(self._enable)
        self._enable()

    def _enable(self) -> None:
        self.gateway.setEnabled(self.environment.currentData() == OTHER_GATEWAY)

    def missing(self) -> list[str]:
        saved = self.wizard_.saved_secrets
        needed = []
        if self.environment.currentData() == OTHER_GATEWAY and not self.gateway.text().strip().startswith(
                ("http://", "https://")):
            needed.append("the gateway address (http:// or https://)")
        if not self.username.text().strip():
            needed.append("the user name")
        if not self.password.text() and "bill.password" not in saved:
            needed.append("the password")
        if not self.organization.text().strip():
            needed.append("the organization id")
        if not self.dev_key.text() and "bill.dev_key" not in saved:
            needed.append("the developer key")
        return needed


class CheckPage(QWizardPage):
    slug = "test"

    def __init__(self, wizard: SetupWizard) -> None:
        super().__init__(wizard)
        self.wizard_ = wizard
        self.setTitle("Connection test")
        self.setSubTitle("Signs in to both sides and reads a little from each. Nothing is changed.")
        self.model = RowTableModel(STEP_COLUMNS, self)
        self.view = QTableView(self)
        self.view.setModel(self.model)
        self.view.verticalHeader().setVisible(False)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.setWordWrap(True)  # a fix is a sentence or two: rows grow to show it whole
        self.view.setColumnWidth(0, 230)
        self.view.setColumnWidth(1, 80)
        self.view.setTabKeyNavigation(False)
        self.run_button = QPushButton("&Test again")
        self.run_button.clicked.connect(self.run_test)
        self.result_label = QLabel("")
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.result_label)
        layout.addWidget(self.run_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.passed: bool | None = None
        self._pending_steps: list[CheckStepRow] = []
        self._tested: tuple | None = None

    def initializePage(self) -> None:
        # Entering the page runs the test; coming back after a change runs it again.
        profile, secrets = self.wizard_.collect()
        key = (repr(profile), tuple(sorted(secrets.items())))
        if self._tested != key or not self.passed:
            self.run_test()

    def isComplete(self) -> bool:
        return bool(self.passed)

    def _show_rows(self, rows: list[CheckStepRow]) -> None:
        self.model.set_rows(rows)
        self.view.resizeRowsToContents()

    def run_test(self) -> None:
        profile, secrets = self.wizard_.collect()
        self._tested = (repr(profile), tuple(sorted(secrets.items())))
        vault = self.wizard_.session_vault()
        self.passed = None
        self.completeChanged.emit()
        self._show_rows([])
        self.run_button.setEnabled(False)
        self.result_label.setText("Testing… (each step appears when it is done)")
        connections, budget_of = self.wizard_.connections, self.wizard_.bill_budget

        def work(ctx: TaskContext):
            from app.check import run_checks
            from app.setup.profiles import build_bill_connection, build_nav_connection

            nav, bill = connections(profile, secrets, vault, build_nav_connection, build_bill_connection)
            budget = budget_of(profile)  # the test's requests count with the syncs'; its last step shows the hour's

            def step_done(step, *rest):
                self._pending_steps.append(step_row(step))
                ctx.progress("step", 0, 0)

            return run_checks(nav, bill, progress=step_done, cancel=ctx.cancel,
                              allow_write=not profile.is_production, bill_budget=budget)

        self._pending_steps = []
        self.wizard_.tasks.start("connection test", work, on_success=self._finished, on_failure=self._failed,
                                 on_progress=lambda *_: self._show_rows(list(self._pending_steps)))

    def _finished(self, report) -> None:
        self.run_button.setEnabled(True)
        steps = [step_row(s) for s in getattr(report, "steps", [])]
        self._show_rows(steps)
        failed = [s for s in steps if s.state == FAILED]
        untried = [s for s in steps if s.state == NOT_TRIED]
        warnings = [s for s in steps if s.state == WARNING]
        self.passed = bool(steps) and not failed and not getattr(report, "cancelled", False)
        if self.passed:
            passed = sum(1 for s in steps if s.state == PASSED)
            skipped = f"; {len(untried)} not tried (the list says why)" if untried else ""
            lines = [f"{passed} of {len(steps)} steps passed{skipped}; none failed: both sides answered. Click Next."]
            if warnings:  # optional pieces missing: the sync works without them, the clerk should know what is lost
                lines[0] = lines[0].replace("none failed", f"{len(warnings)} warning(s), none failed")
                lines += [f"• {s.name}: {s.what_to_do}" for s in warnings]
            self.result_label.setText("\n".join(lines))
        else:
            lines = [f"{len(failed)} step(s) failed" + (f", {len(untried)} not tried because of them" if untried
                                                        else "") + ". Fix this, then click Test again:"]
            lines += [f"• {s.name}: {s.what_to_do}" for s in failed]
            self.result_label.setText("\n".join(lines))
        self.completeChanged.emit()

    def _failed(self, message: str) -> None:
        self.run_button.setEnabled(True)
        self.passed = False
        self.result_label.setText(f"The connection test stopped: {message}")
        self.completeChanged.emit()


class PaymentsPage(FormPage):
    """The NAV side of BILL payments: the journal they are written to and the balancing account."""

    slug = "payments"

    def __init__(self, wizard: SetupWizard) -> None:
        super().__init__(wizard)
        self.setTitle("Payments into NAV")
        self.setSubTitle("Payments made in BILL become payment journal lines in NAV, applied to the invoice and "
                         "posted. Give the connector a journal batch of its own: posting posts the whole batch.")
        settings = wizard.engine_settings
        self.journal_template = QLineEdit(settings.journal_template)
        self.journal_template.setPlaceholderText("PAYMENT")
        self.journal_batch = QLineEdit(settings.journal_batch)
        self.journal_batch.setPlaceholderText("BILL")
        self.balancing_type = QComboBox()
        self.balancing_type.addItem("G/L account", "G/L Account")
        self.balancing_type.addItem("Bank account", "Bank Account")
        self.balancing_type.setCurrentIndex(max(self.balancing_type.findData(settings.balancing_account_type), 0))
        self.balancing_account = QLineEdit(settings.balancing_account_number)
        self.balancing_account.setPlaceholderText("e.g. 2910 or a bank account code")
        self.later = QCheckBox("Set payments up later (vendors and invoices sync meanwhile; payments wait)")
        self.later.setChecked(not wizard.first_run and not settings.balancing_account_number)
        form = QFormLayout(self)
        form.addRow("Journal &template", self.journal_template)
        form.addRow("Journal &batch", self.journal_batch)
        form.addRow("Balancing account t&ype", self.balancing_type)
        form.addRow("Balancing &account", self.balancing_account)
        form.addRow("", self.later)
        form.addRow(self.problem)
        self.watch(self.journal_template, self.journal_batch, self.balancing_account, self.later)
        self.later.toggled.connect(self._enable)
        self._enable()

    def _enable(self) -> None:
        for widget in (self.journal_template, self.journal_batch, self.balancing_type, self.balancing_account):
            widget.setEnabled(not self.later.isChecked())

    def missing(self) -> list[str]:
        if self.later.isChecked():
            return []
        return [what for field, what in ((self.journal_template, "the journal template"),
                                         (self.journal_batch, "the journal batch"),
                                         (self.balancing_account, "the balancing account"))
                if not field.text().strip()]

    def values(self) -> dict[str, Any]:
        if self.later.isChecked():
            return {"balancing_account_number": ""}
        return {"journal_template": self.journal_template.text().strip(),
                "journal_batch": self.journal_batch.text().strip(),
                "balancing_account_type": self.balancing_type.currentData(),
                "balancing_account_number": self.balancing_account.text().strip()}


class OptionsPage(FormPage):
    """When syncs run and how changes arrive: the store's ``push`` setting, which ``navbill serve``
    reads too (push_enabled, listen, public_url, poll_minutes, schedule)."""

    slug = "options"

    def __init__(self, wizard: SetupWizard) -> None:
        super().__init__(wizard)
        from PySide6.QtCore import QTime

        from app.push.scheduler import Schedule

        self.setTitle("Sync options")
        self.setSubTitle("Webhooks bring changes in within seconds where NAV and BILL can reach this computer; "
                         "the schedule and polling catch everything else.")
        values = wizard.push_values
        try:
            schedule = Schedule.parse(str(values.get("schedule") or "daily 06:00"))
        except ValueError:
            schedule = Schedule()
        self.schedule_mode = QComboBox()
        self.schedule_mode.addItem("Every day at…", "daily")
        self.schedule_mode.addItem("Every N minutes", "interval")
        self.schedule_mode.addItem("Only when I click Sync now", "manual")
        self.schedule_mode.setCurrentIndex(max(self.schedule_mode.findData(schedule.mode), 0))
        self.daily_at = QTimeEdit()
        self.daily_at.setDisplayFormat("HH:mm")
        self.daily_at.setTime(QTime(schedule.daily_at.hour, schedule.daily_at.minute))
        self.every_minutes = QSpinBox()
        self.every_minutes.setRange(5, 24 * 60)
        self.every_minutes.setValue(max(5, int(schedule.every_minutes)))
        self.push = QComboBox()
        self.push.addItem("Push (webhooks) where possible, polling otherwise", True)
        self.push.addItem("Polling only", False)
        self.push.setCurrentIndex(0 if values.get("push_enabled", True) else 1)
        self.poll_minutes = QSpinBox()
        self.poll_minutes.setRange(1, 24 * 60)
        self.poll_minutes.setValue(max(1, int(float(values.get("poll_minutes") or 5))))
        self.listen = QLineEdit(str(values.get("listen") or ""))
        self.listen.setPlaceholderText("127.0.0.1:8765")
        self.listen.setToolTip("The address the webhook listener opens on this computer (host:port)")
        self.public_url = QLineEdit(str(values.get("public_url") or ""))
        self.public_url.setPlaceholderText("https://navbill.example.com (a tunnel or reverse proxy)")
        self.public_url.setToolTip("The https address NAV and BILL call; empty = the listener's own address")
        self.master = QComboBox()
        self.master.addItem("Ask me (show the conflict)", "ask")
        self.master.addItem("NAV wins", "nav")
        self.master.addItem("BILL wins", "bill")
        self.master.setCurrentIndex(max(self.master.findData(wizard.master_on_conflict), 0))
        self.schedule_mode.currentIndexChanged.connect(self._enable)
        self.push.currentIndexChanged.connect(self._enable)
        form = QFormLayout(self)
        form.addRow("&Sync", self.schedule_mode)
        form.addRow("&Time of day", self.daily_at)
        form.addRow("&Interval (minutes)", self.every_minutes)
        form.addRow("&Changes arrive by", self.push)
        form.addRow("Without webhooks, read changes every (&minutes)", self.poll_minutes)
        form.addRow("Webhook &listener address", self.listen)
        form.addRow("&Public webhook address", self.public_url)
        form.addRow("When a vendor field changed on &both sides", self.master)
        form.addRow(self.problem)
        self.watch(self.listen, self.public_url, self.push)
        self._enable()

    def _enable(self) -> None:
        mode = self.schedule_mode.currentData()
        self.daily_at.setEnabled(mode == "daily")
        self.every_minutes.setEnabled(mode == "interval")
        push = bool(self.push.currentData())
        self.listen.setEnabled(push)
        self.public_url.setEnabled(push)

    def missing(self) -> list[str]:
        if not bool(self.push.currentData()):
            return []
        from app.push.listener import parse_listen_address

        try:
            parse_listen_address(self.listen.text())
        except ValueError as error:
            return [f"a listener address host:port ({error})"]
        public = self.public_url.text().strip()
        if public and not public.startswith(("http://", "https://")):
            return ["a public webhook address starting with https://"]
        return []

    def schedule_text(self) -> str:
        mode = self.schedule_mode.currentData()
        if mode == "daily":
            return f"daily {self.daily_at.time().toString('HH:mm')}"
        if mode == "interval":
            return f"every {self.every_minutes.value()}m"
        return "manual"

    def values(self) -> dict[str, Any]:
        """The ``push`` setting as ``navbill serve`` reads it."""
        return {"push_enabled": bool(self.push.currentData()), "listen": self.listen.text().strip(),
                "public_url": self.public_url.text().strip(), "poll_minutes": self.poll_minutes.value(),
                "schedule": self.schedule_text()}


class PreviewPage(QWizardPage):
    slug = "preview"

    def __init__(self, wizard: SetupWizard) -> None:
        super().__init__(wizard)
        self.wizard_ = wizard
        self.setTitle("Preview the first sync" if wizard.first_run else "Preview the next sync")
        self.setSubTitle(f"A dry run: what the {'first' if wizard.first_run else 'next'} sync would create or "
                         "change, read from NAV and BILL now. "
                         "Nothing is written, and nothing is saved until you click "
                         f"“{wizard.finish_text}”.")
        self.model = RowTableModel([Column[PlanLine]("Where", lambda line: line.system, width=60),
                                    Column[PlanLine]("What the first sync would do", lambda line: line.text,
                                                     tooltip=lambda line: line.text)], self)
        self.view = QTableView(self)
        self.view.setModel(self.model)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.verticalHeader().setVisible(False)
        self.view.setColumnWidth(0, 60)
        self.view.setTabKeyNavigation(False)
        self.view.setWordWrap(False)
        self.view.setAlternatingRowColors(True)
        self.view.verticalHeader().setDefaultSectionSize(self.view.fontMetrics().height() + 8)
        self.run_button = QPushButton("&Preview again")
        self.run_button.clicked.connect(self.run_preview)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.run_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.outcome = None
        self.finished = False

    def initializePage(self) -> None:
        self.run_preview()

    def isComplete(self) -> bool:
        return self.finished

    def run_preview(self) -> None:
        work = self.wizard_.preview_work()
        self.finished = False
        self.outcome = None
        self.completeChanged.emit()
        self.model.set_rows([])
        self.run_button.setEnabled(False)
        self.summary.setText("Reading NAV and BILL to preview the first sync…")
        self.wizard_.tasks.start("preview", work, on_success=self._done, on_failure=self._failed,
                                 on_progress=lambda message, *_: self.summary.setText(f"Previewing: {message}"))

    def _done(self, result) -> None:
        outcome, lines, text = result
        self.run_button.setEnabled(True)
        self.outcome = outcome
        self.model.set_rows(lines)
        self.summary.setText(text)
        self.finished = True
        self.completeChanged.emit()

    def _failed(self, message: str) -> None:
        self.run_button.setEnabled(True)
        self.summary.setText(f"The preview stopped: {message}\nGo Back to check the connection, or Preview again.")
        self.finished = True  # the clerk may still save the connection and fix the rest later
        self.completeChanged.emit()


@dataclass(frozen=True)
class StoredSettings:
    """What the wizard shows from the store and the vault: read before it opens, on a worker (a team store is a
    server across the network)."""

    saved_secrets: frozenset[str]
    push_values: dict
    engine_settings: Any


def read_stored_settings(session) -> StoredSettings:
    from app.engine.settings import EngineSettings
    from app.ui.service_host import push_values

    saved: frozenset[str] = frozenset()
    if session.profile is not None and session.profiles is not None:
        try:
            saved = frozenset(session.profiles.saved_secret_keys(session.profile))
        except Exception:  # a locked or broken vault: every secret must be typed
            log.warning("Could not list the saved credentials", exc_info=True)
    return StoredSettings(saved, push_values(session.store), EngineSettings.load(session.store))


class SetupWizard(QWizard):
    """First run and Settings (the same pages). ``saved_profile`` is set when Finish saved a profile.

    Nothing is written before Finish: the connection test and the preview use what is typed, in memory.
    """

    def __init__(self, session, parent=None, first_run: bool = False, stored: StoredSettings | None = None) -> None:
        super().__init__(parent)
        from app.setup.profiles import Profile

        self.session = session
        self.first_run = first_run
        self.tasks = TaskRunner(self)
        self.profile = session.profile or Profile(name="My company")
        self.original_name = session.profile.name if session.profile else ""
        stored = stored or read_stored_settings(session)  # open_settings reads it on a worker
        self.saved_secrets: set[str] = set(stored.saved_secrets)
        self.push_values = stored.push_values
        self.engine_settings = stored.engine_settings
        self.master_on_conflict = self.engine_settings.master_on_conflict
        self.saved_profile = None
        self._saving = False  # Finish clicked: the settings are being written on a worker
        self.on_store_joined = None  # set by the app: switch the window to the team store just joined
        self.finish_text = "Save and start syncing" if first_run else "Save"
        self.setWindowTitle("Set up NavBill" if first_run else "Settings")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage)
        self.setButtonText(QWizard.WizardButton.FinishButton, self.finish_text)
        self.nav_page = NavPage(self)
        self.bill_page = BillPage(self)
        self.check_page = CheckPage(self)
        self.payments_page = PaymentsPage(self)
        self.options_page = OptionsPage(self)
        self.preview_page = PreviewPage(self)
        for page in self.all_pages():
            self.addPage(page)
        # Settings → Credentials: where the key lives, change the passphrase, rotate the key, remove credentials.
        self.setButtonText(QWizard.WizardButton.CustomButton1, "&Credentials…")
        self.setOption(QWizard.WizardOption.HaveCustomButton1, True)
        # Settings → Team store: join a team's shared PostgreSQL store (app/ui/team_store.py).
        self.setButtonText(QWizard.WizardButton.CustomButton2, "Team &store…")
        self.setOption(QWizard.WizardOption.HaveCustomButton2, True)
        self.customButtonClicked.connect(self._custom_button)
        self.resize(820, 640)

    def all_pages(self):
        return [self.nav_page, self.bill_page, self.check_page, self.payments_page, self.options_page,
                self.preview_page]

    def _custom_button(self, which: int) -> None:
        if which == QWizard.WizardButton.CustomButton1.value:
            self.open_credentials()
        elif which == QWizard.WizardButton.CustomButton2.value:
            self.open_team_store()

    def team_store_dialog(self):
        """The join dialog, with this PC's own vault (the one in its SQLite file) for the store's password."""
        from app.ui.team_store import JoinTeamStoreDialog

        session = self.session
        local = session.vault
        if getattr(session.store, "is_postgres", False):  # on a team store already: its vault is the team's
            from app.setup.vault import Vault

            try:
                local = Vault.open(session.paths.database_url)
            except Exception:  # a broken keyring: the dialog says the vault is locked when it needs it
                log.warning("This PC's own vault could not be opened", exc_info=True)
                local = None
        return JoinTeamStoreDialog(session.paths, local, self, current_url=session.paths.store_url)

    def open_team_store(self) -> None:
        """Join a team store. In the running app (``on_store_joined`` set by app/ui/application.py) the window
        switches to it at once and this wizard closes; otherwise the next start uses it."""
        from PySide6.QtWidgets import QMessageBox

        dialog = self.team_store_dialog()
        if dialog.exec() != dialog.DialogCode.Accepted or not dialog.joined_message:
            return
        if self.on_store_joined is not None:
            self.reject()
            self.on_store_joined()
        else:
            QMessageBox.information(self, "Team store", dialog.joined_message)

    def credentials_dialog(self):
        from app.ui.vault_dialog import VaultSettingsDialog

        name = self.session.profile.name if self.session.profile else ""
        return VaultSettingsDialog(self.session.vault, self.session.profiles, name, self)

    def open_credentials(self) -> None:
        self.credentials_dialog().exec()

    def vault_ready(self) -> bool:
        """Before saving: a vault that is locked or still needs its passphrase asks for it (True when open)."""
        from app.ui.vault_dialog import ensure_vault_ready

        vault = self.session.vault
        if vault is None or vault.is_unlocked:
            return True
        return ensure_vault_ready(vault, self)

    def session_vault(self):
        vault = self.session.vault
        return vault if vault is not None and vault.is_unlocked else None

    def collect(self):
        """The profile and the secrets typed in (empty secret fields mean "keep the saved one")."""
        from app.setup.profiles import BillSettings, NavSettings

        nav_page, bill_page = self.nav_page, self.bill_page
        nav = replace(self.profile.nav if isinstance(self.profile.nav, NavSettings) else NavSettings(),
                      mode=nav_page.mode.currentData(), server=nav_page.server.text().strip(),
                      port=nav_page.port.value(), use_https=nav_page.use_https.isChecked(),
                      server_instance=nav_page.instance.text().strip(), company=nav_page.company.text().strip(),
                      user=nav_page.user.text().strip(), use_windows_auth=nav_page.use_windows_auth.isChecked(),
                      tenant=nav_page.tenant.text().strip(),
                      client_id=nav_page.client_id.text().strip())
        environment = bill_page.environment.currentData()
        gateway = bill_page.gateway.text().strip().rstrip("/") if environment == OTHER_GATEWAY else ""
        bill = replace(self.profile.bill if isinstance(self.profile.bill, BillSettings) else BillSettings(),
                       environment="sandbox" if environment == OTHER_GATEWAY else environment,
                       username=bill_page.username.text().strip(),
                       organization_id=bill_page.organization.text().strip(),
                       base_url=f"{gateway}/connect" if gateway else "",
                       events_base_url=f"{gateway}/connect-events" if gateway else "")
        profile = replace(self.profile, name=nav_page.profile_name.text().strip(), nav=nav, bill=bill, active=True)
        typed = {"nav.web_service_key": nav_page.web_service_key.text(),
                 "nav.windows_password": nav_page.windows_password.text(),
                 "nav.client_secret": nav_page.client_secret.text(),
                 "bill.password": bill_page.password.text(), "bill.dev_key": bill_page.dev_key.text()}
        return profile, {k: v for k, v in typed.items() if v}

    def connections(self, profile, secrets, vault, build_nav, build_bill):
        """Connections for the test and the preview: typed secrets first, then the ones saved (under the
        name the profile had when the wizard opened, so a rename keeps them)."""
        lookup = replace(profile, name=self.original_name) if self.original_name else profile
        nav, bill = build_nav(lookup, vault), build_bill(lookup, vault)
        nav_values = {"web_service_key": secrets.get("nav.web_service_key"),
                      "windows_password": secrets.get("nav.windows_password"),
                      "client_secret": secrets.get("nav.client_secret")}
        bill_values = {"password": secrets.get("bill.password"), "dev_key": secrets.get("bill.dev_key")}
        nav = replace(nav, **{k: v for k, v in nav_values.items() if v})
        bill = replace(bill, **{k: v for k, v in bill_values.items() if v})
        return nav, bill

    def bill_budget(self, profile, settings=None):
        """The installation's hourly BILL request count (None in a session without a data folder): what the test and
        the preview send is counted with the syncs' (call on a worker: the settings come from the store)."""
        from app.engine.settings import EngineSettings
        from app.setup.profiles import bill_budget

        paths = getattr(self.session, "paths", None)
        if paths is None:
            return None
        return bill_budget(paths.data_dir, profile, settings or EngineSettings.load(self.session.store))

    def engine_values(self) -> dict[str, Any]:
        return {**self.payments_page.values(), "master_on_conflict": self.options_page.master.currentData()}

    def preview_work(self):
        """The dry run of the first sync on what is typed now (nothing saved): a worker function."""
        from app.setup.profiles import build_bill_connection, build_nav_connection

        profile, secrets = self.collect()
        vault = self.session_vault()
        store = self.session.store
        settings = replace(self.engine_settings, **self.engine_values())
        connections, budget_of = self.connections, self.bill_budget
        first = self.first_run

        def work(ctx: TaskContext):
            from app.clients.bill import BillClient
            from app.clients.nav import NavClient
            from app.engine import SyncEngine
            from app.ui.plan_words import describe_plan
            from app.ui.service_bridge import progress_triple
            from app.ui.store_backend import outcome_of

            nav_connection, bill_connection = connections(profile, secrets, vault, build_nav_connection,
                                                          build_bill_connection)
            nav, bill = NavClient(nav_connection), BillClient(bill_connection, budget=budget_of(profile, settings))
            bill_names: dict[str, str] = {}
            try:
                report = SyncEngine(store, nav, bill, settings).run(
                    dry_run=True, progress=lambda *a, **k: ctx.progress(*progress_triple(*a, **k)),
                    cancel=ctx.cancel, trigger="setup preview")
                if any(w.kind == "create_bill" and not w.name for w in report.plan):
                    try:  # bills for vendors BILL already has: name them (one more read, nothing written)
                        bill_names = {v.id: v.fields.name for v in bill.iter_vendors()}
                    except Exception:
                        log.info("BILL vendor names for the preview could not be read", exc_info=True)
            finally:
                nav.close()
                bill.close()
            lines, text = describe_plan(report, store, bill_names, first=first)
            return outcome_of(report, True, 0), lines, text

        return work

    def save(self) -> bool:
        """Save now, on the calling thread (a test or a script); the Finish button saves on a worker (``accept``).
        False when the vault stayed locked."""
        work = self._save_work()
        if work is None:
            return False
        self.saved_profile = work()
        return True

    def _save_work(self):
        """On the UI thread: what was typed, and the vault opened (it may ask for the passphrase). Returns the work
        that writes the profile, its secrets and the options to the store (a callable for a worker: the store may
        be a team's PostgreSQL server across the network), or None when the vault stayed locked."""
        from app.setup.profiles import SECRET_KEYS, secret_name
        from app.ui.service_host import PUSH_SETTING

        profile, secrets = self.collect()
        session = self.session
        if session.profiles is None:
            return lambda: None  # nothing to save to
        if not self.vault_ready():
            return None
        vault, original = session.vault, self.original_name
        renamed = bool(original) and profile.name != original
        push, engine_values = self.options_page.values(), self.engine_values()

        def work():
            if renamed and vault is not None:
                # The saved secrets move with the profile: nothing stays behind under the old name.
                for key in SECRET_KEYS:
                    if key not in secrets:
                        value = vault.get(secret_name(original, key))
                        if value:
                            secrets[key] = value
            saved = session.profiles.save(profile, secrets if vault else None)
            if renamed:
                session.profiles.delete(original)
                log.info("Renamed connection profile %s to %s", original, profile.name)
            session.store.set_setting(PUSH_SETTING, push)
            engine = dict(session.store.get_setting("engine", {}) or {})
            engine.update(engine_values)
            session.store.set_setting("engine", engine)
            log.info("Saved connection profile %s", saved.name)
            return saved

        return work

    def accept(self) -> None:
        """Finish: the vault is opened here (it may ask), the writes go to a worker; the wizard closes once they are
        done, or stays open saying what went wrong."""
        if self._saving:
            return
        work = self._save_work()
        if work is None:
            return  # the vault stayed locked: nothing saved, the wizard stays open
        self._show_saving(True)
        self.tasks.start("save the settings", lambda ctx: work(), on_success=self._saved,
                         on_failure=self._save_failed)

    def _show_saving(self, saving: bool) -> None:
        self._saving = saving
        for which in (QWizard.WizardButton.FinishButton, QWizard.WizardButton.BackButton,
                      QWizard.WizardButton.CancelButton, QWizard.WizardButton.CustomButton1,
                      QWizard.WizardButton.CustomButton2):
            button = self.button(which)
            if button is not None:
                button.setEnabled(not saving)
        self.setButtonText(QWizard.WizardButton.FinishButton, "Saving…" if saving else self.finish_text)

    def _saved(self, profile) -> None:
        self.saved_profile = profile
        self._show_saving(False)
        self.tasks.shutdown()
        super().accept()

    def _save_failed(self, message: str) -> None:
        self._show_saving(False)
        from PySide6.QtWidgets import QMessageBox

        # Window-modal, without a nested event loop: the wizard stays as it was, ready for another Finish.
        self.save_error = QMessageBox(QMessageBox.Icon.Warning, "The settings were not saved",
                                      f"The settings could not be saved: {message}\n\nCheck that the database can be "
                                      "reached (for a team store: the server and the network), then click "
                                      f"{self.finish_text.replace('&', '')} again.", parent=self)
        self.save_error.open()

    def reject(self) -> None:
        self.tasks.shutdown()
        super().reject()
