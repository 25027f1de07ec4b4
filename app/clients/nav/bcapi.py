"""Business Central 17+ (on-premises or online) through its standard API v2.0.

Only what Microsoft's API v2.0 pages expose (NAV-GROUND-TRUTH.md §1), under
``/api/v2.0/companies({id})/``:

* ``vendors`` (read, create, PATCH with If-Match), incremental by ``lastModifiedDateTime``.
* ``purchaseInvoices`` holds drafts AND posted invoices in one set: only the posted statuses (Open, Paid,
  Corrective, Canceled) become bills; a draft keeps its id when it is posted while its number changes. Lines come
  from ``purchaseInvoiceLines`` (``lineType`` Account = a G/L account line, ``lineObjectNumber``, ``netAmount``)
  with their ``dimensionSetLines``.
* ``accounts``, ``dimensions``, ``dimensionValues``.
* Payments: the connector's own batch in ``vendorPaymentJournals`` (the default payment template), lines as
  ``vendorPayments`` applied to the invoice, posted through ``journals({same id})/Microsoft.NAV.post`` (204):
  ``vendorPaymentJournals`` itself has no post action. A posted payment is confirmed from ``generalLedgerEntries``
  (the API has no vendor ledger entries), found by the lines' description, which names the BILL payment.
* Webhook subscriptions (``/api/v2.0/subscriptions``) for vendors and purchaseInvoices.

Enum values arrive encoded (``G_x002F_L_x0020_Account``) and are decoded in ``enums.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

from app.clients.nav import enums
from app.clients.nav.backend import (
    FieldError,
    JournalBatchNotEmptyError,
    JournalRow,
    NavBackend,
    PaymentJournal,
    field_value,
)
from app.clients.nav.transport import RETURN_REPRESENTATION, SYSTEM, literal, refused_query
from app.domain.credits import PostedCreditMemo
from app.domain.errors import ConfigurationError, ConnectorError, NotFoundError, RecordError
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
    payment_description,
)
from app.domain.periods import UNKNOWN_POSTING_DATES, AllowedPostingDates
from app.domain.values import (
    parse_amount,
    parse_date,
    parse_datetime,
    parse_optional_date,
    parse_quantity,
    parse_text,
)

log = logging.getLogger("navbill.nav")

POSTED_STATUSES = {"Open", "Paid", "Corrective", "Canceled"}
DEFAULT_1099_CODE = "NEC-01"  # Business Central US: "nonemployee compensation" (1099-NEC)
VENDOR_FIELDS = {
    "name": "displayName", "address_line1": "addressLine1", "address_line2": "addressLine2", "city": "city",
    "state": "state", "postal_code": "postalCode", "country": "country", "email": "email", "phone": "phoneNumber",
    "tax_id": "taxRegistrationNumber",
}
INCOME_CATEGORIES = {"Income", "Cost of Goods Sold", "Expense"}
BALANCE_CATEGORIES = {"Assets", "Liabilities", "Equity"}
EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
# A posted invoice read with its lines and their dimensions in one request. Only the properties the connector
# reads are asked for ($select, also inside $expand; Microsoft's "OData/API web service client performance":
# specify the columns you care about): a page of 1,000 invoices is a third of the size and decodes 4x faster.
# A server that refuses it is read with whole rows (see _invoice_rows).
INVOICE_PROPERTIES = ("id,number,status,postingDate,invoiceDate,dueDate,vendorNumber,payToVendorNumber,"
                      "vendorInvoiceNumber,totalAmountExcludingTax,totalAmountIncludingTax,currencyId,currencyCode,"
                      "lastModifiedDateTime")
INVOICE_LINE_PROPERTIES = "sequence,lineType,lineObjectNumber,description,netAmount,amountExcludingTax,quantity"
INVOICE_WITH_LINES = {"$expand": "purchaseInvoiceLines($expand=dimensionSetLines)"}
INVOICE_WITH_LINES_SELECTED = {
    "$select": INVOICE_PROPERTIES,
    "$expand": f"purchaseInvoiceLines($select={INVOICE_LINE_PROPERTIES};"
               "$expand=dimensionSetLines($select=code,valueCode))"}


def _moment(stamp: str) -> datetime:
    try:
        return parse_datetime(stamp) or datetime.min.replace(tzinfo=UTC)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def _currency(row: dict) -> str:
    """A document's ISO currency code. APIV2 pages give the local currency as the company's own code (General Ledger
    Setup's LCY Code, through TranslateNAVCurrencyCodeToCurrencyCode) with an empty currencyId, so a company whose
    local currency is not the US dollar says so; "" only where the company has no LCY Code."""
    return str(row.get("currencyCode") or "").strip().upper()


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class BcApi(NavBackend):
    flavor = "bc"
    description = "Business Central API v2.0"

    def __init__(self, transport) -> None:
        super().__init__(transport)
        self._company_id = self.connection.company_id
        self._vendor_ids: dict[str, str] = {}
        self._nested_expand = True
        self._select_invoice_properties = True  # until the server refuses $select in the nested read
        self._ordered_stamps = True  # until the server refuses $orderby (iter_reference_stamps)
        self.journal_post_action = True  # until journals({id})/Microsoft.NAV.post is not there (_ApiJournal.post)

    # -- addresses ----------------------------------------------------------------------------------
    @property
    def company_id(self) -> str:
        """The company's id; looked up by the company name when the profile does not give it."""
        if not self._company_id:
            companies = list(self.transport.iter_values(f"{self.connection.api_root}/companies",
                                                        record="companies"))
            wanted = self.connection.company.strip().casefold()
            for company in companies:
                if wanted in {str(company.get("name") or "").casefold(),
                              str(company.get("displayName") or "").casefold()}:
                    self._company_id = str(company["id"])
                    break
            else:
                names = ", ".join(str(c.get("name")) for c in companies) or "none"
                raise ConfigurationError(f"the company '{self.connection.company}' does not exist in Business "
                                         f"Central (wrong company). Companies found: {names}.", system=SYSTEM,
                                         code="Internal_CompanyNotFound")
        return self._company_id

    def _url(self, entity_set: str) -> str:
        return f"{self.connection.api_root}/companies({self.company_id})/{entity_set}"

    def _rows(self, entity_set: str, params: dict | None = None, record: str = "") -> Iterator[dict]:
        yield from self.transport.iter_values(self._url(entity_set), params, record=record)

    # -- connection ---------------------------------------------------------------------------------
    def ping(self) -> dict:
        """Check credentials and company; answers the company record. A company id from the profile must
        belong to the company the profile names."""
        companies = list(self.transport.iter_values(f"{self.connection.api_root}/companies", record="companies"))
        company_id = self.company_id
        found = next((c for c in companies if str(c.get("id")) == company_id), None)
        wanted = self.connection.company.strip().casefold()
        if found is None or (wanted and wanted not in {str(found.get("name") or "").casefold(),
                                                       str(found.get("displayName") or "").casefold()}):
            names = ", ".join(str(c.get("name")) for c in companies) or "none"
            raise ConfigurationError(f"the company '{self.connection.company}' (id {company_id}) does not exist in "
                                     f"Business Central (wrong company). Companies found: {names}.", system=SYSTEM,
                                     code="Internal_CompanyNotFound")
        return found

    def number_for_id(self, entity_set: str, system_id: str) -> str:
        """The ``number`` of a record named by its id, as webhook notifications name records."""
        return str(self.transport.get(f"{self._url(entity_set)}({system_id})",
                                      record=f"{entity_set} {system_id}").get("number") or "")

    # -- vendors ------------------------------------------------------------------------------------
    def _vendor(self, row: dict) -> NavVendor:
        number = field_value(row, "number", lambda v: parse_text(v, required="vendor number"))
        values = {attr: str(row.get(name) or "").strip() for attr, name in VENDOR_FIELDS.items()}
        fields = VendorFields(**values, is_1099=bool(str(row.get("irs1099Code") or "").strip()),
                              inactive=enums.api_option(row.get("blocked")) != " ")
        vendor = NavVendor(number=number, fields=fields,
                           last_modified=field_value(row, "lastModifiedDateTime", parse_datetime),
                           etag=row.get("@odata.etag", ""), system_id=str(row.get("id") or ""))
        if vendor.system_id:
            self._vendor_ids[number] = vendor.system_id
        return self.remember(vendor)

    def _vendor_or_unreadable(self, row: dict) -> NavVendor | UnreadableRecord:
        try:
            return self._vendor(row)
        except FieldError as exc:
            return self.unreadable("vendor", str(row.get("number") or row.get("id") or ""), exc)

    def iter_vendors(self, modified_since: datetime | None = None) -> Iterator[NavVendor | UnreadableRecord]:
        params = {"$filter": f"lastModifiedDateTime ge {_stamp(modified_since)}"} if modified_since else None
        for row in self._rows("vendors", params):
            yield self._vendor_or_unreadable(row)

    def get_vendor(self, number: str) -> NavVendor | None:
        for row in self._rows("vendors", {"$filter": f"number eq {literal(number)}"}, record=f"vendor {number}"):
            vendor = self._vendor_or_unreadable(row)
            if isinstance(vendor, UnreadableRecord):
                raise RecordError(vendor.message, system=SYSTEM, record=f"vendor {number}", code="unreadable")
            return vendor
        return None

    @staticmethod
    def _vendor_payload(fields: VendorFields, only: set[str] | None = None) -> dict:
        payload: dict[str, Any] = {name: getattr(fields, attr) for attr, name in VENDOR_FIELDS.items()
                                   if only is None or attr in only}
        if only is None or "is_1099" in only:
            payload["irs1099Code"] = DEFAULT_1099_CODE if fields.is_1099 else ""
        if only is None or "inactive" in only:
            payload["blocked"] = enums.encode_api_enum("All" if fields.inactive else " ")
        return payload

    def create_vendor(self, fields: VendorFields, number: str) -> NavVendor:
        record = f"vendor {number}" if number else f"new vendor '{fields.name}'"
        payload = {"number": number, **self._vendor_payload(fields)} if number else self._vendor_payload(fields)
        response = self.transport.send("POST", self._url("vendors"), json=payload, idempotent=False, record=record)
        if response.status_code != 201:
            raise self.transport.error(response, record)
        return self._vendor_from_response(response)

    def _patch_vendor(self, number, fields, changed, etag):
        vendor_id = self._vendor_ids.get(number)
        if not vendor_id:
            current = self.get_vendor(number)
            if current is None:
                raise NotFoundError("the vendor was deleted in NAV.", system=SYSTEM, record=f"vendor {number}")
            vendor_id = current.system_id
        return self.transport.send("PATCH", f"{self._url('vendors')}({vendor_id})",
                                   json=self._vendor_payload(fields, changed), idempotent=True,
                                   record=f"vendor {number}", headers={"If-Match": etag or "*", **RETURN_REPRESENTATION})

    def _vendor_from_response(self, response) -> NavVendor:
        return self._vendor(self.transport.json(response))

    # -- posted invoices ----------------------------------------------------------------------------
    def _line(self, row: dict) -> InvoiceLine | None:
        line_type = enums.api_option(row.get("lineType"))
        if line_type in ("Comment", " "):
            return None  # text only, no amount
        dimensions = {str(d.get("code") or ""): str(d.get("valueCode") or "")
                      for d in row.get("dimensionSetLines") or [] if d.get("code") and d.get("valueCode")}
        number = str(row.get("lineObjectNumber") or "").strip()
        amount_field = "netAmount" if row.get("netAmount") is not None else "amountExcludingTax"
        return InvoiceLine(
            line_no=field_value(row, "sequence", lambda v: int(parse_text(v, required="line sequence"))),
            gl_account=number if line_type == "Account" else "",
            description=str(row.get("description") or ""), amount=field_value(row, amount_field, parse_amount),
            dimensions=dimensions, quantity=field_value(row, "quantity", parse_quantity),
            line_type="G/L Account" if line_type == "Account" else line_type,
            object_number="" if line_type == "Account" else number)

    def _invoice(self, row: dict, line_rows: list[dict]) -> PostedInvoice:
        status = enums.api_option(row.get("status"))
        posting_date = field_value(row, "postingDate", parse_date)
        vendor = str(row.get("payToVendorNumber") or "").strip() or field_value(
            row, "vendorNumber", lambda v: parse_text(v, required="vendor number"))
        lines = tuple(line for line in (self._line(r) for r in sorted(
            line_rows, key=lambda r: int(r.get("sequence") or 0))) if line is not None)
        return PostedInvoice(
            number=str(row["number"]), vendor_number=vendor,
            vendor_invoice_number=str(row.get("vendorInvoiceNumber") or "").strip(), posting_date=posting_date,
            document_date=field_value(row, "invoiceDate", parse_optional_date) or posting_date,
            due_date=field_value(row, "dueDate", parse_date),
            amount=field_value(row, "totalAmountExcludingTax", parse_amount),
            amount_including_tax=field_value(row, "totalAmountIncludingTax", parse_amount),
            currency=_currency(row), lines=lines,
            last_modified=field_value(row, "lastModifiedDateTime", parse_datetime),
            cancelled=status == "Canceled", system_id=str(row.get("id") or ""), status=status)

    def _invoice_lines(self, invoice_id: str, number: str) -> list[dict]:
        return self._lines_with_dimensions(f"{self._url('purchaseInvoices')}({invoice_id})/purchaseInvoiceLines",
                                           f"lines of posted invoice {number}")

    def _lines_with_dimensions(self, url: str, record: str) -> list[dict]:
        """A document's lines, each with its ``dimensionSetLines``: expanded in the same read where the server
        does that; where it refuses the $expand (400 or 501) or leaves it out (a line without the property),
        read per line."""
        try:
            rows = list(self.transport.iter_values(url, {"$expand": "dimensionSetLines"}, record=record))
        except ConnectorError as exc:
            if not refused_query(exc):
                raise
            rows = list(self.transport.iter_values(url, record=record))
        for line in rows:
            if "dimensionSetLines" not in line:
                line["dimensionSetLines"] = list(self.transport.iter_values(
                    f"{url}({line['id']})/dimensionSetLines", record=record))
        return rows

    def _posted(self, row: dict) -> PostedInvoice | UnreadableRecord | None:
        """A posted invoice (None for a draft, which never becomes a bill)."""
        if enums.api_option(row.get("status")) not in POSTED_STATUSES:
            return None
        number = str(row.get("number") or "")
        try:
            lines = row.get("purchaseInvoiceLines")
            if lines is not None and any(isinstance(line, dict) and "dimensionSetLines" not in line
                                         for line in lines):
                # The server answered the nested $expand of the lines without their dimensions (it dropped the
                # inner $expand): a bill without them would miss its classifications. Lines are read per
                # invoice from now on.
                self._nested_expand = False
                lines = None
            if lines is None:
                lines = self._invoice_lines(str(row.get("id")), number)
            return self._invoice(row, lines)
        except FieldError as exc:
            return self.unreadable("posted invoice", number, exc)

    def iter_posted_invoices(self, modified_since: datetime | None = None
                             ) -> Iterator[PostedInvoice | UnreadableRecord]:
        params: dict[str, str] = {}
        if modified_since is not None:
            params["$filter"] = f"lastModifiedDateTime ge {_stamp(modified_since)}"
        for row in self._invoice_rows(params):
            invoice = self._posted(row)
            if invoice is not None:
                yield invoice

    def _invoice_rows(self, params: dict[str, str]) -> Iterator[dict]:
        """purchaseInvoices with their lines and the lines' dimensions in one read where the server allows it (only
        the properties read, where it takes $select there; else whole rows), else lines are read per invoice."""
        while self._nested_expand:
            selected = self._select_invoice_properties
            rows = self._rows("purchaseInvoices", {**params,
                                                   **(INVOICE_WITH_LINES_SELECTED if selected else INVOICE_WITH_LINES)})
            try:
                first = next(rows, None)
            except ConnectorError as exc:
                if not refused_query(exc):  # 400 (Business Central) or 501 (OData: not implemented) only
                    raise
                if selected:  # the server refuses $select there: whole rows, nested
                    self._select_invoice_properties = False
                else:  # the server refuses the nested $expand: lines are read per invoice
                    self._nested_expand = False
                continue
            if first is not None:
                yield first
                yield from rows
            return
        yield from self._rows("purchaseInvoices", params)

    def get_posted_invoice(self, number: str) -> PostedInvoice | None:
        for row in self._rows("purchaseInvoices", {"$filter": f"number eq {literal(number)}"},
                              record=f"posted invoice {number}"):
            invoice = self._posted(row)
            if isinstance(invoice, UnreadableRecord):
                raise RecordError(invoice.message, system=SYSTEM, record=f"posted invoice {number}",
                                  code="unreadable")
            return invoice
        return None

    # -- posted purchase credit memos (API v2.0 from BC 22/23; docs/vendor-credits.md) -------------------
    credit_memos_supported = True  # until the server answers 404 for purchaseCreditMemos (an older BC)

    def published(self, entity_set: str) -> bool:
        """Whether API v2.0 has this entity set (200) or not (404: e.g. purchaseCreditMemos before BC 22/23)."""
        response = self.transport.send("GET", self._url(entity_set), params={"$top": "1"}, idempotent=True)
        if response.status_code in (200, 404):
            return response.status_code == 200
        raise self.transport.error(response, entity_set)

    def iter_posted_credit_memos(self, skip=None) -> Iterator[PostedCreditMemo | UnreadableRecord]:
        """Posted credit memos with their lines; ``skip(number)`` True: not read further (already sent)."""
        try:
            rows = list(self._rows("purchaseCreditMemos", {}, record="posted credit memos"))
        except NotFoundError:
            self.credit_memos_supported = False  # BC before 22/23: the API has no credit memos
            return
        for row in rows:
            status = enums.api_option(row.get("status"))
            if status not in POSTED_STATUSES:
                continue  # a draft (or in review): not posted, never a BILL credit
            number = str(row.get("number") or "")
            if skip is not None and skip(number):
                continue
            try:
                line_rows = self._lines_with_dimensions(
                    f"{self._url('purchaseCreditMemos')}({row.get('id')})/purchaseCreditMemoLines",
                    f"lines of posted credit memo {number}")
                lines = tuple(line for line in (self._line(r) for r in sorted(
                    line_rows, key=lambda r: int(r.get("sequence") or 0))) if line is not None)
                posting_date = field_value(row, "postingDate", parse_date)
                yield PostedCreditMemo(
                    number=number, vendor_number=str(row.get("payToVendorNumber") or "").strip() or field_value(
                        row, "vendorNumber", lambda v: parse_text(v, required="vendor number")),
                    vendor_credit_memo_number=str(row.get("vendorCreditMemoNumber") or "").strip(),
                    posting_date=posting_date,
                    document_date=field_value(row, "creditMemoDate", parse_optional_date) or posting_date,
                    amount=field_value(row, "totalAmountExcludingTax", parse_amount),
                    amount_including_tax=field_value(row, "totalAmountIncludingTax", parse_amount),
                    status=status, lines=lines,
                    currency=_currency(row))
            except FieldError as exc:
                yield self.unreadable("posted credit memo", number, exc)

    def invoice_status(self, number: str) -> str:
        """Open, Paid, Corrective or Canceled (the API's word on whether it is paid); "" when not found."""
        for row in self._rows("purchaseInvoices", {"$filter": f"number eq {literal(number)}"},
                              record=f"posted invoice {number}"):
            return enums.api_option(row.get("status"))
        return ""

    # -- reference data -----------------------------------------------------------------------------
    def iter_gl_accounts(self) -> Iterator[GLAccount]:
        for row in self._rows("accounts"):
            category = enums.api_option(row.get("category")).strip()
            income_balance = ("Income Statement" if category in INCOME_CATEGORIES
                              else "Balance Sheet" if category in BALANCE_CATEGORIES else "")
            yield GLAccount(number=str(row["number"]), name=str(row.get("displayName") or ""),
                            account_type=enums.api_option(row.get("accountType")), income_balance=income_balance,
                            blocked=bool(row.get("blocked")), category=category)

    def iter_dimensions(self) -> Iterator[Dimension]:
        for row in self._rows("dimensions"):
            yield Dimension(code=str(row["code"]), name=str(row.get("displayName") or ""))

    def iter_dimension_values(self) -> Iterator[DimensionValue]:
        codes = {str(row["id"]): str(row["code"]) for row in self._rows("dimensions")}
        for row in self._rows("dimensionValues"):
            code = codes.get(str(row.get("dimensionId")))
            if code:
                yield DimensionValue(dimension_code=code, code=str(row["code"]),
                                     name=str(row.get("displayName") or ""))

    REFERENCE_SETS = ("accounts", "dimensions", "dimensionValues")

    def iter_reference_stamps(self, since: dict[str, str] | None = None) -> Iterator[tuple[str, str]]:
        """One row from each reference list, its newest ``lastModifiedDateTime`` (filterable on accounts,
        dimensions and dimensionValues from API v2.0's first release: NAV-GROUND-TRUTH 0.4), after
        ``since[name]`` where given: an unchanged list answers an empty page (or the mark's own row, taken as
        nothing newer). A deleted record moves no time;
        the engine's hourly full read covers that."""
        for name in self.REFERENCE_SETS:
            mark = (since or {}).get(name, "")
            try:
                newest = self._newest_stamp(name, {"$filter": f"lastModifiedDateTime gt {mark}"} if mark else {})
            except ConnectorError as exc:
                if not refused_query(exc):
                    raise
                continue  # it cannot filter on lastModifiedDateTime either: no stamp, the engine reads hourly
            # The mark's own row again (a server that stores finer times than it shows): nothing newer.
            yield name, ("" if newest == mark else newest)

    def _newest_stamp(self, name: str, newer: dict[str, str]) -> str:
        """The newest ``lastModifiedDateTime`` of the rows ``newer`` selects: one row asked for newest first, or,
        where the server refuses $orderby (400, or 501 as OData lets it), every such row, the newest found here."""
        record = f"changes of {name}"
        if self._ordered_stamps:
            try:
                rows = list(self._rows(name, {"$orderby": "lastModifiedDateTime desc", "$top": "1", **newer},
                                       record=record))
                return str(rows[0].get("lastModifiedDateTime") or "") if rows else ""
            except ConnectorError as exc:
                if not refused_query(exc):
                    raise
                self._ordered_stamps = False
        stamps = [str(row.get("lastModifiedDateTime") or "") for row in self._rows(name, newer, record=record)]
        return max((s for s in stamps if s), key=_moment, default="")

    # -- payments -----------------------------------------------------------------------------------
    def allowed_posting_dates(self) -> AllowedPostingDates:
        """API v2.0 has no General Ledger Setup entity (microsoft/ALAppExtensions APIV2 has none; the only
        ``generalLedgerSetup`` API page, Subscription Billing's v1.0, carries no posting dates). The standard page
        118 is read where it is published as web service ``GeneralLedgerSetup``; elsewhere the range is unknown
        and NAV itself refuses a posting outside it."""
        root = self.connection.company_root
        try:
            rows = list(self.transport.iter_values(f"{root}/GeneralLedgerSetup", {"$top": "1"},
                                                   record="general ledger setup"))
        except NotFoundError:
            return UNKNOWN_POSTING_DATES
        row = rows[0] if rows else {}
        return AllowedPostingDates(parse_optional_date(row.get("Allow_Posting_From")),
                                   parse_optional_date(row.get("Allow_Posting_To")),
                                   source="General Ledger Setup (page 118, published as GeneralLedgerSetup)")

    def find_payments(self, external_document_number: str, dated: date | None = None) -> list[PostedPayment]:
        """Posted G/L entries of this BILL payment, found by the description its journal lines carry (with its
        own date in it when it was posted on another, ``dated``)."""
        found = self._find_payments(external_document_number, payment_description(external_document_number))
        if not found and dated is not None:
            found = self._find_payments(external_document_number,
                                        payment_description(external_document_number, dated))
        return found

    def _find_payments(self, external_document_number: str, description: str) -> list[PostedPayment]:
        found = []
        for row in self._rows("generalLedgerEntries", {"$filter": f"description eq {literal(description)}"},
                              record=f"payment {external_document_number}"):
            if enums.api_option(row.get("documentType")) != "Payment":
                continue
            debit = parse_amount(row.get("debitAmount") or 0)
            if debit <= 0:
                continue  # the balancing (bank) side of the same posting
            found.append(PostedPayment(entry_number=int(row.get("entryNumber") or 0),
                                       document_number=str(row.get("documentNumber") or ""),
                                       external_document_number=external_document_number, vendor_number="",
                                       amount=debit, posting_date=parse_date(row.get("postingDate"))))
        return found

    def vendor_payment_journal(self, code: str) -> dict | None:
        """The vendor payment journal (batch) with this code, or None; reads only (for the connection test)."""
        rows = list(self._rows("vendorPaymentJournals", {"$filter": f"code eq {literal(code.upper())}"},
                               record=f"vendor payment journal {code}"))
        return rows[0] if rows else None

    def payment_journal(self, lines, journal_template, journal_batch) -> PaymentJournal:
        return _ApiJournal(self, journal_template, journal_batch, lines[0].balancing_account_type,
                           lines[0].balancing_account_number)

    # -- webhooks (API v2.0 subscriptions) ------------------------------------------------------------
    def _subscriptions_url(self, subscription_id: str | None = None) -> str:
        base = f"{self.connection.api_root}/subscriptions"
        return f"{base}('{subscription_id}')" if subscription_id else base

    def webhooks_supported(self) -> bool:
        response = self.transport.send("GET", self._subscriptions_url(), idempotent=True)
        if response.status_code == 200:
            return True
        if response.status_code == 404:
            return False
        raise self.transport.error(response, "webhook subscriptions")

    def resource_path(self, entity_set: str) -> str:
        return f"/api/v2.0/companies({self.company_id})/{entity_set}"

    def create_subscription(self, notification_url: str, resource: str, client_state: str) -> dict:
        record = f"webhook subscription for {resource}"
        response = self.transport.send("POST", self._subscriptions_url(), idempotent=False, record=record,
                                       json={"notificationUrl": notification_url, "resource": resource,
                                             "clientState": client_state})
        if response.status_code != 201:
            raise self.transport.error(response, record)
        return self.transport.json(response)

    def get_subscription(self, subscription_id: str) -> dict | None:
        try:
            return self.transport.get(self._subscriptions_url(subscription_id),
                                      record=f"subscription {subscription_id}")
        except NotFoundError:
            return None

    def list_subscriptions(self) -> list[dict]:
        return list(self.transport.get(self._subscriptions_url()).get("value", []))

    def renew_subscription(self, subscription_id: str) -> dict:
        record = f"subscription {subscription_id}"
        current = self.get_subscription(subscription_id)
        if current is None:
            raise NotFoundError("the webhook subscription no longer exists in NAV.", system=SYSTEM, record=record)
        response = self.transport.send("PATCH", self._subscriptions_url(subscription_id), idempotent=True,
                                       record=record, json={"notificationUrl": current["notificationUrl"]},
                                       headers={"If-Match": current.get("@odata.etag", "*"), **RETURN_REPRESENTATION})
        if response.status_code == 204:  # renewed, answered without a body (OData lets a server do so)
            renewed = self.get_subscription(subscription_id)
            if renewed is None:
                raise NotFoundError("the webhook subscription no longer exists in NAV.", system=SYSTEM, record=record)
            return renewed
        if response.status_code != 200:
            raise self.transport.error(response, record)
        return self.transport.json(response)

    def delete_subscription(self, subscription_id: str) -> None:
        record = f"subscription {subscription_id}"
        current = self.get_subscription(subscription_id)
        if current is None:
            return
        response = self.transport.send("DELETE", self._subscriptions_url(subscription_id), idempotent=True,
                                       record=record, headers={"If-Match": current.get("@odata.etag", "*")})
        if response.status_code not in (204, 404):
            raise self.transport.error(response, record)


class _ApiJournal(PaymentJournal):
    """The connector's batch of the default payment template: vendorPaymentJournals with code = the batch."""

    can_post = True

    def __init__(self, api: BcApi, template: str, code: str, balancing_type: str, balancing_account: str) -> None:
        self.api, self.template, self.code = api, template, code.upper()
        self.balancing_type, self.balancing_account = balancing_type, balancing_account
        self.record = f"vendor payment journal {self.code}"
        self.journal_id = self._journal_id()

    def _journal_id(self) -> str:
        found = list(self.api._rows("vendorPaymentJournals", {"$filter": f"code eq {literal(self.code)}"},
                                    record=self.record))
        if found:
            journal = found[0]
            number = str(journal.get("balancingAccountNumber") or "")
            if self.balancing_account and number not in ("", self.balancing_account):
                raise RecordError(
                    f"the vendor payment journal {self.code} balances against account {number}, but the Settings "
                    f"say {self.balancing_account}: make them the same.", system=SYSTEM, record=self.record,
                    code="balancing account")
            return str(journal["id"])
        body: dict[str, Any] = {"code": self.code, "displayName": f"BILL payments ({self.code})"}
        if self.balancing_account and self.balancing_type == "G/L Account":
            accounts = list(self.api._rows("accounts", {"$filter": f"number eq {literal(self.balancing_account)}"},
                                           record=self.record))
            if not accounts:
                raise RecordError(f"the balancing account {self.balancing_account} does not exist in NAV.",
                                  system=SYSTEM, record=self.record)
            body["balancingAccountId"] = accounts[0]["id"]
        elif self.balancing_account:
            raise RecordError(
                f"the vendor payment journal {self.code} does not exist. The API can only create it with a G/L "
                f"balancing account: create the batch {self.code} in NAV's Payment Journal with bank account "
                f"{self.balancing_account} as its balancing account, or choose a G/L account in Settings.",
                system=SYSTEM, record=self.record, code="batch missing")
        response = self.api.transport.send("POST", self.api._url("vendorPaymentJournals"), json=body,
                                           idempotent=False, record=self.record)
        if response.status_code != 201:
            raise self.api.transport.error(response, self.record)
        return str(self.api.transport.json(response)["id"])

    @property
    def _payments_url(self) -> str:
        return f"{self.api._url('vendorPaymentJournals')}({self.journal_id})/vendorPayments"

    @staticmethod
    def _row(row: dict) -> JournalRow:
        return JournalRow(str(row.get("externalDocumentNumber") or ""), str(row.get("documentNumber") or ""),
                          str(row.get("appliesToInvoiceNumber") or ""), parse_amount(row.get("amount")),
                          int(row.get("lineNumber") or 0), {"id": row.get("id"), "etag": row.get("@odata.etag", "*")},
                          str(row.get("description") or ""))

    def lines(self) -> list[JournalRow]:
        """Every line of the batch, as far as this server lets us see it.

        The API hides lines: vendorPayments shows only lines applied to an invoice (or with an Applies-to ID),
        journalLines only lines without a document type. The Payment Journal page (256), where the server
        publishes it as ``PaymentJournal``, shows them all; otherwise the union of the two API sets is read, and
        ``create`` notices a hidden line from the line number the server gives ours."""
        rows = self._page_lines()
        if rows is not None:
            return rows
        rows = [self._row(row) for row in self.api.transport.iter_values(self._payments_url, record=self.record)]
        seen = {row.ref["id"] for row in rows}
        journal_lines = f"{self.api._url('journals')}({self.journal_id})/journalLines"
        for row in self.api.transport.iter_values(journal_lines, record=self.record):
            if row.get("id") not in seen:
                rows.append(JournalRow(str(row.get("externalDocumentNumber") or ""),
                                       str(row.get("documentNumber") or ""), "", parse_amount(row.get("amount")),
                                       int(row.get("lineNumber") or 0), {"id": row.get("id"), "etag": "*"},
                                       str(row.get("description") or "")))
        return rows

    def _page_lines(self) -> list[JournalRow] | None:
        """The batch through the published Payment Journal page (template AND batch filter), or None."""
        template = self.template
        if not template:
            return None
        url = f"{self.api.connection.company_root}/PaymentJournal"
        params = {"$filter": f"Journal_Template_Name eq {literal(template)} and "
                             f"Journal_Batch_Name eq {literal(self.code)}"}
        try:
            rows = list(self.api.transport.iter_values(url, params, record=self.record))
        except (NotFoundError, ConfigurationError):
            return None
        by_number = {int(row.get("lineNumber") or 0): row for row in self.api.transport.iter_values(
            self._payments_url, record=self.record)}
        found = []
        for row in rows:
            number = int(row.get("Line_No") or 0)
            api_row = by_number.get(number, {})
            found.append(JournalRow(str(row.get("External_Document_No") or ""), str(row.get("Document_No") or ""),
                                    str(row.get("AppliesToDocNo") or ""), parse_amount(row.get("Amount")), number,
                                    {"id": api_row.get("id"), "etag": api_row.get("@odata.etag", "*")},
                                    str(row.get("Description") or "")))
        return found

    def create(self, line: JournalLine, line_no: int) -> JournalRow:
        # The server numbers the line (after the last line of the WHOLE batch, hidden ones included): a number
        # beyond the one expected from the lines we can see means the batch holds lines we cannot see.
        payload = {"vendorNumber": line.vendor_number,
                   "postingDate": line.posting_date.isoformat(), "documentNumber": line.document_number,
                   "externalDocumentNumber": line.external_document_number, "amount": float(line.amount),
                   "appliesToInvoiceNumber": line.applies_to_invoice, "description": line.description[:100]}
        record = f"payment {line.external_document_number}"
        response = self.api.transport.send("POST", self._payments_url, json=payload, idempotent=False, record=record)
        if response.status_code != 201:
            raise self.api.transport.error(response, record)
        created = self._row(self.api.transport.json(response))
        if created.line_no > line_no:
            self.delete(created)
            raise JournalBatchNotEmptyError(
                f"journal batch {self.code} holds lines the connector cannot see through the API (line numbers "
                f"up to {created.line_no - 10000}; for example unapplied payments). Posting would post them too: "
                f"post or delete them in NAV's Payment Journal, batch {self.code}, or give the connector a batch "
                "of its own in Settings.", system=SYSTEM, record=self.record, code="batch not empty")
        return created

    def delete(self, row: JournalRow) -> None:
        response = self.api.transport.send("DELETE", f"{self._payments_url}({row.ref['id']})", idempotent=True,
                                           record=self.record, headers={"If-Match": row.ref["etag"] or "*"})
        if response.status_code not in (204, 404):
            raise self.api.transport.error(response, self.record)

    def post(self) -> bool:
        """Post the batch; False when this Business Central cannot post it over the API (the lines then wait in
        the batch for the accountant, as on NAV 2016-2018).

        vendorPaymentJournals has no post action; journals({the same batch id})/Microsoft.NAV.post posts it, because
        journals' OnFindRecord finds a batch of any template by its id, which it does from BC 19 (ALAppExtensions
        0c64dd52d; NAV-GROUND-TRUTH 1.11 and 1.14 call this use INFERRED from code). Before that, and on a server
        without the action, the journal is not found (404) or the action is not there (405, 501)."""
        if not self.api.journal_post_action:
            return False
        response = self.api.transport.send("POST", f"{self.api._url('journals')}({self.journal_id})/Microsoft.NAV.post",
                                           idempotent=False, record=self.record)
        if response.status_code in (404, 405, 501):
            self.api.journal_post_action = False
            log.warning("Business Central answered HTTP %s to posting journal batch %s through the API "
                        "(journals(id)/Microsoft.NAV.post; Business Central before version 19 finds only General "
                        "Journal batches there): the payment lines wait in batch %s for the accountant to post.",
                        response.status_code, self.code, self.code)
            return False
        if response.status_code not in (200, 204):
            raise self.api.transport.error(response, self.record)
        return True


__all__ = ["BcApi", "EMPTY_GUID"]
