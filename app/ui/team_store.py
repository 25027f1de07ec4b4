"""Settings → Team store…: join a team's shared PostgreSQL store from the window.

The clerk types the address the administrator gave them and the password (masked, never logged, saved only in
this PC's credentials vault); Test connects on a worker and says precisely what is wrong (the server cannot be
reached, the password is refused, the user or database does not exist, the tables are not there yet). An empty
store can be set up from here when the administrator ticks "Create the connector's tables"; otherwise the
message names the `store init` command. Join is possible only after a passing test of exactly what is typed;
the running window then switches to the team store (app/ui/application.py ``switch_to_joined_store``).
The Qt-free half is app/store/team_join.py.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
)

from app.store import team_join
from app.ui.workers import TaskRunner

log = logging.getLogger("navbill.ui")


class JoinTeamStoreDialog(QDialog):
    def __init__(self, paths, local_vault, parent=None, current_url: str = "") -> None:
        super().__init__(parent)
        self.paths = paths
        self.local_vault = local_vault
        self.tasks = TaskRunner(self)
        self.setWindowTitle("Join a team store")
        intro = QLabel("An AP team of several workstations shares one PostgreSQL database, so nobody creates a vendor, "
                       "bill or journal line another PC already made. Type the address your administrator gave you.")
        intro.setWordWrap(True)
        self.url = QLineEdit(current_url if current_url.startswith("postgresql") else "")
        self.url.setPlaceholderText("postgresql+psycopg://navbill@db.example.com/navbill")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("(none: from PGPASSWORD or the pgpass file)")
        self.create_tables = QCheckBox("Create the connector's tables in this empty database (I am the administrator)")
        self.create_tables.hide()
        self.test_button = QPushButton("&Test")
        self.test_button.clicked.connect(self.run_test)
        self.answer = QLabel("")
        self.answer.setWordWrap(True)
        self.answer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.join_button = self.buttons.addButton("&Join", QDialogButtonBox.ButtonRole.AcceptRole)
        self.join_button.setEnabled(False)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Team store &address", self.url)
        form.addRow("&Password", self.password)
        form.addRow("", self.create_tables)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.test_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.answer)
        layout.addWidget(self.buttons)
        self.probe: team_join.Probe | None = None
        self._tested: tuple[str, str] | None = None
        self.joined_message = ""
        self.url.textChanged.connect(self._changed)
        self.password.textChanged.connect(self._changed)
        self.resize(640, 300)

    def typed(self) -> tuple[str, str]:
        return self.url.text().strip(), self.password.text()

    def _changed(self, *_args) -> None:
        self.join_button.setEnabled(bool(self.probe and self.probe.ok and self._tested == self.typed()))

    def run_test(self) -> None:
        url, password = self.typed()
        create = self.create_tables.isVisible() and self.create_tables.isChecked()
        self.test_button.setEnabled(False)
        self.join_button.setEnabled(False)
        self.answer.setText("Creating the connector's tables…" if create else "Connecting to the team store…")

        def work(_ctx):
            return team_join.initialise(url, password) if create else team_join.probe(url, password)

        self.tasks.start("test the team store", work, on_success=lambda found: self._tested_with(found, url, password),
                         on_failure=lambda message: self._tested_with(
                             team_join.Probe(team_join.OTHER, f"The test stopped: {message}"), url, password))

    def _tested_with(self, found: team_join.Probe, url: str, password: str) -> None:
        self.probe, self._tested = found, (url, password)
        self.test_button.setEnabled(True)
        self.answer.setText(found.message)
        if found.state == team_join.NOT_INITIALISED:
            self.create_tables.show()
        elif found.ok:
            self.create_tables.setChecked(False)
            self.create_tables.hide()
        self._changed()
        log.info("Team store test of %s: %s", team_join.shown(url), found.state)

    def accept(self) -> None:
        url, password = self.typed()
        if not (self.probe and self.probe.ok and self._tested == (url, password)):
            self.answer.setText("Test the address and password first.")
            return
        if password and (self.local_vault is None or not self.local_vault.is_unlocked):
            from app.ui.vault_dialog import ensure_vault_ready

            if not ensure_vault_ready(self.local_vault, self):
                self.answer.setText("This PC's credentials vault is locked, so the password cannot be saved. Unlock "
                                    "it (Settings → Credentials) and join again.")
                return
        try:
            self.joined_message = team_join.join(self.paths, url, password, self.local_vault)
        except (ValueError, OSError) as error:
            self.answer.setText(str(error))
            return
        log.info("Joined the team store %s", team_join.shown(url))
        self.tasks.shutdown()
        super().accept()

    def reject(self) -> None:
        self.tasks.shutdown()
        super().reject()
