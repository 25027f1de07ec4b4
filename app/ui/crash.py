"""Crashes and Qt's own messages end up in the log; a crash also shows a dialog the user can copy.

Nothing secret is shown or logged: every text goes through ``app.log.redact`` first.
"""

from __future__ import annotations

import logging
import platform
import sys
import traceback
from types import TracebackType

from PySide6.QtCore import QtMsgType, qInstallMessageHandler
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
)

from app import APP_NAME, __version__
from app.log import redact

log = logging.getLogger("navbill.ui")
qt_log = logging.getLogger("navbill.qt")

_QT_LEVELS = {
    QtMsgType.QtDebugMsg: logging.DEBUG,
    QtMsgType.QtInfoMsg: logging.INFO,
    QtMsgType.QtWarningMsg: logging.WARNING,
    QtMsgType.QtCriticalMsg: logging.ERROR,
    QtMsgType.QtFatalMsg: logging.CRITICAL,
}


def crash_report(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> str:
    """Version, OS and the traceback, redacted: what the dialog shows and the log keeps."""
    from PySide6 import __version__ as pyside_version

    lines = [f"{APP_NAME} {__version__}",
             f"Python {platform.python_version()} · PySide6 {pyside_version} · {platform.platform()}",
             "", *traceback.format_exception(kind, error, tb)]
    return redact("".join(line if line.endswith("\n") else line + "\n" for line in lines))


class CrashDialog(QDialog):
    def __init__(self, report: str, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{APP_NAME} hit a problem")
        self.report = report
        message = QLabel(f"Something went wrong inside {APP_NAME}. The details are in the log file. "
                         "If it happens again, copy them and send them to your administrator (they contain no "
                         "passwords or keys).", self)
        message.setWordWrap(True)
        self.text = QPlainTextEdit(report, self)
        self.text.setReadOnly(True)
        self.copy_button = QPushButton("Copy details", self)
        self.copy_button.clicked.connect(self.copy)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(message)
        layout.addWidget(self.text, 1)
        layout.addWidget(buttons)
        self.resize(640, 420)

    def copy(self) -> None:
        QApplication.clipboard().setText(self.report)
        self.copy_button.setText("Copied")


class CrashHandler:
    """``sys.excepthook``: log the crash as critical and show it (once at a time) in a dialog."""

    def __init__(self, show_dialog: bool = True) -> None:
        self.show_dialog = show_dialog
        self.previous = sys.excepthook
        self.last_report = ""
        self._showing = False

    def __call__(self, kind, error, tb) -> None:
        if issubclass(kind, KeyboardInterrupt):
            self.previous(kind, error, tb)
            return
        report = crash_report(kind, error, tb)
        self.last_report = report
        log.critical("Unhandled error:\n%s", report)
        app = QApplication.instance()
        if not self.show_dialog or app is None or self._showing:
            return
        self._showing = True
        try:
            CrashDialog(report, app.activeWindow()).exec()
        finally:
            self._showing = False


def qt_message_handler(mode, context, message) -> None:
    qt_log.log(_QT_LEVELS.get(mode, logging.WARNING), "%s", redact(message))


def install(show_dialog: bool = True) -> CrashHandler:
    handler = CrashHandler(show_dialog)
    sys.excepthook = handler
    qInstallMessageHandler(qt_message_handler)
    return handler
