"""The connection test's BILL side: settings, network, sign-in and organization, read access to each list the
connector reads, write permission (re-saving one vendor unchanged, never on production), webhooks."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable

from app.check.steps import (
    BILL,
    CHECK_RETRY,
    HTTP_TIMEOUT,
    NOT_ON_PRODUCTION,
    PASS,
    SKIPPED,
    VENDOR_SAMPLE,
    WARN,
    _Failure,
    _first,
    _network_steps,
    _readable,
    _Recorder,
    _Side,
    _target,
)
from app.clients.bill_budget import BUDGET_STOP_CODE
from app.domain.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectionFailedError,
    ConnectorError,
    NotFoundError,
    RetryableError,
)
from app.domain.models import ClassificationKind

BILL_READS = (
    ("vendors", "vendors"),
    ("bills", "bills"),
    ("payments", "payments"),
    ("chart_of_accounts", "chart of accounts"),
    ("classifications", "classifications (departments, locations, classes)"),
)


REQUEST_BUDGET = "Request budget"
BILL_BUSY_FIX = "BILL is busy or down for maintenance (see status.bill.com). Wait a few minutes and run the test again."


def _bill_unavailable_fix(exc: ConnectorError) -> str:
    """Say which of BILL's limits (or its session handling) stopped the test: each has another remedy."""
    if exc.code == BUDGET_STOP_CODE:
        return ("The connector keeps part of BILL's hourly requests for the organization's other integrations and "
                "sent nothing. Run the test again after the time named; to keep less for the others, lower the "
                "setting bill_budget_headroom_percent.")
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


def check_bill(connection, recorder: _Recorder, *, allow_write: bool, budget=None) -> None:
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
    later += [("write", "Write permission (vendors)"), ("webhooks", "Webhooks"), ("budget", REQUEST_BUDGET)]
    if side.failed:
        side.skip_rest(later)
        return

    client = BillClient(connection, retry=CHECK_RETRY, timeout=HTTP_TIMEOUT, budget=budget)
    try:
        _bill_service_steps(side, client, connection, allow_write)
    finally:
        with contextlib.suppress(Exception):
            client.logout()  # the test's own session should not linger for 35 minutes
        client.close()
    side.run("budget", REQUEST_BUDGET, lambda: _budget_step(client))


def _budget_step(client) -> tuple[str, str]:
    """This hour's BILL requests (the test's own included): a warning, never a failure, at the stop line."""
    status = client.budget.status()
    return (WARN if status.left == 0 or status.bill_refused else PASS), f"{status.text()}. {status.detail()}"


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
            return _readable(what, found)
        return read

    for key, what in BILL_READS:
        side.run(f"read.{key}", f"Read {what}", reader(key, what))

    def write() -> tuple[str, str]:
        if not allow_write or env == "production":
            return SKIPPED, NOT_ON_PRODUCTION
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
