"""Fixtures for the NAV sandbox and client tests: a running sandbox and a tiny webhook receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from app.sandbox import demo_data
from app.sandbox.base import SandboxClock, SandboxServer
from app.sandbox.nav import NavSandbox

AUTH = (demo_data.NAV_USER, demo_data.NAV_WEB_SERVICE_KEY)


class WebhookReceiver:
    """Answers the validation handshake (echoes the token) and records notifications."""

    def __init__(self) -> None:
        self.notifications: list[dict] = []
        self.handshakes = 0
        self.fail = False  # answer 500 to notifications
        self.status = 202  # status for notifications when not failing
        self.posts = 0  # notification POSTs received (any answer)
        self.refuse_handshake = False
        self.received = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - stdlib name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                token = parse_qs(urlsplit(self.path).query).get("validationToken")
                if token:
                    receiver.handshakes += 1
                    payload = b"wrong" if receiver.refuse_handshake else token[0].encode()
                    self._answer(200, payload)
                    return
                with receiver.received:
                    receiver.posts += 1
                    receiver.received.notify_all()
                if receiver.fail:
                    self._answer(500, b"")
                    return
                with receiver.received:
                    receiver.notifications.append(json.loads(body))
                    receiver.received.notify_all()
                self._answer(receiver.status, b"")

            def _answer(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/nav"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for_posts(self, count: int, timeout: float = 5.0) -> int:
        with self.received:
            self.received.wait_for(lambda: self.posts >= count, timeout=timeout)
            return self.posts

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict]:
        """Block until ``count`` notifications arrived (a wait for an event, not a timed assertion)."""
        with self.received:
            self.received.wait_for(lambda: len(self.notifications) >= count, timeout=timeout)
            return list(self.notifications)


@pytest.fixture
def clock() -> SandboxClock:
    return SandboxClock()


def small_nav(clock: SandboxClock, **options) -> NavSandbox:
    """A demo sandbox with webhook timings scaled down for tests (delay, collection threshold, retries)."""
    options = {"notification_delay": 0.01, "collection_threshold": 5, "retry_scale": 0.001} | options
    return NavSandbox("demo", clock=clock, **options)


@pytest.fixture
def nav(clock: SandboxClock) -> Iterator[NavSandbox]:
    """Business Central flavour (API v2.0 + published pages)."""
    app = small_nav(clock)
    yield app
    app.stop()


@pytest.fixture
def classic_nav(clock: SandboxClock) -> Iterator[NavSandbox]:
    """NAV 2016-2018 flavour (published pages only)."""
    app = small_nav(clock, flavor="classic")
    yield app
    app.stop()


@pytest.fixture
def classic_server(classic_nav: NavSandbox) -> Iterator[SandboxServer]:
    with SandboxServer(classic_nav) as server:
        yield server


@pytest.fixture
def nav_server(nav: NavSandbox) -> Iterator[SandboxServer]:
    with SandboxServer(nav) as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver().start()
    yield hook
    hook.stop()


def company_url(server: SandboxServer) -> str:
    return f"{server.url}/{demo_data.SERVER_INSTANCE}/ODataV4/Company('{demo_data.COMPANY_NAME}')"


def api_url(server: SandboxServer) -> str:
    return f"{server.url}/{demo_data.SERVER_INSTANCE}/api/v2.0"


def api_company_url(server: SandboxServer) -> str:
    return f"{api_url(server)}/companies({demo_data.COMPANY_ID})"
