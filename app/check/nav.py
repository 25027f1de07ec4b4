"""The connection test's NAV side: settings, network, which NAV answered (Business Central API v2.0 or the
classic published pages), sign-in and company, read access to each web service the connector reads (by page and
service name), the payment journal batch, write permission (never on production), webhooks."""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from collections.abc import Callable
from urllib.parse import urlsplit

from app.check.steps import (
    CHECK_RETRY,
    HTTP_TIMEOUT,
    NAV,
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
from app.domain.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectionFailedError,
    ConnectorError,
    RetryableError,
)
from app.domain.models import LOCAL_CURRENCY, UnreadableRecord

log = logging.getLogger("navbill.check")

# NAV web services the connector reads: (step key, what, OData service name, NAV page that must be published).
NAV_READS = (
    ("vendors", "vendors", "Vendor", "page 26 Vendor Card"),
    ("posted_invoices", "posted purchase invoices", "PostedPurchaseInvoices", "page 146 Posted Purchase Invoices"),
    ("gl_accounts", "G/L accounts", "ChartOfAccounts", "page 16 Chart of Accounts"),
    ("dimensions", "dimensions and dimension values", "Dimensions / DimensionValues",
     "pages 536 Dimensions and 537 Dimension Values"),
    ("vendor_ledger_entries", "vendor ledger entries", "VendorLedgerEntries", "page 29 Vendor Ledger Entries"),
)


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
        side.skip_rest(_nav_later_steps(online, allow_write))
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


CURRENCY_SAMPLE = 20  # posted invoices looked at: the local currency is the one nearly all of them are in


def _currency_step(client) -> tuple[str, ...]:
    """BILL bills are in US dollars and the connector converts nothing: say so before the first sync if this company's
    invoices are in another currency (Business Central names the local one: General Ledger Setup's LCY Code)."""
    try:
        sample = [i for i in itertools.islice(client.iter_posted_invoices(), CURRENCY_SAMPLE)
                  if not isinstance(i, UnreadableRecord)]
    except ConnectorError as exc:
        return SKIPPED, f"Posted invoices could not be read for their currency ({exc.message})."
    if not sample:
        return SKIPPED, "No posted purchase invoice yet: nothing says which currency this company books in."
    others = Counter(i.currency.strip().upper() for i in sample
                     if i.currency.strip().upper() not in ("", LOCAL_CURRENCY))
    if len(others) and sum(others.values()) == len(sample):
        code = others.most_common(1)[0][0]
        return (WARN, f"Currency: all {len(sample)} posted invoices looked at are in {code}, not "
                f"{LOCAL_CURRENCY}: BILL bills are in {LOCAL_CURRENCY} and the connector converts nothing, so each "
                "invoice would be held.",
                f"Connect a company that books in {LOCAL_CURRENCY}; if this one does, check General Ledger Setup's "
                f"LCY Code in NAV (it should say {LOCAL_CURRENCY}).")
    held = sum(others.values())
    return PASS, (f"Currency: invoices in {LOCAL_CURRENCY}" + (
        f"; {held} of the {len(sample)} looked at {'is' if held == 1 else 'are'} in another currency "
        f"({', '.join(sorted(others))}), held for you to enter in BILL by hand." if held else "."))


def _credit_memo_step(client) -> tuple[str, ...]:
    """Whether posted purchase credit memos can reach BILL as vendor credits: an optional step, a warning (never a
    failure) when this NAV does not offer them (classic pages 147/141 not published; BC before 22/23)."""
    from app.clients.nav.bcapi import BcApi
    from app.clients.nav.classic import (
        CREDIT_DOCUMENT_SERVICE,
        CREDIT_LINES_SERVICE,
        CREDIT_LIST_SERVICE,
        OPTIONAL_SERVICES,
    )

    backend = client.backend
    meanwhile = ("Meanwhile credit memos are not sent to BILL: BILL pays those invoices in full unless the credit "
                 "is entered in BILL by hand.")
    try:
        if isinstance(backend, BcApi):
            if backend.published("purchaseCreditMemos"):
                return PASS, ("Credit memos: API v2.0 has purchaseCreditMemos (Business Central 22 or later): posted "
                              "purchase credit memos become BILL vendor credits.")
            return (WARN, "Credit memos: API v2.0 has no purchaseCreditMemos (Business Central before 22). "
                    f"{meanwhile}",
                    "Optional: upgrade to Business Central 22 or later to have posted credit memos sent to BILL.")
        published = {service: backend.published(service) for service in
                     (CREDIT_LIST_SERVICE, CREDIT_LINES_SERVICE, CREDIT_DOCUMENT_SERVICE)}
    except ConnectorError as exc:
        return SKIPPED, (f"Could not ask NAV whether posted purchase credit memos can be read ({exc.message}); "
                         "the sync reads them where they are published.")
    pages = {service: (page, caption) for service, page, caption in OPTIONAL_SERVICES}
    pages[CREDIT_DOCUMENT_SERVICE] = (140, "Posted Purchase Credit Memo")
    lines_from = (CREDIT_LINES_SERVICE if published[CREDIT_LINES_SERVICE] else
                  CREDIT_DOCUMENT_SERVICE if published[CREDIT_DOCUMENT_SERVICE] else "")
    if published[CREDIT_LIST_SERVICE] and lines_from:
        detail = (f"Credit memos: pages 147/{pages[lines_from][0]} published: posted purchase credit memos become "
                  "BILL vendor credits")
        if not published[CREDIT_DOCUMENT_SERVICE]:
            return (WARN, f"{detail}, but without the vendor's own credit memo number (page 140 is not published).",
                    f"Optional: publish page 140 {pages[CREDIT_DOCUMENT_SERVICE][1]} as web service "
                    f"'{CREDIT_DOCUMENT_SERVICE}' to carry the vendor's credit memo number into BILL.")
        return PASS, f"{detail} (with the vendor's own memo number from page 140)."
    missing = [service for service in (CREDIT_LIST_SERVICE, CREDIT_LINES_SERVICE) if not published[service]]
    names = "; ".join(f"page {pages[service][0]} {pages[service][1]} as '{service}'" for service in missing)
    return (WARN, f"Credit memos: not published: {names}. {meanwhile}",
            f"Optional: in NAV open Web Services and add, as Object Type Page with Published ticked: {names} "
            f"(and page 140 Posted Purchase Credit Memo as '{CREDIT_DOCUMENT_SERVICE}' for the vendor's memo "
            "number). The next sync then sends the posted credit memos.")


def _nav_later_steps(online: bool, allow_write: bool) -> list[tuple[str, str]]:
    steps = [("instance", "Server instance" if not online else "Tenant and environment"),
             ("auth", "Authentication"), ("company", "Company"), ("backend", "Which NAV")]
    steps += [(f"read.{key}", f"Read {what}") for key, what, _s, _p in NAV_READS]
    steps += [("currency", "Currency"), ("credit_memos", "Credit memos"), ("posting_dates", "Allowed posting dates"),
              ("write", "Write permission (vendors)"),
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
            return _readable(what, found)
        return read

    for key, what, service, page in NAV_READS:
        side.run(f"read.{key}", f"Read {what}", reader(key, what, service, page))

    side.run("currency", "Currency", lambda: _currency_step(client))
    side.run("credit_memos", "Credit memos", lambda: _credit_memo_step(client))

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
            return SKIPPED, NOT_ON_PRODUCTION
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
