"""The BILL sandbox's webhooks: subscriptions, signed notifications, redelivery, event history.

Behaviour from developer.bill.com (bill-webhook-api-general-rules, bill-webhook-api-notification-rules,
working-with-bill-webhooks, test-with-webhook-security):
- the body is ``{"metadata": {eventId, subscriptionId, organizationId, eventType, version}, "<entity>": {...}}``,
  sent minified;
- header ``x-bill-sha-signature`` = base64(HMAC-SHA256(securityKey as UTF-8, raw body bytes));
- the subscriber must answer HTTP 200 within 10 s; otherwise BILL resends with exponential backoff,
  5 times, then sets the subscription's ``status.enabled`` to false and stops sending.
Real BILL accepts only https notification URLs. The sandbox also accepts http on loopback, because
the connector's receiver runs locally in tests and in the demo.
Backoff here is scaled down (``retry_base_seconds``) so a test sees the whole cycle in about a second.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import json
import logging
import secrets
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("navbill.sandbox.bill.webhooks")

REDELIVERIES = 5
DELIVERY_TIMEOUT_SECONDS = 10.0
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}

# GET /v3/events/catalog: the event types BILL documents (notification-payloads-reference).
EVENT_CATALOG = [
    "vendor.created", "vendor.updated", "vendor.archived", "vendor.restored", "autopay.failed",
    "bill.created", "bill.updated", "bill.archived", "bill.restored", "payment.updated", "payment.failed",
    "bank-account.created", "bank-account.updated", "card-account.created", "card-account.updated",
    "invoice.created", "invoice.updated", "invoice.archived", "invoice.restored", "risk-verification.updated",
]
ENTITY_KEY = {"vendor": "vendor", "bill": "bill", "payment": "payment", "bank-account": "bankAccount",
              "card-account": "cardAccount", "invoice": "invoice", "autopay": "autopay",
              "risk-verification": "riskVerification"}


def sign(security_key: str, body: bytes) -> str:
    digest = hmac.new(security_key.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def minified(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=_number).encode("utf-8")


def _number(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def notification_url_problem(url: Any) -> str:
    """'' when acceptable, else the reason BILL-style."""
    if not isinstance(url, str) or not url:
        return "notificationUrl is required."
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return ""
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return ""  # sandbox only: real BILL requires https
    return "notificationUrl must be an https URL."


@dataclass
class Subscription:
    id: str
    name: str
    organization_id: str
    enabled: bool
    events: list[dict]
    notification_url: str
    security_key: str
    created_time: str
    updated_time: str
    history: list[dict] = field(default_factory=list)

    def as_json(self) -> dict:
        return {"id": self.id, "name": self.name, "organizationId": self.organization_id,
                "status": {"enabled": self.enabled}, "events": [dict(e) for e in self.events],
                "notificationUrl": self.notification_url, "createdTime": self.created_time,
                "updatedTime": self.updated_time}

    def wants(self, event_type: str) -> bool:
        return self.enabled and any(e.get("type") == event_type for e in self.events)


@dataclass(order=True)
class _Delivery:
    due: float
    sequence: int
    subscription_id: str = field(compare=False)
    event_id: str = field(compare=False)
    event_type: str = field(compare=False)
    body: bytes = field(compare=False)
    attempt: int = field(compare=False, default=0)


class WebhookHub:
    """Holds subscriptions and delivers notifications from one background thread."""

    def __init__(self, now_text, organization_id: str, retry_base_seconds: float = 0.05) -> None:
        self._now_text = now_text  # callable → BILL-format timestamp from the sandbox clock
        self.organization_id = organization_id
        self.retry_base_seconds = retry_base_seconds
        self.subscriptions: dict[str, Subscription] = {}
        self._idempotency: dict[str, dict] = {}
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._queue: list[_Delivery] = []
        self._sequence = 0
        self._busy = 0
        self._closed = False
        self._worker: threading.Thread | None = None
        self.delivered: list[dict] = []  # (test aid) one entry per attempt: event id, type, status

    # -- subscriptions -------------------------------------------------------------------
    def create(self, name: str, events: list[dict], url: str, enabled: bool, idempotent_key: str) -> dict:
        with self._lock:
            if idempotent_key in self._idempotency:
                return self._idempotency[idempotent_key]
            now = self._now_text()
            subscription = Subscription(str(uuid.uuid4()), name, self.organization_id, enabled, events, url,
                                        secrets.token_urlsafe(32), now, now)
            self.subscriptions[subscription.id] = subscription
            answer = {**subscription.as_json(), "securityKey": subscription.security_key}
            self._idempotency[idempotent_key] = answer
            return answer

    def rotate_key(self, subscription_id: str) -> str:
        with self._lock:
            subscription = self.subscriptions[subscription_id]
            subscription.security_key = secrets.token_urlsafe(32)
            subscription.updated_time = self._now_text()
            return subscription.security_key

    def reset(self) -> None:
        with self._lock:
            self.subscriptions.clear()
            self._idempotency.clear()
            self._queue.clear()
            self.delivered.clear()

    # -- publishing ----------------------------------------------------------------------
    def publish(self, event_type: str, entity: dict) -> int:
        """Queue a notification to every enabled subscription that wants ``event_type``."""
        entity_key = ENTITY_KEY[event_type.split(".", 1)[0]]
        queued = 0
        with self._lock:
            for subscription in self.subscriptions.values():
                if not subscription.wants(event_type):
                    continue
                event_id = str(uuid.uuid4())
                body = minified({"metadata": {"eventId": event_id, "subscriptionId": subscription.id,
                                              "organizationId": subscription.organization_id,
                                              "eventType": event_type, "version": "1"},
                                 entity_key: entity})
                self._enqueue(_Delivery(time.monotonic(), 0, subscription.id, event_id, event_type, body))
                queued += 1
        return queued

    def send_test(self, subscription_id: str, event_type: str, version: str, entity: dict | None) -> dict:
        """POST .../subscriptions/{id}/test: one synchronous delivery with test values, no redelivery."""
        with self._lock:
            subscription = self.subscriptions[subscription_id]
            entity_key = ENTITY_KEY.get(event_type.split(".", 1)[0], "test")
            event_id = str(uuid.uuid4())
            test_entity = entity or {"id": f"test-{entity_key}-id"}
            body = minified({"metadata": {"eventId": event_id, "subscriptionId": subscription.id,
                                          "organizationId": subscription.organization_id,
                                          "eventType": event_type, "version": version},
                             entity_key: test_entity})
            url, key = subscription.notification_url, subscription.security_key
        status = self._post(url, key, body)
        record = self._history_entry(subscription_id, event_id, event_type, body, status)
        return record

    # -- delivery ------------------------------------------------------------------------
    def _enqueue(self, delivery: _Delivery) -> None:
        self._sequence += 1
        delivery.sequence = self._sequence
        heapq.heappush(self._queue, delivery)
        if self._worker is None or not self._worker.is_alive():
            self._closed = False
            self._worker = threading.Thread(target=self._run, name="bill-sandbox-webhooks", daemon=True)
            self._worker.start()
        self._wake.notify_all()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._closed and (not self._queue or self._queue[0].due > time.monotonic()):
                    timeout = (self._queue[0].due - time.monotonic()) if self._queue else None
                    self._wake.wait(timeout)
                if self._closed:
                    return
                delivery = heapq.heappop(self._queue)
                subscription = self.subscriptions.get(delivery.subscription_id)
                if subscription is None or not subscription.enabled:
                    self._wake.notify_all()
                    continue
                url, key = subscription.notification_url, subscription.security_key
                self._busy += 1
            try:
                status = self._post(url, key, delivery.body)
            finally:
                with self._lock:
                    self._busy -= 1
            with self._lock:
                self._history_entry(delivery.subscription_id, delivery.event_id, delivery.event_type,
                                    delivery.body, status)
                if status != 200:
                    if delivery.attempt < REDELIVERIES:
                        delivery.attempt += 1
                        delivery.due = time.monotonic() + self.retry_base_seconds * 2 ** (delivery.attempt - 1)
                        self._enqueue(delivery)
                    elif delivery.subscription_id in self.subscriptions:
                        # BILL: after the resends are exhausted the subscription is disabled.
                        disabled = self.subscriptions[delivery.subscription_id]
                        disabled.enabled = False
                        disabled.updated_time = self._now_text()
                        log.info("BILL sandbox disabled subscription %s after %d failed deliveries",
                                 disabled.id, REDELIVERIES + 1)
                self._wake.notify_all()

    def _post(self, url: str, security_key: str, body: bytes) -> int:
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json", "x-bill-sha-signature": sign(security_key, body)})
        try:
            with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT_SECONDS) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except (OSError, ValueError):
            return 0  # no answer at all: counted as a failed delivery

    def _history_entry(self, subscription_id: str, event_id: str, event_type: str, body: bytes,
                       status: int) -> dict:
        entry = {"id": event_id, "type": event_type, "version": "1", "subscriptionId": subscription_id,
                 "payload": body.decode("utf-8"), "createdTime": self._now_text(), "statusCode": status}
        with self._lock:
            subscription = self.subscriptions.get(subscription_id)
            if subscription is not None:
                subscription.history.append(entry)
            self.delivered.append({"eventId": event_id, "type": event_type, "statusCode": status,
                                   "subscriptionId": subscription_id})
        return entry

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until nothing is queued or being sent (test aid). False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._queue or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._wake.wait(min(remaining, 0.05))
            return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._queue.clear()
            self._wake.notify_all()
