"""The main window: one tab per screen, a toolbar to sync, and a status bar that says where things stand.

Every read and command runs on a worker (``TaskRunner``); results come back as signals and are put
into the tabs' models. After each command the window reloads all screens from the store, so what is
shown is always what the store holds.
"""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from PySide6.QtCore import QEvent, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QCloseEvent, QColor, QDesktopServices, QKeySequence, QPalette, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSystemTrayIcon,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app import APP_NAME
from app.ui.activity_tab import ActivityTab
from app.ui.failures_tab import FailuresTab
from app.ui.icons import STATE_TEXT, ConnectorState, app_icon, state_icon
from app.ui.invoices_tab import InvoicesTab
from app.ui.mappings_tab import MappingsTab
from app.ui.payments_tab import PaymentsTab
from app.ui.qt_fixes import ElidedLabel
from app.ui.reconcile_tab import ReconcileTab
from app.ui.rows import ConnectorBackend, StatusInfo, SyncOutcome, VendorState
from app.ui.table_model import display_text
from app.ui.vendors_tab import VendorsTab
from app.ui.workers import TaskContext, TaskRunner

log = logging.getLogger("navbill.ui")


def load_everything(backend: ConnectorBackend) -> dict[str, Any]:
    """All screens' rows in one worker trip (runs on a worker thread)."""
    return {
        "vendors": backend.vendor_diff(),
        "invoices": backend.pending_invoices(),
        "payments": backend.payments(),
        "failures": backend.failed_items(),
        "mappings": backend.mappings(),
        "bill_accounts": backend.bill_accounts(),
        "dimensions": backend.dimension_mappings() if hasattr(backend, "dimension_mappings") else [],
        "classifications": backend.classification_choices() if hasattr(backend, "classification_choices") else [],
        "runs": backend.runs(),
        "audit": backend.audit_log(),
        "status": backend.status(),
    }


def when(value: datetime | None, empty: str = "never") -> str:
    return display_text(value) if value else empty


def when_short(value: datetime | None, empty: str = "never") -> str:
    """For the status bar, where every label competes for one line: today's times without the date."""
    if not value:
        return empty
    local = value.astimezone()
    return local.strftime("%H:%M") if local.date() == datetime.now().astimezone().date() else display_text(value)


class MessageBanner(QWidget):
    """A dismissible line above the tabs for errors and results (no modal boxes: syncs keep going).

    Its background and text come from the palette (a light and a dark variant), painted by the widget
    itself: a style sheet on a plain QWidget subclass never paints its background."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.close_button = QPushButton("&Dismiss", self)
        self.close_button.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self.setAutoFillBackground(True)
        self.error = False
        self.hide()

    def _paint_colours(self) -> None:
        from app.ui.theme import banner_background, is_dark

        palette = QApplication.palette(self)
        palette.setColor(QPalette.ColorRole.Window, banner_background(self.error))
        text = QColor("#f0f0f0") if is_dark() else QColor("#111111")
        palette.setColor(QPalette.ColorRole.WindowText, text)
        self.setPalette(palette)
        self.label.setPalette(palette)

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.ApplicationPaletteChange:
            self._paint_colours()

    def show_message(self, text: str, error: bool = False) -> None:
        self.error = error
        self._paint_colours()
        self.label.setText(text)
        self.show()


class MainWindow(QMainWindow):
    state_changed = Signal(object)  # ConnectorState
    attention_needed = Signal(str)  # a sentence for the tray notification
    refreshed = Signal()  # every screen now shows the store's latest rows
    command_finished = Signal(str, bool)  # description, succeeded
    sync_finished = Signal(object)  # SyncOutcome
    settings_requested = Signal()
    settings_opened = Signal(object)  # the Settings wizard, once open_settings has read what it shows
    pause_toggled = Signal(bool)
    status_shown = Signal(object)  # StatusInfo: what the status bar now says (the tray repeats it)

    def __init__(self, backend: ConnectorBackend, *, profile_name: str = "", parent=None) -> None:
        super().__init__(parent)
        self.backend = backend
        self.tasks = TaskRunner(self)
        self.tray_available = False  # set by the tray controller when a tray icon is shown
        self.quitting = False
        self.state = ConnectorState.IDLE
        self.paused = False
        self.last_outcome: SyncOutcome | None = None
        self.status_info = StatusInfo()
        self._sync_task = None
        self._service_run = False  # a run started by the service (schedule, poll, Sync now) is going
        # A preview queued on the service's scheduler (waiting or running): its cancel flag.
        self._preview_cancel: threading.Event | None = None
        self._preview_running = False  # it left the queue; the next targeted outcome is its result
        self._attention = 0
        self._problems: dict = {}
        self.state_detail = ""
        self._sync_error = ""  # the last real sync's failure, while the banner may still show it
        self._state_sentence = ""  # what set_state last wrote beside the light (a sync's words replace it)
        self.settings_wizard = None
        self.settings_loading = False  # app.ui.application.open_settings: reading what Settings shows
        self.paths = None  # set by the app: the data folder and log file Help → About names
        self.service_bridge = None
        self.service_host = None  # set by ServiceHost: it stops the service before the app quits

        self.setWindowTitle(f"{APP_NAME} — NAV ⇄ BILL" + (f" — {profile_name}" if profile_name else ""))
        self.setWindowIcon(app_icon())
        self.resize(1280, 780)

        self.vendors_tab = VendorsTab(self)
        self.invoices_tab = InvoicesTab(self)
        self.payments_tab = PaymentsTab(self)
        self.failures_tab = FailuresTab(self)
        self.mappings_tab = MappingsTab(self)
        self.activity_tab = ActivityTab(self)
        self.reconcile_tab = ReconcileTab(self)
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        for tab in self.all_tabs():
            self.tabs.addTab(tab, tab.title)
        self.invoices_tab.fix_vendor_requested.connect(self.show_vendor)
        self.invoices_tab.fix_account_requested.connect(self.show_mapping)
        self.invoices_tab.fix_dimension_requested.connect(self.show_dimension_mapping)
        self.failures_tab.fix_vendor_requested.connect(self.show_vendor)
        self.failures_tab.fix_account_requested.connect(self.show_mapping)
        self.failures_tab.fix_dimension_requested.connect(self.show_dimension_mapping)

        self.banner = MessageBanner(self)
        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.banner)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

        self._build_actions()
        self._build_status_bar()
        self.set_state(*self._settled())
        app = QApplication.instance()
        if app is not None:
            # QApplication.quit() first asks every window to close; a quit must not be refused by the
            # "keep running in the tray" rule below, so note it before the close arrives.
            app.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Quit:
            self.quitting = True
        return False

    # --- layout -----------------------------------------------------------------------------------
    def all_tabs(self):
        return [self.vendors_tab, self.invoices_tab, self.payments_tab, self.failures_tab, self.mappings_tab,
                self.activity_tab, self.reconcile_tab]

    def _build_actions(self) -> None:
        toolbar = QToolBar("Sync", self)
        toolbar.setObjectName("sync-toolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.addToolBar(toolbar)
        self.sync_action = QAction(state_icon(ConnectorState.SYNCING), "Sync now", self)
        self.sync_action.setShortcut(QKeySequence("F5"))
        self.sync_action.setToolTip("Run a full sync now (F5)")
        self.sync_action.triggered.connect(lambda: self.start_sync(dry_run=False))
        self.preview_action = QAction("Preview sync", self)
        self.preview_action.setToolTip("Show what a sync would change, without writing anything")
        self.preview_action.triggered.connect(lambda: self.start_sync(dry_run=True))
        self.cancel_action = QAction("Cancel", self)
        self.cancel_action.setToolTip("Stop the running sync after the current record")
        self.cancel_action.triggered.connect(self.cancel_sync)
        self.cancel_action.setEnabled(False)
        self.pause_action = QAction(state_icon(ConnectorState.PAUSED), "Pause syncing", self)
        self.pause_action.setToolTip("Stop scheduled syncs until you resume")
        # F5 is Sync now, and only that: Reload has its own key (Ctrl+R), so no key means two things.
        self.refresh_action = QAction("Reload", self)
        self.refresh_action.setShortcut(QKeySequence("Ctrl+R"))
        self.refresh_action.setToolTip("Read every screen again from the connector's data (Ctrl+R)")
        self.refresh_action.triggered.connect(self.refresh)
        self.preview_action.setShortcut(QKeySequence("Shift+F5"))
        self.preview_action.setToolTip("Show what a sync would change, without writing anything (Shift+F5)")
        self.cancel_action.setShortcut(QKeySequence("Ctrl+."))
        self.pause_action.setCheckable(False)
        self.pause_action.triggered.connect(lambda: self.set_paused(not self.paused))
        self.settings_action = QAction("Settings…", self)
        self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        self.settings_action.triggered.connect(self.settings_requested.emit)
        self.quit_action = QAction("Quit", self)
        self.quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        self.quit_action.triggered.connect(self.quit_app)
        for action in (self.sync_action, self.preview_action, self.cancel_action, self.pause_action,
                       self.refresh_action, self.settings_action):
            toolbar.addAction(action)
        menu = self.menuBar().addMenu("&File")
        for action in (self.sync_action, self.preview_action, self.pause_action, self.settings_action):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.quit_action)
        view = self.menuBar().addMenu("&View")
        view.addAction(self.refresh_action)
        self.attention_action = QAction("Open “Needs attention”", self)
        self.attention_action.setShortcut(QKeySequence("Ctrl+J"))
        self.attention_action.triggered.connect(self.open_attention)
        view.addAction(self.attention_action)
        # Ctrl+Tab / Ctrl+Shift+Tab (and Ctrl+PgDown / Ctrl+PgUp) move between tabs from anywhere in the window.
        for keys, step in (("Ctrl+Tab", 1), ("Ctrl+PgDown", 1), ("Ctrl+Shift+Tab", -1), ("Ctrl+Backtab", -1),
                           ("Ctrl+PgUp", -1)):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(lambda step=step: self.next_tab(step))
        help_menu = self.menuBar().addMenu("&Help")
        self.readme_action = QAction("User guide (README)", self)
        self.readme_action.setShortcut(QKeySequence.StandardKey.HelpContents)
        self.readme_action.triggered.connect(self.open_readme)
        self.about_action = QAction(f"About {APP_NAME}", self)
        self.about_action.triggered.connect(self.show_about)
        help_menu.addAction(self.readme_action)
        help_menu.addAction(self.about_action)

    def next_tab(self, step: int) -> None:
        count = self.tabs.count()
        self.tabs.setCurrentIndex((self.tabs.currentIndex() + step) % count)
        self.tabs.currentWidget().setFocus()

    README_URL = "https://github.com/navbill/navbill#readme"

    def readme_location(self) -> QUrl:
        from app.ui.icons import resources_dir

        local = resources_dir().parent / "README.md"
        return QUrl.fromLocalFile(str(local)) if local.is_file() else QUrl(self.README_URL)

    def open_readme(self) -> None:
        QDesktopServices.openUrl(self.readme_location())

    def about_text(self, backups_line: str = "") -> str:
        """Help → About's text; ``backups_line`` is what ``backups_text`` found (listed on a worker, never here:
        until it comes, the line says it is looking)."""
        from app import __version__
        from app.setup.config import app_paths
        from app.store.backup import backup_dir

        paths = self.paths or app_paths()
        log_file = paths.log_dir / "navbill.log"
        readme = self.readme_location().toString()
        backups_line = backups_line or f"Backups: looking in {backup_dir(paths.database_file)}…"
        return (f"<b>{APP_NAME} {__version__}</b> — keeps Microsoft Dynamics NAV / Business Central and BILL in "
                f"step.<br><br>Data folder: {paths.data_dir}<br>Log file: {log_file}<br>"
                f"Settings folder: {paths.config_dir}<br>{html.escape(backups_line)}<br><br>"
                f"<a href=\"{readme}\">User guide (README)</a>")

    @staticmethod
    def backups_text(paths) -> str:
        """Where the database's rolling backups are and the one command that restores the newest (reads the
        backups folder: call it on a worker)."""
        from app.store.backup import backup_dir, list_backups, restore_command

        backups = list_backups(paths.database_file)
        if not backups:
            return (f"Backups: none yet in {backup_dir(paths.database_file)} (one is made after each successful "
                    "sync; the last 7 are kept).")
        return (f"Backups: {len(backups)} in {backup_dir(paths.database_file)}. To restore the newest, quit the "
                f"window and stop serve, then run: {restore_command(backups[0])}")

    def about_box(self) -> QMessageBox:
        """The About box, shown at once; its backups line is filled in when the worker has listed the folder."""
        from shiboken6 import isValid

        from app.setup.config import app_paths

        box = QMessageBox(QMessageBox.Icon.Information, f"About {APP_NAME}", self.about_text(),
                          QMessageBox.StandardButton.Close, self)
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        paths = self.paths or app_paths()

        def found(line: str) -> None:
            if isValid(box):  # closed before the folder was listed: nothing to fill in
                box.setText(self.about_text(line))

        def failed(message: str) -> None:
            found(f"Backups: the folder could not be read ({message}).")

        self.tasks.start("list backups", lambda ctx: self.backups_text(paths), on_success=found, on_failure=failed)
        return box

    def show_about(self) -> None:
        self.about_box().open()  # window-modal without a nested event loop

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.state_label = QLabel(self)
        self.progress_label = ElidedLabel(self)
        # Long run summaries must not push the state or the permanent labels out of sight.
        self.progress_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.state_label.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setMaximumWidth(160)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.hide()
        self.last_sync_label = QLabel(self)
        self.next_sync_label = QLabel(self)
        self.nav_mode_label = QLabel(self)
        self.bill_mode_label = QLabel(self)
        self.subscription_label = QLabel(self)
        self.bill_requests_label = QLabel(self)
        self.bill_requests_label.setObjectName("bill_requests_label")
        self.message_label = ElidedLabel(self)
        self.message_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._message_timer = QTimer(self)
        self._message_timer.setSingleShot(True)
        self._message_timer.timeout.connect(self.message_label.clear)
        # Hidden while empty: it would take half the free width and cut the sentence beside the light.
        self._message_timer.timeout.connect(self.message_label.hide)
        self.message_label.hide()
        bar.addWidget(self.state_label)
        bar.addWidget(self.progress_bar)
        bar.addWidget(self.progress_label, 1)
        bar.addWidget(self.message_label, 1)
        for label in (self.last_sync_label, self.next_sync_label, self.nav_mode_label, self.bill_mode_label,
                      self.subscription_label, self.bill_requests_label):
            bar.addPermanentWidget(label)
        self.show_status(self.status_info)

    # --- state ------------------------------------------------------------------------------------
    def set_state(self, state: ConnectorState, detail: str = "") -> None:
        """The one state model: the status light, the tray icon and its tooltip all follow it."""
        from app.ui.icons import state_colour
        from app.ui.theme import colour_text

        self.state = state
        self.state_detail = detail or STATE_TEXT[state]
        self.state_label.setText(f"● {STATE_TEXT[state]}")
        self.state_label.setToolTip(self.state_detail)
        # The sentence beside the light says why (no connection yet, items waiting), not only its tooltip; a sync's
        # own words replace it.
        progress = getattr(self, "progress_label", None)
        if progress is not None and state != ConnectorState.SYNCING and progress.text() in ("", self._state_sentence):
            sentence = detail if state != ConnectorState.IDLE else ""  # idle: "Last sync" already shows
            progress.setText(sentence)
            progress.setToolTip(sentence)
            self._state_sentence = sentence
        colour_text(self.state_label, state_colour(state))
        font = self.state_label.font()
        font.setBold(True)
        self.state_label.setFont(font)
        self.state_changed.emit(state)

    def _settled(self) -> tuple[ConnectorState, str]:
        """Where things stand when no sync runs: (state, a sentence saying why)."""
        outcome = self.last_outcome
        if self.paused:
            return ConnectorState.PAUSED, "Scheduled syncs are paused. Resume to sync again."
        if outcome is not None and outcome.offline:
            return ConnectorState.OFFLINE, outcome.summary
        if not self.configured:
            return ConnectorState.ATTENTION, "No connection is set up yet: open Settings to enter NAV and BILL."
        if outcome is not None and not outcome.ok:
            return ConnectorState.ATTENTION, outcome.summary
        if outcome is None and self.status_info.last_problem:
            return ConnectorState.ATTENTION, self.status_info.last_problem  # e.g. after a restart
        if self._attention:
            return ConnectorState.ATTENTION, f"{self._attention} item(s) need your attention."
        if self.status_info.last_sync is None and outcome is None:
            return ConnectorState.IDLE, "No sync has run yet."
        return ConnectorState.IDLE, f"Last sync: {when(self.status_info.last_sync)}"

    def settle_state(self) -> None:
        if not self.syncing:
            self.set_state(*self._settled())

    @property
    def configured(self) -> bool:
        return getattr(self.backend, "sync_runner", True) is not None

    def attention_tab(self):
        """The tab to open for "Needs attention": the first one with something to do."""
        for tab in (self.failures_tab, self.vendors_tab, self.invoices_tab, self.mappings_tab):
            if self._problems.get(tab):
                return tab
        return self.failures_tab

    def open_attention(self) -> None:
        self.bring_forward()
        self.tabs.setCurrentWidget(self.attention_tab())

    def show_status(self, info: StatusInfo) -> None:
        self.status_info = info
        self.last_sync_label.setText(f"Last sync: {when_short(info.last_sync)}")
        self.last_sync_label.setToolTip(f"Last sync: {when(info.last_sync)}")
        self.next_sync_label.setText("Next sync: paused" if self.paused else
                                     f"Next sync: {when_short(info.next_sync, 'not scheduled')}")
        self.next_sync_label.setToolTip("" if self.paused else f"Next sync: {when(info.next_sync, 'not scheduled')}")
        for label, side, mode, reason in ((self.nav_mode_label, "NAV", info.nav_mode, info.nav_mode_reason),
                                          (self.bill_mode_label, "BILL", info.bill_mode, info.bill_mode_reason)):
            label.setText(f"{side}: {mode}")
            label.setToolTip(reason or f"{side} changes arrive by {mode}")
        self.subscription_label.setText(f"Subscription until {when_short(info.subscription_expiry)}"
                                        if info.subscription_expiry else "No webhook subscription")
        self.subscription_label.setToolTip("Webhook subscriptions are renewed automatically before they expire"
                                           if info.subscription_expiry else
                                           "Changes are read on the schedule and by polling")
        # BILL's hourly request budget, shared with the organization's other integrations (read on a worker).
        self.bill_requests_label.setText(info.bill_requests)
        self.bill_requests_label.setToolTip(info.bill_requests_detail)
        self.bill_requests_label.setVisible(bool(info.bill_requests))
        self.status_shown.emit(info)

    def set_next_sync(self, next_time: datetime | None) -> None:
        from dataclasses import replace

        self.show_status(replace(self.status_info, next_sync=next_time))

    def report(self, message: str, error: bool = False) -> None:
        # Not QStatusBar.showMessage: that hides the status light while the message shows.
        self.message_label.setText(message)
        self.message_label.setToolTip(message)
        self.message_label.show()
        self._message_timer.start(10_000)
        if error:
            self.banner.show_message(message, error=True)

    def withdraw_report(self, message: str) -> None:
        """Take back a message that is over ("Opening Settings…" once Settings is open), if it still shows."""
        if self.message_label.text() == message:
            self._message_timer.stop()
            self.message_label.clear()
            self.message_label.hide()

    # --- loading ----------------------------------------------------------------------------------
    def refresh(self) -> None:
        backend = self.backend
        self.tasks.start("load screens", lambda ctx: load_everything(backend), on_success=self._show_everything,
                         on_failure=lambda message: self.report(f"Could not load the data: {message}", error=True))

    def _show_everything(self, data: dict[str, Any]) -> None:
        self.vendors_tab.set_rows(data["vendors"])
        self.invoices_tab.set_rows(data["invoices"])
        self.payments_tab.set_rows(data["payments"])
        self.failures_tab.set_rows(data["failures"])
        self.mappings_tab.set_account_choices(data["bill_accounts"])
        self.mappings_tab.set_rows(data["mappings"])
        self.mappings_tab.set_classification_choices(data["classifications"])
        self.mappings_tab.set_dimension_rows(data["dimensions"])
        self.activity_tab.set_runs(data["runs"])
        self.activity_tab.set_rows(data["audit"])
        self.show_status(data["status"])
        problems = {
            self.vendors_tab: sum(1 for r in data["vendors"] if r.state in (VendorState.CONFLICT,
                                                                            VendorState.PROPOSED)),
            self.invoices_tab: sum(1 for r in data["invoices"] if r.held),
            self.failures_tab: len(data["failures"]),
            self.mappings_tab: sum(1 for r in data["mappings"] if r.invoices_waiting)
            + sum(1 for r in data["dimensions"] if r.required and not r.mapped),
        }
        for tab in self.all_tabs():
            count = problems.get(tab, 0)
            index = self.tabs.indexOf(tab)
            self.tabs.setTabText(index, f"{tab.title} ({count})" if count else tab.title)
        attention = len(data["failures"]) + problems[self.vendors_tab]
        became_worse = attention > self._attention
        self._attention = attention
        self._problems = problems
        self.settle_state()
        if became_worse:
            banks = sum(1 for r in data["failures"] if r.kind == "bank change")
            parts = [f"{banks} vendor bank-detail change(s) in BILL to confirm" if banks else "",
                     f"{len(data['failures']) - banks} failed posting(s)" if len(data["failures"]) > banks else "",
                     f"{problems[self.vendors_tab]} vendor(s) to check" if problems[self.vendors_tab] else ""]
            what = " and ".join(p for p in parts if p)
            self.attention_needed.emit(f"{attention} item(s) need your attention in {APP_NAME}: {what}.")
        self.refreshed.emit()

    # --- commands ---------------------------------------------------------------------------------
    def run_command(self, description: str, command: Callable[[ConnectorBackend], Any],
                    on_result: Callable[[Any], None] | None = None) -> None:
        backend = self.backend

        def done(result) -> None:
            if on_result is not None:
                on_result(result)
            self.report(f"{description}: done")
            self.command_finished.emit(description, True)
            self.refresh()

        def failed(message: str) -> None:
            self.report(f"{description} failed: {message}", error=True)
            self.command_finished.emit(description, False)
            self.refresh()

        self.tasks.start(description, lambda ctx: command(backend), on_success=done, on_failure=failed)

    # --- syncing ----------------------------------------------------------------------------------
    @property
    def syncing(self) -> bool:
        return self._sync_task is not None or self._service_run or self._preview_running

    def attach_service(self, bridge) -> None:
        """Let the service (scheduler + webhooks) run the syncs and previews, one at a time."""
        self.service_bridge = bridge
        if hasattr(self.backend, "status_source"):
            self.backend.status_source = bridge.status_info  # reloads keep the service's push/poll modes
        bridge.connect_window(self)
        self.pause_toggled.connect(bridge.set_paused)

    def detach_service(self) -> None:
        """The service is stopping (quit, new settings): the window runs on its own until the next one."""
        bridge, self.service_bridge = self.service_bridge, None
        if bridge is None:
            return
        bridge.disconnect_window(self)
        try:
            self.pause_toggled.disconnect(bridge.set_paused)
        except (RuntimeError, TypeError):
            pass
        if hasattr(self.backend, "status_source"):
            self.backend.status_source = None
        if self._service_run:
            self._service_run = False
            self.sync_done(SyncOutcome(False, False, "Sync stopped: the connector service was stopped"))
        if self._preview_cancel is not None:
            self._preview_cancel.set()  # a running preview stops after its current record
            self._preview_cancel, self._preview_running = None, False
            self.sync_done(SyncOutcome(False, True, "Preview stopped: the connector service was stopped"))

    def service_run_started(self, kind: str, description: str) -> None:
        if kind == "run" and self._sync_task is None:
            self._service_run = True
            self.sync_started(False)
            self.progress_label.setText(f"Syncing {description}…")

    def service_preview_started(self) -> None:
        if self._preview_cancel is None:
            return  # requested before the service was restarted; its outcome is not ours to show
        self._preview_running = True
        self.sync_started(True)

    def _service_preview_finished(self, run_outcome) -> None:
        from app.ui.store_backend import outcome_of
        from app.ui.workers import describe_error

        cancelled = self._preview_cancel is not None and self._preview_cancel.is_set()
        self._preview_cancel, self._preview_running = None, False
        if run_outcome.error is not None:
            outcome = SyncOutcome(False, True, f"Preview failed: {describe_error(run_outcome.error)}")
        elif cancelled:
            outcome = SyncOutcome(False, True, "Preview cancelled")
        else:
            outcome = outcome_of(run_outcome.result, True, self._attention, getattr(self.backend, "store", None))
        self.sync_done(outcome)

    def service_run_finished(self, run_outcome) -> None:
        from app.ui.store_backend import outcome_of

        if run_outcome.kind == "targeted" and self._preview_running:
            self._service_preview_finished(run_outcome)
            return
        if run_outcome.kind != "run" or not self._service_run:
            if run_outcome.kind == "targeted":
                # Webhook activity belongs in the Activity tab, never over the status text.
                result = "done" if run_outcome.ok else f"failed ({run_outcome.error})"
                # Business Central's webhooks name the record by a GUID; the engine's report says its number.
                trigger = str(getattr(run_outcome.result, "trigger", "") or "")
                what = trigger.removeprefix("webhook: ") if trigger.startswith("webhook: ") else \
                    run_outcome.description
                self.activity_tab.add_event(f"{self.with_names(what)}: {result}")
            self.refresh()  # a webhook's targeted sync changed something
            return
        self._service_run = False
        if run_outcome.error is not None:
            from app.ui.workers import describe_error

            offline = type(run_outcome.error).__name__ in ("ConnectionFailedError", "RetryableError")
            outcome = SyncOutcome(False, False, f"Sync failed: {describe_error(run_outcome.error)}", offline=offline)
        elif run_outcome.cancelled:
            outcome = SyncOutcome(False, False, "Sync cancelled")
        else:
            outcome = outcome_of(run_outcome.result, False, self._attention)
        self.sync_done(outcome)

    def with_names(self, text: str) -> str:
        """Put the vendor's name beside a NAV number or BILL id in a message ("BILL vendor 0090…" → its name)."""
        import re

        vendors = {}
        for row in self.vendors_tab.model.rows():
            if row.nav_number:
                vendors[row.nav_number] = row.name
            if row.bill_id:
                vendors[row.bill_id] = row.name
        bills = {r.bill_id: r for r in self.invoices_tab.model.rows() if r.bill_id}
        invoices = {r.nav_number: r for r in self.invoices_tab.model.rows()}

        def named(match: re.Match) -> str:
            side, kind, key = match.group(1), match.group(2), match.group(3)
            if kind == "vendor" and vendors.get(key):
                return f"{side} vendor “{vendors[key]}” ({key})"
            if kind == "bill" and key in bills:
                invoice = bills[key]
                return f"{side} bill for invoice {invoice.nav_number} ({invoice.vendor_name or invoice.vendor_number})"
            if kind == "invoice" and side == "NAV" and key in invoices:
                invoice = invoices[key]
                return f"NAV invoice {key} ({invoice.vendor_name or invoice.vendor_number})"
            return match.group(0)

        return re.sub(r"\b(NAV|BILL) (vendor|bill|invoice) ([^\s:,;]+)", named, text)

    def show_push_status(self, snapshot) -> None:
        from dataclasses import replace

        from app.ui.service_bridge import status_from_snapshot

        fresh = status_from_snapshot(snapshot, self.status_info.next_sync)
        kept = self.status_info  # what the service does not know: the last sync, the hour's BILL requests
        self.show_status(replace(fresh, last_sync=kept.last_sync, paused=self.paused, last_problem=kept.last_problem,
                                 bill_requests=kept.bill_requests, bill_requests_detail=kept.bill_requests_detail))

    def retry_now(self, rows) -> None:
        """Retry these failed items now: mark them, then run their flows at once (on a worker)."""
        ids = [r.item_id for r in rows]
        flows = sorted({r.flow for r in rows if r.flow}) or None
        label = rows[0].label + (f" and {len(rows) - 1} more" if len(rows) > 1 else "")
        backend = self.backend

        def marked(_result) -> None:
            self.command_finished.emit(f"Retry {label}", True)
            if self.start_sync(flows=flows):
                self.report(f"Retrying {label} now…")

        def failed(message: str) -> None:
            self.report(f"Retry {label} failed: {message}", error=True)
            self.command_finished.emit(f"Retry {label}", False)

        self.tasks.start("retry now", lambda ctx: [backend.retry(i) for i in ids], on_success=marked,
                         on_failure=failed)

    def start_sync(self, dry_run: bool = False, flows: list[str] | None = None) -> bool:
        if self.service_bridge is not None and dry_run:
            return self._queue_preview()
        if self.service_bridge is not None and not dry_run:
            # The service's single worker runs it; a click during a run queues one follow-up run.
            following = self._service_run
            if flows:
                self.service_bridge.request_run(flows)
            else:
                self.service_bridge.sync_now()
            if following:
                self.report("A sync is running; another one will follow it.")
            return True
        if self.syncing:
            self.report("A sync is already running.")
            return False
        team = getattr(self, "team_watch", None)  # a team store's follower (app/ui/team_status.py)
        if team is not None and not dry_run and not flows and team.sync_now():
            return True  # the leader was asked, or nobody led and this window takes the lead
        return self.start_sync_here(dry_run, flows)

    def start_sync_here(self, dry_run: bool = False, flows: list[str] | None = None) -> bool:
        """Run the sync in this window (not on a service), on a worker."""
        if self.syncing:
            self.report("A sync is already running.")
            return False
        backend = self.backend

        def work(ctx: TaskContext) -> SyncOutcome:
            if flows:
                return backend.sync(dry_run=dry_run, progress=ctx.progress, cancel=ctx.cancel, flows=flows)
            return backend.sync(dry_run=dry_run, progress=ctx.progress, cancel=ctx.cancel)

        self.sync_started(dry_run)
        self._sync_task = self.tasks.start("preview" if dry_run else "sync", work, on_success=self.sync_done,
                                           on_failure=lambda m: self.sync_done(SyncOutcome(False, dry_run, m)),
                                           on_progress=self.sync_progress)
        return True

    def _queue_preview(self) -> bool:
        """The preview waits its turn on the service's scheduler: never beside a run or a webhook's sync."""
        if self._preview_cancel is not None:
            self.report("A preview is already waiting or running.")
            return False
        cancel = threading.Event()
        if self.service_bridge.preview(cancel) == "stopped":
            self.report("The connector service is stopping; preview again once it has restarted.")
            return False
        self._preview_cancel = cancel
        self.preview_action.setEnabled(False)
        self.cancel_action.setEnabled(True)
        if self._service_run:
            self.report("A sync is running; the preview starts when it finishes.")
            self.progress_label.setText("Preview waits for the running sync…")
        return True

    def cancel_sync(self) -> None:
        if self._preview_cancel is not None:
            # Cancel means stop what is going: the preview (running or waiting), and a service run
            # it waits for.
            self._preview_cancel.set()
        if self._sync_task is not None:
            self._sync_task.cancel()
        elif self._service_run and self.service_bridge is not None:
            self.service_bridge.cancel()
        self.progress_label.setText("Cancelling after the current record…")

    def sync_started(self, dry_run: bool) -> None:
        self.set_state(ConnectorState.SYNCING)
        self.sync_action.setEnabled(self.service_bridge is not None and not dry_run)  # service: queue one more
        self.preview_action.setEnabled(False)
        self.cancel_action.setEnabled(True)
        self.progress_bar.setRange(0, 0)
        self.progress_bar.show()
        self.progress_label.setText("Previewing…" if dry_run else "Syncing…")

    def sync_progress(self, message: str, done: int, total: int) -> None:
        self.progress_label.setText(message)
        if total > 0:
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(min(done, total))
        else:
            self.progress_bar.setRange(0, 0)

    def sync_done(self, outcome: SyncOutcome) -> None:
        self._sync_task = None
        if not outcome.dry_run:
            self.last_outcome = outcome  # a preview never changes what the status says
        self.sync_action.setEnabled(True)
        waiting_preview = self._preview_cancel is not None  # queued behind the run that just ended
        self.preview_action.setEnabled(not waiting_preview)
        self.cancel_action.setEnabled(waiting_preview)
        self.progress_bar.hide()
        self.progress_label.setText(outcome.summary)
        self.progress_label.setToolTip(outcome.summary)
        self.set_state(*self._settled())
        if outcome.dry_run and outcome.details:
            shown = "\n".join(f"• {line}" for line in outcome.details[:15])
            more = f"\n… and {len(outcome.details) - 15} more" if len(outcome.details) > 15 else ""
            self.banner.show_message(f"{outcome.summary}\n{shown}{more}")
        elif not outcome.ok:
            self.banner.show_message(outcome.summary, error=True)
            self.attention_needed.emit(outcome.summary)
        elif not outcome.dry_run and self.banner.isVisibleTo(self) and self.banner.error \
                and self.banner.label.text() == self._sync_error:
            self.banner.hide()  # a sync went through: the last sync's error (e.g. "No connection is set up yet") is over
        if not outcome.dry_run:
            self._sync_error = "" if outcome.ok else outcome.summary
        self.sync_finished.emit(outcome)
        self.refresh()

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        self.pause_action.setText("Resume syncing" if paused else "Pause syncing")
        self.pause_action.setToolTip("Start scheduled syncs again" if paused else
                                     "Stop scheduled syncs until you resume")
        self.show_status(self.status_info)
        self.settle_state()
        self.pause_toggled.emit(paused)

    # --- fix-it jumps -----------------------------------------------------------------------------
    def show_vendor(self, nav_number: str) -> None:
        self.tabs.setCurrentWidget(self.vendors_tab)
        self.vendors_tab.filter_edit.clear()
        self.vendors_tab.state_filter.setCurrentIndex(0)
        if not self.vendors_tab.select_where(lambda r: r.nav_number == nav_number):
            self.report(f"NAV vendor {nav_number} is not in the vendor list yet; run a sync first.")

    def show_mapping(self, nav_account: str) -> None:
        self.tabs.setCurrentWidget(self.mappings_tab)
        if not self.mappings_tab.select_account(nav_account):
            self.report(f"G/L account {nav_account} is not in the mapping list yet; run a sync first.")

    def show_dimension_mapping(self, dimension_code: str, value_code: str) -> None:
        self.tabs.setCurrentWidget(self.mappings_tab)
        if not self.mappings_tab.select_dimension(dimension_code, value_code):
            self.report(f"{dimension_code} {value_code} is not in the dimension list yet; run a sync first.")

    # --- window life ------------------------------------------------------------------------------
    def bring_forward(self) -> None:
        self.show()
        self.setWindowState((self.windowState() & ~Qt.WindowState.WindowMinimized) | Qt.WindowState.WindowActive)
        self.raise_()
        self.activateWindow()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.quitting:
            event.accept()
            return
        event.ignore()
        if self.tray_available and QSystemTrayIcon.isSystemTrayAvailable():
            self.hide()  # keeps running in the tray; Quit is in the tray menu
        else:
            self.showMinimized()  # no tray to come back from: never disappear completely

    def quit_app(self) -> None:
        self.quitting = True
        host = self.service_host
        if host is not None and host.running:
            # Stop the scheduler and listener on a worker (a running sync stops after its current
            # record), then quit. The window goes away at once.
            self.hide()
            self.report("Stopping the connector service…")
            self.cancel_action.setEnabled(False)
            host.stop(then=self._finish_quit)
            return
        self._finish_quit()

    def _finish_quit(self) -> None:
        self.quitting = True
        self.tasks.shutdown()
        self.close()
        app = QApplication.instance()
        if app is not None:
            app.quit()

    def shutdown(self) -> None:
        """Stop workers (tests and quit): cancel what runs and wait for the threads, the window's own and those of
        what it holds (the service host, the leader watch, an open Settings): none may still be running Python when
        the window and its children are deleted."""
        from app.ui.workers import TaskRunner

        for runner in dict.fromkeys([self.tasks, *self.findChildren(TaskRunner)]):
            runner.shutdown()
