"""Keeping the webhook subscriptions alive on both sides.

NAV / Business Central: one subscription per resource (vendors, purchase invoices). Each lives three
days unless renewed; Business Central also deletes a subscription whose URL keeps failing. ``ensure``
(run at start-up and on a schedule) creates what is missing, renews what expires within
``renew_before`` (24 h by default, so a day of downtime is survivable), and re-creates what was
deleted or has expired. Expiry times are stored so the state survives a restart and the UI can show it.

BILL: one subscription for vendor, bill and payment events. Its ``securityKey`` is returned only once,
at creation (or rotation), and goes straight into the vault; it is never logged. BILL disables a
subscription after its resends fail; ``ensure`` enables it again. Payment webhooks reach only selected
BILL partners, so payments are polled whatever happens here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from app.domain.errors import ConnectorError, NotFoundError
from app.push.state import PushState, StoredSubscription
from app.push.status import SubscriptionState

log = logging.getLogger("navbill.push.subscriptions")

NAV_RESOURCES = ("vendors", "purchaseInvoices")
DEFAULT_RENEW_BEFORE = timedelta(hours=24)
BILL_EVENTS = (
    "vendor.created", "vendor.updated", "vendor.archived", "vendor.restored",
    "bill.created", "bill.updated", "bill.archived", "bill.restored",
    "payment.updated", "payment.failed",
)
BILL_RESOURCE = "events"
SUBSCRIPTION_NAME = "NavBill connector"
KEY_ROTATION_GRACE = timedelta(minutes=10)  # deliveries signed with the old key may still be in flight


class NavSubscriptionsApi(Protocol):
    def webhooks_supported(self) -> bool: ...
    def create_subscription(self, notification_url: str, resource: str, client_state: str) -> dict: ...
    def renew_subscription(self, subscription_id: str) -> dict: ...
    def get_subscription(self, subscription_id: str) -> dict | None: ...  # None (or NotFoundError): gone
    def delete_subscription(self, subscription_id: str) -> Any: ...


class BillSubscriptionsApi(Protocol):
    def create_subscription(self, name: str, events: Sequence[str], notification_url: str) -> tuple[dict, str]: ...
    def get_subscription(self, subscription_id: str) -> dict: ...
    def update_subscription(self, subscription_id: str, **changes: Any) -> dict: ...
    def delete_subscription(self, subscription_id: str) -> Any: ...
    def rotate_security_key(self, subscription_id: str) -> str: ...
    def send_test_event(self, subscription_id: str, event_type: str) -> Any: ...


class SecretStore(Protocol):
    def put(self, name: str, value: str) -> None: ...
    def get(self, name: str, default: str | None = None) -> str | None: ...


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        # Seven fractional digits (.NET) are more than fromisoformat takes before 3.11's full ISO support.
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits):]
        try:
            parsed = datetime.fromisoformat(f"{head}.{digits[:6]}{zone}")
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _subscription_id(answer: dict) -> str:
    return str(answer.get("subscriptionId") or answer.get("id") or "")


# -- NAV -------------------------------------------------------------------------------------
class NavSubscriptionKeeper:
    def __init__(self, api: NavSubscriptionsApi, state: PushState, notification_url: str, client_state: str, *,
                 resources: Sequence[str] = NAV_RESOURCES, now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 renew_before: timedelta = DEFAULT_RENEW_BEFORE) -> None:
        self.api = api
        self.state = state
        self.notification_url = notification_url
        self.client_state = client_state
        self.resources = tuple(resources)
        self.now = now
        self.renew_before = renew_before
        self._lock = threading.Lock()  # start-up and the schedule may both call ensure()
        self._states: dict[str, SubscriptionState] = {}
        self._supported: bool | None = None

    def supported(self) -> bool:
        """False on NAV versions without the subscriptions API (then polling alone is the design)."""
        if self._supported is None:
            self._supported = bool(self.api.webhooks_supported())
        return self._supported

    def states(self) -> tuple[SubscriptionState, ...]:
        with self._lock:
            return tuple(self._states[r] for r in self.resources if r in self._states)

    def ensure(self) -> tuple[SubscriptionState, ...]:
        with self._lock:
            for resource in self.resources:
                try:
                    self._states[resource] = self._ensure_one(resource)
                except ConnectorError as exc:
                    log.warning("NAV %s subscription: %s", resource, exc)
                    stored = self.state.subscription("nav", resource)
                    self._states[resource] = SubscriptionState(
                        "nav", resource, stored.subscription_id if stored else "", "failed",
                        stored.expires_at if stored else None, str(exc))
        return self.states()

    def _ensure_one(self, resource: str) -> SubscriptionState:
        stored = self.state.subscription("nav", resource)
        if stored is None or not stored.subscription_id:
            return self._create(resource, "created")
        if stored.notification_url != self.notification_url:
            self._delete_quietly(stored)
            return self._create(resource, "created", "the notification address changed")
        try:
            remote = self.api.get_subscription(stored.subscription_id)
        except NotFoundError:
            remote = None
        if remote is None:
            return self._create(resource, "recreated", "Business Central had deleted it (or it expired)")
        expires = parse_time(remote.get("expirationDateTime")) or stored.expires_at
        now = self.now()
        if expires is not None and expires <= now:
            self._delete_quietly(stored)
            return self._create(resource, "recreated", "it had expired")
        if expires is None or expires - now < self.renew_before:
            try:
                remote = self.api.renew_subscription(stored.subscription_id)
            except NotFoundError:
                return self._create(resource, "recreated", "Business Central had deleted it")
            saved = self._save(resource, remote, fallback_id=stored.subscription_id)
            log.info("Renewed the NAV %s subscription until %s", resource, saved.expires_at)
            return SubscriptionState("nav", resource, saved.subscription_id, "renewed", saved.expires_at)
        if expires != stored.expires_at:
            self._save(resource, remote, fallback_id=stored.subscription_id)
        return SubscriptionState("nav", resource, stored.subscription_id, "active", expires)

    def resource_path(self, resource: str) -> str:
        """The BC API path NAV wants, e.g. ``/api/v2.0/companies(<id>)/vendors``."""
        build = getattr(self.api, "resource_path", None)
        return build(resource) if callable(build) else resource

    def _create(self, resource: str, how: str, why: str = "") -> SubscriptionState:
        answer = self.api.create_subscription(self.notification_url, self.resource_path(resource), self.client_state)
        saved = self._save(resource, answer)
        log.info("%s the NAV %s subscription%s; it expires %s", how.capitalize(), resource,
                 f" ({why})" if why else "", saved.expires_at)
        return SubscriptionState("nav", resource, saved.subscription_id, how, saved.expires_at, why)

    def _save(self, resource: str, answer: dict, fallback_id: str = "") -> StoredSubscription:
        saved = StoredSubscription(
            side="nav", resource=resource, subscription_id=_subscription_id(answer) or fallback_id,
            notification_url=self.notification_url, expires_at=parse_time(answer.get("expirationDateTime")),
            etag=str(answer.get("@odata.etag") or ""),
        )
        self.state.save_subscription(saved)
        return saved

    def _delete_quietly(self, stored: StoredSubscription) -> None:
        try:
            self.api.delete_subscription(stored.subscription_id)
        except ConnectorError:
            pass  # already gone, or NAV unreachable: it expires on its own within three days

    def remove_all(self) -> None:
        """Delete our subscriptions (the user turned push off)."""
        with self._lock:
            for resource in self.resources:
                stored = self.state.subscription("nav", resource)
                if stored is not None:
                    self._delete_quietly(stored)
                    self.state.forget_subscription("nav", resource)
            self._states.clear()


# -- BILL ------------------------------------------------------------------------------------
@dataclass
class _KeyRing:
    current: str = ""
    previous: str = ""
    previous_until: datetime | None = None


class BillSubscriptionKeeper:
    def __init__(self, api: BillSubscriptionsApi, state: PushState, vault: SecretStore, notification_url: str, *,
                 vault_key_name: str = "bill.webhook_security_key", events: Sequence[str] = BILL_EVENTS,
                 name: str = SUBSCRIPTION_NAME, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.api = api
        self.state = state
        self.vault = vault
        self.notification_url = notification_url
        self.vault_key_name = vault_key_name
        self.events = tuple(events)
        self.name = name
        self.now = now
        self._lock = threading.Lock()
        self._keys = _KeyRing()
        self._state: SubscriptionState | None = None

    @property
    def subscription_id(self) -> str:
        stored = self.state.subscription("bill", BILL_RESOURCE)
        return stored.subscription_id if stored else ""

    def subscription_state(self) -> SubscriptionState | None:
        return self._state

    def security_keys(self) -> list[str]:
        """Keys a notification may be signed with: the current one, and the previous one for a few
        minutes after a rotation. Read from the vault once, then kept in memory."""
        with self._lock:
            if not self._keys.current:
                self._keys.current = self.vault.get(self.vault_key_name) or ""
            keys = [self._keys.current] if self._keys.current else []
            if self._keys.previous and self._keys.previous_until and self.now() < self._keys.previous_until:
                keys.append(self._keys.previous)
            return keys

    def _store_key(self, key: str) -> None:
        self.vault.put(self.vault_key_name, key)  # the vault registers it with the log redactor
        with self._lock:
            if self._keys.current and self._keys.current != key:
                self._keys.previous, self._keys.previous_until = self._keys.current, self.now() + KEY_ROTATION_GRACE
            self._keys.current = key

    def ensure(self) -> SubscriptionState:
        try:
            self._state = self._ensure()
        except ConnectorError as exc:
            log.warning("BILL webhook subscription: %s", exc)
            self._state = SubscriptionState("bill", BILL_RESOURCE, self.subscription_id, "failed", None, str(exc))
        return self._state

    def _ensure(self) -> SubscriptionState:
        stored = self.state.subscription("bill", BILL_RESOURCE)
        remote: dict | None = None
        if stored is not None and stored.subscription_id:
            try:
                remote = self.api.get_subscription(stored.subscription_id)
            except NotFoundError:
                remote = None
        if remote is None:
            answer, key = self.api.create_subscription(self.name, self.events, self.notification_url)
            self._store_key(key)
            subscription_id = _subscription_id(answer)
            self.state.save_subscription(StoredSubscription("bill", BILL_RESOURCE, subscription_id,
                                                            self.notification_url))
            log.info("Created the BILL webhook subscription %s", subscription_id)
            return SubscriptionState("bill", BILL_RESOURCE, subscription_id, "created")

        subscription_id = stored.subscription_id
        how, detail = "active", ""
        enabled = bool((remote.get("status") or {}).get("enabled", True))
        remote_events = {e.get("type") for e in remote.get("events") or [] if isinstance(e, dict)}
        if (not enabled or remote.get("notificationUrl") != self.notification_url
                or not set(self.events) <= remote_events):
            self.api.update_subscription(subscription_id, name=self.name, events=list(self.events),
                                         notification_url=self.notification_url, enabled=True)
            how = "re-enabled" if not enabled else "updated"
            detail = "BILL had disabled it after failed deliveries" if not enabled else ""
            self.state.save_subscription(StoredSubscription("bill", BILL_RESOURCE, subscription_id,
                                                            self.notification_url))
            log.info("BILL webhook subscription %s %s", subscription_id, how)
        if not self.security_keys():
            # The key is shown only once; without it we cannot check signatures, so get a new one.
            self._store_key(self.api.rotate_security_key(subscription_id))
            detail = detail or "a new security key was issued"
        return SubscriptionState("bill", BILL_RESOURCE, subscription_id, how, None, detail)

    def rotate_key(self) -> None:
        subscription_id = self.subscription_id
        if subscription_id:
            self._store_key(self.api.rotate_security_key(subscription_id))
            log.info("Rotated the BILL webhook security key")

    def send_test_event(self, event_type: str = "vendor.updated") -> None:
        self.api.send_test_event(self.subscription_id, event_type)

    def remove(self) -> None:
        stored = self.state.subscription("bill", BILL_RESOURCE)
        if stored is not None:
            try:
                self.api.delete_subscription(stored.subscription_id)
            except ConnectorError:
                pass
            self.state.forget_subscription("bill", BILL_RESOURCE)
        self._state = None
