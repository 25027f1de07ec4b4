"""Dialogs for the credentials vault: choose, enter or change its passphrase; rotate its key; remove a
profile's saved credentials.

On a computer without a secure system keyring the vault's key is protected by a passphrase only the
user knows (see app/setup/vault.py). These dialogs are how the window asks for it. Deriving the key (scrypt)
takes a noticeable moment and touches the database, so every vault call runs on a worker; the dialog
shows what went wrong inline (a wrong passphrase, a short one) and lets the user try again.
Passphrases are never shown, logged or put into a message.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.ui.qt_fixes import FitsWrappedText
from app.ui.theme import colour_text, warning_text
from app.ui.workers import TaskContext, TaskRunner

log = logging.getLogger("navbill.ui")

NEW, UNLOCK, CHANGE = "new", "unlock", "change"


def secret_field(parent: QWidget | None = None) -> QLineEdit:
    field = QLineEdit(parent)
    field.setEchoMode(QLineEdit.EchoMode.Password)
    return field


def passphrase_mode(vault) -> str:
    """What the vault needs from the user: NEW, UNLOCK, or "" (nothing, or nothing a passphrase can fix)."""
    if vault is None or vault.is_unlocked:
        return ""
    if vault.needs_new_passphrase:
        return NEW
    if vault.mode == "passphrase":
        return UNLOCK
    return ""


class PassphraseDialog(FitsWrappedText, QDialog):
    """Choose a new passphrase (typed twice), unlock with the passphrase, or change it.

    OK runs the vault call on a worker; success accepts the dialog, a failure shows its message in
    ``error_label`` and leaves the fields ready for another try. ``busy_changed`` follows the worker.
    """

    busy_changed = Signal(bool)

    def __init__(self, vault, mode: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from app.setup.vault import MIN_PASSPHRASE_LENGTH

        self.vault = vault
        self.mode = mode
        self.min_length = MIN_PASSPHRASE_LENGTH
        self._succeeded_once = False
        self.tasks = TaskRunner(self, max_threads=1)
        self.tasks.busy_changed.connect(self._busy)
        self.tasks.busy_changed.connect(self.busy_changed)
        titles = {NEW: "Choose a vault passphrase", UNLOCK: "Unlock the saved credentials",
                  CHANGE: "Change the vault passphrase"}
        self.setWindowTitle(titles[mode])
        self.explanation = QLabel(self._explanation(), self)
        self.explanation.setWordWrap(True)
        self.old_passphrase = secret_field(self)
        self.passphrase = secret_field(self)
        self.confirm = secret_field(self)
        form = QFormLayout()
        self.form = form
        if mode == CHANGE:
            form.addRow("&Current passphrase", self.old_passphrase)
        form.addRow("&New passphrase" if mode in (NEW, CHANGE) else "&Passphrase", self.passphrase)
        if mode in (NEW, CHANGE):
            form.addRow("&Type it again", self.confirm)
        # A field this mode does not use must not sit unlabelled on the dialog and take the focus.
        for unused in ((self.old_passphrase,) if mode != CHANGE else ()) + ((self.confirm,) if mode == UNLOCK else ()):
            unused.hide()
            unused.setEnabled(False)
        self.first_field = self.old_passphrase if mode == CHANGE else self.passphrase
        self.error_label = QLabel("", self)
        self.error_label.setWordWrap(True)
        colour_text(self.error_label, warning_text())  # readable on a light or a dark palette
        self.error_label.setVisible(False)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel,
                                        self)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText({NEW: "Set passphrase", UNLOCK: "Unlock", CHANGE: "Change"}[mode])
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.explanation)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.resize(480, 0)
        self._fit_height()
        self.first_field.setFocus()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._fit_height()
        self.first_field.setFocus()  # what the user types goes into the passphrase, never elsewhere

    def _explanation(self) -> str:
        status = self.vault.backend_status().message if self.vault is not None else ""
        if self.mode == NEW:
            return (f"{status}\n\nChoose a passphrase of at least {self.min_length} characters. You will be "
                    "asked for it each time the connector starts; without it the saved credentials cannot be "
                    "read (they would have to be entered again).")
        if self.mode == UNLOCK:
            return f"{status}\n\nEnter the vault passphrase chosen when the connector was set up."
        return "The saved credentials stay as they are; only the passphrase that protects their key changes."

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.setVisible(True)

    def _busy(self, busy: bool) -> None:
        self.ok_button.setEnabled(not busy)
        for field in (self.old_passphrase, self.passphrase, self.confirm):
            field.setEnabled(not busy and not field.isHidden())
        if not busy and self._succeeded_once:
            self.accept()  # only once the worker is completely done with the vault

    def submit(self) -> None:
        if self.tasks.busy:
            return
        new = self.passphrase.text()
        if self.mode in (NEW, CHANGE):
            if len(new) < self.min_length:
                self.show_error(f"The passphrase needs at least {self.min_length} characters.")
                return
            if new != self.confirm.text():
                self.show_error("The two passphrases differ. Type the same passphrase twice.")
                self.confirm.clear()
                return
        elif not new:
            self.show_error("Enter the passphrase.")
            return
        vault, mode, old = self.vault, self.mode, self.old_passphrase.text()

        def work(_ctx: TaskContext) -> None:
            if mode == NEW:
                vault.set_passphrase(new)
            elif mode == UNLOCK:
                vault.unlock(new)
            else:
                vault.change_passphrase(old, new)

        self.error_label.setVisible(False)
        self.tasks.start(f"vault {mode}", work, on_success=self._succeeded, on_failure=self._failed)

    def _succeeded(self, _result) -> None:
        log.info("Vault passphrase step done (%s)", self.mode)
        self._succeeded_once = True

    def _failed(self, message: str) -> None:
        target = self.old_passphrase if self.mode == CHANGE else self.passphrase
        if self.mode != NEW:
            target.clear()  # a wrong passphrase: type it again
        self.show_error(message)
        target.setFocus()

    def done(self, result: int) -> None:
        self.tasks.shutdown()
        super().done(result)


def ensure_vault_ready(vault, parent: QWidget | None = None) -> bool:
    """Ask for the passphrase when the vault needs one; True when the vault is unlocked afterwards.

    A keyring vault whose key cannot be read cannot be fixed with a passphrase: say why and return False.
    """
    if vault is None:
        return False
    if vault.is_unlocked:
        return True
    mode = passphrase_mode(vault)
    if not mode:
        QMessageBox.warning(parent, "Saved credentials are locked", vault.backend_status().message)
        return False
    PassphraseDialog(vault, mode, parent).exec()
    return vault.is_unlocked


class VaultSettingsDialog(FitsWrappedText, QDialog):
    """Settings → Credentials: where the key is kept, change the passphrase, rotate the key, and remove the
    saved credentials of a profile. Each vault call runs on a worker; ``status_label`` reports the outcome."""

    busy_changed = Signal(bool)

    def __init__(self, vault, profiles=None, profile_name: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vault = vault
        self.profiles = profiles
        self.profile_name = profile_name
        self.tasks = TaskRunner(self, max_threads=1)
        self.tasks.busy_changed.connect(self.busy_changed)
        self.tasks.busy_changed.connect(lambda busy: self._enable(busy))
        self.setWindowTitle("Saved credentials")
        self.where = QLabel("", self)
        self.where.setWordWrap(True)
        self.change_button = QPushButton("Change passphrase…", self)
        self.change_button.clicked.connect(self.change_passphrase)
        self.unlock_button = QPushButton("Unlock…", self)
        self.unlock_button.clicked.connect(self.unlock)
        self.rotate_button = QPushButton("Rotate the encryption key", self)
        self.rotate_button.setToolTip("Re-encrypt every saved credential under a fresh key")
        self.rotate_button.clicked.connect(self.rotate_key)
        self.remove_button = QPushButton(f"Remove the saved credentials of “{profile_name}”", self)
        self.remove_button.clicked.connect(self.remove_credentials)
        self.status_label = QLabel("", self)
        self.status_label.setWordWrap(True)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for widget in (self.where, self.unlock_button, self.change_button, self.rotate_button, self.remove_button,
                       self.status_label, close):
            layout.addWidget(widget)
        self.resize(520, 0)
        self._enable(False)

    # -- state -------------------------------------------------------------------------------
    def _enable(self, busy: bool) -> None:
        vault = self.vault
        if vault is None:
            self.where.setText("The credentials vault could not be opened; see the log file.")
        else:
            self.where.setText(vault.backend_status().message)
        unlocked = vault is not None and vault.is_unlocked
        self.unlock_button.setVisible(bool(passphrase_mode(vault)))
        self.unlock_button.setEnabled(not busy)
        self.change_button.setEnabled(not busy and unlocked and vault.mode == "passphrase")
        self.rotate_button.setEnabled(not busy and unlocked)
        self.remove_button.setVisible(bool(self.profile_name))
        self.remove_button.setEnabled(not busy and vault is not None)

    def confirm(self, question: str) -> bool:
        """Asks before removing credentials (tests replace it)."""
        answer = QMessageBox.question(self, "Remove saved credentials", question)
        return answer == QMessageBox.StandardButton.Yes

    def _run(self, name: str, work, done_text: str) -> None:
        self.status_label.setText("Working…")
        self.tasks.start(name, lambda _ctx: work(), on_success=lambda result: self._done(done_text, result),
                         on_failure=self._failed)

    def _done(self, text: str, result) -> None:
        self.status_label.setText(text.format(result=result))
        self._enable(self.tasks.busy)

    def _failed(self, message: str) -> None:
        self.status_label.setText(message)
        self._enable(self.tasks.busy)

    # -- actions -----------------------------------------------------------------------------
    def passphrase_dialog(self, mode: str) -> PassphraseDialog:
        return PassphraseDialog(self.vault, mode, self)

    def unlock(self) -> None:
        mode = passphrase_mode(self.vault)
        if mode:
            self.passphrase_dialog(mode).exec()
        self._enable(self.tasks.busy)

    def change_passphrase(self) -> None:
        if self.passphrase_dialog(CHANGE).exec() == QDialog.DialogCode.Accepted:
            self.status_label.setText("The vault passphrase was changed.")
        self._enable(self.tasks.busy)

    def rotate_key(self) -> None:
        self._run("rotate vault key", self.vault.rotate_key,
                  "Every saved credential is now encrypted under a new key.")

    def remove_credentials(self) -> None:
        name = self.profile_name
        if not self.confirm(f"Remove every password and key saved for “{name}”? The profile's other settings "
                            "stay; the credentials must be typed in again before the next sync."):
            return
        vault = self.vault
        self._run("remove credentials", lambda: vault.delete_prefix(f"profile/{name}/"),
                  "Removed {result} saved credential(s). Enter them again in Settings before the next sync.")

    def done(self, result: int) -> None:
        self.tasks.shutdown()
        super().done(result)
