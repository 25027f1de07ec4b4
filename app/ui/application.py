"""`navbill` with no command: the window, the tray, and (with --demo) the embedded sandboxes.

Start-up order matters: the single-instance check comes before anything opens the database, so a
second launch only knocks on the first one's door and exits.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app import APP_NAME
from app.log import setup_logging
from app.setup.config import AppPaths, app_paths

log = logging.getLogger("navbill.ui")


@dataclass
class ConnectorSession:
    """Everything one open window works with; ``close()`` releases it in reverse order."""

    paths: AppPaths
    store: Any
    vault: Any = None
    profiles: Any = None
    profile: Any = None
    sandboxes: Any = None
    service: Any = None
    backend: Any = None
    _closers: list = field(default_factory=list)

    def close(self) -> None:
        for closer in reversed(self._closers):
            with contextlib.suppress(Exception):
                closer()
        self._closers.clear()


def build_engine_runner(store, profile, vault, *, demo_sandboxes=None, retry=None, config_dir=None, data_dir=None):
    """A ``run(dry_run, progress, cancel)`` on the real engine, or None when no profile is set up.

    With ``config_dir`` (this installation's config folder), a run that writes first makes sure no other
    installation syncs this company from a store of its own (app/store/installation.py), as ``sync`` does:
    the refusal, with what to do, is the run's message.

    With ``demo_sandboxes``, the first real sync also pays a few bills in the BILL sandbox and posts
    those payments, so the demo's Payments screen has something to show (as ``sync --demo`` does).
    ``retry`` replaces the clients' retry policy (tests: no back-off waits). ``data_dir`` (this installation's data
    folder) holds the hourly BILL request count the window's runs share with ``serve``, ``sync`` and ``check``.
    """
    if profile is None:
        return None
    from app.clients.bill import BillClient
    from app.clients.nav import NavClient
    from app.engine import EngineSettings, SyncEngine, bankwatch
    from app.setup.profiles import (
        bill_budget,
        bill_session_store,
        build_bill_connection,
        build_nav_connection,
    )
    from app.ui.service_bridge import progress_triple

    lock = threading.Lock()  # one run at a time, whoever asks (the window's preview or its sync)
    demo_paid = threading.Event()

    def run(dry_run: bool, progress, cancel: threading.Event, flows=None):
        def report_progress(*args, **kwargs):
            progress(*progress_triple(*args, **kwargs))

        with lock:
            session_id, save_session = bill_session_store(profile, vault) if vault else (None, None)
            nav = NavClient(build_nav_connection(profile, vault), retry=retry)
            bill = BillClient(build_bill_connection(profile, vault), session_id=session_id, on_session=save_session,
                              retry=retry, budget=bill_budget(data_dir, profile))
            try:
                if config_dir is not None and not dry_run:
                    from app.store.installation import guard

                    guard(store, bill, config_dir, profile.nav.company or profile.nav.company_id,
                          profile.bill.organization_id, window=True)
                engine = SyncEngine(store, nav, bill, EngineSettings.load(store))
                key = bankwatch.key_from_vault(vault)
                if key is not None:  # the window's vault is open already (a passphrase vault too)
                    engine.bank_key = key
                report = engine.run(flows=flows, dry_run=dry_run, progress=report_progress, cancel=cancel,
                                    trigger="window" if not flows else f"window: {', '.join(flows)} now")
                if demo_sandboxes is not None and not dry_run and report.completed and not demo_paid.is_set():
                    demo_paid.set()
                    from app.engine.demo import add_follow_up_run, pay_some_demo_bills

                    if pay_some_demo_bills(demo_sandboxes, store):
                        add_follow_up_run(report, engine.run(flows=["payments"], progress=report_progress,
                                                             cancel=cancel, trigger="window demo payments"))
                return report
            finally:
                nav.close()
                bill.close()

    def reconcile_now():
        """The reconciliation report (app.engine.reconcile) on this profile; waits for a running sync."""
        from app.engine.reconcile import reconcile

        with lock:
            session_id, save_session = bill_session_store(profile, vault) if vault else (None, None)
            nav = NavClient(build_nav_connection(profile, vault), retry=retry)
            bill = BillClient(build_bill_connection(profile, vault), session_id=session_id, on_session=save_session,
                              retry=retry, budget=bill_budget(data_dir, profile))
            try:
                return reconcile(store, nav, bill)
            finally:
                nav.close()
                bill.close()

    def bill_requests():
        """This hour's BILL request count of the installation (a BudgetStatus), or None without a data folder."""
        budget = bill_budget(data_dir, profile, EngineSettings.load(store))
        return budget.status() if budget is not None else None

    run.reconcile = reconcile_now
    run.bill_requests = bill_requests
    return run


def open_session(home: str | Path | None, *, demo: bool, nav_flavor: str | None = None) -> ConnectorSession:
    from app.setup.profiles import ProfileStore, demo_profile, demo_secrets
    from app.setup.vault import DEMO_PASSPHRASE, Vault
    from app.store import open_store
    from app.ui.store_backend import StoreBackend

    paths = app_paths(home).ensure()
    url = paths.database_url if demo else paths.store_url  # a team store, if one was joined
    if url.startswith("postgresql"):  # its password, when the window's Team store… saved one on this PC
        from app.store.team_join import with_saved_password

        try:
            url = with_saved_password(url, Vault.open(paths.database_url))
        except Exception:  # noqa: BLE001 - no saved password: libpq's PGPASSWORD or pgpass file still apply
            log.warning("This PC's own vault could not be opened for the team store's password")
    store = open_store(url)
    session = ConnectorSession(paths=paths, store=store)
    session._closers.append(store.close)
    if demo:
        from app.sandbox.runner import start_sandboxes, stop_sandboxes

        session.sandboxes = start_sandboxes(seed="demo", nav_flavor=nav_flavor or "bc")
        session._closers.append(lambda: stop_sandboxes(session.sandboxes))
        session.vault = Vault.open_with_passphrase(paths.database_url, DEMO_PASSPHRASE)
        session.profiles = ProfileStore(paths, session.vault)
        from dataclasses import replace

        from app.sandbox import demo_data

        profile = demo_profile(session.sandboxes.nav_url, session.sandboxes.bill_url)
        # The demo says which NAV it plays: Business Central (API v2.0, with its company id) or NAV 2016-2018
        # (published pages only).
        bc = session.sandboxes.nav_flavor == "bc"
        profile = replace(profile, name=f"Demo ({'Business Central' if bc else 'NAV 2016-2018'} sandboxes)",
                          nav=replace(profile.nav, company_id=demo_data.COMPANY_ID if bc else "",
                                      flavor=session.sandboxes.nav_flavor))
        session.profile = session.profiles.save(profile, demo_secrets())
        from app.engine.demo import DEMO_SETTINGS
        from app.ui.service_host import DEMO_PUSH, PUSH_SETTING

        DEMO_SETTINGS.save(store)
        store.set_setting(PUSH_SETTING, dict(DEMO_PUSH))
    else:
        try:
            session.vault = Vault.open(store.engine)
        except Exception as error:  # a locked or broken keyring must not stop the window opening
            log.warning("The credentials vault could not be opened: %s", error)
        session.profiles = ProfileStore(paths, session.vault)
        session.profile = session.profiles.active()
    runner = build_engine_runner(store, session.profile, session.vault, demo_sandboxes=session.sandboxes,
                                 config_dir=None if demo else paths.config_dir, data_dir=paths.data_dir)
    session.backend = StoreBackend(store, runner)
    return session


def main(args) -> int:
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from app.ui import crash
    from app.ui.icons import app_icon
    from app.ui.main_window import MainWindow
    from app.ui.service_host import ServiceHost
    from app.ui.single_instance import SingleInstance, ask_running_instance, channel_name
    from app.ui.tray import TrayController

    home = args.home
    if getattr(args, "demo", False) and not home:
        home = tempfile.mkdtemp(prefix="navbill-demo-")  # a fresh demo each time; never the real data
    paths = app_paths(home)
    setup_logging(paths.ensure().log_dir, level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO)

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    QGuiApplication.setDesktopFileName("navbill")  # Wayland/X11 match the window to navbill.desktop
    app.setWindowIcon(app_icon())
    crash.install()
    channel = channel_name(paths.data_dir)
    if ask_running_instance(channel):
        log.info("%s is already running; brought its window forward", APP_NAME)
        return 0
    instance = SingleInstance(channel)
    instance.listen()

    demo = bool(getattr(args, "demo", False))
    from app.ui.store_problem import open_with_recovery

    flavor = getattr(args, "nav_flavor", None)
    session = open_with_recovery(lambda: open_session(home, demo=demo, nav_flavor=flavor), paths.database_file)
    if session is None:  # the database cannot be opened and the user chose Quit
        instance.close()
        return 1
    if not demo:
        unlock_vault_at_start(session)
    window = MainWindow(session.backend, profile_name=session.profile.name if session.profile else "")
    window.paths = session.paths
    tray = TrayController(window)
    from app.ui.digest import ReconcileDigest

    ReconcileDigest(window, tray, session.store)  # the daily reconciliation digest (owned by the window)
    app.setQuitOnLastWindowClosed(not tray.available)
    instance.show_requested.connect(window.bring_forward)
    host = ServiceHost(session, window, first_sync=demo)
    team_watch = None
    if getattr(session.store, "is_postgres", False):  # who leads, and taking the lead when it is free
        from app.ui.team_status import LeaderWatch

        team_watch = LeaderWatch(session, window, host)
    window.settings_requested.connect(lambda: open_settings(window, session))
    minimized = bool(getattr(args, "minimized", False))
    if minimized and tray.available:
        log.info("Started in the tray (--minimized)")
    elif minimized:
        window.showMinimized()  # no tray to come back from: a taskbar entry instead
    else:
        window.show()
    window.refresh()
    host.start()
    if team_watch is not None:
        team_watch.start()
    if session.profile is None:
        window.bring_forward()
        open_settings(window, session, first_run=True)
    code = app.exec()
    team_watch = getattr(window, "team_watch", None)  # made at start, or when Settings joined a team store
    if team_watch is not None:
        team_watch.stop()
    host.stop_now()  # already stopped by Quit; this covers a quit that did not come through Quit
    window.shutdown()
    tray.hide()
    instance.close()
    session.close()
    return code


def unlock_vault_at_start(session: ConnectorSession, parent=None) -> bool:
    """A passphrase vault asks for its passphrase (or a new one) before the window starts working.

    Declining leaves the vault locked: the window still opens and says what is missing when a sync needs it.
    """
    from app.ui.vault_dialog import ensure_vault_ready, passphrase_mode

    if session.vault is None or not passphrase_mode(session.vault):
        return session.vault is not None and session.vault.is_unlocked
    return ensure_vault_ready(session.vault, parent)


OPENING_SETTINGS = "Opening Settings…"


def open_settings(window, session: ConnectorSession, first_run: bool = False) -> None:
    """Open the setup wizard (first run) or Settings beside the window (window-modal, not blocking).

    What it shows from the store and the vault is read on a worker first (a team store is a server across the
    network); then the wizard opens and ``window.settings_opened`` carries it. Finish saves and applies: a new
    backend for the window and a restarted service; after a first run the first sync starts at once.
    """
    from app.ui.settings import read_stored_settings

    existing = getattr(window, "settings_wizard", None)
    if existing is not None and existing.isVisible():
        existing.raise_()
        existing.activateWindow()
        return
    if getattr(window, "settings_loading", False):
        return  # asked twice while it loads: it opens once
    window.settings_loading = True
    window.report(OPENING_SETTINGS)
    store = session.store

    def loaded(stored) -> None:
        window.settings_loading = False
        if session.store is not store:  # this PC joined a team store meanwhile: what was read is the old store's
            open_settings(window, session, first_run)
            return
        show_settings(window, session, first_run, stored)

    def failed(message: str) -> None:
        window.settings_loading = False
        window.withdraw_report(OPENING_SETTINGS)
        said = message.rstrip()
        window.banner.show_message(f"Settings could not be opened: {said}{'' if said.endswith('.') else '.'} Click "
                                   "Settings… again once the store answers.", error=True)

    window.tasks.start("open settings", lambda ctx: read_stored_settings(session), on_success=loaded,
                       on_failure=failed)


def show_settings(window, session: ConnectorSession, first_run: bool, stored) -> None:
    from PySide6.QtCore import Qt

    from app.ui.settings import SetupWizard

    wizard = SetupWizard(session, parent=window, first_run=first_run or session.profile is None, stored=stored)
    wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    window.settings_wizard = wizard

    def applied() -> None:
        from app.ui.store_backend import StoreBackend

        starting = wizard.first_run
        session.profile = wizard.saved_profile or session.profile
        window.backend = StoreBackend(session.store, build_engine_runner(
            session.store, session.profile, session.vault,
            config_dir=session.paths.config_dir if session.sandboxes is None else None,
            data_dir=session.paths.data_dir))
        session.backend = window.backend
        if session.profile is not None:
            window.setWindowTitle(f"{APP_NAME} — NAV ⇄ BILL — {session.profile.name}")
        window.refresh()
        host = getattr(window, "service_host", None)
        if host is not None:
            host.first_sync = host.first_sync or starting
            if host.running:
                host.restart()  # the schedule, push settings or connection changed: the service starts afresh
            else:
                host.start()
        elif starting:
            window.start_sync(dry_run=False)
        if starting:
            window.report("Saved. The first sync is running; its progress shows below.")

    def closed() -> None:
        if getattr(window, "settings_wizard", None) is wizard:
            window.settings_wizard = None

    wizard.on_store_joined = lambda: switch_to_joined_store(window, session)
    wizard.accepted.connect(applied)
    wizard.finished.connect(lambda _code: closed())
    wizard.open()
    window.withdraw_report(OPENING_SETTINGS)
    window.settings_opened.emit(wizard)


def open_team_store(paths):
    """On a worker (a team store is a server across the network): the store just joined, with the password this PC
    saved for it, and its vault (None when it cannot be opened: the window still opens). Raises when the store
    cannot be opened."""
    from app.setup.vault import Vault
    from app.store import open_store
    from app.store.team_join import with_saved_password

    url = paths.store_url
    try:
        url = with_saved_password(url, Vault.open(paths.database_url))
    except Exception:  # noqa: BLE001 - libpq's PGPASSWORD or pgpass file still apply
        log.warning("This PC's own vault could not be opened for the team store's password")
    store = open_store(url)  # its failure is logged by the worker and told in the window
    try:
        vault = Vault.open(store.engine)
    except Exception as error:  # noqa: BLE001 - a locked or broken keyring: the window still opens
        log.warning("The team store's vault could not be opened: %s", error)
        vault = None
    return store, vault, url


def switch_to_joined_store(window, session: ConnectorSession) -> None:
    """Settings → Team store… joined a team store: the window works on it from now on, without a restart.

    The service stops; the team store opens (with the password this PC saved for it); its vault asks for the team's
    passphrase when this PC does not know it yet; the active profile (profiles live on this PC) stays, with the
    team vault's secrets; the service starts again, leading or following, and who leads shows in the status bar.
    Settings then opens, so the profile's passwords can be entered for the team when the team vault lacks them.
    """
    host = getattr(window, "service_host", None)

    def reopen() -> None:
        from app.store.team_join import shown

        window.report(f"Opening the team store {shown(session.paths.store_url)}…")
        window.tasks.start("open the team store", lambda ctx: open_team_store(session.paths), on_success=switch,
                           on_failure=not_opened)

    def not_opened(message: str) -> None:  # the window keeps working on the store it had
        from app.store.team_join import shown

        window.report(f"Joined, but the team store {shown(session.paths.store_url)} could not be opened now "
                      f"({message}); NavBill uses it from its next start.", error=True)
        if host is not None:
            host.start()

    def switch(opened) -> None:
        from app.setup.profiles import ProfileStore
        from app.store.team_join import shown
        from app.ui.store_backend import StoreBackend

        store, vault, url = opened
        paths = session.paths
        old, session.store = session.store, store
        session._closers = [closer for closer in session._closers if closer != old.close]
        session._closers.insert(0, store.close)
        session.vault = vault
        unlock_vault_at_start(session, window)
        session.profiles = ProfileStore(paths, session.vault)
        session.profile = session.profiles.active()
        window.backend = StoreBackend(store, build_engine_runner(store, session.profile, session.vault,
                                                                 config_dir=paths.config_dir, data_dir=paths.data_dir))
        session.backend = window.backend
        old.close()
        window.refresh()
        window.report(f"This PC now works on the team store {shown(url)}.")
        log.info("Switched to the team store %s", shown(url))
        if host is not None:
            if getattr(store, "is_postgres", False) and getattr(window, "team_watch", None) is None:
                from app.ui.team_status import LeaderWatch

                LeaderWatch(session, window, host).start()
            host.start()
        open_settings(window, session, first_run=session.profile is None)

    if host is not None:
        host.stop(then=reopen)
    else:
        reopen()
