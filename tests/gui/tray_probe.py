"""Run by test_tray.py in a child process on a real X server (QT_QPA_PLATFORM=xcb) with trayer as the tray.

Prints one JSON object with what it saw; the test asserts on it. A child process is needed because
the test session's QApplication already runs on the offscreen platform, which has no tray.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def wait_for(predicate, timeout_ms: int) -> bool:
    """Process events until ``predicate()`` holds (like qtbot.waitUntil), or give up at the deadline."""
    from PySide6.QtCore import QDeadlineTimer, QEventLoop
    from PySide6.QtWidgets import QApplication

    deadline = QDeadlineTimer(timeout_ms)
    while not predicate():
        if deadline.hasExpired():
            return False
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents, 50)
    return True


def main() -> int:
    from PySide6.QtWidgets import QApplication, QSystemTrayIcon

    app = QApplication([])
    seen: dict = {"platform": app.platformName()}
    seen["tray_available"] = wait_for(QSystemTrayIcon.isSystemTrayAvailable, 10_000)

    from app.store import open_store
    from app.ui.icons import ConnectorState
    from app.ui.main_window import MainWindow
    from app.ui.store_backend import StoreBackend
    from app.ui.tray import TrayController
    from tests.gui.conftest import seed_store

    store = open_store(f"sqlite:///{tempfile.mkdtemp()}/tray.sqlite3")
    seed_store(store)
    window = MainWindow(StoreBackend(store))
    tray = TrayController(window)
    notices: list[str] = []
    tray.notified.connect(lambda title, message: notices.append(message))
    window.show()
    seen["window_shown"] = wait_for(lambda: window.windowHandle() is not None and window.windowHandle().isExposed(), 10_000)
    seen["icon_visible"] = wait_for(tray.icon.isVisible, 5_000)
    seen["menu"] = [a.text() for a in tray.menu.actions() if a.text() and a.isVisible()][1:]  # after the status line

    refreshed = []
    window.refreshed.connect(lambda: refreshed.append(True))
    window.refresh()
    wait_for(lambda: bool(refreshed), 10_000)
    seen["state_after_load"] = tray.current_state.value
    seen["notices"] = list(notices)
    seen["tooltip"] = tray.icon.toolTip()

    window.close()  # with a tray, closing hides the window and the app keeps running
    seen["hidden_after_close"] = wait_for(lambda: not window.isVisible(), 5_000)
    tray.open_action.trigger()
    seen["shown_by_open"] = wait_for(window.isVisible, 5_000)

    tray.pause_action.trigger()
    seen["paused"] = window.paused and window.state == ConnectorState.PAUSED
    seen["resume_label"] = tray.pause_action.text()
    tray.pause_action.trigger()
    seen["pause_label"] = tray.pause_action.text()
    window.set_state(ConnectorState.SYNCING)
    seen["sync_disabled_while_syncing"] = not tray.sync_action.isEnabled()
    window.set_state(ConnectorState.OFFLINE)
    seen["state_offline"] = tray.current_state.value

    tray.quit_action.trigger()
    seen["quit_closes_window"] = not window.isVisible()
    window.shutdown()
    tray.hide()
    store.close()
    print(json.dumps(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
