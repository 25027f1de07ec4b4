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
