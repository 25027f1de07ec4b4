"""What every side of the connection test shares: a step and the report, the recorder that runs steps in order
(skipping the rest of a side after a failure, honouring cancel), and the network steps (DNS, TCP, TLS)."""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

from app.clients.retry import RetryPolicy
from app.log import redact

log = logging.getLogger("navbill.check")

PASS, FAIL, SKIPPED = "pass", "fail", "skipped"
WARN = "warning"  # works, but something optional is missing: said with what to do, never a failure (exit code 0)
NAV, BILL = "NAV", "BILL"

TCP_TIMEOUT = 5.0
HTTP_TIMEOUT = 15.0
VENDOR_SAMPLE = 20  # vendors read by the read check; one of them is re-saved unchanged by the write check
# One quick second try, so a single blip does not fail the test, but a broken service fails fast.
CHECK_RETRY = RetryPolicy(max_attempts=2, base_delay=0.2, max_delay=1.0)


@dataclass
class CheckStep:
    side: str  # "NAV" | "BILL" | "Vault"
    key: str  # stable id, e.g. "tcp", "read.vendors"
    title: str
    status: str  # pass | fail | skipped | warning
    detail: str = ""  # what was found, one sentence
    fix: str = ""  # for a failure: what to do about it
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status != FAIL


@dataclass
class CheckReport:
    steps: list[CheckStep] = field(default_factory=list)
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return not self.cancelled and all(step.ok for step in self.steps)

    def step(self, side: str, key: str) -> CheckStep | None:
        return next((s for s in self.steps if s.side == side and s.key == key), None)

    def failures(self) -> list[CheckStep]:
        return [s for s in self.steps if s.status == FAIL]

    def to_dict(self) -> dict:
        return {"ok": self.ok, "cancelled": self.cancelled, "steps": [asdict(s) for s in self.steps]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def as_table(self) -> str:
        lines = []
        width = max((len(s.title) for s in self.steps), default=10)
        side = None
        for step in self.steps:
            if step.side != side:
                side = step.side
                lines.append(f"\n{side}")
            mark = {PASS: "PASS", FAIL: "FAIL", SKIPPED: "skip", WARN: "WARN"}.get(step.status, step.status)
            lines.append(f"  {mark:<4}  {step.title:<{width}}  {step.detail}")
            if step.status in (FAIL, WARN) and step.fix:
                lines.append(f"  {'':<4}  {'':<{width}}  → {step.fix}")
        verdict = "Cancelled." if self.cancelled else ("All checks passed." if self.ok else
                                                      f"{len(self.failures())} check(s) failed.")
        lines.append(f"\n{verdict}")
        return "\n".join(lines).lstrip("\n")


class _StepFailed(Exception):
    """Ends a side's sequence: this step failed, the rest are skipped."""


class _Recorder:
    def __init__(self, report: CheckReport, progress: Callable[[CheckStep], None] | None,
                 cancel: Callable[[], bool] | threading.Event | None) -> None:
        self.report = report
        self.progress = progress
        self._cancel = cancel

    def cancelled(self) -> bool:
        if self._cancel is None:
            return False
        if isinstance(self._cancel, threading.Event):
            return self._cancel.is_set()
        return bool(self._cancel())

    def add(self, side: str, key: str, title: str, status: str, detail: str = "", fix: str = "",
            seconds: float = 0.0) -> CheckStep:
        # Second line of defence: a message from a server or a library must not carry a secret.
        step = CheckStep(side, key, title, status, redact(detail), redact(fix), round(seconds, 3))
        self.report.steps.append(step)
        if status == FAIL:
            log.info("check %s %s failed: %s", side, key, step.detail)
        if self.progress is not None:
            try:
                self.progress(step)
            except Exception:  # a broken progress display must not break the test itself
                log.exception("check progress callback failed")
        return step


class _Side:
    """Runs one side's steps in order; after a failure the remaining ones are recorded as skipped."""

    def __init__(self, recorder: _Recorder, side: str) -> None:
        self.recorder = recorder
        self.side = side
        self.failed = False

    def run(self, key: str, title: str, action: Callable[[], tuple[str, ...] | str]) -> bool:
        """``action`` returns a detail (pass), (status, detail) or (status, detail, fix); raises ``_Failure`` to
        fail."""
        if self.recorder.cancelled():
            raise _Cancelled()
        if self.failed:
            self.recorder.add(self.side, key, title, SKIPPED, "Not tried: an earlier step failed.")
            return False
        started = time.monotonic()
        try:
            result = action()
        except _Failure as failure:
            self.failed = True
            self.recorder.add(self.side, key, title, FAIL, failure.detail, failure.fix, time.monotonic() - started)
            return False
        status, detail, *fix = (PASS, result) if isinstance(result, str) else result
        self.recorder.add(self.side, key, title, status, detail, fix[0] if fix else "",
                          seconds=time.monotonic() - started)
        return True

    def skip_rest(self, steps: Iterable[tuple[str, str]]) -> None:
        """After a failed settings or network step: the side's later steps (key, title), each recorded as not
        tried, so the report lists every step of the side."""
        for key, title in steps:
            self.run(key, title, lambda: "")


class _Failure(Exception):
    def __init__(self, detail: str, fix: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fix = fix


class _Cancelled(Exception):
    pass


# -- network steps (shared) --------------------------------------------------------------------


@dataclass
class _Target:
    scheme: str
    host: str
    port: int


def _target(url: str) -> _Target | None:
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return _Target(parts.scheme, parts.hostname, port)


def _dns(target: _Target, fix: str) -> str:
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise _Failure(f"The name '{target.host}' cannot be found ({getattr(exc, 'strerror', None) or exc}).",
                       fix) from None
    addresses = sorted({info[4][0] for info in infos})
    if addresses == [target.host]:
        return f"{target.host} is an IP address; no name to look up."
    return f"{target.host} is {', '.join(addresses[:3])}."


def _tcp(target: _Target, closed_meaning: str, fix: str, timeout: float = TCP_TIMEOUT) -> str:
    try:
        with socket.create_connection((target.host, target.port), timeout=timeout):
            pass
    except ConnectionRefusedError:
        raise _Failure(f"Nothing answers on port {target.port} of {target.host}: {closed_meaning}.", fix) from None
    except TimeoutError:
        raise _Failure(f"No answer from port {target.port} of {target.host} within {timeout:g} s: a firewall is "
                       f"probably dropping the connection, or {closed_meaning.split(', or ')[0]}.", fix) from None
    except OSError as exc:
        raise _Failure(f"Port {target.port} of {target.host} cannot be reached ({exc.strerror or exc}).",
                       fix) from None
    return f"Port {target.port} of {target.host} accepts connections."


def _tls(target: _Target) -> tuple[str, str]:
    if target.scheme != "https":
        local = target.host in ("localhost", "127.0.0.1", "::1")
        note = "" if local else " Credentials cross the network unencrypted; prefer https outside a trusted LAN."
        return SKIPPED, f"Plain HTTP, no TLS to check.{note}"
    context = ssl.create_default_context()
    try:
        with socket.create_connection((target.host, target.port), timeout=TCP_TIMEOUT) as raw:
            with context.wrap_socket(raw, server_hostname=target.host) as tls:
                version = tls.version()
                cert = tls.getpeercert() or {}
    except ssl.SSLCertVerificationError as exc:
        raise _Failure(f"The server's certificate is not trusted: {exc.verify_message}.",
                       "Install the issuing (company) root certificate on this computer, renew an expired "
                       "certificate, or use the host name the certificate was issued for.") from None
    except (ssl.SSLError, OSError) as exc:
        raise _Failure(f"The TLS handshake with {target.host}:{target.port} failed ({exc}).",
                       "Check that this port speaks https (not plain http), and that the server allows "
                       "TLS 1.2 or newer.") from None
    expires = cert.get("notAfter", "")
    return PASS, f"{version}, certificate valid{f' until {expires}' if expires else ''}."


def _network_steps(side: _Side, url: str, settings_fix: str, dns_fix: str, closed_meaning: str,
                   tcp_fix: str) -> None:
    target = _target(url)

    def settings() -> str:
        if target is None:
            raise _Failure(f"The address '{url or '(empty)'}' is not a usable http(s) URL.", settings_fix)
        return f"{target.scheme}://{target.host}:{target.port}"

    side.run("address", "Address", settings)
    if target is None:
        for key, title in (("dns", "DNS"), ("tcp", "TCP port"), ("tls", "TLS")):
            side.run(key, title, lambda: "")
        return
    side.run("dns", f"DNS {target.host}", lambda: _dns(target, dns_fix))
    side.run("tcp", f"TCP port {target.port}", lambda: _tcp(target, closed_meaning, tcp_fix))
    side.run("tls", "TLS", lambda: _tls(target))


# The write step on a production profile (both sides): skipped, and why that is fine.
NOT_ON_PRODUCTION = ("Not tried on a production profile: the connection test never changes production data. The "
                     "first sync reports a missing permission per record.")


def _readable(what: str, found: bool) -> str:
    """A read step's detail: ``what`` (a list of records) can be read, or none exist yet."""
    return f"{what[0].upper()}{what[1:]} can be read{'' if found else ' (none exist yet)'}."


def _first(items: Iterable) -> object | None:
    """The first item of a (lazy, paged) iterator, without reading further pages."""
    iterator: Iterator = iter(items)
    try:
        return next(iterator)
    except StopIteration:
        return None
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()
