"""BILL v3 client (requests): one reused session, at most 3 requests in flight, typed errors.

Rules it follows (shared/reference/BILL-API.md, developer.bill.com):
- ``POST /v3/login`` once, then ``devKey`` + ``sessionId`` headers on every call. Sessions die after 35
  idle minutes and login is capped at 200 per hour, so the session is reused and only renewed when BILL
  answers BDC_1109 (then the call is retried once with the new session).
- BILL allows 3 simultaneous requests per devKey and organization (BDC_1322) and 20,000 per hour
  (BDC_1144). Both come as a 4xx with the code in the body, not as 429, so the code decides. A
  semaphore keeps this process under the concurrency limit; the retry policy backs off on both.
- A POST that creates something and gets no answer may have happened: ``UnknownOutcomeError``, never a
  blind resend. Subscriptions are the exception: their ``X-Idempotent-Key`` makes a resend safe.
- Every request is counted against the hourly budget (``bill_budget.RequestBudget``): the client stops
  before BILL's limit, leaving headroom for other integrations, and never retries BDC_1144 (BILL: "all
  subsequent API requests must wait until the beginning of the next hour").
- Bulk creates (``create_vendors``: 20 a call, ``create_bills``: 100 a call; developer.bill.com
  reference/createbulkvendor and createbulkbills) are all or nothing: records are checked here before they
  go, and when BILL refuses a call for one record, that record is split out and the rest sent again.
- Messages name the record and the cause; they never contain the password, devKey or sessionId.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import requests

from app.clients.bill_budget import HOURLY_LIMIT_CODE, BudgetExhaustedError, RequestBudget
from app.clients.http_session import EnvironmentOnceSession
from app.clients.retry import RetryPolicy
from app.domain.bank import BankDetails
from app.domain.credits import AppliedCredit, VendorCredit, VendorCreditLine
from app.domain.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectionFailedError,
    ConnectorError,
    NotFoundError,
    RateLimitError,
    RecordError,
    RetryableError,
    UnknownOutcomeError,
)
from app.domain.models import (
    Bill,
    BillLine,
    BillPaymentAllocation,
    BillVendor,
    ChartOfAccount,
    Classification,
    ClassificationKind,
    Payment,
    UnreadableRecord,
    VendorFields,
)
from app.domain.values import (
    parse_amount,
    parse_date,
    parse_datetime,
    parse_optional_date,
    parse_text,
    shown,
)
from app.log import redact, register_secret

log = logging.getLogger("navbill.clients.bill")

SYSTEM = "BILL"
PAGE_SIZE = 100  # BILL's largest page (max=101 is refused)
RATE_LIMIT_CODES = {"BDC_1144", "BDC_1322"}
BULK_VENDOR_LIMIT = 20  # POST /v3/vendors/bulk: "up to 20 vendors" (reference/createbulkvendor)
BULK_BILL_LIMIT = 100  # POST /v3/bills/bulk: "up to 100 bills" (reference/createbulkbills)
IN_FILTER_LIMIT = 100  # vendor ids in one vendorId:in filter (BILL states no limit; fewer where it refuses 100)
_BULK_INDEX = re.compile(r"^\s*(?:vendors|bills)?\[(\d+)\]\s*:?\s*")
# A dead session: BDC_1109 (common-api-error-codes); BDC_1120 and BDC_1361 ("Session expired or untrusted", HTTP 403)
# are met by third-party clients (BILL-API.md 7). Each is answered by one new login, at most MAX_SESSION_RENEWALS times.
SESSION_CODES = {"BDC_1109", "BDC_1120", "BDC_1361"}
# A session BILL ends again at once means something is wrong (not an idle timeout); a couple of
# renewals still ride out a session store hiccup without burning the 200-logins-per-hour budget.
MAX_SESSION_RENEWALS = 3


@dataclass
class BillConnection:
    base_url: str = "https://gateway.stage.bill.com/connect"
    events_base_url: str = "https://gateway.stage.bill.com/connect-events"
    username: str = ""
    password: str = field(default="", repr=False)
    organization_id: str = ""
    dev_key: str = field(default="", repr=False)
    environment: str = "sandbox"  # "sandbox" | "production"


# -- wire → domain -------------------------------------------------------------------------------------
# Every value is parsed with app.domain.values. A list or a GET yields an ``UnreadableRecord`` in place of a
# record that does not parse (the field, the value and why), so one bad record is held and the stream goes
# on. Answers to the connector's own writes are read leniently (``strict=False``): what matters there is the
# id BILL gave the record, and the values are the ones the connector just sent.
class _Unreadable(ValueError):
    def __init__(self, field_name: str, value: Any, reason: str) -> None:
        super().__init__(reason)
        self.field, self.value, self.reason = field_name, shown(value), reason


def _field(strict: bool, name: str, parser: Callable, value: Any, default: Any = None, *,
           fallback: Callable[[Any], Any] | None = None, **options: Any) -> Any:
    """``parser(value)``; when it fails, strict: _Unreadable naming the field; lenient: ``fallback(value)`` if
    given (made only then: most values parse), else ``default``."""
    try:
        return parser(value, **options)
    except ValueError as exc:
        if strict:
            raise _Unreadable(name, value, str(exc)) from None
        return fallback(value) if fallback is not None else default


def _read(kind: str, wire: Any, parse: Callable[..., Any]) -> Any:
    """``parse(wire)``, or an ``UnreadableRecord`` saying which field of which record did not parse."""
    if not isinstance(wire, dict):
        return UnreadableRecord(SYSTEM, kind, "", "(record)", shown(wire), "it is not a JSON object")
    try:
        return parse(wire)
    except _Unreadable as bad:
        key = wire.get("id")
        return UnreadableRecord(SYSTEM, kind, shown(key).strip() if isinstance(key, str) else "", bad.field,
                                bad.value, bad.reason)


def readable(items: Iterator[Any] | list[Any]) -> list[Any]:
    """The records of a lookup, leaving out the ones that could not be read (they are held by the stream)."""
    return [item for item in items if not isinstance(item, UnreadableRecord)]


def parse_time(value: Any) -> datetime | None:
    try:
        return parse_datetime(value) if isinstance(value, str) else None
    except ValueError:
        return None


def parse_day(value: Any) -> date | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])  # BILL sends both 2026-12-31 and 2026-12-15T00:00:00.000Z
    except ValueError:
        return None


def _money(value: Any) -> Decimal:
    """Lenient (answers to our own writes, webhook hints): an unreadable amount is 0."""
    if value is None or isinstance(value, bool):
        return Decimal("0")
    try:
        return parse_amount(value)
    except ValueError:
        return Decimal("0")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def parse_vendor(wire: dict, strict: bool = True) -> BillVendor:
    address = wire.get("address") or {}
    info = wire.get("additionalInfo") or {}
    fields = VendorFields(
        name=_field(strict, "name", parse_text, wire.get("name"), fallback=_text, required="name"),
        address_line1=_text(address.get("line1")),
        address_line2=_text(address.get("line2")),
        city=_text(address.get("city")),
        state=_text(address.get("stateOrProvince")),
        postal_code=_text(address.get("zipOrPostalCode")),
        country=_text(address.get("country")),
        email=_text(wire.get("email")),
        phone=_text(wire.get("phone")),
        tax_id=_text(info.get("taxId")),
        is_1099=bool(info.get("track1099", False)),
        inactive=bool(wire.get("archived", False)),
    )
    return BillVendor(id=_field(strict, "id", parse_text, wire.get("id"), fallback=_text, required="vendor id"),
                      fields=fields,
                      updated_time=_field(strict, "updatedTime", parse_datetime, wire.get("updatedTime")),
                      created_time=parse_time(wire.get("createdTime")),
                      bank=parse_bank_details(wire))


def parse_bank_details(wire: dict) -> BankDetails | None:
    """``paymentInformation`` of a vendor: its method and (masked) bank account; None when BILL sent none."""
    payment = wire.get("paymentInformation")
    if not isinstance(payment, dict):
        return None
    bank = payment.get("bankAccount") if isinstance(payment.get("bankAccount"), dict) else {}
    return BankDetails(pay_by_type=_text(payment.get("payByType")), pay_by_sub_type=_text(payment.get("payBySubType")),
                       account_number=_text(bank.get("accountNumber")), routing_number=_text(bank.get("routingNumber")),
                       name_on_account=_text(bank.get("nameOnAccount")), account_type=_text(bank.get("type")),
                       account_id=_text(bank.get("id")))


def vendor_body(fields: VendorFields, *, for_update: bool = False) -> dict:
    """The create/PATCH body. On update, an emptied field is sent as "" so BILL clears it."""
    def put(target: dict, key: str, value: str) -> None:
        if value or for_update:
            target[key] = value

    body: dict[str, Any] = {"name": fields.name}
    if not for_update:
        body["accountType"] = "BUSINESS"
    put(body, "email", fields.email)
    put(body, "phone", fields.phone)
    address: dict[str, str] = {}
    for key, value in (("line1", fields.address_line1), ("line2", fields.address_line2), ("city", fields.city),
                       ("stateOrProvince", fields.state), ("zipOrPostalCode", fields.postal_code),
                       ("country", fields.country)):
        put(address, key, value)
    if address:
        body["address"] = address
    info: dict[str, Any] = {"track1099": fields.is_1099}
    put(info, "taxId", fields.tax_id)
    body["additionalInfo"] = info
    return body


def _credit_line_body(line: VendorCreditLine) -> dict:
    body: dict[str, Any] = {"amount": _wire_amount(line.amount)}
    if line.description:
        body["description"] = line.description
    classifications = dict(line.classifications)
    if line.chart_of_account_id:
        classifications["chartOfAccountId"] = line.chart_of_account_id
    if classifications:
        body["classifications"] = classifications
    return body


def parse_vendor_credit(wire: dict) -> VendorCredit:
    lines = []
    for raw in wire.get("vendorCreditLineItems") or []:
        classes = dict(raw.get("classifications") or {})
        account = _text(classes.pop("chartOfAccountId", ""))
        lines.append(VendorCreditLine(amount=parse_amount(raw.get("amount")), description=_text(raw.get("description")),
                                      chart_of_account_id=account,
                                      classifications=tuple(sorted((k, _text(v)) for k, v in classes.items()))))
    return VendorCredit(vendor_id=_text(wire.get("vendorId")), reference_number=_text(wire.get("referenceNumber")),
                        credit_date=parse_date(wire.get("creditDate")), lines=tuple(lines),
                        description=_text(wire.get("description")), id=_text(wire.get("id")),
                        archived=bool(wire.get("archived", False)))


def parse_bill(wire: dict, strict: bool = True) -> Bill:
    invoice = wire.get("invoice") or {}
    lines = []
    for index, raw in enumerate(wire.get("billLineItems") or [], start=1):
        raw = raw if isinstance(raw, dict) else {}
        classifications = {k: _text(v) for k, v in (raw.get("classifications") or {}).items() if v}
        account = classifications.pop("chartOfAccountId", "")
        lines.append(BillLine(amount=_field(strict, f"billLineItems[{index}].amount", parse_amount, raw.get("amount"),
                                            fallback=_money),
                              description=_text(raw.get("description")),
                              chart_of_account_id=account, classifications=classifications,
                              id=_text(raw.get("id"))))
    invoice_date = _field(strict, "invoice.invoiceDate", parse_date, invoice.get("invoiceDate"),
                          fallback=parse_day)
    # webhook payloads may leave dueDate out
    due_date = _field(strict, "dueDate", parse_optional_date, wire.get("dueDate"), fallback=parse_day)
    due_date = due_date or invoice_date
    amount = _field(strict, "amount", parse_amount, wire.get("amount"), fallback=_money)
    paid_raw = wire.get("paidAmount")
    paid = Decimal("0") if paid_raw is None else _field(strict, "paidAmount", parse_amount, paid_raw, fallback=_money)
    due = (_field(strict, "dueAmount", parse_amount, wire["dueAmount"], fallback=_money)
           if wire.get("dueAmount") is not None else amount - paid)
    return Bill(
        id=_field(strict, "id", parse_text, wire.get("id"), fallback=_text, required="bill id"),
        vendor_id=_text(wire.get("vendorId")),
        invoice_number=_text(invoice.get("invoiceNumber")),
        invoice_date=invoice_date or date.min, due_date=due_date or date.min,
        amount=amount, lines=tuple(lines), description=_text(wire.get("description")),
        payment_status=_text(wire.get("paymentStatus")) or "UNDEFINED", paid_amount=paid,
        due_amount=due, archived=bool(wire.get("archived", False)),
        updated_time=_field(strict, "updatedTime", parse_datetime, wire.get("updatedTime")),
    )


def _wire_amount(value: Decimal) -> float:
    # BILL takes amounts as JSON numbers; two-decimal amounts survive float exactly in JSON text.
    return float(value)


def bill_body(bill: Bill) -> dict:
    body: dict[str, Any] = {
        "vendorId": bill.vendor_id, "dueDate": bill.due_date.isoformat(),
        "invoice": {"invoiceNumber": bill.invoice_number, "invoiceDate": bill.invoice_date.isoformat()},
        "billLineItems": [],
    }
    if bill.description:
        body["description"] = bill.description
    for line in bill.lines:
        classifications = {k: v for k, v in line.classifications.items() if v}
        if line.chart_of_account_id:
            classifications["chartOfAccountId"] = line.chart_of_account_id
        item: dict[str, Any] = {"amount": _wire_amount(line.amount), "description": line.description}
        if classifications:
            item["classifications"] = classifications
        body["billLineItems"].append(item)
    return body


def parse_payment(wire: dict, strict: bool = True) -> Payment:
    allocations = []
    for index, bp in enumerate(wire.get("billPayments") or [], start=1):
        bp = bp if isinstance(bp, dict) else {}
        allocations.append(BillPaymentAllocation(
            bill_id=_field(strict, f"billPayments[{index}].billId", parse_text, bp.get("billId"), "",
                           required="bill id"),
            amount=_field(strict, f"billPayments[{index}].amount", parse_amount, bp.get("amount"),
                          fallback=_money),
            credits=tuple(AppliedCredit(
                vendor_credit_id=_field(strict, f"billPayments[{index}].vendorCredits[{n}].id", parse_text,
                                        vc.get("id"), "", required="vendor credit id"),
                amount=_field(strict, f"billPayments[{index}].vendorCredits[{n}].amount", parse_amount,
                              vc.get("amount"), fallback=_money))
                for n, vc in enumerate((v if isinstance(v, dict) else {}
                                        for v in bp.get("vendorCredits") or []), start=1))))
    amount = _field(strict, "amount", parse_amount, wire.get("amount"), fallback=_money)
    if not allocations and wire.get("billId"):
        allocations = [BillPaymentAllocation(_text(wire["billId"]), amount)]
    funding = wire.get("funding") if isinstance(wire.get("funding"), dict) else {}
    return Payment(id=_field(strict, "id", parse_text, wire.get("id"), fallback=_text, required="payment id"),
                   vendor_id=_text(wire.get("vendorId")), amount=amount,
                   process_date=_field(strict, "processDate", parse_date, wire.get("processDate"),
                                       fallback=parse_day) or date.min,
                   status=_text(wire.get("status")), single_status=_text(wire.get("singleStatus")),
                   allocations=tuple(allocations),
                   updated_time=_field(strict, "updatedTime", parse_datetime, wire.get("updatedTime")),
                   currency=_text(wire.get("currency") or funding.get("currency")).strip().upper())


def parse_payment_event(entity: dict) -> Payment:
    """The payment.updated webhook entity, which has its own shape (billIds, funding, vendor{id,name})."""
    amount = _money((entity.get("funding") or {}).get("amount"))
    bill_ids = [_text(b) for b in entity.get("billIds") or []]
    allocations = (BillPaymentAllocation(bill_ids[0], amount),) if len(bill_ids) == 1 else tuple(
        BillPaymentAllocation(b, Decimal("0")) for b in bill_ids)  # split unknown: GET the payment for it
    status = _text(entity.get("status"))
    return Payment(id=_text(entity.get("id")), vendor_id=_text((entity.get("vendor") or {}).get("id")),
                   amount=amount, process_date=parse_day(entity.get("processDate")) or date.min,
                   status=status, single_status=status, allocations=allocations,
                   updated_time=parse_time(entity.get("updatedTime")))


def parse_chart_of_account(wire: dict) -> ChartOfAccount:
    account = wire.get("account") or {}
    return ChartOfAccount(id=_field(True, "id", parse_text, wire.get("id"), required="account id"), name=_text(wire.get("name")), number=_text(account.get("number")),
                          account_type=_text(account.get("type")), archived=bool(wire.get("archived", False)),
                          parent_id=_text(wire.get("parentId")))


def parse_classification(kind: ClassificationKind, wire: dict) -> Classification:
    return Classification(kind=kind, id=_field(True, "id", parse_text, wire.get("id"), required="id"), name=_text(wire.get("name")),
                          short_name=_text(wire.get("shortName")), archived=bool(wire.get("archived", False)))


_NO_MORE = object()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _bill_time(moment: datetime) -> str:
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _quoted(value: str) -> str:
    return f'"{value}"'


# -- the client -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Failure:
    status: int
    code: str
    message: str
    params: tuple = ()


def vendor_problem(fields: VendorFields) -> str:
    """Why BILL would refuse this vendor (checked before a bulk call, which one bad record fails), or ""."""
    if not fields.name.strip():
        return "the vendor has no name"
    if fields.country and len(fields.country) != 2:
        return f"country '{fields.country}' is not a 2-letter country code"
    return ""


def bill_problem(bill: Bill) -> str:
    """Why BILL would refuse this bill (checked before a bulk call), or ""."""
    if not bill.vendor_id:
        return "the bill has no BILL vendor"
    if not bill.invoice_number.strip():
        return "the bill has no invoice number"
    if not bill.lines:
        return "the bill has no lines"
    if len(bill.description) > 4000:
        return "the description is longer than BILL's 4000 characters"
    for line in bill.lines:
        if not line.amount.is_finite():
            return f"a line amount is not a number ({line.amount})"
    return ""


class BillClient:
    bulk_vendor_limit = BULK_VENDOR_LIMIT
    bulk_bill_limit = BULK_BILL_LIMIT

    def __init__(self, connection: BillConnection, retry: RetryPolicy | None = None, max_concurrent: int = 3,
                 timeout: float = 30, session_id: str | None = None,
                 on_session: Callable[[str | None], None] | None = None,
                 budget: RequestBudget | None = None) -> None:
        self.connection = connection
        self.budget = budget or RequestBudget(scope=connection.organization_id)
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self._on_session = on_session
        self._session_id = session_id
        self._login_info: dict = {}
        self._login_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._count_lock = threading.Lock()
        self._calls = 0
        self._http = EnvironmentOnceSession()
        self._vendor_in_limit = IN_FILTER_LIMIT  # 0: vendorId:eq, one vendor a query (_bill_wires_of_vendors)
        self._list_levels: dict[str, int] = {}  # list path -> options left out (_tolerant_list)
        self._key_path = "security_key"  # or "security-key" where BILL answers only that (rotate_security_key)
        for secret in (connection.password, connection.dev_key, session_id):
            register_secret(secret)

    @property
    def call_count(self) -> int:
        with self._count_lock:
            return self._calls

    def close(self) -> None:
        self.budget.close()
        self._http.close()

    def requests_this_hour(self) -> str:
        """The status line for the window and ``check``: "BILL requests this hour: used / limit"."""
        return self.budget.text()

    # -- plumbing -----------------------------------------------------------------------------------
    def _url(self, path: str, events: bool = False) -> str:
        base = self.connection.events_base_url if events else self.connection.base_url
        return f"{base.rstrip('/')}/v3/{path.lstrip('/')}"

    def _send(self, method: str, url: str, *, body: Any = None, params: dict | None = None,
              headers: dict | None = None) -> requests.Response:
        try:  # never non-standard JSON (NaN, Infinity): BILL would store nonsense or refuse it
            data = None if body is None else json.dumps(body, allow_nan=False).encode("utf-8")
        except ValueError:
            raise RecordError("an amount is not a finite number; nothing was sent to BILL.", system=SYSTEM,
                              code="not finite") from None
        all_headers = {"Accept": "application/json", **(headers or {})}
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        with self._slots:  # never more than max_concurrent requests in flight (BDC_1322)
            self.budget.take()  # refuses (nothing sent) once this hour's budget is at the stop line
            with self._count_lock:
                self._calls += 1
            return self._http.request(method, url, data=data, params=params, headers=all_headers,
                                      timeout=self.timeout)

    @staticmethod
    def _failure(response: requests.Response) -> _Failure:
        code, message = "", ""
        try:
            payload = response.json()
        except ValueError:
            payload = None
        params: tuple = ()
        if isinstance(payload, list) and payload and isinstance(payload[0], dict):
            code, message = _text(payload[0].get("code")), _text(payload[0].get("message"))
            params = tuple(p for p in payload[0].get("params") or () if isinstance(p, dict))
        elif isinstance(payload, dict):  # gateway failures can come as one {"message": ...} object
            code, message = _text(payload.get("code")), _text(payload.get("message"))
        return _Failure(response.status_code, code, redact(message.strip()), params)

    def _login(self) -> str:
        c = self.connection
        body = {"username": c.username, "password": c.password, "organizationId": c.organization_id,
                "devKey": c.dev_key}
        for attempt in range(1, self.retry.max_attempts + 1):
            try:
                response = self._send("POST", self._url("login"), body=body)
            except requests.RequestException as exc:  # login is safe to resend
                if attempt >= self.retry.max_attempts:
                    raise ConnectionFailedError(f"Could not reach BILL at {c.base_url} ({type(exc).__name__}).",
                                                system=SYSTEM) from None
                self.retry.wait(attempt)
                continue
            if response.ok:
                answer = response.json()
                session_id = _text(answer.get("sessionId"))
                register_secret(session_id)
                self._login_info = {k: v for k, v in answer.items() if k != "sessionId"}
                log.info("BILL login ok (organization %s, %s)", answer.get("organizationId"), c.environment)
                return session_id
            failure = self._failure(response)
            if failure.code == HOURLY_LIMIT_CODE:
                raise self._hourly_limit(failure, "login")
            if self._is_retryable(failure) and attempt < self.retry.max_attempts:
                self.retry.wait(attempt)
                continue
            raise self._login_error(failure)
        raise RetryableError("BILL did not accept the login after several tries.", system=SYSTEM)

    def _login_error(self, failure: _Failure) -> ConnectorError:
        env = self.connection.environment
        if failure.code == "BDC_1101":
            return AuthenticationError(
                f"BILL refused the username or password (check sandbox vs production; this profile uses {env}).",
                system=SYSTEM, code=failure.code)
        if failure.code == "BDC_1102":
            return AuthenticationError(
                f"BILL refused the developer key (check that it belongs to the {env} environment).",
                system=SYSTEM, code=failure.code)
        if failure.code in RATE_LIMIT_CODES or failure.status == 429:
            return RateLimitError(f"BILL is limiting requests ({failure.message or failure.code}).",
                                  system=SYSTEM, code=failure.code)
        if failure.status >= 500:
            return RetryableError(f"BILL could not log in right now (HTTP {failure.status}).",
                                  system=SYSTEM, code=failure.code or f"HTTP {failure.status}")
        if "organization" in failure.message.lower() or failure.code == "BDC_1103":
            return ConfigurationError(
                f"BILL does not know organization {self.connection.organization_id} for this user "
                f"(check the organization ID, it starts with 008, and the {env} environment).",
                system=SYSTEM, code=failure.code)
        reason = failure.message or failure.code
        if reason:
            text = f"BILL refused the login: {reason.rstrip('.')}."
        else:  # no BILL error body: the address is probably not BILL's API
            text = (f"BILL refused the login (HTTP {failure.status}, no reason given): check that the BILL address "
                    f"{self.connection.base_url} is BILL's API.")
        return AuthenticationError(text, system=SYSTEM, code=failure.code or f"HTTP {failure.status}")

    def _current_session(self) -> str:
        with self._login_lock:
            if not self._session_id:
                self._session_id = self._login()
                self._notify_session()
            return self._session_id

    def _renew_session(self, stale: str) -> str:
        with self._login_lock:
            if self._session_id == stale:  # another thread may have renewed it already
                self._session_id = self._login()
                self._notify_session()
            return self._session_id or ""

    def _notify_session(self) -> None:
        if self._on_session is not None:
            self._on_session(self._session_id)

    @staticmethod
    def _is_retryable(failure: _Failure) -> bool:
        return failure.code in RATE_LIMIT_CODES or failure.status == 429 or failure.status >= 500

    def _request(self, method: str, path: str, *, body: Any = None, params: dict | None = None,
                 record: str = "", events: bool = False, resend_safe: bool | None = None,
                 headers: dict | None = None) -> Any:
        """One API call with session renewal and backoff. ``resend_safe`` defaults to "not a POST"."""
        if resend_safe is None:
            resend_safe = method != "POST"
        url = self._url(path, events)
        renewals = 0
        attempt = 0
        while True:
            attempt += 1
            session = self._current_session()
            call_headers = {"devKey": self.connection.dev_key, "sessionId": session, **(headers or {})}
            try:
                response = self._send(method, url, body=body, params=params, headers=call_headers)
            except requests.RequestException as exc:
                never_sent = isinstance(exc, requests.ConnectTimeout) or (
                    isinstance(exc, requests.ConnectionError) and "NewConnectionError" in repr(exc))
                if not resend_safe and not never_sent:
                    raise UnknownOutcomeError(
                        "BILL did not answer after the request was sent; it may or may not have been saved. "
                        "Look it up in BILL before sending it again.", system=SYSTEM, record=record,
                        code="no answer") from None
                if attempt >= self.retry.max_attempts:
                    raise ConnectionFailedError(f"Could not reach BILL ({type(exc).__name__}).",
                                                system=SYSTEM, record=record) from None
                log.info("BILL %s %s: no answer (%s), retrying", method, path, type(exc).__name__)
                self.retry.wait(attempt)
                continue
            log.debug("BILL %s %s -> %s", method, path, response.status_code)
            if response.ok:
                if not response.content:
                    return None
                return json.loads(response.content.decode("utf-8"), parse_float=Decimal)
            failure = self._failure(response)
            if failure.code in SESSION_CODES or (failure.status == 401 and not failure.code):
                if renewals >= MAX_SESSION_RENEWALS:
                    raise AuthenticationError("BILL keeps ending the session right after a new login.",
                                              system=SYSTEM, record=record, code=failure.code)
                renewals += 1
                attempt -= 1  # a renewal is not a failed attempt
                self._renew_session(session)
                continue
            if failure.code == HOURLY_LIMIT_CODE:
                raise self._hourly_limit(failure, record)  # never retried: every retry would count too
            if self._is_retryable(failure):
                if failure.status == 500 and not resend_safe:
                    raise UnknownOutcomeError(
                        "BILL failed while saving; it may or may not have been saved. The connector looks it "
                        "up in BILL before it sends it again.", system=SYSTEM, record=record, code=failure.code or "HTTP 500")
                if attempt < self.retry.max_attempts:
                    log.info("BILL %s %s: %s (HTTP %s), backing off", method, path, failure.code or "busy",
                             failure.status)
                    self.retry.wait(attempt)
                    continue
                if failure.code in RATE_LIMIT_CODES or failure.status == 429:
                    raise RateLimitError(f"BILL is limiting requests: {failure.message or failure.code}",
                                         system=SYSTEM, record=record, code=failure.code or "HTTP 429")
                raise RetryableError(f"BILL is not answering normally (HTTP {failure.status}).",
                                     system=SYSTEM, record=record, code=failure.code or f"HTTP {failure.status}")
            raise self._record_error(failure, record)

    def _hourly_limit(self, failure: _Failure, record: str) -> BudgetExhaustedError:
        self.budget.bill_refused()
        resets = self.budget.status().resets_at
        log.warning("BILL answered BDC_1144 (hourly limit): nothing more is sent to BILL until %s UTC",
                    f"{resets:%H:%M}")
        return BudgetExhaustedError(
            f"BILL's hourly request limit is reached ({failure.message or 'BDC_1144'}); nothing more is sent to "
            f"BILL until {resets:%H:%M} UTC, and the next run after that goes on.", system=SYSTEM, record=record,
            code=HOURLY_LIMIT_CODE)

    def _record_error(self, failure: _Failure, record: str) -> ConnectorError:
        error = self._plain_record_error(failure, record)
        error.params = failure.params  # type: ignore[attr-defined]  # a bulk call's failing record, if named
        error.bill_message = failure.message  # type: ignore[attr-defined]
        return error

    def _plain_record_error(self, failure: _Failure, record: str) -> ConnectorError:
        code = failure.code or f"HTTP {failure.status}"
        if failure.code == "BDC_1121":
            return ConfigurationError("BILL does not offer this API at the configured address (check the BILL URL).",
                                      system=SYSTEM, record=record, code=code)
        if failure.code == "BDC_1102":
            return AuthenticationError("BILL refused the developer key.", system=SYSTEM, record=record, code=code)
        if failure.status == 404:
            return NotFoundError(f"BILL has no such record ({failure.message or 'not found'}).",
                                 system=SYSTEM, record=record, code=code)
        if failure.status == 403:
            return AuthenticationError(f"BILL did not allow this: {failure.message or code}.",
                                       system=SYSTEM, record=record, code=code)
        return RecordError(f"BILL refused it: {failure.message or code}", system=SYSTEM, record=record, code=code)

    def _iter_list(self, path: str, params: dict | None = None, *, record: str = "",
                   events: bool = False) -> Iterator[dict]:
        """Every result of a list, following ``nextPage`` until it is absent (an empty page with a
        cursor still means "go on")."""
        query = {"max": PAGE_SIZE, **(params or {})}
        seen: set[str] = set()
        while True:
            page = self._request("GET", path, params=query, record=record, events=events) or {}
            yield from page.get("results") or []
            cursor = page.get("nextPage")
            if not cursor:
                return
            if cursor in seen:
                raise RetryableError("BILL sent the same page twice; the list was stopped to avoid a loop.",
                                     system=SYSTEM, record=record, code="repeated cursor")
            seen.add(cursor)
            query = {**query, "page": cursor}

    @staticmethod
    def _list_params(filters: list[str], sort: str | None = None) -> dict:
        params: dict[str, str] = {}
        if filters:
            params["filters"] = ",".join(filters)
        if sort:
            params["sort"] = sort
        return params

    def _tolerant_list(self, path: str, filters: list[str], sort: str | None, *, record: str,
                       undocumented: Sequence[str] = (), keep: Callable[[Any], bool] | None = None) -> Iterator[Any]:
        """A list read with options BILL documents only in part: ``sort`` (developer.bill.com names no sortable
        fields) and the ``undocumented`` filters (those whose list has no table on docs/filterable-fields). A BILL
        that refuses the read (400) is asked again without the sort, then without those filters, whose selection
        ``keep(wire)`` then makes here; what worked is kept for this client's life. ``keep`` is also applied to
        every answer: a BILL that ignores a filter returns no record it should not."""
        level = self._list_levels.get(path, 0)
        while True:
            if level == 0:
                params = self._list_params(filters, sort)
            elif level == 1:
                params = self._list_params(filters)
            else:
                params = self._list_params([f for f in filters if f not in undocumented])
            pages = self._iter_list(path, params, record=record)
            try:
                first = next(pages, _NO_MORE)
            except RecordError as exc:
                if isinstance(exc, NotFoundError):
                    raise
                nxt = level + 1 if (level == 0 and sort) else 2
                if level >= 2 or (nxt == 2 and (keep is None or not any(f in undocumented for f in filters))):
                    raise
                log.info("BILL refused a %s read (%s); asking without %s", record, exc.code,
                         "the sort" if nxt == 1 else "its undocumented filters (selected here)")
                level = self._list_levels[path] = nxt
                continue
            if first is _NO_MORE:
                return
            if keep is None or keep(first):
                yield first
            for wire in pages:
                if keep is None or keep(wire):
                    yield wire
            return

    # -- session ------------------------------------------------------------------------------------
    def ping(self) -> dict:
        """Log in (or reuse the session) and return the session details, for the connection test."""
        details = self._request("GET", "login/session", record="connection test") or {}
        return {**self._login_info, **details, "environment": self.connection.environment}

    def logout(self) -> None:
        with self._login_lock:
            session, self._session_id = self._session_id, None
        if session:
            try:
                with self._slots:
                    self.budget.take("logout")
                    with self._count_lock:
                        self._calls += 1
                    self._http.post(self._url("logout"), headers={"devKey": self.connection.dev_key,
                                                                 "sessionId": session}, timeout=self.timeout)
            except (requests.RequestException, BudgetExhaustedError):
                pass  # the session dies on its own after 35 idle minutes
        self._notify_session()

    # -- vendors ----------------------------------------------------------------------------------
    def iter_vendors(self, updated_since: datetime | None = None,
                     updated_before: datetime | None = None) -> Iterator[BillVendor]:
        """Vendors changed at or after ``updated_since`` and before ``updated_before`` (BILL filters
        createdTime/updatedTime by range: developer.bill.com/docs/filterable-fields)."""
        filters = [f"updatedTime:gte:{_quoted(_bill_time(updated_since))}"] if updated_since else []
        if updated_before:
            filters.append(f"updatedTime:lt:{_quoted(_bill_time(updated_before))}")
        sort = "updatedTime:asc" if updated_since or updated_before else None
        for wire in self._tolerant_list("vendors", filters, sort, record="vendor list"):
            yield _read("vendor", wire, parse_vendor)

    def get_vendor(self, vendor_id: str) -> BillVendor | UnreadableRecord:
        return _read("vendor", self._request("GET", f"vendors/{vendor_id}", record=f"vendor {vendor_id}"),
                     parse_vendor)

    def find_vendors_by_name(self, name: str) -> list[BillVendor]:
        if '"' in name:  # a quote cannot be put inside a quoted filter value: match here instead
            return [v for v in readable(self.iter_vendors()) if v.fields.name == name]
        wanted = name.strip().casefold()

        def same_name(wire: Any) -> bool:  # a BILL that ignored the filter answers other vendors too
            return isinstance(wire, dict) and str(wire.get("name") or "").strip().casefold() == wanted
        wires = self._iter_list("vendors", {"filters": f"name:eq:{_quoted(name)}"}, record=f"vendor {name}")
        return readable(_read("vendor", w, parse_vendor) for w in wires if same_name(w))

    def create_vendor(self, fields: VendorFields) -> BillVendor:
        record = f"vendor {fields.name}"
        vendor = parse_vendor(self._request("POST", "vendors", body=vendor_body(fields), record=record), strict=False)
        if fields.inactive:
            vendor = self.archive_vendor(vendor.id)
        return vendor

    def create_vendors(self, fields_list: Sequence[VendorFields]) -> list[BillVendor | RecordError]:
        """New vendors through ``POST /v3/vendors/bulk`` (at most 20 a call): per record, the vendor BILL
        created or the RecordError that keeps it out (the others still go). Archiving an inactive one is a
        request of its own. An unanswered call raises UnknownOutcomeError: look the vendors up
        (``vendors_created_since``) before sending any of them again."""
        bodies = [vendor_body(f) for f in fields_list]
        problems = [vendor_problem(f) for f in fields_list]
        labels = [f"vendor {f.name}" for f in fields_list]
        results = self._bulk("vendors/bulk", bodies, problems, labels, BULK_VENDOR_LIMIT,
                             lambda answer: (answer or {}).get("vendors") if isinstance(answer, dict) else answer,
                             parse_vendor)
        for index, fields in enumerate(fields_list):
            created = results[index]
            if fields.inactive and isinstance(created, BillVendor):
                try:
                    results[index] = self.archive_vendor(created.id)
                except ConnectorError as exc:  # the vendors exist now: never "refused", look them up instead
                    raise UnknownOutcomeError(
                        f"BILL created the vendors but archiving {fields.name} failed ({exc.message}); the "
                        "connector looks them up in BILL before sending any again.", system=SYSTEM,
                        record=labels[index], code=exc.code) from exc
        return results

    def vendors_created_since(self, since: datetime) -> list[BillVendor]:
        """Vendors BILL created at or after ``since`` (filter createdTime:gte, one page per 100): what a
        lost bulk answer may have created, matched by name and tax id by the caller."""
        filters = [f"createdTime:gte:{_quoted(_bill_time(since))}"]

        def created(wire: Any) -> bool:  # a BILL that ignored the filter answers older vendors too
            moment = parse_time(wire.get("createdTime")) if isinstance(wire, dict) else None
            return moment is None or moment >= _aware(since)
        return [parse_vendor(w) for w in self._iter_list("vendors", self._list_params(filters),
                                                           record="vendor lookup") if created(w)]

    def update_vendor(self, vendor_id: str, fields: VendorFields) -> BillVendor:
        record = f"vendor {fields.name} ({vendor_id})"
        vendor = parse_vendor(self._request("PATCH", f"vendors/{vendor_id}",
                                            body=vendor_body(fields, for_update=True), record=record), strict=False)
        if fields.inactive != vendor.fields.inactive:
            vendor = self.archive_vendor(vendor_id) if fields.inactive else self.restore_vendor(vendor_id)
        return vendor

    def archive_vendor(self, vendor_id: str) -> BillVendor:
        return parse_vendor(self._request("POST", f"vendors/{vendor_id}/archive", record=f"vendor {vendor_id}",
                                          resend_safe=True), strict=False)

    def restore_vendor(self, vendor_id: str) -> BillVendor:
        return parse_vendor(self._request("POST", f"vendors/{vendor_id}/restore", record=f"vendor {vendor_id}",
                                          resend_safe=True), strict=False)

    # -- bills ------------------------------------------------------------------------------------
    def iter_bills(self, updated_since: datetime | None = None, vendor_id: str | None = None,
                   payment_status: str | None = None) -> Iterator[Bill]:
        filters = []
        if updated_since:
            filters.append(f"updatedTime:gte:{_quoted(_bill_time(updated_since))}")
        if vendor_id:
            filters.append(f"vendorId:eq:{vendor_id}")
        if payment_status:
            filters.append(f"paymentStatus:eq:{payment_status}")
        sort = "updatedTime:asc" if updated_since else None

        def asked(wire: Any) -> bool:  # a BILL that ignored vendorId or paymentStatus answers other bills too
            return not isinstance(wire, dict) or (
                (not vendor_id or wire.get("vendorId") == vendor_id)
                and (not payment_status or wire.get("paymentStatus") == payment_status))
        for wire in self._tolerant_list("bills", filters, sort, record="bill list", keep=asked):
            yield _read("bill", wire, parse_bill)

    def get_bill(self, bill_id: str) -> Bill | UnreadableRecord:
        return _read("bill", self._request("GET", f"bills/{bill_id}", record=f"bill {bill_id}"), parse_bill)

    def create_bill(self, bill: Bill) -> Bill:
        record = f"bill for invoice {bill.invoice_number}"
        return parse_bill(self._request("POST", "bills", body=bill_body(bill), record=record), strict=False)

    def create_bills(self, bills: Sequence[Bill]) -> list[Bill | RecordError]:
        """New bills through ``POST /v3/bills/bulk`` (at most 100 a call, any vendors): per record, the bill
        BILL created or the RecordError that keeps it out. An unanswered call raises UnknownOutcomeError:
        look them up (``bills_created_since``) before sending any of them again."""
        return self._bulk("bills/bulk", [bill_body(b) for b in bills], [bill_problem(b) for b in bills],
                          [f"bill for invoice {b.invoice_number}" for b in bills], BULK_BILL_LIMIT,
                          lambda answer: answer, parse_bill)

    def bills_created_since(self, since: datetime, vendor_ids: Sequence[str] | None = None) -> list[Bill]:
        """Bills BILL created at or after ``since`` (createdTime:gte), of these vendors only if given
        (``_bill_wires_of_vendors``); one page per 100 bills: what a lost bulk answer may have created, matched by
        invoice number and amount by the caller."""
        created = f"createdTime:gte:{_quoted(_bill_time(since))}"
        if vendor_ids is None:
            return [parse_bill(w) for w in self._iter_list("bills", self._list_params([created]),
                                                            record="bill lookup")]
        return [parse_bill(w) for w in self._bill_wires_of_vendors(vendor_ids, [created], "bill lookup")]

    def find_bills_of_vendors(self, vendor_ids: list[str], created_from: datetime | None = None,
                              created_before: datetime | None = None) -> list[Bill]:
        """The bills of many vendors at once (``_bill_wires_of_vendors``), created in a time window: what the
        engine matches new invoices against (vendor + invoice number + amount) before creating any."""
        filters = []
        if created_from:
            filters.append(f"createdTime:gte:{_quoted(_bill_time(created_from))}")
        if created_before:
            filters.append(f"createdTime:lt:{_quoted(_bill_time(created_before))}")
        return readable(_read("bill", wire, parse_bill)
                        for wire in self._bill_wires_of_vendors(vendor_ids, filters, "bill list"))

    def _bill_wires_of_vendors(self, vendor_ids: Sequence[str], filters: list[str], record: str) -> list[Any]:
        """The bills of these vendors, with the other ``filters``. ``vendorId:in`` is a documented bill filter
        (developer.bill.com/docs/filterable-fields: vendorId eq, in) but no limit on its values is: up to
        ``IN_FILTER_LIMIT`` ids a query; a BILL that refuses that many (400) is asked again with half as many,
        down to one, and one that refuses ``in`` even then is asked ``vendorId:eq`` per vendor. What worked is
        kept for this client's life; a refusal of the plain ``eq`` query means the fault is elsewhere: the limit
        is restored and the error raised. Bills of other vendors (a BILL that ignored the filter) are left out."""
        ids = sorted({v for v in vendor_ids if v})
        wires: list[Any] = []
        start = 0
        while start < len(ids):
            size = self._vendor_in_limit
            chunk = ids[start:start + size] if size else ids[start:start + 1]
            vendor_filter = f"vendorId:in:{_quoted(','.join(chunk))}" if size else f"vendorId:eq:{chunk[0]}"
            try:
                found = list(self._iter_list("bills", self._list_params([vendor_filter, *filters]), record=record))
            except RecordError as exc:
                if isinstance(exc, NotFoundError) or not size:
                    self._vendor_in_limit = IN_FILTER_LIMIT
                    raise
                self._vendor_in_limit = len(chunk) // 2
                log.info("BILL refused vendorId:in with %d vendors (%s); asking for %s", len(chunk),
                         exc.code, f"{self._vendor_in_limit} a query" if self._vendor_in_limit
                         else "one vendor a query (vendorId:eq)")
                continue
            wanted = set(chunk)
            wires.extend(w for w in found if not isinstance(w, dict) or w.get("vendorId") in wanted)
            start += len(chunk)
        return wires

    def find_bills(self, vendor_id: str, invoice_number: str) -> list[Bill]:
        """BILL cannot filter on invoice number: list the vendor's bills and match here."""
        wanted = invoice_number.strip()
        return [b for b in readable(self.iter_bills(vendor_id=vendor_id)) if b.invoice_number.strip() == wanted]

    # -- vendor credits (docs/vendor-credits.md) ------------------------------------------------------
    def create_vendor_credit(self, credit: VendorCredit) -> VendorCredit:
        body: dict[str, Any] = {"vendorId": credit.vendor_id, "referenceNumber": credit.reference_number,
                                "creditDate": credit.credit_date.isoformat(),
                                "vendorCreditLineItems": [_credit_line_body(line) for line in credit.lines]}
        if credit.description:
            body["description"] = credit.description
        wire = self._request("POST", "vendor-credits", body=body,
                             record=f"vendor credit {credit.reference_number}")
        return parse_vendor_credit(wire)

    def get_vendor_credit(self, credit_id: str) -> VendorCredit | None:
        """One vendor credit by id (``GET /v3/vendor-credits/{id}``); None when BILL has none."""
        try:
            wire = self._request("GET", f"vendor-credits/{credit_id}", record=f"vendor credit {credit_id}")
        except NotFoundError:
            return None
        return parse_vendor_credit(wire)

    def find_vendor_credits(self, vendor_id: str, reference_number: str) -> list[VendorCredit]:
        """The vendor's credits with this reference number (looked up before any create: never twice)."""
        filters = [f"vendorId:eq:{vendor_id}"]  # no filterable-fields table for vendor credits: may be refused
        found = [parse_vendor_credit(w) for w in self._tolerant_list(
            "vendor-credits", filters, None, record="vendor credit list", undocumented=filters,
            keep=lambda w: not isinstance(w, dict) or w.get("vendorId") == vendor_id)]
        return [c for c in found if c.reference_number.strip() == reference_number.strip()]

    # -- bulk plumbing --------------------------------------------------------------------------------
    def _bulk(self, path: str, bodies: list[dict], problems: list[str], labels: list[str], limit: int,
              unwrap: Callable[[Any], Any], parse: Callable[[dict], Any]) -> list:
        """Send ``bodies`` in calls of at most ``limit``; BILL creates all of a call or none. A record
        checked here as bad never goes; when BILL refuses a call, the record it names is split out (or, if
        it names none, the call is halved until it is found) and the rest are sent again: a refused call
        created nothing, so this resend is safe."""
        results: list[Any] = [None] * len(bodies)
        ready = []
        for index, problem in enumerate(problems):
            if problem:
                results[index] = RecordError(f"not sent to BILL: {problem}", system=SYSTEM, record=labels[index],
                                             code="invalid")
            else:
                ready.append(index)
        queue = [ready[start:start + limit] for start in range(0, len(ready), limit)]
        created_some = False
        while queue:
            group = queue.pop(0)
            if not group:
                continue
            record = labels[group[0]] if len(group) == 1 else f"{len(group)} records ({labels[group[0]]} …)"
            try:
                answer = self._request("POST", path, body=[bodies[i] for i in group], record=record)
            except ConnectorError as exc:
                if created_some and not isinstance(exc, RecordError):
                    # An earlier call of this batch created records: whatever stopped this one, the caller
                    # must look them up rather than treat the batch as not sent.
                    raise UnknownOutcomeError(
                        f"BILL created part of a bulk batch, then: {exc.message}. The connector looks the records "
                        "up in BILL before sending any again.", system=SYSTEM, record=record,
                        code=exc.code) from exc
                if not isinstance(exc, RecordError):
                    raise
                # all or nothing: BILL created none of this call
                bad = self._rejected_index(exc, len(group))
                if bad is None and len(group) > 1:
                    half = len(group) // 2
                    queue[0:0] = [group[:half], group[half:]]
                    continue
                bad = 0 if bad is None else bad
                message = _BULK_INDEX.sub("", getattr(exc, "bill_message", "") or exc.message)
                results[group[bad]] = RecordError(f"BILL refused it: {message or exc.code}", system=SYSTEM,
                                                  record=labels[group[bad]], code=exc.code)
                log.info("BILL refused a bulk call because of %s: %s; sending the other %d again",
                         labels[group[bad]], message, len(group) - 1)
                queue.insert(0, group[:bad] + group[bad + 1:])
                continue
            created = unwrap(answer)
            if not isinstance(created, list) or len(created) != len(group):
                raise UnknownOutcomeError(
                    f"BILL answered a bulk create of {len(group)} records with {len(created or [])} records; the "
                    "connector looks them up in BILL before sending any again.", system=SYSTEM, record=record,
                    code="bulk answer")
            created_some = True
            for index, wire in zip(group, created, strict=True):
                results[index] = parse(wire)
        return results

    @staticmethod
    def _rejected_index(error: RecordError, size: int) -> int | None:
        """Which record of a refused bulk call BILL named: an ``index`` param, or ``bills[3]: ...``."""
        for param in getattr(error, "params", ()) or ():
            if str(param.get("name", "")).lower() == "index":
                try:
                    value = int(str(param.get("value")))
                except ValueError:
                    continue
                if 0 <= value < size:
                    return value
        match = _BULK_INDEX.match(getattr(error, "bill_message", "") or "")
        if match and 0 <= int(match.group(1)) < size:
            return int(match.group(1))
        return None

    # -- payments ---------------------------------------------------------------------------------
    def iter_payments(self, updated_since: datetime | None = None) -> Iterator[Payment]:
        filters = [f"updatedTime:gte:{_quoted(_bill_time(updated_since))}"] if updated_since else []
        sort = "updatedTime:asc" if updated_since else None

        def changed(wire: Any) -> bool:  # updatedTime:gte, where BILL does not filter payments by it
            moment = parse_time(wire.get("updatedTime")) if isinstance(wire, dict) else None
            return updated_since is None or moment is None or moment >= _aware(updated_since)
        # developer.bill.com/docs/filterable-fields has no table for payments: the filter may be refused
        for wire in self._tolerant_list("payments", filters, sort, record="payment list", undocumented=filters,
                                        keep=changed):
            yield _read("payment", wire, parse_payment)

    def get_payment(self, payment_id: str) -> Payment | UnreadableRecord:
        return _read("payment", self._request("GET", f"payments/{payment_id}", record=f"payment {payment_id}"),
                     parse_payment)

    # -- accounts and classifications ----------------------------------------------------------------
    def iter_chart_of_accounts(self) -> Iterator[ChartOfAccount]:
        for wire in self._iter_list("classifications/chart-of-accounts", record="chart of accounts"):
            yield _read("chart-of-accounts entry", wire, parse_chart_of_account)

    def iter_classifications(self, kind: ClassificationKind) -> Iterator[Classification]:
        kind = ClassificationKind(kind)
        for wire in self._iter_list(f"classifications/{kind.value}", record=f"{kind.value} list"):
            yield _read(kind.value[:-1], wire, lambda w, kind=kind: parse_classification(kind, w))

    # -- webhooks -----------------------------------------------------------------------------------
    def create_subscription(self, name: str, events: list[str] | list[dict],
                            notification_url: str) -> tuple[dict, str]:
        """Returns (subscription, securityKey). BILL shows the key only once: store it at once."""
        body = {"name": name, "status": {"enabled": True}, "notificationUrl": notification_url,
                "events": [e if isinstance(e, dict) else {"type": e, "version": "1"} for e in events]}
        answer = self._request("POST", "subscriptions", body=body, events=True, record=f"subscription {name}",
                               resend_safe=True,  # the idempotency key makes a resend harmless
                               headers={"X-Idempotent-Key": str(uuid.uuid4())})
        security_key = _text(answer.pop("securityKey", ""))
        register_secret(security_key)
        return answer, security_key

    def list_subscriptions(self) -> list[dict]:
        answer = self._request("GET", "subscriptions", events=True, record="subscriptions")
        return answer.get("results", []) if isinstance(answer, dict) else list(answer or [])

    def get_subscription(self, subscription_id: str) -> dict:
        return self._request("GET", f"subscriptions/{subscription_id}", events=True,
                             record=f"subscription {subscription_id}")

    def update_subscription(self, subscription_id: str, **changes: Any) -> dict:
        """changes: name, events (type names), notification_url, enabled."""
        body: dict[str, Any] = {}
        if "name" in changes:
            body["name"] = changes["name"]
        if "notification_url" in changes:
            body["notificationUrl"] = changes["notification_url"]
        if "enabled" in changes:
            body["status"] = {"enabled": bool(changes["enabled"])}
        if "events" in changes:
            body["events"] = [e if isinstance(e, dict) else {"type": e, "version": "1"} for e in changes["events"]]
        return self._request("PATCH", f"subscriptions/{subscription_id}", body=body, events=True,
                             record=f"subscription {subscription_id}")

    def delete_subscription(self, subscription_id: str) -> None:
        self._request("DELETE", f"subscriptions/{subscription_id}", events=True,
                      record=f"subscription {subscription_id}")

    def rotate_security_key(self, subscription_id: str) -> str:
        """A new signing key. BILL spells the path ``security_key`` (Postman collection, changelog 2024-05-20) and
        ``security-key`` (docs/bill-webhook-api-general-rules): the other is tried when one is not there."""
        record = f"subscription {subscription_id}"
        spellings = (self._key_path, *(p for p in ("security_key", "security-key") if p != self._key_path))
        for spelling in spellings:
            try:
                answer = self._request("POST", f"subscriptions/{subscription_id}/{spelling}", events=True,
                                       record=record, resend_safe=True)
            except (NotFoundError, ConfigurationError):  # 404, or BDC_1121 "API not supported"
                if spelling == spellings[-1]:
                    raise
                continue
            self._key_path = spelling
            break
        key = _text((answer or {}).get("securityKey"))
        register_secret(key)
        return key

    def send_test_event(self, subscription_id: str, event_type: str) -> dict:
        return self._request("POST", f"subscriptions/{subscription_id}/test", events=True,
                             body={"eventType": event_type, "version": "1"},
                             record=f"subscription {subscription_id}", resend_safe=True)
