"""Settings and the first-run wizard (one QWizard serves both).

Pages: NAV connection, BILL connection, connection test (a worker; steps appear as they finish),
sync options (schedule, push or polling, who wins a conflict), and a dry-run preview of the first
sync. Nothing is written to NAV or BILL by the wizard; profile and secrets are saved on Finish
(secrets only into the vault; password fields are masked and never logged).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

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

from app.ui.table_model import ATTENTION, GOOD, Column, RowTableModel
from app.ui.workers import TaskContext, TaskRunner

log = logging.getLogger("navbill.ui")


@dataclass(frozen=True)
class CheckStepRow:
    name: str
    passed: bool | None  # None = running / not run
    detail: str = ""
    fix: str = ""


STEP_COLUMNS = [
    Column[CheckStepRow]("Step", lambda r: r.name, width=240),
    Column[CheckStepRow]("Result", lambda r: "…" if r.passed is None else "passed" if r.passed else "failed",
                         background=lambda r: None if r.passed is None else GOOD if r.passed else ATTENTION,
                         width=70),
    Column[CheckStepRow]("What to do", lambda r: r.fix or r.detail, tooltip=lambda r: r.detail),
]


def password_field(parent=None) -> QLineEdit:
    field = QLineEdit(parent)
    field.setEchoMode(QLineEdit.EchoMode.Password)
    field.setPlaceholderText("(saved — leave empty to keep)")
    return field


def step_row(step: Any) -> CheckStepRow:
    """A step of app.check's CheckReport, read loosely (name/title, passed/ok, detail/message, fix)."""
    name = getattr(step, "title", None) or getattr(step, "name", None) or str(step)
    side = getattr(step, "side", "")
    name = f"{side}: {name}" if side else name
    passed = getattr(step, "passed", None)
    if passed is None:
        passed = getattr(step, "ok", None)
    detail = getattr(step, "detail", "") or getattr(step, "message", "")
    return CheckStepRow(str(name), passed, str(detail or ""), str(getattr(step, "fix", "") or ""))


class NavPage(QWizardPage):
    def __init__(self, wizard: SetupWizard) -> None:
        super().__init__(wizard)
        self.setTitle("Microsoft Dynamics NAV / Business Central")
        self.setSubTitle("Where the connector reads vendors and posted invoices, and posts payments.")
        nav = wizard.profile.nav
        self.profile_name = QLineEdit(wizard.profile.name)
        self.mode = QComboBox()
        self.mode.addItem("NAV / Business Central on premises (OData)", "onprem")
        self.mode.addItem("Business Central online (API)", "online")
        self.mode.setCurrentIndex(max(self.mode.findData(nav.mode), 0))
        self.server = QLineEdit(nav.server)
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(nav.port or 7048)
        self.use_https = QCheckBox("Use HTTPS")
        self.use_https.setChecked(nav.use_https)
        self.instance = QLineEdit(nav.server_instance)
        self.company = QLineEdit(nav.company)
        self.user = QLineEdit(nav.user)
        self.web_service_key = password_field()
        # NAV's Windows credential type signs in the Windows account itself (DOMAIN\user + its password).
        self.use_windows_auth = QCheckBox("Sign in with a Windows account (NTLM)")
        self.use_windows_auth.setChecked(bool(getattr(nav, "use_windows_auth", False)))
        self.windows_password = password_field()
        self.tenant = QLineEdit(nav.tenant)
        self.client_id = QLineEdit(nav.client_id)
        self.client_secret = password_field()
        form = QFormLayout(self)
        form.addRow("Profile name", self.profile_name)
        form.addRow("Kind", self.mode)
        form.addRow("Server", self.server)
        form.addRow("OData port", self.port)
        form.addRow("", self.use_https)
        form.addRow("Server instance", self.instance)
        form.addRow("Company", self.company)
        form.addRow("User", self.user)
        form.addRow("Web service access key", self.web_service_key)
        form.addRow("", self.use_windows_auth)
        form.addRow("Windows password", self.windows_password)
        form.addRow("Tenant (online)", self.tenant)
        form.addRow("Client id (online)", self.client_id)
        form.addRow("Client secret (online)", self.client_secret)
        self.registerField("profile_name*", self.profile_name)


class BillPage(QWizardPage):
    def __init__(self, wizard: SetupWizard) -> None:
        super().__init__(wizard)
        self.setTitle("BILL")
        self.setSubTitle("Where bills are created and payments are read.")
        bill = wizard.profile.bill
        self.environment = QComboBox()
        self.environment.addItems(["sandbox", "production"])
        self.environment.setCurrentText(bill.environment)
        self.username = QLineEdit(bill.username)
        self.password = password_field()
        self.organization = QLineEdit(bill.organization_id)
        self.dev_key = password_field()
        form = QFormLayout(self)
        form.addRow("Environment", self.environment)
        form.addRow("User name (e-mail)", self.username)
        form.addRow("Password", self.password)
        form.addRow("Organization id", self.organization)
        form.addRow("Developer key", self.dev_key)


class CheckPage(QWizardPage):
    def __init__(self, wizard: SetupWizard) -> None:
        super().__init__(wizard)
        self.wizard_ = wizard
        self.setTitle("Connection test")
        self.setSubTitle("Signs in to both sides and reads a little from each. Nothing is written.")
        self.model = RowTableModel(STEP_COLUMNS, self)
        self.view = QTableView(self)
        self.view.setModel(self.model)
        self.view.verticalHeader().setVisible(False)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.setColumnWidth(0, 240)
        self.run_button = QPushButton("Test the connection")
        self.run_button.clicked.connect(self.run_test)
        self.result_label = QLabel("")
        self.result_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.run_button)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.result_label)
        self.passed: bool | None = None

    def run_test(self) -> None:
        profile, secrets = self.wizard_.collect()
        vault = self.wizard_.session_vault()
        self.model.set_rows([])
        self.run_button.setEnabled(False)
        self.result_label.setText("Testing…")

        def work(ctx: TaskContext):
            try:
                from app.check import run_checks
            except ImportError:
                return None
            from app.profiles import build_bill_connection, build_nav_connection

            nav, bill = self.wizard_.connections(profile, secrets, vault, build_nav_connection,
                                                 build_bill_connection)

            def step_done(step, *rest):
                ctx.progress("step", 0, 0)
                self._pending_steps.append(step_row(step))

            return run_checks(nav, bill, progress=step_done, cancel=ctx.cancel)

        self._pending_steps: list[CheckStepRow] = []
        self.wizard_.tasks.start("connection test", work, on_success=self._finished, on_failure=self._failed,
                                 on_progress=lambda *_: self.model.set_rows(list(self._pending_steps)))

    def _finished(self, report) -> None:
        self.run_button.setEnabled(True)
        if report is None:
            self.result_label.setText("The connection test is not available in this build.")
            self.passed = None
            return
        steps = [step_row(s) for s in getattr(report, "steps", [])]
        self.model.set_rows(steps)
        self.passed = all(s.passed for s in steps) if steps else bool(getattr(report, "ok", False))
        self.result_label.setText("Both sides answered. You can go on." if self.passed else
                                  "Some steps failed: follow “What to do”, then test again.")
        self.completeChanged.emit()

    def _failed(self, message: str) -> None:
        self.run_button.setEnabled(True)
        self.passed = False
        self.result_label.setText(message)


class OptionsPage(QWizardPage):
    """When syncs run and how changes arrive: the store's ``push`` setting, which ``navbill serve``
    reads too (push_enabled, listen, public_url, poll_minutes, schedule)."""

    def __init__(self, wizard: SetupWizard) -> None:
        super().__init__(wizard)
        from PySide6.QtCore import QTime

        from app.scheduler import Schedule

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
        form.addRow("Sync", self.schedule_mode)
        form.addRow("Time of day", self.daily_at)
        form.addRow("Interval (minutes)", self.every_minutes)
        form.addRow("Changes arrive by", self.push)
        form.addRow("Without webhooks, read changes every (minutes)", self.poll_minutes)
        form.addRow("Webhook listener address", self.listen)
        form.addRow("Public webhook address", self.public_url)
        form.addRow("When a vendor field changed on both sides", self.master)
        self._enable()

    def _enable(self) -> None:
        mode = self.schedule_mode.currentData()
        self.daily_at.setEnabled(mode == "daily")
        self.every_minutes.setEnabled(mode == "interval")
        push = bool(self.push.currentData())
        self.listen.setEnabled(push)
        self.public_url.setEnabled(push)

    def validatePage(self) -> bool:
        from app.push.listener import parse_listen_address

        try:
            parse_listen_address(self.listen.text())
        except ValueError as error:
            self.listen.setToolTip(str(error))
            self.listen.setStyleSheet("background: #ffd0cc;")
            return False
        self.listen.setStyleSheet("")
        return True

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
    def __init__(self, wizard: SetupWizard) -> None:
        super().__init__(wizard)
        self.wizard_ = wizard
        self.setTitle("Preview the first sync")
        self.setSubTitle("A dry run: what the first sync would create or change. Nothing is written.")
        self.model = RowTableModel([Column[str]("Would do", lambda line: line)], self)
        self.view = QTableView(self)
        self.view.setModel(self.model)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.verticalHeader().setVisible(False)
        self.run_button = QPushButton("Preview")
        self.run_button.clicked.connect(self.run_preview)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.run_button)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.summary)
        self.outcome = None

    def run_preview(self) -> None:
        backend = self.wizard_.preview_backend()
        if backend is None:
            self.summary.setText("Save the connection first (the preview needs the sync engine).")
            return
        self.run_button.setEnabled(False)
        self.summary.setText("Previewing…")

        def work(ctx: TaskContext):
            return backend.sync(dry_run=True, progress=ctx.progress, cancel=ctx.cancel)

        self.wizard_.tasks.start("preview", work, on_success=self._done, on_failure=self._failed,
                                 on_progress=lambda message, *_: self.summary.setText(message))

    def _done(self, outcome) -> None:
        self.run_button.setEnabled(True)
        self.outcome = outcome
        self.model.set_rows(list(outcome.details))
        self.summary.setText(outcome.summary)

    def _failed(self, message: str) -> None:
        self.run_button.setEnabled(True)
        self.summary.setText(message)


class SetupWizard(QWizard):
    """First run and Settings. ``saved_profile`` is set when Finish saved a profile."""

    def __init__(self, session, parent=None, first_run: bool = False) -> None:
        super().__init__(parent)
        from app.profiles import Profile

        self.session = session
        self.tasks = TaskRunner(self)
        self.profile = session.profile or Profile(name="My company")
        from app.ui.service_host import push_values

        self.push_values = push_values(session.store)
        engine_settings = session.store.get_setting("engine", {}) or {}
        self.master_on_conflict = engine_settings.get("master_on_conflict", "ask")
        self.saved_profile = None
        self.setWindowTitle("Set up NavBill" if first_run else "Settings")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage)
        self.nav_page = NavPage(self)
        self.bill_page = BillPage(self)
        self.check_page = CheckPage(self)
        self.options_page = OptionsPage(self)
        self.preview_page = PreviewPage(self)
        for page in (self.nav_page, self.bill_page, self.check_page, self.options_page, self.preview_page):
            self.addPage(page)
        # Settings → Credentials: where the key lives, change the passphrase, rotate the key, remove credentials.
        self.setButtonText(QWizard.WizardButton.CustomButton1, "Credentials…")
        self.setOption(QWizard.WizardOption.HaveCustomButton1, True)
        self.customButtonClicked.connect(
            lambda which: self.open_credentials() if which == QWizard.WizardButton.CustomButton1.value else None)
        self.resize(760, 560)

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
        return self.session.vault

    def collect(self):
        """The profile and the secrets typed in (empty secret fields mean "keep the saved one")."""
        from app.profiles import BillSettings, NavSettings

        nav_page, bill_page = self.nav_page, self.bill_page
        nav = replace(self.profile.nav if isinstance(self.profile.nav, NavSettings) else NavSettings(),
                      mode=nav_page.mode.currentData(), server=nav_page.server.text().strip(),
                      port=nav_page.port.value(), use_https=nav_page.use_https.isChecked(),
                      server_instance=nav_page.instance.text().strip(), company=nav_page.company.text().strip(),
                      user=nav_page.user.text().strip(), use_windows_auth=nav_page.use_windows_auth.isChecked(),
                      tenant=nav_page.tenant.text().strip(),
                      client_id=nav_page.client_id.text().strip())
        bill = replace(self.profile.bill if isinstance(self.profile.bill, BillSettings) else BillSettings(),
                       environment=bill_page.environment.currentText(), username=bill_page.username.text().strip(),
                       organization_id=bill_page.organization.text().strip())
        profile = replace(self.profile, name=nav_page.profile_name.text().strip(), nav=nav, bill=bill, active=True)
        typed = {"nav.web_service_key": nav_page.web_service_key.text(),
                 "nav.windows_password": nav_page.windows_password.text(),
                 "nav.client_secret": nav_page.client_secret.text(),
                 "bill.password": bill_page.password.text(), "bill.dev_key": bill_page.dev_key.text()}
        return profile, {k: v for k, v in typed.items() if v}

    @staticmethod
    def connections(profile, secrets, vault, build_nav, build_bill):
        """Connections for the test: typed secrets first, then the saved ones."""
        nav, bill = build_nav(profile, vault), build_bill(profile, vault)
        nav_values = {"web_service_key": secrets.get("nav.web_service_key"),
                      "windows_password": secrets.get("nav.windows_password"),
                      "client_secret": secrets.get("nav.client_secret")}
        bill_values = {"password": secrets.get("bill.password"), "dev_key": secrets.get("bill.dev_key")}
        nav = replace(nav, **{k: v for k, v in nav_values.items() if v})
        bill = replace(bill, **{k: v for k, v in bill_values.items() if v})
        return nav, bill

    def save(self) -> bool:
        """Save the profile, its typed secrets and the options; False when the vault stayed locked."""
        profile, secrets = self.collect()
        if self.session.profiles is None:
            return True  # nothing to save to
        if not self.vault_ready():
            return False
        self.saved_profile = self.session.profiles.save(profile, secrets if self.session.vault else None)
        from app.ui.service_host import PUSH_SETTING

        self.session.store.set_setting(PUSH_SETTING, self.options_page.values())
        engine = dict(self.session.store.get_setting("engine", {}) or {})
        engine["master_on_conflict"] = self.options_page.master.currentData()
        self.session.store.set_setting("engine", engine)
        log.info("Saved connection profile %s", self.saved_profile.name)
        return True

    def preview_backend(self):
        """A backend whose sync uses what is typed now (saved first, so the engine can read it)."""
        from app.ui.application import build_engine_runner
        from app.ui.store_backend import StoreBackend

        if not self.save():
            return None
        runner = build_engine_runner(self.session.store, self.saved_profile, self.session.vault)
        return StoreBackend(self.session.store, runner) if runner else None

    def accept(self) -> None:
        if not self.save():
            return  # the vault stayed locked: nothing saved, the wizard stays open
        self.tasks.shutdown()
        super().accept()

    def reject(self) -> None:
        self.tasks.shutdown()
        super().reject()

