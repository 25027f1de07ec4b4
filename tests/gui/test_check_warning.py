"""The wizard's connection test with an optional piece missing (NAV offers no credit memos): the step is shown
as a warning with what to do, the test still passes, and Next is open. Clicks and key presses only."""

from __future__ import annotations

from app.sandbox.runner import running_sandboxes
from tests.gui.conftest import settings_wizard
from tests.gui.test_first_run import empty_window  # noqa: F401  (fixture)
from tests.gui.wizard_driver import fill_connection_pages, next_button


def test_a_missing_optional_page_is_a_warning_and_next_stays_open(qtbot, empty_window):  # noqa: F811

    window, session = empty_window
    with running_sandboxes(seed="demo", nav_options={"unpublished": ("purchaseCreditMemos",)}) as sandboxes:
        wizard = settings_wizard(qtbot, window, session, first_run=True)
        qtbot.waitExposed(wizard)
        fill_connection_pages(qtbot, wizard, sandboxes)

        check = wizard.check_page
        assert wizard.currentPage() is check
        qtbot.waitUntil(lambda: check.run_button.isEnabled(), timeout=120_000)
        rows = check.model.rows()
        assert not [r.name for r in rows if r.state == "failed"]
        warning = [r for r in rows if r.state == "warning"]
        assert [r.name for r in warning] == ["NAV: Credit memos"], [(r.name, r.state) for r in rows]
        assert "purchaseCreditMemos" in warning[0].what_to_do and "→" in warning[0].what_to_do
        text = check.result_label.text()
        assert "1 warning(s), none failed" in text and "• NAV: Credit memos:" in text, text
        assert next_button(wizard).isEnabled()
        wizard.reject()
