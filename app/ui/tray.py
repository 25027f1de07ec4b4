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
    """The tray icon and its menu: a status line, Sync now, Pause/Resume, Open “Needs attention”, Open, Quit.

    Icon, tooltip and status line follow the window's one state model (``state_changed`` + ``state_detail``);
    clicking a notification opens the tab it was about."""

    notified = Signal(str, str)  # title, message: every notification shown (tests and logs)

    def __init__(self, window, parent: QObject | None = None) -> None:
        super().__init__(parent or window)
        self.window = window
        self.available = QSystemTrayIcon.isSystemTrayAvailable()
        self.icon = QSystemTrayIcon(state_icon(ConnectorState.IDLE), self)
        self.menu = QMenu()
        self.status_action = QAction("", self.menu)
        self.status_action.setEnabled(False)  # a line to read, not a command
        self.sync_action = QAction("Sync now", self.menu)
        self.sync_action.triggered.connect(lambda: window.start_sync(dry_run=False))
        self.pause_action = QAction("Pause syncing", self.menu)
        self.pause_action.triggered.connect(lambda: window.set_paused(not window.paused))
        window.pause_toggled.connect(self._show_pause)
        self.attention_action = QAction("Open “Needs attention”", self.menu)
        self.attention_action.triggered.connect(window.open_attention)
        # shown while the daily reconciliation digest (app.ui.digest) has found NAV and BILL apart
        self.reconcile_action = QAction("Open Reconciliation", self.menu)
        self.reconcile_action.triggered.connect(self.open_reconciliation)
        self.reconcile_action.setVisible(False)
        self.open_action = QAction("Open", self.menu)
        self.open_action.triggered.connect(window.bring_forward)
        self.quit_action = QAction("Quit", self.menu)
        self.quit_action.triggered.connect(window.quit_app)
        self.menu.addAction(self.status_action)
        self.menu.addSeparator()
        for action in (self.sync_action, self.pause_action, self.attention_action, self.reconcile_action,
                       self.open_action):
            self.menu.addAction(action)
        self.menu.addSeparator()
        self.menu.addAction(self.quit_action)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.icon.messageClicked.connect(self.open_notice)
        self._status_text = ""
        self._notice_tab = None
        self._state = ConnectorState.IDLE
        window.state_changed.connect(self.show_state)
        window.status_shown.connect(self.show_status)
        window.attention_needed.connect(self.notify)
        self.show_state(window.state)
        self.show_status(window.status_info)
        self._show_pause(window.paused)
        if self.available:
            self.icon.show()
            window.tray_available = True

    @property
    def current_state(self) -> ConnectorState:
        return self._state

    def show_state(self, state: ConnectorState) -> None:
        self._state = state
        self.icon.setIcon(state_icon(state))
        detail = getattr(self.window, "state_detail", "") or ""
        line = STATE_TEXT[state] if not detail or detail == STATE_TEXT[state] else f"{STATE_TEXT[state]}: {detail}"
        self.status_action.setText(line if len(line) <= 90 else line[:89] + "…")
        self.status_action.setToolTip(line)
        self._update_tooltip()
        self.sync_action.setEnabled(state != ConnectorState.SYNCING)

    def _show_pause(self, paused: bool) -> None:
        self.pause_action.setText("Resume syncing" if paused else "Pause syncing")

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
        detail = getattr(self.window, "state_detail", "") or ""
        if detail and detail != STATE_TEXT[self._state]:
            text += f"\n{detail[:200]}"
        self.icon.setToolTip(f"{text}\n{self._status_text}" if self._status_text else text)

    def notify(self, message: str) -> None:
        title = f"{APP_NAME} needs your attention"
        # A failed sync is explained in Activity; anything else waits on the "Needs attention" tab.
        failed_sync = message.startswith(("Sync ", "Could not", "No connection"))
        self._notice_tab = self.window.activity_tab if failed_sync else self.window.attention_tab()
        if self.available and self.icon.isVisible() and self.icon.supportsMessages():
            self.icon.showMessage(title, message, QSystemTrayIcon.MessageIcon.Warning, 15_000)
        self.notified.emit(title, message)

    def notify_digest(self, title: str, message: str, count: int) -> None:
        """The daily reconciliation digest: NAV and BILL differ; clicking the notice opens the Reconciliation tab."""
        self._notice_tab = self.window.reconcile_tab
        self.reconcile_action.setText(f"Open Reconciliation ({count} difference(s))")
        self.reconcile_action.setVisible(True)
        if self.available and self.icon.isVisible() and self.icon.supportsMessages():
            self.icon.showMessage(title, message, QSystemTrayIcon.MessageIcon.Information, 30_000)
        self.notified.emit(title, message)

    def clear_digest(self) -> None:
        self.reconcile_action.setVisible(False)

    def open_reconciliation(self) -> None:
        self.window.bring_forward()
        self.window.tabs.setCurrentWidget(self.window.reconcile_tab)

    def open_notice(self) -> None:
        """The notification was clicked: the window, on the tab the notice was about."""
        self.window.bring_forward()
        if self._notice_tab is not None:
            self.window.tabs.setCurrentWidget(self._notice_tab)

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick):
            if self.window.isVisible() and not self.window.isMinimized():
                self.window.hide()
            else:
                self.window.bring_forward()

    def hide(self) -> None:
        self.icon.hide()
