"""Every screen and its actions, on a real store (temp SQLite), with commands run on the window's workers."""

from __future__ import annotations

import csv

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSystemTrayIcon

from app.ui.icons import ConnectorState
from app.ui.rows import HoldReason, VendorState
from app.ui.table_model import ROW_ROLE
from app.ui.vendors_tab import SIDE_BILL


def run_and_wait(qtbot, window, action) -> None:
    """Run a command through the UI and wait for the refresh that follows it."""
    with qtbot.waitSignal(window.refreshed, timeout=10_000):
        with qtbot.waitSignal(window.command_finished, timeout=10_000) as finished:
            action()
    assert finished.args[1], f"command failed: {window.banner.label.text()}"


def select(tab, predicate) -> None:
    assert tab.select_where(predicate)


# --- vendors -----------------------------------------------------------------------------------------
def test_vendor_diff_shows_every_state_with_differences(window):
    rows = window.vendors_tab.model.rows()
    assert {r.state for r in rows} == set(VendorState)
    proposed = next(r for r in rows if r.state == VendorState.PROPOSED)
    assert proposed.differing_fields() == ("name",)
    assert window.tabs.tabText(0) == "Vendors (2)"  # one proposal + one conflict


def test_state_filter_narrows_the_vendor_table(window):
    tab = window.vendors_tab
    tab.state_filter.setCurrentIndex(tab.state_filter.findData(VendorState.ONLY_BILL))
    assert tab.proxy.rowCount() == 1
    tab.state_filter.setCurrentIndex(0)
    assert tab.proxy.rowCount() == len(tab.model.rows())


def test_compare_view_highlights_differences(window):
    tab = window.vendors_tab
    select(tab, lambda r: r.state == VendorState.PROPOSED)
    model = tab.compare_model
    assert model.rowCount() > 0
    name_row = 0
    assert model.index(name_row, 1).data() == "Great Lakes Aluminum"
    assert model.index(name_row, 2).data() == "Great Lakes Aluminium"
    assert model.index(name_row, 1).data(Qt.ItemDataRole.BackgroundRole) is not None
    assert model.index(3, 1).data(Qt.ItemDataRole.BackgroundRole) is None  # City is the same on both sides


def click_box_button(box, text: str) -> None:
    from PySide6.QtTest import QTest

    button = next(b for b in box.buttons() if b.text() == text)
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)


def test_accept_match_asks_which_name_wins(qtbot, window, seeded_store):
    from PySide6.QtWidgets import QMessageBox

    tab = window.vendors_tab
    select(tab, lambda r: r.nav_number == "V00040")
    assert tab.accept_button.isEnabled()
    seen = when_modal(QMessageBox, lambda box: click_box_button(box, "Keep BILL's “Great Lakes Aluminium”"))
    run_and_wait(qtbot, window, lambda: qtbot.mouseClick(tab.accept_button, Qt.MouseButton.LeftButton))
    assert "Which name should both keep?" in seen[0].text()
    assert set(seen[0].button_texts) >= {"Keep NAV's “Great Lakes Aluminum”",
                                                     "Keep BILL's “Great Lakes Aluminium”"}
    assert [v.status for v in seeded_store.vendor_rows() if v.nav_number == "V00040"] == ["linked"]
    chosen = seeded_store.conflict_rows(state="chosen", record_key="V00040")
    assert [(c.field, c.chosen_side, c.bill_value) for c in chosen] == [("name", "bill", "Great Lakes Aluminium")]
    assert any(r.nav_number == "V00040" and r.state == VendorState.LINKED for r in tab.model.rows())


def test_link_only_in_nav_vendor_to_a_bill_vendor(qtbot, window, seeded_store):
    tab = window.vendors_tab
    select(tab, lambda r: r.nav_number == "V00120")
    assert tab.link_button.isEnabled()
    run_and_wait(qtbot, window, lambda: tab.link_selected("00901ORPH"))
    linked = {v.nav_number: v.bill_id for v in seeded_store.vendor_rows() if v.status == "linked"}
    assert linked["V00120"] == "00901ORPH"


def test_unlink_confirms_and_the_vendor_stays_visible_as_unlinked(qtbot, window, seeded_store):
    from PySide6.QtWidgets import QMessageBox

    tab = window.vendors_tab
    select(tab, lambda r: r.nav_number == "V00010")
    seen = when_modal(QMessageBox, lambda box: click_box_button(box, "Cancel"))
    qtbot.mouseClick(tab.unlink_button, Qt.MouseButton.LeftButton)
    assert seen and "“Acme Steel Supply” (V00010)" in seen[0].text()
    assert "V00010" in {v.nav_number for v in seeded_store.vendor_rows()}  # cancelled: still linked

    when_modal(QMessageBox, lambda box: click_box_button(box, "Unlink"))
    run_and_wait(qtbot, window, lambda: qtbot.mouseClick(tab.unlink_button, Qt.MouseButton.LeftButton))
    assert "V00010" not in {v.nav_number for v in seeded_store.vendor_rows()}
    assert any(a.action == "unlink" for a in seeded_store.audit())
    unlinked = [r for r in tab.model.rows() if r.unlinked]
    assert {(r.state, r.name) for r in unlinked} == {(VendorState.ONLY_NAV, "Acme Steel Supply"),
                                                     (VendorState.ONLY_BILL, "Acme Steel Supply")}
    # Link… joins them again (the undo of an unlink).
    select(tab, lambda r: r.nav_number == "V00010")
    run_and_wait(qtbot, window, lambda: tab.link_selected("00901ACME"))
    assert {v.nav_number: v.status for v in seeded_store.vendor_rows()}["V00010"] == "linked"
    assert not any(r.unlinked for r in tab.model.rows())


def test_resolve_conflict_per_field_confirms_and_can_be_undone(qtbot, window, seeded_store):
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QComboBox, QMessageBox

    from app.ui.table_model import ATTENTION, GOOD

    tab = window.vendors_tab
    select(tab, lambda r: r.state == VendorState.CONFLICT)
    assert tab.resolve_button.isEnabled()
    model = tab.compare_model
    phone_row = next(i for i in range(model.rowCount()) if model.index(i, 0).data() == "Phone")
    assert model.flags(model.index(phone_row, 3)) & Qt.ItemFlag.ItemIsEditable
    assert model.winners == {"phone": "nav", "email": "nav"}  # same change time: NAV, the vendor master
    assert model.index(phone_row, 1).data(Qt.ItemDataRole.BackgroundRole).color() == GOOD

    # Choose BILL for the phone in the Keep column's combo box, with the keyboard.
    editor = tab.compare_view.indexWidget(tab.compare_view.model().index(phone_row, 3))
    assert isinstance(editor, QComboBox) and editor.currentText() == "NAV"
    editor.setFocus()
    QTest.keyClick(editor, Qt.Key.Key_Down)
    assert model.winners["phone"] == SIDE_BILL
    assert model.index(phone_row, 2).data(Qt.ItemDataRole.BackgroundRole).color() == GOOD  # BILL kept: green
    assert model.index(phone_row, 1).data(Qt.ItemDataRole.BackgroundRole).color() == ATTENTION  # NAV replaced

    # Resolve asks first, naming the vendor and both values; Cancel changes nothing.
    seen = when_modal(QMessageBox, lambda box: click_box_button(box, "Cancel"))
    qtbot.mouseClick(tab.resolve_button, Qt.MouseButton.LeftButton)
    assert "“Keystone Paint & Coatings” (V00070)" in seen[0].text()
    assert "Phone: keep BILL's “717-555-0123” (NAV's “717-555-0199” is replaced in NAV)" in seen[0].text()
    assert seeded_store.conflict_rows(state="chosen") == []

    when_modal(QMessageBox, lambda box: click_box_button(box, "Resolve"))
    run_and_wait(qtbot, window, lambda: qtbot.mouseClick(tab.resolve_button, Qt.MouseButton.LeftButton))
    chosen = {c.field: c.chosen_side for c in seeded_store.conflict_rows(state="chosen")}
    assert chosen == {"phone": "bill", "email": "nav"}
    assert not any(r.state == VendorState.CONFLICT for r in tab.model.rows())
    resolved = [a for a in seeded_store.audit() if a.action == "resolve_conflict" and a.detail["field"] == "phone"]
    assert resolved[0].detail["nav_value"] == "717-555-0199"  # the audit keeps the value that was replaced

    assert tab.undo_button.isEnabled()
    run_and_wait(qtbot, window, lambda: qtbot.mouseClick(tab.undo_button, Qt.MouseButton.LeftButton))
    assert seeded_store.conflict_rows(state="chosen") == []
    assert {c.field for c in seeded_store.conflict_rows(state="open")} == {"phone", "email"}
    assert any(a.action == "undo_resolve_conflict" for a in seeded_store.audit())
    assert any(r.state == VendorState.CONFLICT for r in tab.model.rows())


def add_acme_1099_conflict(qtbot, window, store) -> None:
    """The conflict a first link opens where BILL tracks Acme for 1099 and NAV has no IRS 1099 Code; shown."""
    from datetime import UTC, datetime

    from app.store import schema as t

    with store.session() as s:
        now = datetime.now(UTC)
        s.add(t.Conflict(record_key="V00010", bill_id="00901ACME", field="is_1099", nav_value=False, bill_value=True,
                         nav_time=now, bill_time=now))
    with qtbot.waitSignal(window.refreshed, timeout=10_000):
        window.refresh()


def test_a_1099_flag_only_bill_has_suggests_keeping_bills_and_says_why(qtbot, window, seeded_store):
    """Linking Acme found BILL tracking it for 1099 and no IRS 1099 Code in NAV (which may only mean NAV does not keep
    the code): the row says so, the Keep column suggests BILL's, and Resolve names what happens to the flag."""
    from PySide6.QtWidgets import QMessageBox

    add_acme_1099_conflict(qtbot, window, seeded_store)
    tab = window.vendors_tab
    select(tab, lambda r: r.nav_number == "V00010")
    [row] = tab.selected_rows()
    assert row.state == VendorState.CONFLICT
    assert row.reason.startswith("BILL tracks this vendor for 1099 and NAV has no IRS 1099 Code"), row.reason
    assert "changed on both sides" not in row.reason
    assert tab.compare_model.winners == {"is_1099": SIDE_BILL}

    seen = when_modal(QMessageBox, lambda box: click_box_button(box, "Cancel"))
    qtbot.mouseClick(tab.resolve_button, Qt.MouseButton.LeftButton)
    assert "1099 vendor: keep BILL's" in seen[0].text(), seen[0].text()
    assert seeded_store.conflict_rows(state="chosen") == []


def test_a_refused_command_shows_the_reason(qtbot, window):
    with qtbot.waitSignal(window.command_finished, timeout=10_000) as finished:
        window.run_command("Accept match for V00010", lambda b: b.accept_proposal("V00010"))
    assert finished.args[1] is False
    assert "no proposal waiting" in window.banner.label.text()
    assert window.banner.isVisibleTo(window)


# --- pending invoices --------------------------------------------------------------------------------
def test_held_invoices_show_reason_and_fix_jumps(window):
    tab = window.invoices_tab
    held = {r.nav_number: r for r in tab.model.rows() if r.held}
    assert held["PI-1002"].hold_reason == HoldReason.UNLINKED_VENDOR
    assert held["PI-1003"].hold_reason == HoldReason.UNMAPPED_ACCOUNT
    assert held["PI-1003"].gl_account == "6150"
    sent = next(r for r in tab.model.rows() if r.nav_number == "PI-1001")
    assert sent.status_text == "In BILL"

    select(tab, lambda r: r.nav_number == "PI-1002")
    assert tab.fix_button.isEnabled()
    tab.fix_button.click()
    assert window.tabs.currentWidget() is window.vendors_tab
    assert window.vendors_tab.current_row().nav_number == "V00040"

    window.tabs.setCurrentWidget(tab)
    select(tab, lambda r: r.nav_number == "PI-1003")
    tab.fix_button.click()
    assert window.tabs.currentWidget() is window.mappings_tab
    assert window.mappings_tab.current_row().nav_account == "6150"


def test_pending_invoices_show_posting_and_due_dates_and_sort_by_date(window):
    tab = window.invoices_tab
    tab.show_filter.setCurrentIndex(tab.show_filter.findData("all"))
    headers = [c.header for c in tab.model.columns]
    posting, due = headers.index("Posting date"), headers.index("Due date")

    def shown() -> list[tuple[str, str, str]]:
        return [(tab.proxy.index(r, 0).data(), tab.proxy.index(r, posting).data(), tab.proxy.index(r, due).data())
                for r in range(tab.proxy.rowCount())]

    tab.view.sortByColumn(due, Qt.SortOrder.AscendingOrder)
    # Chronological across the year end; the link recorded before the store kept dates is blank, last.
    assert shown() == [("PI-1002", "2026-10-20", "2026-11-19"), ("PI-1001", "2026-12-05", "2027-01-04"),
                       ("PI-1003", "", "")]
    tab.view.sortByColumn(posting, Qt.SortOrder.DescendingOrder)
    assert [number for number, *_ in shown()][-2:] == ["PI-1001", "PI-1002"]


# --- payments ----------------------------------------------------------------------------------------
def test_payments_show_posted_with_nav_document(window):
    tab = window.payments_tab
    rows = {r.bill_payment_id: r for r in tab.model.rows()}
    assert rows["stp01PAID"].posted and rows["stp01PAID"].nav_document_numbers == ("BILLPAY000001",)
    assert not rows["stp01WAIT"].posted
    tab.status_filter.setCurrentIndex(tab.status_filter.findData(True))
    assert tab.proxy.rowCount() == 1
    assert tab.proxy.index(0, 5).data() == "BILLPAY000001"


# --- failed postings ---------------------------------------------------------------------------------
class AnsweredBox:
    """What a message box said and offered, kept after it is answered (the window deletes its boxes then)."""

    def __init__(self, box) -> None:
        self._text, self.button_texts = box.text(), [button.text() for button in box.buttons()]

    def text(self) -> str:
        return self._text


def when_modal(kind, act) -> list:
    """Once a modal dialog of ``kind`` is up, ``act(dialog)`` on it (clicks and keys); returns what was seen (a
    message box as an ``AnsweredBox``)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    seen: list = []

    def attempt() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, kind):
            QTimer.singleShot(20, attempt)
            return
        seen.append(AnsweredBox(dialog) if isinstance(dialog, QMessageBox) else dialog)
        act(dialog)

    QTimer.singleShot(20, attempt)
    return seen


def test_failed_rows_name_vendor_document_amount_and_date(window):
    rows = {r.record: r for r in window.failures_tab.model.rows()}
    invoice = rows["PI-1003"]
    assert invoice.vendor == "Acme Steel Supply (V00010)" and invoice.document == "Invoice PI-1003 (vendor's AC-7790)"
    assert invoice.label == "Invoice PI-1003 (vendor's AC-7790) (Acme Steel Supply (V00010), 410.00 USD)"
    tab = window.failures_tab
    amount_column = [c.header for c in tab.model.columns].index("Amount")
    select(tab, lambda r: r.record == "PI-1003")
    index = tab.view.selectionModel().selectedRows()[0]
    assert index.siblingAtColumn(amount_column).data() == "410.00 USD"
    assert "line 10000: G/L 6150 Shop Supplies has no BILL account" in tab.detail.text()  # the whole reason, in the detail pane
    assert tab.fix_button.isEnabled()
    qtbot_click(tab.fix_button)
    assert window.tabs.currentWidget() is window.mappings_tab
    assert window.mappings_tab.current_row().nav_account == "6150"


def qtbot_click(button) -> None:
    from PySide6.QtTest import QTest

    QTest.mouseClick(button, Qt.MouseButton.LeftButton)


def test_skip_asks_for_a_note_and_confirmation(qtbot, window, seeded_store):
    from PySide6.QtTest import QTest

    from app.ui.failures_tab import SkipDialog

    tab = window.failures_tab
    assert tab.model.rowCount() == 3
    select(tab, lambda r: r.record == "PI-1002")

    # Cancel: nothing is skipped.
    seen = when_modal(SkipDialog, lambda d: QTest.mouseClick(
        d.buttons.button(d.buttons.StandardButton.Cancel), Qt.MouseButton.LeftButton))
    qtbot.mouseClick(tab.skip_button, Qt.MouseButton.LeftButton)
    assert seen and seen[0].skip_button.isEnabled() is False  # grey until a note is typed
    assert "Invoice PI-1002" in seen[0].question.text() and "980.40 USD" in seen[0].question.text()
    assert seen_store_skips(seeded_store) == []

    def type_note_and_confirm(dialog) -> None:
        QTest.keyClicks(dialog.note, "paid by cheque outside BILL")
        assert dialog.skip_button.isEnabled()
        QTest.mouseClick(dialog.skip_button, Qt.MouseButton.LeftButton)

    with qtbot.waitSignal(window.refreshed, timeout=10_000):
        with qtbot.waitSignal(window.command_finished, timeout=10_000) as finished:
            when_modal(SkipDialog, type_note_and_confirm)
            qtbot.mouseClick(tab.skip_button, Qt.MouseButton.LeftButton)
    assert finished.args[1] and finished.args[0].startswith("Skip Invoice PI-1002")
    assert seen_store_skips(seeded_store) == [("PI-1002", "paid by cheque outside BILL")]
    assert any(a.action == "skip" and a.detail.get("note") == "paid by cheque outside BILL"
               for a in seeded_store.audit())
    assert tab.model.rowCount() == 2


def seen_store_skips(store) -> list:
    return [(q.record_key, q.note) for q in store.queue_items(state="skipped")]


def test_retry_all(qtbot, window, seeded_store):
    run_and_wait(qtbot, window, window.failures_tab.retry_all_button.click)
    assert sum(1 for a in seeded_store.audit() if a.action == "retry") == 3


# --- mappings ----------------------------------------------------------------------------------------
def open_account_editor(qtbot, tab, nav_account: str):
    """Double-click the BILL account cell of a G/L account: the combo box editor opens there."""
    from PySide6.QtWidgets import QApplication, QComboBox

    select(tab, lambda r: r.nav_account == nav_account)
    index = tab.view.selectionModel().selectedRows()[0].siblingAtColumn(3)
    rect = tab.view.visualRect(index)
    tab.view.window().activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is tab.view.window(), timeout=5_000)
    qtbot.waitUntil(lambda: not tab.view.viewport().findChildren(QComboBox), timeout=5_000)  # no editor open
    qtbot.mouseClick(tab.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(tab.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: isinstance(QApplication.focusWidget(), QComboBox), timeout=5_000)
    editor = QApplication.focusWidget()
    assert editor.parent() is tab.view.viewport()
    return editor


def choose(editor, account_id: str) -> None:
    from PySide6.QtTest import QTest

    while editor.currentData() != account_id:
        QTest.keyClick(editor, Qt.Key.Key_Down)
    QTest.keyClick(editor, Qt.Key.Key_Return)


def test_mapping_editor_preselects_nothing_and_refuses_a_bank_or_ap_account(qtbot, window, seeded_store):
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QMessageBox

    from app.store import schema as t

    with seeded_store.session() as s:
        s.add(t.BillAccountCache(id="0ca01AP", number="2110", name="Accounts Payable", account_type="ACCOUNTS_PAYABLE"))
        s.add(t.BillAccountCache(id="0ca01BANK", number="1010", name="Operating Bank", account_type="BANK"))
        s.get(t.BillAccountCache, "0ca01SHOP").account_type = "EXPENSE"
    with qtbot.waitSignal(window.refreshed, timeout=10_000):
        window.refresh()
    window.show()
    tab = window.mappings_tab
    window.tabs.setCurrentWidget(tab)

    def mapped() -> dict:
        return {m.nav_account: m.bill_account_id for m in seeded_store.account_mapping_rows()}

    # Nothing pre-selected: double-click + Enter maps nothing.
    editor = open_account_editor(qtbot, tab, "6150")
    assert editor.currentIndex() == 0 and editor.currentData() == "" and editor.count() == 6
    QTest.keyClick(editor, Qt.Key.Key_Return)
    qtbot.wait(100)
    assert "6150" not in mapped() and not window.tasks.busy

    # Accounts Payable: a warning naming both accounts; Cancel keeps it unmapped.
    seen = when_modal(QMessageBox, lambda box: click_box_button(box, "Cancel"))
    choose(open_account_editor(qtbot, tab, "6150"), "0ca01AP")
    qtbot.waitUntil(lambda: bool(seen), timeout=5_000)
    assert "NAV G/L 6150 “Shop Supplies”" in seen[0].text() and "“2110 Accounts Payable”" in seen[0].text()
    assert "Accounts Payable account" in seen[0].text()
    assert "6150" not in mapped()
    assert "Not mapped: NAV G/L 6150 “Shop Supplies” stays as it was." in window.message_label.text()

    # An expense account maps without a question; the message names both sides; Undo puts it back.
    with qtbot.waitSignal(window.refreshed, timeout=10_000):
        with qtbot.waitSignal(window.command_finished, timeout=10_000) as finished:
            choose(open_account_editor(qtbot, tab, "6150"), "0ca01SHOP")
    assert finished.args == ["Map NAV G/L 6150 “Shop Supplies” to BILL “6155 Shop Consumables”", True]
    assert mapped().get("6150") == "0ca01SHOP"
    run_and_wait(qtbot, window, lambda: qtbot.mouseClick(tab.undo_button, Qt.MouseButton.LeftButton))
    assert "6150" not in mapped()

    # "Map anyway" is the explicit override.
    when_modal(QMessageBox, lambda box: click_box_button(box, "Map anyway"))
    run_and_wait(qtbot, window, lambda: choose(open_account_editor(qtbot, tab, "6150"), "0ca01BANK"))
    assert mapped().get("6150") == "0ca01BANK"


def test_a_dimension_value_on_the_wrong_classification_needs_an_override(window):
    from app.ui.rows import ClassificationChoice, DimensionMappingRow, dimension_mapping_warning

    project = DimensionMappingRow("PROJECT", "P-1003", "ERP Rollout")
    mapped = DimensionMappingRow("PROJECT", "P-1001", "Line 3 Retrofit", classification_id="cls1")
    department = ClassificationChoice("dep1", "departments", "Department: Production")
    klass = ClassificationChoice("cls2", "accounting-classes", "Class: ERP")
    kinds = {"cls1": "accounting-classes", "cls2": "accounting-classes", "dep1": "departments"}
    warning = dimension_mapping_warning(project, department, [project, mapped], kinds)
    assert "Other PROJECT values go to BILL class" in warning and "“Department: Production”" in warning
    assert dimension_mapping_warning(project, klass, [project, mapped], kinds) == ""
    assert "looks like a department" in dimension_mapping_warning(
        DimensionMappingRow("DEPARTMENT", "PROD", "Production"), klass, [], kinds)


def test_accept_suggested_mapping(qtbot, window, seeded_store):
    tab = window.mappings_tab
    select(tab, lambda r: r.nav_account == "6100")
    assert tab.accept_button.isEnabled()
    run_and_wait(qtbot, window, tab.accept_button.click)
    sources = {m.nav_account: m.source for m in seeded_store.account_mapping_rows()}
    assert sources["6100"] == "user"


# --- activity ----------------------------------------------------------------------------------------
def test_activity_filters_and_exports_csv(window, tmp_path):
    tab = window.activity_tab
    assert tab.runs_model.rowCount() == 1
    assert "vendors: 2 created" in tab.runs_model.index(0, 4).data()
    tab.actor_filter.setCurrentIndex(tab.actor_filter.findData("NAV"))
    assert tab.proxy.rowCount() == 1
    target = tmp_path / "audit.csv"
    assert tab.export_csv(target) == 1
    with open(target, encoding="utf-8") as handle:
        lines = list(csv.reader(handle))
    assert lines[0] == ["Time", "By", "Action", "Record", "Detail"]
    assert lines[1][1:4] == ["NAV", "post payment", "payment stp01PAID"]
    tab.actor_filter.setCurrentIndex(0)
    tab.filter_edit.setText("V00010")
    assert tab.proxy.rowCount() == 2


# --- window ------------------------------------------------------------------------------------------
def test_status_bar_and_attention_state(window):
    assert window.state == ConnectorState.ATTENTION
    # The seeded last sync is of today: the status bar shows its time, the tooltip the date as well.
    import re

    assert re.fullmatch(r"Last sync: \d\d:\d\d", window.last_sync_label.text()), window.last_sync_label.text()
    assert re.fullmatch(r"Last sync: 20\d\d-\d\d-\d\d \d\d:\d\d", window.last_sync_label.toolTip())
    assert window.last_sync_label.toolTip().endswith(window.last_sync_label.text().removeprefix("Last sync: "))
    assert window.nav_mode_label.text() == "NAV: polling"


def test_pause_shows_in_status(window):
    assert window.state == ConnectorState.ATTENTION
    window.pause_action.trigger()
    assert window.paused and window.next_sync_label.text() == "Next sync: paused"
    assert window.state == ConnectorState.PAUSED and window.state_label.text() == "● Syncing paused"
    assert window.pause_action.text() == "Resume syncing"
    window.pause_action.trigger()
    assert not window.paused and window.pause_action.text() == "Pause syncing"
    assert window.state == ConnectorState.ATTENTION


def test_closing_without_tray_minimises_instead(qtbot, window):
    window.show()
    qtbot.waitExposed(window)
    assert not QSystemTrayIcon.isSystemTrayAvailable()  # offscreen platform
    window.close()
    assert window.isVisible() and window.isMinimized()


def test_sync_without_connection_says_what_to_do(qtbot, window):
    with qtbot.waitSignal(window.sync_finished, timeout=10_000) as finished:
        assert window.start_sync()
    outcome = finished.args[0]
    assert not outcome.ok and "Settings" in outcome.summary
    assert window.sync_action.isEnabled()


def test_keyboard_ctrl_tab_moves_between_tabs_and_tab_leaves_the_table(qtbot, window):
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    view = window.vendors_tab.view
    view.setFocus()
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentWidget() is window.invoices_tab
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Backtab,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert window.tabs.currentWidget() is window.vendors_tab
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is not view  # Tab left the table
    # One key, one meaning: F5 is Sync now, Reload is Ctrl+R.
    assert window.sync_action.shortcut().toString() == "F5"
    assert window.refresh_action.shortcut().toString() == "Ctrl+R"
    keys = [a.shortcut().toString() for a in window.findChildren(type(window.sync_action)) if not a.shortcut().isEmpty()]
    assert len(keys) == len(set(keys)), keys


def test_help_about_names_version_data_folder_and_log_file(window, tmp_path):
    from app import __version__
    from app.setup.config import app_paths

    window.paths = app_paths(tmp_path / "home")
    text = window.about_text()
    assert __version__ in text and str(window.paths.data_dir) in text
    assert str(window.paths.log_dir / "navbill.log") in text and "README" in text
    assert [a.text() for a in window.menuBar().actions()] == ["&File", "&View", "&Help"]


def test_pending_invoice_skip_asks_for_a_note_and_names_the_invoice(qtbot, window, seeded_store):
    from PySide6.QtTest import QTest

    from app.ui.failures_tab import SkipDialog

    tab = window.invoices_tab
    window.tabs.setCurrentWidget(tab)
    select(tab, lambda r: r.nav_number == "PI-1003")
    amount = [c.header for c in tab.model.columns].index("Amount")
    assert tab.view.selectionModel().selectedRows()[0].siblingAtColumn(amount).data() == "410.00 USD"
    assert tab.retry_button.isEnabled() and tab.skip_button.isEnabled()

    def note_and_skip(dialog) -> None:
        assert "Invoice PI-1003 (vendor's AC-7790) (Acme Steel Supply, 410.00 USD)" in dialog.question.text()
        QTest.keyClicks(dialog.note, "credited by the vendor")
        QTest.mouseClick(dialog.skip_button, Qt.MouseButton.LeftButton)

    when_modal(SkipDialog, note_and_skip)
    run_and_wait(qtbot, window, lambda: qtbot.mouseClick(tab.skip_button, Qt.MouseButton.LeftButton))
    assert seen_store_skips(seeded_store) == [("PI-1003", "credited by the vendor")]


def _open_about_by_clicks(qtbot, window):
    """Help → About NavBill, clicked on the menu bar and in the menu; returns the About box that opens."""
    from PySide6.QtWidgets import QApplication, QMessageBox

    bar = window.menuBar()
    help_action = next(a for a in bar.actions() if a.text() == "&Help")
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.actionGeometry(help_action).center())
    menu = help_action.menu()
    qtbot.waitUntil(menu.isVisible, timeout=5_000)
    qtbot.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(window.about_action).center())
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), QMessageBox), timeout=5_000)
    return QApplication.activeModalWidget()


def test_help_about_says_where_the_backups_are_and_how_to_restore_one(qtbot, window, tmp_path):
    from PySide6.QtWidgets import QApplication

    from app.setup.config import app_paths
    from app.store.backup import backup_dir

    window.show()
    window.paths = app_paths(tmp_path / "home")
    assert "Backups: looking in" in window.about_text()  # what the box says until the worker has listed the folder
    box = _open_about_by_clicks(qtbot, window)
    qtbot.waitUntil(lambda: "Backups: none yet" in box.text(), timeout=10_000)
    qtbot.mouseClick(box.button(box.StandardButton.Close), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: QApplication.activeModalWidget() is None, timeout=5_000)

    folder = backup_dir(window.paths.database_file)
    folder.mkdir(parents=True)
    (folder / f"{window.paths.database_file.name}.20261201T120000000000.bak").write_bytes(b"")
    box = _open_about_by_clicks(qtbot, window)
    qtbot.waitUntil(lambda: "Backups: 1 in" in box.text(), timeout=10_000)
    assert "store restore" in box.text() and "stop serve" in box.text()
    qtbot.mouseClick(box.button(box.StandardButton.Close), Qt.MouseButton.LeftButton)


def test_help_about_lists_the_backups_folder_on_a_worker(qtbot, window, tmp_path, monkeypatch):
    """The box is up at once; a slow backups folder holds back only its own line."""
    import threading

    from app.setup.config import app_paths
    from app.store import backup

    window.show()
    window.paths = app_paths(tmp_path / "home")
    release, threads = threading.Event(), []
    listed = backup.list_backups

    def slow_listing(database_file):
        threads.append(threading.current_thread())
        release.wait(10)
        return listed(database_file)

    monkeypatch.setattr(backup, "list_backups", slow_listing)
    box = _open_about_by_clicks(qtbot, window)
    try:
        assert "Backups: looking in" in box.text() and "Data folder" in box.text()
        qtbot.waitUntil(lambda: bool(threads), timeout=5_000)
        assert threads[0] is not threading.main_thread()
    finally:
        release.set()
    qtbot.waitUntil(lambda: "Backups: none yet" in box.text(), timeout=10_000)
    qtbot.mouseClick(box.button(box.StandardButton.Close), Qt.MouseButton.LeftButton)


def test_an_unmapped_account_counts_each_held_invoice_that_waits_for_it(qtbot, window, seeded_store):
    """"Invoices waiting" reads the engine's reasons: a G/L number may hold a dot or a slash (a Code[20]), a name a
    semicolon; an invoice with two lines on one account counts once."""
    from app.store import schema as t

    with seeded_store.session() as s:
        s.add(t.NavGLAccountCache(number="6100.10", name="Office; Printing"))
        s.add(t.QueueItem(kind="invoice", record_key="PI-1004", reason=(
            "vendor V00040 is not linked to BILL; line 10000: G/L 6100.10 Office; Printing has no BILL account; "
            "line 20000: G/L 6150 Shop Supplies has no BILL account; line 30000: G/L 6150 Shop Supplies has no BILL "
            "account")))
    with qtbot.waitSignal(window.refreshed, timeout=10_000):
        window.refresh()
    rows = {r.nav_account: r for r in window.mappings_tab.model.rows()}
    assert rows["6100.10"].invoices_waiting == 1 and rows["6150"].invoices_waiting == 2  # PI-1003 and PI-1004
    assert rows["6100"].invoices_waiting == 0


def test_several_conflicts_are_resolved_at_once_as_their_keep_columns_say(qtbot, window, seeded_store):
    """A first link against a NAV that keeps no 1099 codes opens one conflict per 1099 vendor: the clerk selects them
    (Ctrl+click), clicks Resolve once, reads each vendor and value in the question, and Undo opens them all again."""
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QMessageBox

    add_acme_1099_conflict(qtbot, window, seeded_store)
    tab = window.vendors_tab
    view, proxy = tab.view, tab.proxy
    rows = [n for n in range(proxy.rowCount()) if proxy.index(n, 0).data(ROW_ROLE).state == VendorState.CONFLICT]
    assert len(rows) == 2
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     view.visualRect(proxy.index(rows[0], 0)).center())
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                     view.visualRect(proxy.index(rows[1], 0)).center())
    assert len(tab.selected_rows()) == 2 and tab.resolve_button.isEnabled()

    seen = when_modal(QMessageBox, lambda box: click_box_button(box, "Resolve 2"))
    run_and_wait(qtbot, window, lambda: qtbot.mouseClick(tab.resolve_button, Qt.MouseButton.LeftButton))
    asked = seen[0].text()
    assert "Resolve the conflicts on 2 vendors?" in asked
    assert "• “Acme Steel Supply” (V00010): 1099 vendor: keep BILL's “yes”" in asked, asked
    assert "• “Keystone Paint & Coatings” (V00070): " in asked and "Phone: keep NAV's “717-555-0199”" in asked
    chosen = {(c.record_key, c.field): c.chosen_side for c in seeded_store.conflict_rows(state="chosen")}
    assert chosen == {("V00010", "is_1099"): "bill", ("V00070", "phone"): "nav", ("V00070", "email"): "nav"}

    run_and_wait(qtbot, window, lambda: qtbot.mouseClick(tab.undo_button, Qt.MouseButton.LeftButton))
    assert seeded_store.conflict_rows(state="chosen") == []
    assert len(seeded_store.conflict_rows(state="open")) == 3
