"""The system tray icon: the connector's state at a glance, a short menu, and a notice when the user is needed.

Where the desktop has no tray (``QSystemTrayIcon.isSystemTrayAvailable()`` is False) nothing is
shown and the window minimises instead of hiding, so the user can always get back to it.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from app import APP_NAME
from app.ui.icons import STATE_TEXT, ConnectorState, state_icon


class TrayController(QObject):
    notified = Signal(str, str)  # title, message: every notification shown (tests and logs)

    def __init__(self, window, parent: QObject | None = None) -> None:
        super().__init__(parent or window)
        self.window = window
        self.available = QSystemTrayIcon.isSystemTrayAvailable()
        self.icon = QSystemTrayIcon(state_icon(ConnectorState.IDLE), self)
        self.menu = QMenu()
        self.sync_action = QAction("Sync now", self.menu)
        self.sync_action.triggered.connect(lambda: window.start_sync(dry_run=False))
        self.open_action = QAction("Open", self.menu)
        self.open_action.triggered.connect(window.bring_forward)
        self.pause_action = QAction("Pause syncing", self.menu)
        self.pause_action.setCheckable(True)
        self.pause_action.toggled.connect(window.set_paused)
        window.pause_toggled.connect(self._sync_pause_check)
        self.quit_action = QAction("Quit", self.menu)
        self.quit_action.triggered.connect(window.quit_app)
        for action in (self.sync_action, self.open_action, self.pause_action):
            self.menu.addAction(action)
        self.menu.addSeparator()
        self.menu.addAction(self.quit_action)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self._status_text = ""
        window.state_changed.connect(self.show_state)
        window.status_shown.connect(self.show_status)
        window.attention_needed.connect(self.notify)
        self.show_state(window.state)
        self.show_status(window.status_info)
        if self.available:
            self.icon.show()
            window.tray_available = True

    @property
    def current_state(self) -> ConnectorState:
        return self._state

    def show_state(self, state: ConnectorState) -> None:
        self._state = state
        self.icon.setIcon(state_icon(state))
        self._update_tooltip()
        self.sync_action.setEnabled(state != ConnectorState.SYNCING)

    def show_status(self, info) -> None:
        """Push/poll per side, the next sync and the subscription expiry, under the state."""
        from app.ui.table_model import display_text

        if getattr(self.window, "paused", False):
            next_sync = "paused"
        else:
            next_sync = display_text(info.next_sync) if info.next_sync else "not scheduled"
        lines = [f"NAV: {info.nav_mode} · BILL: {info.bill_mode}", f"Next sync: {next_sync}"]
        if info.subscription_expiry:
            lines.append(f"Webhook subscription until {display_text(info.subscription_expiry)}")
        self._status_text = "\n".join(lines)
        self._update_tooltip()

    @property
    def tooltip(self) -> str:
        return self.icon.toolTip()

    def _update_tooltip(self) -> None:
        text = f"{APP_NAME}: {STATE_TEXT[self._state]}"
        self.icon.setToolTip(f"{text}\n{self._status_text}" if self._status_text else text)

    def _sync_pause_check(self, paused: bool) -> None:
        if self.pause_action.isChecked() != paused:
            self.pause_action.blockSignals(True)
            self.pause_action.setChecked(paused)
            self.pause_action.blockSignals(False)

    def notify(self, message: str) -> None:
        title = f"{APP_NAME} needs your attention"
        if self.available and self.icon.isVisible() and self.icon.supportsMessages():
            self.icon.showMessage(title, message, QSystemTrayIcon.MessageIcon.Warning, 15_000)
        self.notified.emit(title, message)

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick):
            if self.window.isVisible() and not self.window.isMinimized():
                self.window.hide()
            else:
                self.window.bring_forward()

    def hide(self) -> None:
        self.icon.hide()
