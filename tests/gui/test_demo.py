"""The --demo session end to end: embedded sandboxes, demo profile, one click to sync, then every tab.

Also saves a screenshot of each tab to docs/screenshots/ (the README shows one of them).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from app.ui.rows import VendorState

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


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


def test_one_click_sync_then_screenshot_every_tab(qtbot, demo_window):
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

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    window.vendors_tab.select_where(lambda r: r.state in (VendorState.PROPOSED, VendorState.CONFLICT)) or \
        window.vendors_tab.select_where(lambda r: bool(r.differing_fields()))
    names = ["vendors", "pending-invoices", "payments", "failed-postings", "mappings", "activity"]
    for index, name in enumerate(names):
        window.tabs.setCurrentIndex(index)
        qtbot.waitUntil(lambda i=index: window.tabs.currentIndex() == i)
        QApplication.processEvents()  # let pending layout requests run so labels have their final size
        path = SCREENSHOTS / f"{name}.png"
        assert window.grab().save(str(path))
        assert path.stat().st_size > 10_000
