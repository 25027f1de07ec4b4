"""Helpers that drive the setup wizard the way a clerk does: clicks and key presses on the real widgets."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLineEdit, QWizard


def click(qtbot, widget) -> None:
    assert widget.isVisible() and widget.isEnabled(), f"{widget.text() if hasattr(widget, 'text') else widget}"
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def type_into(qtbot, field: QLineEdit, text: str) -> None:
    """Select what the field holds and type over it (as a clerk would with Ctrl+A, then typing)."""
    qtbot.mouseClick(field, Qt.MouseButton.LeftButton)
    field.setFocus()
    QTest.keyClick(field, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(field, Qt.Key.Key_Delete)
    if text:
        qtbot.keyClicks(field, text)


def fill_connection_pages(qtbot, wizard, sandboxes) -> None:
    """Type the sandboxes' NAV and BILL sign-in into the wizard's first two pages, clicking Next after each."""
    from urllib.parse import urlsplit

    from app.sandbox import demo_data

    nav = wizard.nav_page
    address = urlsplit(sandboxes.nav_url)
    type_into(qtbot, nav.server, address.hostname)
    type_into(qtbot, nav.port.lineEdit(), str(address.port))
    type_into(qtbot, nav.instance, demo_data.SERVER_INSTANCE)
    type_into(qtbot, nav.company, demo_data.COMPANY_NAME)
    type_into(qtbot, nav.user, demo_data.NAV_USER)
    type_into(qtbot, nav.web_service_key, demo_data.NAV_WEB_SERVICE_KEY)
    click(qtbot, next_button(wizard))

    bill = wizard.bill_page
    bill.environment.setFocus()
    while bill.environment.currentData() != "other":
        QTest.keyClick(bill.environment, Qt.Key.Key_Down)
    type_into(qtbot, bill.gateway, sandboxes.bill_url)
    type_into(qtbot, bill.username, demo_data.BILL_USERNAME)
    type_into(qtbot, bill.password, demo_data.BILL_PASSWORD)
    type_into(qtbot, bill.organization, demo_data.BILL_ORGANIZATION_ID)
    type_into(qtbot, bill.dev_key, demo_data.BILL_DEV_KEY)
    click(qtbot, next_button(wizard))


def next_button(wizard):
    return wizard.button(QWizard.WizardButton.NextButton)


def finish_button(wizard):
    return wizard.button(QWizard.WizardButton.FinishButton)


def answer_passphrase_dialog(passphrase: str, seen: list) -> None:
    """When the passphrase dialog is up (modal), type the passphrase where the focus is, twice, then Enter."""

    def attempt() -> None:
        from app.ui.vault_dialog import PassphraseDialog

        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, PassphraseDialog):
            QTimer.singleShot(50, attempt)
            return
        focused = QApplication.focusWidget()
        seen.append({"focus_is_passphrase": focused is dialog.passphrase,
                     "labels": [dialog.form.labelForField(f).text() for f in (dialog.passphrase, dialog.confirm)
                                if dialog.form.labelForField(f) is not None]})
        QTest.keyClicks(focused, passphrase)
        QTest.keyClick(focused, Qt.Key.Key_Tab)
        QTest.keyClicks(QApplication.focusWidget(), passphrase)
        QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)

    QTimer.singleShot(50, attempt)
