"""The /bill/webhook route over a real socket: signature first, then parse, then de-duplicate."""

from __future__ import annotations

import base64
import http.client
import json
import logging
import string
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.clients.bill_signature import compute_signature
from app.push.bill_webhooks import BillWebhookReceiver, parse_event
from app.push.listener import BILL_PATH, WebhookListener
from app.push.state import PushState

KEY = "current-security-key-0123456789"
OLD_KEY = "previous-security-key-9876543210"
MAX_BODY = 4096

# Derived test vector (research notes, not issued by BILL): base64(HMAC-SHA256(key, raw minified body)).
VECTOR_KEY = "DERIVED-TEST-KEY-not-issued-by-BILL"
VECTOR_BODY = (
    b'{"metadata":{"eventId":"625947c4-8e6b-48f0-ae72-ea9c9375ec27","subscriptionId":"f6d06930-e3e2-4509-be37-'
    b'4dbda29efc6i","organizationId":"00802DEVKGROHKDIY4zyx","eventType":"payment.updated","version":"1"},'
    b'"payment":{"id":"stp01VTFIWRGOUMAVl39","billIds":["00n02JZNIEYMNPY99iz9"],"transactionNumber":"202602026",'
    b'"status":"PROCESSED","createdBy":"00602NNWYXSZQYLTa41g","createdTime":"2026-12-16T23:56:52.127+00:00",'
    b'"updatedTime":"2026-12-17T23:56:52.127+00:00","processDate":"2026-12-17","funding":{"amount":228.99,'
    b'"currency":"USD","fundingAccount":{"id":"bac01123ABC456DEF789","type":"BANK_ACCOUNT","name":"Noodle '
    b'Soupsmith","accountNumber":"************1111"}},"disbursement":{"amount":228.99,"currency":"USD",'
    b'"arrivesByDate":"2026-12-20","disbursementAccount":{"type":"ACH","accountNumber":"******333"}},'
    b'"vendor":{"id":"00902BILKFECNEV2oji1","name":"Happy Music Supplies"},"billingType":"BILL_AUTOPAY"}}'
)
VECTOR_SIGNATURE = "K1bOdx9vuhxA05TQbh0HQDdebmKE8ZhUziUFOsxxDak="


def event_body(event_type: str = "vendor.updated", entity_id: str = "00901VENDOR", event_id: str | None = None,
               name: str = "Acme") -> bytes:
    entity = event_type.split(".")[0]
    payload = {"metadata": {"eventId": event_id or str(uuid.uuid4()), "subscriptionId": "sub-1",
                            "organizationId": "00802ORG", "eventType": event_type, "version": "1"},
               entity: {"id": entity_id, "name": name}}
    return json.dumps(payload, separators=(",", ":")).encode()


class Receiving:
    def __init__(self, state: PushState, keys: list[str]) -> None:
        self.keys = keys
        self.events = []
        self.receiver = BillWebhookReceiver(lambda: self.keys, state, self.events.append)
        self.listener = WebhookListener("127.0.0.1", 0, max_body_bytes=MAX_BODY)
        self.listener.route(BILL_PATH, self.receiver)

    def post(self, body: bytes, signature: str | None = None, headers: dict | None = None,
             method: str = "POST") -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.listener.port, timeout=10)
        try:
            sent = {"Content-Type": "application/json", **(headers or {})}
            if signature is not None:
                sent["x-bill-sha-signature"] = signature
            conn.request(method, BILL_PATH, body=body, headers=sent)
            answer = conn.getresponse()
            return answer.status, answer.read().decode()
        finally:
            conn.close()


@pytest.fixture
def receiving(push_state):
    receiving = Receiving(push_state, [KEY])
    receiving.listener.start()
    yield receiving
    receiving.listener.stop()


def seen_count(state: PushState) -> int:
    from sqlalchemy import func, select

    from app.push.state import seen_events_table

    with state.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(seen_events_table)).scalar()


def test_the_derived_test_vector_is_accepted(push_state):
    receiving = Receiving(push_state, [VECTOR_KEY])
    with receiving.listener:
        assert receiving.post(VECTOR_BODY, VECTOR_SIGNATURE)[0] == 200
    assert [(e.event_type, e.entity_id, e.bill_ids) for e in receiving.events] == [
        ("payment.updated", "stp01VTFIWRGOUMAVl39", ("00n02JZNIEYMNPY99iz9",))]


def test_a_signed_event_is_accepted_once_and_repeats_are_acknowledged_without_processing(receiving, push_state):
    body = event_body(event_id="evt-1")
    signature = compute_signature(KEY, body)
    assert receiving.post(body, signature) == (200, "ok")
    assert receiving.post(body, signature) == (200, "duplicate")
    assert [e.event_id for e in receiving.events] == ["evt-1"]


def test_repeated_event_ids_are_remembered_across_restarts(tmp_path):
    url = f"sqlite:///{tmp_path / 'state.sqlite3'}"
    body = event_body(event_id="evt-restart")
    first = Receiving(PushState(url), [KEY])
    with first.listener:
        assert first.post(body, compute_signature(KEY, body))[0] == 200
    second = Receiving(PushState(url), [KEY])
    with second.listener:
        assert second.post(body, compute_signature(KEY, body)) == (200, "duplicate")
    assert len(first.events) == 1 and second.events == []


def test_the_previous_key_is_accepted_after_a_rotation(push_state):
    receiving = Receiving(push_state, [KEY, OLD_KEY])
    with receiving.listener:
        body = event_body()
        assert receiving.post(body, compute_signature(OLD_KEY, body))[0] == 200


@pytest.mark.parametrize("case", ["unsigned", "blank", "other key", "hex digest", "body changed", "no key set"])
def test_bad_signatures_get_401_and_change_nothing(receiving, push_state, case):
    body = event_body(event_id="evt-bad")
    signature = {
        "unsigned": None, "blank": "  ", "other key": compute_signature("not-the-key", body),
        "hex digest": base64.b64decode(compute_signature(KEY, body)).hex(),
        "body changed": compute_signature(KEY, body + b" "),
        "no key set": compute_signature(KEY, body),
    }[case]
    if case == "no key set":
        receiving.keys = []
    assert receiving.post(body, signature)[0] == 401
    assert receiving.events == [] and seen_count(push_state) == 0


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'{"metadata": {}}', b'{"metadata": {"eventId": "x"}}',
                                  b'{"metadata": {"eventId": 5, "eventType": "vendor.updated"}}',
                                  b"\xff\xfe{}"])
def test_signed_but_malformed_payloads_get_400_and_change_nothing(receiving, push_state, body):
    assert receiving.post(body, compute_signature(KEY, body))[0] == 400
    assert receiving.events == [] and seen_count(push_state) == 0


def test_oversized_payloads_get_413_before_anything_is_read(receiving, push_state):
    body = event_body() + b" " * MAX_BODY
    assert receiving.post(body, compute_signature(KEY, body))[0] == 413
    assert receiving.events == [] and seen_count(push_state) == 0


def test_only_post_is_accepted(receiving):
    assert receiving.post(b"", None, method="GET")[0] == 405


def test_rejections_are_logged_without_key_signature_or_body(receiving, caplog):
    caplog.set_level(logging.DEBUG)
    body = event_body(name="SECRET-LOOKING-BODY")
    wrong = compute_signature("wrong-key-abcdef", body)
    receiving.post(body, wrong)
    receiving.post(body, compute_signature(KEY, body))
    text = caplog.text
    assert "Refused a BILL webhook" in text
    for secret in (KEY, wrong, compute_signature(KEY, body), "SECRET-LOOKING-BODY"):
        assert secret not in text


header_text = st.text(alphabet=string.printable.replace("\r", "").replace("\n", "").replace("\x0b", "")
                      .replace("\x0c", ""), max_size=120)


def _mutations(signature: str) -> st.SearchStrategy[str]:
    raw = base64.b64decode(signature)
    return st.one_of(
        header_text,  # anything at all
        st.binary(min_size=32, max_size=32).map(lambda b: base64.b64encode(b).decode()),  # right shape, wrong value
        st.integers(0, len(raw) - 1).flatmap(lambda i: st.integers(1, 255).map(
            lambda x: base64.b64encode(raw[:i] + bytes([raw[i] ^ x]) + raw[i + 1:]).decode())),  # one byte off
        st.integers(0, len(signature) - 1).map(lambda n: signature[:n]),  # truncated
        st.just(signature.swapcase()),
        st.just(signature.rstrip("=")),
        st.just(raw.hex()),
        st.just(base64.urlsafe_b64encode(raw).decode() + "x"),
        st.just(signature + signature),
        st.just(f"sha256={signature}"),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_property_no_wrong_signature_is_ever_accepted(receiving, push_state, data):
    body = data.draw(st.one_of(st.just(event_body(event_id="evt-prop")), st.binary(max_size=512)), label="body")
    good = compute_signature(KEY, body)
    signature = data.draw(_mutations(good).filter(lambda s: s.strip() != good), label="signature")
    status, _ = receiving.post(body, signature)
    assert status == 401
    assert receiving.events == [] and seen_count(push_state) == 0


@settings(max_examples=60, deadline=None)
@given(body=st.binary(max_size=300))
def test_property_parse_event_never_crashes(body):
    try:
        event = parse_event(body)
    except ValueError:
        return
    assert event.event_id and "." in event.event_type
