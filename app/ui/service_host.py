"""The window's ``ConnectorService`` (scheduler, webhook listener, subscriptions): built, started,
restarted and stopped on workers, never on the UI thread.

The service is wired exactly as ``navbill serve`` wires it (app/cli/commands/serve.py): the profile's NAV
and BILL clients, the engine on the store with the saved engine settings, ``PushSettings`` from the
store's ``push`` setting (``settings_from``), the profile's vault prefix for webhook secrets, and
``bc_number_lookup`` for Business Central notifications. The window talks to it through
``ServiceBridge`` (queued Qt signals).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.ui.service_bridge import ServiceBridge
from app.ui.workers import TaskRunner

log = logging.getLogger("navbill.ui")

# The words of a refusal because another connector leads the company (app/ui/team_status.py looks for them).
FOLLOWING = "runs them for this company on the team store;"
PUSH_SETTING = "push"  # the store setting `navbill serve` reads: the one vocabulary for both
PUSH_DEFAULTS: dict[str, Any] = {"push_enabled": True, "listen": "127.0.0.1:8765", "public_url": "",
                                 "poll_minutes": 5, "schedule": "daily 06:00"}
# The demo listens on a free local port: the sandboxes call it directly.
DEMO_PUSH: dict[str, Any] = {"push_enabled": True, "listen": "127.0.0.1:0", "public_url": "", "poll_minutes": 5,
                             "schedule": "every 60m"}


def push_values(store) -> dict[str, Any]:
    """The ``push`` setting with defaults filled in; an older window's ``ui.sync_options`` and
    ``ui.schedule`` are read once when ``push`` was never saved."""
    saved = store.get_setting(PUSH_SETTING, None)
    values = dict(PUSH_DEFAULTS)
    if saved is None:
        old = store.get_setting("ui.sync_options", None) or {}
        if "push_enabled" in old:
            values["push_enabled"] = bool(old["push_enabled"])
        schedule = store.get_setting("ui.schedule", None)
        if schedule:
            values["schedule"] = str(schedule)
    else:
        values.update({k: v for k, v in dict(saved).items() if v is not None})
    return values


class DemoPayingEngine:
    """Demo only: after the first real run, a clerk pays a few bills in the BILL sandbox and the same
    run reads those payments back into NAV (as ``navbill sync --demo`` does). Everything else is the
    engine itself."""

    def __init__(self, engine: Any, sandboxes: Any, store: Any) -> None:
        self._engine = engine
        self._sandboxes = sandboxes
        self._store = store
        self._paid = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def run(self, flows: Any = None, dry_run: bool = False, progress: Any = None, cancel: Any = None,
            trigger: str = "manual") -> Any:
        report = self._engine.run(flows=flows, dry_run=dry_run, progress=progress, cancel=cancel, trigger=trigger)
        if dry_run or self._paid.is_set() or not getattr(report, "completed", False):
            return report
        if flows is not None and "payments" not in flows:
            return report
        if not self._store.invoice_rows(state="created"):
            return report
        self._paid.set()
        from app.engine.demo import add_follow_up_run, pay_some_demo_bills

        if pay_some_demo_bills(self._sandboxes, self._store):
            add_follow_up_run(report, self._engine.run(flows=["payments"], progress=progress, cancel=cancel,
                                                       trigger=f"{trigger} demo payments"))
        return report


@dataclass
class BuiltService:
    service: Any
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for closer in reversed(self.closers):
            try:
                closer()
            except Exception:  # closing a client must not stop the others closing
                log.debug("closing failed", exc_info=True)


def build_service(store, profile, vault, *, demo_sandboxes=None, config_dir=None, data_dir=None) -> BuiltService:
    """The ConnectorService for ``profile`` (blocking; call on a worker). Mirrors serve._run_profile: with
    ``config_dir``, a second installation with a store of its own is refused before anything is scheduled."""
    from app.clients.bill import BillClient
    from app.clients.nav import NavClient
    from app.engine import EngineSettings, SyncEngine, bankwatch
    from app.push.service import ConnectorService, bc_number_lookup, settings_from
    from app.push.state import PushState
    from app.setup.profiles import (
        bill_budget,
        bill_session_store,
        build_bill_connection,
        build_nav_connection,
        secret_name,
    )

    if vault is None:
        raise RuntimeError("the credentials vault is not open, so the connector cannot sign in")
    session_id, save_session = bill_session_store(profile, vault)
    nav = NavClient(build_nav_connection(profile, vault))
    bill = BillClient(build_bill_connection(profile, vault), session_id=session_id, on_session=save_session,
                      budget=bill_budget(data_dir, profile))  # counted with the other syncs of this installation
    built = BuiltService(service=None, closers=[nav.close, bill.close])
    leadership = None
    try:
        if getattr(store, "is_postgres", False):  # a team store: one leader per company runs schedule and webhooks
            from app.push.leader import Leadership

            store.set_scope(profile.nav.company or profile.nav.company_id, profile.bill.organization_id)
            leadership = Leadership(store, "window")
            if not leadership.try_lead():
                who = leadership.leader()
                raise RuntimeError(f"{'the leader (' + who + ')' if who else 'another connector'} {FOLLOWING} "
                                   "Sync now still works here (it waits its turn)")
            built.closers.append(leadership.release)
        if config_dir is not None:
            from app.store.installation import guard

            guard(store, bill, config_dir, profile.nav.company or profile.nav.company_id,
                  profile.bill.organization_id, window=True)
        engine: Any = SyncEngine(store, nav, bill, EngineSettings.load(store))
        key = bankwatch.key_from_vault(vault)
        if key is not None:  # the window's vault is open (a passphrase vault too): bank-detail changes are watched
            engine.bank_key = key
        if demo_sandboxes is not None:
            engine = DemoPayingEngine(engine, demo_sandboxes, store)
        settings = settings_from(push_values(store), "")
        settings.vault_prefix = secret_name(profile.name, "bill.webhook_security_key").rsplit("bill.", 1)[0]
        built.service = ConnectorService(engine, nav, bill, state=PushState(store.engine), vault=vault,
                                         settings=settings, nav_record_key=bc_number_lookup(nav))
        if leadership is not None:  # a follower's Sync now reaches this window (app/push/leader.py)
            service = built.service
            leadership.on_sync_request = lambda who: service.sync_now()
            watching = threading.Event()
            leadership.watch(watching, threading.Event())
            built.closers.append(watching.set)
    except Exception:
        built.close()
        raise
    return built


class ServiceHost(QObject):
    """Owns the window's service. ``start()``, ``restart()`` and ``stop(then)`` return at once; the
    work runs on the host's own worker, one step at a time."""

    started = Signal(object)  # the ServiceBridge of the running service
    stopped = Signal()
    failed = Signal(str)

    def __init__(self, session, window, *, first_sync: bool = False,
                 builder: Callable[..., BuiltService] = build_service) -> None:
        super().__init__(window)
        self.session = session
        self.window = window
        self.first_sync = first_sync  # demo: sync at start-up so the demo vendors are linked
        self.builder = builder
        self.tasks = TaskRunner(self, max_threads=1)  # start/stop steps never overlap
        self.built: BuiltService | None = None
        self.bridge: ServiceBridge | None = None
        self._starting = False
        self._after_start: Callable[[], None] | None = None  # a stop asked for while starting
        window.service_host = self

    @property
    def running(self) -> bool:
        return self.built is not None or self._starting

    def start(self) -> bool:
        session = self.session
        if self.running or session.profile is None:
            return False
        self._starting = True
        store, profile, vault, sandboxes = session.store, session.profile, session.vault, session.sandboxes
        paths = getattr(session, "paths", None)
        config_dir = paths.config_dir if paths is not None and sandboxes is None else None
        data_dir = paths.data_dir if paths is not None else None
        self.window.report("Starting the connector service…")
        self.tasks.start("build the service", lambda ctx: self.builder(store, profile, vault,
                                                                        demo_sandboxes=sandboxes,
                                                                        config_dir=config_dir, data_dir=data_dir),
                         on_success=self._built, on_failure=self._start_failed)
        return True

    def _built(self, built: BuiltService) -> None:
        # The bridge is a QObject: made here on the UI thread, and hooked up before the service starts
        # so no early status change or run is missed.
        self.built = built
        self.bridge = ServiceBridge(built.service, self)
        self.window.attach_service(self.bridge)
        service = built.service
        self.tasks.start("start the service", lambda ctx: service.start(),
                         on_success=lambda _: self._running(), on_failure=self._start_failed)

    def _running(self) -> None:
        self._starting = False
        if self._after_start is not None:
            after, self._after_start = self._after_start, None
            after()
            return
        if self.built is None or self.bridge is None:
            return
        service = self.built.service
        if self.window.paused:
            self.bridge.set_paused(True)
        self.window.set_next_sync(service.scheduler.next_run_time())
        self.window.show_push_status(service.status.snapshot())
        listener = getattr(service, "listener", None)
        log.info("Connector service running; schedule %s; webhooks %s", service.settings.schedule.describe(),
                 listener.url if listener else "off")
        self.window.report(f"Syncing {service.settings.schedule.describe()}"
                           + (f"; webhooks on {listener.url}" if listener else "; webhooks off"))
        if self.first_sync:
            self.first_sync = False
            service.scheduler.request_run(reason="startup")
        self.started.emit(self.bridge)

    def _start_failed(self, message: str) -> None:
        self._starting = False
        after, self._after_start = self._after_start, None
        built, self.built = self.built, None
        if self.bridge is not None:
            self.window.detach_service()
            self.bridge = None
        if built is not None:
            self.tasks.start("clean up", lambda ctx: (built.service.stop(5), built.close()))
        if FOLLOWING in message:  # a follower on a team store: not a fault, the leader runs them
            who = message.split("the leader (", 1)[-1].split(") " + FOLLOWING, 1)[0] if "the leader (" in message \
                else "another connector"
            log.info("The window follows on the team store: %s", message)
            self.window.report(f"This window follows: the leader ({who}) runs the schedule and the webhooks for this "
                               "company; this window takes over when it stops. Sync now works here too.")
        else:
            log.warning("The connector service could not start: %s", message)
            self.window.report(f"Scheduled syncs and webhooks are off: {message}", error=True)
        self.failed.emit(message)
        if after is not None:
            after()

    def stop(self, then: Callable[[], None] | None = None) -> None:
        """Stop the service on the worker (the running sync is cancelled after its current record)."""
        if self._starting:  # finish starting first, then stop what was started
            self._after_start = lambda: self.stop(then)
            return
        built, self.built = self.built, None
        if self.bridge is not None:
            self.window.detach_service()
            self.bridge = None

        def done(*_: Any) -> None:
            self.stopped.emit()
            if then is not None:
                then()

        if built is None:
            done()
            return

        def work(ctx) -> None:
            built.service.stop()
            built.close()

        self.tasks.start("stop the service", work, on_success=done, on_failure=lambda message: done())

    def restart(self) -> None:
        """Apply new settings or a new profile: stop, then start with what the store holds now."""
        self.stop(then=self.start)

    def stop_now(self, timeout: float = 30.0) -> None:
        """Last resort at exit (the event loop is gone): stop synchronously."""
        self.tasks.shutdown(int(timeout * 1000))
        built, self.built = self.built, None
        if built is not None:
            built.service.stop(timeout)
            built.close()
