"""When the database cannot be opened (damaged, locked by another program, written by a newer version).

Instead of the crash dialog, the window start-up shows ``StoreProblemDialog`` with the store's own
explanation and the choices that fit: Quit; for a damaged file, move it aside and start afresh; for a
locked one, try again. ``open_with_recovery`` holds the decision loop; the question itself is a function
passed in, so tests can answer it without a modal dialog.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPushButton, QVBoxLayout, QWidget

from app.log import redact
from app.ui.qt_fixes import FitsWrappedText

log = logging.getLogger("navbill.ui")

QUIT, MOVE_ASIDE, RETRY = "quit", "move", "retry"
DAMAGED, LOCKED, OTHER = "damaged", "locked", "other"


def problem_kind(error: BaseException) -> str:
    """DAMAGED, LOCKED or OTHER (newer version, anything else), read from the StoreError's explanation."""
    text = str(getattr(error, "message", "") or error).lower()
    if "is damaged" in text or "not a database" in text or "malformed" in text:
        return DAMAGED
    if "is locked" in text or "busy" in text:
        return LOCKED
    return OTHER


def choices_for(kind: str) -> list[str]:
    if kind == DAMAGED:
        return [MOVE_ASIDE, QUIT]
    if kind == LOCKED:
        return [RETRY, QUIT]
    return [QUIT]


def move_aside(database_file: Path, now: datetime | None = None) -> Path:
    """Rename the database (and its -wal/-shm companions) to ``<name>.damaged-<timestamp>``; returns the new path."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    target = database_file.with_name(f"{database_file.name}.damaged-{stamp}")
    counter = 1
    while target.exists():
        counter += 1
        target = database_file.with_name(f"{database_file.name}.damaged-{stamp}-{counter}")
    for suffix in ("-wal", "-shm", "-journal"):
        companion = database_file.with_name(database_file.name + suffix)
        if companion.exists():
            companion.rename(target.with_name(target.name + suffix))
    database_file.rename(target)
    log.warning("Moved the damaged database aside to %s", target)
    return target


class StoreProblemDialog(FitsWrappedText, QDialog):
    """The store's message and one button per choice; ``choice`` is what was clicked (QUIT if closed)."""

    LABELS = {QUIT: "Quit", MOVE_ASIDE: "Move the damaged file aside and start afresh", RETRY: "Try again"}

    def __init__(self, error: BaseException, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind = problem_kind(error)
        self.choice = QUIT
        self.setWindowTitle("The connector's database cannot be opened")
        text = redact(str(getattr(error, "message", "") or error))
        if self.kind == DAMAGED:
            text += ("\n\nStarting afresh keeps the damaged file next to the new one (renamed "
                     "“.damaged-<date>”); the next sync rebuilds the links from NAV and BILL.")
        self.message = QLabel(text, self)
        self.message.setWordWrap(True)
        self.buttons = QDialogButtonBox(self)
        self.choice_buttons: dict[str, QPushButton] = {}
        for choice in choices_for(self.kind):
            role = (QDialogButtonBox.ButtonRole.RejectRole if choice == QUIT
                    else QDialogButtonBox.ButtonRole.AcceptRole)
            button = self.buttons.addButton(self.LABELS[choice], role)
            button.clicked.connect(lambda _checked=False, c=choice: self.choose(c))
            self.choice_buttons[choice] = button
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.resize(560, 0)

    def choose(self, choice: str) -> None:
        self.choice = choice
        if choice == QUIT:
            self.reject()
        else:
            self.accept()


def ask_with_dialog(error: BaseException) -> str:
    dialog = StoreProblemDialog(error)
    dialog.exec()
    return dialog.choice


def open_with_recovery(open_fn: Callable[[], object], database_file: Path,
                       ask: Callable[[BaseException], str] = ask_with_dialog):
    """``open_fn()``, asking what to do each time it raises StoreError; None when the user chose Quit."""
    from app.store import StoreError

    while True:
        try:
            return open_fn()
        except StoreError as error:
            log.error("The database cannot be opened: %s", redact(str(error)))
            choice = ask(error)
            if choice == MOVE_ASIDE and problem_kind(error) == DAMAGED and database_file.exists():
                move_aside(database_file)
            elif choice not in (RETRY, MOVE_ASIDE):
                return None
