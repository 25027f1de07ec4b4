"""Security checks over real sockets: the webhook listener fuzzed with hostile requests, the listener's
bind address, and no secret in plain text after a run full of faults (retries, re-logins, errors).

The fuzzing complements tests/push (signatures, malformed JSON, sizes): here the requests are raw bytes
on a socket, so they can be what no HTTP client would send (header injection, bare LFs, NULs, conflicting
or absurd Content-Length, chunked bodies, unknown methods, odd paths, non-UTF-8 anywhere). After each
one the store is byte-for-byte unchanged, no event reached the engine, the answer is well-formed, and the
listener still serves.
"""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import app.log
from app.__main__ import main
from app.clients.bill_signature import compute_signature
from app.push.bill_webhooks import BillWebhookReceiver, parse_event
from app.push.listener import BILL_PATH, NAV_PATH, WebhookListener
from app.push.nav_webhooks import NavNotificationReceiver
from app.push.state import PushState
from app.store import Store
from tests.test_no_plaintext_secrets import (  # noqa: F401 - raw_log is a fixture
    DEMO_SECRETS,
    SANDBOX_SESSION_ID,
    raw_log,
    scan_files,
)

ROOT = Path(__file__).resolve().parents[2]
KEY = "bill-security-key-for-fuzzing-0123"
CLIENT_STATE = "nav-client-state-for-fuzzing-4567"
MAX_BODY = 8192


class Target:
    """A listener wired like ConnectorService: both routes, push state in the app's store file."""

    def __init__(self, folder: Path) -> None:
        self.database = folder / "navbill.sqlite3"
        self.store = Store(f"sqlite:///{self.database}")
        self.state = PushState(self.store.engine)
        self.events: list = []
        self.changes: list = []
        self.handshakes: list = []
        self.bill = BillWebhookReceiver(lambda: [KEY], self.state, self.events.append)
        self.nav = NavNotificationReceiver(lambda: [CLIENT_STATE], self.changes.extend,
                                           lambda: self.handshakes.append(1))
        self.listener = WebhookListener("127.0.0.1", 0, max_body_bytes=MAX_BODY)
        self.listener.route(BILL_PATH, self.bill)
        self.listener.route(NAV_PATH, self.nav)
        self.listener.start()

    def close(self) -> None:
        self.listener.stop()
        self.store.close()

    def dump(self) -> list[str]:
        connection = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True)
        try:
            return list(connection.iterdump())
        finally:
            connection.close()

    def send(self, raw: bytes) -> bytes:
        """Send raw bytes, close our side, read everything the listener answers."""
        with socket.create_connection(("127.0.0.1", self.listener.port), timeout=30) as sock:
            try:
                sock.sendall(raw)
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # it may answer (413, 431) and close before reading all we send
            answer = b""
            try:
                while chunk := sock.recv(65536):
                    answer += chunk
            except ConnectionResetError:
                pass
            return answer

    def still_serving(self) -> bool:
        answer = self.send(b"GET /probe HTTP/1.1\r\nHost: x\r\n\r\n")
        return answer.startswith(b"HTTP/1.1 404")


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """One listener for the whole fuzzing run (and the check after it)."""
    target = Target(tmp_path_factory.mktemp("fuzz"))
    yield target
    target.close()


@pytest.fixture
def fresh_target(tmp_path):
    target = Target(tmp_path)
    yield target
    target.close()


# -- request strategies ---------------------------------------------------------------------------
token = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_", min_size=1, max_size=20)
methods = st.one_of(st.sampled_from(["POST", "GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE",
                                     "CONNECT", "post", "POST ", "P\x00ST"]), token)
paths = st.one_of(
    st.sampled_from([BILL_PATH, NAV_PATH, BILL_PATH + "/", NAV_PATH + "//", "/bill//webhook", "/BILL/webhook",
                     "/bill/webhook/../webhook", "/bill/%77ebhook", "//bill/webhook", "*", "", "/",
                     "http://evil.example/bill/webhook", BILL_PATH + "?x=1&x=2", NAV_PATH + "?validationToken",
                     BILL_PATH + "#frag", "/" + "a" * 5000, BILL_PATH + "\x00", BILL_PATH + " HTTP/1.0"]),
    st.text(max_size=60).map(lambda s: "/" + s),
)
header_value = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["ok\r\nX-Injected: 1", "ok\nX-Injected: 1", "ok\rX-Injected: 1", "a\x00b", "\xff\xfe",
                     " " * 200, "x" * 70_000]),
)
header_name = st.one_of(st.sampled_from(["Content-Type", "Host", "Connection", "Expect", "X-Forwarded-For",
                                         "x-bill-sha-signature", "Transfer-Encoding", "Content-Encoding",
                                         "Authorization", "Bad Name", "Bad:Name", ""]), token)
bodies = st.one_of(
    st.binary(max_size=600),
    st.text(max_size=300).map(lambda s: s.encode("utf-16")),
    st.sampled_from([b"", b"{}", b"\xef\xbb\xbf{}", b'{"metadata": {"eventId": "e", "eventType": "vendor.updated"}}',
                     b'{"value": [{"clientState": "someone-else", "resource": "vendors(1)"}]}',
                     b'{"value": [{"clientState": "' + CLIENT_STATE.upper().encode() + b'"}]}',
                     b"\xc3\x28\xa0\xa1", b"\x00" * 64, b"[" * 5000]),
)


@st.composite
def raw_requests(draw) -> tuple[bytes, bytes]:
    """(raw request bytes, body). The body is signed with the real key only when it is not a valid
    BILL event (a valid signed event would rightly be accepted)."""
    method = draw(methods)
    path = draw(paths)
    body = draw(bodies)
    headers: list[tuple[str, str]] = [("Host", "127.0.0.1")]
    length_style = draw(st.sampled_from(["right", "right", "none", "huge", "negative", "text", "two", "short",
                                         "long", "chunked", "plus"]))
    lengths = {"right": [str(len(body))], "none": [], "huge": [str(10**15)], "negative": ["-5"],
               "text": ["twelve"], "two": [str(len(body)), str(len(body) + 7)], "short": [str(max(0, len(body) - 3))],
               "long": [str(len(body) + 50)], "chunked": [], "plus": [f"+{len(body)}"]}[length_style]
    headers += [("Content-Length", value) for value in lengths]
    if length_style == "chunked":
        headers.append(("Transfer-Encoding", draw(st.sampled_from(["chunked", "Chunked", "gzip, chunked"]))))
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n"
    signature = draw(st.sampled_from(["none", "real key", "other key", "garbage"]))
    if signature == "real key":
        try:
            parse_event(body)
            signature = "other key"  # a genuine event: do not sign it with the real key
        except (ValueError, RecursionError):
            headers.append(("x-bill-sha-signature", compute_signature(KEY, body)))
    if signature == "other key":
        headers.append(("x-bill-sha-signature", compute_signature("not-" + KEY, body)))
    elif signature == "garbage":
        headers.append(("x-bill-sha-signature", draw(header_value)))
    headers += draw(st.lists(st.tuples(header_name, header_value), max_size=4))
    if draw(st.booleans()) and draw(st.integers(0, 9)) == 0:
        headers += [(f"X-Many-{i}", "1") for i in range(150)]  # more headers than the server allows
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.1 extra", ""]))
    newline = draw(st.sampled_from(["\r\n", "\r\n", "\n"]))
    head = f"{method} {path} {version}".rstrip() + newline
    head += "".join(f"{name}: {value}{newline}" for name, value in headers) + newline
    return head.encode("utf-8", "surrogateescape"), body


STATUS_LINE = re.compile(rb"^HTTP/1\.[01] (\d{3}) ")
HTTP09_REFUSALS = {b"Not found", b"POST only", b"Unauthorized", b"Bad request", b"Bad Content-Length",
                   b"Content-Length required", b"Payload too large", b"Body shorter than Content-Length"}
ERROR_PAGE = re.compile(rb"^<!DOCTYPE HTML>.*<p>Error code: (\d{3})</p>", re.DOTALL)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow, HealthCheck.data_too_large])
@given(request=raw_requests())
def test_fuzzed_requests_change_nothing_and_the_listener_keeps_serving(target, request):
    before = target.dump()
    head, body = request
    answer = target.send(head + body)
    if answer:
        request_line = head.replace(b"\r\n", b"\n").split(b"\n", 1)[0]
        # http.server answers HTTP/0.9 (no version) and request lines it cannot parse with a bare body:
        # its error page, or one of the listener's refusals.
        match = STATUS_LINE.match(answer) or ERROR_PAGE.search(answer)
        if match is None and len(request_line.split()) == 2:
            assert answer in HTTP09_REFUSALS, f"{request_line!r} -> {answer[:200]!r}"
            status = 400
        else:
            assert match, f"not an HTTP answer: {answer[:200]!r}"
            status = int(match.group(1))
        headers_part = answer.split(b"\r\n\r\n", 1)[0]
        assert b"X-Injected" not in headers_part, "a request header was reflected into the answer's headers"
        handshake = b"validationToken=" in head.split(b"\n", 1)[0] and status == 200
        # The NAV route answers what it ignores with 202 "ignored", never 4xx (Business Central deletes every
        # subscription on a URL that answers 4xx); that it changed nothing is asserted below.
        ignored = status == 202 and b"\r\n\r\nignored" in answer
        assert status >= 400 or handshake or ignored, \
            f"a hostile request was accepted: {head[:300]!r} -> {answer[:200]!r}"
    assert target.events == [] and target.changes == [], "a hostile request reached the engine"
    assert target.dump() == before, "a hostile request changed the store"
    assert target.still_serving()


DEEPLY_NESTED = b"[" * 5000  # valid UTF-8, and json.loads gives up with RecursionError, not ValueError


def test_a_deeply_nested_body_is_refused_as_malformed_not_answered_with_a_500(fresh_target):
    """NAV notifications are parsed before their clientState can be checked, so anybody can send one.
    A body nested too deeply for the JSON parser is as malformed as any other: ignored (202 on the NAV route,
    since Business Central drops every subscription on a URL that answers 4xx; 400 on BILL's), and no
    traceback in the log for each such request (a 500 also makes a genuine sender retry)."""
    head = f"POST {NAV_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(DEEPLY_NESTED)}\r\n\r\n".encode()
    assert fresh_target.send(head + DEEPLY_NESTED).startswith(b"HTTP/1.1 202"), "NAV route"
    signature = compute_signature(KEY, DEEPLY_NESTED)
    head = (f"POST {BILL_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(DEEPLY_NESTED)}\r\n"
            f"x-bill-sha-signature: {signature}\r\n\r\n").encode()
    assert fresh_target.send(head + DEEPLY_NESTED).startswith(b"HTTP/1.1 400"), "BILL route (signed)"
    assert fresh_target.events == [] and fresh_target.changes == []


@pytest.mark.parametrize("lengths", [["+{n}"], ["{n}", "7"], ["7", "{n}"]], ids=["plus-sign", "conflicting",
                                                                           "conflicting-first-short"])
def test_an_ambiguous_content_length_is_refused(fresh_target, lengths):
    """Content-Length is digits only, and one value (RFC 9112 6.3): a reverse proxy in front of the
    listener (the documented set-up) may frame "+N" or two different lengths differently, which is how
    requests are smuggled past it. Even a correctly signed event must be refused with 400."""
    body = json.dumps({"metadata": {"eventId": f"evt-length-{'-'.join(lengths)}", "eventType": "vendor.updated"},
                       "vendor": {"id": "00901X"}}).encode()
    fields = "".join(f"Content-Length: {value.format(n=len(body))}\r\n" for value in lengths)
    head = (f"POST {BILL_PATH} HTTP/1.1\r\nHost: x\r\n{fields}"
            f"x-bill-sha-signature: {compute_signature(KEY, body)}\r\n\r\n").encode()
    before = fresh_target.dump()
    answer = fresh_target.send(head + body)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:100]
    assert fresh_target.events == [] and fresh_target.dump() == before


def test_after_the_fuzzing_a_genuine_event_is_still_accepted(target):
    """The fuzzed listener still works, and the 'nothing changed' checks above could see a change."""
    before = target.dump()
    body = json.dumps({"metadata": {"eventId": "evt-after-fuzz", "eventType": "vendor.updated",
                                    "subscriptionId": "s"}, "vendor": {"id": "00901X"}}).encode()
    head = (f"POST {BILL_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
            f"\r\nx-bill-sha-signature: {compute_signature(KEY, body)}\r\n\r\n").encode()
    assert target.send(head + body).startswith(b"HTTP/1.1 200")
    assert [e.event_id for e in target.events] == ["evt-after-fuzz"]
    assert target.dump() != before


def test_many_connections_that_never_finish_do_not_block_real_deliveries(fresh_target):
    """Senders that open a connection and stall mid-headers or mid-body hold a thread each, not the
    listener: a genuine delivery still gets its answer while they hang."""
    stalled = []
    try:
        for index in range(30):
            sock = socket.create_connection(("127.0.0.1", fresh_target.listener.port), timeout=30)
            if index % 2:
                sock.sendall(b"POST /bill/webhook HTTP/1.1\r\nHost: x\r\n")  # headers never end
            else:
                sock.sendall(b"POST /bill/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{")  # body stalls
            stalled.append(sock)
        assert fresh_target.still_serving()
    finally:
        for sock in stalled:
            sock.close()


# -- bind address ---------------------------------------------------------------------------------
def non_loopback_address() -> str | None:
    """An IPv4 address of this machine that is not loopback, if it has one."""
    candidates = []
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.123", 9))  # no packet is sent; this only picks the outgoing interface
        candidates.append(probe.getsockname()[0])
    except OSError:
        pass
    finally:
        probe.close()
    try:
        candidates += [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    except OSError:
        pass
    for address in candidates:
        if not address.startswith("127.") and address != "0.0.0.0":
            return address
    return None


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def other_address():
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to try the listener on")
    return address


def test_the_listener_bound_to_loopback_is_not_reachable_on_another_local_address(other_address):
    with WebhookListener("127.0.0.1", 0) as listener:
        assert reachable("127.0.0.1", listener.port)
        assert not reachable(other_address, listener.port), (
            f"the listener configured for 127.0.0.1 answers on {other_address}")
    # The control: a listener bound to every address does answer there, so the check above can fail.
    with WebhookListener("0.0.0.0", 0) as everywhere:
        assert reachable(other_address, everywhere.port)


def test_serve_listens_only_on_the_configured_address(other_address, tmp_path):
    process = subprocess.Popen([sys.executable, "main.py", "--home", str(tmp_path / "home"), "serve", "--demo",
                                "--listen", "127.0.0.1:0", "--run-for", "60"], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        port = None
        for line in process.stdout:
            lines.append(line)
            found = re.search(r"Listening on http://127\.0\.0\.1:(\d+)", line)
            if found:
                port = int(found.group(1))
                break
        assert port, "serve never said where it listens:\n" + "".join(lines)
        assert reachable("127.0.0.1", port)
        assert not reachable(other_address, port)
    finally:
        process.terminate()
        threading.Thread(target=process.stdout.read, daemon=True).start()  # drain so it can exit
        process.wait(timeout=60)


# -- secrets after a faulty run -------------------------------------------------------------------
def test_no_secret_in_plain_text_after_a_sync_full_of_faults(tmp_path, capfd, raw_log):  # noqa: F811
    """Retries, dropped connections, 5xx answers and expired sessions (re-logins: new sessionIds) write
    the most error text; none of it may carry a credential or a sessionId."""
    home = tmp_path / "home"
    registered_before = set(app.log._secrets)
    faults = "latency=1ms,5xx=0.25,ratelimit=0.05,drop=0.05,expire=0.15,seed=5"
    assert main(["--home", str(home), "-v", "sync", "--demo", "--json", "--faults", faults]) in (0, 1)

    seen = {f"registered secret #{i}": value
            for i, value in enumerate(sorted(set(app.log._secrets) - registered_before)) if len(value) >= 8}
    session_ids = [v for v in seen.values() if v.startswith("!sbx")]
    assert len(session_ids) >= 2, "no session expired and was renewed: the faults did not bite"
    secrets = {**DEMO_SECRETS, **seen}
    leaks = scan_files(home, secrets)
    out, err = capfd.readouterr()
    console = out + err
    for label, value in secrets.items():
        if value in console:
            leaks.append(f"{label} on the console")
        if any(value in line for line in raw_log.lines):
            leaks.append(f"{label} in a log message as written by the code")
    if SANDBOX_SESSION_ID.search(console.encode()):
        leaks.append("a BILL sessionId on the console")
    assert not leaks, "secrets in plain text after a faulty run:\n" + "\n".join(sorted(set(leaks)))
    # the scan covered the run's database and the run's log (the faults bit: the session was renewed, above; with
    # bulk writes a run makes few enough requests that a 5xx may all be retried inside the client, unlogged)
    log_text = (home / "logs" / "navbill.log").read_text(encoding="utf-8", errors="replace")
    assert "Sync run" in log_text
    assert any(p.suffix == ".sqlite3" for p in home.rglob("*"))
