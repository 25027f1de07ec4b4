"""The webhook listener under slow or many connections: header and body deadlines, and a connection cap."""

from __future__ import annotations

import socket
import time

import requests

from app.push.listener import Reply, WebhookListener


def _connect(listener: WebhookListener) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", listener.port), timeout=10)
    return connection


def _closed_by_server(connection: socket.socket, within: float) -> bool:
    """True when the server closes (EOF, reset, or a 503) within ``within`` seconds while we trickle bytes."""
    deadline = time.monotonic() + within
    connection.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            connection.send(b"X")  # one more byte of a header that never ends
        except OSError:
            return True
        try:
            data = connection.recv(1024)
            if data == b"" or data.startswith(b"HTTP/1.1 4") or data.startswith(b"HTTP/1.1 5"):
                return True
        except TimeoutError:
            continue
        except OSError:
            return True
    return False


def test_slow_header_connections_are_closed_at_the_header_deadline_and_do_not_pile_up():
    listener = WebhookListener("127.0.0.1", 0, header_timeout=1.0, body_timeout=1.0, max_connections=8)
    listener.route("/bill/webhook", lambda request: Reply(200, "ok"))
    with listener:
        slow = [_connect(listener) for _ in range(30)]
        try:
            for connection in slow:
                connection.sendall(b"POST /bill/webhook HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            time.sleep(0.3)
            server = listener._httpd
            assert server.active_connections <= 8  # the cap: never more handler threads than this
            assert server.refused_connections >= 22
            started = time.monotonic()
            assert all(_closed_by_server(c, within=3.0) for c in slow), "a slow-header connection stayed open"
            assert time.monotonic() - started < 3.5
            assert server.expired_connections >= 8
        finally:
            for connection in slow:
                connection.close()
        # Once they are gone the listener answers normally.
        deadline = time.monotonic() + 3
        while listener._httpd.active_connections and time.monotonic() < deadline:
            time.sleep(0.05)
        answer = requests.post(f"{listener.url}/bill/webhook", data=b"{}", timeout=5)
        assert answer.status_code == 200 and answer.text == "ok"


def test_a_body_that_never_completes_is_cut_at_the_body_deadline():
    listener = WebhookListener("127.0.0.1", 0, header_timeout=5.0, body_timeout=1.0)
    seen = []
    listener.route("/bill/webhook", lambda request: seen.append(request) or Reply(200, "ok"))
    with listener:
        connection = _connect(listener)
        try:
            connection.sendall(b"POST /bill/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{")
            started = time.monotonic()
            assert _closed_by_server(connection, within=4.0)
            assert time.monotonic() - started < 3
        finally:
            connection.close()
    assert seen == []  # a cut request is never processed
