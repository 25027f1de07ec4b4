"""The /nav/notifications route over a real socket: handshake, clientState check, change parsing.

Business Central deletes every subscription on a notification URL that answers anything but 2xx, 408, 429 or
5xx, so what the route ignores is answered 202, never 4xx; only a failure to take changes in answers 503."""

from __future__ import annotations

import http.client
import json

import pytest

from app.push.listener import NAV_PATH, WebhookListener, parse_listen_address
from app.push.nav_webhooks import NavNotificationReceiver, parse_resource

CLIENT_STATE = "our-client-state-secret"
RESOURCE = "/api/v2.0/companies(3b5c2f1e-6a8d-4e1b-9c7a-0d2f4b6a8c10)/vendors"


@pytest.fixture
def nav_listener():
    received: list = []
    handshakes: list = []
    receiver = NavNotificationReceiver(lambda: [CLIENT_STATE], received.extend, lambda: handshakes.append(1))
    listener = WebhookListener("127.0.0.1", 0, max_body_bytes=10_000)
    listener.route(NAV_PATH, receiver)
    with listener:
        yield listener, received, handshakes


def call(listener, method: str, target: str, body: bytes = b"", headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", listener.port, timeout=10)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        answer = conn.getresponse()
        return answer.status, answer.getheader("Content-Type"), answer.read()
    finally:
        conn.close()


def notification(*items: dict) -> bytes:
    return json.dumps({"value": list(items)}).encode()


def item(client_state: str = CLIENT_STATE, resource: str = RESOURCE + "(2ee8d9e8-0000-0000-0000-000000000001)",
         change: str = "updated") -> dict:
    return {"subscriptionId": "abc", "clientState": client_state, "expirationDateTime": "2024-01-04T00:00:00Z",
            "resource": resource, "changeType": change, "lastModifiedDateTime": "2024-01-01T10:00:00Z"}


def test_handshake_returns_the_token_as_plain_text(nav_listener):
    listener, received, handshakes = nav_listener
    status, content_type, body = call(listener, "POST", f"{NAV_PATH}?validationToken=tok-123%2B%2F")
    assert (status, body) == (200, b"tok-123+/")
    assert content_type.startswith("text/plain")
    assert handshakes == [1] and received == []


def test_notifications_with_our_client_state_become_changes(nav_listener):
    listener, received, _ = nav_listener
    body = notification(item(), item(resource=RESOURCE, change="collection"))
    assert call(listener, "POST", NAV_PATH, body)[0] == 200
    assert [(c.entity, c.key, c.change_type) for c in received] == [
        ("vendors", "2ee8d9e8-0000-0000-0000-000000000001", "updated"), ("vendors", "", "collection")]


def test_a_byte_order_mark_is_accepted(nav_listener):
    listener, received, _ = nav_listener
    assert call(listener, "POST", NAV_PATH, b"\xef\xbb\xbf" + notification(item()))[0] == 200
    assert len(received) == 1


@pytest.mark.parametrize("client_state", ["", "someone-else", CLIENT_STATE + "x", CLIENT_STATE.upper()])
def test_a_change_whose_client_state_is_not_ours_is_ignored_and_ours_in_the_same_batch_go_through(
        nav_listener, client_state):
    listener, received, _ = nav_listener
    body = notification(item(), item(client_state=client_state, resource=RESOURCE + "(forged)"))
    assert call(listener, "POST", NAV_PATH, body)[0] == 200
    assert [c.key for c in received] == ["2ee8d9e8-0000-0000-0000-000000000001"]


def test_a_notification_with_nothing_of_ours_changes_nothing_and_is_answered_2xx(nav_listener):
    listener, received, _ = nav_listener
    bad = item()
    del bad["clientState"]
    assert call(listener, "POST", NAV_PATH, notification(bad, item(client_state="someone-else")))[0] == 202
    assert received == []


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b'{"value": []}', b'{"value": "x"}', b'{"value": [1]}'])
def test_malformed_notifications_are_ignored_with_202_never_4xx(nav_listener, body):
    listener, received, _ = nav_listener
    assert call(listener, "POST", NAV_PATH, body)[0] == 202
    assert received == []


def test_a_notification_we_could_not_take_in_asks_business_central_to_retry():
    def broken(changes):
        raise RuntimeError("store locked")

    receiver = NavNotificationReceiver(lambda: [CLIENT_STATE], broken)
    with WebhookListener("127.0.0.1", 0) as listener:
        listener.route(NAV_PATH, receiver)
        assert call(listener, "POST", NAV_PATH, notification(item()))[0] == 503


def test_a_batch_mixing_subscriptions_and_resource_shapes(nav_listener):
    listener, received, _ = nav_listener
    invoices = "api/v2.0/companies(3b5c2f1e-6a8d-4e1b-9c7a-0d2f4b6a8c10)/purchaseInvoices"
    body = notification(item(), item(resource=invoices + "(5e3a0000-0000-0000-0000-000000000002)"),
                        item(resource=invoices + "?$filter=lastModifiedDateTime%20gt%202024-01-01T10:00:00Z",
                             change="collection"))
    assert call(listener, "POST", NAV_PATH, body)[0] == 200
    assert [(c.entity, c.key, c.change_type) for c in received] == [
        ("vendors", "2ee8d9e8-0000-0000-0000-000000000001", "updated"),
        ("purchaseInvoices", "5e3a0000-0000-0000-0000-000000000002", "updated"),
        ("purchaseInvoices", "", "collection")]


def test_oversized_and_unknown_paths(nav_listener):
    listener, _, _ = nav_listener
    assert call(listener, "POST", NAV_PATH, b"x" * 10_001)[0] == 413
    assert call(listener, "POST", "/elsewhere", b"{}")[0] == 404
    assert call(listener, "GET", NAV_PATH)[0] == 202  # not Business Central's; answered 2xx all the same


def test_an_unusable_validation_token_is_refused(nav_listener):
    listener, _, handshakes = nav_listener
    assert call(listener, "POST", f"{NAV_PATH}?validationToken=")[0] == 400
    assert call(listener, "POST", f"{NAV_PATH}?validationToken=a%0Ab")[0] == 400
    assert handshakes == []


def test_the_listener_binds_only_to_its_address():
    with WebhookListener("127.0.0.1", 0) as listener:
        assert listener._httpd.server_address[0] == "127.0.0.1"
        with pytest.raises(OSError):
            WebhookListener("127.0.0.1", listener.port).start()


@pytest.mark.parametrize("resource, expected", [
    ("/api/v2.0/companies(1)/vendors(abc)", ("vendors", "abc")),
    ("api/v2.0/companies(1)/purchaseInvoices('P-1')", ("purchaseInvoices", "P-1")),
    ("/api/v2.0/companies(1)/vendors", ("vendors", "")),
    ("", ("", "")),
])
def test_parse_resource(resource, expected):
    assert parse_resource(resource) == expected


@pytest.mark.parametrize("text, expected", [
    ("", ("127.0.0.1", 8765)), ("0.0.0.0:9000", ("0.0.0.0", 9000)), (":9001", ("127.0.0.1", 9001)),
    ("[::1]:9002", ("::1", 9002)), ("localhost", ("localhost", 8765)),
])
def test_parse_listen_address(text, expected):
    assert parse_listen_address(text) == expected
