"""The single-instance channel, and the setup wizard (connection test and preview on the real sandboxes)."""

from __future__ import annotations

import uuid

import pytest
from PySide6.QtWidgets import QLineEdit

from app.ui.single_instance import SingleInstance, ask_running_instance, channel_name


def test_channel_name_is_keyed_by_the_home_folder(tmp_path):
    assert channel_name(tmp_path / "a") != channel_name(tmp_path / "b")
    assert channel_name(tmp_path / "a") == channel_name(tmp_path / "a")


def test_second_launch_brings_the_first_forward(qtbot, tmp_path):
    name = channel_name(tmp_path / f"home-{uuid.uuid4().hex}")
    first = SingleInstance(name)
    assert first.listen()
    try:
        with qtbot.waitSignal(first.show_requested, timeout=10_000):
            assert ask_running_instance(name)
        second = SingleInstance(name)
        assert not second.listen()  # the channel is taken: the second launch would exit
        second.close()
    finally:
        first.close()
    assert not ask_running_instance(name, 200)


@pytest.fixture
def demo_session(navbill_home):
    from app.ui.application import open_session

    session = open_session(navbill_home, demo=True)
    yield session
    session.close()


@pytest.fixture
def wizard(qtbot, demo_session):
    from app.ui.settings import SetupWizard

    dialog = SetupWizard(demo_session)
    qtbot.addWidget(dialog)
    yield dialog
    dialog.tasks.shutdown()


def test_wizard_masks_secrets_and_shows_saved_settings(wizard, demo_session):
    assert wizard.nav_page.web_service_key.echoMode() == QLineEdit.EchoMode.Password
    assert wizard.bill_page.password.echoMode() == QLineEdit.EchoMode.Password
    assert wizard.bill_page.dev_key.echoMode() == QLineEdit.EchoMode.Password
    assert wizard.bill_page.password.text() == ""  # a saved secret is never put back on screen
    assert wizard.nav_page.company.text() == demo_session.profile.nav.company


def test_connection_test_shows_each_step(qtbot, wizard):
    page = wizard.check_page
    with qtbot.waitSignal(wizard.tasks.busy_changed, timeout=120_000, check_params_cb=lambda busy: not busy):
        page.run_button.click()
    rows = page.model.rows()
    assert len(rows) >= 4
    assert {r.name.split(":")[0] for r in rows} >= {"NAV", "BILL"}
    assert page.passed, [(r.name, r.detail, r.fix) for r in rows if not r.passed]


def test_connection_test_explains_a_wrong_password(qtbot, wizard):
    wizard.bill_page.password.setText("not-the-password")
    page = wizard.check_page
    with qtbot.waitSignal(wizard.tasks.busy_changed, timeout=120_000, check_params_cb=lambda busy: not busy):
        page.run_button.click()
    failed = [r for r in page.model.rows() if r.passed is False]
    assert failed and failed[0].fix  # a sentence saying what to do
    assert page.passed is False
    # The BILL steps after the failed sign-in were never tried, and say so (not a green "passed").
    bill = [r for r in page.model.rows() if r.name.startswith("BILL:")]
    after = bill[[r.state for r in bill].index("failed") + 1:]
    assert after and all(r.state == "not tried" for r in after), [(r.name, r.state) for r in after]
    assert failed[0].fix in page.result_label.text()  # the whole fix, not cut off in a cell
    assert "not-the-password" not in " ".join(r.detail + r.fix for r in page.model.rows())


def test_options_and_preview_then_finish_saves(qtbot, wizard, demo_session):
    options = wizard.options_page
    options.schedule_mode.setCurrentIndex(options.schedule_mode.findData("interval"))
    options.every_minutes.setValue(30)
    options.push.setCurrentIndex(1)
    options.master.setCurrentIndex(options.master.findData("nav"))
    page = wizard.preview_page
    with qtbot.waitSignal(wizard.tasks.busy_changed, timeout=120_000, check_params_cb=lambda busy: not busy):
        page.run_button.click()
    assert page.outcome is not None and page.outcome.dry_run, page.summary.text()
    assert page.model.rowCount() > 0  # what the first sync would do
    assert demo_session.store.invoice_rows(state="created") == []  # nothing written
    with qtbot.waitSignal(wizard.accepted, timeout=30_000):  # the writes go to a worker
        wizard.accept()
    push = demo_session.store.get_setting("push")  # the setting `navbill serve` reads
    assert push["schedule"] == "every 30m" and push["push_enabled"] is False
    from app.push.service import settings_from

    settings = settings_from(push, "")
    assert settings.schedule.every_minutes == 30 and not settings.push_enabled
    assert (settings.listen_host, settings.listen_port) == ("127.0.0.1", 0)  # the demo's free port, kept
    assert demo_session.store.get_setting("engine")["master_on_conflict"] == "nav"
    assert wizard.saved_profile is not None and wizard.saved_profile.name == demo_session.profile.name


def test_windows_account_sign_in_is_tested_and_saved_encrypted(qtbot, wizard, demo_session):
    from app.sandbox import demo_data
    from app.setup.profiles import secret_name

    demo_session.sandboxes.nav.set_windows_auth(True)  # this NAV instance now accepts only Windows accounts
    nav_page = wizard.nav_page
    assert nav_page.windows_password.echoMode() == QLineEdit.EchoMode.Password
    nav_page.use_windows_auth.setChecked(True)
    nav_page.user.setText(demo_data.NAV_WINDOWS_ACCOUNT)
    nav_page.windows_password.setText(demo_data.NAV_WINDOWS_PASSWORD)
    page = wizard.check_page
    with qtbot.waitSignal(wizard.tasks.busy_changed, timeout=120_000, check_params_cb=lambda busy: not busy):
        page.run_button.click()
    assert page.passed, [(r.name, r.detail) for r in page.model.rows() if r.passed is False]
    assert any("Windows account" in r.detail for r in page.model.rows())

    with qtbot.waitSignal(wizard.accepted, timeout=30_000):
        wizard.accept()
    saved = demo_session.profiles.active()
    assert saved.nav.use_windows_auth and saved.nav.user == demo_data.NAV_WINDOWS_ACCOUNT
    assert demo_session.vault.get(secret_name(saved.name, "nav.windows_password")) == demo_data.NAV_WINDOWS_PASSWORD


def test_finish_writes_on_a_worker_and_a_failed_write_keeps_the_wizard_open(qtbot, demo_session, monkeypatch):
    """The store may be a team's PostgreSQL server across the network: Finish must not freeze the window while the
    profile, its secrets and the options are written, and a write that fails says so and leaves the wizard as it was.
    """
    import threading

    from PySide6.QtWidgets import QMessageBox

    from app.ui.settings import SetupWizard
    from tests.gui.wizard_driver import click, finish_button

    wizard = SetupWizard(demo_session)
    qtbot.addWidget(wizard)
    wizard.setStartId(wizard.pageIds()[-1])  # straight to the last page, where Finish is
    wizard.show()
    qtbot.waitExposed(wizard)
    store, real_set_setting = demo_session.store, demo_session.store.set_setting
    release, writing = threading.Event(), threading.Event()
    ui_thread = threading.current_thread()

    def slow_network(key, value):  # a team store's round trip, on whatever thread writes
        assert threading.current_thread() is not ui_thread, "the store was written on the UI thread"
        writing.set()
        assert release.wait(30)
        return real_set_setting(key, value)

    monkeypatch.setattr(store, "set_setting", slow_network)
    try:
        qtbot.waitUntil(lambda: finish_button(wizard).isEnabled(), timeout=120_000)
        click(qtbot, finish_button(wizard))
        qtbot.waitUntil(writing.is_set, timeout=10_000)
        assert finish_button(wizard).text() == "Saving…" and not finish_button(wizard).isEnabled()
        ticks: list[int] = []
        from PySide6.QtCore import QTimer

        QTimer.singleShot(10, lambda: ticks.append(1))
        qtbot.waitUntil(lambda: bool(ticks), timeout=2_000)  # the window still answers while the write waits
        assert wizard.isVisible()
        with qtbot.waitSignal(wizard.accepted, timeout=30_000):
            release.set()
    finally:
        release.set()
        wizard.tasks.shutdown()

    # The next Settings: the server refuses the write. The wizard stays, says why, and Finish works again.
    wizard = SetupWizard(demo_session)
    qtbot.addWidget(wizard)
    wizard.setStartId(wizard.pageIds()[-1])
    wizard.show()

    def refused(key, value):
        from app.domain.errors import ConnectorError

        raise ConnectorError("the team store at db.example.com could not be reached")

    monkeypatch.setattr(store, "set_setting", refused)
    try:
        qtbot.waitUntil(lambda: finish_button(wizard).isEnabled(), timeout=120_000)
        click(qtbot, finish_button(wizard))
        qtbot.waitUntil(lambda: isinstance(getattr(wizard, "save_error", None), QMessageBox)
                        and wizard.save_error.isVisible(), timeout=10_000)
        assert "could not be saved: the team store at db.example.com could not be reached" in wizard.save_error.text()
        wizard.save_error.accept()
        assert wizard.isVisible() and wizard.result() != 1
        assert finish_button(wizard).isEnabled() and finish_button(wizard).text() == "Save"
    finally:
        wizard.tasks.shutdown()
