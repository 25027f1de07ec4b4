"""The HTTP plumbing both sandboxes share: a threaded server, routing, fault injection, a request log.

A sandbox is a ``SandboxApp``: it declares routes and how a fault looks on its side (NAV and BILL
answer a rate limit differently). ``SandboxServer`` runs it on a loopback port in a background
thread. Faults are decided per request from a seeded RNG so a test run is repeatable.
"""

from __future__ import annotations

import json
import logging
import random
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger("navbill.sandbox")

MAX_BODY_BYTES = 5_000_000


@dataclass
class Request:
    method: str
    path: str  # percent-decoded path, no query
    raw_path: str  # as received, with query
    query: dict[str, str]  # first value of each parameter, decoded
    headers: dict[str, str]  # lower-cased names
    body: bytes
    client: tuple[str, int] = ("", 0)
    params: dict[str, str] = field(default_factory=dict)  # named groups from the route
    # State kept for the life of the TCP connection (one dict per keep-alive connection), e.g. the
    # identity an NTLM handshake established: NTLM authenticates the connection, not each request.
    connection: dict[str, Any] = field(default_factory=dict)

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        """Parse the body as JSON; raises ValueError with a readable reason."""
        if not self.body:
            raise ValueError("The request body is empty.")
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"The request body is not valid JSON: {exc}") from None


@dataclass
class Response:
    status: int = 200
    body: Any = None  # dict/list → JSON, str → text/plain, bytes → as is, None → empty
    headers: dict[str, Any] = field(default_factory=dict)  # a list value → the header once per item

    def encode(self) -> tuple[bytes, str]:
        if self.body is None:
            return b"", ""
        if isinstance(self.body, bytes):
            return self.body, self.headers.get("Content-Type", "application/octet-stream")
        if isinstance(self.body, str):
            return self.body.encode("utf-8"), "text/plain; charset=utf-8"
        return json.dumps(self.body, default=str).encode("utf-8"), "application/json; charset=utf-8"


class DropConnection(Exception):
    """Raised by a handler (or the fault injector) to close the socket without answering."""


@dataclass
class FaultSpec:
    """Switchable faults, each with a rate in [0, 1] (latency is a fixed delay in seconds).

    SPEC text: ``latency=20ms,5xx=0.2,ratelimit=0.05,drop=0.02,expire=0.1,seed=7``; a key may be
    limited to one side with a prefix: ``nav.5xx=0.5,bill.expire=1``.
    """

    latency: float = 0.0
    error_5xx: float = 0.0
    rate_limit: float = 0.0
    drop: float = 0.0
    expire: float = 0.0
    seed: int = 1

    _KEYS = {"latency": "latency", "5xx": "error_5xx", "ratelimit": "rate_limit", "drop": "drop",
             "expire": "expire", "seed": "seed"}

    @classmethod
    def parse(cls, spec: str | None, side: str = "") -> FaultSpec:
        faults = cls()
        for item in (spec or "").split(","):
            item = item.strip()
            if not item:
                continue
            if "=" not in item:
                raise ValueError(f"Fault '{item}' needs a value, e.g. 5xx=0.2")
            key, value = (part.strip() for part in item.split("=", 1))
            if "." in key:
                prefix, key = key.split(".", 1)
                if prefix not in ("nav", "bill"):
                    raise ValueError(f"Fault prefix '{prefix}' must be nav or bill")
                if side and prefix != side:
                    continue
            if key not in cls._KEYS:
                raise ValueError(f"Unknown fault '{key}'; known: {', '.join(cls._KEYS)}")
            if key == "latency":
                faults.latency = _parse_duration(value)
            elif key == "seed":
                faults.seed = int(value)
            else:
                rate = float(value)
                if not 0.0 <= rate <= 1.0:
                    raise ValueError(f"Fault rate for '{key}' must be between 0 and 1")
                setattr(faults, cls._KEYS[key], rate)
        return faults

    @property
    def any(self) -> bool:
        return any((self.latency, self.error_5xx, self.rate_limit, self.drop, self.expire))


def _parse_duration(value: str) -> float:
    value = value.strip().lower()
    if value.endswith("ms"):
        return float(value[:-2]) / 1000.0
    if value.endswith("s"):
        return float(value[:-1])
    return float(value) / 1000.0  # bare numbers are milliseconds


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    status: int
    started: float
    duration: float
    fault: str = ""


Handler = Callable[[Request], Response]


class SandboxApp:
    """Routes plus the side-specific shape of faults. Subclasses add routes in ``__init__``."""

    name = "sandbox"

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.faults = FaultSpec()
        self._rng = random.Random(self.faults.seed)
        self._rng_lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self._requests_lock = threading.Lock()
        self.state_lock = threading.RLock()  # handlers hold it while they touch the data

    # -- routing -------------------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method.upper(), re.compile(f"^{pattern}$"), handler))

    def dispatch(self, request: Request) -> Response:
        allowed = False
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if not match:
                continue
            if method != request.method:
                allowed = True
                continue
            request.params = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
            return handler(request)
        return self.not_found(request, method_not_allowed=allowed)

    # -- side-specific answers (override) -------------------------------------------------
    def not_found(self, request: Request, method_not_allowed: bool = False) -> Response:
        return Response(405 if method_not_allowed else 404, {"error": "not found"})

    def server_error(self, request: Request) -> Response:
        return Response(503, {"error": "Service unavailable"})

    def rate_limited(self, request: Request) -> Response:
        return Response(429, {"error": "Too many requests"}, {"Retry-After": "1"})

    def expire_session(self, request: Request) -> None:
        """Forget the caller's session/token so this request fails authentication."""

    def faults_apply_to(self, request: Request) -> bool:
        """Whether random faults may hit this request (a sandbox may exempt its control paths)."""
        return not request.path.startswith("/_sandbox")

    # -- faults ---------------------------------------------------------------------------
    def set_faults(self, faults: FaultSpec) -> None:
        with self._rng_lock:
            self.faults = faults
            self._rng = random.Random(faults.seed)

    def roll(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._rng_lock:
            return self._rng.random() < rate

    def inject_fault(self, request: Request) -> tuple[Response | None, str]:
        """Return (response to send instead, fault name) or (None, "") to serve normally."""
        faults = self.faults
        if faults.latency:
            time.sleep(faults.latency)
        if not faults.any or not self.faults_apply_to(request):
            return None, ""
        if self.roll(faults.drop):
            raise DropConnection()
        if self.roll(faults.error_5xx):
            return self.server_error(request), "5xx"
        if self.roll(faults.rate_limit):
            return self.rate_limited(request), "ratelimit"
        if self.roll(faults.expire):
            self.expire_session(request)
            return None, "expire"
        return None, ""

    # -- request log ----------------------------------------------------------------------
    def record(self, entry: RecordedRequest) -> None:
        with self._requests_lock:
            self.requests.append(entry)

    def count(self, method: str | None = None, path_contains: str = "") -> int:
        with self._requests_lock:
            return sum(
                1 for r in self.requests
                if (method is None or r.method == method) and path_contains in r.path
            )

    def reset_log(self) -> None:
        with self._requests_lock:
            self.requests.clear()


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle plus the client's delayed
    # ACK adds ~40 ms to every answer, which would make latency figures and test runs meaningless.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self.connection_state: dict[str, Any] = {}  # this handler instance lives as long as the connection

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.server.app.name, format % args)

    def _handle(self) -> None:
        app = self.server.app
        started = time.monotonic()
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._send(Response(413, {"error": "request too large"}))
            return
        body = self.rfile.read(length) if length else b""
        query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        request = Request(
            method=self.command,
            path=unquote(split.path),
            raw_path=self.path,
            query=query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            client=self.client_address,
            connection=self.connection_state,
        )
        fault = ""
        try:
            response, fault = app.inject_fault(request)
            if response is None:
                response = app.dispatch(request)
        except DropConnection:
            app.record(RecordedRequest(request.method, request.path, split.query, 0, started,
                                       time.monotonic() - started, fault or "drop"))
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        except Exception:  # a sandbox bug must show up as a 500, not a hung client
            log.exception("%s: handler failed for %s %s", app.name, request.method, request.path)
            response = app.server_error(request)
            response.status = 500
        app.record(RecordedRequest(request.method, request.path, split.query, response.status, started,
                                   time.monotonic() - started, fault))
        self._send(response)

    def _send(self, response: Response) -> None:
        payload, content_type = response.encode()
        self.send_response(response.status)
        headers = dict(response.headers)
        if content_type and "Content-Type" not in headers:
            headers["Content-Type"] = content_type
        headers["Content-Length"] = str(len(payload))
        for name, value in headers.items():
            for item in value if isinstance(value, list | tuple) else (value,):
                self.send_header(name, item)
        # One write for status line, headers and body (end_headers would flush the headers alone).
        self._headers_buffer.append(b"\r\n")
        if payload and self.command != "HEAD":
            self._headers_buffer.append(payload)
        self.wfile.write(b"".join(self._headers_buffer))
        self._headers_buffer = []

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: SandboxApp) -> None:
        self.app = app
        super().__init__(address, _RequestHandler)


class SandboxServer:
    """Runs a SandboxApp on loopback in a background thread. Use as a context manager."""

    def __init__(self, app: SandboxApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self._httpd = _Server((host, port), app)
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return self._httpd.server_address[0]

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=f"{self.app.name}-server",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SandboxClock:
    """The sandboxes' notion of now: real time plus an offset tests can advance.

    Subscription expiry (NAV: 3 days) and BILL's 35-minute idle session are judged against it,
    so a test can jump days ahead over a control endpoint instead of waiting.
    """

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def now(self):
        from datetime import UTC, datetime

        return datetime.fromtimestamp(self.time(), tz=UTC)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds
