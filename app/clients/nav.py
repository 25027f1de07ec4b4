"""The NAV / Business Central client: OData v4 pages for data, the BC API v2.0 for webhooks.

Reads stream page by page (following ``@odata.nextLink``), so a 100,000-vendor company never sits in
memory at once. Writes follow NAV's rules: PATCH with the entity's ETag in If-Match, payments only as
NEW journal lines that are then posted (posted entries are never touched).

Failures become the typed errors of ``app.domain.errors`` with messages an AP clerk can act on.
Messages are built from status codes, NAV error codes and record keys only, never from headers,
so the web-service key, client secret and tokens never reach a log line.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from app.clients.retry import RetryPolicy
from app.domain.errors import (
    AuthenticationError,
    ConcurrencyError,
    ConfigurationError,
    ConnectionFailedError,
    NotFoundError,
    RateLimitError,
    RecordError,
    RetryableError,
    UnknownOutcomeError,
)
from app.domain.models import (
    VENDOR_SYNC_FIELDS,
    Dimension,
    DimensionValue,
    GLAccount,
    InvoiceLine,
    JournalLine,
    NavVendor,
    PostedInvoice,
    PostedPayment,
    VendorFields,
)

log = logging.getLogger("navbill.nav")

SYSTEM = "NAV"
API_SCOPE = "https://api.businesscentral.dynamics.com/.default"
RETRYABLE_STATUS = {429, 502, 503, 504}

# VendorFields attribute → NAV Vendor page field.
VENDOR_FIELD_MAP = {
    "name": "Name", "address_line1": "Address", "address_line2": "Address_2", "city": "City", "state": "County",
    "postal_code": "Post_Code", "country": "Country_Region_Code", "email": "E_Mail", "phone": "Phone_No",
    "tax_id": "Federal_ID_No",
}
VENDOR_SYNC_ATTRS = tuple(VENDOR_SYNC_FIELDS)
SEEN_VENDORS_LIMIT = 5000
DEFAULT_1099_CODE = "MISC-07"  # the code NAV's US localization uses for "nonemployee compensation"


@dataclass
class NavConnection:
    mode: str = "onprem"  # "onprem" (NavUserPassword or Windows) | "online" (OAuth client credentials)
    base_url: str = "http://localhost:7048"  # online: https://api.businesscentral.dynamics.com/v2.0/<tenant>/<env>
    server_instance: str = "DynamicsNAV110"
    company: str = ""
    user: str = ""  # NavUserPassword: the NAV user name; Windows auth: the Windows account, DOMAIN\user
    web_service_key: str = ""
    # Windows auth (the server instance's credential type is Windows): NAV authenticates the Windows
    # account itself over NTLM, so the secret is that account's Windows password, not a web-service key.
    use_windows_auth: bool = False
    windows_password: str = ""
    tenant: str = ""
    client_id: str = ""
    client_secret: str = ""
    token_url: str = ""  # e.g. https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token
    company_id: str = ""  # BC API companies(<id>); needed for webhooks
    use_api: bool = False  # reserved: read through the BC API v2.0 instead of OData pages (not used yet)

    def __repr__(self) -> str:  # never show secrets in a repr that might end up in a log
        return (f"NavConnection(mode={self.mode!r}, base_url={self.base_url!r}, "
                f"server_instance={self.server_instance!r}, company={self.company!r}, user={self.user!r})")

    @property
    def port(self) -> int:
        parts = urlsplit(self.base_url)
        return parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def odata_root(self) -> str:
        base = self.base_url.rstrip("/")
        return f"{base}/ODataV4" if self.mode == "online" else f"{base}/{self.server_instance}/ODataV4"

    @property
    def api_root(self) -> str:
        base = self.base_url.rstrip("/")
        return f"{base}/api/v2.0" if self.mode == "online" else f"{base}/{self.server_instance}/api/v2.0"

    @property
    def company_root(self) -> str:
        return f"{self.odata_root}/Company('{quote(self.company.replace(chr(39), chr(39) * 2), safe='')}')"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value or 0))


def _datetime(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _date(value: Any) -> date:
    return date.fromisoformat(str(value)[:10])


class NavClient:
    def __init__(self, connection: NavConnection, retry: RetryPolicy | None = None, page_size: int = 1000,
                 timeout: float = 30) -> None:
        if connection.use_windows_auth:
            try:
                import requests_ntlm  # type: ignore[import-not-found]  # noqa: F401
            except ImportError:
                raise ConfigurationError(
                    "Windows authentication needs the requests-ntlm package, which is not installed. "
                    "Use NAV user name + web service access key (NavUserPassword) instead, or install it.",
                    system=SYSTEM) from None
        self.connection = connection
        self.retry = retry or RetryPolicy()
        self.page_size = page_size
        self.timeout = timeout
        self.call_count = 0
        self._session = requests.Session()
        self._token: str = ""
        self._token_expiry = 0.0
        self._token_lock = threading.Lock()
        self._global_dimensions: tuple[str, str] | None = None
        self._seen_vendors: OrderedDict[str, NavVendor] = OrderedDict()
        if connection.use_windows_auth:
            from requests_ntlm import HttpNtlmAuth  # type: ignore[import-not-found]

            # user is DOMAIN\user (or user@domain.local). Profiles saved before windows_password existed
            # kept the Windows password in the key field, so that is the fallback.
            self._session.auth = HttpNtlmAuth(connection.user,
                                              connection.windows_password or connection.web_service_key)
        elif connection.mode != "online":
            self._session.auth = (connection.user, connection.web_service_key)

    def close(self) -> None:
        self._session.close()

    # -- auth -------------------------------------------------------------------------------
    def _bearer(self, refresh: bool = False) -> str:
        with self._token_lock:
            if refresh or not self._token or time.time() >= self._token_expiry - 60:
                self._fetch_token()
            return self._token

    def _fetch_token(self) -> None:
        connection = self.connection
        url = connection.token_url or f"https://login.microsoftonline.com/{connection.tenant}/oauth2/v2.0/token"
        form = {"grant_type": "client_credentials", "client_id": connection.client_id,
                "client_secret": connection.client_secret, "scope": API_SCOPE}
        response = self._send("POST", url, data=form, idempotent=True, authenticate=False)
        if response.status_code in (400, 401):
            raise AuthenticationError("the Azure AD app's client id or secret was refused when asking for a token.",
                                      system=SYSTEM, code=f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise self._error(response, "")
        body = response.json()
        self._token = body["access_token"]
        self._token_expiry = time.time() + float(body.get("expires_in", 3600))

    # -- transport --------------------------------------------------------------------------
    def _send(self, method: str, url: str, *, idempotent: bool, authenticate: bool = True, record: str = "",
              **kwargs: Any) -> requests.Response:
        """One logical request with retries. Non-idempotent requests are never resent once sent."""
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            headers = dict(kwargs.pop("headers", None) or {})
            kwargs["headers"] = headers
            headers.setdefault("Accept", "application/json")
            if authenticate and self.connection.mode == "online":
                headers["Authorization"] = f"Bearer {self._bearer()}"
            self.call_count += 1
            try:
                response = self._session.request(method, url, timeout=self.timeout, **kwargs)
            except requests.ConnectionError as exc:
                sent = not _refused_before_sending(exc)
                if sent and not idempotent:
                    raise UnknownOutcomeError(
                        "the request was sent but no answer came back; it may or may not have been saved. "
                        "Look before trying again.", system=SYSTEM, record=record, code="connection lost") from None
                if attempt >= self.retry.max_attempts:
                    raise self._connection_error(sent) from None
                self.retry.wait(attempt)
                continue
            except PermissionError:  # requests-ntlm: the server broke off the NTLM handshake
                raise AuthenticationError(
                    "NAV did not complete the Windows (NTLM) sign-in: it sent no NTLM challenge. Check that the "
                    "server instance's credential type is Windows.", system=SYSTEM, record=record,
                    code="NTLM handshake") from None
            except requests.Timeout:
                if not idempotent:
                    raise UnknownOutcomeError(
                        f"NAV did not answer within {self.timeout:g} s; the change may or may not have been saved.",
                        system=SYSTEM, record=record, code="timeout") from None
                if attempt >= self.retry.max_attempts:
                    raise RetryableError(f"NAV did not answer within {self.timeout:g} s.", system=SYSTEM,
                                         record=record, code="timeout") from None
                self.retry.wait(attempt)
                continue
            if response.status_code == 401 and authenticate and self.connection.mode == "online" and not refreshed:
                refreshed = True  # the token may have expired early or been revoked: one fresh token
                with self._token_lock:
                    self._token = ""
                attempt -= 1
                continue
            if response.status_code in RETRYABLE_STATUS:
                # 429/503 mean the request was not processed, so even a POST may be resent.
                retry_after = _retry_after(response)
                if attempt >= self.retry.max_attempts:
                    return response
                self.retry.wait(attempt, retry_after)
                continue
            return response

    def _connection_error(self, sent: bool) -> ConnectionFailedError:
        port = self.connection.port
        host = urlsplit(self.connection.base_url).hostname or "the NAV server"
        if not sent:
            return ConnectionFailedError(
                f"nothing answers on port {port} at {host}. Check that the NAV service tier is running, "
                f"that OData web services are enabled on port {port}, and that no firewall blocks it.",
                system=SYSTEM, code="connection refused")
        return ConnectionFailedError(f"the connection to {host}:{port} was dropped before NAV answered.",
                                     system=SYSTEM, code="connection dropped")

    def _error(self, response: requests.Response, record: str) -> Exception:
        status = response.status_code
        code, message = "", ""
        try:
            error = response.json().get("error", {})
            if isinstance(error, dict):
                code, message = str(error.get("code", "")), str(error.get("message", ""))
        except (ValueError, AttributeError):
            pass
        label = code or f"HTTP {status}"
        if status == 401 and self.connection.use_windows_auth and self.connection.mode != "online":
            offered = response.headers.get("WWW-Authenticate", "").lower()
            if "ntlm" not in offered and "negotiate" not in offered:
                return AuthenticationError(
                    "NAV does not accept Windows authentication on this server instance (its credential type "
                    "is not Windows). Switch Windows authentication off and use the NAV user name and web "
                    "service access key instead.", system=SYSTEM, record=record, code=label)
            return AuthenticationError(
                f"NAV refused the Windows account '{self.connection.user}': wrong user name or password, or "
                "the account is not set up as a NAV user. Check the Windows user (DOMAIN\\user) and password "
                "in the NAV settings.", system=SYSTEM, record=record, code=label)
        if status == 401:
            what = ("the Azure AD token was refused" if self.connection.mode == "online"
                    else f"the web-service access key was refused for user '{self.connection.user}'")
            return AuthenticationError(f"{what}. Check the user name and key in the NAV settings.",
                                       system=SYSTEM, record=record, code=label)
        if status == 412 or code == "Request_EntityChanged":
            return ConcurrencyError("someone changed this record in NAV since it was read.", system=SYSTEM,
                                    record=record, code=label)
        if code == "Internal_CompanyNotFound":
            return ConfigurationError(f"the company '{self.connection.company}' does not exist in NAV. "
                                      "Check the company name (wrong company).", system=SYSTEM, code=label)
        if status == 404 and "server instance" in message:
            return ConfigurationError(f"the server instance '{self.connection.server_instance}' does not exist on "
                                      f"this server (wrong instance). NAV 2018's default is DynamicsNAV110.",
                                      system=SYSTEM, code=label)
        if code == "BadRequest_ResourceNotFound" and not record:
            return ConfigurationError(f"a web service is not published in NAV: {message}", system=SYSTEM, code=label)
        if status == 429:
            return RateLimitError("NAV is throttling requests (too many requests); the sync will try again later.",
                                  retry_after=_retry_after(response), system=SYSTEM, record=record, code=label)
        if status >= 500:
            return RetryableError(f"NAV answered with a server error ({status}); it will be tried again later.",
                                  system=SYSTEM, record=record, code=label)
        if status == 404:
            return NotFoundError(f"not found in NAV ({message or 'no such record'}).", system=SYSTEM,
                                 record=record, code=label)
        return RecordError(f"NAV refused the request: {message or f'HTTP {status}'}", system=SYSTEM,
                           record=record, code=label)

    def _json(self, response: requests.Response) -> Any:
        return json.loads(response.content.decode("utf-8") or "null", parse_float=Decimal)

    def _get(self, url: str, params: dict | None = None, record: str = "",
             headers: dict | None = None) -> dict:
        response = self._send("GET", url, params=params, idempotent=True, record=record, headers=headers)
        if response.status_code != 200:
            raise self._error(response, record)
        return self._json(response)

    def number_for_id(self, entity_set: str, system_id: str) -> str:
        """The ``number`` of a BC API record named by its id (GUID), as webhook notifications name records."""
        if not self.connection.company_id:
            raise ConfigurationError("the company id is not set, so records named by id cannot be looked up.",
                                     system=SYSTEM, record=f"{entity_set} {system_id}")
        url = f"{self.connection.api_root}/companies({self.connection.company_id})/{entity_set}({system_id})"
        return str(self._get(url, record=f"{entity_set} {system_id}").get("number") or "")

    def _iter_pages(self, service: str, params: dict | None = None, record: str = "") -> Iterator[dict]:
        url: str | None = f"{self.connection.company_root}/{service}"
        query = params
        prefer = {"Prefer": f"odata.maxpagesize={self.page_size}"}
        while url:
            body = self._get(url, params=query, record=record, headers=prefer)
            yield from body.get("value", [])
            url = body.get("@odata.nextLink")
            query = None  # the next link carries the whole query

    # -- connection test --------------------------------------------------------------------
    def ping(self) -> dict:
        """Check instance, credentials and company; answers the company record."""
        body = self._get(f"{self.connection.odata_root}/Company")
        names = [c.get("Name") for c in body.get("value", [])]
        if self.connection.company not in names:
            raise ConfigurationError(f"the company '{self.connection.company}' does not exist in NAV (wrong "
                                     f"company). Companies found: {', '.join(map(str, names)) or 'none'}.",
                                     system=SYSTEM, code="Internal_CompanyNotFound")
        return self._get(self.connection.company_root)

    # -- vendors ----------------------------------------------------------------------------
    def _vendor(self, row: dict) -> NavVendor:
        fields = VendorFields(**{attr: str(row.get(page) or "").strip() for attr, page in VENDOR_FIELD_MAP.items()},
                              is_1099=bool(str(row.get("IRS_1099_Code") or "").strip()),
                              inactive=str(row.get("Blocked") or "").strip() not in ("", "_x0020_"))
        modified = _datetime(row.get("Last_Modified_Date_Time"))
        if modified is None and row.get("Last_Date_Modified"):
            day = _date(row["Last_Date_Modified"])
            modified = datetime(day.year, day.month, day.day, tzinfo=UTC)
        vendor = NavVendor(number=row["No"], fields=fields, last_modified=modified,
                           etag=row.get("@odata.etag", ""), system_id=str(row.get("Id") or ""))
        # Remember what we last saw (bounded) so a 412 can tell whose fields changed.
        self._seen_vendors[vendor.number] = vendor
        self._seen_vendors.move_to_end(vendor.number)
        if len(self._seen_vendors) > SEEN_VENDORS_LIMIT:
            self._seen_vendors.popitem(last=False)
        return vendor

    def iter_vendors(self, modified_since: datetime | None = None) -> Iterator[NavVendor]:
        params = {}
        if modified_since is not None:
            stamp = modified_since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            params["$filter"] = f"Last_Modified_Date_Time ge {stamp}"
        for row in self._iter_pages("Vendor", params):
            yield self._vendor(row)

    def get_vendor(self, number: str) -> NavVendor | None:
        try:
            return self._vendor(self._get(f"{self.connection.company_root}/Vendor({_literal(number)})",
                                          record=f"vendor {number}"))
        except NotFoundError:
            return None

    @staticmethod
    def _vendor_payload(fields: VendorFields, only: set[str] | None = None) -> dict:
        payload: dict[str, Any] = {}
        for attr, page in VENDOR_FIELD_MAP.items():
            if only is None or attr in only:
                payload[page] = getattr(fields, attr)
        if only is None or "is_1099" in only:
            payload["IRS_1099_Code"] = DEFAULT_1099_CODE if fields.is_1099 else ""
        if only is None or "inactive" in only:
            payload["Blocked"] = "All" if fields.inactive else " "
        return payload

    def create_vendor(self, fields: VendorFields, number: str) -> NavVendor:
        record = f"vendor {number}" if number else f"new vendor '{fields.name}'"
        payload = {"No": number, **self._vendor_payload(fields)} if number else self._vendor_payload(fields)
        response = self._send("POST", f"{self.connection.company_root}/Vendor", json=payload, idempotent=False,
                              record=record)
        if response.status_code != 201:
            raise self._error(response, record)
        return self._vendor(self._json(response))

    def update_vendor(self, number: str, fields: VendorFields, etag: str) -> NavVendor:
        """PATCH with If-Match. On 412: read again; if someone else changed a field we are changing,
        raise ConcurrencyError, otherwise resend with the new ETag (their other edits are kept)."""
        record = f"vendor {number}"
        url = f"{self.connection.company_root}/Vendor({_literal(number)})"
        seen = self._seen_vendors.get(number)
        base = seen.fields if seen is not None and seen.etag == etag else None
        changed = ({attr for attr in VENDOR_SYNC_ATTRS if getattr(fields, attr) != getattr(base, attr)}
                   if base is not None else set(VENDOR_SYNC_ATTRS))
        if not changed and seen is not None:
            return seen
        response = self._send("PATCH", url, json=self._vendor_payload(fields, changed), idempotent=True,
                              record=record, headers={"If-Match": etag})
        if response.status_code == 412:
            fresh = self.get_vendor(number)
            if fresh is None:
                raise NotFoundError("the vendor was deleted in NAV.", system=SYSTEM, record=record)
            if base is None:
                raise ConcurrencyError("someone changed this vendor in NAV since it was read.", system=SYSTEM,
                                       record=record, code="Request_EntityChanged")
            theirs = {attr for attr in changed
                      if getattr(fresh.fields, attr) != getattr(base, attr)
                      and getattr(fresh.fields, attr) != getattr(fields, attr)}
            if theirs:
                raise ConcurrencyError(
                    f"someone changed {', '.join(sorted(theirs))} of this vendor in NAV since it was read.",
                    system=SYSTEM, record=record, code="Request_EntityChanged")
            response = self._send("PATCH", url, json=self._vendor_payload(fields, changed), idempotent=True,
                                  record=record, headers={"If-Match": fresh.etag})
        if response.status_code != 200:
            raise self._error(response, record)
        return self._vendor(self._json(response))

    # -- invoices ---------------------------------------------------------------------------
    def _global_dimension_codes(self) -> tuple[str, str]:
        if self._global_dimensions is None:
            rows = list(self._iter_pages("GeneralLedgerSetup"))
            row = rows[0] if rows else {}
            self._global_dimensions = (row.get("Global_Dimension_1_Code", ""), row.get("Global_Dimension_2_Code", ""))
        return self._global_dimensions

    def _invoice(self, row: dict) -> PostedInvoice:
        dim1, dim2 = self._global_dimension_codes()
        lines = []
        for line in row.get("PurchInvLines", []):
            dimensions: dict[str, str] = {}
            for part in str(line.get("Dimensions") or "").split(";"):
                code, _, value = part.partition("=")
                if code and value:
                    dimensions[code] = value
            for code, value in ((dim1, line.get("Shortcut_Dimension_1_Code")),
                                (dim2, line.get("Shortcut_Dimension_2_Code"))):
                if code and value:
                    dimensions.setdefault(code, value)
            lines.append(InvoiceLine(
                line_no=int(line["Line_No"]),
                gl_account=line.get("No", "") if line.get("Type") == "G/L Account" else "",
                description=line.get("Description", ""), amount=_decimal(line.get("Amount")),
                dimensions=dimensions, quantity=_decimal(line.get("Quantity", 1))))
        return PostedInvoice(
            number=row["No"], vendor_number=row["Buy_from_Vendor_No"],
            vendor_invoice_number=row.get("Vendor_Invoice_No", ""), posting_date=_date(row["Posting_Date"]),
            document_date=_date(row.get("Document_Date") or row["Posting_Date"]), due_date=_date(row["Due_Date"]),
            amount=_decimal(row.get("Amount")), amount_including_tax=_decimal(row.get("Amount_Including_VAT")),
            currency=row.get("Currency_Code", "") or "", lines=tuple(lines),
            last_modified=_datetime(row.get("Last_Modified_Date_Time")))

    def iter_posted_invoices(self, modified_since: datetime | None = None) -> Iterator[PostedInvoice]:
        params = {"$expand": "PurchInvLines"}
        if modified_since is not None:
            params["$filter"] = ("Last_Modified_Date_Time ge "
                                 + modified_since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        for row in self._iter_pages("PostedPurchaseInvoices", params):
            yield self._invoice(row)

    def get_posted_invoice(self, number: str) -> PostedInvoice | None:
        try:
            row = self._get(f"{self.connection.company_root}/PostedPurchaseInvoices({_literal(number)})",
                            params={"$expand": "PurchInvLines"}, record=f"posted invoice {number}")
        except NotFoundError:
            return None
        return self._invoice(row)

    def iter_purchase_orders(self) -> Iterator[dict]:
        """Open purchase orders, raw. Only so tests can prove they never become bills."""
        yield from self._iter_pages("PurchaseOrders")

    # -- reference data ---------------------------------------------------------------------
    def iter_gl_accounts(self) -> Iterator[GLAccount]:
        for row in self._iter_pages("ChartOfAccounts"):
            yield GLAccount(number=row["No"], name=row.get("Name", ""), account_type=row.get("Account_Type", "Posting"),
                            income_balance=row.get("Income_Balance", ""), blocked=bool(row.get("Blocked")))

    def iter_dimensions(self) -> Iterator[Dimension]:
        for row in self._iter_pages("Dimensions"):
            yield Dimension(code=row["Code"], name=row.get("Name", ""))

    def iter_dimension_values(self) -> Iterator[DimensionValue]:
        for row in self._iter_pages("DimensionValues"):
            yield DimensionValue(dimension_code=row["Dimension_Code"], code=row["Code"], name=row.get("Name", ""),
                                 blocked=bool(row.get("Blocked")))

    # -- payments ---------------------------------------------------------------------------
    @staticmethod
    def _payment(row: dict) -> PostedPayment:
        return PostedPayment(entry_number=int(row["Entry_No"]), document_number=row.get("Document_No", ""),
                             external_document_number=row.get("External_Document_No", ""),
                             vendor_number=row.get("Vendor_No", ""), amount=_decimal(row.get("Amount")),
                             posting_date=_date(row["Posting_Date"]))

    def find_payments(self, external_document_number: str) -> list[PostedPayment]:
        """Vendor ledger entries of type Payment carrying this External Document No. (look before writing)."""
        filter_text = (f"Document_Type eq 'Payment' and External_Document_No eq "
                       f"{_literal(external_document_number)}")
        return [self._payment(row) for row in self._iter_pages(
            "VendorLedgerEntries", {"$filter": filter_text}, record=f"payment {external_document_number}")]

    def invoice_remaining_amount(self, invoice_number: str) -> Decimal:
        """What is still owed on a posted invoice (positive), from its vendor ledger entry."""
        record = f"posted invoice {invoice_number}"
        rows = list(self._iter_pages("VendorLedgerEntries", {
            "$filter": f"Document_Type eq 'Invoice' and Document_No eq {_literal(invoice_number)}"}, record=record))
        if not rows:
            raise NotFoundError("no vendor ledger entry exists for this invoice.", system=SYSTEM, record=record)
        return -sum((_decimal(row.get("Remaining_Amount")) for row in rows), Decimal("0"))

    def post_payment(self, lines: list[JournalLine], journal_template: str, journal_batch: str) -> list[PostedPayment]:
        """Create NEW journal lines for one BILL payment, then post them. Nothing posted is ever modified.

        Two ways to post, the same rules for both:

        * **BC API v2.0** (Business Central 18+; used when the connection has a ``company_id`` and the balancing
          account is a G/L account): the connector's own vendor payment journal, ``vendorPaymentJournals`` with
          code = ``journal_batch`` (created with the balancing account if missing), lines as ``vendorPayments``,
          posted by the bound action ``Microsoft.NAV.post`` (204 No Content).
        * **OData pages** (NAV 2016/2018): lines as ``GeneralJournalLines`` in ``journal_template/journal_batch``,
          posted by ``GeneralJournalLines(<key>)/NAV.Post``. Standard NAV publishes neither a General Journal
          page as a web service nor a post action on it: this path needs that customization (the page
          published plus a web-service-enabled action that posts the line's batch).

        A posting action posts the WHOLE batch, so before anything is written the batch is read: if it holds
        a line the connector did not write for this payment (another External Document No., or another
        Document No.), nothing is written or posted and ``JournalBatchNotEmptyError`` says which document is
        in the way. Lines of an earlier, interrupted attempt at this same payment are reused, never added
        twice. If NAV refuses the lines or the posting, this payment's own unposted lines are deleted again
        (unposted journal lines are not posted entries), so the batch is empty for the next payment, and the
        refusal is raised with NAV's message.
        """
        if not lines:
            return []
        journal: _PaymentJournal
        if self.connection.company_id and all(line.balancing_account_type == "G/L Account" for line in lines):
            journal = _ApiPaymentJournal(self, journal_batch, lines[0].balancing_account_number)
        else:
            journal = _ODataPaymentJournal(self, journal_template, journal_batch)
        wanted = {line.external_document_number for line in lines}
        documents = {line.document_number for line in lines}
        existing = journal.lines()
        foreign = [row for row in existing if row.external not in wanted or row.document not in documents]
        if foreign:
            shown = ", ".join(sorted({row.document or row.external or f"line {row.line_no}" for row in foreign}))
            raise JournalBatchNotEmptyError(
                f"journal batch {journal_template}/{journal_batch} holds lines the connector did not write "
                f"(document {shown}): give the connector a batch of its own in Settings, or post or delete "
                "those lines.", system=SYSTEM, record=f"journal batch {journal_template}/{journal_batch}",
                code="batch not empty")
        # A crash between creating the lines and posting them leaves them waiting, unposted, in the batch.
        # find_payments only sees posted entries, so the journal is read too and no line is added twice.
        waiting: dict[tuple[str, str, Decimal], _JournalRow] = {}
        stale: list[_JournalRow] = []
        for row in existing:
            if row.match_key in waiting:
                stale.append(row)
            else:
                waiting[row.match_key] = row
        own: list[_JournalRow] = []
        try:
            for line in lines:
                reused = waiting.pop((line.external_document_number, line.applies_to_invoice, line.amount), None)
                own.append(reused if reused is not None else journal.create(line))
            for row in stale + list(waiting.values()):  # this payment's lines no longer wanted (amounts changed)
                journal.delete(row)
            journal.post()
        except RecordError:
            # Refused: nothing was posted (NAV posts a batch in one transaction). Take this payment's lines out
            # again so the batch does not block every later payment with this error.
            for row in own:
                try:
                    journal.delete(row)
                except RecordError:
                    pass  # already gone
            raise
        posted: list[PostedPayment] = []
        for external in sorted(wanted):
            posted.extend(self.find_payments(external))
        return posted

    def _iter_api(self, url: str, params: dict | None = None, record: str = "") -> Iterator[dict]:
        next_url: str | None = url
        while next_url:
            body = self._get(next_url, params=params, record=record)
            yield from body.get("value", [])
            next_url, params = body.get("@odata.nextLink"), None

    # -- webhooks (BC API v2.0 subscriptions) -----------------------------------------------
    def _subscriptions_url(self, subscription_id: str | None = None) -> str:
        base = f"{self.connection.api_root}/subscriptions"
        return f"{base}('{subscription_id}')" if subscription_id else base

    def webhooks_supported(self) -> bool:
        response = self._send("GET", self._subscriptions_url(), idempotent=True)
        if response.status_code == 200:
            return True
        if response.status_code == 404:
            return False
        raise self._error(response, "webhook subscriptions")

    def resource_path(self, entity_set: str) -> str:
        return f"/api/v2.0/companies({self.connection.company_id})/{entity_set}"

    def create_subscription(self, notification_url: str, resource: str, client_state: str) -> dict:
        record = f"webhook subscription for {resource}"
        response = self._send("POST", self._subscriptions_url(), idempotent=False, record=record,
                              json={"notificationUrl": notification_url, "resource": resource,
                                    "clientState": client_state})
        if response.status_code != 201:
            raise self._error(response, record)
        return self._json(response)

    def get_subscription(self, subscription_id: str) -> dict | None:
        try:
            return self._get(self._subscriptions_url(subscription_id), record=f"subscription {subscription_id}")
        except NotFoundError:
            return None

    def list_subscriptions(self) -> list[dict]:
        return list(self._get(self._subscriptions_url()).get("value", []))

    def renew_subscription(self, subscription_id: str) -> dict:
        record = f"subscription {subscription_id}"
        current = self.get_subscription(subscription_id)
        if current is None:
            raise NotFoundError("the webhook subscription no longer exists in NAV.", system=SYSTEM, record=record)
        response = self._send("PATCH", self._subscriptions_url(subscription_id), idempotent=True, record=record,
                              json={"notificationUrl": current["notificationUrl"]},
                              headers={"If-Match": current.get("@odata.etag", "*")})
        if response.status_code != 200:
            raise self._error(response, record)
        return self._json(response)

    def delete_subscription(self, subscription_id: str) -> None:
        record = f"subscription {subscription_id}"
        current = self.get_subscription(subscription_id)
        if current is None:
            return
        response = self._send("DELETE", self._subscriptions_url(subscription_id), idempotent=True, record=record,
                              headers={"If-Match": current.get("@odata.etag", "*")})
        if response.status_code not in (204, 404):
            raise self._error(response, record)


class JournalBatchNotEmptyError(RecordError):
    """The journal batch holds lines the connector did not write; posting would post them too."""


@dataclass
class _JournalRow:
    external: str
    document: str
    invoice: str
    amount: Decimal
    line_no: int
    ref: dict  # what deleting it takes (key fields or id, and the ETag)

    @property
    def match_key(self) -> tuple[str, str, Decimal]:
        return self.external, self.invoice, self.amount


class _PaymentJournal:
    def lines(self) -> list[_JournalRow]: raise NotImplementedError
    def create(self, line: JournalLine) -> _JournalRow: raise NotImplementedError
    def delete(self, row: _JournalRow) -> None: raise NotImplementedError
    def post(self) -> None: raise NotImplementedError


class _ODataPaymentJournal(_PaymentJournal):
    """GeneralJournalLines on the OData pages (NAV 2016/2018 with the page and post action published)."""

    def __init__(self, client: NavClient, template: str, batch: str) -> None:
        self.client, self.template, self.batch = client, template, batch
        self.record = f"journal batch {template}/{batch}"

    def _row(self, row: dict) -> _JournalRow:
        return _JournalRow(row.get("External_Document_No", ""), row.get("Document_No", ""),
                           row.get("Applies_to_Doc_No", ""), _decimal(row.get("Amount")), int(row.get("Line_No") or 0),
                           {"Line_No": int(row.get("Line_No") or 0), "etag": row.get("@odata.etag", "*")})

    def _url(self, line_no: int) -> str:
        key = (f"Journal_Template_Name={_literal(self.template)},Journal_Batch_Name={_literal(self.batch)},"
               f"Line_No={line_no}")
        return f"{self.client.connection.company_root}/GeneralJournalLines({key})"

    def lines(self) -> list[_JournalRow]:
        filter_text = (f"Journal_Template_Name eq {_literal(self.template)} and "
                       f"Journal_Batch_Name eq {_literal(self.batch)}")
        return [self._row(row) for row in self.client._iter_pages("GeneralJournalLines", {"$filter": filter_text},
                                                                  record=self.record)]

    def create(self, line: JournalLine) -> _JournalRow:
        payload = {
            "Journal_Template_Name": self.template, "Journal_Batch_Name": self.batch,
            "Posting_Date": line.posting_date.isoformat(), "Document_Type": "Payment",
            "Document_No": line.document_number, "External_Document_No": line.external_document_number,
            "Account_Type": "Vendor", "Account_No": line.vendor_number, "Description": line.description[:100],
            "Amount": float(line.amount), "Bal_Account_Type": line.balancing_account_type,
            "Bal_Account_No": line.balancing_account_number,
            "Applies_to_Doc_Type": "Invoice" if line.applies_to_invoice else "",
            "Applies_to_Doc_No": line.applies_to_invoice,
        }
        record = f"payment {line.external_document_number}"
        response = self.client._send("POST", f"{self.client.connection.company_root}/GeneralJournalLines",
                                     json=payload, idempotent=False, record=record)
        if response.status_code != 201:
            raise self.client._error(response, record)
        return self._row(self.client._json(response))

    def delete(self, row: _JournalRow) -> None:
        response = self.client._send("DELETE", self._url(row.ref["Line_No"]), idempotent=True, record=self.record,
                                     headers={"If-Match": row.ref["etag"] or "*"})
        if response.status_code not in (204, 404):
            raise self.client._error(response, self.record)

    def post(self) -> None:
        rows = self.lines()
        if not rows:
            raise RecordError("there is nothing to post in the journal batch.", system=SYSTEM, record=self.record)
        response = self.client._send("POST", f"{self._url(rows[0].line_no)}/NAV.Post", idempotent=False,
                                     record=self.record)
        if response.status_code not in (200, 204):
            raise self.client._error(response, self.record)


class _ApiPaymentJournal(_PaymentJournal):
    """The BC API v2.0 vendor payment journal whose code is the connector's batch (BC 18+)."""

    def __init__(self, client: NavClient, code: str, balancing_account: str) -> None:
        self.client, self.code, self.balancing_account = client, code.upper(), balancing_account
        self.record = f"vendor payment journal {self.code}"
        self.base = f"{client.connection.api_root}/companies({client.connection.company_id})"
        self.journal_url = f"{self.base}/vendorPaymentJournals({self._journal_id()})"

    def _journal_id(self) -> str:
        url = f"{self.base}/vendorPaymentJournals"
        found = list(self.client._iter_api(url, {"$filter": f"code eq {_literal(self.code)}"}, record=self.record))
        if found:
            journal = found[0]
            if self.balancing_account and journal.get("balancingAccountNumber") not in ("", self.balancing_account):
                raise RecordError(
                    f"the vendor payment journal {self.code} balances against account "
                    f"{journal.get('balancingAccountNumber')}, but the Settings say {self.balancing_account}: make "
                    "them the same.", system=SYSTEM, record=self.record, code="balancing account")
            return str(journal["id"])
        body: dict[str, Any] = {"code": self.code, "displayName": f"BILL payments ({self.code})"}
        if self.balancing_account:
            accounts = list(self.client._iter_api(f"{self.base}/accounts", {
                "$filter": f"number eq {_literal(self.balancing_account)}"}, record=self.record))
            if not accounts:
                raise RecordError(f"the balancing account {self.balancing_account} does not exist in NAV.",
                                  system=SYSTEM, record=self.record)
            body["balancingAccountId"] = accounts[0]["id"]
        response = self.client._send("POST", url, json=body, idempotent=False, record=self.record)
        if response.status_code != 201:
            raise self.client._error(response, self.record)
        return str(self.client._json(response)["id"])

    @staticmethod
    def _row(row: dict) -> _JournalRow:
        return _JournalRow(row.get("externalDocumentNumber", ""), row.get("documentNumber", ""),
                           row.get("appliesToInvoiceNumber", ""), _decimal(row.get("amount")),
                           int(row.get("lineNumber") or 0), {"id": row.get("id"), "etag": row.get("@odata.etag", "*")})

    def lines(self) -> list[_JournalRow]:
        return [self._row(row) for row in self.client._iter_api(f"{self.journal_url}/vendorPayments",
                                                                record=self.record)]

    def create(self, line: JournalLine) -> _JournalRow:
        payload = {"vendorNumber": line.vendor_number, "postingDate": line.posting_date.isoformat(),
                   "documentNumber": line.document_number, "externalDocumentNumber": line.external_document_number,
                   "amount": float(line.amount), "appliesToInvoiceNumber": line.applies_to_invoice,
                   "description": line.description[:100]}
        record = f"payment {line.external_document_number}"
        response = self.client._send("POST", f"{self.journal_url}/vendorPayments", json=payload, idempotent=False,
                                     record=record)
        if response.status_code != 201:
            raise self.client._error(response, record)
        return self._row(self.client._json(response))

    def delete(self, row: _JournalRow) -> None:
        response = self.client._send("DELETE", f"{self.journal_url}/vendorPayments({row.ref['id']})",
                                     idempotent=True, record=self.record,
                                     headers={"If-Match": row.ref["etag"] or "*"})
        if response.status_code not in (204, 404):
            raise self.client._error(response, self.record)

    def post(self) -> None:
        response = self.client._send("POST", f"{self.journal_url}/Microsoft.NAV.post", idempotent=False,
                                     record=self.record)
        if response.status_code not in (200, 204):
            raise self.client._error(response, self.record)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _refused_before_sending(exc: requests.ConnectionError) -> bool:
    """True when the TCP connection was never made (refused / no route): the request was not sent."""
    text = repr(exc)
    return any(marker in text for marker in ("ConnectionRefusedError", "NewConnectionError", "Errno 111",
                                             "Connection refused", "NameResolutionError", "No route to host"))
