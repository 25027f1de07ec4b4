"""NAV 2016-2018 (and any Business Central) through the standard pages published as OData v4 web services.

Only what Microsoft's page definitions expose (NAV-GROUND-TRUTH.md §3), under these service names, which the
administrator gives the pages on the Web Services page:

=========================== ==== ===================================================================
service name                page what the connector reads or writes
=========================== ==== ===================================================================
Vendor                      26   vendors (read, create, update); ``Last_Date_Modified`` is a date only
PostedPurchaseInvoices      146  posted invoice headers with amounts, remaining amount, cancelled
PostedPurchaseInvoiceLines  139  their lines (or, if not published, page 138's lines part)
PostedPurchaseInvoice       138  the document page; its lines part is ``PostedPurchaseInvoicePurchInvLines``
VendorLedgerEntries         29   posted payments (found by External Document No.)
ChartOfAccounts             16   G/L accounts
Dimensions, DimensionValues 536, 537
GeneralLedgerSetup          118  which dimension is shortcut dimension 1-8; allowed posting dates
PaymentJournal              256  NEW lines in the connector's own batch; never posted by the connector
PostedPurchaseCreditMemos   147  posted credit memo headers (optional: not published = none read)
PostedPurchaseCreditMemoLines 141 their lines (or page 140 ``PostedPurchaseCreditMemo``'s lines part)
PostedPurchaseCreditMemo    140  the vendor's own credit memo number (optional: not published = not sent)
=========================== ==== ===================================================================

Pages 147/140/141 are described, with sources, in docs/nav_credit_memo_truth.json (NAV 2018 page sources): page
147 has no vendor credit memo number (page 140 has it: read per batch of memos, like the lines), and NAV 2018's
page 141 has only shortcut dimensions 1 and 2 on the lines.

Pages have no modification time-stamp but the vendor's ``Last_Date_Modified`` (a date), so vendors are read from
the day before the bookmark, and posted invoices by posting date with ``INVOICE_OVERLAP`` days of overlap (the
engine skips the ones it already has). A posted invoice whose posting date lies further back than that when it
is posted is only found by a full read (``modified_since=None``).

Over OData the payment journal page applies no batch filter (its OnOpenPage exits for OData clients), so every
read of it filters by template AND batch. There is no standard way to post a journal over OData in NAV 2016-2018:
the lines wait in the batch for the accountant, and a payment counts as posted only once the vendor ledger shows
it. Option values are captions, translated into the server's language by default (``enums.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from app.clients.nav import enums
from app.clients.nav.backend import FieldError, JournalRow, NavBackend, PaymentJournal, field_value
from app.clients.nav.transport import RETURN_REPRESENTATION, SYSTEM, literal
from app.domain.credits import PostedCreditMemo
from app.domain.errors import ConfigurationError, NotFoundError, RecordError
from app.domain.models import (
    Dimension,
    DimensionValue,
    GLAccount,
    InvoiceLine,
    JournalLine,
    NavVendor,
    PostedInvoice,
    PostedPayment,
    UnreadableRecord,
    VendorFields,
)
from app.domain.periods import AllowedPostingDates
from app.domain.values import parse_amount, parse_date, parse_optional_date, parse_quantity, parse_text

log = logging.getLogger("navbill.nav")

VENDOR_SERVICE = "Vendor"
INVOICE_LIST_SERVICE = "PostedPurchaseInvoices"
INVOICE_LINES_SERVICE = "PostedPurchaseInvoiceLines"
INVOICE_DOCUMENT_SERVICE = "PostedPurchaseInvoice"
INVOICE_LINES_PART = f"{INVOICE_DOCUMENT_SERVICE}PurchInvLines"
LEDGER_SERVICE = "VendorLedgerEntries"
ACCOUNTS_SERVICE = "ChartOfAccounts"
DIMENSIONS_SERVICE = "Dimensions"
DIMENSION_VALUES_SERVICE = "DimensionValues"
SETUP_SERVICE = "GeneralLedgerSetup"
PAYMENT_JOURNAL_SERVICE = "PaymentJournal"
CREDIT_LIST_SERVICE = "PostedPurchaseCreditMemos"
CREDIT_LINES_SERVICE = "PostedPurchaseCreditMemoLines"
CREDIT_DOCUMENT_SERVICE = "PostedPurchaseCreditMemo"
CREDIT_LINES_PART = f"{CREDIT_DOCUMENT_SERVICE}PurchCrMemoLines"

# Every service the connector needs, with its page, for the connection test.
SERVICES: tuple[tuple[str, int, str], ...] = (
    (VENDOR_SERVICE, 26, "Vendor Card"),
    (INVOICE_LIST_SERVICE, 146, "Posted Purchase Invoices"),
    (INVOICE_LINES_SERVICE, 139, "Posted Purch. Invoice Subform"),
    (LEDGER_SERVICE, 29, "Vendor Ledger Entries"),
    (ACCOUNTS_SERVICE, 16, "Chart of Accounts"),
    (DIMENSIONS_SERVICE, 536, "Dimensions"),
    (DIMENSION_VALUES_SERVICE, 537, "Dimension Values"),
    (SETUP_SERVICE, 118, "General Ledger Setup"),
    (PAYMENT_JOURNAL_SERVICE, 256, "Payment Journal"),
)
# Read where published; without them no credit memo goes to BILL (the log and README say so).
OPTIONAL_SERVICES: tuple[tuple[str, int, str], ...] = (
    (CREDIT_LIST_SERVICE, 147, "Posted Purchase Credit Memos"),
    (CREDIT_LINES_SERVICE, 141, "Posted Purch. Cr. Memo Subform"),
)

INVOICE_OVERLAP = timedelta(days=31)
LINE_RANGE = 200  # posted invoices whose lines are read with one request (a Document_No range)
DEFAULT_1099_CODE = "MISC-07"  # NAV 2016-2018 US: "nonemployee compensation"
# VendorFields attribute → Vendor Card (page 26) control. Tax id: see _tax_field.
VENDOR_FIELDS = {
    "name": "Name", "address_line1": "Address", "address_line2": "Address_2", "city": "City", "state": "County",
    "postal_code": "Post_Code", "country": "Country_Region_Code", "email": "E_Mail", "phone": "Phone_No",
}
US_TAX_FIELD, US_1099_FIELD, VAT_FIELD = "Federal_ID_No", "IRS_1099_Code", "VAT_Registration_No"
SHORTCUT_LINE_FIELDS = ("Shortcut_Dimension_1_Code", "Shortcut_Dimension_2_Code",
                        *(f"ShortcutDimCode_x005B_{slot}_x005D_" for slot in range(3, 9)))
SETUP_DIMENSION_FIELDS = ("Global_Dimension_1_Code", "Global_Dimension_2_Code",
                          *(f"Shortcut_Dimension_{slot}_Code" for slot in range(3, 9)))


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _caption(option: str, row: dict, name: str) -> str:
    value = row.get(name)
    decoded = enums.decode_caption(option, value)
    if decoded is None:
        raise FieldError(name, value, f"'{value}' is not an option the connector knows; if NAV sends translated "
                                      "option captions, set ServicesOptionFormat to OptionString on the NAV "
                                      "service tier")
    return decoded


class ClassicPages(NavBackend):
    flavor = "classic"
    description = "NAV OData v4 pages"

    def __init__(self, transport) -> None:
        super().__init__(transport)
        self._us_vendor_fields: bool | None = None
        self._dimension_slots: tuple[str, ...] | None = None
        self._local_currency = ""  # General Ledger Setup's LCY Code, read with the dimension slots

    def _url(self, service: str) -> str:
        return f"{self.connection.company_root}/{service}"

    def _rows(self, service: str, params: dict | None = None, record: str = "") -> Iterator[dict]:
        try:
            yield from self.transport.iter_values(self._url(service), params, record=record)
        except NotFoundError as exc:
            raise self._unpublished(service, exc) from None

    def _unpublished(self, service: str, exc: Exception) -> Exception:
        page = next(((number, caption) for name, number, caption in SERVICES + OPTIONAL_SERVICES
                     if name == service), None)
        if page is None:
            return exc
        return ConfigurationError(
            f"the web service '{service}' is not published in NAV. On the Web Services page, publish page "
            f"{page[0]} ({page[1]}) with the service name {service}.", system=SYSTEM, code="service not published")

    # -- connection -------------------------------------------------------------------------------
    def ping(self) -> dict:
        """Check instance, credentials and company; answers the company record."""
        body = self.transport.get(f"{self.connection.odata_root}/Company")
        names = [c.get("Name") for c in body.get("value", [])]
        if self.connection.company not in names:
            raise ConfigurationError(f"the company '{self.connection.company}' does not exist in NAV (wrong "
                                     f"company). Companies found: {', '.join(map(str, names)) or 'none'}.",
                                     system=SYSTEM, code="Internal_CompanyNotFound")
        return self.transport.get(self.connection.company_root)

    def missing_services(self) -> list[tuple[str, int, str]]:
        """The services of ``SERVICES`` this NAV does not publish (for the connection test)."""
        missing = []
        for service, page, caption in SERVICES:
            response = self.transport.send("GET", self._url(service), params={"$top": "1"}, idempotent=True)
            if response.status_code == 404:
                missing.append((service, page, caption))
            elif response.status_code != 200:
                raise self.transport.error(response, f"web service {service}")
        return missing

    def published(self, service: str) -> bool:
        """Whether this web service answers (200) or is not published (404), for the connection test's optional
        pages (credit memos 147/141/140)."""
        response = self.transport.send("GET", self._url(service), params={"$top": "1"}, idempotent=True)
        if response.status_code in (200, 404):
            return response.status_code == 200
        raise self.transport.error(response, f"web service {service}")

    def captions_translated(self) -> bool | None:
        """True when the pages send option captions in another language than English; None: nothing to tell."""
        for row in self._rows(ACCOUNTS_SERVICE, {"$top": "5"}):
            value = row.get("Account_Type")
            if value is None:
                continue
            return not enums.is_english_caption("gl account type", value)
        return None

    # -- vendors ------------------------------------------------------------------------------------
    def _tax_field(self) -> str:
        """Federal_ID_No on a US server's Vendor Card, VAT_Registration_No elsewhere (learned from a read)."""
        if self._us_vendor_fields is None:
            for row in self._rows(VENDOR_SERVICE, {"$top": "1"}):
                self._us_vendor_fields = US_TAX_FIELD in row
                break
        return US_TAX_FIELD if self._us_vendor_fields else VAT_FIELD

    def _vendor(self, row: dict) -> NavVendor:
        if US_TAX_FIELD in row:
            self._us_vendor_fields = True
        elif VAT_FIELD in row:
            self._us_vendor_fields = False
        number = field_value(row, "No", lambda v: parse_text(v, required="vendor No."))
        blocked = _caption("vendor blocked", row, "Blocked") if "Blocked" in row else " "
        values = {attr: str(row.get(page) or "").strip() for attr, page in VENDOR_FIELDS.items()}
        fields = VendorFields(**values, tax_id=str(row.get(US_TAX_FIELD) or row.get(VAT_FIELD) or "").strip(),
                              is_1099=bool(str(row.get(US_1099_FIELD) or "").strip()),
                              inactive=blocked != " ")
        modified = field_value(row, "Last_Date_Modified", parse_optional_date)
        return self.remember(NavVendor(number=number, fields=fields,
                                       last_modified=_midnight(modified) if modified else None,
                                       etag=row.get("@odata.etag", "")))

    def _vendor_or_unreadable(self, row: dict) -> NavVendor | UnreadableRecord:
        try:
            return self._vendor(row)
        except FieldError as exc:
            return self.unreadable("vendor", str(row.get("No") or ""), exc)

    def iter_vendors(self, modified_since: datetime | None = None) -> Iterator[NavVendor | UnreadableRecord]:
        params = {}
        if modified_since is not None:
            # A date without time: read from the day before, so a change made late on the bookmark's day
            # (in any time zone) is not missed. The engine sees unchanged vendors as echoes.
            since = modified_since.astimezone(UTC).date() - timedelta(days=1)
            params["$filter"] = f"Last_Date_Modified ge {since.isoformat()}"
        for row in self._rows(VENDOR_SERVICE, params):
            yield self._vendor_or_unreadable(row)

    def get_vendor(self, number: str) -> NavVendor | None:
        try:
            row = self.transport.get(f"{self._url(VENDOR_SERVICE)}({literal(number)})", record=f"vendor {number}")
        except NotFoundError:
            return None
        vendor = self._vendor_or_unreadable(row)
        if isinstance(vendor, UnreadableRecord):
            raise RecordError(vendor.message, system=SYSTEM, record=f"vendor {number}", code="unreadable")
        return vendor

    def _vendor_payload(self, fields: VendorFields, only: set[str] | None = None) -> dict:
        payload: dict[str, Any] = {page: getattr(fields, attr) for attr, page in VENDOR_FIELDS.items()
                                   if only is None or attr in only}
        tax_field = self._tax_field()
        if only is None or "tax_id" in only:
            payload[tax_field] = fields.tax_id
        if tax_field == US_TAX_FIELD and (only is None or "is_1099" in only):
            payload[US_1099_FIELD] = DEFAULT_1099_CODE if fields.is_1099 else ""
        if only is None or "inactive" in only:
            payload["Blocked"] = enums.english_caption("vendor blocked", "All" if fields.inactive else " ")
        return payload

    def create_vendor(self, fields: VendorFields, number: str) -> NavVendor:
        record = f"vendor {number}" if number else f"new vendor '{fields.name}'"
        payload = {"No": number, **self._vendor_payload(fields)} if number else self._vendor_payload(fields)
        response = self.transport.send("POST", self._url(VENDOR_SERVICE), json=payload, idempotent=False,
                                       record=record)
        if response.status_code != 201:
            raise self.transport.error(response, record)
        return self._vendor_from_response(response)

    def _patch_vendor(self, number, fields, changed, etag):
        return self.transport.send("PATCH", f"{self._url(VENDOR_SERVICE)}({literal(number)})",
                                   json=self._vendor_payload(fields, changed), idempotent=True,
                                   record=f"vendor {number}", headers={"If-Match": etag, **RETURN_REPRESENTATION})

    def _vendor_from_response(self, response) -> NavVendor:
        return self._vendor(self.transport.json(response))

    # -- posted invoices ----------------------------------------------------------------------------
    def dimension_slots(self) -> tuple[str, ...]:
        """The dimension codes of shortcut dimensions 1-8 (General Ledger Setup, page 118); "" where unset."""
        if self._dimension_slots is None:
            rows = list(self._rows(SETUP_SERVICE, {"$top": "1"}, record="general ledger setup"))
            row = rows[0] if rows else {}
            self._dimension_slots = tuple(str(row.get(name) or "").strip() for name in SETUP_DIMENSION_FIELDS)
            # Page 118's "LCY Code" (Currency group): a document's blank Currency Code means this currency, so a
            # company booking in CAD says so, as Business Central's API does.
            self._local_currency = str(row.get("LCY_Code") or "").strip().upper()
        return self._dimension_slots

    def _currency(self, row: dict) -> str:
        """A document's ISO currency code: its Currency Code, or the company's LCY Code when blank ("" if unset)."""
        self.dimension_slots()
        return str(row.get("Currency_Code") or "").strip().upper() or self._local_currency

    def allowed_posting_dates(self) -> AllowedPostingDates:
        """Allow Posting From / To of General Ledger Setup (page 118); a blank date is no limit."""
        rows = list(self._rows(SETUP_SERVICE, {"$top": "1"}, record="general ledger setup"))
        row = rows[0] if rows else {}
        return AllowedPostingDates(parse_optional_date(row.get("Allow_Posting_From")),
                                   parse_optional_date(row.get("Allow_Posting_To")),
                                   source=f"General Ledger Setup (page 118, service {SETUP_SERVICE})")

    def _line(self, row: dict, slots: tuple[str, ...]) -> InvoiceLine | None:
        line_type = _caption("line type", row, "Type")
        if line_type == " ":
            return None  # a comment line: text only, no amount
        dimensions = {code: str(row.get(name) or "").strip() for code, name in zip(slots, SHORTCUT_LINE_FIELDS, strict=True)
                      if code and str(row.get(name) or "").strip()}
        number = str(row.get("No") or "").strip()
        return InvoiceLine(
            line_no=field_value(row, "Line_No", lambda v: int(parse_text(v, required="line No."))),
            gl_account=number if line_type == "G/L Account" else "",
            description=str(row.get("Description") or ""),
            amount=field_value(row, "Line_Amount", parse_amount),
            dimensions=dimensions, quantity=field_value(row, "Quantity", parse_quantity),
            line_type=line_type, object_number="" if line_type == "G/L Account" else number)

    def _document_head(self, row: dict, line_rows: list[dict]) -> tuple[tuple[InvoiceLine, ...], date, str]:
        """What a posted invoice and a posted credit memo read alike: their lines in NAV's order (comment lines
        left out), the posting date, and the vendor (Pay-to, else Buy-from)."""
        slots = self.dimension_slots()
        lines = tuple(line for line in (self._line(r, slots) for r in sorted(
            line_rows, key=lambda r: int(r.get("Line_No") or 0))) if line is not None)
        posting_date = field_value(row, "Posting_Date", parse_date)
        vendor = str(row.get("Pay_to_Vendor_No") or "").strip() or field_value(
            row, "Buy_from_Vendor_No", lambda v: parse_text(v, required="vendor No."))
        return lines, posting_date, vendor

    def _invoice(self, row: dict, line_rows: list[dict]) -> PostedInvoice:
        lines, posting_date, vendor = self._document_head(row, line_rows)
        return PostedInvoice(
            number=row["No"], vendor_number=vendor,
            vendor_invoice_number=str(row.get("Vendor_Invoice_No") or "").strip(),
            posting_date=posting_date,
            document_date=field_value(row, "Document_Date", parse_optional_date) or posting_date,
            due_date=field_value(row, "Due_Date", parse_date),
            amount=field_value(row, "Amount", parse_amount),
            amount_including_tax=field_value(row, "Amount_Including_VAT", parse_amount),
            currency=self._currency(row), lines=lines,
            last_modified=_midnight(posting_date), cancelled=bool(row.get("Cancelled")),
            remaining_amount=field_value(row, "Remaining_Amount", lambda v: None if v is None else parse_amount(v)))

    def _invoice_or_unreadable(self, row: dict, line_rows: list[dict]) -> PostedInvoice | UnreadableRecord:
        number = str(row.get("No") or "")
        if not number:
            return self.unreadable("posted invoice", "", FieldError("No", row.get("No"), "the invoice No. is empty"))
        try:
            return self._invoice(row, line_rows)
        except FieldError as exc:
            return self.unreadable("posted invoice", number, exc)

    def _lines_for(self, numbers: list[str], lines_service: str = INVOICE_LINES_SERVICE,
                   document_service: str = INVOICE_DOCUMENT_SERVICE, part: str = INVOICE_LINES_PART,
                   what: str = "posted invoice") -> dict[str, list[dict]]:
        """The lines of these posted documents: one range read of the lines page (139, or 141 for credit
        memos), or the document page's (138/140) lines part per document."""
        found: dict[str, list[dict]] = {number: [] for number in numbers}
        if not numbers:
            return found
        ordered = sorted(numbers)
        if len(ordered) == 1:
            filter_text = f"Document_No eq {literal(ordered[0])}"
        else:
            filter_text = f"Document_No ge {literal(ordered[0])} and Document_No le {literal(ordered[-1])}"
        try:
            rows = list(self.transport.iter_values(self._url(lines_service), {"$filter": filter_text},
                                                   record=f"lines of {what}s {ordered[0]}-{ordered[-1]}"))
        except NotFoundError:
            rows = []
            for number in ordered:
                url = f"{self._url(document_service)}({literal(number)})/{part}"
                try:
                    rows.extend(dict(r, Document_No=number) for r in self.transport.iter_values(
                        url, record=f"lines of {what} {number}"))
                except NotFoundError as exc:
                    raise self._unpublished(lines_service, exc) from None
        for line in rows:
            if line.get("Document_No") in found:
                found[line["Document_No"]].append(line)
        return found

    def iter_posted_invoices(self, modified_since: datetime | None = None
                             ) -> Iterator[PostedInvoice | UnreadableRecord]:
        params: dict[str, str] = {}
        if modified_since is not None:
            since = modified_since.astimezone(UTC).date() - INVOICE_OVERLAP
            params["$filter"] = f"Posting_Date ge {since.isoformat()}"
        batch: list[dict] = []
        for row in self._rows(INVOICE_LIST_SERVICE, params):
            batch.append(row)
            if len(batch) >= LINE_RANGE:
                yield from self._with_lines(batch)
                batch = []
        yield from self._with_lines(batch)

    def _with_lines(self, headers: list[dict]) -> Iterator[PostedInvoice | UnreadableRecord]:
        lines = self._lines_for([str(row.get("No")) for row in headers if row.get("No")])
        for row in headers:
            yield self._invoice_or_unreadable(row, lines.get(str(row.get("No")), []))

    def get_posted_invoice(self, number: str) -> PostedInvoice | None:
        try:
            row = self.transport.get(f"{self._url(INVOICE_LIST_SERVICE)}({literal(number)})",
                                     record=f"posted invoice {number}")
        except NotFoundError:
            return None
        invoice = self._invoice_or_unreadable(row, self._lines_for([number])[number])
        if isinstance(invoice, UnreadableRecord):
            raise RecordError(invoice.message, system=SYSTEM, record=f"posted invoice {number}", code="unreadable")
        return invoice

    # -- posted purchase credit memos (pages 147/141; docs/nav_credit_memo_truth.json) --------------------
    credit_memos_supported = True  # until page 147 answers 404 (not published): then none are read

    def _vendor_memo_numbers(self, numbers: list[str]) -> dict[str, str]:
        """The vendor's own credit memo number (``Vendor_Cr_Memo_No``, only on page 140, not on 147) of these
        memos: one range read of page 140 per batch, like the lines. Page 140 not published: none ("")."""
        if not numbers:
            return {}
        ordered = sorted(numbers)
        filter_text = (f"No eq {literal(ordered[0])}" if len(ordered) == 1 else
                       f"No ge {literal(ordered[0])} and No le {literal(ordered[-1])}")
        try:
            rows = self.transport.iter_values(self._url(CREDIT_DOCUMENT_SERVICE),
                                              {"$filter": filter_text, "$select": "No,Vendor_Cr_Memo_No"},
                                              record=f"posted credit memos {ordered[0]}-{ordered[-1]}")
            return {str(row.get("No")): str(row.get("Vendor_Cr_Memo_No") or "").strip() for row in rows}
        except NotFoundError:
            log.info("NAV does not publish page 140 (Posted Purchase Credit Memo) as web service %s: the vendor's "
                     "own credit memo number is not carried into BILL's vendor credits.", CREDIT_DOCUMENT_SERVICE)
            return {}

    def _credit_memo(self, row: dict, line_rows: list[dict], vendor_memo_number: str = "") -> PostedCreditMemo:
        lines, posting_date, vendor = self._document_head(row, line_rows)
        # Page 147's flags in the API's words (POSTED_STATUSES): Cancelled = cancelled by a corrective
        # invoice; Corrective = it cancels a posted invoice; Paid = its ledger entry is closed.
        status = ("Canceled" if row.get("Cancelled") else "Corrective" if row.get("Corrective")
                  else "Paid" if row.get("Paid") else "Open")
        return PostedCreditMemo(
            number=str(row["No"]), vendor_number=vendor,
            vendor_credit_memo_number=vendor_memo_number,  # not on page 147: read from page 140
            posting_date=posting_date,
            document_date=field_value(row, "Document_Date", parse_optional_date) or posting_date,
            amount=field_value(row, "Amount", parse_amount),
            amount_including_tax=field_value(row, "Amount_Including_VAT", parse_amount),
            status=status, lines=lines, currency=self._currency(row))

    def iter_posted_credit_memos(self, skip=None) -> Iterator[PostedCreditMemo | UnreadableRecord]:
        """Posted credit memos (page 147) with their lines (page 141, or page 140's part); ``skip(number)``
        True: its lines are not read (already sent). Page 147 not published: none, and the log says so. The vendor's
        own memo number comes from page 140 (one read per batch, only for the memos not skipped)."""
        try:
            rows = list(self.transport.iter_values(self._url(CREDIT_LIST_SERVICE), {},
                                                   record="posted credit memos"))
        except NotFoundError:
            self.credit_memos_supported = False
            log.info("NAV does not publish page 147 (Posted Purchase Credit Memos) as web service %s: no credit "
                     "memo is sent to BILL. Publish it, and page 141 as %s, to send them.", CREDIT_LIST_SERVICE,
                     CREDIT_LINES_SERVICE)
            return
        wanted = [row for row in rows if row.get("No") and not (skip is not None and skip(str(row["No"])))]
        for start in range(0, len(wanted), LINE_RANGE):
            batch = wanted[start:start + LINE_RANGE]
            lines = self._lines_for([str(row["No"]) for row in batch], CREDIT_LINES_SERVICE,
                                    CREDIT_DOCUMENT_SERVICE, CREDIT_LINES_PART, "posted credit memo")
            theirs = self._vendor_memo_numbers([str(row["No"]) for row in batch])
            for row in batch:
                number = str(row["No"])
                try:
                    yield self._credit_memo(row, lines.get(number, []), theirs.get(number, ""))
                except FieldError as exc:
                    yield self.unreadable("posted credit memo", number, exc)

    # -- reference data -----------------------------------------------------------------------------
    def iter_gl_accounts(self) -> Iterator[GLAccount | UnreadableRecord]:
        for row in self._rows(ACCOUNTS_SERVICE):
            try:
                yield GLAccount(number=str(row["No"]), name=str(row.get("Name") or ""),
                                account_type=_caption("gl account type", row, "Account_Type"),
                                income_balance=enums.decode_caption("income balance", row.get("Income_Balance"))
                                or str(row.get("Income_Balance") or ""),
                                category=str(row.get("Account_Category") or "").strip())
            except FieldError as exc:
                yield self.unreadable("G/L account", str(row.get("No") or ""), exc)

    def iter_dimensions(self) -> Iterator[Dimension]:
        for row in self._rows(DIMENSIONS_SERVICE):
            yield Dimension(code=str(row["Code"]), name=str(row.get("Name") or ""))

    def iter_dimension_values(self) -> Iterator[DimensionValue]:
        for row in self._rows(DIMENSION_VALUES_SERVICE):
            yield DimensionValue(dimension_code=str(row["Dimension_Code"]), code=str(row["Code"]),
                                 name=str(row.get("Name") or ""), blocked=bool(row.get("Blocked")))

    # -- payments -----------------------------------------------------------------------------------
    def find_payments(self, external_document_number: str, dated: date | None = None) -> list[PostedPayment]:
        """Vendor ledger entries of type Payment carrying this External Document No. (look before writing).

        Filtered by the external document number only and the type checked here: the type is a caption and
        may be translated."""
        found = []
        for row in self._rows(LEDGER_SERVICE, {"$filter": f"External_Document_No eq {literal(external_document_number)}"},
                              record=f"payment {external_document_number}"):
            if enums.decode_caption("document type", row.get("Document_Type")) != "Payment":
                continue
            found.append(PostedPayment(
                entry_number=int(row["Entry_No"]), document_number=str(row.get("Document_No") or ""),
                external_document_number=str(row.get("External_Document_No") or ""),
                vendor_number=str(row.get("Vendor_No") or ""), amount=parse_amount(row.get("Amount")),
                posting_date=parse_date(row.get("Posting_Date"))))
        return found

    def payment_journal(self, lines, journal_template, journal_batch) -> PaymentJournal:
        return _PageJournal(self, journal_template, journal_batch)


class _PageJournal(PaymentJournal):
    """Payment Journal (page 256): NEW lines in template/batch; posting stays with the accountant."""

    can_post = False

    def __init__(self, pages: ClassicPages, template: str, batch: str) -> None:
        self.pages, self.template, self.batch = pages, template, batch
        self.record = f"journal batch {template}/{batch}"

    def _row(self, row: dict) -> JournalRow:
        return JournalRow(str(row.get("External_Document_No") or ""), str(row.get("Document_No") or ""),
                          str(row.get("AppliesToDocNo") or ""), parse_amount(row.get("Amount")),
                          int(row.get("Line_No") or 0),
                          {"Line_No": int(row.get("Line_No") or 0), "etag": row.get("@odata.etag", "*")},
                          str(row.get("Description") or ""))

    def _url(self, line_no: int) -> str:
        key = (f"Journal_Template_Name={literal(self.template)},Journal_Batch_Name={literal(self.batch)},"
               f"Line_No={line_no}")
        return f"{self.pages._url(PAYMENT_JOURNAL_SERVICE)}({key})"

    def lines(self) -> list[JournalRow]:
        # Template AND batch, always: over OData the page shows every batch of every template.
        filter_text = (f"Journal_Template_Name eq {literal(self.template)} and "
                       f"Journal_Batch_Name eq {literal(self.batch)}")
        return [self._row(row) for row in self.pages._rows(PAYMENT_JOURNAL_SERVICE, {"$filter": filter_text},
                                                           record=self.record)]

    def create(self, line: JournalLine, line_no: int) -> JournalRow:
        caption = enums.english_caption
        payload = {
            "Journal_Template_Name": self.template, "Journal_Batch_Name": self.batch, "Line_No": line_no,
            "Posting_Date": line.posting_date.isoformat(), "Document_Type": caption("document type", line.document_type),
            "Document_No": line.document_number, "External_Document_No": line.external_document_number,
            "Account_Type": caption("account type", "Vendor"), "Account_No": line.vendor_number,
            "Description": line.description[:100], "Amount": float(line.amount),
            "Bal_Account_Type": caption("account type", line.balancing_account_type),
            "Bal_Account_No": line.balancing_account_number,
            "Applies_to_Doc_Type": caption("document type", line.applies_to_type if line.applies_to_invoice else " "),
            "AppliesToDocNo": line.applies_to_invoice,
        }
        record = f"payment {line.external_document_number}"
        response = self.pages.transport.send("POST", self.pages._url(PAYMENT_JOURNAL_SERVICE), json=payload,
                                             idempotent=False, record=record)
        if response.status_code == 404:
            raise self.pages._unpublished(PAYMENT_JOURNAL_SERVICE, self.pages.transport.error(response, record))
        if response.status_code != 201:
            raise self.pages.transport.error(response, record)
        return self._row(self.pages.transport.json(response))

    def delete(self, row: JournalRow) -> None:
        response = self.pages.transport.send("DELETE", self._url(row.ref["Line_No"]), idempotent=True,
                                             record=self.record, headers={"If-Match": row.ref["etag"] or "*"})
        if response.status_code not in (204, 404):
            raise self.pages.transport.error(response, self.record)

    def post(self) -> None:  # pragma: no cover - can_post is False: NAV 2016-2018 cannot post over OData
        raise RecordError("this NAV cannot post a journal over OData; the accountant posts the batch.",
                          system=SYSTEM, record=self.record)

