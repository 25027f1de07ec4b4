"""A loopback HTTP server that behaves like BILL's v3 API (REST under /connect, webhooks under /connect-events).

What it copies from BILL (see shared/reference/BILL-API.md and developer.bill.com):
- ``POST /v3/login`` gives a sessionId; every other call carries ``devKey`` and ``sessionId`` headers; a
  session dies after 35 idle minutes (reference/login) and then every call answers HTTP 401 + BDC_1109.
- Errors are a JSON array of ``{timestamp, code, severity, category, message}`` (docs/common-api-error-codes).
- Lists page with an opaque cursor and take ``max``/``filters``/``sort`` (see ``bill_lists``).
- Limits (docs/api-rate-limits): 3 simultaneous requests per devKey per organization → BDC_1322; 20,000
  requests per devKey per hour → BDC_1144 until the next hour. BILL's pages show only the bodies, and a
  third-party live note says they come as a 4xx, not 429, with no Retry-After. The sandbox answers
  **HTTP 400** for both, so a client that looks only at the status code cannot tell them from a bad request:
  it must read the BDC code, as it must against BILL.
- Unpopulated keys are omitted from objects, never sent as null.
- A vendor's bank account shows only its last four digits (BILL's reference pages); it is changed only through
  ``/v3/vendors/{id}/bank-account`` (GET, POST when there is none, DELETE), or by the control endpoint
  ``POST /_sandbox/vendors/{id}/bank-account {"bankAccount": {...}|null}`` (a user in the web app); each change
  fires ``vendor.updated``. Vendor credits: ``/v3/vendor-credits`` (create, list, get, archive;
  docs/vendor-credits.md).

Codes that BILL documents: BDC_1101, 1102, 1109, 1121, 1144, 1322, 1001/1002. The others below
(``SANDBOX_CODES``) are the sandbox's own picks, because BILL's full list (/v2/Errors.json) was not
available: the connector must not depend on their exact values.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import threading
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from app.sandbox import demo_data
from app.sandbox.base import Request, Response, SandboxApp, SandboxClock
from app.sandbox.bill_lists import ListQueryError, SelectionCache, list_page, split_outside_quotes
from app.sandbox.bill_webhooks import EVENT_CATALOG, WebhookHub, notification_url_problem

log = logging.getLogger("navbill.sandbox.bill")

REST = "/connect/v3"
EVENTS = "/connect-events/v3"
ID = r"(?P<id>[^/]+)"

# Codes BILL documents (docs/faq, docs/common-api-error-codes, docs/api-rate-limits).
BDC_SYSTEM_ERROR = "BDC_1001"
BDC_BAD_REQUEST = "BDC_1002"  # "Unknown error occurred": BILL's answer for a misspelt/ill-formed request
BDC_BAD_CREDENTIALS = "BDC_1101"
BDC_BAD_DEV_KEY = "BDC_1102"
BDC_SESSION_INVALID = "BDC_1109"
BDC_API_NOT_SUPPORTED = "BDC_1121"
BDC_HOURLY_LIMIT = "BDC_1144"
BDC_CONCURRENT_LIMIT = "BDC_1322"
# The sandbox's own picks (not confirmed from BILL text; clients must key on the HTTP status + message).
VOID_TYPES = ("VOID_ONLY", "VOID_AND_CREDIT", "VOID_AND_REISSUE", "VOID_AND_REISSUE_VCARD")
SANDBOX_CODES = {
    "bad_organization": "BDC_1103",  # wrong organizationId at login
    "missing_field": "BDC_1116",
    "not_found": "BDC_1130",
    "archived": "BDC_1262",
    "business_rule": "BDC_1270",
}
MESSAGES = {
    BDC_BAD_CREDENTIALS: "User name and/or password do not match our records.",
    BDC_BAD_DEV_KEY: "Developer key is invalid.",
    BDC_SESSION_INVALID: "Session is invalid.  Please log in.",  # double space as in BILL's sample
    BDC_API_NOT_SUPPORTED: "API not supported.",
    BDC_CONCURRENT_LIMIT: "Max number of concurrent requests per organization reached.",
    BDC_SYSTEM_ERROR: "System error occurred.",
}

USER_ID = "00602SBXUSER00000001"
FUNDING_BANK_ACCOUNT_ID = "bac02SBXBANK00000001"
VENDOR_TOP_KEYS = {"name", "shortName", "accountNumber", "accountType", "email", "phone", "address",
                   "paymentInformation", "additionalInfo", "billCurrency", "archived", "id", "createdTime",
                   "updatedTime", "networkStatus", "bankAccountStatus", "recurringPayments", "balance", "autoPay",
                   "rppsId"}
LINE_CLASSIFICATION_KEYS = ("chartOfAccountId", "accountingClassId", "departmentId", "employeeId", "jobId",
                            "locationId", "itemId", "customerId")
CLASSIFICATION_KINDS = {"chart-of-accounts": "0ca", "departments": "0de", "locations": "loc",
                        "accounting-classes": "cls", "jobs": "job"}
LINE_FIELD_KIND = {"chartOfAccountId": "chart-of-accounts", "departmentId": "departments",
                   "locationId": "locations", "accountingClassId": "accounting-classes", "jobId": "jobs"}


class ApiError(Exception):
    """Raised inside a handler; becomes BILL's error array."""

    def __init__(self, status: int, code: str, message: str = "", category: str = "REQUEST",
                 params: list[dict] | None = None) -> None:
        super().__init__(message or MESSAGES.get(code, ""))
        self.status = status
        self.code = code
        self.message = message or MESSAGES.get(code, "")
        self.category = category
        self.params = params  # BILL's optional error params [{name, value}]


def bill_time(moment: datetime) -> str:
    """BILL's timestamp format, e.g. 2026-12-15T23:15:23.127+00:00."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+00:00"


def _to_json_number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # BILL sends amounts as JSON numbers
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# A value set by ``corrupt`` as "RAW:<token>" goes on the wire as that bare token (1e309, NaN, -Infinity):
# JSON a real server may send that Python's encoder would never write.
_RAW_MARK = "\u0000RAW:"
_RAW_TOKEN = re.compile(r'"\\u0000RAW:([^"\\]*)"')


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    text = json.dumps(body, default=_to_json_number)
    if "\\u0000RAW:" in text:
        text = _RAW_TOKEN.sub(lambda m: m.group(1), text)
    return Response(status, text.encode("utf-8"), {"Content-Type": "application/json", **(headers or {})})


def _money(value: Any, field_name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise ApiError(400, BDC_BAD_REQUEST, f"{field_name} must be a number.")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ApiError(400, BDC_BAD_REQUEST, f"{field_name} must be a number.") from None
    return amount


def _day(value: Any, field_name: str) -> str:
    if not isinstance(value, str):
        raise ApiError(400, SANDBOX_CODES["missing_field"] if value is None else BDC_BAD_REQUEST,
                       f"{field_name} is required (yyyy-MM-dd)." if value is None
                       else f"{field_name} must be a date in yyyy-MM-dd format.")
    try:
        return date.fromisoformat(value[:10]).isoformat()
    except ValueError:
        raise ApiError(400, BDC_BAD_REQUEST, f"{field_name} must be a date in yyyy-MM-dd format.") from None


def _text(body: dict, key: str, *, required: bool = False, label: str = "") -> str | None:
    value = body.get(key)
    label = label or key
    if value is None or value == "":
        if required:
            raise ApiError(400, SANDBOX_CODES["missing_field"], f"{label} is required.")
        return None
    if not isinstance(value, str):
        raise ApiError(400, BDC_BAD_REQUEST, f"{label} must be a string.")
    return value


def _object(body: Any, label: str) -> dict:
    if not isinstance(body, dict):
        raise ApiError(400, BDC_BAD_REQUEST, f"{label} must be a JSON object.")
    return body


def _deep_merge(target: dict, changes: dict) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        elif value is None or value == "":
            target.pop(key, None)  # BILL omits unpopulated keys
        else:
            target[key] = value


def _masked_bank(bank: Any) -> dict:
    """A vendor bank account as BILL keeps and shows it: only the last four digits of the account number."""
    if not isinstance(bank, dict) or not bank:
        return {}
    masked = dict(bank)
    number = str(masked.get("accountNumber") or "")
    if number and not number.startswith("*"):
        masked["accountNumber"] = "*" * max(0, len(number) - 4) + number[-4:]
    return masked


_PRUNED = object()  # stands in for a value already pruned while its container is pruned


_NEVER_EMPTY = frozenset({int, float, bool, Decimal})  # values of these types are never None, "" nor {}


def _prune(value: Any) -> Any:
    """Drop None/"" and empty objects, as BILL omits unpopulated keys."""
    if isinstance(value, dict):
        pruned = {}
        for k, v in value.items():
            kind = type(v)
            if kind is str:
                if v:
                    pruned[k] = v
            elif kind in _NEVER_EMPTY:
                pruned[k] = v
            elif v is not None:
                if isinstance(v, (dict, list)):  # only containers change when pruned
                    v = _prune(v)
                if v != "" and v != {}:
                    pruned[k] = v
        return pruned
    if isinstance(value, list):
        return [_prune(v) if isinstance(v, (dict, list)) else v for v in value]
    return value


class BillSandbox(SandboxApp):
    name = "bill"

    def __init__(self, seed: str = "demo", clock: SandboxClock | None = None,
                 session_idle_seconds: float = 35 * 60, max_concurrent: int = 3, hourly_limit: int = 20000,
                 webhook_retry_base_seconds: float = 0.05, bulk_vendor_limit: int = 20,
                 bulk_bill_limit: int = 100) -> None:
        super().__init__()
        self.clock = clock or SandboxClock()
        self.session_idle_seconds = session_idle_seconds
        self.max_concurrent = max_concurrent
        self.hourly_limit = hourly_limit
        # Bulk creates (reference/createbulkvendor, reference/createbulkbills, Postman "Create multiple ..."):
        # up to 20 vendors / 100 bills a call, all or nothing, and one request against the hourly limit.
        self.bulk_vendor_limit = bulk_vendor_limit
        self.bulk_bill_limit = bulk_bill_limit
        # How many values an ``in`` filter takes (developer.bill.com lists ``in`` for vendorId and id but states no
        # limit): None = any number; a number = more is refused (400); 0 = the ``in`` operator is refused. Tests
        # set it to play a BILL that caps it lower than the connector's 100 or does not offer it.
        self.in_filter_limit: int | None = None
        # List options BILL documents only in part (developer.bill.com/docs/filterable-fields has no table for
        # payments or vendor credits; sortable fields are not listed): "sort" or "<list>:<field>" (e.g.
        # "payments:updatedTime") in ``refused_list_options`` are answered 400, in ``ignored_list_options`` left out
        # silently. Tests set them to play a BILL that does not offer them.
        self.refused_list_options: set[str] = set()
        # The security-key path: BILL's Postman collection and changelog say /security_key, its general-rules
        # page /security-key. "" = both answer; "security_key" or "security-key" = only that one (tests).
        self.security_key_spelling = ""
        # How a dead session is answered: (401, BDC_1109) per BILL's common-api-error-codes page; third-party clients
        # also meet BDC_1120 and (403, BDC_1361) "Session expired or untrusted" (BILL-API.md 7). Tests switch it.
        self.dead_session_answer: tuple[int, str] = (401, BDC_SESSION_INVALID)
        self.ignored_list_options: set[str] = set()
        self.organization_id = demo_data.BILL_ORGANIZATION_ID
        self.username = demo_data.BILL_USERNAME
        self.password = demo_data.BILL_PASSWORD
        self.dev_key = demo_data.BILL_DEV_KEY
        self.handler_delay = 0.0  # seconds each API request stays in flight (to exercise BDC_1322)
        self._gate = threading.Event()
        self._gate.set()
        self._limits_lock = threading.Lock()
        self._in_flight: dict[str, int] = defaultdict(int)
        self._hour_counts: dict[tuple[str, int], int] = defaultdict(int)
        self.limit_rejections: dict[str, int] = defaultdict(int)  # code → count (test aid)
        self.webhooks = WebhookHub(self._now, self.organization_id, webhook_retry_base_seconds)
        self._list_cache = SelectionCache()  # a walk of list pages filters and sorts once (bill_lists)
        self._seed_name = seed
        self._reset_data(seed)
        self._add_routes()

    # -- data ------------------------------------------------------------------------------
    def _reset_data(self, seed: str) -> None:
        with self.state_lock:
            self._counter = 0
            self.sessions: dict[str, dict] = {}
            self.vendors: dict[str, dict] = {}
            self.bills: dict[str, dict] = {}
            self.payments: dict[str, dict] = {}
            self.vendor_credits: dict[str, dict] = {}
            self.classifications: dict[str, dict[str, dict]] = {kind: {} for kind in CLASSIFICATION_KINDS}
            self.webhooks.reset()
            self._seed(seed)

    def _new_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}02SBX{self._counter:012d}"  # BILL ids: 3-char prefix + 17 characters

    def _now(self) -> str:
        return bill_time(self.clock.now())

    def _seed(self, seed: str) -> None:
        if seed == "empty":
            return
        if seed == "demo":
            by_number = {v.number: v for v in demo_data.demo_vendors()}
            for number, bill_name in demo_data.BILL_KNOWN_VENDOR_NUMBERS.items():
                v = by_number[number]
                self._store_vendor(self._vendor_from_request({
                    "name": bill_name, "accountType": "BUSINESS", "email": v.email, "phone": v.phone,
                    "address": {"line1": v.address, "city": v.city, "stateOrProvince": v.state,
                                "zipOrPostalCode": v.postal_code, "country": "US"},
                    "additionalInfo": {"taxId": v.tax_id, "track1099": v.is_1099}}))
            for name, city, state, postal, email in demo_data.BILL_ONLY_VENDORS:
                self._store_vendor(self._vendor_from_request({
                    "name": name, "accountType": "BUSINESS", "email": email,
                    "address": {"city": city, "stateOrProvince": state, "zipOrPostalCode": postal, "country": "US"}}))
            for number, name, account_type, archived in demo_data.DEMO_BILL_ACCOUNTS:
                self._store_classification("chart-of-accounts", {
                    "name": name, "account": {"type": account_type, "number": number}}, archived=archived)
            for kind, names in (("departments", demo_data.DEMO_BILL_DEPARTMENTS),
                                ("accounting-classes", demo_data.DEMO_BILL_CLASSES),
                                ("locations", demo_data.DEMO_BILL_LOCATIONS)):
                for name in names:
                    self._store_classification(kind, {"name": name})
            return
        match = re.fullmatch(r"large:(\d+)", seed)
        if not match:
            raise ValueError(f"Unknown BILL seed '{seed}': use demo, empty or large:N")
        for number, name, account_type, archived in demo_data.DEMO_BILL_ACCOUNTS:
            self._store_classification("chart-of-accounts", {
                "name": name, "account": {"type": account_type, "number": number}}, archived=archived)
        for name in demo_data.DEMO_BILL_DEPARTMENTS:
            self._store_classification("departments", {"name": name})
        now = self._now()
        for index, row in enumerate(demo_data.large_vendor_rows(int(match.group(1)))):
            if index % 10:  # only about 10% are already in BILL
                continue
            vendor_id = self._new_id("009")
            self.vendors[vendor_id] = {
                "id": vendor_id, "archived": False, "name": row.name, "accountType": "BUSINESS",
                "email": row.email, "phone": row.phone,
                "address": {"line1": row.address, "city": row.city, "stateOrProvince": row.state,
                            "zipOrPostalCode": row.postal_code, "country": "US"},
                "billCurrency": "USD", "createdTime": now, "updatedTime": now, "networkStatus": "NOT_CONNECTED"}

    def _vendor_from_request(self, body: dict) -> dict:
        _text(body, "name", required=True)
        for key in ("shortName", "accountNumber", "email", "phone", "billCurrency"):
            _text(body, key)
        account_type = _text(body, "accountType") or "NONE"
        if account_type not in ("BUSINESS", "PERSON", "NONE"):
            raise ApiError(400, BDC_BAD_REQUEST, "accountType must be BUSINESS, PERSON or NONE.")
        for key in ("address", "paymentInformation", "additionalInfo"):
            if key in body and body[key] is not None:
                _object(body[key], key)
        unknown = set(body) - VENDOR_TOP_KEYS
        if unknown:
            raise ApiError(400, BDC_BAD_REQUEST, f"Unknown field: {sorted(unknown)[0]}.")
        country = (body.get("address") or {}).get("country")
        if country is not None and (not isinstance(country, str) or len(country) != 2):
            raise ApiError(400, BDC_BAD_REQUEST, "address.country must be a 2-letter country code.")
        info = dict(body.get("additionalInfo") or {})
        if "track1099" in info and not isinstance(info["track1099"], bool):
            raise ApiError(400, BDC_BAD_REQUEST, "additionalInfo.track1099 must be true or false.")
        if info.get("taxId") and "taxIdType" not in info:
            info["taxIdType"] = "EIN"
        payment = dict(body.get("paymentInformation") or {})
        payment.setdefault("payeeName", body["name"])
        if body.get("email"):
            payment.setdefault("email", body["email"])
        bank = _masked_bank(payment.get("bankAccount"))
        if bank:
            payment["bankAccount"] = bank
            payment.setdefault("payBySubType", "ACH")
        vendor = {
            "archived": False, "name": body["name"], "shortName": body.get("shortName"),
            "accountNumber": body.get("accountNumber"), "accountType": account_type,
            "email": body.get("email"), "phone": body.get("phone"), "address": dict(body.get("address") or {}),
            "paymentInformation": {**payment, "payByType": "ACH" if bank else "OFFLINE"},
            "additionalInfo": {"combinePayments": False, **info},
            "billCurrency": body.get("billCurrency") or "USD",
            "bankAccountStatus": "NO_NET_LINKED_ACCOUNT" if bank else "NO_ACCOUNT",
            "recurringPayments": False, "networkStatus": "NOT_CONNECTED",
        }
        return _prune(vendor)

    def _store_vendor(self, vendor: dict) -> dict:
        now = self._now()
        vendor_id = self._new_id("009")
        stored = {"id": vendor_id, **vendor, "createdTime": now, "updatedTime": now}
        self.vendors[vendor_id] = stored
        return stored

    def _store_classification(self, kind: str, body: dict, archived: bool = False) -> dict:
        now = self._now()
        record_id = self._new_id(CLASSIFICATION_KINDS[kind])
        record = _prune({"id": record_id, "archived": archived, "name": body.get("name"),
                         "shortName": body.get("shortName"), "description": body.get("description"),
                         "parentId": body.get("parentId"), "createdTime": now, "updatedTime": now})
        if kind == "chart-of-accounts":
            record.pop("shortName", None)
            record["account"] = _prune(dict(body.get("account") or {}))
        self.classifications[kind][record_id] = record
        return record

    # -- routing ---------------------------------------------------------------------------
    def _api(self, method: str, pattern: str, handler, *, auth: bool = True) -> None:
        def guarded(request: Request) -> Response:
            try:
                session = self._authenticate(request) if auth else None
                with self.state_lock:
                    return handler(request, session)
            except ApiError as exc:
                return self.error(exc.status, exc.code, exc.message, exc.category, exc.params)
        self.route(method, pattern, guarded)

    def _add_routes(self) -> None:
        a = self._api
        a("POST", f"{REST}/login", self._login, auth=False)
        a("POST", f"{REST}/logout", self._logout)
        a("GET", f"{REST}/login/session", self._session_details)
        a("GET", f"{REST}/vendors", self._list_vendors)
        a("POST", f"{REST}/vendors", self._create_vendor)
        a("POST", f"{REST}/vendors/bulk", self._bulk_create_vendors)
        a("GET", f"{REST}/vendors/{ID}", self._get_vendor)
        a("PATCH", f"{REST}/vendors/{ID}", self._patch_vendor)
        a("GET", f"{REST}/vendors/{ID}/bank-account", self._get_bank_account)
        a("POST", f"{REST}/vendors/{ID}/bank-account", lambda r, s: json_response(200, self.set_vendor_bank_account(
            r.params["id"], self._body(r), replace=False)))
        a("DELETE", f"{REST}/vendors/{ID}/bank-account", lambda r, s: json_response(200, self.set_vendor_bank_account(
            r.params["id"], None)))
        a("POST", f"{REST}/vendors/{ID}/archive", lambda r, s: self._archive_vendor(r, True))
        a("POST", f"{REST}/vendors/{ID}/restore", lambda r, s: self._archive_vendor(r, False))
        a("GET", f"{REST}/vendor-credits", lambda r, s: self._page(list(self.vendor_credits.values()), r,
                                                                    "vendor-credits"))
        a("POST", f"{REST}/vendor-credits", lambda r, s: json_response(200, self.create_vendor_credit(self._body(r))))
        a("GET", f"{REST}/vendor-credits/{ID}", lambda r, s: json_response(
            200, self._find(self.vendor_credits, r.params["id"], "Vendor credit")))
        a("POST", f"{REST}/vendor-credits/{ID}/archive", self._archive_vendor_credit)
        a("GET", f"{REST}/bills", self._list_bills)
        a("POST", f"{REST}/bills", self._create_bill)
        a("POST", f"{REST}/bills/bulk", self._bulk_create_bills)
        a("POST", f"{REST}/bills/record-payment", self._record_payment)
        a("GET", f"{REST}/bills/{ID}", self._get_bill)
        a("PATCH", f"{REST}/bills/{ID}", lambda r, s: self._change_bill(r, replace=False))
        a("PUT", f"{REST}/bills/{ID}", lambda r, s: self._change_bill(r, replace=True))
        a("POST", f"{REST}/bills/{ID}/archive", lambda r, s: self._archive_bill(r, True))
        a("POST", f"{REST}/bills/{ID}/restore", lambda r, s: self._archive_bill(r, False))
        a("GET", f"{REST}/payments", self._list_payments)
        a("POST", f"{REST}/payments", self._create_payment)
        a("GET", f"{REST}/payments/{ID}", self._get_payment)
        a("POST", f"{REST}/payments/{ID}/void", self._void_payment)
        kinds = "|".join(CLASSIFICATION_KINDS)
        a("GET", f"{REST}/classifications/(?P<kind>{kinds})", self._list_classifications)
        a("POST", f"{REST}/classifications/(?P<kind>{kinds})", self._create_classification)
        a("GET", f"{REST}/classifications/(?P<kind>{kinds})/{ID}", self._get_classification)
        a("PATCH", f"{REST}/classifications/(?P<kind>{kinds})/{ID}", self._patch_classification)
        a("POST", f"{REST}/classifications/(?P<kind>{kinds})/{ID}/archive",
          lambda r, s: self._archive_classification(r, True))
        a("POST", f"{REST}/classifications/(?P<kind>{kinds})/{ID}/restore",
          lambda r, s: self._archive_classification(r, False))
        # Webhooks API
        a("GET", f"{EVENTS}/events/catalog", self._event_catalog)
        a("GET", f"{EVENTS}/subscriptions", self._list_subscriptions)
        a("POST", f"{EVENTS}/subscriptions", self._create_subscription)
        a("GET", f"{EVENTS}/subscriptions/{ID}", self._get_subscription)
        a("PATCH", f"{EVENTS}/subscriptions/{ID}", self._patch_subscription)
        a("PUT", f"{EVENTS}/subscriptions/{ID}", self._patch_subscription)
        a("DELETE", f"{EVENTS}/subscriptions/{ID}", self._delete_subscription)
        a("POST", f"{EVENTS}/subscriptions/{ID}/security(?:_|-)key", self._rotate_key)
        a("POST", f"{EVENTS}/subscriptions/{ID}/test", self._test_event)
        a("GET", f"{EVENTS}/events/subscription/{ID}", self._event_history)
        # Control endpoints: no auth, no faults, no limits.
        self.route("POST", "/_sandbox/reset", self._control_reset)
        self.route("POST", "/_sandbox/clock/advance", self._control_advance)
        self.route("POST", f"/_sandbox/bills/{ID}/pay", self._control_pay_bill)
        self.route("POST", f"/_sandbox/payments/{ID}/clear", self._control_clear_payment)
        self.route("POST", f"/_sandbox/payments/{ID}/void", self._control_void_payment)
        self.route("POST", "/_sandbox/vendors", self._control_create_vendor)
        self.route("PATCH", f"/_sandbox/vendors/{ID}", self._control_edit_vendor)
        self.route("POST", f"/_sandbox/vendors/{ID}/bank-account", self._control_bank_account)
        self.route("POST", "/_sandbox/sessions/expire", self._control_expire_sessions)
        self.route("POST", "/_sandbox/corrupt", self._control_corrupt)
        self.route("GET", "/_sandbox/stats", self._control_stats)

    # -- errors, faults, limits --------------------------------------------------------------
    def error(self, status: int, code: str, message: str = "", category: str = "REQUEST",
              params: list[dict] | None = None) -> Response:
        item = {"timestamp": self._now(), "code": code, "severity": "ERROR", "category": category,
                "message": message or MESSAGES.get(code, "")}
        if params:
            item["params"] = params
        return json_response(status, [item])

    def not_found(self, request: Request, method_not_allowed: bool = False) -> Response:
        return self.error(405 if method_not_allowed else 404, BDC_API_NOT_SUPPORTED)

    def server_error(self, request: Request) -> Response:
        return self.error(503, BDC_SYSTEM_ERROR, category="SERVER")

    def rate_limited(self, request: Request) -> Response:
        return self.error(400, BDC_CONCURRENT_LIMIT, category="DOWNSTREAM")

    def expire_session(self, request: Request) -> None:
        with self.state_lock:
            self.sessions.pop(request.header("sessionId"), None)

    def faults_apply_to(self, request: Request) -> bool:
        return not request.path.startswith("/_sandbox")

    def _limit_key(self, request: Request) -> tuple[str, str]:
        """(devKey, organizationId) the request counts against."""
        dev_key = request.header("devKey")
        session = self.sessions.get(request.header("sessionId"))
        organization = session["organizationId"] if session else ""
        if not dev_key and request.path == f"{REST}/login":
            try:
                body = request.json()
                dev_key, organization = str(body.get("devKey", "")), str(body.get("organizationId", ""))
            except (ValueError, AttributeError):
                pass
        return dev_key, organization

    def dispatch(self, request: Request) -> Response:
        if request.path.startswith("/_sandbox"):
            return super().dispatch(request)
        dev_key, organization = self._limit_key(request)
        concurrency_key = f"{dev_key}|{organization}"
        with self._limits_lock:
            hour = int(self.clock.time() // 3600)
            self._hour_counts[(dev_key, hour)] += 1
            if self._hour_counts[(dev_key, hour)] > self.hourly_limit:
                self.limit_rejections[BDC_HOURLY_LIMIT] += 1
                return self.error(400, BDC_HOURLY_LIMIT,
                                  f"Max number of allowed requests per hour reached: {self.hourly_limit}.",
                                  "DOWNSTREAM")
            if self._in_flight[concurrency_key] >= self.max_concurrent:
                self.limit_rejections[BDC_CONCURRENT_LIMIT] += 1
                return self.error(400, BDC_CONCURRENT_LIMIT, category="DOWNSTREAM")
            self._in_flight[concurrency_key] += 1
        try:
            self._gate.wait(30)
            if self.handler_delay:
                threading.Event().wait(self.handler_delay)
            return super().dispatch(request)
        finally:
            with self._limits_lock:
                self._in_flight[concurrency_key] -= 1

    def in_flight(self) -> int:
        with self._limits_lock:
            return sum(self._in_flight.values())

    def hold(self) -> None:
        """Keep API requests in flight until ``release`` (test aid for the concurrency limit)."""
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    # -- auth ------------------------------------------------------------------------------------
    def _authenticate(self, request: Request) -> dict:
        with self.state_lock:
            session = self.sessions.get(request.header("sessionId"))
            now = self.clock.time()
            if session is not None and now - session["lastUsed"] > self.session_idle_seconds:
                self.sessions.pop(session["sessionId"], None)
                session = None
            if session is None or request.header("devKey") != session["devKey"]:
                status, code = self.dead_session_answer
                raise ApiError(status, code, MESSAGES.get(code, "Session expired or untrusted."), category="DOWNSTREAM")
            session["lastUsed"] = now  # any call resets the 35-minute idle timer
            return session

    def _login(self, request: Request, _session: Any) -> Response:
        body = _object(self._body(request), "The request body")
        for key in ("username", "password", "organizationId", "devKey"):
            _text(body, key, required=True)
        if body["devKey"] != self.dev_key:
            raise ApiError(400, BDC_BAD_DEV_KEY)
        if body["username"] != self.username or body["password"] != self.password:
            raise ApiError(400, BDC_BAD_CREDENTIALS)
        if body["organizationId"] != self.organization_id:
            raise ApiError(400, SANDBOX_CODES["bad_organization"],
                           "Organization id is invalid or the user does not belong to it.")
        session_id = f"!sbx{uuid.uuid4().hex}"
        self.sessions[session_id] = {"sessionId": session_id, "devKey": body["devKey"],
                                     "organizationId": self.organization_id, "lastUsed": self.clock.time()}
        return json_response(200, {"organizationId": self.organization_id, "sessionId": session_id,
                                   "trusted": False, "userId": USER_ID})

    def _logout(self, request: Request, session: dict) -> Response:
        self.sessions.pop(session["sessionId"], None)
        return Response(200, None)

    def _session_details(self, request: Request, session: dict) -> Response:
        return json_response(200, {"organizationId": session["organizationId"], "userId": USER_ID,
                                   "mfaStatus": "DISABLED", "mfaBypass": False})

    @staticmethod
    def _body(request: Request) -> Any:
        try:
            if not request.body:
                raise ValueError("The request body is empty.")
            return json.loads(request.body.decode("utf-8"), parse_float=Decimal)
        except (ValueError, UnicodeDecodeError) as exc:
            reason = str(exc) if "empty" in str(exc) else "The request body is not valid JSON."
            raise ApiError(400, BDC_BAD_REQUEST, reason) from None

    def _page(self, records: list[dict], request: Request, list_name: str, **kw: Any) -> Response:
        if self.in_filter_limit is not None:
            self._check_in_filters(request.query.get("filters") or "")
        if self.refused_list_options or self.ignored_list_options:
            request = self._unsupported_list_options(request, list_name)
        try:
            return json_response(200, list_page(records, request.query, list_name, cache=self._list_cache, **kw))
        except ListQueryError as exc:
            raise ApiError(400, BDC_BAD_REQUEST, str(exc)) from None

    def _unsupported_list_options(self, request: Request, list_name: str) -> Request:
        query = dict(request.query)
        if query.get("sort") and "sort" in self.refused_list_options:
            raise ApiError(400, BDC_BAD_REQUEST, f"Invalid sort field '{query['sort'].split(':')[0]}'.")
        if query.get("sort") and "sort" in self.ignored_list_options:
            del query["sort"]
        kept = []
        for clause in split_outside_quotes(query.get("filters") or "", ","):
            option = f"{list_name}:{clause.partition(':')[0]}"
            if option in self.refused_list_options:
                raise ApiError(400, BDC_BAD_REQUEST, f"Invalid filter field '{clause.partition(':')[0]}'.")
            if clause and option not in self.ignored_list_options:
                kept.append(clause)
        query["filters"] = ",".join(kept)
        return dataclasses.replace(request, query=query)

    def _check_in_filters(self, filters: str) -> None:
        limit = self.in_filter_limit or 0
        for clause in split_outside_quotes(filters, ","):
            field_name, _, rest = clause.partition(":")
            op, _, value = rest.partition(":")
            if op != "in":
                continue
            if not limit:
                raise ApiError(400, BDC_BAD_REQUEST, f"Invalid filter operator 'in' for '{field_name}'.")
            if len(value.strip('"').split(",")) > limit:
                raise ApiError(400, BDC_BAD_REQUEST, f"Filter '{field_name}:in' takes at most {limit} values.")

    def _find(self, table: dict[str, dict], record_id: str, label: str) -> dict:
        record = table.get(record_id)
        if record is None:
            raise ApiError(404, SANDBOX_CODES["not_found"], f"{label} {record_id} was not found.")
        return record

    # -- vendors -----------------------------------------------------------------------------------
    def _list_vendors(self, request: Request, session: dict) -> Response:
        return self._page(list(self.vendors.values()), request, "vendors")

    def _get_vendor(self, request: Request, session: dict) -> Response:
        return json_response(200, self._find(self.vendors, request.params["id"], "Vendor"))

    def create_vendor(self, body: dict) -> dict:
        """Create a vendor (from the API or as a BILL user would); fires vendor.created."""
        with self.state_lock:
            vendor = self._store_vendor(self._vendor_from_request(_object(body, "vendor")))
            self.webhooks.publish("vendor.created", vendor)
            return vendor

    def _create_vendor(self, request: Request, session: dict) -> Response:
        return json_response(200, self.create_vendor(self._body(request)))

    def _bulk_items(self, request: Request, entity: str, limit: int) -> list:
        body = self._body(request)
        if not isinstance(body, list) or not body or len(body) > limit:
            raise ApiError(400, BDC_BAD_REQUEST, f"The request body must be a list of 1 to {limit} {entity}.")
        return body

    @staticmethod
    def _named(exc: ApiError, entity: str, index: int) -> ApiError:
        """One record of a bulk call failed: the whole call fails, naming the record (its index in the
        request). BILL's error array has optional ``params``; where BILL puts the index is not documented,
        so the sandbox names it in the message AND in a param, and the client must cope with neither."""
        return ApiError(exc.status, exc.code, f"{entity}[{index}]: {exc.message}", exc.category,
                        [{"name": "index", "value": str(index)}])

    def _bulk_create_vendors(self, request: Request, session: dict) -> Response:
        """POST /v3/vendors/bulk: up to 20 vendors, all or nothing; answers 201 {"vendors": [...]}."""
        prepared = []
        for index, item in enumerate(self._bulk_items(request, "vendors", self.bulk_vendor_limit)):
            try:
                prepared.append(self._vendor_from_request(_object(item, "vendor")))
            except ApiError as exc:
                raise self._named(exc, "vendors", index) from None
        created = [self._store_vendor(vendor) for vendor in prepared]
        for vendor in created:
            self.webhooks.publish("vendor.created", vendor)
        return json_response(201, {"vendors": created})

    def edit_vendor(self, vendor_id: str, changes: dict) -> dict:
        """PATCH semantics; fires vendor.updated."""
        with self.state_lock:
            vendor = self._find(self.vendors, vendor_id, "Vendor")
            changes = _object(changes, "The request body")
            unknown = set(changes) - VENDOR_TOP_KEYS
            if unknown:
                raise ApiError(400, BDC_BAD_REQUEST, f"Unknown field: {sorted(unknown)[0]}.")
            if "name" in changes and (not isinstance(changes["name"], str) or not changes["name"].strip()):
                raise ApiError(400, BDC_BAD_REQUEST, "name must be a non-empty string.")
            if "bankAccount" in (changes.get("paymentInformation") or {}):
                raise ApiError(400, BDC_BAD_REQUEST,
                               "Bank details cannot be changed with PATCH; use the bank-account endpoints.")
            merged = json.loads(json.dumps(vendor, default=_to_json_number), parse_float=Decimal)
            _deep_merge(merged, {k: v for k, v in changes.items()
                                 if k not in ("id", "archived", "createdTime", "updatedTime")})
            check = {k: v for k, v in merged.items() if k in ("name", "accountType", "address", "additionalInfo")}
            self._vendor_from_request(check)  # validates the merged result
            merged["updatedTime"] = self._now()
            self.vendors[vendor_id] = merged
            self.webhooks.publish("vendor.updated", merged)
            return merged

    def set_vendor_bank_account(self, vendor_id: str, bank: dict | None, *, replace: bool = True) -> dict:
        """Add, replace or delete a vendor's bank account as a BILL user would (BILL: one active account per
        vendor; the API deletes, then creates). Only the last four digits are kept and shown, as BILL does.
        The vendor's updatedTime moves and vendor.updated fires."""
        with self.state_lock:
            vendor = self._find(self.vendors, vendor_id, "Vendor")
            payment = dict(vendor.get("paymentInformation") or {})
            if bank is not None:
                if payment.get("bankAccount") and not replace:
                    raise ApiError(400, BDC_BAD_REQUEST, "The vendor already has a bank account; delete it first.")
                masked = _masked_bank(_object(bank, "bankAccount"))
                if not masked.get("accountNumber") or not masked.get("routingNumber"):
                    raise ApiError(400, BDC_BAD_REQUEST, "accountNumber and routingNumber are required.")
                now = self._now()
                payment["bankAccount"] = {**masked, "id": self._new_id("vba"), "status": "VERIFIED",
                                          "createdTime": now}
                payment["payByType"], payment["payBySubType"] = "ACH", payment.get("payBySubType") or "ACH"
                vendor["bankAccountStatus"] = "NO_NET_LINKED_ACCOUNT"
            else:
                if not payment.get("bankAccount"):
                    raise ApiError(404, SANDBOX_CODES["not_found"], f"Vendor {vendor_id} has no bank account.")
                payment.pop("bankAccount")
                payment["payByType"] = "OFFLINE"
                payment.pop("payBySubType", None)
                vendor["bankAccountStatus"] = "NO_ACCOUNT"
            vendor["paymentInformation"] = payment
            vendor["updatedTime"] = self._now()
            self.webhooks.publish("vendor.updated", vendor)
            return payment.get("bankAccount") or {}

    def _get_bank_account(self, request: Request, session: dict) -> Response:
        vendor = self._find(self.vendors, request.params["id"], "Vendor")
        bank = (vendor.get("paymentInformation") or {}).get("bankAccount")
        if not bank:
            raise ApiError(404, SANDBOX_CODES["not_found"], f"Vendor {vendor['id']} has no bank account.")
        return json_response(200, bank)

    def _patch_vendor(self, request: Request, session: dict) -> Response:
        return json_response(200, self.edit_vendor(request.params["id"], self._body(request)))

    def _archive_vendor(self, request: Request, archived: bool) -> Response:
        vendor = self._find(self.vendors, request.params["id"], "Vendor")
        return self._set_archived(vendor, archived, "vendor")

    def _set_archived(self, record: dict, archived: bool, entity: str) -> Response:
        """Archive or restore a vendor or bill as BILL does: new updatedTime and a <entity>.archived/restored event."""
        record["archived"] = archived
        record["updatedTime"] = self._now()
        self.webhooks.publish(f"{entity}.archived" if archived else f"{entity}.restored", record)
        return json_response(200, record)

    # -- vendor credits (docs/vendor-credits.md) ------------------------------------------------------
    def create_vendor_credit(self, body: Any) -> dict:
        """``POST /v3/vendor-credits``: vendorId, referenceNumber (1-100), creditDate and at least one line with an
        amount are required; applyToChartOfAccountId and applyToBankAccountId exclude each other. The response's
        ``amount`` (sum of the lines) is a sandbox choice: BILL's response fields are not documented in what we read."""
        with self.state_lock:
            body = _object(body, "The request body")
            vendor = self._find(self.vendors, str(body.get("vendorId") or ""), "Vendor")
            if vendor.get("archived"):
                raise ApiError(400, SANDBOX_CODES["archived"], f"Vendor {vendor['id']} is archived.")
            reference = _text(body, "referenceNumber", required=True)
            if len(reference) > 100:
                raise ApiError(400, BDC_BAD_REQUEST, "referenceNumber must be 1 to 100 characters.")
            credit_date = _text(body, "creditDate", required=True)
            try:
                date.fromisoformat(credit_date)
            except ValueError:
                raise ApiError(400, BDC_BAD_REQUEST, "creditDate must be a date in yyyy-MM-dd format.") from None
            if body.get("applyToChartOfAccountId") and body.get("applyToBankAccountId"):
                raise ApiError(400, BDC_BAD_REQUEST,
                               "Set only one of applyToChartOfAccountId or applyToBankAccountId.")
            raw_lines = body.get("vendorCreditLineItems")
            if not isinstance(raw_lines, list) or not raw_lines:
                raise ApiError(400, SANDBOX_CODES["missing_field"], "vendorCreditLineItems needs at least one line.")
            lines = []
            for index, raw in enumerate(raw_lines):
                raw = _object(raw, f"vendorCreditLineItems[{index}]")
                if raw.get("amount") is None:
                    raise ApiError(400, SANDBOX_CODES["missing_field"],
                                   f"vendorCreditLineItems[{index}].amount is required.")
                line = {"id": self._new_id("vcl"), "amount": _money(raw["amount"],
                                                                    f"vendorCreditLineItems[{index}].amount")}
                if raw.get("description") is not None:
                    line["description"] = _text(raw, "description", label=f"vendorCreditLineItems[{index}].description")
                if raw.get("classifications"):
                    line["classifications"] = self._check_classifications(
                        raw["classifications"], f"vendorCreditLineItems[{index}].classifications")
                lines.append(line)
            now = self._now()
            credit = _prune({
                "id": self._new_id("vcr"), "vendorId": vendor["id"], "referenceNumber": reference,
                "creditDate": credit_date, "description": body.get("description"),
                "applyToChartOfAccountId": body.get("applyToChartOfAccountId"),
                "applyToBankAccountId": body.get("applyToBankAccountId"), "vendorCreditLineItems": lines,
                "amount": sum((line["amount"] for line in lines), Decimal("0")), "archived": False,
                "createdTime": now, "updatedTime": now})
            self.vendor_credits[credit["id"]] = credit
            return credit

    def _archive_vendor_credit(self, request: Request, session: dict) -> Response:
        credit = self._find(self.vendor_credits, request.params["id"], "Vendor credit")
        credit["archived"], credit["updatedTime"] = True, self._now()  # no vendor-credit event is documented
        return json_response(200, credit)

    # -- bills -----------------------------------------------------------------------------------
    def _list_bills(self, request: Request, session: dict) -> Response:
        return self._page(list(self.bills.values()), request, "bills")

    def _get_bill(self, request: Request, session: dict) -> Response:
        return json_response(200, self._find(self.bills, request.params["id"], "Bill"))

    def _check_classifications(self, values: Any, label: str) -> dict:
        values = _object(values or {}, label)
        for key, value in values.items():
            if key not in LINE_CLASSIFICATION_KEYS:
                raise ApiError(400, BDC_BAD_REQUEST, f"Unknown field: {label}.{key}.")
            if not isinstance(value, str):
                raise ApiError(400, BDC_BAD_REQUEST, f"{label}.{key} must be a string.")
            kind = LINE_FIELD_KIND.get(key)
            if kind:
                record = self.classifications[kind].get(value)
                if record is None:
                    raise ApiError(400, SANDBOX_CODES["not_found"], f"{label}.{key} {value} was not found.")
                if record.get("archived"):
                    raise ApiError(400, SANDBOX_CODES["archived"], f"{label}.{key} {value} is archived.")
        return dict(values)

    def _line(self, raw: Any, index: int, existing: dict | None = None) -> dict:
        raw = _object(raw, f"billLineItems[{index}]")
        line = dict(existing or {})
        if "amount" in raw or existing is None:
            if raw.get("amount") is None:
                raise ApiError(400, SANDBOX_CODES["missing_field"], f"billLineItems[{index}].amount is required.")
            line["amount"] = _money(raw["amount"], f"billLineItems[{index}].amount")
        if "description" in raw:
            line["description"] = _text(raw, "description", label=f"billLineItems[{index}].description")
        for key in ("quantity", "price"):
            if raw.get(key) is not None:
                line[key] = _money(raw[key], f"billLineItems[{index}].{key}")
        if "classifications" in raw:
            line["classifications"] = self._check_classifications(raw["classifications"],
                                                                  f"billLineItems[{index}].classifications")
        line.setdefault("id", self._new_id("bli"))  # sandbox prefix: BILL's line-id prefix is not documented
        return _prune(line)

    def _bill_totals(self, bill: dict) -> None:
        amount = sum((Decimal(str(line["amount"])) for line in bill["billLineItems"]), Decimal("0"))
        paid = Decimal(str(bill.get("paidAmount", 0)))
        scheduled = Decimal(str(bill.get("scheduledAmount", 0)))
        bill["amount"] = amount
        bill["paidAmount"] = paid
        bill["scheduledAmount"] = scheduled
        credited = Decimal(str(bill.get("creditAmount", 0)))  # vendor credits applied (pay_bill's vendor_credits)
        bill["dueAmount"] = max(amount - paid - credited, Decimal("0"))
        if amount > 0 and paid + credited >= amount:
            bill["paymentStatus"] = "PAID"
        elif paid > 0:
            bill["paymentStatus"] = "PARTIAL"
        elif scheduled > 0:
            bill["paymentStatus"] = "SCHEDULED"
        else:
            bill["paymentStatus"] = "UNPAID"

    def _create_bill(self, request: Request, session: dict) -> Response:
        bill = self._bill_from_request(_object(self._body(request), "The request body"))
        return json_response(200, self._store_bill(bill))

    def _bulk_create_bills(self, request: Request, session: dict) -> Response:
        """POST /v3/bills/bulk: up to 100 bills (any vendors), all or nothing; answers 201 with the list."""
        prepared = []
        for index, item in enumerate(self._bulk_items(request, "bills", self.bulk_bill_limit)):
            try:
                prepared.append(self._bill_from_request(_object(item, "bill")))
            except ApiError as exc:
                raise self._named(exc, "bills", index) from None
        return json_response(201, [self._store_bill(bill) for bill in prepared])

    def _bill_from_request(self, body: dict) -> dict:
        """Validate a create body and build the bill (no id, not stored: a bulk call stores all or none)."""
        vendor_id = _text(body, "vendorId", required=True)
        vendor = self.vendors.get(vendor_id or "")
        if vendor is None:
            raise ApiError(400, SANDBOX_CODES["not_found"], f"Vendor {vendor_id} was not found.")
        if vendor.get("archived"):
            raise ApiError(400, SANDBOX_CODES["archived"], f"Vendor {vendor_id} is archived.")
        due_date = _day(body.get("dueDate"), "dueDate")
        invoice = body.get("invoice")
        if invoice is None:
            raise ApiError(400, SANDBOX_CODES["missing_field"], "invoice is required.")
        invoice = _object(invoice, "invoice")
        invoice_number = _text(invoice, "invoiceNumber", required=True, label="invoice.invoiceNumber")
        invoice_date = _day(invoice.get("invoiceDate"), "invoice.invoiceDate")
        lines = body.get("billLineItems")
        if not isinstance(lines, list) or not lines:
            raise ApiError(400, SANDBOX_CODES["missing_field"], "billLineItems needs at least one line item.")
        description = _text(body, "description")
        if description and len(description) > 4000:
            raise ApiError(400, BDC_BAD_REQUEST, "description can be at most 4000 characters.")
        pay_from = _text(body, "payFromChartOfAccountId")
        header_classifications = self._check_classifications(body.get("classifications"), "classifications")
        now = self._now()
        bill = {"archived": False, "vendorId": vendor_id, "vendorName": vendor["name"],
                "description": description, "dueDate": due_date,
                "invoice": {"invoiceNumber": invoice_number, "invoiceDate": invoice_date},
                "billLineItems": [self._line(line, i) for i, line in enumerate(lines)],
                "payFromChartOfAccountId": pay_from, "classifications": header_classifications or None,
                "purchaseOrderNumber": _text(body, "purchaseOrderNumber"),
                "createdTime": now, "updatedTime": now}
        line_items = bill["billLineItems"]
        bill["billLineItems"] = _PRUNED  # _line pruned each line already: keep the key's place, skip the walk
        bill = _prune(bill)
        bill["billLineItems"] = line_items
        self._bill_totals(bill)
        return bill

    def _store_bill(self, bill: dict) -> dict:
        # Duplicate invoice numbers are accepted, as BILL does (its own bulk example repeats one).
        bill = {"id": self._new_id("00n"), **bill}
        self.bills[bill["id"]] = bill
        self.webhooks.publish("bill.created", bill)
        return bill

    def _change_bill(self, request: Request, replace: bool) -> Response:
        bill = self._find(self.bills, request.params["id"], "Bill")
        body = _object(self._body(request), "The request body")
        if "dueDate" in body:
            bill["dueDate"] = _day(body["dueDate"], "dueDate")
        if "description" in body:
            bill["description"] = _text(body, "description")
        if "invoice" in body:
            invoice = _object(body["invoice"], "invoice")
            if "invoiceNumber" in invoice:
                bill["invoice"]["invoiceNumber"] = _text(invoice, "invoiceNumber", required=True,
                                                         label="invoice.invoiceNumber")
            if "invoiceDate" in invoice:
                bill["invoice"]["invoiceDate"] = _day(invoice["invoiceDate"], "invoice.invoiceDate")
        if "billLineItems" in body:
            lines = body["billLineItems"]
            if not isinstance(lines, list) or (replace and not lines):
                raise ApiError(400, BDC_BAD_REQUEST, "billLineItems must be a list of line items.")
            current = {line["id"]: line for line in bill["billLineItems"]}
            changed = {} if replace else dict(current)
            for i, raw in enumerate(lines):
                line_id = raw.get("id") if isinstance(raw, dict) else None
                if line_id is not None and line_id not in current:
                    raise ApiError(400, SANDBOX_CODES["not_found"], f"Bill line item {line_id} was not found.")
                line = self._line(raw, i, current.get(line_id) if line_id else None)
                changed[line["id"]] = line
            bill["billLineItems"] = list(changed.values())  # PUT: omitted line ids are deleted
        self._bill_totals(bill)
        if bill["amount"] < bill["paidAmount"]:
            raise ApiError(400, SANDBOX_CODES["business_rule"], "The bill amount cannot be less than the paid amount.")
        bill["updatedTime"] = self._now()
        bill = _prune(bill)
        self.bills[bill["id"]] = bill
        self.webhooks.publish("bill.updated", bill)
        return json_response(200, bill)

    def _archive_bill(self, request: Request, archived: bool) -> Response:
        bill = self._find(self.bills, request.params["id"], "Bill")
        if archived and bill.get("paidAmount", 0) > 0:
            raise ApiError(400, SANDBOX_CODES["business_rule"], "A bill with payments cannot be archived.")
        return self._set_archived(bill, archived, "bill")

    # -- payments ----------------------------------------------------------------------------------
    def _list_payments(self, request: Request, session: dict) -> Response:
        return self._page(list(self.payments.values()), request, "payments")

    def _get_payment(self, request: Request, session: dict) -> Response:
        return json_response(200, self._find(self.payments, request.params["id"], "Payment"))

    def _new_payment(self, vendor: dict, allocations: list[tuple[dict, Decimal]], process_date: str,
                     settled: bool, online: bool, funding: dict | None = None) -> dict:
        now = self._now()
        total = sum((amount for _bill, amount in allocations), Decimal("0"))
        payment = {
            "id": self._new_id("stp"), "vendorId": vendor["id"], "vendorName": vendor["name"],
            "billId": allocations[0][0]["id"],
            "billPayments": [{"id": self._new_id("blp"), "billId": bill["id"], "amount": amount}
                             for bill, amount in allocations],
            "processDate": process_date, "amount": total, "fundingAmount": total,
            "fundingAccount": funding or {"type": "BANK_ACCOUNT", "id": FUNDING_BANK_ACCOUNT_ID},
            "transactionNumber": f"{self._counter:09d}", "onlinePayment": online,
            "status": "PAID" if settled else "SCHEDULED", "singleStatus": "CLEARED" if settled else "SCHEDULED",
            "disbursementStatus": "DONE" if settled else None, "createdBy": USER_ID,
            "createdTime": now, "updatedTime": now,
        }
        payment = _prune(payment)
        for bill, amount in allocations:
            if settled:
                bill["paidAmount"] = Decimal(str(bill.get("paidAmount", 0))) + amount
            else:
                bill["scheduledAmount"] = Decimal(str(bill.get("scheduledAmount", 0))) + amount
            self._bill_totals(bill)
            bill["updatedTime"] = now
        self.payments[payment["id"]] = payment
        self._publish_payment(payment)
        for bill, _amount in allocations:
            self.webhooks.publish("bill.updated", bill)
        return payment

    def _publish_payment(self, payment: dict) -> None:
        """payment.updated has its own shape (docs/payment-webhook-notification-payloads)."""
        amount = payment["amount"]
        status = {"CLEARED": "PROCESSED", "VOIDED": "VOIDED"}.get(payment.get("singleStatus", ""), "SCHEDULED")
        self.webhooks.publish("payment.updated", {
            "id": payment["id"], "billIds": [bp["billId"] for bp in payment["billPayments"]],
            "transactionNumber": payment.get("transactionNumber", ""),
            "status": status, "createdBy": payment.get("createdBy", USER_ID),
            "createdTime": payment["createdTime"], "updatedTime": payment["updatedTime"],
            "processDate": payment["processDate"],
            "funding": {"amount": amount, "currency": "USD",
                        "fundingAccount": {"id": payment["fundingAccount"]["id"],
                                           "type": payment["fundingAccount"]["type"],
                                           "name": demo_data.BILL_ORGANIZATION_NAME,
                                           "accountNumber": "************1111"}},
            "disbursement": {"amount": amount, "currency": "USD", "arrivesByDate": payment["processDate"],
                             "disbursementAccount": {"type": "ACH", "accountNumber": "******333"}},
            "vendor": {"id": payment["vendorId"], "name": payment.get("vendorName", "")},
            "billingType": "BDC",
        })

    def _payable_bill(self, bill_id: Any, vendor_id: str, amount: Decimal, label: str) -> dict:
        bill = self.bills.get(bill_id) if isinstance(bill_id, str) else None
        if bill is None:
            raise ApiError(400, SANDBOX_CODES["not_found"], f"{label} {bill_id} was not found.")
        if bill["vendorId"] != vendor_id:
            raise ApiError(400, SANDBOX_CODES["business_rule"], f"Bill {bill_id} belongs to another vendor.")
        if bill.get("archived"):
            raise ApiError(400, SANDBOX_CODES["archived"], f"Bill {bill_id} is archived.")
        open_amount = bill["dueAmount"] - Decimal(str(bill.get("scheduledAmount", 0)))
        if amount <= 0 or amount > open_amount:
            raise ApiError(400, SANDBOX_CODES["business_rule"],
                           f"Payment amount must be more than 0 and at most {open_amount} for bill {bill_id}.")
        return bill

    def _create_payment(self, request: Request, session: dict) -> Response:
        body = _object(self._body(request), "The request body")
        vendor = self._find(self.vendors, _text(body, "vendorId", required=True) or "", "Vendor")
        if body.get("amount") is None:
            raise ApiError(400, SANDBOX_CODES["missing_field"], "amount is required.")
        amount = _money(body["amount"], "amount")
        bill = self._payable_bill(_text(body, "billId", required=True), vendor["id"], amount, "Bill")
        process_date = _day(body.get("processDate"), "processDate")
        funding = _object(body.get("fundingAccount"), "fundingAccount")
        if not funding.get("type") or not funding.get("id"):
            raise ApiError(400, SANDBOX_CODES["missing_field"], "fundingAccount.type and fundingAccount.id are required.")
        payment = self._new_payment(vendor, [(bill, amount)], process_date, settled=False, online=True,
                                    funding={"type": funding["type"], "id": funding["id"]})
        return json_response(200, payment)

    def _void_payment(self, request: Request, session: dict) -> Response:
        body = _object(self._body(request), "The request body")
        return json_response(200, self.void_payment(request.params["id"], body.get("type"), body.get("reason")))

    def _record_payment(self, request: Request, session: dict) -> Response:
        body = _object(self._body(request), "The request body")
        vendor = self._find(self.vendors, _text(body, "vendorId", required=True) or "", "Vendor")
        process_date = _day(body.get("processDate"), "processDate")
        items = body.get("payments")
        if not isinstance(items, list) or not items:
            raise ApiError(400, SANDBOX_CODES["missing_field"], "payments needs at least one {billId, amount}.")
        allocations = []
        for i, item in enumerate(items):
            item = _object(item, f"payments[{i}]")
            amount = _money(item.get("amount"), f"payments[{i}].amount")
            allocations.append((self._payable_bill(item.get("billId"), vendor["id"], amount,
                                                   f"payments[{i}].billId"), amount))
        payment = self._new_payment(vendor, allocations, process_date, settled=True, online=False)
        return json_response(200, payment)

    # -- classifications -----------------------------------------------------------------------------
    def _list_classifications(self, request: Request, session: dict) -> Response:
        return self._page(list(self.classifications[request.params["kind"]].values()), request, "classifications")

    def _get_classification(self, request: Request, session: dict) -> Response:
        return json_response(200, self._find(self.classifications[request.params["kind"]], request.params["id"],
                                             "Classification"))

    def _create_classification(self, request: Request, session: dict) -> Response:
        kind = request.params["kind"]
        body = _object(self._body(request), "The request body")
        _text(body, "name", required=True)
        for key in ("shortName", "description", "parentId"):
            _text(body, key)
        if kind == "chart-of-accounts":
            account = _object(body.get("account") or {}, "account")
            if not account.get("type"):
                raise ApiError(400, SANDBOX_CODES["missing_field"], "account.type is required.")
        return json_response(200, self._store_classification(kind, body))

    def _patch_classification(self, request: Request, session: dict) -> Response:
        record = self._find(self.classifications[request.params["kind"]], request.params["id"], "Classification")
        body = _object(self._body(request), "The request body")
        for key in ("name", "shortName", "description", "parentId"):
            _text(body, key)
        _deep_merge(record, {k: v for k, v in body.items() if k in ("name", "shortName", "description",
                                                                    "parentId", "account")})
        record["updatedTime"] = self._now()
        return json_response(200, record)

    def _archive_classification(self, request: Request, archived: bool) -> Response:
        record = self._find(self.classifications[request.params["kind"]], request.params["id"], "Classification")
        record["archived"] = archived
        record["updatedTime"] = self._now()
        return json_response(200, record)

    # -- webhooks API --------------------------------------------------------------------------------
    def _event_catalog(self, request: Request, session: dict) -> Response:
        return json_response(200, [{"type": t, "versions": ["1"]} for t in EVENT_CATALOG])

    def _subscription(self, request: Request):
        subscription = self.webhooks.subscriptions.get(request.params["id"])
        if subscription is None:
            raise ApiError(404, SANDBOX_CODES["not_found"], f"Subscription {request.params['id']} was not found.")
        return subscription

    @staticmethod
    def _events(value: Any) -> list[dict]:
        if not isinstance(value, list) or not value:
            raise ApiError(400, SANDBOX_CODES["missing_field"], "events needs at least one {type, version}.")
        events = []
        for item in value:
            if not isinstance(item, dict) or item.get("type") not in EVENT_CATALOG:
                raise ApiError(400, BDC_BAD_REQUEST, f"Unknown event type: {item!r}.")
            events.append({"type": item["type"], "version": str(item.get("version", "1"))})
        return events

    def _list_subscriptions(self, request: Request, session: dict) -> Response:
        return json_response(200, [s.as_json() for s in self.webhooks.subscriptions.values()])

    def _create_subscription(self, request: Request, session: dict) -> Response:
        key = request.header("X-Idempotent-Key")
        if not key:
            raise ApiError(400, SANDBOX_CODES["missing_field"], "The X-Idempotent-Key header is required.")
        body = _object(self._body(request), "The request body")
        name = _text(body, "name", required=True) or ""
        problem = notification_url_problem(body.get("notificationUrl"))
        if problem:
            raise ApiError(400, BDC_BAD_REQUEST, problem)
        enabled = (body.get("status") or {}).get("enabled", True)
        if not isinstance(enabled, bool):
            raise ApiError(400, BDC_BAD_REQUEST, "status.enabled must be true or false.")
        answer = self.webhooks.create(name, self._events(body.get("events")), body["notificationUrl"], enabled, key)
        return json_response(200, answer)

    def _get_subscription(self, request: Request, session: dict) -> Response:
        return json_response(200, self._subscription(request).as_json())

    def _patch_subscription(self, request: Request, session: dict) -> Response:
        subscription = self._subscription(request)
        body = _object(self._body(request), "The request body")
        if "name" in body:
            subscription.name = _text(body, "name", required=True) or ""
        if "notificationUrl" in body:
            problem = notification_url_problem(body["notificationUrl"])
            if problem:
                raise ApiError(400, BDC_BAD_REQUEST, problem)
            subscription.notification_url = body["notificationUrl"]
        if "events" in body:
            subscription.events = self._events(body["events"])
        if "status" in body:
            enabled = _object(body["status"], "status").get("enabled")
            if not isinstance(enabled, bool):
                raise ApiError(400, BDC_BAD_REQUEST, "status.enabled must be true or false.")
            subscription.enabled = enabled
        subscription.updated_time = self._now()
        return json_response(200, subscription.as_json())

    def _delete_subscription(self, request: Request, session: dict) -> Response:
        self._subscription(request)
        self.webhooks.subscriptions.pop(request.params["id"], None)
        return Response(200, None)

    def _rotate_key(self, request: Request, session: dict) -> Response:
        if self.security_key_spelling and not request.path.endswith(self.security_key_spelling):
            raise ApiError(404, BDC_API_NOT_SUPPORTED)  # the other spelling: no such path on this BILL
        self._subscription(request)
        return json_response(200, {"securityKey": self.webhooks.rotate_key(request.params["id"])})

    def _test_event(self, request: Request, session: dict) -> Response:
        subscription = self._subscription(request)
        body = _object(self._body(request), "The request body") if request.body else {}
        event_type = body.get("eventType") or (subscription.events[0]["type"] if subscription.events else "bill.created")
        if event_type not in EVENT_CATALOG:
            raise ApiError(400, BDC_BAD_REQUEST, f"Unknown event type: {event_type}.")
        entity_key = event_type.split(".", 1)[0]
        entity = body.get(entity_key)
        # The delivery is synchronous; the state lock is released meanwhile so a receiver on the
        # same process may call back into the sandbox.
        self.state_lock.release()
        try:
            record = self.webhooks.send_test(subscription.id, event_type, str(body.get("version", "1")),
                                             entity if isinstance(entity, dict) else None)
        finally:
            self.state_lock.acquire()
        return json_response(200, record)

    def _event_history(self, request: Request, session: dict) -> Response:
        subscription = self._subscription(request)
        entity_id = request.query.get("entityId")
        records = [e for e in subscription.history if not entity_id or entity_id in e["payload"]]
        return self._page(list(reversed(records)), request, "classifications", with_prev_page=False)

    # -- control endpoints and Python helpers (no auth, no faults) -------------------------------------
    def reset(self, seed: str | None = None) -> None:
        self._seed_name = seed or self._seed_name
        self._reset_data(self._seed_name)
        with self._limits_lock:
            self._hour_counts.clear()
            self.limit_rejections.clear()
        self.reset_log()

    def pay_bill(self, bill_id: str, amount: Decimal | None = None, process_date: str | None = None,
                 vendor_credits: list[tuple[str, Decimal]] | None = None) -> dict:
        """Pay a bill as a BILL user would: the payment is CLEARED at once; fires payment/bill updates.

        ``vendor_credits`` [(vcr id, amount)]: the vendor's credits applied to the bill in this payment; the cash is
        then what is left (``billPayments[].vendorCredits[{id, amount}]``, BILL-API.md payment object)."""
        with self.state_lock:
            bill = self._find(self.bills, bill_id, "Bill")
            vendor = self.vendors[bill["vendorId"]]
            applied = [(self._find(self.vendor_credits, credit_id, "Vendor credit"), Decimal(str(value)))
                       for credit_id, value in vendor_credits or []]
            if any(credit["vendorId"] != vendor["id"] for credit, _value in applied):
                raise ApiError(400, SANDBOX_CODES["business_rule"], "A vendor credit of another vendor.")
            credit_total = sum((value for _credit, value in applied), Decimal("0"))
            open_amount = bill["dueAmount"] - Decimal(str(bill.get("scheduledAmount", 0))) - credit_total
            pay = open_amount if amount is None else Decimal(str(amount))
            self._payable_bill(bill_id, vendor["id"], pay, "Bill")
            if applied:
                bill["creditAmount"] = Decimal(str(bill.get("creditAmount", 0))) + credit_total
            payment = self._new_payment(vendor, [(bill, pay)], process_date or self.clock.now().date().isoformat(),
                                        settled=True, online=True)
            if applied:
                payment["billPayments"][0]["vendorCredits"] = [{"id": credit["id"], "amount": value}
                                                               for credit, value in applied]
            return payment

    def clear_payment(self, payment_id: str) -> dict:
        """A SCHEDULED payment settles: SCHEDULED → CLEARED; the bills' paid amounts move."""
        with self.state_lock:
            payment = self._find(self.payments, payment_id, "Payment")
            if payment["singleStatus"] != "SCHEDULED":
                raise ApiError(400, SANDBOX_CODES["business_rule"], f"Payment {payment_id} is not scheduled.")
            for allocation in payment["billPayments"]:
                bill = self.bills[allocation["billId"]]
                bill["scheduledAmount"] = Decimal(str(bill.get("scheduledAmount", 0))) - allocation["amount"]
                bill["paidAmount"] = Decimal(str(bill.get("paidAmount", 0))) + allocation["amount"]
                self._bill_totals(bill)
                bill["updatedTime"] = self._now()
            payment.update(status="PAID", singleStatus="CLEARED", disbursementStatus="DONE", updatedTime=self._now())
            self._publish_payment(payment)
            for allocation in payment["billPayments"]:
                self.webhooks.publish("bill.updated", self.bills[allocation["billId"]])
            return payment

    def void_payment(self, payment_id: str, void_type: Any = "VOID_ONLY", reason: Any = "") -> dict:
        """Void a paid payment (POST /v3/payments/{id}/void {type, reason}): VOID/VOIDED, the bills owe it again."""
        with self.state_lock:
            payment = self._find(self.payments, payment_id, "Payment")
            if void_type not in VOID_TYPES:
                raise ApiError(400, SANDBOX_CODES["missing_field"], f"type must be one of {', '.join(VOID_TYPES)}.")
            if reason is not None and not isinstance(reason, str):
                raise ApiError(400, SANDBOX_CODES["missing_field"], "reason must be a string.")
            if payment["singleStatus"] == "VOIDED":
                raise ApiError(400, SANDBOX_CODES["business_rule"], f"Payment {payment_id} is already voided.")
            if payment["singleStatus"] != "CLEARED":
                raise ApiError(400, SANDBOX_CODES["business_rule"],
                               f"Payment {payment_id} is {payment['singleStatus']}: only a paid payment can be voided.")
            now = self._now()
            for allocation in payment["billPayments"]:
                bill = self.bills[allocation["billId"]]
                bill["paidAmount"] = Decimal(str(bill.get("paidAmount", 0))) - allocation["amount"]
                self._bill_totals(bill)
                bill["updatedTime"] = now
            payment.update(status="VOID", singleStatus="VOIDED", updatedTime=now,
                           voidInfo=[{"type": void_type, "reason": reason or "", "voidedTime": now}])
            self._publish_payment(payment)
            for allocation in payment["billPayments"]:
                self.webhooks.publish("bill.updated", self.bills[allocation["billId"]])
            return payment

    def corrupt(self, entity: str, record_id: str, changes: dict[str, Any]) -> dict:
        """Bad data as a damaged or foreign BILL record would carry it (reliability tests): set wire fields by
        dotted path (``billPayments.0.amount``) to any JSON value, or to ``"RAW:1e309"`` for a bare token no
        encoder writes. No validation; ``updatedTime`` moves so incremental reads see the record again."""
        tables = {"vendors": self.vendors, "bills": self.bills, "payments": self.payments}
        if entity not in tables:
            raise ApiError(400, SANDBOX_CODES["missing_field"], f"entity must be one of {', '.join(tables)}.")
        with self.state_lock:
            record = self._find(tables[entity], record_id, entity[:-1].capitalize())
            for path, value in changes.items():
                target: Any = record
                *parents, last = path.split(".")
                for part in parents:
                    target = target[int(part)] if isinstance(target, list) else target.setdefault(part, {})
                if isinstance(value, str) and value.startswith("RAW:"):
                    value = _RAW_MARK + value[4:]
                if isinstance(target, list):
                    target[int(last)] = value
                else:
                    target[last] = value
            if "updatedTime" not in changes:
                record["updatedTime"] = self._now()
            return {key: (str(v).replace(_RAW_MARK, "RAW:") if isinstance(v, str) else v)
                    for key, v in record.items()}

    def expire_sessions(self) -> None:
        with self.state_lock:
            self.sessions.clear()

    def stats(self) -> dict:
        with self.state_lock:
            return {"vendors": len(self.vendors), "bills": len(self.bills), "payments": len(self.payments),
                    "sessions": len(self.sessions), "subscriptions": len(self.webhooks.subscriptions),
                    "requests": len(self.requests), "limitRejections": dict(self.limit_rejections),
                    "classifications": {k: len(v) for k, v in self.classifications.items()}}

    def _control(self, action) -> Response:
        try:
            return json_response(200, action())
        except ApiError as exc:
            return self.error(exc.status, exc.code, exc.message)

    def _control_body(self, request: Request) -> dict:
        return self._body(request) if request.body else {}

    def _control_reset(self, request: Request) -> Response:
        body = self._control_body(request)
        return self._control(lambda: (self.reset(body.get("seed")), {"reset": True, "seed": self._seed_name})[1])

    def _control_advance(self, request: Request) -> Response:
        body = self._control_body(request)
        seconds = float(body.get("seconds", 0))
        self.clock.advance(seconds)
        return json_response(200, {"now": self._now()})

    def _control_pay_bill(self, request: Request) -> Response:
        def pay() -> dict:
            body = self._control_body(request)
            amount = body.get("amount")
            return self.pay_bill(request.params["id"], None if amount is None else _money(amount, "amount"),
                                 body.get("processDate"))
        return self._control(pay)

    def _control_clear_payment(self, request: Request) -> Response:
        return self._control(lambda: self.clear_payment(request.params["id"]))

    def _control_void_payment(self, request: Request) -> Response:
        def void() -> dict:
            body = self._control_body(request)
            return self.void_payment(request.params["id"], body.get("type", "VOID_ONLY"), body.get("reason", ""))
        return self._control(void)

    def _control_create_vendor(self, request: Request) -> Response:
        return self._control(lambda: self.create_vendor(self._body(request)))

    def _control_edit_vendor(self, request: Request) -> Response:
        return self._control(lambda: self.edit_vendor(request.params["id"], self._body(request)))

    def _control_bank_account(self, request: Request) -> Response:
        """``{"bankAccount": {...}}`` replaces the vendor's account (a BILL user in the web app); ``null`` deletes it."""
        def change() -> dict:
            body = self._control_body(request)
            return self.set_vendor_bank_account(request.params["id"], body.get("bankAccount"))
        return self._control(change)

    def _control_corrupt(self, request: Request) -> Response:
        def corrupt() -> dict:
            body = self._control_body(request)
            return self.corrupt(str(body.get("entity", "")), str(body.get("id", "")), dict(body.get("set") or {}))
        return self._control(corrupt)

    def _control_expire_sessions(self, request: Request) -> Response:
        return self._control(lambda: (self.expire_sessions(), {"expired": True})[1])

    def _control_stats(self, request: Request) -> Response:
        return json_response(200, self.stats())

    def close(self) -> None:
        self.webhooks.close()
