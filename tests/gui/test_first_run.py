"""A clerk's first run, from an empty home to a first real sync, by clicks and key presses only.

The profile is a real one (not the demo): typed into the wizard, pointing at the NAV and BILL sandboxes
this test starts. Each step asserts what the clerk sees.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.sandbox import demo_data
from tests.gui.conftest import close_window, settings_wizard
from tests.gui.wizard_driver import answer_passphrase_dialog, click, finish_button, next_button, type_into


@pytest.fixture
def empty_window(qtbot, navbill_home, no_keyring):
    from app.ui.application import open_session
    from app.ui.main_window import MainWindow

    session = open_session(navbill_home, demo=False)
    assert session.profile is None and session.vault is not None and session.vault.needs_new_passphrase
    window = MainWindow(session.backend)
    window.show()
    qtbot.waitExposed(window)
    yield window, session
    window.shutdown()
    window.quitting = True
    window.close()
    window.deleteLater()
    session.close()


def test_first_run_by_clicks_to_a_first_real_sync(qtbot, empty_window, sandboxes):

    window, session = empty_window
    wizard = settings_wizard(qtbot, window, session, first_run=True)
    qtbot.waitExposed(wizard)
    assert wizard.windowTitle() == "Set up NavBill"

    # --- NAV: the default profile name is accepted; Next waits for what NAV needs and says what.
    nav = wizard.nav_page
    assert nav.profile_name.text() == "My company"
    assert not next_button(wizard).isEnabled()
    assert "the NAV server" in nav.problem.text() and "profile name" not in nav.problem.text()
    address = urlsplit(sandboxes.nav_url)
    type_into(qtbot, nav.server, address.hostname)
    type_into(qtbot, nav.port.lineEdit(), str(address.port))
    type_into(qtbot, nav.instance, demo_data.SERVER_INSTANCE)
    type_into(qtbot, nav.company, demo_data.COMPANY_NAME)
    type_into(qtbot, nav.user, demo_data.NAV_USER)
    assert not next_button(wizard).isEnabled() and "web service access key" in nav.problem.text()
    type_into(qtbot, nav.web_service_key, demo_data.NAV_WEB_SERVICE_KEY)
    assert next_button(wizard).isEnabled() and nav.problem.text() == ""
    click(qtbot, next_button(wizard))

    # --- BILL: a test gateway (the sandbox), and the sign-in.
    bill = wizard.bill_page
    assert wizard.currentPage() is bill and not next_button(wizard).isEnabled()
    bill.environment.setFocus()
    while bill.environment.currentData() != "other":
        QTest.keyClick(bill.environment, Qt.Key.Key_Down)
    type_into(qtbot, bill.gateway, sandboxes.bill_url)
    type_into(qtbot, bill.username, demo_data.BILL_USERNAME)
    type_into(qtbot, bill.password, demo_data.BILL_PASSWORD)
    type_into(qtbot, bill.organization, demo_data.BILL_ORGANIZATION_ID)
    assert "the developer key" in bill.problem.text()
    type_into(qtbot, bill.dev_key, demo_data.BILL_DEV_KEY)
    click(qtbot, next_button(wizard))

    # --- The connection test runs by itself; every step passed, none shown as passed untried.
    check = wizard.check_page
    assert wizard.currentPage() is check
    qtbot.waitUntil(lambda: check.run_button.isEnabled(), timeout=120_000)
    rows = check.model.rows()
    assert rows and not [(r.name, r.what_to_do) for r in rows if r.state == "failed"]
    # Plain HTTP sandboxes: the TLS steps were not tried, and say so (never a green "passed").
    assert {r.name for r in rows if r.state == "not tried"} == {"NAV: TLS", "BILL: TLS"}
    assert all(r.detail for r in rows if r.state == "not tried")
    assert check.result_label.text().startswith(f"{len(rows) - 2} of {len(rows)} steps passed; 2 not tried")
    assert next_button(wizard).isEnabled()
    click(qtbot, next_button(wizard))

    # --- Payments: the journal and the balancing account (Next waits for them).
    payments = wizard.payments_page
    assert wizard.currentPage() is payments
    assert payments.journal_template.text() == "PAYMENT" and payments.journal_batch.text() == "BILL"
    assert not next_button(wizard).isEnabled() and "balancing account" in payments.problem.text()
    type_into(qtbot, payments.balancing_account, "2910")
    click(qtbot, next_button(wizard))

    # --- Options: schedule, push or polling, conflict rule.
    options = wizard.options_page
    assert wizard.currentPage() is options
    options.push.setFocus()
    QTest.keyClick(options.push, Qt.Key.Key_Down)  # polling only
    assert options.push.currentData() is False
    click(qtbot, next_button(wizard))

    # --- Preview in words; nothing saved yet.
    preview = wizard.preview_page
    assert wizard.currentPage() is preview
    qtbot.waitUntil(lambda: preview.finished, timeout=180_000)
    text = preview.summary.text()
    assert text.startswith("The first sync would "), text
    assert "bill(s) in BILL worth" in text and "USD" in text
    lines = [line.text for line in preview.model.rows()]
    assert any(line.startswith("Create a bill for “") and line.endswith(" USD") for line in lines), lines[:5]
    assert not any("dry-run-vendor" in line for line in lines)
    assert session.profiles.list() == [] and session.store.get_setting("engine") is None  # nothing saved yet
    assert session.store.invoice_rows(state="created") == []
    assert finish_button(wizard).text() == "Save and start syncing" and finish_button(wizard).isEnabled()

    # --- Finish: the vault asks for a new passphrase (the focus is on it), then the first sync runs.
    seen: list = []
    answer_passphrase_dialog("correct horse battery", seen)
    with qtbot.waitSignal(window.sync_finished, timeout=300_000) as finished:
        click(qtbot, finish_button(wizard))
    assert seen and seen[0]["focus_is_passphrase"], seen
    assert seen[0]["labels"] == ["&New passphrase", "&Type it again"]
    outcome = finished.args[0]
    assert outcome.ok and not outcome.dry_run, outcome.summary
    assert [p.name for p in session.profiles.list()] == ["My company"]
    assert session.store.get_setting("engine")["balancing_account_number"] == "2910"
    qtbot.waitUntil(lambda: window.vendors_tab.model.rowCount() > 10, timeout=30_000)
    assert session.store.invoice_rows(state="created")  # bills reached BILL
    assert window.windowTitle().endswith("My company")


def test_renaming_the_profile_in_settings_keeps_one_profile_and_moves_its_secrets(qtbot, navbill_home):
    from app.setup.profiles import secret_name
    from app.ui.application import open_session
    from app.ui.main_window import MainWindow

    session = open_session(navbill_home, demo=True)
    window = MainWindow(session.backend, profile_name=session.profile.name)
    window.show()
    old = session.profile.name
    try:
        wizard = settings_wizard(qtbot, window, session)
        qtbot.waitExposed(wizard)
        assert wizard.windowTitle() == "Settings"
        type_into(qtbot, wizard.nav_page.profile_name, "CRONUS live")
        click(qtbot, next_button(wizard))  # NAV
        click(qtbot, next_button(wizard))  # BILL: the saved secrets count, nothing to retype
        qtbot.waitUntil(lambda: next_button(wizard).isEnabled(), timeout=120_000)  # the test passed
        click(qtbot, next_button(wizard))
        click(qtbot, next_button(wizard))  # payments (the demo's journal)
        click(qtbot, next_button(wizard))  # options
        qtbot.waitUntil(lambda: wizard.preview_page.finished, timeout=180_000)
        with qtbot.waitSignal(wizard.accepted, timeout=10_000):
            click(qtbot, finish_button(wizard))
        assert [p.name for p in session.profiles.list()] == ["CRONUS live"]
        assert session.vault.get(secret_name("CRONUS live", "bill.password")) == demo_data.BILL_PASSWORD
        assert not [n for n in session.vault.names() if n.startswith(f"profile/{old}/")]
        assert window.windowTitle().endswith("CRONUS live")
    finally:
        close_window(qtbot, window, session)


def test_settings_opens_from_the_toolbar_with_the_store_read_on_a_worker(qtbot, navbill_home, monkeypatch):
    """Settings shows the saved credentials, push options and payment settings: on a team store each is a round trip
    to a server across the network, so they are read on a worker and the window says "Opening Settings…" meanwhile.
    Clicking the button again while it loads opens one wizard."""
    import threading

    from PySide6.QtWidgets import QToolBar

    from app.engine.settings import EngineSettings
    from app.ui import service_host
    from app.ui.application import open_session, open_settings
    from app.ui.main_window import MainWindow

    read_on: list[threading.Thread] = []
    load, push_values = EngineSettings.load.__func__, service_host.push_values
    monkeypatch.setattr(EngineSettings, "load",
                        classmethod(lambda cls, store: read_on.append(threading.current_thread()) or load(cls, store)))
    monkeypatch.setattr(service_host, "push_values",
                        lambda store: read_on.append(threading.current_thread()) or push_values(store))
    session = open_session(navbill_home, demo=True)
    window = MainWindow(session.backend, profile_name=session.profile.name)
    window.settings_requested.connect(lambda: open_settings(window, session))  # as app.ui.application.run_app
    window.show()
    qtbot.waitExposed(window)
    try:
        button = window.findChild(QToolBar, "sync-toolbar").widgetForAction(window.settings_action)
        with qtbot.waitSignal(window.settings_opened, timeout=30_000) as opened:
            qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
            assert window.message_label.text() == "Opening Settings…"
            qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        wizard = opened.args[0]
        qtbot.waitExposed(wizard)
        assert wizard.windowTitle() == "Settings" and window.settings_wizard is wizard
        assert "bill.password" in wizard.saved_secrets
        assert read_on and threading.main_thread() not in read_on, read_on
        assert not window.message_label.isVisible()  # "Opening Settings…" is over
        qtbot.wait(200)
        assert window.findChildren(type(wizard)) == [wizard]  # the second click opened no second one
        wizard.reject()
    finally:
        close_window(qtbot, window, session)


def test_settings_read_while_this_pc_switched_stores_is_read_again_from_the_new_one(qtbot, navbill_home, tmp_path,
                                                                                      monkeypatch):
    """Settings clicked while the window joins a team store: what the worker read came from the old store; showing
    it would let Finish write the old store's settings into the team's. It is read again from the new store."""
    from app.store import Store
    from app.ui import settings as settings_module
    from app.ui.application import open_session, open_settings
    from app.ui.main_window import MainWindow

    session = open_session(navbill_home, demo=True)
    window = MainWindow(session.backend, profile_name=session.profile.name)
    window.show()
    qtbot.waitExposed(window)
    old_store, new_store = session.store, Store(f"sqlite:///{tmp_path / 'joined.sqlite3'}")
    read_from: list = []
    real_read = settings_module.read_stored_settings

    def read(session_now):
        read_from.append(session_now.store)
        stored = real_read(session_now)
        session_now.store = new_store  # the join finishes while the first read runs
        return stored

    monkeypatch.setattr(settings_module, "read_stored_settings", read)
    try:
        with qtbot.waitSignal(window.settings_opened, timeout=30_000) as opened:
            open_settings(window, session)
        assert read_from == [old_store, new_store], read_from  # read once more, from the store now in use
        opened.args[0].reject()
    finally:
        session.store = old_store
        new_store.close()
        close_window(qtbot, window, session)
