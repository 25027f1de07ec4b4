"""A database that cannot be opened gets a dialog with choices, not the crash dialog."""

from __future__ import annotations

import os

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from app.ui.store_problem import (
    DAMAGED,
    LOCKED,
    MOVE_ASIDE,
    QUIT,
    RETRY,
    StoreProblemDialog,
    ask_with_dialog,
    open_with_recovery,
)


def damage(home):
    from app.setup.config import app_paths

    paths = app_paths(home).ensure()
    garbage = os.urandom(8192)
    paths.database_file.write_bytes(garbage)
    return paths, garbage


def open_real(home):
    from app.ui.application import open_session

    return lambda: open_session(home, demo=False)


def clicking(qtbot, choice, asked):
    def ask(error):
        if len(asked) >= 3:  # the choice did not help: stop instead of asking for ever
            return QUIT
        dialog = StoreProblemDialog(error)
        qtbot.addWidget(dialog)
        asked.append((dialog.kind, dialog.message.text(), list(dialog.choice_buttons)))
        dialog.choice_buttons[choice].click()
        return dialog.choice

    return ask


def test_damaged_database_can_be_moved_aside_and_a_new_one_started(qtbot, navbill_home):
    paths, garbage = damage(navbill_home)
    asked: list = []
    session = open_with_recovery(open_real(navbill_home), paths.database_file, clicking(qtbot, MOVE_ASIDE, asked))
    try:
        assert session is not None and session.store.schema_version() > 0
        kind, message, choices = asked[0]
        assert kind == DAMAGED and "damaged" in message
        assert choices == [MOVE_ASIDE, QUIT]
        moved = [p for p in paths.database_file.parent.iterdir() if ".damaged-" in p.name and
                 not p.name.endswith(("-wal", "-shm"))]
        assert len(moved) == 1 and moved[0].read_bytes() == garbage  # kept, not deleted
        assert len(asked) == 1
    finally:
        if session is not None:
            session.close()


def test_quit_leaves_the_damaged_file_alone(qtbot, navbill_home):
    paths, garbage = damage(navbill_home)
    asked: list = []
    assert open_with_recovery(open_real(navbill_home), paths.database_file, clicking(qtbot, QUIT, asked)) is None
    assert paths.database_file.read_bytes() == garbage
    assert not [p for p in paths.database_file.parent.iterdir() if ".damaged-" in p.name]


def test_locked_database_offers_try_again(qtbot, tmp_path):
    from sqlalchemy.exc import OperationalError

    from app.store.store import _explain

    locked = _explain(OperationalError("BEGIN", {}, Exception("database is locked")), "'x.sqlite3'")
    attempts: list = []

    def open_fn():
        attempts.append(1)
        if len(attempts) == 1:
            raise locked
        return "opened"

    asked: list = []
    result = open_with_recovery(open_fn, tmp_path / "x.sqlite3", clicking(qtbot, RETRY, asked))
    assert result == "opened" and len(attempts) == 2
    assert asked[0][0] == LOCKED and asked[0][2] == [RETRY, QUIT]


def test_the_real_dialog_answers_from_its_modal_loop(qtbot, navbill_home):
    paths, _garbage = damage(navbill_home)
    from app.store import open_store

    error = None
    try:
        open_store(paths.database_url)
    except Exception as exc:  # noqa: BLE001 - we want to see exactly what the store raises
        error = exc
    assert error is not None

    def click_quit(tries=0):
        dialog = QApplication.activeModalWidget()  # the modal one only (see test_vault_dialogs.answer_modal)
        if isinstance(dialog, StoreProblemDialog) and dialog.isVisible():
            dialog.choice_buttons[QUIT].click()
        elif tries < 10_000:
            QTimer.singleShot(0, lambda: click_quit(tries + 1))

    QTimer.singleShot(0, click_quit)
    assert ask_with_dialog(error) == QUIT
