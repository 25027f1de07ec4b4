"""A second workstation opens the window on a team store: the vault asks once for the team's passphrase (typed
into the real dialog), and this PC's keyring keeps the key, so the next start asks nothing. Real PostgreSQL
(``NAVBILL_TEST_POSTGRES_URL``); skipped without it."""

from __future__ import annotations

import keyring
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from tests.setup.test_vault import MemoryKeyring

TEAM_PASSPHRASE = "the AP team's passphrase"


@pytest.fixture
def workstation_keyring():
    before = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(before)


def test_a_second_workstation_enters_the_team_passphrase_once(qtbot, tmp_path, monkeypatch, workstation_keyring):
    from app.setup.profiles import ProfileStore, demo_profile, demo_secrets
    from app.setup.vault import Vault
    from app.store.store import Store
    from app.ui.application import open_session, unlock_vault_at_start
    from tests.postgres import postgres_schema

    with postgres_schema() as url:
        admin_store = Store(url)  # the administrator's PC: sets the team passphrase and saves the profile's secrets
        try:
            admin_vault = Vault.open(admin_store.engine, keyring_backend=MemoryKeyring(), passphrase=TEAM_PASSPHRASE)
            assert admin_vault.team and admin_vault.mode == "passphrase"
            from app.setup.config import app_paths

            admin_paths = app_paths(tmp_path / "admin-pc").ensure()
            ProfileStore(admin_paths, admin_vault).save(demo_profile("http://nav", "http://bill"), demo_secrets())
        finally:
            admin_store.close()

        monkeypatch.setenv("NAVBILL_STORE_URL", url)
        session = open_session(tmp_path / "clerk-pc", demo=False)
        try:
            assert session.store.is_postgres and not session.vault.is_unlocked
            shown = {}

            def answer():
                dialog = QApplication.activeModalWidget()
                shown["text"] = dialog.explanation.text()
                QTest.keyClicks(dialog.passphrase, TEAM_PASSPHRASE)
                qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)

            QTimer.singleShot(300, answer)
            assert unlock_vault_at_start(session)
            assert "team's vault passphrase" in shown["text"] and "ask whoever set up the team store" in shown["text"]
            name = next(n for n in session.vault.names() if n.endswith("bill.password"))
            assert session.vault.get(name) == demo_secrets()["bill.password"]  # the admin's secret, read here
        finally:
            session.close()

        again = open_session(tmp_path / "clerk-pc", demo=False)  # the next start: the keyring kept the key
        try:
            assert again.vault.is_unlocked
            assert unlock_vault_at_start(again)  # no dialog
        finally:
            again.close()
