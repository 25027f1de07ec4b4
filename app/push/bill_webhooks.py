"""BILL's signed webhook notifications: verify, de-duplicate, hand on.

Order matters and is the point of this module: the ``x-bill-sha-signature`` header is checked
against the raw body (constant-time, in ``app.clients.bill_signature``) BEFORE the body is parsed,
so an unsigned or forged payload never reaches the JSON parser or anything after it.

    no/blank signature, or no key to check it with  → 401
    signature does not match any current key        → 401
    signed, but not a BILL notification (bad JSON,
    no metadata.eventId / eventType)                → 400
    an eventId already processed                    → 200, nothing done (BILL resends; we ack)
    otherwise                                       → 200 at once; ``on_event`` queues a targeted sync

Events are hints: the engine re-reads the record from BILL, so a payload's field values are never
trusted or written anywhere. Logs name the event type and id, never the key, header or body.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from app.clients.bill_signature import verify_signature
from app.push.listener import InboundRequest, Reply
from app.push.state import PushState

log = logging.getLogger("navbill.push.bill")

SIGNATURE_HEADER = "x-bill-sha-signature"
ENTITY_KEYS = {"vendor": "vendor", "bill": "bill", "payment": "payment"}


@dataclass(frozen=True)
class BillEvent:
    event_id: str
    event_type: str  # e.g. "vendor.updated"
    subscription_id: str
    entity_id: str  # the vendor, bill or payment id ("" when the payload has none)
    bill_ids: tuple[str, ...] = ()  # payment events: the bills the payment pays
    received_at: datetime | None = None

    @property
    def entity(self) -> str:
        return self.event_type.split(".", 1)[0]


def parse_event(body: bytes) -> BillEvent:
    """The parts of a BILL notification the connector acts on; ValueError if it is not one."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):  # deep nesting: malformed, not a 500
        raise ValueError("not JSON") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("metadata"), dict):
        raise ValueError("no metadata object")
    metadata = payload["metadata"]
    event_id, event_type = metadata.get("eventId"), metadata.get("eventType")
    if not isinstance(event_id, str) or not event_id.strip() or len(event_id) > 200:
        raise ValueError("no usable metadata.eventId")
    if not isinstance(event_type, str) or "." not in event_type or len(event_type) > 100:
        raise ValueError("no usable metadata.eventType")
    subscription_id = metadata.get("subscriptionId")
    entity = payload.get(ENTITY_KEYS.get(event_type.split(".", 1)[0], ""), {})
    entity = entity if isinstance(entity, dict) else {}
    entity_id = entity.get("id") if isinstance(entity.get("id"), str) else ""
    bill_ids = entity.get("billIds") if isinstance(entity.get("billIds"), list) else []
    return BillEvent(
        event_id=event_id, event_type=event_type,
        subscription_id=subscription_id if isinstance(subscription_id, str) else "",
        entity_id=entity_id, bill_ids=tuple(b for b in bill_ids if isinstance(b, str)),
    )


class BillWebhookReceiver:
    """The ``/bill/webhook`` route. ``security_keys()`` gives the keys to accept (current first; the
    previous one too for a short while after a rotation)."""

    def __init__(self, security_keys: Callable[[], Sequence[str]], state: PushState,
                 on_event: Callable[[BillEvent], None], *,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._security_keys = security_keys
        self._state = state
        self._on_event = on_event
        self._now = now
        self.rejected = 0  # counts for the status view and tests
        self.duplicates = 0
        self.accepted = 0

    def __call__(self, request: InboundRequest) -> Reply:
        if request.method != "POST":
            return Reply(405, "POST only", headers={"Allow": "POST"})
        signature = request.header(SIGNATURE_HEADER).strip()
        if not signature:
            return self._reject(401, "it is not signed", request)
        keys = [k for k in self._security_keys() if k]
        if not keys:
            return self._reject(401, "no BILL security key is set up to check it", request)
        if not any(verify_signature(key, request.body, signature) for key in keys):
            return self._reject(401, "its signature does not match", request)
        try:
            event = parse_event(request.body)
        except ValueError as exc:
            return self._reject(400, f"it is signed but not a BILL notification ({exc})", request)
        event = BillEvent(**{**event.__dict__, "received_at": self._now()})
        if not self._state.first_sighting(event.event_id, "bill", event.received_at):
            self.duplicates += 1
            log.info("BILL event %s (%s) was already processed; acknowledged again", event.event_id,
                     event.event_type)
            return Reply(200, "duplicate")
        self.accepted += 1
        log.info("BILL event %s: %s %s", event.event_id, event.event_type, event.entity_id or "")
        self._on_event(event)
        return Reply(200, "ok")

    def _reject(self, status: int, why: str, request: InboundRequest) -> Reply:
        self.rejected += 1
        log.warning("Refused a BILL webhook from %s (%d bytes): %s", request.client, len(request.body), why)
        return Reply(status, "Unauthorized" if status == 401 else "Bad request")
