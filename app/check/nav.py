"""The connection test: for NAV and for BILL, step by step, what works and how to fix what does not.

Steps per side: the settings are complete, DNS, TCP to the port, TLS (when https), the server instance /
authentication / company or organization, read access to every entity the connector reads, write
permission, webhook support. Each step ends ``pass``, ``fail`` or ``skipped`` with a plain sentence;
a failure carries a sentence on how to fix it. When a step fails, the later steps of that side are
skipped (they could only fail for the same reason).

Write permission is tried only on profiles that are not production: the test re-saves one existing
vendor with the values it already has (NAV: PATCH with its ETag; BILL: PATCH with its own fields),
which proves the user may modify vendors without creating or changing any data. On production the
step is skipped on purpose: the test never writes to production; the first sync reports a missing
permission per record, with the same advice.

``run_checks`` is Qt-free; the window runs it in a worker thread (``progress`` is called after each
step, ``cancel`` is polled between steps). ``main`` is ``python main.py check [--demo] [--json]``.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

from app.clients.retry import RetryPolicy
from app.domain.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectionFailedError,
    ConnectorError,
    NotFoundError,
    RetryableError,
)
from app.domain.models import ClassificationKind
from app.log import redact

log = logging.getLogger("navbill.check")

PASS, FAIL, SKIPPED = "pass", "fail", "skipped"
NAV, BILL = "NAV", "BILL"

TCP_TIMEOUT = 5.0
HTTP_TIMEOUT = 15.0
VENDOR_SAMPLE = 20  # vendors read by the read check; one of them is re-saved unchanged by the write check
# One quick second try, so a single blip does not fail the test, but a broken service fails fast.
CHECK_RETRY = RetryPolicy(max_attempts=2, base_delay=0.2, max_delay=1.0)

# NAV web services the connector reads: (step key, what, OData service name, NAV page that must be published).
NAV_READS = (
    ("vendors", "vendors", "Vendor", "page 26 Vendor Card"),
    ("posted_invoices", "posted purchase invoices", "PostedPurchaseInvoices", "page 146 Posted Purchase Invoices"),
    ("gl_accounts", "G/L accounts", "ChartOfAccounts", "page 16 Chart of Accounts"),
    ("dimensions", "dimensions and dimension values", "Dimensions / DimensionValues",
     "pages 536 Dimensions and 537 Dimension Values"),
    ("vendor_ledger_entries", "vendor ledger entries", "VendorLedgerEntries", "page 29 Vendor Ledger Entries"),
)


@dataclass
class CheckStep:
    side: str  # "NAV" | "BILL" | "Vault"
    key: str  # stable id, e.g. "tcp", "read.vendors"
    title: str
    status: str  # pass | fail | skipped
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
            mark = {PASS: "PASS", FAIL: "FAIL", SKIPPED: "skip"}.get(step.status, step.status)
            lines.append(f"  {mark:<4}  {step.title:<{width}}  {step.detail}")
            if step.status == FAIL and step.fix:
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

    def run(self, key: str, title: str, action: Callable[[], tuple[str, str] | str]) -> bool:
        """``action`` returns a detail (pass) or (status, detail); raises ``_Failure`` to fail."""
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
        status, detail = (PASS, result) if isinstance(result, str) else result
        self.recorder.add(self.side, key, title, status, detail, seconds=time.monotonic() - started)
        return True


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


# -- NAV ---------------------------------------------------------------------------------------


def _nav_error(exc: ConnectorError, *, what: str, service: str = "", page: str = "", user: str = "") -> _Failure:
    if isinstance(exc, AuthenticationError):
        return _Failure(f"NAV refused access to {what}: {exc.message}",
                        f"Give NAV user '{user}' a permission set that can read {what} (e.g. the connector's own "
                        "set or D365 BASIC + D365 VENDOR, VIEW), then run the test again.")
    if isinstance(exc, ConfigurationError) and service:
        return _Failure(f"The web service for {what} is not published: {exc.message}",
                        f"In NAV open Web Services, add {page} with service name '{service}', tick Published, "
                        "and run the test again.")
    if isinstance(exc, RetryableError):
        return _Failure(f"NAV could not answer for {what}: {exc.message}",
                        "The NAV service tier is overloaded or restarting. Wait a minute and run the test "
                        "again; if it keeps failing, look at the NAV server's Windows event log.")
    return _Failure(f"Reading {what} failed: {exc.message}", "Check the NAV settings and the NAV server's event log.")


def check_nav(connection, recorder: _Recorder, *, allow_write: bool,
              payment_journal: tuple[str, str, str, str] | None = None) -> None:
    from app.clients.nav import NavClient

    side = _Side(recorder, NAV)
    online = connection.mode == "online"
    instance = connection.server_instance

    def settings() -> str:
        missing = []
        if not connection.base_url:
            missing.append("server address")
        if online:
            missing += [label for label, value in (("tenant", connection.tenant), ("client id", connection.client_id),
                                                   ("client secret", connection.client_secret)) if not value]
        else:
            if not instance:
                missing.append("server instance")
            if not connection.use_windows_auth:
                missing += [label for label, value in (("user name", connection.user),
                                                       ("web-service access key", connection.web_service_key))
                            if not value]
            else:
                missing += [label for label, value in (
                    ("Windows user (DOMAIN\\user)", connection.user),
                    ("Windows password", connection.windows_password or connection.web_service_key)) if not value]
        if not connection.company:
            missing.append("company")
        if missing:
            raise _Failure(f"Missing: {', '.join(missing)}.", "Fill these in on the NAV page of the profile.")
        how = ("OAuth client credentials" if online else
               f"Windows authentication as {connection.user}" if connection.use_windows_auth
               else f"user {connection.user} + access key")
        return f"{'Business Central online' if online else 'NAV on-premises'}, {how}."

    side.run("settings", "Settings complete", settings)
    host = urlsplit(connection.base_url or "").hostname or "the NAV server"
    port = _target(connection.base_url).port if _target(connection.base_url) else 7048
    _network_steps(
        side, connection.base_url,
        settings_fix="Enter the NAV server as http://server:7048 (or https://...), the OData port of the service tier.",
        dns_fix=("Check the server name in the NAV settings (spelling, or the full name such as navsrv01.corp.local), "
                 "or enter its IP address."),
        closed_meaning=("the NAV service tier is stopped, OData is not enabled, or a firewall blocks the port"
                        if not online else "Business Central online cannot be reached from this network"),
        tcp_fix=(f"On {host}, start the NAV server instance '{instance}' (NAV Server Administration), check that "
                 f"OData services are enabled on port {port}, and ask IT to allow TCP port {port} from this "
                 "computer through the firewall." if not online else
                 "Check this computer's internet connection, proxy and firewall."),
    )
    if side.failed:
        for key, title in _nav_later_steps(online, allow_write):
            side.run(key, title, lambda: "")
        return

    client = NavClient(connection, retry=CHECK_RETRY, page_size=1, timeout=HTTP_TIMEOUT)
    try:
        _nav_service_steps(side, client, connection, allow_write)
        if payment_journal is not None:  # the window's first-run test comes before the payments page
            side.run("journal", "Payment journal", lambda: _payment_journal_step(client, payment_journal))
    finally:
        client.close()


def _which_nav(client, connection) -> str:
    """Which backend answered, and for the classic pages: every service published, captions in English."""
    from app.clients.nav.classic import ClassicPages

    backend = client.backend
    chosen = "found" if connection.flavor == "auto" else "as set in the profile"
    if not isinstance(backend, ClassicPages):
        hint = ("" if connection.company_id else
                f" Put company id {backend.company_id} in the profile to save a look-up at every start.")
        return (f"Business Central API v2.0 ({chosen}): company '{connection.company}' has id {backend.company_id}; "
                f"payments are posted through the journal's post action.{hint}")
    try:
        missing = backend.missing_services()
    except ConnectorError as exc:
        raise _nav_error(exc, what="the list of published web services") from None
    if missing:
        names = "; ".join(f"page {page} {caption} as '{service}'" for service, page, caption in missing)
        raise _Failure(f"NAV OData pages ({chosen}), but {len(missing)} web service(s) the connector needs are not "
                       f"published: {names}.",
                       f"In NAV open Web Services and add, as Object Type Page with Published ticked: {names}. "
                       "Then run the test again.")
    try:
        translated = backend.captions_translated()
    except ConnectorError as exc:
        raise _nav_error(exc, what="G/L accounts", service="ChartOfAccounts", page="page 16 Chart of Accounts",
                         user=connection.user) from None
    if translated:
        raise _Failure("NAV sends option values as translated captions (for example the G/L account type is not "
                       "'Posting'): the connector reads English and German captions but writes English ones, "
                       "which a server in another language refuses.",
                       "On the NAV service tier set ServicesOptionFormat to OptionString (NAV Server "
                       "Administration, OData Services), or give the NAV user the language English (United "
                       "States), then run the test again.")
    return (f"NAV OData v4 pages ({chosen}): every web service is published. Payments are written to the "
            "journal batch and wait there for the accountant to post them; changes are polled (these pages "
            "have no webhooks).")


def _payment_journal_step(client, journal: tuple[str, str, str, str] | None) -> tuple[str, str]:
    """Whether the connector's payment journal batch is there and holds nothing but the connector's lines."""
    from app.clients.nav.backend import JournalRow
    from app.clients.nav.bcapi import BcApi

    template, batch, balancing_type, balancing_account = journal or ("", "", "", "")
    if not (template and batch):
        return SKIPPED, ("No payment journal batch is set yet: payments wait until Settings → Payments names one "
                         "(vendors and invoices sync meanwhile).")
    backend = client.backend
    try:
        if isinstance(backend, BcApi):
            found = backend.vendor_payment_journal(batch)
            if found is None:
                if balancing_type == "G/L Account":
                    return PASS, (f"Vendor payment journal {batch.upper()} does not exist yet; the first payment "
                                  f"creates it with balancing account {balancing_account}.")
                raise _Failure(f"Vendor payment journal {batch.upper()} does not exist, and the API can only create "
                               "one with a G/L balancing account.",
                               f"In NAV's Payment Journal create batch {batch.upper()} with bank account "
                               f"{balancing_account} as its balancing account, or choose a G/L account in Settings.")
            number = str(found.get("balancingAccountNumber") or "")
            if balancing_account and number not in ("", balancing_account):
                raise _Failure(f"Vendor payment journal {batch.upper()} balances against {number}, but Settings say "
                               f"{balancing_account}.", "Make the two the same, in NAV or in Settings → Payments.")
            return PASS, f"Vendor payment journal {batch.upper()} exists (balancing account {number or 'not set'})."
        rows: list[JournalRow] = backend.payment_journal([], template, batch).lines()
    except ConnectorError as exc:
        raise _nav_error(exc, what=f"journal batch {template}/{batch}", service="PaymentJournal",
                         page="page 256 Payment Journal") from None
    foreign = [row for row in rows if not row.connectors]
    if foreign:
        documents = ", ".join(sorted({row.document or f"line {row.line_no}" for row in foreign}))
        raise _Failure(f"Journal batch {template}/{batch} holds {len(foreign)} line(s) the connector did not write "
                       f"(document {documents}): the accountant's posting would post them with the BILL payments.",
                       "Post or delete those lines in NAV, or give the connector a batch of its own in Settings.")
    waiting = len(rows)
    return PASS, (f"Journal batch {template}/{batch} can be read" + (
        f"; {waiting} line(s) of BILL payments wait there for the accountant to post." if waiting else
        " and is empty. The accountant posts the BILL payments the connector writes there."))


def _nav_later_steps(online: bool, allow_write: bool) -> list[tuple[str, str]]:
    steps = [("instance", "Server instance" if not online else "Tenant and environment"),
             ("auth", "Authentication"), ("company", "Company"), ("backend", "Which NAV")]
    steps += [(f"read.{key}", f"Read {what}") for key, what, _s, _p in NAV_READS]
    steps += [("posting_dates", "Allowed posting dates"), ("write", "Write permission (vendors)"),
              ("webhooks", "Webhooks"), ("journal", "Payment journal")]
    return steps


def _nav_service_steps(side: _Side, client, connection, allow_write: bool) -> None:
    from app.clients.nav import NavClient

    online = connection.mode == "online"
    companies: dict[str, object] = {}
    auth_error: list[ConnectorError] = []

    def instance() -> str:
        # The instance is in the URL path before any credentials are looked at: a wrong one answers 404.
        try:
            client.ping()
        except AuthenticationError as exc:
            auth_error.append(exc)
        except ConfigurationError as exc:
            text = exc.message
            if "server instance" in text or "tenant" in text.lower():
                raise _Failure(
                    f"{text[0].upper()}{text[1:]}",
                    "Enter the server instance shown in NAV Server Administration (NAV 2018's default is "
                    "DynamicsNAV110); it is the part of the OData URL right after the port." if not online else
                    "Check the tenant (directory) id and the environment name, e.g. 'production'.") from None
            companies["error"] = exc
        except ConnectionFailedError as exc:
            raise _Failure(exc.message, "Check that the NAV service tier is running and reachable.") from None
        except RetryableError as exc:
            raise _nav_error(exc, what="the company list") from None
        except ConnectorError as exc:
            raise _Failure(f"NAV answered unexpectedly: {exc.message}",
                           "Check the server address, port and instance; the port may belong to another "
                           "service (SOAP is 7047, OData 7048).") from None
        return (f"Server instance '{connection.server_instance}' answers." if not online
                else "The tenant and environment answer.")

    def auth() -> str:
        if auth_error:
            exc = auth_error[0]
            if online:
                fix = ("Check the client id and secret of the Azure AD app registration (secrets expire) and that "
                       "the app is registered in Business Central (Azure Active Directory Applications page) "
                       "with permissions.")
            elif connection.use_windows_auth:
                fix = "Check the Windows user name and password, and that this Windows user is a NAV user."
            else:
                fix = (f"In NAV open the user card of '{connection.user}', copy its Web Service Access Key (or "
                       "generate a new one) and enter it here exactly; the server's credential type must be "
                       "NavUserPassword.")
            if connection.use_windows_auth and not online:
                if "does not accept Windows authentication" in exc.message:
                    raise _Failure(f"{exc.message[0].upper()}{exc.message[1:]}",
                                   "Switch Windows authentication off and enter the NAV user name and web "
                                   "service access key, or ask IT to set the instance's credential type to Windows.")
                raise _Failure(f"Windows account refused: NAV did not accept '{connection.user}' with this "
                               "password (wrong user name or password, or the account is not a NAV user).", fix)
            raise _Failure(f"NAV refused the credentials: {exc.message}", fix)
        who = ("the Azure AD app" if online else f"Windows account {connection.user}" if connection.use_windows_auth
               else f"user {connection.user}")
        return f"NAV accepted {who}."

    def company() -> str:
        error = companies.get("error")
        if isinstance(error, ConfigurationError):
            raise _Failure(f"{error.message[0].upper()}{error.message[1:]}",
                           "Enter the company name exactly as NAV shows it (Companies found are listed above), "
                           "including spaces and punctuation.")
        return f"Company '{connection.company}' found."

    side.run("instance", "Server instance" if not online else "Tenant and environment", instance)
    side.run("auth", "Authentication", auth)
    side.run("company", "Company", company)
    side.run("backend", "Which NAV", lambda: _which_nav(client, connection))

    sample_vendors: list = []

    def reader(key: str, what: str, service: str, page: str) -> Callable[[], str]:
        def read() -> str:
            try:
                if key == "vendors":
                    # Look at a handful to find one safe to re-save for the write check.
                    sample_vendors.extend(itertools.islice(client.iter_vendors(), VENDOR_SAMPLE))
                    found = bool(sample_vendors)
                elif key == "posted_invoices":
                    found = _first(client.iter_posted_invoices()) is not None
                elif key == "gl_accounts":
                    found = _first(client.iter_gl_accounts()) is not None
                elif key == "dimensions":
                    found = _first(client.iter_dimensions()) is not None
                    _first(client.iter_dimension_values())
                else:
                    client.find_payments("NAVBILL-CONNECTION-TEST")  # a filtered read that returns nothing
                    found = True
            except ConnectorError as exc:
                raise _nav_error(exc, what=what, service=service, page=page, user=connection.user) from None
            return f"{what[0].upper()}{what[1:]} can be read{'' if found else ' (none exist yet)'}."
        return read

    for key, what, service, page in NAV_READS:
        side.run(f"read.{key}", f"Read {what}", reader(key, what, service, page))

    def posting_dates() -> tuple[str, str]:
        try:
            allowed = client.allowed_posting_dates()
        except ConnectorError as exc:
            return SKIPPED, (f"General Ledger Setup could not be read ({exc.message}); a payment dated outside "
                             "NAV's allowed posting dates is refused by NAV and waits in Failed postings.")
        if not allowed.known:
            return SKIPPED, ("Business Central API v2.0 has no General Ledger Setup, and page 118 is not published "
                             "as web service GeneralLedgerSetup: the connector cannot see closed periods, so a "
                             "payment dated in one is refused by NAV and waits in Failed postings. Publish page 118 "
                             "as GeneralLedgerSetup to have such payments held or moved (closed_period_action).")
        return PASS, (f"Payments may be posted {allowed.describe()} ({allowed.source}); one dated before that is "
                      "held or moved to the first allowed date (setting closed_period_action).")

    side.run("posting_dates", "Allowed posting dates", posting_dates)

    def write() -> tuple[str, str]:
        if not allow_write:
            return SKIPPED, ("Not tried on a production profile: the connection test never changes production "
                             "data. The first sync reports a missing permission per record.")
        candidate = next((v for v in sample_vendors if not v.fields.is_1099 and not v.fields.inactive), None)
        if candidate is None:
            return SKIPPED, "No unblocked vendor to re-save; write permission is checked by the first sync."
        # A fresh client has no cached copy, so update_vendor sends every field with its current value: a
        # real write the server must permit, which changes nothing.
        probe = NavClient(connection, retry=CHECK_RETRY, page_size=1, timeout=HTTP_TIMEOUT)
        try:
            probe.update_vendor(candidate.number, candidate.fields, candidate.etag)
        except ConnectorError as exc:
            raise _Failure(
                f"NAV refused to save vendor {candidate.number} unchanged: {exc.message}",
                f"Give NAV user '{connection.user}' modify permission on Vendor and insert permission on Gen. "
                "Journal Line (needed to record payments), and make sure the Vendor Card web service is not "
                "read-only.") from None
        finally:
            probe.close()
        return PASS, f"Vendor {candidate.number} was saved back unchanged: the user may modify vendors."

    side.run("write", "Write permission (vendors)", write)

    def webhooks() -> tuple[str, str]:
        try:
            supported = client.webhooks_supported()
        except ConnectorError as exc:
            return SKIPPED, f"Could not ask about webhooks ({exc.message}); the connector polls instead."
        if supported:
            # The company id comes from the profile or, when it is blank, from the company name (Which NAV).
            return PASS, "Business Central API subscriptions are available: changes arrive within seconds."
        return SKIPPED, ("This NAV version has no webhook API (classic OData pages); the connector polls on its "
                         "schedule instead. Nothing to fix.")

    side.run("webhooks", "Webhooks", webhooks)


# -- BILL --------------------------------------------------------------------------------------

BILL_READS = (
    ("vendors", "vendors"),
    ("bills", "bills"),
    ("payments", "payments"),
    ("chart_of_accounts", "chart of accounts"),
    ("classifications", "classifications (departments, locations, classes)"),
)


BILL_BUSY_FIX = "BILL is busy or down for maintenance (see status.bill.com). Wait a few minutes and run the test again."


def _bill_unavailable_fix(exc: ConnectorError) -> str:
    """Say which of BILL's limits (or its session handling) stopped the test: each has another remedy."""
    if exc.code == "BDC_1322":
        return ("Another program is using the same BILL developer key at this moment (BILL allows 3 requests at "
                "once per organization). Pause other BILL integrations or wait a minute, then run the test again.")
    if exc.code == "BDC_1144":
        return ("This developer key has used BILL's 20,000 requests for this hour. Wait until the start of the "
                "next hour, then run the test again.")
    if exc.code == "BDC_1109":
        return ("BILL ended the session again right after signing in. If another program signs in with the same "
                "BILL user, give the connector a user of its own; otherwise wait a few minutes and try again.")
    return BILL_BUSY_FIX


def _bill_read_error(exc: ConnectorError, what: str) -> _Failure:
    if isinstance(exc, AuthenticationError) and exc.code == "BDC_1109":
        return _Failure(f"BILL could not answer for {what}: {exc.message}", _bill_unavailable_fix(exc))
    if isinstance(exc, AuthenticationError):
        return _Failure(f"BILL did not allow reading {what}: {exc.message}",
                        "Give this BILL user the Administrator or Accountant role (Settings › Users), then run "
                        "the test again.")
    if isinstance(exc, RetryableError):
        return _Failure(f"BILL could not answer for {what}: {exc.message}", _bill_unavailable_fix(exc))
    return _Failure(f"Reading {what} failed: {exc.message}", "Check the BILL address of the profile.")


def check_bill(connection, recorder: _Recorder, *, allow_write: bool) -> None:
    from app.clients.bill import BillClient

    side = _Side(recorder, BILL)
    env = connection.environment

    def settings() -> str:
        missing = [label for label, value in (("username", connection.username), ("password", connection.password),
                                              ("organization ID", connection.organization_id),
                                              ("developer key", connection.dev_key)) if not value]
        if missing:
            raise _Failure(f"Missing: {', '.join(missing)}.", "Fill these in on the BILL page of the profile.")
        return f"{env.capitalize()} environment, user {connection.username}."

    side.run("settings", "Settings complete", settings)
    target = _target(connection.base_url)
    _network_steps(
        side, connection.base_url,
        settings_fix="Choose the sandbox or production environment; the address is filled in from it.",
        dns_fix="Check this computer's internet connection and DNS (or the proxy), then run the test again.",
        closed_meaning="BILL cannot be reached from this network",
        tcp_fix=(f"Check the internet connection, and ask IT to allow outgoing https (port "
                 f"{target.port if target else 443}) to {target.host if target else 'BILL'} through the firewall "
                 "or proxy."),
    )
    later = [("login", "Login"), ("organization", "Organization")]
    later += [(f"read.{key}", f"Read {what}") for key, what in BILL_READS]
    later += [("write", "Write permission (vendors)"), ("webhooks", "Webhooks")]
    if side.failed:
        for key, title in later:
            side.run(key, title, lambda: "")
        return

    client = BillClient(connection, retry=CHECK_RETRY, timeout=HTTP_TIMEOUT)
    try:
        _bill_service_steps(side, client, connection, allow_write)
    finally:
        with contextlib.suppress(Exception):
            client.logout()  # the test's own session should not linger for 35 minutes
        client.close()


def _bill_service_steps(side: _Side, client, connection, allow_write: bool) -> None:
    env = connection.environment
    session: dict = {}
    org_error: list[ConnectorError] = []

    def login() -> str:
        try:
            session.update(client.ping())
        except ConfigurationError as exc:
            if "organization" in exc.message.lower():
                org_error.append(exc)  # login itself worked up to the organization: reported next
                return "Username, password and developer key accepted."
            raise _Failure(exc.message, "Check the BILL address of the profile.") from None
        except AuthenticationError as exc:
            if exc.code == "BDC_1102" or "developer key" in exc.message:
                fix = (f"Copy the developer key of the {env} environment from BILL (Settings › Sync & Integrations "
                       "› Manage Developer Keys) and enter it again; a sandbox key does not work in production and "
                       "the other way round.")
                raise _Failure(exc.message if exc.message.startswith("BILL") else f"Bad developer key: {exc.message}",
                               fix) from None
            if exc.code == "BDC_1101" or "password" in exc.message:
                fix = (f"Sign in at the BILL {env} web site with the same username and password to confirm them, "
                       "then enter them again here. Sandbox and production are separate accounts.")
                raise _Failure(exc.message if exc.message.startswith("BILL") else
                               f"Bad username or password: {exc.message}", fix) from None
            detail = exc.message if exc.message.startswith("BILL") else f"BILL refused the login: {exc.message}"
            if exc.code == "BDC_1109":
                raise _Failure(detail, _bill_unavailable_fix(exc)) from None
            raise _Failure(detail, "Check username, password, organization ID and developer key, and that the "
                                   "BILL address is BILL's API (…/connect).") from None
        except ConnectionFailedError as exc:
            raise _Failure(exc.message, "Check the internet connection and proxy.") from None
        except RetryableError as exc:
            raise _Failure(f"BILL could not log in right now: {exc.message}", _bill_unavailable_fix(exc)) from None
        except ConnectorError as exc:
            raise _Failure(f"BILL answered unexpectedly: {exc.message}",
                           "Check the BILL address of the profile.") from None
        return "Username, password and developer key accepted."

    def organization() -> str:
        fix = (f"Enter the organization ID of the {env} account (it starts with 008; BILL shows it under Settings "
               "› Company profile) and make sure this user belongs to that organization.")
        if org_error:
            raise _Failure(f"Wrong organization: {org_error[0].message}", fix)
        found = str(session.get("organizationId") or "")
        if found and found != connection.organization_id:
            raise _Failure(f"BILL signed in to organization {found}, not {connection.organization_id}.", fix)
        return f"Organization {found or connection.organization_id} ({env})."

    side.run("login", "Login", login)
    side.run("organization", "Organization", organization)

    sample_vendors: list = []

    def reader(key: str, what: str) -> Callable[[], str]:
        def read() -> str:
            try:
                if key == "vendors":
                    sample_vendors.extend(itertools.islice(client.iter_vendors(), VENDOR_SAMPLE))
                    found = bool(sample_vendors)
                elif key == "bills":
                    found = _first(client.iter_bills()) is not None
                elif key == "payments":
                    found = _first(client.iter_payments()) is not None
                elif key == "chart_of_accounts":
                    found = _first(client.iter_chart_of_accounts()) is not None
                else:
                    found = False
                    for kind in (ClassificationKind.DEPARTMENT, ClassificationKind.LOCATION,
                                 ClassificationKind.ACCOUNTING_CLASS):
                        found = _first(client.iter_classifications(kind)) is not None or found
            except ConnectorError as exc:
                raise _bill_read_error(exc, what) from None
            return f"{what[0].upper()}{what[1:]} can be read{'' if found else ' (none exist yet)'}."
        return read

    for key, what in BILL_READS:
        side.run(f"read.{key}", f"Read {what}", reader(key, what))

    def write() -> tuple[str, str]:
        if not allow_write or env == "production":
            return SKIPPED, ("Not tried on a production profile: the connection test never changes production "
                             "data. The first sync reports a missing permission per record.")
        candidate = next((v for v in sample_vendors if not v.fields.inactive), None)
        if candidate is None:
            return SKIPPED, "No active vendor to re-save; write permission is checked by the first sync."
        try:
            client.update_vendor(candidate.id, candidate.fields)
        except NotFoundError:
            return SKIPPED, "The sample vendor disappeared meanwhile; write permission is checked by the first sync."
        except ConnectorError as exc:
            raise _Failure(f"BILL refused to save vendor {candidate.id} unchanged: {exc.message}",
                           "Give this BILL user a role that may create vendors and bills (Administrator or "
                           "Accountant).") from None
        return PASS, f"Vendor {candidate.id} was saved back unchanged: the user may modify vendors."

    side.run("write", "Write permission (vendors)", write)

    def webhooks() -> tuple[str, str]:
        try:
            subscriptions = client.list_subscriptions()
        except ConnectorError as exc:
            return SKIPPED, (f"The BILL webhook API did not answer ({exc.message}); the connector polls instead. "
                             "Nothing to fix for the sync itself.")
        return PASS, f"BILL webhooks are available ({len(subscriptions)} subscription(s) on this organization)."

    side.run("webhooks", "Webhooks", webhooks)


# -- entry points ------------------------------------------------------------------------------


def run_checks(nav_connection, bill_connection, progress: Callable[[CheckStep], None] | None = None,
               cancel: Callable[[], bool] | threading.Event | None = None, *,
               allow_write: bool = True, payment_journal: tuple[str, str, str, str] | None = None) -> CheckReport:
    """Check both sides (either connection may be None to check one side only).

    ``allow_write=False`` (production profiles) skips the write-permission step. ``payment_journal`` is the
    settings' (template, batch, balancing account type, balancing account). Never raises for a failed check:
    every failure is a step of the report.
    """
    report = CheckReport()
    recorder = _Recorder(report, progress, cancel)
    try:
        if nav_connection is not None:
            _guarded(functools.partial(check_nav, payment_journal=payment_journal), nav_connection, recorder, NAV,
                     allow_write)
        if bill_connection is not None:
            _guarded(check_bill, bill_connection, recorder, BILL, allow_write)
    except _Cancelled:
        report.cancelled = True
    return report


def _guarded(check: Callable, connection, recorder: _Recorder, side: str, allow_write: bool) -> None:
    try:
        check(connection, recorder, allow_write=allow_write)
    except _Cancelled:
        raise
    except Exception as exc:  # a bug in a step must show as a failed step, not kill the UI worker
        log.exception("connection test for %s stopped unexpectedly", side)
        recorder.add(side, "internal", "Connection test", FAIL, f"The test stopped unexpectedly ({type(exc).__name__}).",
                     "Send the log file to support.")


def store_step(store) -> CheckStep:
    """The connector's own database as one step: ``PRAGMA quick_check`` and where its backups are (SQLite only;
    a team store on PostgreSQL is the database server's to check)."""
    from pathlib import Path

    from app.store.integrity import check_database

    if store.url.get_backend_name() != "sqlite" or not store.url.database:
        return CheckStep("Store", "store", "Database", SKIPPED,
                         "A team store on PostgreSQL: its server checks and backs it up (pg_amcheck, pg_dump).")
    ok, line = check_database(Path(store.url.database))
    if ok:
        return CheckStep("Store", "store", "Database", PASS, line)
    return CheckStep("Store", "store", "Database", FAIL, line,
                     "Close the window and stop serve, then restore a backup with the command shown.")


def vault_step(vault) -> CheckStep:
    """The vault's status as one step (the CLI and the window show it above the two sides)."""
    status = vault.backend_status()
    if not status.unlocked:
        from app.setup.vault import PASSPHRASE_ENV

        return CheckStep("Vault", "vault", "Credentials vault", FAIL, status.message,
                         f"Give the vault passphrase in {PASSPHRASE_ENV} (or run the test in a terminal, which asks "
                         "for it), or unlock the system keyring, and try again." if vault.mode != "" else
                         "Set a vault passphrase with `navbill vault set-passphrase`, then save the profile's "
                         "secrets with `navbill profile secret NAME KEY`.")
    return CheckStep("Vault", "vault", "Credentials vault", PASS, status.message)


NETWORK_STEPS = ("dns", "tcp", "tls")  # a failure here: the system could not be reached (exit code 3)


def exit_code(report: CheckReport) -> int:
    """0 every step passed (or was skipped on purpose); 3 a side could not be reached; 2 a setting, login or
    permission must change; 1 the test was cancelled or stopped unexpectedly."""
    if report.ok:
        return 0
    failures = report.failures()
    if report.cancelled or any(step.key == "internal" for step in failures):
        return 1
    if any(step.key in NETWORK_STEPS or "could not be reached" in step.detail.lower()
           or "could not answer" in step.detail.lower() for step in failures):
        return 3
    return 2


def main(args) -> int:
    """``python main.py check [--demo] [--json]``: exit 0 only when every step passes (see ``exit_code``)."""
    from app.log import setup_logging
    from app.setup.config import app_paths

    paths = app_paths(getattr(args, "home", None)).ensure()
    setup_logging(paths.log_dir, level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
                  console=False)
    as_json = bool(getattr(args, "json", False))

    def show(step: CheckStep) -> None:
        if not as_json:  # live progress on stderr; the table (or JSON) alone goes to stdout
            print(f"  {step.side:<5} {step.status:<7} {step.title}", file=sys.stderr, flush=True)

    # A ConnectorError (no profile, a damaged store, a wrong vault passphrase) goes to the command line's one
    # error path: one sentence on stderr, or a JSON object with --json, and exit code 2.
    if args.demo:
        report = _run_demo(paths, show, getattr(args, "nav_flavor", None))
    else:
        report = _run_profile(paths, getattr(args, "profile", None), show)
    code = exit_code(report)
    if as_json:
        from app.cli.errors import STATUS

        data = report.to_dict()
        data.update(status="cancelled" if report.cancelled else STATUS.get(code, "failed"), exit_code=code)
        failures = report.failures()
        if failures:
            data["error"] = f"{failures[0].side}: {failures[0].detail} {failures[0].fix}".strip()
        print(json.dumps(data, indent=2))
    else:
        print("\n" + report.as_table())
        failures = report.failures()
        if failures:
            first = failures[0]
            print(f"{first.side} {first.title.lower()}: {first.detail} {first.fix}".strip(), file=sys.stderr)
    return code


def _run_demo(paths, show: Callable[[CheckStep], None], nav_flavor: str | None = None) -> CheckReport:
    from app.sandbox.runner import running_sandboxes
    from app.setup.profiles import (
        ProfileStore,
        build_bill_connection,
        build_nav_connection,
        demo_profile,
        demo_secrets,
    )
    from app.setup.vault import DEMO_PASSPHRASE, Vault

    # A database and profile file of its own, made fresh each time: the demo must never add a profile to
    # the user's real list, switch the active one, or meet a real vault kept under the system keyring.
    folder = paths.data_dir / "check-demo"
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "check-demo.sqlite3"
    for leftover in (database, folder / "profiles.json"):
        leftover.unlink(missing_ok=True)
    vault = Vault.open_with_passphrase(f"sqlite:///{database}", DEMO_PASSPHRASE)
    store = ProfileStore(folder, vault)
    with running_sandboxes(seed="demo", nav_flavor=nav_flavor) as sandboxes:
        profile = store.save(demo_profile(sandboxes.nav_url, sandboxes.bill_url), demo_secrets())
        first = vault_step(vault)
        show(first)
        from app.engine.demo import DEMO_SETTINGS

        report = run_checks(build_nav_connection(profile, vault), build_bill_connection(profile, vault),
                            progress=show, allow_write=not profile.is_production,
                            payment_journal=_journal_of(DEMO_SETTINGS))
    report.steps.insert(0, first)
    return report


def _journal_of(settings) -> tuple[str, str, str, str]:
    return (settings.journal_template, settings.journal_batch, settings.balancing_account_type,
            settings.balancing_account_number)


def _run_profile(paths, profile_name: str | None, show: Callable[[CheckStep], None]) -> CheckReport:
    from app.setup.profiles import ProfileStore, build_bill_connection, build_nav_connection
    from app.setup.vault import Vault
    from app.store import open_store

    # Open the store first, as sync and serve do: it turns a damaged or locked file into a clear StoreError.
    database = open_store(paths.store_url)
    vault = Vault.open_for_headless(database.engine)
    store = ProfileStore(paths, vault)
    profile = store.get(profile_name) if profile_name else store.active()
    if profile is None:
        raise ConfigurationError("No connection profile is set up yet. Add one with `navbill profile add NAME "
                                 "KEY=VALUE...` (or in the window), or run `navbill check --demo` to try the "
                                 "sandboxes.", code="no-profile")
    if not vault.is_unlocked and vault.mode == "passphrase" and sys.stdin is not None and sys.stdin.isatty():
        from app.cli.errors import CliError
        from app.cli.unlock import unlock

        with contextlib.suppress(CliError):
            unlock(vault, "check")  # asks for the passphrase on the terminal; a wrong one is the vault's error
    first = vault_step(vault)
    show(first)
    database_step = store_step(database)
    show(database_step)
    if not vault.is_unlocked:
        return CheckReport([database_step, first])
    from app.engine.settings import EngineSettings

    report = run_checks(build_nav_connection(profile, vault), build_bill_connection(profile, vault),
                        progress=show, allow_write=not profile.is_production,
                        payment_journal=_journal_of(EngineSettings.load(database)))
    report.steps[0:0] = [database_step, first]
    return report
