"""The window on a company that more than one workstation syncs.

- A second installation with an SQLite store of its own: the window's Sync now (F5) and its service are refused
  before anything is written, and the window says why and what to do (app/store/installation.py).

Both homes are set up the way a clerk's would be (`profile add`, `profile secret`, `settings` through the CLI's
``main``), against the real sandboxes.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.cli import main
from app.sandbox.runner import running_sandboxes
from tests.reliability.state import sandbox_state
from tests.reliability.test_race import PASSPHRASE, _set_up_home, vault_env  # noqa: F401 - fixture used by name


@pytest.mark.timeout(600)
def test_a_second_installations_window_refuses_sync_now_and_says_what_to_do(qtbot, tmp_path, vault_env,  # noqa: F811
                                                                           monkeypatch):
    from app.ui.application import open_session
    from app.ui.main_window import MainWindow
    from app.ui.service_host import ServiceHost

    first, second = tmp_path / "first-pc", tmp_path / "second-pc"
    with running_sandboxes(seed="demo") as sandboxes:
        try:
            _set_up_home(first, sandboxes, monkeypatch)
            assert main(["--home", str(first), "sync"]) in (0, 1)  # the first PC's bills are in BILL now
            _set_up_home(second, sandboxes, monkeypatch)
            before = sandbox_state(sandboxes)

            session = open_session(second, demo=False)
            if not session.vault.is_unlocked:  # the window does not read NAVBILL_VAULT_PASSPHRASE: its start-up
                session.vault.unlock(PASSPHRASE)  # dialog asks, as this does
            window = MainWindow(session.backend, profile_name=session.profile.name)
            window.paths = session.paths
            qtbot.addWidget(window)
            window.show()
            window.activateWindow()
            qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
            with qtbot.waitSignal(window.sync_finished, timeout=240_000) as finished:
                QTest.keyClick(window.tabs.currentWidget().view, Qt.Key.Key_F5)  # F5 is Sync now
            outcome = finished.args[0]
            assert not outcome.ok
            assert "Another connector already syncs NAV company CRONUS" in outcome.summary
            assert "made from NAV posted invoice " in outcome.summary and "Nothing was written" in outcome.summary
            assert "Settings → Team store" in outcome.summary and "store confirm-alone" in outcome.summary
            assert window.banner.isVisible() and window.banner.error
            assert "Another connector already syncs" in window.banner.label.text()

            host = ServiceHost(session, window)  # the schedule and webhooks are refused the same way
            with qtbot.waitSignal(host.failed, timeout=240_000) as refused:
                host.start()
            assert "Another connector already syncs" in refused.args[0]
            assert "Scheduled syncs and webhooks are off" in window.message_label.text()
            host.stop_now()
            assert sandbox_state(sandboxes) == before  # nothing was written by the second installation
            window.shutdown()
            session.close()
        finally:
            sandboxes.nav.stop()
