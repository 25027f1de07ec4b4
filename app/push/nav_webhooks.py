"""Business Central's webhook notifications: the validationToken handshake and change notices.

Handshake (on every subscription create AND renew): Business Central calls the notification URL
with ``?validationToken=...``; we answer 200 with the token as plain text. Without that answer
Business Central refuses the subscription, which is how we learn it cannot reach us.

Notifications: ``{"value": [{subscriptionId, clientState, expirationDateTime, resource, changeType,
lastModifiedDateTime}]}``, one POST possibly batching several subscriptions. ``clientState`` is a secret we
chose when subscribing; an entry carrying any other value is ignored and changes nothing. ``changeType`` is
created/updated/deleted, or ``collection`` when too much changed to list (its resource carries a
``$filter=lastModifiedDateTime gt …``): re-read that collection. Resources come with or without a leading slash.
Before BC version 19 bodies could start with a byte-order mark; we accept it.

Business Central deletes EVERY subscription on a notification URL that answers anything but 2xx, 408, 429 or
5xx (NAV-GROUND-TRUTH.md §2). So a notification is never answered 4xx: what we ignore (not JSON, not ours, not
a POST) is answered 202 and logged; only when we could not take the changes in do we answer 503, so that
Business Central retries.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass

from app.push.listener import InboundRequest, Reply

log = logging.getLogger("navbill.push.nav")

MAX_VALIDATION_TOKEN_LENGTH = 4096
_LAST_SEGMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\(([^)]*)\))?/?$")


@dataclass(frozen=True)
class NavChange:
    subscription_id: str
    resource: str  # as sent, e.g. "api/v2.0/companies(…)/vendors(2ee8…)"
    entity: str  # "vendors", "purchaseInvoices", …
    key: str  # the record's id from the resource path; "" for a collection notice
    change_type: str  # created | updated | deleted | collection
    last_modified: str = ""


def parse_resource(resource: str) -> tuple[str, str]:
    """``…/vendors(2ee8…)`` → ("vendors", "2ee8…"); ``…/vendors`` → ("vendors", "")."""
    match = _LAST_SEGMENT.search(resource.split("?", 1)[0])
    if not match:
        return "", ""
    key = (match[2] or "").strip().strip("'")
    return match[1], key


def _same_secret(given: str, ours: Collection[str]) -> bool:
    given_bytes = given.encode("utf-8")
    found = False
    for candidate in ours:  # compare with every one so timing does not say which matched
        found |= hmac.compare_digest(given_bytes, candidate.encode("utf-8"))
    return found


class NavNotificationReceiver:
    """The ``/nav/notifications`` route."""

    def __init__(self, client_states: Callable[[], Collection[str]],
                 on_changes: Callable[[list[NavChange]], None],
                 on_handshake: Callable[[], None] | None = None) -> None:
        self._client_states = client_states
        self._on_changes = on_changes
        self._on_handshake = on_handshake
        self.handshakes = 0
        self.rejected = 0
        self.accepted = 0

    def __call__(self, request: InboundRequest) -> Reply:
        if "validationToken" in request.query:
            return self._handshake(request.query["validationToken"])
        if request.method != "POST":
            return self._ignore("it is not a POST", request)
        try:
            payload = json.loads(request.body.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):  # deep nesting: malformed, not a 500
            return self._ignore("it is not JSON", request)
        items = payload.get("value") if isinstance(payload, dict) else None
        if not isinstance(items, list) or not items:
            return self._ignore("it has no list of changes", request)
        ours = [s for s in self._client_states() if s]
        accepted = []
        for item in items:
            client_state = item.get("clientState") if isinstance(item, dict) else None
            if isinstance(client_state, str) and ours and _same_secret(client_state, ours):
                accepted.append(item)
        if len(accepted) < len(items):
            self._ignore(f"{len(items) - len(accepted)} of its {len(items)} change(s) do not carry our clientState",
                         request)
        if not accepted:
            return Reply(202, "ignored")
        changes = []
        for item in accepted:
            resource = str(item.get("resource") or "")
            entity, key = parse_resource(resource)
            change_type = str(item.get("changeType") or "updated")
            changes.append(NavChange(subscription_id=str(item.get("subscriptionId") or ""), resource=resource,
                                     entity=entity, key="" if change_type == "collection" else key,
                                     change_type=change_type,
                                     last_modified=str(item.get("lastModifiedDateTime") or "")))
        self.accepted += len(changes)
        log.info("NAV notified %d change(s): %s", len(changes),
                 ", ".join(f"{c.entity} {c.change_type}" for c in changes[:5]))
        try:
            self._on_changes(changes)
        except Exception:  # noqa: BLE001 - whatever failed, Business Central must retry, not drop us
            log.exception("Could not take in %d NAV change(s); Business Central will send them again", len(changes))
            return Reply(503, "try again", headers={"Retry-After": "60"})
        return Reply(200, "ok")

    def _handshake(self, token: str) -> Reply:
        if not token or len(token) > MAX_VALIDATION_TOKEN_LENGTH or not token.isprintable():
            log.warning("Refused a NAV validation request with an unusable token")
            return Reply(400, "Bad validationToken")
        self.handshakes += 1
        log.info("Answered Business Central's subscription validation")
        if self._on_handshake is not None:
            self._on_handshake()
        return Reply(200, token)

    def _ignore(self, why: str, request: InboundRequest) -> Reply:
        self.rejected += 1
        log.warning("Ignored a NAV notification from %s (%d bytes): %s", request.client, len(request.body), why)
        return Reply(202, "ignored")
