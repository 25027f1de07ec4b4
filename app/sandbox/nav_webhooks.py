"""Business Central webhook subscriptions (``/api/v2.0/subscriptions``), after the ground truth §2.

* POST/GET/PATCH/DELETE ``subscriptions({subscriptionId})``; fields subscriptionId, notificationUrl, resource,
  timestamp, userId, lastModifiedDateTime, clientState, expirationDateTime, systemCreated*/systemModified*.
* Handshake on create AND renew (PATCH): ``notificationUrl?validationToken=<token>`` must answer 200 with the
  token as the body, else the subscription is not created / not renewed. Lifetime 3 days.
* Notifications wait ``delay`` seconds after the first change (BC: 30 s), then go out batched: ONE POST per
  notificationUrl carrying the notifications of every subscription on it. Resources look like
  ``api/v2.0/companies(<id>)/purchaseInvoices(<id>)`` (no leading slash). When a subscription collected
  ``collection_threshold`` changes or more (BC: ``Count > Max - 1`` with Max 1000) it gets ONE notification
  with changeType ``collection`` and resource ``<resource>?$filter=lastModifiedDateTime%20gt%20<first − 50 ms>``.
* A 2xx answer is success. No answer, 408, 429 or 5xx: retried after 60/60/60/600/6000 s (times
  ``retry_scale``), at most 5 attempts, then every subscription on that URL is deleted. Any other status
  (400, 401, 404, ...) deletes EVERY subscription on that notificationUrl at once.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timedelta
from typing import Any

from app.sandbox import demo_data
from app.sandbox.base import Request, Response
from app.sandbox.nav_company import guid
from app.sandbox.nav_http import ODataError, etag, json_value, method_not_allowed, request_body

log = logging.getLogger("navbill.sandbox.nav")

SUBSCRIPTION_LIFETIME = timedelta(days=3)
RETRY_DELAYS = (60.0, 60.0, 60.0, 600.0, 6000.0)  # APIWebhookNotificationSend: attempts 0-2, 3, 4
MAX_ATTEMPTS = 5
SUPPORTED = ("vendors", "purchaseInvoices", "accounts", "dimensions", "generalLedgerEntries", "journals")
FIELDS = ("subscriptionId", "notificationUrl", "resource", "timestamp", "userId", "lastModifiedDateTime",
          "clientState", "expirationDateTime", "systemCreatedAt", "systemCreatedBy", "systemModifiedAt",
          "systemModifiedBy")


def _kind(resource: str, company_id: str) -> str | None:
    path = urllib.parse.urlsplit(resource).path.strip("/")
    marker = f"api/v2.0/companies({company_id})/"
    index = path.find(marker)
    if index < 0:
        return None
    rest = path[index + len(marker):]
    return rest if rest in SUPPORTED else None


class Webhooks:
    def __init__(self, clock: Any, company_id: str, lock: threading.RLock, delay: float = 1.0,
                 collection_threshold: int = 1000, retry_scale: float = 1.0) -> None:
        self.clock = clock
        self.company_id = company_id
        self.lock = lock
        self.delay = delay
        self.collection_threshold = collection_threshold
        self.retry_scale = retry_scale
        self.enabled = True  # the instance offers webhooks at all
        self.notify = True  # the sandbox records changes for webhooks
        self.subscriptions: dict[str, dict] = {}
        self.notifications_sent = 0
        self.deliveries: list[tuple[str, int | None]] = []  # (url, status or None) of every POST made
        self._pending: list[tuple[str, str, str, datetime]] = []
        self._first_pending: float | None = None
        self._retries: list[tuple[float, str, dict, int]] = []  # (due monotonic, url, payload, attempt)
        self._signal = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False

    # -- changes -----------------------------------------------------------------------------
    def queue(self, entity_set: str, entity_id: str, change: str) -> None:
        if not self.notify or entity_set not in SUPPORTED:
            return
        with self._signal:
            if not self._pending:
                self._first_pending = time.monotonic()
            self._pending.append((entity_set, entity_id, change, self.clock.now()))
            self._signal.notify()
            self._ensure_thread()

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stopping = False
            self._thread = threading.Thread(target=self._loop, name="nav-sandbox-webhooks", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._signal:
            self._stopping = True
            self._signal.notify_all()

    def clear(self) -> None:
        with self._signal:
            self._pending = []
            self._retries = []
            self._first_pending = None
        with self.lock:
            self.subscriptions = {}

    def _loop(self) -> None:
        while True:
            with self._signal:
                if self._stopping:
                    return
                now = time.monotonic()
                waits = []
                if self._pending and self._first_pending is not None:
                    waits.append(self._first_pending + self.delay - now)
                waits += [due - now for due, *_ in self._retries]
                wait = min(waits) if waits else 1.0
                if wait > 0:
                    self._signal.wait(timeout=min(wait, 1.0))
                    continue
                batch: list = []
                if self._pending and self._first_pending is not None and self._first_pending + self.delay <= now:
                    batch, self._pending, self._first_pending = self._pending, [], None
                due = [r for r in self._retries if r[0] <= now]
                self._retries = [r for r in self._retries if r[0] > now]
            try:
                if batch:
                    self.deliver(batch)
                for _, url, payload, attempt in due:
                    self._send(url, payload, attempt)
            except Exception:  # the notifier must outlive one bad delivery
                log.exception("NAV sandbox: webhook delivery failed")

    def deliver(self, batch: list[tuple[str, str, str, datetime]]) -> None:
        """Send the notifications for these changes now, one POST per notificationUrl."""
        by_url: dict[str, list[dict]] = {}
        with self.lock:
            self._purge_expired()
            subscriptions = list(self.subscriptions.values())
        for subscription in subscriptions:
            changes = [c for c in batch if c[0] == subscription["_kind"]]
            if not changes:
                continue
            base = f"api/v2.0/companies({self.company_id})/{subscription['_kind']}"
            common = {"subscriptionId": subscription["subscriptionId"], "clientState": subscription["clientState"],
                      "expirationDateTime": json_value(subscription["expirationDateTime"])}
            if len(changes) > self.collection_threshold - 1:
                first = min(c[3] for c in changes) - timedelta(milliseconds=50)
                stamp = json_value(first)
                value = [common | {"resource": f"{base}?$filter=lastModifiedDateTime%20gt%20{stamp}",
                                   "changeType": "collection", "lastModifiedDateTime": json_value(max(
                                       c[3] for c in changes))}]
            else:
                value = [common | {"resource": f"{base}({entity_id})", "changeType": change,
                                   "lastModifiedDateTime": json_value(when)}
                         for _, entity_id, change, when in changes]
            by_url.setdefault(subscription["notificationUrl"], []).extend(value)
        for url, value in by_url.items():
            self._send(url, {"value": value}, 0)

    def _send(self, url: str, payload: dict, attempt: int) -> None:
        status = self._post(url, payload)
        with self.lock:
            self.deliveries.append((url, status))
        if status is not None and 200 <= status < 300:
            with self.lock:
                self.notifications_sent += 1
            return
        if status is None or status in (408, 429) or 500 <= status < 600:
            if attempt + 1 >= MAX_ATTEMPTS:
                log.info("NAV sandbox: %s failed %d times; its subscriptions are deleted", url, attempt + 1)
                self._delete_url(url)
                return
            due = time.monotonic() + RETRY_DELAYS[attempt] * self.retry_scale
            with self._signal:
                self._retries.append((due, url, payload, attempt + 1))
                self._signal.notify()
                self._ensure_thread()
            return
        log.info("NAV sandbox: %s answered %s; every subscription on it is deleted", url, status)
        self._delete_url(url)

    def _delete_url(self, url: str) -> None:
        with self.lock:
            for subscription_id in [s for s, sub in self.subscriptions.items() if sub["notificationUrl"] == url]:
                del self.subscriptions[subscription_id]

    @staticmethod
    def _post(url: str, payload: dict) -> int | None:
        data = json.dumps(payload).encode("utf-8")
        request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code
        except (urllib.error.URLError, OSError, ValueError):
            return None

    # -- subscriptions endpoint ----------------------------------------------------------------
    def _purge_expired(self) -> None:
        now = self.clock.now()
        for subscription_id in [s for s, sub in self.subscriptions.items() if sub["expirationDateTime"] <= now]:
            del self.subscriptions[subscription_id]

    def _body(self, subscription: dict) -> dict:
        body = {name: json_value(subscription[name]) for name in FIELDS}
        body["@odata.etag"] = etag(subscription["subscriptionId"], subscription["_v"])
        return body

    def handle(self, request: Request, args: str | None, root: str) -> Response:
        if not self.enabled:
            raise ODataError(404, "BadRequest_NotFound", "Resource not found for the segment 'subscriptions'.")
        context = f"{root}/$metadata#subscriptions"
        if args is not None:
            return self._item(request, args.strip().strip("'"), context)
        with self.lock:
            self._purge_expired()
            if request.method == "GET":
                return Response(200, {"@odata.context": context,
                                      "value": [self._body(s) for s in self.subscriptions.values()]})
        if request.method != "POST":
            raise method_not_allowed(request.method, "subscriptions", "Dynamics 365 Business Central")
        body = request_body(request)
        unknown = set(body) - {"notificationUrl", "resource", "clientState"}
        if unknown:
            raise ODataError(400, "BadRequest", f"The property '{sorted(unknown)[0]}' does not exist on type "
                                                "'Microsoft.NAV.subscriptions'.")
        url, resource = body.get("notificationUrl"), body.get("resource")
        if not isinstance(url, str) or not url or not isinstance(resource, str) or not resource:
            raise ODataError(400, "BadRequest_RequiredParamNotProvided",
                             "Field 'notificationUrl' and 'resource' must not be blank or empty.")
        kind = _kind(resource, self.company_id)
        if kind is None:
            raise ODataError(400, "Application_DialogException",
                             f"The resource '{resource}' cannot be subscribed to: it is not a webhook-supported "
                             "entity set of this company.")
        client_state = body.get("clientState", "")
        if not isinstance(client_state, str) or len(client_state) > 2048:
            raise ODataError(400, "BadRequest", "clientState must be a string of at most 2048 characters.")
        with self.lock:
            for existing in self.subscriptions.values():
                if existing["notificationUrl"] == url and existing["_kind"] == kind:
                    raise ODataError(400, "Internal_EntityWithSameKeyExists",
                                     "The subscription already exists for this notificationUrl and resource.")
        self._handshake(url)  # outside the lock: the subscriber may call us back while answering
        with self.lock:
            now = self.clock.now()
            user = guid("user", demo_data.NAV_USER)
            subscription = {"subscriptionId": uuid.uuid4().hex, "notificationUrl": url, "resource": resource,
                            "timestamp": int(now.timestamp()), "userId": user, "lastModifiedDateTime": now,
                            "clientState": client_state, "expirationDateTime": now + SUBSCRIPTION_LIFETIME,
                            "systemCreatedAt": now, "systemCreatedBy": user, "systemModifiedAt": now,
                            "systemModifiedBy": user, "_kind": kind, "_v": 1}
            self.subscriptions[subscription["subscriptionId"]] = subscription
            return Response(201, {"@odata.context": f"{context}/$entity", **self._body(subscription)})

    def _item(self, request: Request, subscription_id: str, context: str) -> Response:
        with self.lock:
            self._purge_expired()
            subscription = self.subscriptions.get(subscription_id)
            if subscription is None:
                raise ODataError(404, "Internal_RecordNotFound", f"The subscription '{subscription_id}' does not exist.")
            if request.method == "GET":
                return Response(200, {"@odata.context": f"{context}/$entity", **self._body(subscription)})
            if request.method not in ("PATCH", "DELETE"):
                raise method_not_allowed(request.method, "subscriptions", "Dynamics 365 Business Central")
            given = request.header("If-Match")
            if not given:
                raise ODataError(400, "BadRequest_InvalidToken",
                                 "Could not validate the client concurrency token required by the service. "
                                 "Please provide a valid token in the client request.")
            if given != "*" and given != etag(subscription_id, subscription["_v"]):
                raise ODataError(412, "Request_EntityChanged", "Another user has already changed the record.")
            if request.method == "DELETE":
                del self.subscriptions[subscription_id]
                return Response(204)
            body = request_body(request) if request.body else {}
            url = body.get("notificationUrl", subscription["notificationUrl"])
        self._handshake(url)  # renewal re-validates, as documented
        with self.lock:
            subscription = self.subscriptions.get(subscription_id)
            if subscription is None:
                raise ODataError(404, "Internal_RecordNotFound", f"The subscription '{subscription_id}' does not exist.")
            now = self.clock.now()
            subscription.update({"notificationUrl": url, "lastModifiedDateTime": now, "systemModifiedAt": now,
                                 "expirationDateTime": now + SUBSCRIPTION_LIFETIME, "_v": subscription["_v"] + 1})
            if isinstance(body.get("clientState"), str):
                subscription["clientState"] = body["clientState"]
            return Response(200, {"@odata.context": f"{context}/$entity", **self._body(subscription)})

    @staticmethod
    def _handshake(url: str) -> None:
        validation_token = secrets.token_hex(16)
        separator = "&" if "?" in url else "?"
        target = f"{url}{separator}validationToken={urllib.parse.quote(validation_token)}"
        try:
            request = urllib.request.Request(target, data=b"", method="POST")
            with urllib.request.urlopen(request, timeout=5) as answer:
                status, text = answer.status, answer.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            status, text = error.code, ""
        except (urllib.error.URLError, OSError, ValueError):
            raise ODataError(400, "Application_DialogException",
                             "The notification URL could not be reached for the subscription handshake.") from None
        if status != 200 or text.strip().strip('"') != validation_token:
            raise ODataError(400, "Application_DialogException",
                             "The subscription handshake failed: the notification URL did not return the "
                             "validation token with 200 OK.")

