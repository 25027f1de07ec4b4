"""The local HTTP listener that receives both systems' webhooks.

    /nav/notifications   Business Central: validationToken handshake and change notifications
    /bill/webhook        BILL: signed event notifications

Slow senders cannot pile up: the request line and headers must arrive within ``HEADER_TIMEOUT_SECONDS`` and the
body within ``BODY_TIMEOUT_SECONDS`` (whole-request deadlines enforced by a reaper thread, not per-read
timeouts a trickling sender beats), and at most ``MAX_CONNECTIONS`` are served at once (more get a 503).

It binds only to the configured address (127.0.0.1 by default; a reverse proxy or tunnel forwards
the public https URL to it). Bodies are size-checked from Content-Length before a byte is read, and
the route handler receives the raw bytes: BILL's signature is computed over them, so nothing may
parse or re-encode a body before it is verified.

Handlers answer at once; the sync they trigger runs on the scheduler's worker.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger("navbill.push.listener")

NAV_PATH = "/nav/notifications"
BILL_PATH = "/bill/webhook"
# BILL payloads carry every field of one record; NAV notifications a few ids. 1 MiB is ample.
DEFAULT_MAX_BODY_BYTES = 1_000_000
SOCKET_TIMEOUT_SECONDS = 10.0  # a sender that stalls mid-body loses its connection, not a thread
# Whole-request deadlines (not per read: a sender trickling a byte at a time would beat a per-read timeout)
# and a cap on connections at once, so slow-header connections cannot pile up and take every thread.
HEADER_TIMEOUT_SECONDS = 5.0  # request line and headers, from the connection (or the previous answer)
BODY_TIMEOUT_SECONDS = 10.0  # the body, from the end of the headers
MAX_CONNECTIONS = 32  # more at once are answered 503 and closed at once
REAPER_INTERVAL_SECONDS = 0.1


@dataclass(frozen=True)
class InboundRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    client: str = ""

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


@dataclass(frozen=True)
class Reply:
    status: int
    text: str = ""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


RouteHandler = Callable[[InboundRequest], Reply]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT_SECONDS

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle + delayed ACK add ~40 ms
        # to every answer, and BILL counts the time to our 200.
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def handle_one_request(self) -> None:
        self.server.watch(self.connection, self.server.header_timeout)
        try:
            super().handle_one_request()
        except OSError:  # the reaper shut a connection that missed its deadline
            self.close_connection = True
        finally:
            self.server.unwatch(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        # Only method, path and status: the query may hold a validationToken.
        pass

    def _handle(self) -> None:
        split = urlsplit(self.path)
        path = split.path.rstrip("/") or "/"
        route = self.server.routes.get(path)
        if route is None:
            self._reply(Reply(404, "Not found"), path)
            return
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self._reply(Reply(411, "Content-Length required"), path, close=True)
            return
        length = _content_length(self.headers.get_all("Content-Length") or [])
        if length is None:
            self._reply(Reply(400, "Bad Content-Length"), path, close=True)
            return
        if length > self.server.max_body_bytes:
            log.warning("Refused a %d-byte webhook on %s from %s: larger than %d bytes", length, path,
                        self.client_address[0], self.server.max_body_bytes)
            self._reply(Reply(413, "Payload too large"), path, close=True)
            return
        self.server.watch(self.connection, self.server.body_timeout)
        try:
            body = self.rfile.read(length) if length else b""
        except (TimeoutError, OSError):
            self.close_connection = True
            return
        finally:
            self.server.unwatch(self.connection)
        if len(body) != length:
            self._reply(Reply(400, "Body shorter than Content-Length"), path, close=True)
            return
        request = InboundRequest(
            method=self.command, path=path,
            query={k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()},
            headers={k.lower(): v for k, v in self.headers.items()}, body=body,
            client=self.client_address[0],
        )
        try:
            reply = route(request)
        except Exception:  # a handler bug must answer 500 (the sender retries), not hang the sender
            log.exception("Webhook handler for %s failed", path)
            reply = Reply(500, "Internal error")
        self._reply(reply, path)

    def _reply(self, reply: Reply, path: str, close: bool = False) -> None:
        payload = reply.text.encode("utf-8")
        log.debug("%s %s -> %d", self.command, path, reply.status)
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if payload and self.command != "HEAD":
                self.wfile.write(payload)
        except OSError:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False  # set per platform in server_bind
    request_queue_size = 64

    def server_bind(self) -> None:
        # A restart must rebind at once despite TIME_WAIT connections (SO_REUSEADDR on POSIX, where it
        # still refuses a second live listener). On Windows SO_REUSEADDR would let another program take
        # over the port, so ask for exclusive use there instead.
        exclusive = getattr(socket, "SO_EXCLUSIVEADDRUSE", None)
        if exclusive is not None:
            self.socket.setsockopt(socket.SOL_SOCKET, exclusive, 1)
        else:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        super().server_bind()

    def __init__(self, address: tuple[str, int], routes: dict[str, RouteHandler], max_body_bytes: int,
                 header_timeout: float = HEADER_TIMEOUT_SECONDS, body_timeout: float = BODY_TIMEOUT_SECONDS,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        self.routes = routes
        self.max_body_bytes = max_body_bytes
        self.header_timeout, self.body_timeout, self.max_connections = header_timeout, body_timeout, max_connections
        self._deadlines: dict[socket.socket, float] = {}
        self._watch_lock = threading.Lock()
        self._active = 0
        self.refused_connections = 0  # over the cap (for status and tests)
        self.expired_connections = 0  # closed for missing a header or body deadline
        self._reaper_stop = threading.Event()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self._reaper = threading.Thread(target=self._reap, name="navbill-webhook-reaper", daemon=True)
        self._reaper.start()

    # -- deadlines ---------------------------------------------------------------------------------
    def watch(self, connection: socket.socket, seconds: float) -> None:
        with self._watch_lock:
            self._deadlines[connection] = time.monotonic() + seconds

    def unwatch(self, connection: socket.socket) -> None:
        with self._watch_lock:
            self._deadlines.pop(connection, None)

    def _reap(self) -> None:
        while not self._reaper_stop.wait(REAPER_INTERVAL_SECONDS):
            now = time.monotonic()
            with self._watch_lock:
                late = [c for c, deadline in self._deadlines.items() if deadline <= now]
                for connection in late:
                    del self._deadlines[connection]
            for connection in late:
                self.expired_connections += 1
                try:  # wakes the handler thread blocked in recv; it closes the connection
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            if late:
                log.warning("Closed %d webhook connection(s) that did not send their request in time", len(late))

    # -- the connection cap --------------------------------------------------------------------------
    def process_request(self, request, client_address) -> None:
        with self._watch_lock:
            full = self._active >= self.max_connections
            if not full:
                self._active += 1
        if full:
            self.refused_connections += 1
            try:
                request.setblocking(False)
                request.send(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n"
                             b"Retry-After: 5\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            if self.refused_connections in (1, 10, 100) or self.refused_connections % 1000 == 0:
                log.warning("Webhook listener: %d connection(s) refused, more than %d at once",
                            self.refused_connections, self.max_connections)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release()

    def _release(self) -> None:
        with self._watch_lock:
            self._active -= 1

    @property
    def active_connections(self) -> int:
        with self._watch_lock:
            return self._active

    def server_close(self) -> None:
        self._reaper_stop.set()
        super().server_close()


class WebhookListener:
    """One HTTP listener for both systems. ``start()`` binds (raises OSError if the port is taken)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, header_timeout: float = HEADER_TIMEOUT_SECONDS,
                 body_timeout: float = BODY_TIMEOUT_SECONDS, max_connections: int = MAX_CONNECTIONS) -> None:
        self.host = host
        self.requested_port = port
        self.max_body_bytes = max_body_bytes
        self.header_timeout, self.body_timeout, self.max_connections = header_timeout, body_timeout, max_connections
        self.routes: dict[str, RouteHandler] = {}
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    def route(self, path: str, handler: RouteHandler) -> None:
        self.routes[path.rstrip("/")] = handler

    @property
    def port(self) -> int:
        if self._httpd is None:
            return self.requested_port
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def start(self) -> WebhookListener:
        if self._httpd is not None:
            return self
        self._httpd = _Server((self.host, self.requested_port), self.routes, self.max_body_bytes,
                              self.header_timeout, self.body_timeout, self.max_connections)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="navbill-webhook-listener",
                                        daemon=True)
        self._thread.start()
        log.info("Webhook listener on %s (NAV: %s, BILL: %s)", self.url, NAV_PATH, BILL_PATH)
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> WebhookListener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def parse_listen_address(text: str, default_port: int = 8765) -> tuple[str, int]:
    """``host:port``, ``:port``, ``host`` or ``[::1]:port`` → (host, port)."""
    text = text.strip()
    if not text:
        return "127.0.0.1", default_port
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.lstrip(":")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    host = host or "127.0.0.1"
    try:
        port = int(port_text) if port_text else default_port
    except ValueError:
        raise ValueError(f"'{text}' is not host:port") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"Port {port} is out of range")
    return host, port


def _content_length(values: list[str]) -> int | None:
    """The body length, or None when the header is ambiguous.

    Only plain digits count (int() would also take "+12", " 12" or "1_2"), and repeated headers must
    agree: a proxy in front of us and this listener reading a body differently is how requests get
    smuggled past the proxy (RFC 9112 §6.3).
    """
    if not values:
        return 0
    distinct = {value.strip() for value in values}
    if len(distinct) != 1:
        return None
    text = distinct.pop()
    if not text.isascii() or not text.isdigit():
        return None
    return int(text)
