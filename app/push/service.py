"""``ConnectorService``: the engine, the scheduler, the webhook listener and both sides' subscriptions
as one thing the window (or ``serve``) starts and stops.

Push where possible, poll always:

* The user's schedule runs every flow whatever else happens: webhooks are hints and can be lost.
* Payments are polled on the poll interval always: BILL sends payment webhooks only to selected
  partners (developer.bill.com/docs/payment-webhook-notification-payloads).
* Each side is in ``push`` mode only while its webhooks are proven to reach us: NAV's subscription
  handshake succeeded, and a BILL test event arrived within ``inbound_timeout``. Otherwise (old NAV
  without the subscriptions API, listener not reachable from outside, push turned off) that side is
  in ``polling`` mode: its streams run on the poll interval, and ``status`` says why.
* Subscription upkeep (create, renew, re-create, re-enable) runs at start and every
  ``upkeep_interval``; in polling mode it retries push each time, so a repaired tunnel is noticed.

Webhook handling answers at once and queues a targeted sync on the scheduler's single worker.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from app.domain.errors import ConnectorError
from app.push.bill_webhooks import BillEvent, BillWebhookReceiver
from app.push.listener import BILL_PATH, NAV_PATH, WebhookListener, parse_listen_address
from app.push.nav_webhooks import NavChange, NavNotificationReceiver
from app.push.scheduler import RunRequest, Schedule, SyncScheduler
from app.push.state import PushState
from app.push.status import Mode, PushStatus, StatusSnapshot, SubscriptionState
from app.push.subscriptions import (
    BILL_EVENTS,
    DEFAULT_RENEW_BEFORE,
    NAV_RESOURCES,
    BillSubscriptionKeeper,
    BillSubscriptionsApi,
    NavSubscriptionKeeper,
    NavSubscriptionsApi,
    SecretStore,
)

log = logging.getLogger("navbill.push")

# Which engine flows carry each side's changes (names as in ``navbill sync --only``).
NAV_FLOWS = ("vendors", "invoices")
BILL_FLOWS = ("vendors", "payments")
ALWAYS_POLLED_FLOWS = ("payments",)
UPKEEP_JOB = "push-upkeep"
POLL_JOB = "poll"
LAST_RUN_VALUE = "last_full_run_at"


class SyncEngineLike(Protocol):
    def run(self, flows: Any = None, dry_run: bool = False, progress: Any = None, cancel: Any = None,
            trigger: str = "manual") -> Any: ...
    def sync_nav_vendor(self, number: str) -> Any: ...
    def sync_bill_vendor(self, vendor_id: str) -> Any: ...
    def sync_invoice(self, number: str) -> Any: ...
    def sync_bill(self, bill_id: str) -> Any: ...


@dataclass
class PushSettings:
    push_enabled: bool = True
    listen_host: str = "127.0.0.1"  # the listener binds to this address only
    listen_port: int = 8765
    public_url: str = ""  # the https base NAV and BILL call (a tunnel / reverse proxy); default: the listener
    poll_interval: timedelta = timedelta(minutes=5)
    upkeep_interval: timedelta = timedelta(hours=1)
    renew_before: timedelta = DEFAULT_RENEW_BEFORE
    inbound_timeout: float = 10.0  # seconds to wait for BILL's test event before falling back to polling
    nav_resources: Sequence[str] = NAV_RESOURCES
    bill_events: Sequence[str] = BILL_EVENTS
    schedule: Schedule = field(default_factory=Schedule)
    vault_prefix: str = ""  # e.g. "profile/Cronus/" so each profile has its own webhook secrets


def settings_from(values: dict, listen: str) -> PushSettings:
    """The push settings from the store's ``push`` setting (written by the window); ``listen`` overrides its address."""
    host, port = parse_listen_address(listen or values.get("listen", ""))
    settings = PushSettings(push_enabled=bool(values.get("push_enabled", True)), listen_host=host, listen_port=port,
                            public_url=str(values.get("public_url") or ""))
    if values.get("poll_minutes"):
        settings.poll_interval = timedelta(minutes=float(values["poll_minutes"]))
    if values.get("schedule"):
        settings.schedule = Schedule.parse(str(values["schedule"]))
    return settings


class ConnectorService:
    """Owns engine, scheduler, listener and subscriptions. ``start()``/``stop()``; Qt-free.

    ``nav_record_key(entity, system_id)`` turns the GUID in a Business Central notification into the
    key the engine's targeted sync wants (the vendor or invoice number); by default the GUID is passed
    as is. When it returns "" the whole flow runs instead.
    """

    def __init__(self, engine: SyncEngineLike, nav: NavSubscriptionsApi | None, bill: BillSubscriptionsApi | None,
                 *, state: PushState, vault: SecretStore, settings: PushSettings | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 nav_record_key: Callable[[str, str], str] | None = None) -> None:
        self.engine = engine
        self.nav_api = nav
        self.bill_api = bill
        self.state = state
        self.vault = vault
        self.settings = settings or PushSettings()
        self.now = now
        self.nav_record_key = nav_record_key or (lambda entity, key: key)
        self.status = PushStatus(poll_interval_seconds=self.settings.poll_interval.total_seconds(), now=now)
        self.scheduler = SyncScheduler(self._run, schedule=self.settings.schedule, now=now)
        self.scheduler.on_run_finished(self._remember_run)
        self.listener: WebhookListener | None = None
        self.nav_keeper: NavSubscriptionKeeper | None = None
        self.bill_keeper: BillSubscriptionKeeper | None = None
        self.nav_receiver: NavNotificationReceiver | None = None
        self.bill_receiver: BillWebhookReceiver | None = None
        self._bill_inbound = threading.Event()  # set by any correctly signed BILL notification
        self._bill_confirmed = False
        self._upkeep_lock = threading.Lock()
        self._ready = threading.Event()
        self._started = False

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, *, catch_up: bool = True) -> None:
        if self._started:
            return
        self._started = True
        if self.settings.push_enabled:
            self._start_listener()
        else:
            self._set_both(Mode.POLLING, "push is turned off in the settings")
        self.scheduler.start()
        if catch_up:
            self.scheduler.catch_up_if_missed(self._last_run())
        self.scheduler.add_periodic(POLL_JOB, self.poll, self.settings.poll_interval)
        if self.listener is not None:
            self.scheduler.add_periodic(UPKEEP_JOB, self.check_subscriptions, self.settings.upkeep_interval,
                                        run_now=True)
        else:
            self._ready.set()

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop scheduling and listening. Subscriptions stay: they are renewed on the next start."""
        if not self._started:
            return True
        self._started = False
        stopped = self.scheduler.stop(timeout)
        if self.listener is not None:
            self.listener.stop()
        return stopped

    def wait_until_ready(self, timeout: float) -> bool:
        """True once the first subscription upkeep has decided each side's mode."""
        return self._ready.wait(timeout)

    @property
    def notification_base(self) -> str:
        base = self.settings.public_url or (self.listener.url if self.listener else "")
        return base.rstrip("/")

    def _start_listener(self) -> None:
        listener = WebhookListener(self.settings.listen_host, self.settings.listen_port)
        try:
            listener.start()
        except OSError as exc:
            reason = (f"the webhook listener could not open {self.settings.listen_host}:"
                      f"{self.settings.listen_port} ({exc.strerror or exc}); choose another port")
            log.warning("Push disabled: %s", reason)
            self._set_both(Mode.POLLING, reason)
            return
        self.listener = listener
        self.status.listener_url = listener.url
        client_state = self._nav_client_state()
        if self.nav_api is not None:
            self.nav_keeper = NavSubscriptionKeeper(
                self.nav_api, self.state, self.notification_base + NAV_PATH, client_state,
                resources=self.settings.nav_resources, now=self.now, renew_before=self.settings.renew_before)
        if self.bill_api is not None:
            self.bill_keeper = BillSubscriptionKeeper(
                self.bill_api, self.state, self.vault, self.notification_base + BILL_PATH,
                vault_key_name=f"{self.settings.vault_prefix}bill.webhook_security_key",
                events=self.settings.bill_events, now=self.now)
        self.nav_receiver = NavNotificationReceiver(lambda: [client_state], self._on_nav_changes)
        self.bill_receiver = BillWebhookReceiver(
            self.bill_keeper.security_keys if self.bill_keeper else list, self.state, self._on_bill_event,
            now=self.now)
        listener.route(NAV_PATH, self.nav_receiver)
        listener.route(BILL_PATH, self.bill_receiver)

    def _nav_client_state(self) -> str:
        """The secret NAV echoes in every notification; kept in the vault so it survives restarts."""
        name = f"{self.settings.vault_prefix}nav.webhook_client_state"
        value = self.vault.get(name)
        if not value:
            value = secrets.token_urlsafe(32)
            self.vault.put(name, value)
        return value

    # -- subscription upkeep ---------------------------------------------------------------------
    def check_subscriptions(self) -> StatusSnapshot:
        """Create/renew/re-create subscriptions and decide each side's mode. Safe to call any time."""
        with self._upkeep_lock:
            try:
                self._check_nav()
                self._check_bill()
            finally:
                self._ready.set()
        return self.status.snapshot()

    def _check_nav(self) -> None:
        if self.nav_keeper is None:
            if self.listener is not None:
                self.status.set_side("nav", Mode.POLLING, "NAV webhooks are not set up for this connection")
            return
        every = _minutes(self.settings.poll_interval)
        try:
            supported = self.nav_keeper.supported()
        except ConnectorError as exc:
            self.status.set_side("nav", Mode.POLLING, f"could not ask NAV about webhooks ({exc}); reading "
                                                      f"changes every {every}")
            return
        if not supported:
            self.status.set_side("nav", Mode.POLLING, "this NAV version has no webhooks (API subscriptions); "
                                                      f"changes are read every {every}")
            return
        states = self.nav_keeper.ensure()
        failed = [s for s in states if s.state == "failed"]
        if failed:
            self.status.set_side("nav", Mode.POLLING,
                                 f"NAV could not subscribe to {', '.join(s.resource for s in failed)} at "
                                 f"{self.nav_keeper.notification_url} ({failed[0].detail}); reading changes "
                                 f"every {every}", subscriptions=states)
        else:
            self.status.set_side("nav", Mode.PUSH, "", subscriptions=states)

    def _check_bill(self) -> None:
        if self.bill_keeper is None:
            if self.listener is not None:
                self.status.set_side("bill", Mode.POLLING, "BILL webhooks are not set up for this connection")
            return
        every = _minutes(self.settings.poll_interval)
        subscription = self.bill_keeper.ensure()
        if subscription.state == "failed":
            self.status.set_side("bill", Mode.POLLING, f"the BILL webhook subscription failed ({subscription.detail}); "
                                                       f"reading changes every {every}", subscriptions=(subscription,))
            return
        if subscription.state != "active":
            self._bill_confirmed = False  # a new, moved or re-enabled subscription must prove itself again
        if not self._bill_confirmed:
            self._bill_confirmed = self._probe_bill()
        if self._bill_confirmed:
            self.status.set_side("bill", Mode.PUSH, "", subscriptions=(subscription,))
        else:
            timeout = self.settings.inbound_timeout
            self.status.set_side(
                "bill", Mode.POLLING,
                f"BILL's test event did not reach {self.bill_keeper.notification_url} within {timeout:g} s; "
                f"reading changes every {every}", subscriptions=(subscription,))

    def _probe_bill(self) -> bool:
        self._bill_inbound.clear()
        try:
            self.bill_keeper.send_test_event("vendor.updated")
        except ConnectorError as exc:
            log.info("BILL test event could not be sent: %s", exc)
            return False
        return self._bill_inbound.wait(self.settings.inbound_timeout)

    # -- polling ---------------------------------------------------------------------------------
    def poll_flows(self) -> frozenset[str]:
        flows = set(ALWAYS_POLLED_FLOWS) if self._payments_configured() else set()
        if self.status.mode("nav") != Mode.PUSH:
            flows.update(NAV_FLOWS)
        if self.status.mode("bill") != Mode.PUSH:
            flows.update(BILL_FLOWS)
        return frozenset(flows)

    def _payments_configured(self) -> bool:
        """Payments need journal and balancing-account settings; until then a poll must not ask for them
        (the engine would refuse the whole run)."""
        settings = getattr(self.engine, "settings", None)
        if settings is None or not hasattr(settings, "validate"):
            return True
        try:
            settings.validate(("payments",))
        except ConnectorError:
            return False
        return True

    def poll(self) -> str:
        flows = self.poll_flows()
        if not flows:
            return "nothing to poll"
        return self.scheduler.request_run(flows, reason="poll")

    def sync_now(self) -> str:
        return self.scheduler.sync_now()

    def set_schedule(self, schedule: Schedule) -> None:
        self.settings.schedule = schedule
        self.scheduler.set_schedule(schedule)

    # -- webhooks → targeted syncs ---------------------------------------------------------------
    def _on_nav_changes(self, changes: list[NavChange]) -> None:
        self.status.note_event("nav")
        for change in changes:
            flow = {"vendors": "vendors", "purchaseInvoices": "invoices"}.get(change.entity)
            if flow is None:
                continue
            if not change.key or change.change_type == "deleted":
                # A collection notice or a deletion: only a run of the flow can tell what changed.
                self.scheduler.request_run([flow], reason=f"NAV {change.change_type}")
                continue
            label = "vendor" if flow == "vendors" else "invoice"
            self.scheduler.submit(f"nav-{label}:{change.key}",
                                  lambda c=change, f=flow: self._sync_nav_record(c, f),
                                  f"NAV {label} {change.key}")

    def _sync_nav_record(self, change: NavChange, flow: str) -> Any:
        """On the worker: find the record's number from its id, then sync just that record."""
        number = self.nav_record_key(change.entity, change.key)
        if not number:
            log.info("NAV %s %s could not be looked up; running the %s flow instead", change.entity,
                     change.key, flow)
            return self.engine.run(flows=[flow], trigger="webhook")
        if flow == "vendors":
            return self.engine.sync_nav_vendor(number)
        return self.engine.sync_invoice(number)

    def _on_bill_event(self, event: BillEvent) -> None:
        self._bill_inbound.set()
        self.status.note_event("bill")
        if not event.entity_id or event.entity_id.startswith("test-"):
            return  # BILL test notifications carry made-up ids; they only prove the route works
        if event.entity == "vendor":
            self.scheduler.submit(f"bill-vendor:{event.entity_id}",
                                  lambda: self.engine.sync_bill_vendor(event.entity_id), f"BILL vendor {event.entity_id}")
        elif event.entity == "bill":
            # One waiting task for all bill events: the engine answers any of them by reading new
            # payments from its bookmark, so a burst (e.g. the echoes of bills we just created) costs
            # one read, not one per bill.
            self.scheduler.submit("bill-bills", lambda: self.engine.sync_bill(event.entity_id),
                                  f"BILL bill {event.entity_id}")
        elif event.entity == "payment":
            self.scheduler.request_run(["payments"], reason="BILL payment event")

    # -- runs ------------------------------------------------------------------------------------
    def _run(self, request: RunRequest, progress: Callable[..., None], cancel: threading.Event) -> Any:
        flows = sorted(request.flows) if request.flows is not None else None
        trigger = "schedule" if "schedule" in request.reason else request.reason.split("+")[0]
        return self.engine.run(flows=flows, progress=progress, cancel=cancel, trigger=trigger)

    def _remember_run(self, outcome) -> None:
        if outcome.kind == "run" and outcome.ok and "schedule" in outcome.description:
            self.state.set_value(LAST_RUN_VALUE, outcome.finished_at.isoformat())

    def _last_run(self) -> datetime | None:
        text = self.state.value(LAST_RUN_VALUE)
        try:
            return datetime.fromisoformat(text) if text else None
        except ValueError:
            return None

    def _set_both(self, mode: Mode, reason: str) -> None:
        for side in ("nav", "bill"):
            self.status.set_side(side, mode, reason)

    def subscriptions(self) -> tuple[SubscriptionState, ...]:
        snapshot = self.status.snapshot()
        return snapshot.nav.subscriptions + snapshot.bill.subscriptions


_SYSTEM_ID = re.compile(r"^[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}$")


def bc_number_lookup(nav_client: Any) -> Callable[[str, str], str]:
    """Business Central notifications name a record by its id (GUID); the engine's targeted syncs take
    the vendor or invoice number. Ask the BC API for the record's ``number``; "" when that fails, and
    the caller then runs the whole flow (incremental, from its bookmark) instead."""

    def lookup(entity: str, system_id: str) -> str:
        if not _SYSTEM_ID.match(system_id):
            return ""
        try:
            return nav_client.number_for_id(entity, system_id)
        except ConnectorError as exc:
            log.info("Could not look up NAV %s %s: %s", entity, system_id, exc)
            return ""

    return lookup


def _minutes(interval: timedelta) -> str:
    minutes = interval.total_seconds() / 60
    if minutes < 1:
        return f"{interval.total_seconds():g} s"
    return f"{minutes:g} minute{'s' if minutes != 1 else ''}"
