"""Settings → Team store…: a clerk joins a team's PostgreSQL store by typing its address and password.

Against the real throwaway PostgreSQL server (``NAVBILL_TEST_POSTGRES_URL``, started by .ci/run); skipped without
it. Every step is typing and clicking on the real dialog; the test connects on the dialog's worker.
"""

from __future__ import annotations

import json
import logging

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWizard

from app.store import team_join
from tests.gui.conftest import settings_wizard

PASSWORD = "Team-Store-pw-7731!"
LOCAL_PASSPHRASE = "this pc's own vault passphrase"


def type_into(widget, text: str) -> None:
    widget.setFocus()
    widget.selectAll()
    QTest.keyClick(widget, Qt.Key.Key_Delete)
    QTest.keyClicks(widget, text)


def click(qtbot, button) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_join_dialog(qtbot, navbill_home, no_keyring, caplog):
    from tests.postgres import postgres_schema, server_url

    server_url()  # skips, with the reason, without a PostgreSQL server
    from app.setup.config import app_paths
    from app.setup.vault import Vault
    from app.ui.application import open_session
    from app.ui.settings import SetupWizard

    caplog.set_level(logging.DEBUG)
    paths = app_paths(navbill_home).ensure()
    Vault.open_with_passphrase(paths.database_url, LOCAL_PASSPHRASE)  # this PC's own vault, with a passphrase
    session = open_session(navbill_home, demo=False)
    try:
        session.vault.unlock(LOCAL_PASSPHRASE)
        wizard = SetupWizard(session)
        qtbot.addWidget(wizard)
        wizard.show()

        # The wizard's "Team store…" button opens the dialog (modal: answered from a timer, as a clerk would).
        seen = {}

        def cancel_it():
            dialog = QApplication.activeModalWidget()
            seen["title"] = dialog.windowTitle() if dialog else ""
            if dialog is not None:
                click(qtbot, dialog.buttons.button(dialog.buttons.StandardButton.Cancel))

        QTimer.singleShot(300, cancel_it)
        click(qtbot, wizard.button(QWizard.WizardButton.CustomButton2))
        assert seen["title"] == "Join a team store"

        dialog = wizard.team_store_dialog()
        qtbot.addWidget(dialog)
        dialog.show()
        assert not dialog.join_button.isEnabled()

        # A password inside the address is refused (it would be saved on disk).
        type_into(dialog.url, "postgresql+psycopg://navbill:secret@db.example.com/navbill")
        click(qtbot, dialog.test_button)
        qtbot.waitUntil(lambda: dialog.test_button.isEnabled() and dialog.probe is not None, timeout=30_000)
        assert "Leave the password out of the address" in dialog.answer.text()

        # A server that is not there: said so, with what to check.
        type_into(dialog.url, f"postgresql+psycopg://navbill@/navbill_test?host={navbill_home}")
        click(qtbot, dialog.test_button)
        qtbot.waitUntil(lambda: dialog.test_button.isEnabled() and dialog.probe.state == team_join.UNREACHABLE,
                        timeout=30_000)
        assert "could not be reached" in dialog.answer.text() and "Check the server's address" in dialog.answer.text()
        assert not dialog.join_button.isEnabled()

        with postgres_schema() as url:
            # An empty database: the store init command is named, and the administrator may create the tables.
            type_into(dialog.url, url)
            type_into(dialog.password, PASSWORD)
            assert dialog.password.echoMode() == dialog.password.EchoMode.Password
            click(qtbot, dialog.test_button)
            qtbot.waitUntil(lambda: dialog.probe is not None and dialog.probe.state == team_join.NOT_INITIALISED
                            and dialog.test_button.isEnabled(), timeout=30_000)
            assert "holds no connector tables yet" in dialog.answer.text()
            assert "python main.py store init --url postgresql+psycopg://navbill@" in dialog.answer.text()
            assert dialog.create_tables.isVisible() and not dialog.join_button.isEnabled()
            click(qtbot, dialog.create_tables)
            assert dialog.create_tables.isChecked()
            click(qtbot, dialog.test_button)
            qtbot.waitUntil(lambda: dialog.probe.ok and dialog.test_button.isEnabled(), timeout=60_000)
            assert dialog.answer.text().startswith("Connected: the team store ")
            assert dialog.join_button.isEnabled()

            QTest.keyClicks(dialog.password, "x")  # what was tested is no longer what is typed
            assert not dialog.join_button.isEnabled()
            QTest.keyClick(dialog.password, Qt.Key.Key_Backspace)
            assert dialog.join_button.isEnabled()
            click(qtbot, dialog.join_button)
            assert dialog.result() == dialog.DialogCode.Accepted
            assert "now uses the team store" in dialog.joined_message

            saved = json.loads(paths.store_config_file.read_text(encoding="utf-8"))
            assert saved == {"url": url} and PASSWORD not in paths.store_config_file.read_text(encoding="utf-8")
            assert session.vault.get(team_join.STORE_PASSWORD_SECRET) == PASSWORD  # in this PC's vault only
            from sqlalchemy.engine import make_url

            assert make_url(team_join.with_saved_password(paths.store_url, session.vault)).password == PASSWORD
            assert all(PASSWORD not in record.getMessage() for record in caplog.records)
            for label in (dialog.answer, *wizard.findChildren(type(dialog.answer))):
                assert PASSWORD not in label.text()

            # The next start of the window works on the team store, with the saved password.
            session.close()
            session = open_session(navbill_home, demo=False)
            assert session.store.is_postgres and session.store.schema_version() > 0
        wizard.tasks.shutdown()
    finally:
        session.close()


@pytest.mark.parametrize(("message", "state", "words"), [
    ('connection failed: connection to server at "10.0.0.5", port 5432 failed: FATAL:  password authentication '
     'failed for user "navbill"', team_join.BAD_PASSWORD, "refused the password for user navbill"),
    ('connection failed: connection to server at "10.0.0.5", port 5432 failed: fe_sendauth: no password supplied',
     team_join.NO_PASSWORD, "asks for user navbill's password"),
    ('connection failed: connection to server at "10.0.0.5", port 5432 failed: FATAL:  role "navbill" does not exist',
     team_join.UNKNOWN_USER, "has no user navbill"),
    ('connection failed: connection to server at "10.0.0.5", port 5432 failed: FATAL:  database "navbill" does not '
     'exist', team_join.NO_DATABASE, "has no database navbill"),
    ('connection failed: could not translate host name "db.example.com" to address: Name or service not known',
     team_join.UNREACHABLE, "No server called db.example.com"),
    ('connection failed: connection to server at "10.0.0.5", port 5432 failed: Connection refused',
     team_join.UNREACHABLE, "could not be reached"),
])
def test_libpq_refusals_in_the_clerks_words(message, state, words):
    """libpq's messages (as psycopg raises them) for the refusals the test servers cannot all produce (a TCP
    server, an unknown host name, a missing role or database); the password ones are also produced for real by
    ``password_server`` below."""
    parsed = team_join.parse("postgresql+psycopg://navbill@db.example.com/navbill")
    found = team_join.explain(Exception(message), parsed)
    assert found.state == state and words in found.message
    assert "db.example.com" in found.message or "10.0.0.5" in message


def test_joining_from_settings_switches_the_running_window_to_the_team_store(qtbot, navbill_home, no_keyring,
                                                                            monkeypatch):
    """The whole path a clerk takes: Settings → Team store…, type, Test, create the tables, Join; the window then
    works on the team store at once, its vault asks for the team passphrase (a new team: chosen here), the
    leader shows in the status bar, and Settings opens again for the profile's passwords."""
    from tests.postgres import postgres_schema, server_url

    server_url()
    from app.setup.config import app_paths
    from app.setup.profiles import ProfileStore, demo_profile, demo_secrets
    from app.setup.vault import Vault
    from app.ui.application import open_session
    from app.ui.main_window import MainWindow
    from app.ui.service_host import ServiceHost
    from app.ui.settings import SetupWizard
    from app.ui.team_store import JoinTeamStoreDialog
    from app.ui.vault_dialog import PassphraseDialog

    monkeypatch.setenv("NAVBILL_LEADER_POLL", "0.2")
    import threading

    import app.store

    opened_on: list[threading.Thread] = []  # the team store is a server across the network: opened on a worker
    real_open_store = app.store.open_store

    def open_store(url, *args, **kwargs):
        opened_on.append(threading.current_thread())
        return real_open_store(url, *args, **kwargs)

    paths = app_paths(navbill_home).ensure()
    local = Vault.open_with_passphrase(paths.database_url, LOCAL_PASSPHRASE)
    ProfileStore(paths, local).save(demo_profile("http://127.0.0.1:9", "http://127.0.0.1:9"), demo_secrets())
    session = open_session(navbill_home, demo=False)
    session.vault.unlock(LOCAL_PASSPHRASE)
    monkeypatch.setattr(app.store, "open_store", open_store)  # from here on: the switch to the joined store
    window = MainWindow(session.backend, profile_name=session.profile.name)
    window.paths = session.paths
    qtbot.addWidget(window)
    host = ServiceHost(session, window)
    window.show()
    with postgres_schema() as url:
        handled: list[str] = []

        def answer_modal() -> None:
            dialog = QApplication.activeModalWidget()
            if isinstance(dialog, JoinTeamStoreDialog) and "join" not in handled:
                handled.append("join")
                type_into(dialog.url, url)
                type_into(dialog.password, PASSWORD)
                click(qtbot, dialog.test_button)
                qtbot.waitUntil(lambda: dialog.create_tables.isVisible() and dialog.test_button.isEnabled(),
                                timeout=30_000)
                click(qtbot, dialog.create_tables)
                click(qtbot, dialog.test_button)
                qtbot.waitUntil(lambda: dialog.join_button.isEnabled(), timeout=60_000)
                click(qtbot, dialog.join_button)
            elif isinstance(dialog, PassphraseDialog) and "passphrase" not in handled:
                handled.append("passphrase")
                handled.append(dialog.explanation.text())
                QTest.keyClicks(dialog.passphrase, "the new team passphrase")
                QTest.keyClicks(dialog.confirm, "the new team passphrase")
                click(qtbot, dialog.ok_button)

        modals = QTimer()
        modals.timeout.connect(answer_modal)
        modals.start(200)
        try:
            wizard = settings_wizard(qtbot, window, session)
            assert isinstance(wizard, SetupWizard)
            click(qtbot, wizard.button(QWizard.WizardButton.CustomButton2))
            qtbot.waitUntil(lambda: session.store.is_postgres and isinstance(window.settings_wizard, SetupWizard)
                            and window.settings_wizard is not wizard, timeout=60_000)
        finally:
            modals.stop()
        assert opened_on and threading.main_thread() not in opened_on, opened_on
        assert handled[:2] == ["join", "passphrase"]
        assert "This is a team store" in handled[2]  # the vault said why it wants a passphrase
        assert session.vault.team and session.vault.is_unlocked and session.vault.mode == "passphrase"
        assert window.backend.store is session.store and session.profile.name == demo_profile("", "").name
        qtbot.waitUntil(lambda: window.team_watch.label.text().startswith(("Leader: none", "Leader: this window")),
                        timeout=30_000)  # the team store answered who leads
        window.settings_wizard.reject()
        window.team_watch.stop()
        host.stop_now()
        window.shutdown()
        session.close()


@pytest.fixture
def password_server(tmp_path_factory):
    """A second throwaway PostgreSQL cluster that asks for a password (scram-sha-256), so a refused password is
    the server's own answer. Only where the shared test server runs (it needs the same Debian package)."""
    import glob
    import os
    import pwd
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    from tests.postgres import server_url

    server_url()
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not bins or not os.access(f"{bins[-1]}/initdb", os.X_OK):
        pytest.skip("PostgreSQL's initdb is not installed")
    folder = Path(tempfile.mkdtemp(prefix="navbill-pgpw-"))
    folder.chmod(0o755)
    run_as: list[str] = []
    if os.getuid() == 0:  # initdb refuses root: the cluster belongs to nobody, as in .ci/postgres.sh
        os.chown(folder, pwd.getpwnam("nobody").pw_uid, -1)
        run_as = ["runuser", "-u", "nobody", "--"]
    (folder / "pw").write_text("Right-Team-pw-42\n", encoding="utf-8")
    (folder / "pw").chmod(0o644)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    try:
        subprocess.run([*run_as, f"{bins[-1]}/initdb", "-D", str(folder / "data"), "-U", "navbill",
                        "--auth=scram-sha-256", f"--pwfile={folder / 'pw'}", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True, env=env, timeout=120)
        subprocess.run([*run_as, f"{bins[-1]}/pg_ctl", "-D", str(folder / "data"), "-l", str(folder / "log"), "-w",
                        "-s", "-o", f"-c listen_addresses='' -c unix_socket_directories='{folder}' -c fsync=off",
                        "start"], check=True, capture_output=True, env=env, timeout=120)
        subprocess.run([*run_as, f"{bins[-1]}/createdb", "-h", str(folder), "-U", "navbill", "navbill_pw"],
                       check=True, capture_output=True, env={**env, "PGPASSWORD": "Right-Team-pw-42"}, timeout=60)
        yield folder
    finally:
        subprocess.run([*run_as, f"{bins[-1]}/pg_ctl", "-D", str(folder / "data"), "-m", "immediate", "-s", "stop"],
                       capture_output=True, env=env, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def test_the_dialog_says_when_the_server_refuses_or_wants_the_password(qtbot, navbill_home, no_keyring,
                                                                       password_server, monkeypatch):
    from app.setup.config import app_paths
    from app.ui.team_store import JoinTeamStoreDialog

    for name in ("PGPASSWORD", "PGPASSFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PGPASSFILE", str(navbill_home / "no-pgpass"))  # never the user's own pgpass file
    dialog = JoinTeamStoreDialog(app_paths(navbill_home).ensure(), None)
    qtbot.addWidget(dialog)
    dialog.show()
    type_into(dialog.url, f"postgresql+psycopg://navbill@/navbill_pw?host={password_server}")

    def test_with(password: str) -> str:
        type_into(dialog.password, password)
        dialog.probe = None
        click(qtbot, dialog.test_button)
        qtbot.waitUntil(lambda: dialog.probe is not None and dialog.test_button.isEnabled(), timeout=60_000)
        return dialog.probe.state

    assert test_with("not-the-password") == team_join.BAD_PASSWORD
    assert "refused the password for user navbill" in dialog.answer.text()
    assert "not-the-password" not in dialog.answer.text() and not dialog.join_button.isEnabled()
    assert test_with("") == team_join.NO_PASSWORD
    assert "asks for user navbill's password" in dialog.answer.text()
    assert test_with("Right-Team-pw-42") == team_join.NOT_INITIALISED  # in: the tables are what is missing
    assert "store init --url" in dialog.answer.text()
    dialog.reject()
