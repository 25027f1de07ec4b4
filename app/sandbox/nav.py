"""A loopback server that behaves like NAV 2018 / Business Central on-prem web services.

Two URL shapes over the same data:

* OData v4 pages published as web services:
  ``/<ServerInstance>/ODataV4/Company('<name>')/<ServiceName>`` (and ``/ODataV4/Company`` to list companies).
  Field names are the page captions with underscores (``No``, ``Address_2``, ``Last_Date_Modified``).
* The Business Central API v2.0: ``/<ServerInstance>/api/v2.0/companies(<id>)/vendors`` on-prem, or the
  online shape ``/v2.0/<tenant>/<environment>/api/v2.0/...``; plus ``/api/v2.0/subscriptions`` (webhooks).

Behaviour follows Microsoft's documentation:
* Server-driven paging with ``@odata.nextLink`` and ``Prefer: odata.maxpagesize``
  (learn.microsoft.com/dynamics365/business-central/dev-itpro/webservices/server-driven-paging-in-odata-web-services;
  NAV 2018's default Max Page Size is 1000).
* Error codes and messages from the "Error Codes" table
  (learn.microsoft.com/dynamics365/business-central/dev-itpro/api-reference/v2.0/dynamics_error_codes):
  ``BadRequest_InvalidToken`` for a missing If-Match, ``Request_EntityChanged`` for a stale one,
  ``BadRequest_MethodNotAllowed`` for writes to read-only pages, ``Internal_CompanyNotFound``,
  ``Authentication_InvalidCredentials``.
* Webhooks (learn.microsoft.com/dynamics365/business-central/dev-itpro/api-reference/v2.0/dynamics-subscriptions):
  handshake on create and renewal, 3-day lifetime, ``collection`` notifications for bulk changes.
* Throttling answers 429 with Retry-After (.../api-reference/v2.0/dynamics-rate-limits).

* Windows authentication (``NavSandbox(windows_auth=True)`` or ``POST /_sandbox/windows-auth``): the
  instance's credential type is Windows, as set in NAV Server Administration. Requests without credentials
  (and Basic ones: NAV does not take a web-service key then) get ``401`` with ``WWW-Authenticate: Negotiate``
  and ``NTLM``; a real NTLM handshake (pyspnego's acceptor, ``app/sandbox/nav_ntlm.py``) authenticates the
  TCP connection as ``CRONUS\\apclerk`` (``demo_data.NAV_WINDOWS_ACCOUNT``) and later requests on that
  connection need no header. A wrong password is a 401. Bearer tokens still work on the online URL shape.

Not simulated: Kerberos (a Negotiate token that is not raw NTLM is refused), ``$batch``, ``$count``, SOAP.
The sandbox calls the subscriber's ``notificationUrl?validationToken=...`` with a POST (as Business
Central does); a subscriber that fails ``FAILED_DELIVERIES_BEFORE_DELETE`` deliveries in a row loses
its subscription, as Business Central drops subscribers that stay unreachable.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import re
import secrets
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from app.sandbox import demo_data
from app.sandbox.base import Request, Response, SandboxApp, SandboxClock
from app.sandbox.nav_ntlm import AUTHENTICATE_MESSAGE, NEGOTIATE_MESSAGE, NtlmAcceptor, message_type
from app.sandbox.nav_odata import (
    LazyTable,
    ODataSyntaxError,
    parse_datetime,
    parse_decimal,
    parse_filter,
    parse_key_segment,
)
from app.sandbox.nav_payments import PaymentJournalApi

log = logging.getLogger("navbill.sandbox.nav")

SUBSCRIPTION_LIFETIME = timedelta(days=3)
FAILED_DELIVERIES_BEFORE_DELETE = 3
COLLECTION_THRESHOLD = 5  # more changes than this for one subscription in one batch → one "collection"
DEFAULT_TOKEN_LIFETIME = 3600.0
API_SCOPE = "https://api.businesscentral.dynamics.com/.default"
WINDOWS_IDENTITY = "nav.windows_identity"  # connection state: DOMAIN\user once NTLM succeeded
NTLM_CONTEXT = "nav.ntlm_context"  # connection state: the acceptor between CHALLENGE and AUTHENTICATE

STR, BOOL, DEC, DATE, DT, INT = "Edm.String", "Edm.Boolean", "Edm.Decimal", "Edm.Date", "Edm.DateTimeOffset", "Edm.Int32"


class ODataError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}

    def response(self) -> Response:
        return Response(self.status, {"error": {"code": self.code, "message": self.message}}, dict(self.headers))


@dataclass
class EntitySet:
    """One published page (or API entity set): its table, key, field types and what it allows."""

    name: str
    entity: str  # the record's caption in messages, e.g. "Vendor"
    table: LazyTable
    key_fields: tuple[str, ...]
    schema: dict[str, str]
    insertable: bool = False
    modifiable: bool = False
    deletable: bool = False
    read_only_fields: frozenset[str] = frozenset()
    required_on_insert: tuple[str, ...] = ()
    expand: dict[str, Callable[[dict], list[dict]]] = field(default_factory=dict)

    def key_of_row(self, row: dict) -> Any:
        return row[self.key_fields[0]] if len(self.key_fields) == 1 else tuple(row[k] for k in self.key_fields)

    def table_key(self, key: tuple) -> Any:
        return key[0] if len(key) == 1 else key


VENDOR_SCHEMA = {
    "No": STR, "Name": STR, "Address": STR, "Address_2": STR, "City": STR, "County": STR, "Post_Code": STR,
    "Country_Region_Code": STR, "E_Mail": STR, "Phone_No": STR, "Federal_ID_No": STR, "IRS_1099_Code": STR,
    "Blocked": STR, "Balance_LCY": DEC, "Last_Date_Modified": DATE, "Last_Modified_Date_Time": DT, "Id": STR,
}
VENDOR_BLOCKED = (" ", "Payment", "All")
INVOICE_SCHEMA = {
    "No": STR, "Buy_from_Vendor_No": STR, "Buy_from_Vendor_Name": STR, "Vendor_Invoice_No": STR,
    "Posting_Date": DATE, "Document_Date": DATE, "Due_Date": DATE, "Currency_Code": STR, "Amount": DEC,
    "Amount_Including_VAT": DEC, "Shortcut_Dimension_1_Code": STR, "Shortcut_Dimension_2_Code": STR,
    "Dimension_Set_ID": INT, "Last_Modified_Date_Time": DT, "Id": STR,
}
INVOICE_LINE_SCHEMA = {
    "Document_No": STR, "Line_No": INT, "Type": STR, "No": STR, "Description": STR, "Quantity": DEC,
    "Direct_Unit_Cost": DEC, "Line_Amount": DEC, "Amount": DEC, "Shortcut_Dimension_1_Code": STR,
    "Shortcut_Dimension_2_Code": STR, "Dimension_Set_ID": INT, "Dimensions": STR,
}
ORDER_SCHEMA = {"Document_Type": STR, "No": STR, "Buy_from_Vendor_No": STR, "Amount": DEC, "Status": STR,
                "Order_Date": DATE}
ACCOUNT_SCHEMA = {"No": STR, "Name": STR, "Account_Type": STR, "Income_Balance": STR, "Blocked": BOOL,
                  "Direct_Posting": BOOL, "Id": STR}
DIMENSION_SCHEMA = {"Code": STR, "Name": STR, "Blocked": BOOL, "Id": STR}
DIMENSION_VALUE_SCHEMA = {"Dimension_Code": STR, "Code": STR, "Name": STR, "Dimension_Value_Type": STR,
                          "Blocked": BOOL, "Id": STR}
JOURNAL_SCHEMA = {
    "Journal_Template_Name": STR, "Journal_Batch_Name": STR, "Line_No": INT, "Posting_Date": DATE,
    "Document_Type": STR, "Document_No": STR, "External_Document_No": STR, "Account_Type": STR,
    "Account_No": STR, "Description": STR, "Amount": DEC, "Bal_Account_Type": STR, "Bal_Account_No": STR,
    "Applies_to_Doc_Type": STR, "Applies_to_Doc_No": STR,
}
VLE_SCHEMA = {
    "Entry_No": INT, "Posting_Date": DATE, "Document_Type": STR, "Document_No": STR,
    "External_Document_No": STR, "Vendor_No": STR, "Description": STR, "Amount": DEC,
    "Remaining_Amount": DEC, "Open": BOOL, "Currency_Code": STR, "Closed_by_Entry_No": INT,
}
GLE_SCHEMA = {"Entry_No": INT, "Posting_Date": DATE, "Document_Type": STR, "Document_No": STR,
              "G_L_Account_No": STR, "Description": STR, "Amount": DEC, "Source_Type": STR, "Source_No": STR}
SETUP_SCHEMA = {"Primary_Key": STR, "Global_Dimension_1_Code": STR, "Global_Dimension_2_Code": STR,
                "LCY_Code": STR}
COMPANY_SCHEMA = {"Name": STR, "Display_Name": STR, "Id": STR}

GLOBAL_DIMENSIONS = ("DEPARTMENT", "PROJECT")

# BC API v2.0 field names → OData page field names (same records underneath).
API_VENDOR_FIELDS = {
    "id": "Id", "number": "No", "displayName": "Name", "addressLine1": "Address", "addressLine2": "Address_2",
    "city": "City", "state": "County", "country": "Country_Region_Code", "postalCode": "Post_Code",
    "phoneNumber": "Phone_No", "email": "E_Mail", "taxRegistrationNumber": "Federal_ID_No",
    "irs1099Code": "IRS_1099_Code", "blocked": "Blocked", "balance": "Balance_LCY",
    "lastModifiedDateTime": "Last_Modified_Date_Time",
}
API_INVOICE_FIELDS = {
    "id": "Id", "number": "No", "vendorNumber": "Buy_from_Vendor_No", "vendorName": "Buy_from_Vendor_Name",
    "vendorInvoiceNumber": "Vendor_Invoice_No", "postingDate": "Posting_Date", "invoiceDate": "Document_Date",
    "dueDate": "Due_Date", "currencyCode": "Currency_Code", "totalAmountExcludingTax": "Amount",
    "totalAmountIncludingTax": "Amount_Including_VAT", "lastModifiedDateTime": "Last_Modified_Date_Time",
}
API_INVOICE_LINE_FIELDS = {
    "sequence": "Line_No", "lineObjectNumber": "No", "description": "Description", "quantity": "Quantity",
    "directUnitCost": "Direct_Unit_Cost", "amountExcludingTax": "Amount",
}
API_ACCOUNT_FIELDS = {"id": "Id", "number": "No", "displayName": "Name", "accountType": "Account_Type",
                      "blocked": "Blocked", "directPosting": "Direct_Posting"}
API_DIMENSION_FIELDS = {"id": "Id", "code": "Code", "displayName": "Name"}
API_DIMENSION_VALUE_FIELDS = {"id": "Id", "code": "Code", "displayName": "Name", "dimensionCode": "Dimension_Code"}


def _guid(kind: str, key: Any) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"navbill-sandbox:{kind}:{key}"))


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        # A JSON number, as NAV sends it; two-decimal amounts survive float's shortest repr exactly.
        return float(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _etag(key: Any, version: int) -> str:
    token = base64.b64encode(f"'{key}';{version};".encode()).decode()
    return f'W/"{token}"'


def _convert(name: str, kind: str, value: Any) -> Any:
    """Turn a JSON value into the field's type, or raise the 400 NAV gives for a wrong type."""
    try:
        if kind == STR:
            if not isinstance(value, str):
                raise TypeError
            return value
        if kind == BOOL:
            if not isinstance(value, bool):
                raise TypeError
            return value
        if kind == DEC:
            return parse_decimal(value)
        if kind == INT:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError
            return value
        if kind == DATE:
            return date.fromisoformat(value)
        if kind == DT:
            return parse_datetime(value)
    except (TypeError, ValueError, InvalidOperation):
        raise ODataError(400, "BadRequest",
                         f"Cannot convert the literal '{value}' to the expected type '{kind}' "
                         f"for the property '{name}'.") from None
    return value


class NavSandbox(SandboxApp, PaymentJournalApi):
    name = "nav"

    def __init__(self, seed: str = "demo", clock: SandboxClock | None = None, notify: bool = True,
                 max_page_size: int = 1000, token_lifetime: float = DEFAULT_TOKEN_LIFETIME,
                 windows_auth: bool = False) -> None:
        super().__init__()
        self._ntlm: NtlmAcceptor | None = None
        self._ntlm_lock = threading.Lock()
        self.windows_auth = False
        self.set_windows_auth(windows_auth)
        self.clock = clock or SandboxClock()
        self.notify_enabled = notify
        self.max_page_size = max_page_size
        self.token_lifetime = token_lifetime
        self.instance = demo_data.SERVER_INSTANCE
        self.company_name = demo_data.COMPANY_NAME
        self.company_id = demo_data.COMPANY_ID
        self.webhooks_supported = True
        self.notification_batch_delay = 0.05  # a brief debounce so a burst becomes one delivery
        self._tokens: dict[str, float] = {}  # bearer token → expiry (sandbox clock)
        self._versions = itertools.count(1000)
        self._pending: list[tuple[str, str, str, datetime]] = []  # (kind, entity id, change type, when)
        self._pending_signal = threading.Condition()
        self._notifier: threading.Thread | None = None
        self._stopping = False
        self.notifications_sent = 0
        self.subscriptions: dict[str, dict] = {}
        self.seed_name = seed
        self._seed(seed)
        self._add_routes()

    # -- seeding ------------------------------------------------------------------------
    def _seed(self, seed: str) -> None:
        with self.state_lock:
            self.seed_name = seed
            self.subscriptions = {}
            self._ids: dict[str, dict[str, Any]] = {"vendor": {}, "invoice": {}}
            now = self.clock.now()
            large = 0
            if seed.startswith("large:"):
                large = int(seed.split(":", 1)[1])
            elif seed not in ("demo", "empty"):
                raise ValueError(f"Unknown NAV seed '{seed}'; use demo, empty or large:N")
            seeded_at = now - timedelta(days=1)
            vendor_table = self._large_vendor_table(large, seeded_at) if large else LazyTable()
            invoice_table = self._large_invoice_table(large, seeded_at) if large else LazyTable()
            vle_table = self._large_vle_table(large) if large else LazyTable()
            self.next_entry_no = 2 * large + 1
            self.next_vendor_no = 10000
            self.next_invoice_no = 109001
            self.gl_entries = LazyTable()
            self.journal = LazyTable()
            self.payment_journals = {}  # BC API vendorPaymentJournals by code (batches of PAYMENT)
            self.orders = LazyTable()
            self.accounts = LazyTable()
            self.dimensions = LazyTable()
            self.dimension_values = LazyTable()
            self.vendors, self.invoices, self.vendor_ledger = vendor_table, invoice_table, vle_table
            if seed != "empty":
                for account in demo_data.DEMO_GL_ACCOUNTS:
                    self.accounts.put(account.number, {
                        "No": account.number, "Name": account.name, "Account_Type": account.account_type,
                        "Income_Balance": account.income_balance, "Blocked": False,
                        "Direct_Posting": account.account_type == "Posting", "Id": _guid("account", account.number),
                        "_v": 1})
                for code, (name, values) in demo_data.DEMO_DIMENSIONS.items():
                    self.dimensions.put(code, {"Code": code, "Name": name, "Blocked": False,
                                               "Id": _guid("dimension", code), "_v": 1})
                    for value_code, value_name in values:
                        self.dimension_values.put((code, value_code), {
                            "Dimension_Code": code, "Code": value_code, "Name": value_name,
                            "Dimension_Value_Type": "Standard", "Blocked": False,
                            "Id": _guid("dimension-value", f"{code}/{value_code}"), "_v": 1})
            if seed == "demo":
                for index, vendor in enumerate(demo_data.demo_vendors()):
                    self._store_vendor({
                        "No": vendor.number, "Name": vendor.name, "Address": vendor.address, "Address_2": "",
                        "City": vendor.city, "County": vendor.state, "Post_Code": vendor.postal_code,
                        "Country_Region_Code": "US", "E_Mail": vendor.email, "Phone_No": vendor.phone,
                        "Federal_ID_No": vendor.tax_id, "IRS_1099_Code": "MISC-07" if vendor.is_1099 else "",
                        "Blocked": "All" if vendor.blocked else " ", "Balance_LCY": Decimal("0"),
                        "Last_Modified_Date_Time": seeded_at + timedelta(seconds=index),
                    }, notify=False)
                for invoice in demo_data.demo_posted_invoices():
                    self._store_invoice(invoice, seeded_at, notify=False)
                for number, vendor_no, amount in demo_data.demo_purchase_orders():
                    self.orders.put(number, {"Document_Type": "Order", "No": number, "Buy_from_Vendor_No": vendor_no,
                                             "Amount": amount, "Status": "Released",
                                             "Order_Date": demo_data.DEMO_TODAY, "_v": 1})

    def _large_vendor_table(self, count: int, seeded_at: datetime) -> LazyTable:
        def make(index: int) -> dict:
            i = index + 1
            return {"No": f"L{i:07d}", "Name": f"Bench Vendor {i:07d}", "Address": f"{i} Bench St",
                    "Address_2": "", "City": "Pittsburgh", "County": "PA", "Post_Code": "15222",
                    "Country_Region_Code": "US", "E_Mail": f"v{i}@bench.example", "Phone_No": f"555-{i % 10000:04d}",
                    "Federal_ID_No": "", "IRS_1099_Code": "", "Blocked": " ", "Balance_LCY": Decimal("0"),
                    # Spread over time as real records are (one a second up to seeding), so an
                    # incremental read from a bookmark does not see every row as "changed now".
                    "Last_Date_Modified": (seeded_at - timedelta(seconds=count - i)).date(),
                    "Last_Modified_Date_Time": seeded_at - timedelta(seconds=count - i),
                    "Id": f"00000000-0000-4000-8000-{i:012d}", "_v": 1}

        return LazyTable(count, lambda index: f"L{index + 1:07d}", make)

    def _large_invoice_table(self, vendors: int, seeded_at: datetime) -> LazyTable:
        start = demo_data.DEMO_TODAY - timedelta(days=90)

        def make(index: int) -> dict:
            n = index + 1
            vendor = (index // 2) + 1
            amount = Decimal(100 + n % 500)
            posting = start + timedelta(days=n % 60)
            return {"No": f"B{n:08d}", "Buy_from_Vendor_No": f"L{vendor:07d}",
                    "Buy_from_Vendor_Name": f"Bench Vendor {vendor:07d}", "Vendor_Invoice_No": f"BI-{vendor}-{index % 2}",
                    "Posting_Date": posting, "Document_Date": posting, "Due_Date": start + timedelta(days=30 + n % 60),
                    "Currency_Code": "", "Amount": amount, "Amount_Including_VAT": amount,
                    "Shortcut_Dimension_1_Code": "PROD", "Shortcut_Dimension_2_Code": "", "Dimension_Set_ID": 1,
                    "Last_Modified_Date_Time": seeded_at - timedelta(seconds=2 * vendors - n),
                    "Id": f"00000000-0000-4000-9000-{n:012d}", "_v": 1,
                    "_lines": [{"Document_No": f"B{n:08d}", "Line_No": 10000, "Type": "G/L Account", "No": "5110",
                                "Description": "Bench material", "Quantity": Decimal(1), "Direct_Unit_Cost": amount,
                                "Line_Amount": amount, "Amount": amount, "Shortcut_Dimension_1_Code": "PROD",
                                "Shortcut_Dimension_2_Code": "", "Dimension_Set_ID": 1,
                                "Dimensions": "DEPARTMENT=PROD"}]}

        return LazyTable(2 * vendors, lambda index: f"B{index + 1:08d}", make)

    def _large_vle_table(self, vendors: int) -> LazyTable:
        def make(index: int) -> dict:
            invoice = self.invoices.get(f"B{index + 1:08d}")
            return self._invoice_vle(index + 1, invoice)

        return LazyTable(2 * vendors, lambda index: index + 1, make)

    @staticmethod
    def _invoice_vle(entry_no: int, invoice: dict) -> dict:
        amount = -invoice["Amount_Including_VAT"]
        return {"Entry_No": entry_no, "Posting_Date": invoice["Posting_Date"], "Document_Type": "Invoice",
                "Document_No": invoice["No"], "External_Document_No": invoice["Vendor_Invoice_No"],
                "Vendor_No": invoice["Buy_from_Vendor_No"], "Description": f"Invoice {invoice['No']}",
                "Amount": amount, "Remaining_Amount": amount, "Open": True, "Currency_Code": "",
                "Closed_by_Entry_No": 0, "_v": 1}

    def _store_vendor(self, row: dict, notify: bool = True, change: str = "created") -> dict:
        row.setdefault("Id", _guid("vendor", row["No"]))
        row["Last_Date_Modified"] = row["Last_Modified_Date_Time"].date()
        row["_v"] = next(self._versions)
        self.vendors.put(row["No"], row)
        self._ids["vendor"][row["Id"]] = row["No"]
        if notify:
            self._queue_change("vendors", row["Id"], change)
        return row

    def _store_invoice(self, invoice: demo_data.DemoInvoice, when: datetime, notify: bool = True) -> dict:
        vendor = self.vendors.get(invoice.vendor_number)
        lines = []
        for line in invoice.lines:
            dims = dict(line.dimensions)
            lines.append({
                "Document_No": invoice.number, "Line_No": line.line_no * 10000, "Type": "G/L Account",
                "No": line.gl_account, "Description": line.description, "Quantity": line.quantity,
                "Direct_Unit_Cost": line.unit_cost, "Line_Amount": line.amount, "Amount": line.amount,
                "Shortcut_Dimension_1_Code": dims.get(GLOBAL_DIMENSIONS[0], ""),
                "Shortcut_Dimension_2_Code": dims.get(GLOBAL_DIMENSIONS[1], ""),
                "Dimension_Set_ID": zlib.crc32(repr(sorted(dims.items())).encode()) % 100000,
                "Dimensions": ";".join(f"{k}={v}" for k, v in sorted(dims.items())),
            })
        amount = sum((line["Amount"] for line in lines), Decimal("0"))
        first = lines[0] if lines else {}
        row = {
            "No": invoice.number, "Buy_from_Vendor_No": invoice.vendor_number,
            "Buy_from_Vendor_Name": vendor["Name"] if vendor else "", "Vendor_Invoice_No": invoice.vendor_invoice_number,
            "Posting_Date": invoice.posting_date, "Document_Date": invoice.posting_date, "Due_Date": invoice.due_date,
            "Currency_Code": "", "Amount": amount, "Amount_Including_VAT": amount,
            "Shortcut_Dimension_1_Code": first.get("Shortcut_Dimension_1_Code", ""),
            "Shortcut_Dimension_2_Code": first.get("Shortcut_Dimension_2_Code", ""),
            "Dimension_Set_ID": first.get("Dimension_Set_ID", 0), "Last_Modified_Date_Time": when,
            "Id": _guid("invoice", invoice.number), "_v": next(self._versions), "_lines": lines,
        }
        self.invoices.put(invoice.number, row)
        self._ids["invoice"][row["Id"]] = invoice.number
        entry_no = self.next_entry_no
        self.next_entry_no += 1
        self.vendor_ledger.put(entry_no, self._invoice_vle(entry_no, row) | {"_v": next(self._versions)})
        if notify:
            self._queue_change("purchaseInvoices", row["Id"], "created")
        return row

    # -- entity sets -------------------------------------------------------------------
    def _odata_sets(self) -> dict[str, EntitySet]:
        def invoice_lines(row: dict) -> list[dict]:
            return row.get("_lines", [])

        vendor = EntitySet("Vendor", "Vendor", self.vendors, ("No",), VENDOR_SCHEMA, insertable=True,
                           modifiable=True, deletable=True,
                           read_only_fields=frozenset({"Last_Date_Modified", "Last_Modified_Date_Time",
                                                       "Balance_LCY", "Id"}),
                           required_on_insert=("Name",))
        invoices = EntitySet("PostedPurchaseInvoices", "Purch. Inv. Header", self.invoices, ("No",), INVOICE_SCHEMA,
                             expand={"PurchInvLines": invoice_lines})
        line_table = _InvoiceLineView(self.invoices)
        return {
            "Vendor": vendor,
            "VendorCard": vendor,
            "VendorList": vendor,
            "PostedPurchaseInvoices": invoices,
            "PostedPurchaseInvoice": invoices,
            "PostedPurchaseInvoiceLines": EntitySet("PostedPurchaseInvoiceLines", "Purch. Inv. Line",
                                                    line_table, ("Document_No", "Line_No"),  # type: ignore[arg-type]
                                                    INVOICE_LINE_SCHEMA),
            "PurchaseOrders": EntitySet("PurchaseOrders", "Purchase Header", self.orders, ("No",), ORDER_SCHEMA),
            "ChartOfAccounts": EntitySet("ChartOfAccounts", "G/L Account", self.accounts, ("No",), ACCOUNT_SCHEMA),
            "Dimensions": EntitySet("Dimensions", "Dimension", self.dimensions, ("Code",), DIMENSION_SCHEMA),
            "DimensionValues": EntitySet("DimensionValues", "Dimension Value", self.dimension_values,
                                         ("Dimension_Code", "Code"), DIMENSION_VALUE_SCHEMA),
            "GeneralJournalLines": EntitySet(
                "GeneralJournalLines", "Gen. Journal Line", self.journal,
                ("Journal_Template_Name", "Journal_Batch_Name", "Line_No"), JOURNAL_SCHEMA,
                insertable=True, modifiable=True, deletable=True,
                required_on_insert=("Journal_Template_Name", "Journal_Batch_Name", "Account_No", "Amount",
                                    "Document_No")),
            "VendorLedgerEntries": EntitySet("VendorLedgerEntries", "Vendor Ledger Entry", self.vendor_ledger,
                                             ("Entry_No",), VLE_SCHEMA),
            "GeneralLedgerEntries": EntitySet("GeneralLedgerEntries", "G/L Entry", self.gl_entries, ("Entry_No",),
                                              GLE_SCHEMA),
            "GeneralLedgerSetup": EntitySet("GeneralLedgerSetup", "General Ledger Setup", _SetupView(),
                                            ("Primary_Key",), SETUP_SCHEMA),  # type: ignore[arg-type]
        }

    # -- routing ------------------------------------------------------------------------
    def _add_routes(self) -> None:
        for method in ("GET", "POST", "PATCH", "PUT", "DELETE"):
            self.route(method, r"/(?P<instance>[^/]+)/ODataV4(?P<rest>/.*)?", self._odata)
            self.route(method, r"/(?P<instance>[^/]+)/api/v2\.0(?P<rest>/.*)?", self._api)
            self.route(method, r"/v2\.0/(?P<tenant>[^/]+)/(?P<environment>[^/]+)/ODataV4(?P<rest>/.*)?", self._odata)
            self.route(method, r"/v2\.0/(?P<tenant>[^/]+)/(?P<environment>[^/]+)/api/v2\.0(?P<rest>/.*)?", self._api)
        self.route("POST", r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token", self._token)
        self.route("POST", r"/_sandbox/reset", self._control_reset)
        self.route("POST", r"/_sandbox/clock", self._control_clock)
        self.route("POST", r"/_sandbox/vendors", self._control_create_vendor)
        self.route("POST", r"/_sandbox/vendors/(?P<number>[^/]+)", self._control_edit_vendor)
        self.route("DELETE", r"/_sandbox/vendors/(?P<number>[^/]+)", self._control_delete_vendor)
        self.route("POST", r"/_sandbox/invoices", self._control_post_invoice)
        self.route("POST", r"/_sandbox/webhooks", self._control_webhooks)
        self.route("GET", r"/_sandbox/stats", self._control_stats)
        self.route("POST", r"/_sandbox/windows-auth", self._control_windows_auth)

    def faults_apply_to(self, request: Request) -> bool:
        return not request.path.startswith("/_sandbox")

    def not_found(self, request: Request, method_not_allowed: bool = False) -> Response:
        return ODataError(404, "BadRequest_NotFound", f"No web service answers on '{request.path}'.").response()

    def server_error(self, request: Request) -> Response:
        return ODataError(503, "Internal_ServiceUnavailable",
                          "The service is temporarily unavailable. Please try again later.").response()

    def rate_limited(self, request: Request) -> Response:
        return ODataError(429, "Application_TooManyRequests",
                          "Too many requests reached. Please try again later.", {"Retry-After": "1"}).response()

    def expire_session(self, request: Request) -> None:
        request.connection.pop(WINDOWS_IDENTITY, None)  # an NTLM connection must authenticate again
        token = self._bearer(request)
        if token:
            with self.state_lock:
                self._tokens.pop(token, None)

    # -- auth ---------------------------------------------------------------------------
    @staticmethod
    def _bearer(request: Request) -> str:
        header = request.header("Authorization")
        return header[7:].strip() if header[:7].lower() == "bearer " else ""

    def set_windows_auth(self, enabled: bool) -> None:
        """Switch the instance's credential type between Windows (NTLM) and NavUserPassword (Basic)."""
        with self._ntlm_lock:
            if enabled and self._ntlm is None:
                self._ntlm = NtlmAcceptor({demo_data.NAV_WINDOWS_ACCOUNT: demo_data.NAV_WINDOWS_PASSWORD})
            self.windows_auth = bool(enabled)

    def _authenticate(self, request: Request) -> None:
        if self.windows_auth and "tenant" not in request.params:
            self._authenticate_windows(request)
            return
        header = request.header("Authorization")
        challenge = {"WWW-Authenticate": 'Basic realm="NAV"'}
        if header[:6].lower() == "basic ":
            try:
                user, _, key = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                user, key = "", ""
            if user.upper() == demo_data.NAV_USER and secrets.compare_digest(key, demo_data.NAV_WEB_SERVICE_KEY):
                return
        elif header[:7].lower() == "bearer ":
            token = self._bearer(request)
            with self.state_lock:
                expiry = self._tokens.get(token)
            if expiry is not None and expiry > self.clock.time():
                return
            challenge = {"WWW-Authenticate": 'Bearer error="invalid_token", error_description="The token expired"'}
        raise ODataError(401, "Authentication_InvalidCredentials", "The server has rejected the client credentials.",
                         challenge)

    def _authenticate_windows(self, request: Request) -> None:
        """NTLM over HTTP: the handshake's state and its outcome live on the TCP connection."""
        state = request.connection
        scheme, _, encoded = request.header("Authorization").strip().partition(" ")
        scheme = scheme.lower()
        if scheme not in ("ntlm", "negotiate"):
            # No credentials yet, or Basic/Bearer, which a Windows-mode instance does not take.
            if not scheme and state.get(WINDOWS_IDENTITY):
                return
            self._refuse_windows(request)
        state.pop(WINDOWS_IDENTITY, None)  # a new handshake replaces the connection's identity
        try:
            token = base64.b64decode(encoded.strip(), validate=True)
        except ValueError:
            token = b""
        kind = message_type(token)
        acceptor = self._ntlm
        if kind == NEGOTIATE_MESSAGE and acceptor is not None:
            state.pop(NTLM_CONTEXT, None)
            try:
                context, challenge = acceptor.challenge(token)
            except Exception:  # a malformed NEGOTIATE message
                self._refuse_windows(request)
            state[NTLM_CONTEXT] = context
            label = "Negotiate" if scheme == "negotiate" else "NTLM"
            raise ODataError(401, "Authentication_InvalidCredentials", "The server has rejected the client "
                             "credentials.", {"WWW-Authenticate": f"{label} {base64.b64encode(challenge).decode()}"})
        if kind == AUTHENTICATE_MESSAGE and acceptor is not None:
            context = state.pop(NTLM_CONTEXT, None)
            identity = acceptor.authenticate(context, token) if context is not None else None
            if identity:
                state[WINDOWS_IDENTITY] = identity
                return
        self._refuse_windows(request)

    @staticmethod
    def _refuse_windows(request: Request) -> None:
        request.connection.pop(NTLM_CONTEXT, None)
        raise ODataError(401, "Authentication_InvalidCredentials", "The server has rejected the client credentials.",
                         {"WWW-Authenticate": ["Negotiate", "NTLM"]})

    def _token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in urllib.parse.parse_qs(request.body.decode("utf-8", "replace")).items()}
        if request.params["tenant"] != demo_data.NAV_TENANT:
            return Response(400, {"error": "invalid_request",
                                  "error_description": f"Tenant '{request.params['tenant']}' not found."})
        if form.get("grant_type") != "client_credentials":
            return Response(400, {"error": "unsupported_grant_type",
                                  "error_description": "Only client_credentials is supported."})
        if form.get("client_id") != demo_data.NAV_CLIENT_ID or not secrets.compare_digest(
                form.get("client_secret", ""), demo_data.NAV_CLIENT_SECRET):
            return Response(401, {"error": "invalid_client",
                                  "error_description": "Invalid client secret provided."})
        token = secrets.token_urlsafe(32)
        with self.state_lock:
            self._tokens[token] = self.clock.time() + self.token_lifetime
        return Response(200, {"token_type": "Bearer", "expires_in": int(self.token_lifetime),
                              "ext_expires_in": int(self.token_lifetime), "access_token": token})

    # -- OData pages --------------------------------------------------------------------
    def _odata(self, request: Request) -> Response:
        try:
            return self._odata_inner(request)
        except ODataError as error:
            return error.response()
        except ODataSyntaxError as error:
            return ODataError(400, "BadRequest_NotFound", f"Bad Request - Error in query syntax. {error}").response()

    def _check_instance(self, request: Request) -> None:
        instance = request.params.get("instance")
        if instance is not None and instance != self.instance:
            # A real server has no listener for that path; we say so in an OData error so the
            # connection test can tell "wrong server instance" from other failures.
            raise ODataError(404, "BadRequest_NotFound",
                             f"The server instance '{instance}' does not exist on this server.")
        tenant = request.params.get("tenant")
        if tenant is not None and tenant != demo_data.NAV_TENANT:
            raise ODataError(404, "Internal_TenantUnavailable", f"The tenant '{tenant}' is not accessible.")

    def _odata_root(self, request: Request) -> str:
        host = request.header("Host", "127.0.0.1")
        if "tenant" in request.params:
            return f"http://{host}/v2.0/{request.params['tenant']}/{request.params['environment']}/ODataV4"
        return f"http://{host}/{self.instance}/ODataV4"

    def _odata_inner(self, request: Request) -> Response:
        self._check_instance(request)
        self._authenticate(request)
        segments = [s for s in (request.params.get("rest") or "").split("/") if s]
        root = self._odata_root(request)
        if not segments or segments[0] == "$metadata":
            return Response(200, {"@odata.context": f"{root}/$metadata", "value": [
                {"name": "Company", "kind": "EntitySet", "url": "Company"}]})
        head, args = _split_segment(segments[0])
        if head != "Company":
            raise ODataError(400, "Internal_CompanyNotFound",
                             "Cannot process the request because the default company cannot be found. "
                             "Specify a company in the URL as Company('name').")
        if args is None:
            if request.method != "GET":
                raise ODataError(405, "BadRequest_MethodNotAllowed",
                                 f"'{request.method}' requests for 'Company' of EdmType 'Entity' are not allowed "
                                 "within Microsoft Dynamics NAV OData web services.")
            return Response(200, {"@odata.context": f"{root}/$metadata#Company", "value": [self._company_row()]})
        (company,) = parse_key_segment(args, ("Name",))
        if company != self.company_name:
            raise ODataError(404, "Internal_CompanyNotFound", f"The company '{company}' does not exist.")
        company_root = f"{root}/Company('{urllib.parse.quote(company)}')"
        if len(segments) == 1:
            return Response(200, {"@odata.context": f"{root}/$metadata#Company/$entity", **self._company_row()})
        service, key_args = _split_segment(segments[1])
        with self.state_lock:
            sets = self._odata_sets()
            entity_set = sets.get(service)
            if entity_set is None:
                raise ODataError(404, "BadRequest_ResourceNotFound", f"Resource not found for the segment '{service}'.")
            context = f"{root}/$metadata#Company('{urllib.parse.quote(company)}')/{service}"
            key = parse_key_segment(key_args, entity_set.key_fields) if key_args is not None else None
            if len(segments) > 2:
                return self._odata_navigation(request, entity_set, key, segments[2], company_root, context)
            if key is None:
                if request.method == "GET":
                    return self._collection(request, entity_set, f"{company_root}/{service}", context, _page_row,
                                            self._ledger_shortcut(entity_set, request.query.get("$filter", "")))
                if request.method == "POST":
                    return self._insert(request, entity_set, context)
                raise self._method_not_allowed(request, service)
            if request.method == "GET":
                row = self._get_or_404(entity_set, key)
                return Response(200, {"@odata.context": f"{context}/$entity",
                                      **self._serialize(entity_set, row, request, _page_row)})
            if request.method in ("PATCH", "PUT"):
                return self._modify(request, entity_set, key, context)
            if request.method == "DELETE":
                return self._delete(request, entity_set, key)
            raise self._method_not_allowed(request, service)

    def _ledger_shortcut(self, entity_set: EntitySet, filter_text: str
                         ) -> Callable[[Any], Iterator[tuple[Any, dict]]] | None:
        """Skip the seeded large:N ledger entries a top-level ``and`` filter can never match.

        Seeded entries are all invoices (entry n belongs to invoice B<n>), so a payment lookup only
        needs the entries posted since, and an invoice lookup by Document_No only entry n plus those.
        The filter is still applied to every row returned: this only narrows where we look.
        """
        seeded = self.vendor_ledger.count
        if entity_set.name != "VendorLedgerEntries" or not seeded or " or " in f" {filter_text} ":
            return None
        if "Document_Type eq 'Payment'" in filter_text:
            return lambda after: self.vendor_ledger.iter_from(max(after or 0, seeded))
        match = re.search(r"Document_No eq 'B(\d{8})'", filter_text)
        if match and 0 < int(match.group(1)) <= seeded:
            entry_no = int(match.group(1))

            def rows(after: Any) -> Iterator[tuple[Any, dict]]:
                if after is None or after < entry_no:
                    entry = self.vendor_ledger.get(entry_no)
                    if entry is not None:
                        yield entry_no, entry
                yield from self.vendor_ledger.iter_from(max(after or 0, seeded))

            return rows
        return None

    def _company_row(self) -> dict:
        return {"Name": self.company_name, "Display_Name": self.company_name, "Id": self.company_id}

    @staticmethod
    def _method_not_allowed(request: Request, service: str) -> ODataError:
        return ODataError(405, "BadRequest_MethodNotAllowed",
                          f"'{request.method}' requests for '{service}' of EdmType 'Entity' are not allowed "
                          "within Microsoft Dynamics NAV OData web services.")

    def _odata_navigation(self, request: Request, entity_set: EntitySet, key: tuple | None, segment: str,
                          company_root: str, context: str) -> Response:
        if key is None:
            raise ODataError(400, "BadRequest_InvalidRequestUrl", f"The segment '{segment}' needs an entity key.")
        row = self._get_or_404(entity_set, key)
        if segment in entity_set.expand and request.method == "GET":
            items = entity_set.expand[segment](row)
            return Response(200, {"@odata.context": f"{context}/{segment}",
                                  "value": [self._plain(item) for item in items]})
        if segment == "NAV.Post" and entity_set.name == "GeneralJournalLines" and request.method == "POST":
            posted = self._post_batch(row["Journal_Template_Name"], row["Journal_Batch_Name"])
            return Response(200, {"value": [self._plain(entry) for entry in posted]})
        raise ODataError(404, "BadRequest_ResourceNotFound", f"Resource not found for the segment '{segment}'.")

    def _get_or_404(self, entity_set: EntitySet, key: tuple) -> dict:
        row = entity_set.table.get(entity_set.table_key(key))
        if row is None:
            shown = ",".join(f"{name}='{value}'" for name, value in zip(entity_set.key_fields, key, strict=False))
            raise ODataError(404, "Internal_RecordNotFound",
                             f"The {entity_set.entity} does not exist. Identification fields and values: {shown}")
        return row

    @staticmethod
    def _plain(row: dict) -> dict:
        return {name: _json_value(value) for name, value in row.items() if not name.startswith("_")}

    def _serialize(self, entity_set: EntitySet, row: dict, request: Request,
                   project: Callable[[EntitySet, dict], dict]) -> dict:
        view = project(entity_set, row)
        selected = _parse_select(request.query.get("$select"), set(view))
        body: dict[str, Any] = {"@odata.etag": _etag(entity_set.key_of_row(row), row.get("_v", 1))}
        for name, value in view.items():
            if selected is None or name in selected:
                body[name] = _json_value(value)
        expand = request.query.get("$expand")
        if expand:
            for name in (part.strip() for part in expand.split(",")):
                if name not in entity_set.expand and name not in ("purchaseInvoiceLines",):
                    raise ODataError(400, "BadRequest_NotFound", f"Could not find a property named '{name}'.")
                if name in entity_set.expand:
                    body[name] = [self._plain(item) for item in entity_set.expand[name](row)]
                else:
                    body[name] = [_api_line(row, line) for line in row.get("_lines", [])]
        return body

    def _collection(self, request: Request, entity_set: EntitySet, url: str, context: str,
                    project: Callable[[EntitySet, dict], dict],
                    rows_from: Callable[[Any], Iterator[tuple[Any, dict]]] | None = None) -> Response:
        query = request.query
        sample_fields = set(project(entity_set, {name: None for name in entity_set.schema}))
        predicate = parse_filter(query["$filter"], sample_fields) if query.get("$filter") else None
        page_size = self.max_page_size
        prefer = request.header("Prefer")
        for part in prefer.split(","):
            name, _, value = part.strip().partition("=")
            if name.strip().lower() == "odata.maxpagesize" and value.strip().isdigit():
                page_size = max(1, min(page_size, int(value)))
        top = _non_negative(query, "$top")
        skip = _non_negative(query, "$skip") or 0
        orderby = query.get("$orderby", "").strip()
        token = query.get("$skiptoken")
        iterate = rows_from or entity_set.table.iter_from
        rows: list[tuple[Any, dict]] = []
        more = False
        if orderby:
            fields = []
            for part in orderby.split(","):
                name, _, direction = part.strip().partition(" ")
                if name not in sample_fields or direction.strip() not in ("", "asc", "desc"):
                    raise ODataSyntaxError(f"Bad $orderby '{orderby}'.")
                fields.append((name, direction.strip() == "desc"))
            every = [(key, row) for key, row in iterate(None)
                     if predicate is None or predicate(project(entity_set, row))]
            for name, descending in reversed(fields):
                every.sort(key=lambda item, n=name: _sort_key(project(entity_set, item[1]).get(n)), reverse=descending)
            offset = int(token[2:]) if token and token.startswith("o:") else skip
            end = offset + (min(page_size, top) if top is not None else page_size)
            rows = every[offset:end]
            more = end < len(every) and (top is None or top > len(rows))
            next_token = f"o:{end}"
        else:
            after = _decode_token(token) if token else None
            to_skip = 0 if token else skip
            limit = page_size if top is None else min(page_size, top)
            for key, row in iterate(after):
                if predicate is not None and not predicate(project(entity_set, row)):
                    continue
                if to_skip:
                    to_skip -= 1
                    continue
                if len(rows) == limit:
                    more = top is None or top > limit
                    break
                rows.append((key, row))
            next_token = _encode_token(rows[-1][0]) if rows else ""
        body: dict[str, Any] = {"@odata.context": context,
                                "value": [self._serialize(entity_set, row, request, project) for _, row in rows]}
        if more:
            params = {k: v for k, v in query.items() if k not in ("$skiptoken", "$skip")}
            if top is not None:
                params["$top"] = str(top - len(rows))
            params["$skiptoken"] = next_token
            body["@odata.nextLink"] = f"{url}?{urllib.parse.urlencode(params, quote_via=urllib.parse.quote)}"
        return Response(200, body)

    def _body(self, request: Request) -> dict:
        try:
            body = request.json()
        except ValueError:
            raise ODataError(400, "BadRequest", "Invalid Request Body") from None
        if not isinstance(body, dict):
            raise ODataError(400, "BadRequest", "Invalid Request Body")
        return {k: v for k, v in body.items() if not k.startswith("@odata.")}

    def _typed_fields(self, entity_set: EntitySet, body: dict, inserting: bool) -> dict:
        values = {}
        for name, value in body.items():
            if name not in entity_set.schema:
                raise ODataError(400, "BadRequest",
                                 f"The property '{name}' does not exist on type 'NAV.{entity_set.name}'. "
                                 "Make sure to only use property names that are defined by the type.")
            if name in entity_set.read_only_fields:
                raise ODataError(400, "BadRequest_InvalidOperation", f"Control '{name}' is read-only.")
            if not inserting and name in entity_set.key_fields:
                raise ODataError(400, "BadRequest_InvalidOperation",
                                 f"The key field '{name}' cannot be changed with PATCH; use Rename in NAV.")
            values[name] = _convert(name, entity_set.schema[name], value)
        if entity_set.name == "Vendor" and "Blocked" in values and values["Blocked"] not in VENDOR_BLOCKED:
            raise ODataError(400, "Application_EvaluateException",
                             f"The value \"{values['Blocked']}\" cannot be evaluated into type Option.")
        for name, value in values.items():
            if isinstance(value, str) and entity_set.schema[name] == STR and len(value) > 100:
                raise ODataError(400, "Application_StringExceededLength",
                                 f"The length of the string is {len(value)}, but it must be less than or equal "
                                 f"to 100 characters. Field: {name}")
        return values

    def _check_etag(self, request: Request, entity_set: EntitySet, row: dict) -> None:
        given = request.header("If-Match")
        if not given:
            raise ODataError(400, "BadRequest_InvalidToken",
                             "Could not validate the client concurrency token required by the service. "
                             "Please provide a valid token in the client request.")
        if given != "*" and given != _etag(entity_set.key_of_row(row), row.get("_v", 1)):
            raise ODataError(412, "Request_EntityChanged", "Another user has already changed the record.")

    def _insert(self, request: Request, entity_set: EntitySet, context: str) -> Response:
        if not entity_set.insertable:
            raise self._method_not_allowed(request, entity_set.name)
        values = self._typed_fields(entity_set, self._body(request), inserting=True)
        row = self._insert_values(entity_set, values)
        return Response(201, {"@odata.context": f"{context}/$entity",
                              **self._serialize(entity_set, row, request, _page_row)})

    def _insert_values(self, entity_set: EntitySet, values: dict) -> dict:
        for name in entity_set.required_on_insert:
            if values.get(name) in (None, ""):
                raise ODataError(400, "BadRequest_RequiredParamNotProvided",
                                 f"Field '{name}' must not be blank or empty.")
        if entity_set.name == "Vendor":
            if not values.get("No"):
                while f"V{self.next_vendor_no:05d}" in self.vendors:
                    self.next_vendor_no += 10
                values["No"] = f"V{self.next_vendor_no:05d}"
            if values["No"] in self.vendors:
                raise ODataError(400, "Internal_EntityWithSameKeyExists",
                                 f"The Vendor already exists. Identification fields and values: No='{values['No']}'")
            row = {name: ("" if kind == STR else None) for name, kind in VENDOR_SCHEMA.items()}
            row.update({"Blocked": " ", "Balance_LCY": Decimal("0"), "Country_Region_Code": ""})
            row.update(values)
            row["Last_Modified_Date_Time"] = self.clock.now()
            row.pop("Id", None)
            return self._store_vendor(row)
        # General journal line
        template, batch = values["Journal_Template_Name"], values["Journal_Batch_Name"]
        if not values.get("Line_No"):
            last = max((k[2] for k, _ in self.journal.iter_from(None) if k[:2] == (template, batch)), default=0)
            values["Line_No"] = last + 10000
        key = (template, batch, values["Line_No"])
        if key in self.journal:
            raise ODataError(400, "Internal_EntityWithSameKeyExists",
                             f"The Gen. Journal Line already exists. Identification fields and values: "
                             f"Journal Template Name='{template}',Journal Batch Name='{batch}',Line No.='{key[2]}'")
        if values.get("Account_Type", "Vendor") == "Vendor" and values["Account_No"] not in self.vendors:
            raise ODataError(400, "Internal_InvalidTableRelation",
                             f"The field Account No. of table Gen. Journal Line contains a value "
                             f"({values['Account_No']}) that cannot be found in the related table (Vendor).")
        row = {name: ("" if kind == STR else None) for name, kind in JOURNAL_SCHEMA.items()}
        row.update({"Account_Type": "Vendor", "Document_Type": "Payment", "Bal_Account_Type": "Bank Account",
                    "Posting_Date": self.clock.now().date()})
        row.update(values)
        row["_v"] = next(self._versions)
        row["_id"] = _guid("journal-line", f"{key}:{row['_v']}")  # the BC API's id of the same line
        self.journal.put(key, row)
        return row

    def _modify(self, request: Request, entity_set: EntitySet, key: tuple, context: str) -> Response:
        if not entity_set.modifiable:
            raise self._method_not_allowed(request, entity_set.name)
        row = self._get_or_404(entity_set, key)
        self._check_etag(request, entity_set, row)
        values = self._typed_fields(entity_set, self._body(request), inserting=False)
        updated = dict(row) | values
        if entity_set.name == "Vendor":
            updated["Last_Modified_Date_Time"] = self.clock.now()
            updated = self._store_vendor(updated, change="updated")
        else:
            updated["_v"] = next(self._versions)
            entity_set.table.put(entity_set.table_key(key), updated)
        return Response(200, {"@odata.context": f"{context}/$entity",
                              **self._serialize(entity_set, updated, request, _page_row)})

    def _delete(self, request: Request, entity_set: EntitySet, key: tuple) -> Response:
        if not entity_set.deletable:
            raise self._method_not_allowed(request, entity_set.name)
        row = self._get_or_404(entity_set, key)
        self._check_etag(request, entity_set, row)
        entity_set.table.delete(entity_set.table_key(key))
        if entity_set.name == "Vendor":
            self._queue_change("vendors", row["Id"], "deleted")
        return Response(204)

    # -- posting --------------------------------------------------------------------------
    def _post_batch(self, template: str, batch: str) -> list[dict]:
        """Post every line of a journal batch: G/L entries + vendor ledger entries, lines removed.

        Checked first, then written, so a refused batch leaves nothing half-posted (NAV posts a batch
        in one transaction).
        """
        lines = [(k, row) for k, row in self.journal.iter_from(None) if k[:2] == (template, batch)]
        if not lines:
            raise ODataError(400, "Application_DialogException", "There is nothing to post.")
        remaining: dict[int, Decimal] = {}
        plan = []
        for _, line in lines:
            if line["Amount"] in (None, Decimal("0")):
                raise ODataError(400, "Application_FieldValidationException",
                                 f"Amount must have a value in Gen. Journal Line: Journal Template Name={template}, "
                                 f"Journal Batch Name={batch}, Line No.={line['Line_No']}. It cannot be zero or empty.")
            invoice_entry = None
            if line.get("Applies_to_Doc_No"):
                invoice_entry = self._find_invoice_entry(line["Applies_to_Doc_No"], line["Account_No"])
                if invoice_entry is None:
                    raise ODataError(400, "Application_DialogException",
                                     f"Cannot apply to Invoice {line['Applies_to_Doc_No']}: there is no open "
                                     f"Vendor Ledger Entry for vendor {line['Account_No']} with that document.")
                entry_no = invoice_entry["Entry_No"]
                remaining.setdefault(entry_no, invoice_entry["Remaining_Amount"])
            plan.append((line, invoice_entry))
        posted = []
        for line, invoice_entry in plan:
            entry_no = self.next_entry_no
            self.next_entry_no += 1
            amount = line["Amount"]
            payment_remaining = amount
            if invoice_entry is not None:
                # Payments are positive, invoices negative in the vendor ledger; applying moves both to zero.
                before = remaining[invoice_entry["Entry_No"]]
                applied = min(amount, -before)
                remaining[invoice_entry["Entry_No"]] = before + applied
                payment_remaining = amount - applied
                updated = dict(invoice_entry)
                updated["Remaining_Amount"] = before + applied
                updated["Open"] = updated["Remaining_Amount"] != 0
                if not updated["Open"]:
                    updated["Closed_by_Entry_No"] = entry_no
                updated["_v"] = next(self._versions)
                self.vendor_ledger.put(invoice_entry["Entry_No"], updated)
                invoice_entry = updated
            vle = {"Entry_No": entry_no, "Posting_Date": line["Posting_Date"],
                   "Document_Type": line["Document_Type"] or "Payment", "Document_No": line["Document_No"],
                   "External_Document_No": line["External_Document_No"], "Vendor_No": line["Account_No"],
                   "Description": line["Description"], "Amount": amount, "Remaining_Amount": payment_remaining,
                   "Open": payment_remaining != 0, "Currency_Code": "", "Closed_by_Entry_No": 0,
                   "_v": next(self._versions)}
            self.vendor_ledger.put(entry_no, vle)
            for account, signed in (("2110", amount), (line["Bal_Account_No"] or "2910", -amount)):
                gl_no = len(self.gl_entries) + 1
                self.gl_entries.put(gl_no, {"Entry_No": gl_no, "Posting_Date": line["Posting_Date"],
                                            "Document_Type": vle["Document_Type"], "Document_No": line["Document_No"],
                                            "G_L_Account_No": account, "Description": line["Description"],
                                            "Amount": signed, "Source_Type": "Vendor", "Source_No": line["Account_No"],
                                            "_v": 1})
            posted.append(vle)
        for key, _ in lines:
            self.journal.delete(key)
        return posted

    def _find_invoice_entry(self, document_no: str, vendor_no: str) -> dict | None:
        invoice = self.invoices.get(document_no)
        if invoice is None or invoice["Buy_from_Vendor_No"] != vendor_no:
            return None
        for _, entry in self._entries_for_document(document_no):
            if entry["Document_Type"] == "Invoice" and entry["Document_No"] == document_no:
                return entry if entry["Open"] else None
        return None

    def _entries_for_document(self, document_no: str) -> Iterator[tuple[Any, dict]]:
        seeded = self.vendor_ledger.count
        if seeded and document_no.startswith("B") and document_no[1:].isdigit() and int(document_no[1:]) <= seeded:
            # large:N invoice B<n> has vendor ledger entry n: no scan over the seeded entries.
            entry = self.vendor_ledger.get(int(document_no[1:]))
            if entry is not None:
                yield int(document_no[1:]), entry
            return
        yield from self.vendor_ledger.iter_from(seeded if seeded else None)

    # -- BC API v2.0 --------------------------------------------------------------------
    def _api(self, request: Request) -> Response:
        try:
            return self._api_inner(request)
        except ODataError as error:
            return error.response()
        except ODataSyntaxError as error:
            return ODataError(400, "BadRequest_NotFound", f"Bad Request - Error in query syntax. {error}").response()

    def _api_inner(self, request: Request) -> Response:
        self._check_instance(request)
        self._authenticate(request)
        segments = [s for s in (request.params.get("rest") or "").split("/") if s]
        host = request.header("Host", "127.0.0.1")
        prefix = (f"/v2.0/{request.params['tenant']}/{request.params['environment']}"
                  if "tenant" in request.params else f"/{self.instance}")
        root = f"http://{host}{prefix}/api/v2.0"
        if not segments:
            raise ODataError(404, "BadRequest_ResourceNotFound", "Resource not found for the segment 'v2.0'.")
        head, args = _split_segment(segments[0])
        if head == "subscriptions":
            return self._subscriptions(request, args, root)
        if head != "companies":
            raise ODataError(404, "BadRequest_ResourceNotFound", f"Resource not found for the segment '{head}'.")
        if args is None:
            return Response(200, {"@odata.context": f"{root}/$metadata#companies", "value": [
                {"id": self.company_id, "systemVersion": "21.0", "name": self.company_name,
                 "displayName": self.company_name}]})
        company_id = args.strip().strip("'")
        if company_id != self.company_id:
            raise ODataError(404, "Internal_CompanyNotFound", f"The company '{company_id}' does not exist.")
        if len(segments) == 1:
            return Response(200, {"id": self.company_id, "name": self.company_name, "displayName": self.company_name})
        name, key_args = _split_segment(segments[1])
        company_url = f"{root}/companies({self.company_id})"
        if name == "vendorPaymentJournals":
            with self.state_lock:
                return self._payment_journals_api(
                    request, segments[1:], key_args, f"{root}/$metadata#companies({self.company_id})/{name}")
        api_sets = {"vendors": ("Vendor", API_VENDOR_FIELDS, "vendor"),
                    "purchaseInvoices": ("PostedPurchaseInvoices", API_INVOICE_FIELDS, "invoice"),
                    "accounts": ("ChartOfAccounts", API_ACCOUNT_FIELDS, None),
                    "dimensions": ("Dimensions", API_DIMENSION_FIELDS, None),
                    "dimensionValues": ("DimensionValues", API_DIMENSION_VALUE_FIELDS, None)}
        if name not in api_sets:
            raise ODataError(404, "BadRequest_ResourceNotFound", f"Resource not found for the segment '{name}'.")
        page_name, mapping, id_kind = api_sets[name]
        with self.state_lock:
            entity_set = self._odata_sets()[page_name]
            project = _api_projection(mapping)
            context = f"{root}/$metadata#companies({self.company_id})/{name}"
            if key_args is None:
                if request.method == "GET":
                    return self._collection(request, entity_set, f"{company_url}/{name}", context, project)
                if request.method == "POST" and name == "vendors":
                    values = self._api_values(entity_set, mapping, self._body(request))
                    row = self._insert_values(entity_set, values)
                    return Response(201, {"@odata.context": f"{context}/$entity",
                                          **self._serialize(entity_set, row, request, project)})
                raise self._method_not_allowed(request, name)
            row = self._api_row(entity_set, key_args.strip(), id_kind)
            if len(segments) > 2 and segments[2] == "purchaseInvoiceLines" and name == "purchaseInvoices":
                return Response(200, {"@odata.context": f"{context}/purchaseInvoiceLines",
                                      "value": [_api_line(row, line) for line in row.get("_lines", [])]})
            if request.method == "GET":
                return Response(200, {"@odata.context": f"{context}/$entity",
                                      **self._serialize(entity_set, row, request, project)})
            if request.method == "PATCH" and name == "vendors":
                self._check_etag(request, entity_set, row)
                values = self._api_values(entity_set, mapping, self._body(request))
                values.pop("No", None)
                updated = dict(row) | values
                updated["Last_Modified_Date_Time"] = self.clock.now()
                updated = self._store_vendor(updated, change="updated")
                return Response(200, {"@odata.context": f"{context}/$entity",
                                      **self._serialize(entity_set, updated, request, project)})
            if request.method == "DELETE" and name == "vendors":
                return self._delete(request, entity_set, (row["No"],))
            raise self._method_not_allowed(request, name)

    def _api_values(self, entity_set: EntitySet, mapping: dict[str, str], body: dict) -> dict:
        translated = {}
        for name, value in body.items():
            if name not in mapping:
                raise ODataError(400, "BadRequest",
                                 f"The property '{name}' does not exist on type 'Microsoft.NAV.vendor'. "
                                 "Make sure to only use property names that are defined by the type.")
            if name == "blocked" and value == "_x0020_":
                value = " "
            translated[mapping[name]] = value
        return self._typed_fields(entity_set, translated, inserting=True)

    def _api_row(self, entity_set: EntitySet, entity_id: str, id_kind: str | None) -> dict:
        entity_id = entity_id.strip("'")
        key = None
        if id_kind:
            key = self._ids[id_kind].get(entity_id)
            if key is None and entity_id.startswith("00000000-0000-4000-"):
                ordinal = int(entity_id[-12:])
                key = f"L{ordinal:07d}" if id_kind == "vendor" else f"B{ordinal:08d}"
        else:
            key = next((k for k, row in entity_set.table.iter_from(None) if row.get("Id") == entity_id), None)
        row = entity_set.table.get(key) if key is not None else None
        if row is None or row.get("Id") != entity_id:
            raise ODataError(404, "Internal_RecordNotFound",
                             f"The {entity_set.entity} does not exist. Identification fields and values: "
                             f"Id='{{{entity_id.upper()}}}'")
        return row

    # -- webhooks -------------------------------------------------------------------------
    def _purge_expired_subscriptions(self) -> None:
        now = self.clock.now()
        for subscription_id in [sid for sid, sub in self.subscriptions.items() if sub["_expires"] <= now]:
            del self.subscriptions[subscription_id]

    def _subscription_body(self, subscription: dict) -> dict:
        body = {k: _json_value(v) for k, v in subscription.items() if not k.startswith("_")}
        body["@odata.etag"] = _etag(subscription["subscriptionId"], subscription["_v"])
        return body

    def _subscriptions(self, request: Request, args: str | None, root: str) -> Response:
        if not self.webhooks_supported:
            raise ODataError(404, "BadRequest_ResourceNotFound", "Resource not found for the segment 'subscriptions'.")
        context = f"{root}/$metadata#subscriptions"
        if args is not None:
            return self._subscription_item(request, args, context)
        with self.state_lock:
            self._purge_expired_subscriptions()
            if request.method == "GET":
                return Response(200, {"@odata.context": context, "value": [
                    self._subscription_body(s) for s in self.subscriptions.values()]})
            if request.method != "POST":
                raise self._method_not_allowed(request, "subscriptions")
            body = self._body(request)
            unknown = set(body) - {"notificationUrl", "resource", "clientState"}
            if unknown:
                raise ODataError(400, "BadRequest", f"The property '{sorted(unknown)[0]}' does not exist on "
                                                    "type 'Microsoft.NAV.subscriptions'.")
            url, resource = body.get("notificationUrl"), body.get("resource")
            if not isinstance(url, str) or not url or not isinstance(resource, str) or not resource:
                raise ODataError(400, "BadRequest_RequiredParamNotProvided",
                                 "Field 'notificationUrl' and 'resource' must not be blank or empty.")
            kind = _resource_kind(resource, self.company_id)
            if kind is None:
                raise ODataError(400, "Application_DialogException",
                                 f"The resource '{resource}' cannot be subscribed to.")
            client_state = body.get("clientState", "")
            if not isinstance(client_state, str) or len(client_state) > 2048:
                raise ODataError(400, "BadRequest", "clientState must be a string of at most 2048 characters.")
            for existing in self.subscriptions.values():
                if existing["notificationUrl"] == url and existing["resource"] == resource:
                    raise ODataError(400, "Internal_EntityWithSameKeyExists",
                                     "The subscription already exists for this notificationUrl and resource.")
        # The handshake happens outside the lock: the subscriber may call us back while answering.
        self._handshake(url)
        with self.state_lock:
            now = self.clock.now()
            subscription = {"subscriptionId": uuid.uuid4().hex, "notificationUrl": url, "resource": resource,
                            "userId": _guid("user", demo_data.NAV_USER), "lastModifiedDateTime": now,
                            "clientState": client_state, "expirationDateTime": now + SUBSCRIPTION_LIFETIME,
                            "_expires": now + SUBSCRIPTION_LIFETIME, "_kind": kind, "_failures": 0,
                            "_v": next(self._versions)}
            self.subscriptions[subscription["subscriptionId"]] = subscription
            return Response(201, {"@odata.context": f"{context}/$entity", **self._subscription_body(subscription)})

    def _subscription_item(self, request: Request, args: str, context: str) -> Response:
        subscription_id = args.strip().strip("'")
        with self.state_lock:
            self._purge_expired_subscriptions()
            subscription = self.subscriptions.get(subscription_id)
            if subscription is None:
                raise ODataError(404, "Internal_RecordNotFound",
                                 f"The subscription '{subscription_id}' does not exist.")
            if request.method == "GET":
                return Response(200, {"@odata.context": f"{context}/$entity", **self._subscription_body(subscription)})
            if request.method not in ("PATCH", "DELETE"):
                raise self._method_not_allowed(request, "subscriptions")
            given = request.header("If-Match")
            if not given:
                raise ODataError(400, "BadRequest_InvalidToken",
                                 "Could not validate the client concurrency token required by the service. "
                                 "Please provide a valid token in the client request.")
            if given != "*" and given != _etag(subscription_id, subscription["_v"]):
                raise ODataError(412, "Request_EntityChanged", "Another user has already changed the record.")
            if request.method == "DELETE":
                del self.subscriptions[subscription_id]
                return Response(204)
            body = self._body(request) if request.body else {}
            url = body.get("notificationUrl", subscription["notificationUrl"])
        self._handshake(url)  # renewal re-validates, as documented
        with self.state_lock:
            subscription = self.subscriptions.get(subscription_id)
            if subscription is None:
                raise ODataError(404, "Internal_RecordNotFound", f"The subscription '{subscription_id}' does not exist.")
            now = self.clock.now()
            subscription.update({"notificationUrl": url, "lastModifiedDateTime": now,
                                 "expirationDateTime": now + SUBSCRIPTION_LIFETIME,
                                 "_expires": now + SUBSCRIPTION_LIFETIME, "_failures": 0,
                                 "_v": next(self._versions)})
            if "clientState" in body:
                subscription["clientState"] = body["clientState"]
            return Response(200, {"@odata.context": f"{context}/$entity", **self._subscription_body(subscription)})

    def _handshake(self, url: str) -> None:
        validation_token = secrets.token_hex(16)
        separator = "&" if "?" in url else "?"
        target = f"{url}{separator}validationToken={urllib.parse.quote(validation_token)}"
        try:
            request = urllib.request.Request(target, data=b"", method="POST")
            with urllib.request.urlopen(request, timeout=5) as answer:
                status, text = answer.status, answer.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            status, text = error.code, ""
        except (urllib.error.URLError, OSError, ValueError):
            raise ODataError(400, "Application_DialogException",
                             "The notification URL could not be reached for the subscription handshake.") from None
        if status != 200 or text.strip().strip('"') != validation_token:
            raise ODataError(400, "Application_DialogException",
                             "The subscription handshake failed: the notification URL did not return the "
                             "validation token with 200 OK.")

    def _queue_change(self, kind: str, entity_id: str, change: str) -> None:
        if not self.notify_enabled:
            return
        with self._pending_signal:
            self._pending.append((kind, entity_id, change, self.clock.now()))
            self._pending_signal.notify()
            if self._notifier is None or not self._notifier.is_alive():
                self._notifier = threading.Thread(target=self._notify_loop, name="nav-sandbox-webhooks", daemon=True)
                self._notifier.start()

    def _notify_loop(self) -> None:
        while not self._stopping:
            with self._pending_signal:
                if not self._pending:
                    self._pending_signal.wait(timeout=1.0)
                    if not self._pending:
                        continue
            threading.Event().wait(self.notification_batch_delay)  # gather a burst into one batch
            with self._pending_signal:
                batch, self._pending = self._pending, []
            try:
                self.deliver(batch)
            except Exception:  # the notifier must outlive one bad delivery
                log.exception("NAV sandbox: webhook delivery failed")

    def deliver(self, batch: list[tuple[str, str, str, datetime]]) -> None:
        with self.state_lock:
            self._purge_expired_subscriptions()
            targets = list(self.subscriptions.values())
        for subscription in targets:
            changes = [c for c in batch if c[0] == subscription["_kind"]]
            if not changes:
                continue
            base = subscription["resource"]
            common = {"subscriptionId": subscription["subscriptionId"], "clientState": subscription["clientState"],
                      "expirationDateTime": _json_value(subscription["expirationDateTime"])}
            if len(changes) > COLLECTION_THRESHOLD:
                last = max(c[3] for c in changes)
                value = [common | {"resource": base, "changeType": "collection",
                                   "lastModifiedDateTime": _json_value(last)}]
            else:
                value = [common | {"resource": f"{base}({entity_id})", "changeType": change,
                                   "lastModifiedDateTime": _json_value(when)}
                         for _, entity_id, change, when in changes]
            ok = self._post_notification(subscription["notificationUrl"], {"value": value})
            with self.state_lock:
                live = self.subscriptions.get(subscription["subscriptionId"])
                if live is None:
                    continue
                live["_failures"] = 0 if ok else live["_failures"] + 1
                if live["_failures"] >= FAILED_DELIVERIES_BEFORE_DELETE:
                    log.info("NAV sandbox: subscription %s deleted after %d failed deliveries",
                             live["subscriptionId"], live["_failures"])
                    del self.subscriptions[live["subscriptionId"]]

    def _post_notification(self, url: str, payload: dict) -> bool:
        data = json.dumps(payload).encode("utf-8")
        request = urllib.request.Request(url, data=data, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                ok = 200 <= answer.status < 300
        except (urllib.error.URLError, OSError, ValueError):
            ok = False
        if ok:
            with self.state_lock:
                self.notifications_sent += 1
        return ok

    def stop(self) -> None:
        """Stop the notifier thread (tests call this; the thread is a daemon anyway); remove the NTLM users file."""
        with self._ntlm_lock:
            if self._ntlm is not None:
                self._ntlm.close()
                self._ntlm = None
        self._stopping = True
        with self._pending_signal:
            self._pending_signal.notify_all()

    # -- operations a NAV user (or a test) performs -----------------------------------------
    def edit_vendor(self, number: str, **fields: Any) -> dict:
        """Change a vendor as a NAV user would on the card: new last-modified, new etag, notification."""
        with self.state_lock:
            entity_set = self._odata_sets()["Vendor"]
            row = self.vendors.get(number)
            if row is None:
                raise KeyError(number)
            values = self._typed_fields(entity_set, fields, inserting=False)
            updated = dict(row) | values
            updated["Last_Modified_Date_Time"] = self.clock.now()
            return self._plain(self._store_vendor(updated, change="updated"))

    def create_vendor(self, **fields: Any) -> dict:
        with self.state_lock:
            entity_set = self._odata_sets()["Vendor"]
            return self._plain(self._insert_values(entity_set, self._typed_fields(entity_set, fields, True)))

    def delete_vendor(self, number: str) -> None:
        with self.state_lock:
            row = self.vendors.get(number)
            if row is None:
                raise KeyError(number)
            self.vendors.delete(number)
            self._queue_change("vendors", row["Id"], "deleted")

    def post_invoice(self, vendor_number: str, vendor_invoice_number: str, lines: list[dict],
                     posting_date: date | None = None, due_days: int = 30) -> dict:
        """Post a purchase invoice. Each line: {"account", "amount", "description"?, "dimensions"?}."""
        with self.state_lock:
            if vendor_number not in self.vendors:
                raise KeyError(vendor_number)
            while self.next_invoice_no and str(self.next_invoice_no) in self.invoices:
                self.next_invoice_no += 1
            number = str(self.next_invoice_no)
            self.next_invoice_no += 1
            posting = posting_date or self.clock.now().date()
            demo_lines = tuple(
                demo_data.DemoInvoiceLine(index + 1, line["account"], line.get("description", "Purchase"),
                                          Decimal("1"), Decimal(str(line["amount"])), dict(line.get("dimensions", {})))
                for index, line in enumerate(lines))
            invoice = demo_data.DemoInvoice(number, vendor_number, vendor_invoice_number, posting,
                                            posting + timedelta(days=due_days), demo_lines)
            return self._plain(self._store_invoice(invoice, self.clock.now()))

    def reset(self, seed: str | None = None) -> None:
        self._seed(seed or self.seed_name)

    def stats(self) -> dict:
        with self.state_lock:
            return {"seed": self.seed_name, "vendors": len(self.vendors), "posted_invoices": len(self.invoices),
                    "purchase_orders": len(self.orders), "journal_lines": len(self.journal),
                    "vendor_ledger_entries": len(self.vendor_ledger), "gl_entries": len(self.gl_entries),
                    "subscriptions": len(self.subscriptions), "webhooks_supported": self.webhooks_supported,
                    "windows_auth": self.windows_auth,
                    "notifications_sent": self.notifications_sent, "requests": len(self.requests),
                    "now": _json_value(self.clock.now())}

    # -- control endpoints (no auth, no faults) ---------------------------------------------
    def _control_json(self, request: Request) -> dict:
        if not request.body:
            return {}
        body = request.json()
        return body if isinstance(body, dict) else {}

    def _control(self, action: Callable[[], Any], status: int = 200) -> Response:
        try:
            return Response(status, action())
        except ODataError as error:
            return error.response()
        except KeyError as error:
            return Response(404, {"error": {"code": "NotFound", "message": f"{error.args[0]} does not exist"}})
        except (ValueError, TypeError) as error:
            return Response(400, {"error": {"code": "BadRequest", "message": str(error)}})

    def _control_reset(self, request: Request) -> Response:
        body = self._control_json(request)
        return self._control(lambda: (self.reset(body.get("seed")), self.stats())[1])

    def _control_clock(self, request: Request) -> Response:
        body = self._control_json(request)

        def advance() -> dict:
            self.clock.advance(float(body.get("seconds", 0)))
            with self.state_lock:
                self._purge_expired_subscriptions()
            return {"now": _json_value(self.clock.now())}

        return self._control(advance)

    def _control_create_vendor(self, request: Request) -> Response:
        body = self._control_json(request)
        return self._control(lambda: self.create_vendor(**body), 201)

    def _control_edit_vendor(self, request: Request) -> Response:
        body = self._control_json(request)
        return self._control(lambda: self.edit_vendor(request.params["number"], **body))

    def _control_delete_vendor(self, request: Request) -> Response:
        return self._control(lambda: (self.delete_vendor(request.params["number"]), {"deleted": True})[1])

    def _control_post_invoice(self, request: Request) -> Response:
        body = self._control_json(request)
        return self._control(lambda: self.post_invoice(body["vendor"], body["vendor_invoice_number"], body["lines"],
                                                       date.fromisoformat(body["posting_date"])
                                                       if body.get("posting_date") else None), 201)

    def _control_webhooks(self, request: Request) -> Response:
        body = self._control_json(request)

        def toggle() -> dict:
            self.webhooks_supported = bool(body.get("enabled", True))
            return {"webhooks_supported": self.webhooks_supported}

        return self._control(toggle)

    def _control_stats(self, request: Request) -> Response:
        return Response(200, self.stats())

    def _control_windows_auth(self, request: Request) -> Response:
        body = self._control_json(request)

        def toggle() -> dict:
            self.set_windows_auth(bool(body.get("enabled", True)))
            return {"windows_auth": self.windows_auth}

        return self._control(toggle)


class _InvoiceLineView:
    """The posted invoice lines page: a read-only view over the lines kept with each invoice."""

    def __init__(self, invoices: LazyTable) -> None:
        self.invoices = invoices

    def get(self, key: Any) -> dict | None:
        invoice = self.invoices.get(key[0])
        return next((line for line in invoice.get("_lines", []) if line["Line_No"] == key[1]), None) if invoice else None

    def __contains__(self, key: Any) -> bool:
        return self.get(key) is not None

    def iter_from(self, after: Any = None) -> Iterator[tuple[Any, dict]]:
        start = after[0] if after else None
        if after:
            invoice = self.invoices.get(after[0])
            for line in (invoice or {}).get("_lines", []):
                if line["Line_No"] > after[1]:
                    yield (line["Document_No"], line["Line_No"]), line
        for _, invoice in self.invoices.iter_from(start):
            for line in invoice.get("_lines", []):
                yield (line["Document_No"], line["Line_No"]), line


class _SetupView:
    """General Ledger Setup: one record telling which dimensions are the two global (shortcut) ones."""

    ROW = {"Primary_Key": "", "Global_Dimension_1_Code": GLOBAL_DIMENSIONS[0],
           "Global_Dimension_2_Code": GLOBAL_DIMENSIONS[1], "LCY_Code": "USD", "_v": 1}

    def get(self, key: Any) -> dict | None:
        return self.ROW if key == "" else None

    def iter_from(self, after: Any = None) -> Iterator[tuple[Any, dict]]:
        if after is None:
            yield "", self.ROW


def _split_segment(segment: str) -> tuple[str, str | None]:
    """``Vendor('V1')`` → ("Vendor", "'V1'"); ``Vendor`` → ("Vendor", None)."""
    if segment.endswith(")") and "(" in segment:
        head, _, args = segment.partition("(")
        return head, args[:-1]
    return segment, None


def _page_row(entity_set: EntitySet, row: dict) -> dict:
    return {name: row.get(name) for name in entity_set.schema}


def _api_projection(mapping: dict[str, str]) -> Callable[[EntitySet, dict], dict]:
    def project(entity_set: EntitySet, row: dict) -> dict:
        view = {api: row.get(page) for api, page in mapping.items()}
        if view.get("blocked") == " ":
            view["blocked"] = "_x0020_"  # how the API writes NAV's blank option value
        return view

    return project


def _api_line(invoice: dict, line: dict) -> dict:
    view = {api: _json_value(line.get(page)) for api, page in API_INVOICE_LINE_FIELDS.items()}
    view.update({"id": _guid("invoice-line", f"{line['Document_No']}/{line['Line_No']}"),
                 "documentId": invoice.get("Id"), "lineType": "Account"})
    return view


def _resource_kind(resource: str, company_id: str) -> str | None:
    path = urllib.parse.urlsplit(resource).path
    for kind in ("vendors", "purchaseInvoices"):
        if path.rstrip("/").endswith(f"/api/v2.0/companies({company_id})/{kind}"):
            return kind
    return None


def _parse_select(text: str | None, fields: set[str]) -> set[str] | None:
    if not text:
        return None
    selected = {part.strip() for part in text.split(",") if part.strip()}
    unknown = selected - fields
    if unknown:
        raise ODataError(400, "BadRequest_NotFound", f"Could not find a property named '{sorted(unknown)[0]}'.")
    return selected


def _non_negative(query: dict[str, str], name: str) -> int | None:
    if name not in query:
        return None
    value = query[name]
    if not value.isdigit():
        raise ODataError(400, "BadRequest", f"Invalid value '{value}' for {name}: a non-negative integer is expected.")
    return int(value)


def _sort_key(value: Any) -> tuple:
    return (value is None, value if value is not None else 0)


def _encode_token(key: Any) -> str:
    raw = json.dumps(list(key) if isinstance(key, tuple) else key).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str) -> Any:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        key = json.loads(raw)
    except (ValueError, json.JSONDecodeError):
        raise ODataError(400, "BadRequest", "The $skiptoken is not valid.") from None
    return tuple(key) if isinstance(key, list) else key
