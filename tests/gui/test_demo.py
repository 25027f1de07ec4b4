"""The --demo session end to end without the service: embedded sandboxes, demo profile, one click to
sync (directly on a worker), then every tab. Screenshots come from test_service_host.py (the window
as users see it, with its service running)."""

from __future__ import annotations

import pytest

from app.ui.rows import VendorState


@pytest.fixture
def demo_window(qtbot, navbill_home):
    from app.ui.application import open_session
    from app.ui.main_window import MainWindow

    session = open_session(navbill_home, demo=True)
    window = MainWindow(session.backend, profile_name=session.profile.name)
    qtbot.addWidget(window)
    window.resize(1280, 780)
    window.show()
    qtbot.waitExposed(window)
    yield window, session
    window.shutdown()
    session.close()


def test_demo_session_has_a_profile_with_secrets_in_the_vault(demo_window):
    window, session = demo_window
    assert session.profile.name.startswith("Demo")
    assert session.profiles.secret(session.profile, "bill.password")  # in the vault, not in profiles.json
    assert "password" not in session.profiles.path.read_text(encoding="utf-8").lower().replace("_", "")


def test_preview_writes_nothing(qtbot, demo_window):
    window, session = demo_window
    with qtbot.waitSignal(window.sync_finished, timeout=120_000) as finished:
        window.preview_action.trigger()
    outcome = finished.args[0]
    assert outcome.dry_run and outcome.ok, outcome.summary
    assert outcome.details  # the planned changes
    assert session.store.invoice_rows(state="created") == []


def test_one_click_sync_fills_every_tab(qtbot, demo_window):
    window, session = demo_window
    with qtbot.waitSignal(window.refreshed, timeout=120_000):
        with qtbot.waitSignal(window.sync_finished, timeout=120_000) as finished:
            window.sync_action.trigger()
    outcome = finished.args[0]
    assert outcome.ok, outcome.summary
    assert window.vendors_tab.model.rowCount() > 10
    states = {r.state for r in window.vendors_tab.model.rows()}
    assert VendorState.LINKED in states
    assert window.invoices_tab.model.rowCount() > 0
    assert window.mappings_tab.model.rowCount() > 0
    assert window.activity_tab.runs_model.rowCount() >= 1

