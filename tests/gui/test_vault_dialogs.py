"""The vault's passphrase in the window, on a computer without a secure keyring (keyring's fail backend).

A new passphrase is chosen before the wizard saves; the next start asks for it, a wrong one is explained
inline and can be retried; Settings → Credentials changes the passphrase, rotates the key and removes a
profile's credentials. Modal dialogs are answered from the event loop (QTimer), never with sleeps.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialog, QWizard

from app.ui.vault_dialog import CHANGE, NEW, UNLOCK, PassphraseDialog, VaultSettingsDialog, passphrase_mode

PASSPHRASE = "correct horse battery"
WRONG = "not the passphrase"
BILL_SECRET = "bill-password-4711"


def answer_modal(kind: type, act) -> list:
    """Once a visible ``kind`` dialog is up (inside its exec), call ``act(dialog)``; returns the list of dialogs seen."""
    seen: list = []

    def look(tries: int = 0) -> None:
        # The modal dialog only: walking every top-level widget could touch one an earlier test left half
        # destroyed (a segfault seen once in a whole-suite run).
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, kind) and dialog.isVisible():
            seen.append(dialog)
            act(dialog)
        elif tries < 10_000:
            QTimer.singleShot(0, lambda: look(tries + 1))

    QTimer.singleShot(0, look)
    return seen


def open_real_session(home):
    from app.ui.application import open_session

    return open_session(home, demo=False)


def test_new_passphrase_lets_the_wizard_save_and_the_next_start_unlocks(qtbot, navbill_home, no_keyring):
    from app.setup.profiles import secret_name
    from app.ui.application import unlock_vault_at_start
    from app.ui.settings import SetupWizard

    session = open_real_session(navbill_home)
    try:
        assert passphrase_mode(session.vault) == NEW
        wizard = SetupWizard(session, first_run=True)
        qtbot.addWidget(wizard)
        wizard.nav_page.profile_name.setText("Acme")
        wizard.bill_page.password.setText(BILL_SECRET)

        def choose(dialog: PassphraseDialog) -> None:
            dialog.passphrase.setText(PASSPHRASE)
            dialog.confirm.setText(PASSPHRASE)
            dialog.ok_button.click()

        seen = answer_modal(PassphraseDialog, choose)
        with qtbot.waitSignal(wizard.accepted, timeout=30_000):  # the writes go to a worker
            wizard.accept()  # before the fix: VaultLockedError, i.e. the crash dialog
        assert seen and seen[0].mode == NEW
        assert "keyring" in seen[0].explanation.text()  # says why a passphrase is needed
        assert wizard.result() == QDialog.DialogCode.Accepted
        assert wizard.saved_profile.name == "Acme"
        assert session.vault.get(secret_name("Acme", "bill.password")) == BILL_SECRET
    finally:
        session.close()

    # The next start: the vault opens locked and asks; a wrong passphrase is explained, then the right one works.
    session = open_real_session(navbill_home)
    try:
        assert passphrase_mode(session.vault) == UNLOCK
        errors: list[str] = []

        def unlock(dialog: PassphraseDialog) -> None:
            def after_try(busy: bool) -> None:
                if busy or dialog.result() == QDialog.DialogCode.Accepted:
                    return
                errors.append(dialog.error_label.text() if dialog.error_label.isVisible() else "")
                dialog.passphrase.setText(PASSPHRASE)
                dialog.ok_button.click()

            dialog.busy_changed.connect(after_try)
            dialog.passphrase.setText(WRONG)
            dialog.ok_button.click()

        seen = answer_modal(PassphraseDialog, unlock)
        assert unlock_vault_at_start(session) is True
        assert seen and seen[0].mode == UNLOCK
        assert errors and "passphrase" in errors[0].lower()
        assert WRONG not in errors[0] and PASSPHRASE not in errors[0]
        assert session.vault.get(secret_name("Acme", "bill.password")) == BILL_SECRET
    finally:
        session.close()


def test_wizard_stays_open_and_saves_nothing_when_the_passphrase_is_declined(qtbot, navbill_home, no_keyring):
    from app.ui.settings import SetupWizard

    session = open_real_session(navbill_home)
    try:
        wizard = SetupWizard(session, first_run=True)
        qtbot.addWidget(wizard)
        wizard.nav_page.profile_name.setText("Acme")
        wizard.bill_page.password.setText(BILL_SECRET)
        seen = answer_modal(PassphraseDialog, lambda dialog: dialog.reject())
        wizard.accept()
        assert seen
        assert wizard.result() != QDialog.DialogCode.Accepted
        assert session.profiles.list() == []
        assert not session.vault.is_unlocked
    finally:
        session.close()


def test_wrong_passphrase_shows_an_inline_error_and_allows_a_retry(qtbot, tmp_path, no_keyring):
    from app.setup.vault import Vault

    url = f"sqlite:///{tmp_path / 'v.sqlite3'}"
    Vault.open(url, passphrase=PASSPHRASE, scrypt_n=2**10).put("profile/A/bill.password", BILL_SECRET)
    vault = Vault.open(url, scrypt_n=2**10)
    dialog = PassphraseDialog(vault, passphrase_mode(vault))
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.passphrase.setText(WRONG)
    with qtbot.waitSignal(dialog.busy_changed, timeout=30_000, check_params_cb=lambda busy: not busy):
        dialog.ok_button.click()
    assert dialog.error_label.isVisible() and "passphrase" in dialog.error_label.text().lower()
    assert WRONG not in dialog.error_label.text()
    assert dialog.passphrase.text() == ""  # ready for the next try
    assert dialog.isVisible() and not vault.is_unlocked
    dialog.passphrase.setText(PASSPHRASE)
    with qtbot.waitSignal(dialog.accepted, timeout=30_000):
        dialog.ok_button.click()
    assert vault.get("profile/A/bill.password") == BILL_SECRET


def test_new_passphrase_must_be_typed_twice_the_same(qtbot, tmp_path, no_keyring):
    from app.setup.vault import Vault

    vault = Vault.open(f"sqlite:///{tmp_path / 'v.sqlite3'}", scrypt_n=2**10)
    dialog = PassphraseDialog(vault, NEW)
    qtbot.addWidget(dialog)
    dialog.passphrase.setText(PASSPHRASE)
    dialog.confirm.setText(PASSPHRASE + "x")
    dialog.ok_button.click()
    assert dialog.error_label.text() and not dialog.tasks.busy
    assert vault.needs_new_passphrase
    dialog.passphrase.setText("short")
    dialog.confirm.setText("short")
    dialog.ok_button.click()
    assert "at least" in dialog.error_label.text()
    assert vault.needs_new_passphrase


def test_credentials_dialog_changes_passphrase_rotates_key_and_removes_credentials(qtbot, tmp_path, no_keyring):
    from sqlalchemy import create_engine, select

    from app.setup.vault import Vault, vault_secrets_table

    url = f"sqlite:///{tmp_path / 'v.sqlite3'}"
    vault = Vault.open(url, passphrase=PASSPHRASE, scrypt_n=2**10)
    vault.put("profile/Acme/bill.password", BILL_SECRET)
    vault.put("profile/Other/bill.password", "other-secret-99")
    dialog = VaultSettingsDialog(vault, None, "Acme")
    qtbot.addWidget(dialog)
    assert dialog.change_button.isEnabled() and dialog.rotate_button.isEnabled()

    # Change the passphrase: a wrong current one is refused inline, the right one works.
    change = PassphraseDialog(vault, CHANGE, dialog)
    qtbot.addWidget(change)
    change.show()
    change.old_passphrase.setText(WRONG)
    change.passphrase.setText("a brand new passphrase")
    change.confirm.setText("a brand new passphrase")
    with qtbot.waitSignal(change.busy_changed, timeout=30_000, check_params_cb=lambda busy: not busy):
        change.ok_button.click()
    assert change.error_label.isVisible() and change.result() != QDialog.DialogCode.Accepted
    change.old_passphrase.setText(PASSPHRASE)
    with qtbot.waitSignal(change.accepted, timeout=30_000):
        change.ok_button.click()
    assert Vault.open(url, passphrase="a brand new passphrase").get("profile/Acme/bill.password") == BILL_SECRET

    # Rotate the key: every value re-encrypted, still readable.
    engine = create_engine(url)

    def blobs():
        with engine.connect() as conn:
            return dict(conn.execute(select(vault_secrets_table.c.name, vault_secrets_table.c.ciphertext)).all())

    before = blobs()
    with qtbot.waitSignal(dialog.busy_changed, timeout=30_000, check_params_cb=lambda busy: not busy):
        dialog.rotate_button.click()
    after = blobs()
    assert set(after) == set(before) and all(after[n] != before[n] for n in before)
    assert "new key" in dialog.status_label.text()
    assert Vault.open(url, passphrase="a brand new passphrase").get("profile/Acme/bill.password") == BILL_SECRET

    # Remove Acme's credentials (after confirming); the other profile's stay.
    dialog.confirm = lambda question: True
    with qtbot.waitSignal(dialog.busy_changed, timeout=30_000, check_params_cb=lambda busy: not busy):
        dialog.remove_button.click()
    assert vault.names() == ["profile/Other/bill.password"]
    assert "Removed 1" in dialog.status_label.text()
    engine.dispose()


def test_removing_credentials_asks_first(qtbot, tmp_path, no_keyring):
    from app.setup.vault import Vault

    vault = Vault.open(f"sqlite:///{tmp_path / 'v.sqlite3'}", passphrase=PASSPHRASE, scrypt_n=2**10)
    vault.put("profile/Acme/bill.password", BILL_SECRET)
    dialog = VaultSettingsDialog(vault, None, "Acme")
    qtbot.addWidget(dialog)
    dialog.confirm = lambda question: False
    dialog.remove_button.click()
    assert not dialog.tasks.busy
    assert vault.names() == ["profile/Acme/bill.password"]


def test_settings_wizard_offers_the_credentials_dialog(qtbot, navbill_home, no_keyring):
    from app.ui.settings import SetupWizard

    session = open_real_session(navbill_home)
    try:
        wizard = SetupWizard(session)
        qtbot.addWidget(wizard)
        assert wizard.buttonText(QWizard.WizardButton.CustomButton1).replace("&", "") == "Credentials…"
        seen = answer_modal(VaultSettingsDialog, lambda dialog: dialog.reject())
        wizard.customButtonClicked.emit(QWizard.WizardButton.CustomButton1.value)
        assert seen and "keyring" in seen[0].where.text().lower()
    finally:
        session.close()


def test_unlock_dialog_has_one_labelled_field_and_the_typing_goes_into_it(qtbot, navbill_home, no_keyring):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    session = open_real_session(navbill_home)
    session.vault.set_passphrase(PASSPHRASE)
    session.close()
    session = open_real_session(navbill_home)
    try:
        assert passphrase_mode(session.vault) == UNLOCK
        dialog = PassphraseDialog(session.vault, UNLOCK)
        qtbot.addWidget(dialog)
        dialog.show()
        dialog.activateWindow()
        qtbot.waitUntil(lambda: QApplication.focusWidget() is dialog.passphrase, timeout=5_000)
        visible_fields = [f for f in (dialog.old_passphrase, dialog.passphrase, dialog.confirm) if f.isVisible()]
        assert visible_fields == [dialog.passphrase]
        assert dialog.form.labelForField(dialog.passphrase).text() == "&Passphrase"
        with qtbot.waitSignal(dialog.accepted, timeout=30_000):
            QTest.keyClicks(QApplication.focusWidget(), PASSPHRASE)
            QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
        assert session.vault.is_unlocked
    finally:
        session.close()
