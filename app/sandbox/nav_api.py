"""Business Central API v2.0 over the sandbox company: ``/api/v2.0/companies(<id>)/<entitySet>``.

Entity sets, field names, keys, enums, parts, actions, hidden-line rules, required filters and their error
messages follow the ground truth §1 (the APIV2 pages of microsoft/ALAppExtensions @1842876af4):

* ``vendors`` (read/write), ``purchaseInvoices`` (posted AND draft invoices in one set, ``status`` enum; a
  draft keeps its id when posted while its number changes; ``Microsoft.NAV.post`` on a draft),
  ``purchaseInvoices({id})/purchaseInvoiceLines`` and ``.../dimensionSetLines`` (also under each line),
  ``accounts``, ``dimensions`` (+ ``dimensions({id})/dimensionValues``), ``dimensionValues``,
  ``vendorPaymentJournals`` (batches of the default payment template; no actions) +
  ``vendorPaymentJournals({id})/vendorPayments`` (+ ``applyVendorEntries``, ``dimensionSetLines``),
  ``journals`` (+ ``journalLines``, ``Microsoft.NAV.post`` posting the WHOLE batch), ``generalLedgerEntries``.
* Top-level ``purchaseInvoiceLines``, ``vendorPayments``, ``journalLines`` need an id/parent filter;
  top-level ``dimensionSetLines`` is refused, as BC does.
* An AL ``Error()`` answers 400 ``Application_DialogException`` with the AL message.
* An action a page does not have (``vendorPaymentJournals({id})/Microsoft.NAV.post``) answers like the
  platform does for an unknown bound action: 404 ``BadRequest_NotFound`` "The URI segment '...' is invalid
  after the segment '...'." (wording as reported in microsoft/BCTech#191).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal, InvalidOperation
from heapq import merge
from typing import Any

from app.sandbox import demo_data, nav_enums
from app.sandbox.base import Request, Response
from app.sandbox.nav_company import (
    BLANK_DATE,
    EMPTY_GUID,
    GENERAL_TEMPLATE,
    PAYMENT_TEMPLATE,
    NavCompany,
    NavError,
    guid,
)
from app.sandbox.nav_fields import API_FIELDS
from app.sandbox.nav_http import (
    ODataError,
    View,
    check_if_match,
    collection,
    method_not_allowed,
    request_body,
    serialize,
    split_segment,
)
from app.sandbox.nav_odata import parse_datetime

PRODUCT = "Dynamics 365 Business Central"
enum = nav_enums.api_enum


def dialog(message: str) -> ODataError:
    """What an AL Error() in an API page becomes."""
    return ODataError(400, "Application_DialogException", message)


def _guid_of(args: str) -> str:
    text = args.strip()
    if text.startswith("id="):
        text = text[3:]
    return text.strip("'{}").lower()


def _filter_guid(text: str, name: str) -> str | None:
    match = re.search(rf"\b{name} eq '?\{{?([0-9A-Fa-f-]{{36}})", text or "")
    return match.group(1).lower() if match else None


def _decimal(name: str, value: Any) -> Decimal:
    try:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise TypeError
        return Decimal(str(value))
    except (TypeError, InvalidOperation):
        raise ODataError(400, "BadRequest", f"Cannot convert the literal '{value}' to the expected type "
                                            f"'Edm.Decimal' for the property '{name}'.") from None


def _date(name: str, value: Any) -> date:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise ODataError(400, "BadRequest", f"Cannot convert the literal '{value}' to the expected type "
                                            f"'Edm.Date' for the property '{name}'.") from None


class ApiV2:
    def __init__(self, company: NavCompany, company_id: str, company_name: str, max_page_size: int) -> None:
        self.company = company
        self.company_id = company_id
        self.company_name = company_name
        self.max_page_size = max_page_size
        # journals' OnFindRecord finds a batch of ANY template by its id from BC 19 (ALAppExtensions 0c64dd52d,
        # NAV-GROUND-TRUTH 1.14); False plays BC 17/18, where only the default General Journal template's are found
        # (so journals({a payment batch's id})/Microsoft.NAV.post answers 404).
        self.journals_by_any_id = True
        # irs1099Code reads and writes the Vendor table's field 10020 "IRS 1099 Code" only where that field exists
        # (APIV2 - Vendors, IsIRS1099Code): a US company before 1099 moved to the IRS Forms app. False plays the
        # others: the code reads empty and a written one is dropped without an error.
        self.vendor_1099_field = True

    # -- helpers ---------------------------------------------------------------------------
    def _lcy(self, code: str) -> str:
        return code or self.company.setup["LCY_Code"]

    @staticmethod
    def _currency_id(code: str) -> str:
        """``Currency Id``: the Currency record's SystemId; the empty GUID for the local currency (a blank code)."""
        return guid("currency", code) if code else EMPTY_GUID

    def _account_id(self, number: str) -> str:
        row = self.company.gl_accounts.get(number) if number else None
        return row["SystemId"] if row else EMPTY_GUID

    def _view(self, name: str, rows, project, get=None, **extra: Any) -> View:
        return View(name, f"Microsoft.NAV.{name[:-1] if name.endswith('s') else name}", API_FIELDS[name], ("id",),
                    rows, project, get=get or (lambda key: None), **extra)

    # -- vendors ---------------------------------------------------------------------------
    def project_vendor(self, row: dict) -> dict:
        return {
            "id": row["SystemId"], "number": row["No"], "displayName": row.get("Name", ""),
            "addressLine1": row.get("Address", ""), "addressLine2": row.get("Address_2", ""),
            "city": row.get("City", ""), "state": row.get("County", ""),
            "country": row.get("Country_Region_Code", ""), "postalCode": row.get("Post_Code", ""),
            "phoneNumber": row.get("Phone_No", ""), "email": row.get("E_Mail", ""),
            "website": row.get("Home_Page", ""), "taxRegistrationNumber": row.get("VAT_Registration_No", ""),
            "currencyId": self._currency_id(row.get("Currency_Code", "")),
            "currencyCode": self._lcy(row.get("Currency_Code", "")),
            "irs1099Code": row.get("IRS_1099_Code", "") if self.vendor_1099_field else "",
            "paymentTermsId": guid("payment-terms", row["Payment_Terms_Code"]) if row.get("Payment_Terms_Code")
            else EMPTY_GUID,
            "paymentMethodId": EMPTY_GUID, "taxLiable": bool(row.get("Tax_Liable", False)),
            "blocked": enum(row.get("Blocked", " ")), "balance": row.get("Balance_LCY", Decimal("0")),
            "lastModifiedDateTime": row["SystemModifiedAt"],
        }

    _VENDOR_WRITES = {"number": "No", "displayName": "Name", "addressLine1": "Address", "addressLine2": "Address_2",
                      "city": "City", "state": "County", "country": "Country_Region_Code", "postalCode": "Post_Code",
                      "phoneNumber": "Phone_No", "email": "E_Mail", "website": "Home_Page",
                      "taxRegistrationNumber": "VAT_Registration_No", "currencyCode": "Currency_Code",
                      "irs1099Code": "IRS_1099_Code", "taxLiable": "Tax_Liable", "blocked": "Blocked"}

    def _vendor_values(self, body: dict) -> dict:
        values = {}
        for name, value in body.items():
            if name not in API_FIELDS["vendors"]:
                raise ODataError(400, "BadRequest", f"The property '{name}' does not exist on type "
                                                    "'Microsoft.NAV.vendor'. Make sure to only use property names "
                                                    "that are defined by the type.")
            if name not in self._VENDOR_WRITES:
                if name in ("id", "balance", "lastModifiedDateTime"):
                    raise ODataError(400, "BadRequest_InvalidOperation", f"The property '{name}' is read-only.")
                continue  # ids of payment terms/methods/currency: accepted, not modelled
            if name == "taxLiable":
                if not isinstance(value, bool):
                    raise ODataError(400, "BadRequest", f"Cannot convert the literal '{value}' to the expected "
                                                        "type 'Edm.Boolean'.")
            elif not isinstance(value, str):
                raise ODataError(400, "BadRequest", f"Cannot convert the literal '{value}' to the expected type "
                                                    "'Edm.String'.")
            if name == "blocked":
                value = nav_enums.from_api_enum(value)
                if value not in (" ", "Payment", "All"):
                    raise ODataError(400, "BadRequest", f"The value '{body[name]}' is not valid for enum "
                                                        "'Microsoft.NAV.vendorBlocked'.")
            if name == "currencyCode" and value == self.company.setup["LCY_Code"]:
                value = ""
            if name == "irs1099Code" and not self.vendor_1099_field:
                continue
            if isinstance(value, str) and len(value) > 100:
                raise ODataError(400, "Application_StringExceededLength",
                                 f"The length of the string is {len(value)}, but it must be less than or equal to "
                                 f"100 characters. Value: {value[:20]}...")
            values[self._VENDOR_WRITES[name]] = value
        return values

    def _insert_vendor(self, body: dict) -> dict:
        values = self._vendor_values(body)
        company = self.company
        number = values.get("No") or company.new_vendor_no()
        if number in company.vendors:
            raise ODataError(400, "Internal_EntityWithSameKeyExists",
                             f"The record already exists. Identification fields and values: No.='{number}'")
        row = {"No": number, "Blocked": " ", "Application_Method": "Manual", "Country_Region_Code": ""}
        row.update(values)
        row["No"] = number
        row["SystemId"] = guid("vendor-api", f"{number}/{company.version()}")
        return company.store_vendor(row)

    def _modify_vendor(self, row: dict, body: dict) -> dict:
        values = self._vendor_values(body)
        if values.get("No") and values["No"] != row["No"]:  # renaming by number renames the record
            if values["No"] in self.company.vendors:
                raise ODataError(400, "Internal_EntityWithSameKeyExists",
                                 f"The record already exists. Identification fields and values: No.='{values['No']}'")
            self.company.vendors.delete(row["No"])
        return self.company.store_vendor(dict(row) | values, change="updated")

    def vendors(self) -> View:
        company = self.company
        return self._view("vendors", company.vendors.iter_from, self.project_vendor,
                          get=lambda key: company.vendor_by_id(key[0]), insert=self._insert_vendor,
                          modify=self._modify_vendor, delete=lambda row: company.delete_vendor(row["No"]) and None)

    # -- purchase invoices -------------------------------------------------------------------
    def _invoice_rows(self, after: Any = None) -> Iterator[tuple[Any, dict]]:
        company = self.company
        drafts = (((row["No"], 0), row) for _, row in company.drafts.iter_from(None))
        posted = (((row["No"], 1), row) for _, row in company.invoices.iter_from(after[0] if after else None))
        for key, row in merge(drafts, posted, key=lambda item: item[0]):
            if after is None or key > tuple(after):
                yield key, row

    def invoice_status(self, row: dict) -> str:
        if "_vle" not in row:
            return "Draft"
        if row.get("Cancelled"):
            return "Canceled"
        if row.get("Corrective"):
            return "Corrective"
        return "Open" if self.company.invoice_open(row) else "Paid"

    def invoice_id(self, row: dict) -> str:
        return self.company.invoice_api_id(row) if "_vle" in row else row["SystemId"]

    def project_invoice(self, row: dict) -> dict:
        vendor = self.company.vendors.get(row["Buy_from_Vendor_No"]) or {}
        amount, total = row["Amount"], row["Amount_Including_VAT"]
        return {
            "id": self.invoice_id(row), "number": row["No"], "postingDate": row["Posting_Date"],
            "invoiceDate": row["Document_Date"], "dueDate": row["Due_Date"],
            "vendorInvoiceNumber": row["Vendor_Invoice_No"], "vendorId": vendor.get("SystemId", EMPTY_GUID),
            "vendorNumber": row["Buy_from_Vendor_No"], "vendorName": row["Buy_from_Vendor_Name"],
            "payToName": row["Pay_to_Name"], "payToContact": "", "payToVendorId": vendor.get("SystemId", EMPTY_GUID),
            "payToVendorNumber": row["Pay_to_Vendor_No"], "shipToName": "", "shipToContact": "",
            "buyFromAddressLine1": row.get("Buy_from_Address", ""), "buyFromAddressLine2": "",
            "buyFromCity": row.get("Buy_from_City", ""), "buyFromCountry": row.get("Buy_from_Country_Region_Code", ""),
            "buyFromState": row.get("Buy_from_County", ""), "buyFromPostCode": row.get("Buy_from_Post_Code", ""),
            "shipToAddressLine1": "", "shipToAddressLine2": "", "shipToCity": "", "shipToCountry": "",
            "shipToState": "", "shipToPostCode": "",
            "payToAddressLine1": row.get("Pay_to_Address", ""), "payToAddressLine2": "",
            "payToCity": row.get("Pay_to_City", ""), "payToCountry": row.get("Pay_to_Country_Region_Code", ""),
            "payToState": row.get("Pay_to_County", ""), "payToPostCode": row.get("Pay_to_Post_Code", ""),
            "shortcutDimension1Code": row.get("Shortcut_Dimension_1_Code", ""),
            "shortcutDimension2Code": row.get("Shortcut_Dimension_2_Code", ""),
            "currencyId": self._currency_id(row.get("Currency_Code", "")),
            "currencyCode": self._lcy(row.get("Currency_Code", "")), "orderId": EMPTY_GUID, "orderNumber": "",
            "purchaser": "", "pricesIncludeTax": False, "discountAmount": Decimal("0"),
            "discountAppliedBeforeTax": True, "totalAmountExcludingTax": amount,
            "totalTaxAmount": total - amount, "totalAmountIncludingTax": total,
            "status": enum(self.invoice_status(row)), "lastModifiedDateTime": row["SystemModifiedAt"],
        }

    def project_invoice_line(self, header: dict, line: dict) -> dict:
        account_id = self._account_id(line["No"]) if line["Type"] == "G/L Account" else EMPTY_GUID
        item_id = guid("item", line["No"]) if line["Type"] == "Item" else EMPTY_GUID
        amount = line["Amount"]
        including = line.get("Amount_Including_VAT", amount)
        return {
            "id": line["SystemId"], "documentId": self.invoice_id(header), "sequence": line["Line_No"],
            "itemId": item_id, "accountId": account_id,
            "lineType": enum(nav_enums.API_LINE_TYPE.get(line["Type"], "Comment")),
            "lineObjectNumber": line["No"], "description": line["Description"], "description2": "",
            "unitOfMeasureId": EMPTY_GUID, "unitOfMeasureCode": line.get("Unit_of_Measure_Code", ""),
            "unitCost": line["Direct_Unit_Cost"], "quantity": line["Quantity"], "discountAmount": Decimal("0"),
            "discountPercent": Decimal("0"), "discountAppliedBeforeTax": True, "amountExcludingTax": amount,
            "taxCode": "", "taxPercent": Decimal("0"), "totalTaxAmount": including - amount,
            "amountIncludingTax": including, "invoiceDiscountAllocation": Decimal("0"), "netAmount": amount,
            "netTaxAmount": including - amount, "netAmountIncludingTax": including,
            "expectedReceiptDate": BLANK_DATE, "itemVariantId": EMPTY_GUID, "locationId": EMPTY_GUID,
        }

    def _document_lines(self, entity_set: str, header: dict, project: Callable[[dict], dict], table: str,
                        insert: Callable[[dict], Any] | None = None) -> View:
        """A document's lines (invoice or credit memo) in line-number order, each with its dimensionSetLines."""
        def rows(after: Any = None) -> Iterator[tuple[Any, dict]]:
            for line in header.get("_lines", []):
                if after is None or line["Line_No"] > after:
                    yield line["Line_No"], line

        def get(key: tuple) -> dict | None:
            return next((line for line in header.get("_lines", []) if line["SystemId"] == key[0]), None)

        view = self._view(entity_set, rows, project, get=get, **({"insert": insert} if insert else {}))
        view.children["dimensionSetLines"] = lambda line: self.dimension_set_lines(
            line.get("Dimension_Set_ID", 0), line["SystemId"], table)
        return view

    def invoice_lines(self, header: dict) -> View:
        return self._document_lines("purchaseInvoiceLines", header, lambda line: self.project_invoice_line(header, line),
                                    "Purchase Invoice Line", insert=lambda body: self._insert_draft_line(header, body))

    def _post_invoice_action(self, row: dict) -> Response:
        if "_vle" in row:
            raise dialog("The action can be applied to a draft invoice only.")
        try:
            self.company.post_draft(row["No"])
        except NavError as error:
            raise ODataError(error.status, error.code, error.message) from None
        return Response(204)

    def _modify_invoice(self, row: dict, body: dict) -> dict:
        if "_vle" in row:
            raise dialog("The invoice has been posted and can no longer be modified.")
        writable = {"postingDate": "Posting_Date", "invoiceDate": "Document_Date", "dueDate": "Due_Date",
                    "vendorInvoiceNumber": "Vendor_Invoice_No"}
        updated = dict(row)
        for name, value in body.items():
            if name not in API_FIELDS["purchaseInvoices"]:
                raise ODataError(400, "BadRequest", f"The property '{name}' does not exist on type "
                                                    "'Microsoft.NAV.purchaseInvoice'.")
            if name not in writable:
                raise ODataError(400, "BadRequest_InvalidOperation",
                                 f"The property '{name}' cannot be changed on this sandbox's draft invoices.")
            updated[writable[name]] = value if name == "vendorInvoiceNumber" else _date(name, value)
        updated["SystemModifiedAt"] = self.company.now()
        updated["_v"] = self.company.version()
        self.company.drafts.put(row["No"], updated)
        self.company.on_change("purchaseInvoices", row["SystemId"], "updated")
        return updated

    def _delete_invoice(self, row: dict) -> None:
        if "_vle" in row:
            raise dialog("You cannot delete a posted purchase invoice in this sandbox.")
        self.company.drafts.delete(row["No"])
        self.company.draft_ids.pop(row["SystemId"], None)
        self.company.on_change("purchaseInvoices", row["SystemId"], "deleted")

    def _insert_invoice(self, body: dict) -> dict:
        """POST creates a draft (Purchase Header, Document Type Invoice), never a posted invoice."""
        company = self.company
        unknown = set(body) - set(API_FIELDS["purchaseInvoices"])
        if unknown:
            raise ODataError(400, "BadRequest", f"The property '{sorted(unknown)[0]}' does not exist on type "
                                                "'Microsoft.NAV.purchaseInvoice'.")
        vendor = None
        if body.get("vendorId"):
            vendor = company.vendor_by_id(str(body["vendorId"]).lower())
        elif body.get("vendorNumber"):
            vendor = company.vendors.get(str(body["vendorNumber"]))
        if vendor is None:
            if body.get("vendorId") or body.get("vendorNumber"):
                raise dialog("The vendor does not exist.")
            raise dialog('A "vendorNumber" or a "vendorID" must be provided.')
        number = str(company.next_draft_no)
        company.next_draft_no += 1
        today = company.work_date()
        posting = _date("postingDate", body["postingDate"]) if body.get("postingDate") else today
        invoice_date = _date("invoiceDate", body["invoiceDate"]) if body.get("invoiceDate") else posting
        due = _date("dueDate", body["dueDate"]) if body.get("dueDate") else invoice_date
        draft = demo_data.DemoInvoice(number, vendor["No"], str(body.get("vendorInvoiceNumber") or ""), posting,
                                      due, ())
        try:
            row = company.store_draft(draft)
        except NavError as error:
            raise ODataError(error.status, error.code, error.message) from None
        row["Document_Date"] = invoice_date
        return row

    def _insert_draft_line(self, header: dict, body: dict) -> dict:
        if "_vle" in header:
            raise dialog("The invoice has been posted and can no longer be modified.")
        unknown = set(body) - set(API_FIELDS["purchaseInvoiceLines"])
        if unknown:
            raise ODataError(400, "BadRequest", f"The property '{sorted(unknown)[0]}' does not exist on type "
                                                "'Microsoft.NAV.purchaseInvoiceLine'.")
        line_type = nav_enums.from_api_enum(str(body.get("lineType") or "Account"))
        types = {v: k for k, v in nav_enums.API_LINE_TYPE.items()}
        if line_type not in types:
            raise ODataError(400, "BadRequest", f"The value '{body.get('lineType')}' is not valid for enum "
                                                "'Microsoft.NAV.invoiceLineAggLineType'.")
        number = str(body.get("lineObjectNumber") or "")
        if line_type == "Account" and body.get("accountId"):
            number = next((row["No"] for _, row in self.company.gl_accounts.iter_from(None)
                           if row["SystemId"] == str(body["accountId"]).lower()), "")
        if types[line_type] == "G/L Account" and number not in self.company.gl_accounts:
            raise dialog(f"The G/L Account {number} does not exist.")
        quantity = _decimal("quantity", body.get("quantity", 1))
        unit_cost = _decimal("unitCost", body.get("unitCost", 0))
        amount = (quantity * unit_cost).quantize(Decimal("0.01"))
        lines = header["_lines"]
        line_no = int(body.get("sequence") or (max((ln["Line_No"] for ln in lines), default=0) + 10000))
        line = {"Document_No": header["No"], "Line_No": line_no, "Type": types[line_type], "No": number,
                "Description": str(body.get("description") or ""), "Quantity": quantity,
                "Direct_Unit_Cost": unit_cost, "Unit_of_Measure_Code": "", "Line_Amount": amount, "Amount": amount,
                "Amount_Including_VAT": amount, "Dimension_Set_ID": header.get("Dimension_Set_ID", 0),
                "SystemId": guid("draft-line", f"{header['No']}/{line_no}/{self.company.version()}")}
        updated = dict(header)
        updated["_lines"] = sorted(lines + [line], key=lambda ln: ln["Line_No"])
        updated["Amount"] = updated["Amount_Including_VAT"] = sum((ln["Amount"] for ln in updated["_lines"]),
                                                                  Decimal("0"))
        updated["SystemModifiedAt"] = self.company.now()
        updated["_v"] = self.company.version()
        self.company.drafts.put(header["No"], updated)
        self.company.on_change("purchaseInvoices", header["SystemId"], "updated")  # a line change notifies the header
        header.update(updated)
        return line

    def purchase_invoices(self) -> View:
        def get(key: tuple) -> dict | None:
            found = self.company.invoice_by_api_id(key[0])
            return found[1] if found else None

        view = self._view("purchaseInvoices", self._invoice_rows, self.project_invoice, get=get,
                          insert=self._insert_invoice, modify=self._modify_invoice, delete=self._delete_invoice)
        view.children["purchaseInvoiceLines"] = self.invoice_lines
        view.children["dimensionSetLines"] = lambda row: self.dimension_set_lines(
            row.get("Dimension_Set_ID", 0), self.invoice_id(row), "Purchase Invoice")
        view.actions["post"] = self._post_invoice_action
        return view

    # -- posted purchase credit memos (API v2.0 since BC 22/23; ground truth §1.4-1.5) ----------------
    def purchase_credit_memos(self) -> View:
        company = self.company

        def rows(after: Any = None) -> Iterator[tuple[Any, dict]]:
            for number in sorted(company.credit_memos):
                if after is None or number > after:
                    yield number, company.credit_memos[number]

        def get(key: tuple) -> dict | None:
            return next((row for row in company.credit_memos.values() if row["SystemId"] == key[0]), None)

        view = self._view("purchaseCreditMemos", rows, self.project_credit_memo, get=get)
        view.children["purchaseCreditMemoLines"] = self.credit_memo_lines
        view.children["dimensionSetLines"] = lambda row: self.dimension_set_lines(
            row.get("Dimension_Set_ID", 0), row["SystemId"], "Purchase Credit Memo")
        return view

    def project_credit_memo(self, row: dict) -> dict:
        vendor = self.company.vendors.get(row["Buy_from_Vendor_No"]) or {}
        amount, total = row["Amount"], row["Amount_Including_VAT"]
        return {
            "id": row["SystemId"], "number": row["No"], "creditMemoDate": row["Document_Date"],
            "postingDate": row["Posting_Date"], "dueDate": row["Due_Date"],
            "vendorId": vendor.get("SystemId", EMPTY_GUID), "vendorNumber": row["Buy_from_Vendor_No"],
            "vendorName": row["Buy_from_Vendor_Name"], "vendorCreditMemoNumber": row["Vendor_Cr_Memo_No"],
            "payToVendorId": vendor.get("SystemId", EMPTY_GUID), "payToVendorNumber": row["Pay_to_Vendor_No"],
            "payToName": row["Pay_to_Name"], "buyFromAddressLine1": row.get("Buy_from_Address", ""),
            "buyFromAddressLine2": "", "buyFromCity": row.get("Buy_from_City", ""),
            "buyFromCountry": row.get("Buy_from_Country_Region_Code", ""), "buyFromState": row.get("Buy_from_County", ""),
            "buyFromPostCode": row.get("Buy_from_Post_Code", ""), "payToAddressLine1": row.get("Pay_to_Address", ""),
            "payToAddressLine2": "", "payToCity": row.get("Pay_to_City", ""),
            "payToCountry": row.get("Pay_to_Country_Region_Code", ""), "payToState": row.get("Pay_to_County", ""),
            "payToPostCode": row.get("Pay_to_Post_Code", ""),
            "shortcutDimension1Code": row.get("Shortcut_Dimension_1_Code", ""),
            "shortcutDimension2Code": row.get("Shortcut_Dimension_2_Code", ""),
            "currencyId": self._currency_id(row.get("Currency_Code", "")),
            "currencyCode": self._lcy(row.get("Currency_Code", "")), "paymentTermsId": EMPTY_GUID,
            "shipmentMethodId": EMPTY_GUID, "purchaser": "", "pricesIncludeTax": False,
            "discountAmount": Decimal("0"), "discountAppliedBeforeTax": True, "totalAmountExcludingTax": amount,
            "totalTaxAmount": total - amount, "totalAmountIncludingTax": total, "status": enum("Open"),
            "lastModifiedDateTime": row["SystemModifiedAt"], "invoiceId": EMPTY_GUID, "invoiceNumber": "",
            "vendorReturnReasonId": EMPTY_GUID,
        }

    def credit_memo_lines(self, header: dict) -> View:
        def project(line: dict) -> dict:
            invoice_like = self.project_invoice_line(header, line)
            projected = {name: invoice_like[name] for name in API_FIELDS["purchaseCreditMemoLines"]
                         if name in invoice_like}
            projected["documentId"] = header["SystemId"]
            return projected

        return self._document_lines("purchaseCreditMemoLines", header, project, "Purchase Credit Memo Line")

    def top_level_invoice_lines(self, request: Request) -> View:
        text = request.query.get("$filter", "")
        document_id, line_id = _filter_guid(text, "documentId"), _filter_guid(text, r"(?<!document)id")
        if document_id is None and line_id is None:
            raise dialog("You must specify an Id or a Document Id to get the lines.")
        if document_id is not None:
            found = self.company.invoice_by_api_id(document_id)
            headers = [found[1]] if found else []
        else:
            headers = [row for _, row in self._invoice_rows(None)]
        pairs = [(h, line) for h in headers for line in h.get("_lines", [])]

        def rows(after: Any = None) -> Iterator[tuple[Any, dict]]:
            for index, (h, line) in enumerate(pairs):
                if after is None or index > after:
                    yield index, {"_header": h, **line}

        def project(line: dict) -> dict:
            return self.project_invoice_line(line["_header"], line)

        return self._view("purchaseInvoiceLines", rows, project)

    # -- dimension set lines ---------------------------------------------------------------
    def dimension_set_lines(self, set_id: int, parent_id: str, parent_type: str) -> View:
        company = self.company
        dims = company.dims_of(set_id)

        def rows(after: Any = None) -> Iterator[tuple[Any, dict]]:
            for code in sorted(dims):
                if after is None or code > after:
                    yield code, {"code": code, "value": dims[code]}

        def project(entry: dict) -> dict:
            dimension = company.dimensions.get(entry["code"]) or {}
            value = company.dimension_values.get((entry["code"], entry["value"])) or {}
            return {"id": dimension.get("SystemId", EMPTY_GUID), "code": entry["code"], "consolidationCode": "",
                    "parentId": parent_id, "parentType": enum(parent_type),
                    "displayName": dimension.get("Name", ""), "valueId": value.get("SystemId", EMPTY_GUID),
                    "valueCode": entry["value"], "valueConsolidationCode": "",
                    "valueDisplayName": value.get("Name", "")}

        def get(key: tuple) -> dict | None:
            return next((row for _, row in rows(None) if project(row)["id"] == key[0]), None)

        return self._view("dimensionSetLines", rows, project, get=get)

    # -- accounts, dimensions, G/L entries -------------------------------------------------
    def accounts(self) -> View:
        company = self.company

        def project(row: dict) -> dict:
            net = Decimal("0")
            if row["Account_Type"] == "Posting":
                net = sum((e["Amount"] for _, e in company.gl_entries.iter_from(None)
                           if e["G_L_Account_No"] == row["No"]), Decimal("0"))
            return {"id": row["SystemId"], "number": row["No"], "displayName": row["Name"],
                    "category": enum(row.get("Account_Category", " ")), "subCategory": "",
                    "blocked": row.get("Blocked", False), "accountType": enum(row["Account_Type"]),
                    "directPosting": row.get("Direct_Posting", False), "netChange": net,
                    "consolidationTranslationMethod": enum("Average Rate (Manual)"),
                    "consolidationDebitAccount": "", "consolidationCreditAccount": "",
                    "excludeFromConsolidation": False, "lastModifiedDateTime": row["SystemModifiedAt"]}

        def get(key: tuple) -> dict | None:
            return next((row for _, row in company.gl_accounts.iter_from(None) if row["SystemId"] == key[0]), None)

        return self._view("accounts", company.gl_accounts.iter_from, project, get=get)

    def dimension_values(self, dimension: dict | None = None) -> View:
        company = self.company

        def rows(after: Any = None) -> Iterator[tuple[Any, dict]]:
            for key, row in company.dimension_values.iter_from(after):
                if dimension is None or key[0] == dimension["Code"]:
                    yield key, row

        def project(row: dict) -> dict:
            parent = company.dimensions.get(row["Dimension_Code"]) or {}
            return {"id": row["SystemId"], "code": row["Code"], "dimensionId": parent.get("SystemId", EMPTY_GUID),
                    "displayName": row["Name"], "consolidationCode": "",
                    "lastModifiedDateTime": row["SystemModifiedAt"]}

        def get(key: tuple) -> dict | None:
            return next((row for _, row in rows(None) if row["SystemId"] == key[0]), None)

        return self._view("dimensionValues", rows, project, get=get)

    def dimensions(self) -> View:
        company = self.company

        def project(row: dict) -> dict:
            return {"id": row["SystemId"], "code": row["Code"], "displayName": row["Name"], "consolidationCode": "",
                    "lastModifiedDateTime": row["SystemModifiedAt"]}

        def get(key: tuple) -> dict | None:
            return next((row for _, row in company.dimensions.iter_from(None) if row["SystemId"] == key[0]), None)

        view = self._view("dimensions", company.dimensions.iter_from, project, get=get)
        view.children["dimensionValues"] = self.dimension_values
        return view

    def general_ledger_entries(self) -> View:
        company = self.company

        def project(row: dict) -> dict:
            return {"id": row["SystemId"], "entryNumber": row["Entry_No"], "postingDate": row["Posting_Date"],
                    "documentNumber": row["Document_No"], "documentType": enum(row["Document_Type"]),
                    "accountId": self._account_id(row["G_L_Account_No"]), "accountNumber": row["G_L_Account_No"],
                    "description": row["Description"], "debitAmount": row["Debit_Amount"],
                    "creditAmount": row["Credit_Amount"], "additionalCurrencyDebitAmount": Decimal("0"),
                    "additionalCurrencyCreditAmount": Decimal("0"), "lastModifiedDateTime": row["SystemModifiedAt"]}

        def get(key: tuple) -> dict | None:
            return next((row for _, row in company.gl_entries.iter_from(None) if row["SystemId"] == key[0]), None)

        view = self._view("generalLedgerEntries", company.gl_entries.iter_from, project, get=get)
        view.children["dimensionSetLines"] = lambda row: self.dimension_set_lines(
            row.get("Dimension_Set_ID", 0), row["SystemId"], "General Ledger Entry")
        return view

    # -- journals ----------------------------------------------------------------------------
    def default_payment_template(self) -> str:
        """First Gen. Journal Template with Page ID 256, Type Payments, not recurring."""
        for name, template in self.company.templates.items():
            if template["Page_ID"] == 256 and template["Type"] == "Payments" and not template["Recurring"]:
                return name
        return PAYMENT_TEMPLATE

    def _project_batch(self, row: dict, with_template: bool) -> dict:
        view = {"id": row["SystemId"], "code": row["Name"], "displayName": row["Description"]}
        if with_template:
            view["templateDisplayName"] = row["Journal_Template_Name"]
        bal = row["Bal_Account_No"] if row["Bal_Account_Type"] == "G/L Account" else ""
        view.update({"lastModifiedDateTime": row["SystemModifiedAt"], "balancingAccountId": self._account_id(bal),
                     "balancingAccountNumber": bal})
        return view

    @staticmethod
    def _batch_in(batch: dict | None, template: str | None) -> dict | None:
        """The batch, if it belongs to ``template`` (None: any template)."""
        return batch if batch is not None and template in (None, batch["Journal_Template_Name"]) else None

    def _batch_rows(self, template: str | None):
        def rows(after: Any = None) -> Iterator[tuple[Any, dict]]:
            for key in sorted(self.company.batches):
                if (template is None or key[0] == template) and (after is None or key > tuple(after)):
                    yield key, self.company.batches[key]

        return rows

    def _create_batch(self, template: str, body: dict, allowed: set[str]) -> dict:
        unknown = set(body) - allowed
        if unknown:
            raise ODataError(400, "BadRequest", f"The property '{sorted(unknown)[0]}' does not exist on this type.")
        code = str(body.get("code") or "").upper()
        if not code or len(code) > 10:
            raise ODataError(400, "Application_StringExceededLength" if code else "BadRequest_RequiredParamNotProvided",
                             "The code must have 1 to 10 characters.")
        bal_no = str(body.get("balancingAccountNumber") or "")
        if body.get("balancingAccountId"):
            bal_no = next((row["No"] for _, row in self.company.gl_accounts.iter_from(None)
                           if row["SystemId"] == str(body["balancingAccountId"]).lower()), "")
            if not bal_no:
                raise ODataError(400, "Internal_RecordNotFound", "The G/L Account does not exist.")
        try:
            return self.company.create_batch(template, code, str(body.get("displayName") or code)[:100],
                                             "G/L Account", bal_no)
        except NavError as error:
            raise ODataError(error.status, error.code, error.message) from None

    def vendor_payment_journals(self) -> View:
        template = self.default_payment_template()
        company = self.company

        def get(key: tuple) -> dict | None:
            row = company.batch_by_id(key[0])
            return row if row is not None and row["Journal_Template_Name"] == template else None

        view = self._view("vendorPaymentJournals", self._batch_rows(template),
                          lambda row: self._project_batch(row, with_template=False), get=get,
                          insert=lambda body: self._create_batch(template, body, {"code", "displayName",
                                                                                  "balancingAccountId",
                                                                                  "balancingAccountNumber"}))
        view.children["vendorPayments"] = self.vendor_payments
        return view

    def journals(self, template: str | None = GENERAL_TEMPLATE) -> View:
        company = self.company

        def post(row: dict) -> Response:
            try:
                company.post_batch(row["Journal_Template_Name"], row["Name"])
            except NavError as error:
                raise ODataError(error.status, error.code, error.message) from None
            return Response(204)

        view = self._view("journals", self._batch_rows(template), lambda row: self._project_batch(row, True),
                          get=lambda key: self._batch_in(company.batch_by_id(key[0]), template),
                          insert=lambda body: self._create_batch(
                              str(body.get("templateDisplayName") or template or GENERAL_TEMPLATE),
                              {k: v for k, v in body.items() if k != "templateDisplayName"},
                              {"code", "displayName", "balancingAccountId", "balancingAccountNumber"}))
        view.children["journalLines"] = self.journal_lines
        view.actions["post"] = post
        return view

    # vendorPayments (page 30060) ------------------------------------------------------------
    @staticmethod
    def payment_visible(row: dict) -> bool:
        """SetVendorPaymentsFilters + BC18+ ShowRecord: vendor payments applied to an invoice or an Applies-to ID."""
        return (row["Document_Type"] == "Payment" and row["Account_Type"] == "Vendor"
                and (row.get("Applies_to_Doc_Type") == "Invoice" or bool(row.get("Applies_to_ID"))))

    def project_payment(self, row: dict) -> dict:
        company = self.company
        batch = company.batches.get((row["Journal_Template_Name"], row["Journal_Batch_Name"])) or {}
        vendor = company.vendors.get(row["Account_No"]) if row["Account_No"] else None
        invoice_id = EMPTY_GUID
        if row.get("Applies_to_Doc_Type") == "Invoice" and row.get("Applies_to_Doc_No"):
            invoice = company.invoices.get(row["Applies_to_Doc_No"])
            invoice_id = company.invoice_api_id(invoice) if invoice else EMPTY_GUID
        return {"id": row["SystemId"], "journalId": batch.get("SystemId", EMPTY_GUID),
                "journalDisplayName": row["Journal_Batch_Name"], "lineNumber": row["Line_No"],
                "vendorId": (vendor or {}).get("SystemId", EMPTY_GUID), "vendorNumber": row["Account_No"],
                "postingDate": row["Posting_Date"], "documentNumber": row["Document_No"],
                "externalDocumentNumber": row["External_Document_No"], "amount": row["Amount"],
                "appliesToInvoiceId": invoice_id, "appliesToInvoiceNumber": row.get("Applies_to_Doc_No", ""),
                "description": row["Description"], "comment": row.get("Comment", ""),
                "lastModifiedDateTime": row["SystemModifiedAt"]}

    def _payment_values(self, body: dict, current: dict | None) -> dict:
        company = self.company
        values: dict[str, Any] = {}
        for name, value in body.items():
            if name not in API_FIELDS["vendorPayments"]:
                raise ODataError(400, "BadRequest", f"The property '{name}' does not exist on type "
                                                    "'Microsoft.NAV.vendorPayment'.")
            if name in ("id", "lastModifiedDateTime", "journalDisplayName"):
                raise ODataError(400, "BadRequest_InvalidOperation", f"The property '{name}' is read-only.")
            if name == "journalId":
                continue  # set by the parent journal
            if name == "lineNumber":
                values["Line_No"] = int(value)
            elif name == "vendorId":
                vendor = company.vendor_by_id(str(value).lower())
                if vendor is None:
                    raise dialog(f"The vendor with id {value} does not exist.")
                values["Account_No"] = vendor["No"]
            elif name == "vendorNumber":
                if value and value not in company.vendors:
                    raise dialog(f"The vendor with number {value} does not exist.")
                values["Account_No"] = value
            elif name == "postingDate":
                values["Posting_Date"] = _date(name, value)
            elif name == "amount":
                values["Amount"] = _decimal(name, value)
            elif name in ("appliesToInvoiceId", "appliesToInvoiceNumber"):
                if name == "appliesToInvoiceId":
                    found = company.invoice_by_api_id(str(value).lower()) if value and value != EMPTY_GUID else None
                    if value and value != EMPTY_GUID and (found is None or found[0] != "posted"):
                        raise dialog("The invoice must be an Open, Paid, Corrective or Canceled posted invoice.")
                    number = found[1]["No"] if found else ""
                else:
                    number = str(value or "")
                    if number and number not in company.invoices:
                        raise dialog(f"The posted invoice {number} does not exist.")
                values["Applies_to_Doc_No"] = number
                values["Applies_to_Doc_Type"] = "Invoice"
                if number and not values.get("Account_No") and not (current or {}).get("Account_No"):
                    values["Account_No"] = company.invoices.get(number)["Buy_from_Vendor_No"]
            else:
                target = {"documentNumber": "Document_No", "externalDocumentNumber": "External_Document_No",
                          "description": "Description", "comment": "Comment"}[name]
                values[target] = str(value or "")
        return values

    def vendor_payments(self, batch: dict) -> View:
        return self._batch_lines(
            "vendorPayments", batch, self.payment_visible, self.project_payment,
            {"Document_Type": "Payment", "Account_Type": "Vendor", "Applies_to_Doc_Type": "Invoice"},
            self._payment_values, {"applyVendorEntries": self.apply_vendor_entries})

    def _batch_lines(self, name: str, batch: dict, visible: Callable[[dict], bool], project: Callable,
                     defaults: dict, values: Callable[[dict, dict | None], dict],
                     children: dict[str, Callable] | None = None) -> View:
        """A journal batch's lines as one API entity sees them (vendorPayments, journalLines): the ``visible``
        ones, in line order; a new line starts from ``defaults``; ``values(body, row)`` turns a request body into
        NAV fields (row None for an insert); ``children``: its own navigation properties besides the dimensions."""
        company = self.company

        def rows(after: Any = None) -> Iterator[tuple[Any, dict]]:
            for key, row in company.journal_lines(batch["Journal_Template_Name"], batch["Name"]):
                if visible(row) and (after is None or key[2] > after):
                    yield key[2], row

        def get(key: tuple) -> dict | None:
            return next((row for _, row in rows(None) if row["SystemId"] == key[0]), None)

        def insert(body: dict) -> dict:
            line = {**defaults, **values(body, None)}
            try:
                return company.insert_journal_line(batch["Journal_Template_Name"], batch["Name"], line)
            except NavError as error:
                raise ODataError(error.status, error.code, error.message) from None

        view = self._view(name, rows, project, get=get, insert=insert,
                          modify=lambda row, body: self._modify_line(row, values(body, row)),
                          delete=self._delete_line)
        view.children.update(children or {})
        view.children["dimensionSetLines"] = lambda row: self.dimension_set_lines(
            row.get("Dimension_Set_ID", 0), row["SystemId"], "Journal Line")
        return view

    def _modify_line(self, row: dict, values: dict) -> dict:
        updated = dict(row) | values
        try:
            self.company.validate_journal_line(updated)
        except NavError as error:
            raise ODataError(error.status, error.code, error.message) from None
        updated["SystemModifiedAt"] = self.company.now()
        updated["_v"] = self.company.version()
        self.company.journal.put((row["Journal_Template_Name"], row["Journal_Batch_Name"], row["Line_No"]), updated)
        return updated

    def _delete_line(self, row: dict) -> None:
        self.company.journal.delete((row["Journal_Template_Name"], row["Journal_Batch_Name"], row["Line_No"]))

    def apply_vendor_entries(self, line: dict) -> View:
        company = self.company

        def rows(after: Any = None) -> Iterator[tuple[Any, dict]]:
            current = company.journal.get((line["Journal_Template_Name"], line["Journal_Batch_Name"],
                                           line["Line_No"])) or line
            for key, entry in company.vendor_ledger.iter_from(after):
                if entry["Vendor_No"] == current["Account_No"] and entry["Open"]:
                    yield key, {"_line": current, **entry}

        def project(entry: dict) -> dict:
            current = entry["_line"]
            applied = (current.get("Applies_to_Doc_No") == entry["Document_No"]
                       and current.get("Applies_to_Doc_Type") == entry["Document_Type"])
            return {"id": entry["SystemId"], "applied": applied, "appliesToId": "",
                    "postingDate": entry["Posting_Date"], "documentType": enum(entry["Document_Type"]),
                    "documentNumber": entry["Document_No"], "externalDocumentNumber": entry["External_Document_No"],
                    "vendorNumber": entry["Vendor_No"], "vendorName": entry.get("Vendor_Name", ""),
                    "description": entry["Description"], "remainingAmount": entry["Remaining_Amount"],
                    "lastModifiedDateTime": entry.get("SystemModifiedAt", company.seeded_at)}

        def get(key: tuple) -> dict | None:
            return next((row for _, row in rows(None) if row["SystemId"] == key[0]), None)

        def modify(entry: dict, body: dict) -> dict:
            unknown = set(body) - {"applied"}
            if unknown:
                raise ODataError(400, "BadRequest_InvalidOperation", f"The property '{sorted(unknown)[0]}' is read-only.")
            if not isinstance(body.get("applied"), bool):
                raise ODataError(400, "BadRequest", "Cannot convert the literal to the expected type 'Edm.Boolean'.")
            current = entry["_line"]
            values = ({"Applies_to_Doc_Type": entry["Document_Type"], "Applies_to_Doc_No": entry["Document_No"]}
                      if body["applied"] else {"Applies_to_Doc_Type": " ", "Applies_to_Doc_No": ""})
            updated = self._modify_line(current, values)
            return {"_line": updated, **{k: v for k, v in entry.items() if k != "_line"}}

        view = self._view("applyVendorEntries", rows, project, get=get, modify=modify)
        view.version_of = lambda entry: entry["_line"].get("_v", 1) + entry.get("_v", 1)
        return view

    # journalLines (page 30049) ------------------------------------------------------------
    @staticmethod
    def journal_line_visible(row: dict) -> bool:
        """OnOpenPage: Document Type = ' ' and Account Type in G/L Account..Bank Account."""
        return row["Document_Type"] == " " and row["Account_Type"] in ("G/L Account", "Customer", "Vendor",
                                                                        "Bank Account")

    def project_journal_line(self, row: dict) -> dict:
        company = self.company
        batch = company.batches.get((row["Journal_Template_Name"], row["Journal_Batch_Name"])) or {}
        account_id = self._account_id(row["Account_No"]) if row["Account_Type"] == "G/L Account" else EMPTY_GUID
        bal_id = self._account_id(row["Bal_Account_No"]) if row["Bal_Account_Type"] == "G/L Account" else EMPTY_GUID
        return {"id": row["SystemId"], "journalId": batch.get("SystemId", EMPTY_GUID),
                "journalDisplayName": row["Journal_Batch_Name"], "lineNumber": row["Line_No"],
                "accountType": enum(row["Account_Type"]), "accountId": account_id, "accountNumber": row["Account_No"],
                "postingDate": row["Posting_Date"], "documentNumber": row["Document_No"],
                "externalDocumentNumber": row["External_Document_No"], "amount": row["Amount"],
                "description": row["Description"], "comment": row.get("Comment", ""), "taxCode": "",
                "balanceAccountType": enum(row["Bal_Account_Type"]), "balancingAccountId": bal_id,
                "balancingAccountNumber": row["Bal_Account_No"], "lastModifiedDateTime": row["SystemModifiedAt"]}

    def _journal_line_values(self, body: dict) -> dict:
        values: dict[str, Any] = {}
        simple = {"accountNumber": "Account_No", "documentNumber": "Document_No",
                  "externalDocumentNumber": "External_Document_No", "description": "Description", "comment": "Comment",
                  "balancingAccountNumber": "Bal_Account_No"}
        for name, value in body.items():
            if name not in API_FIELDS["journalLines"]:
                raise ODataError(400, "BadRequest", f"The property '{name}' does not exist on type "
                                                    "'Microsoft.NAV.journalLine'.")
            if name in ("accountType", "balanceAccountType"):
                decoded = nav_enums.from_api_enum(str(value))
                if decoded not in [n for n, _ in nav_enums.OPTION_SETS["Gen. Journal Account Type"]]:
                    raise ODataError(400, "BadRequest", f"The value '{value}' is not valid for enum "
                                                        "'Microsoft.NAV.genJournalAccountType'.")
                values["Account_Type" if name == "accountType" else "Bal_Account_Type"] = decoded
            elif name == "lineNumber":
                values["Line_No"] = int(value)
            elif name == "postingDate":
                values["Posting_Date"] = _date(name, value)
            elif name == "amount":
                values["Amount"] = _decimal(name, value)
            elif name in simple:
                values[simple[name]] = str(value or "")
            elif name in ("accountId", "balancingAccountId"):
                number = next((row["No"] for _, row in self.company.gl_accounts.iter_from(None)
                               if row["SystemId"] == str(value).lower()), None)
                if number is None and value != EMPTY_GUID:
                    raise dialog(f"The account with id {value} does not exist.")
                values["Account_No" if name == "accountId" else "Bal_Account_No"] = number or ""
        return values

    def journal_lines(self, batch: dict) -> View:
        return self._batch_lines("journalLines", batch, self.journal_line_visible, self.project_journal_line,
                                 {"Document_Type": " ", "Account_Type": "G/L Account"},
                                 lambda body, _row: self._journal_line_values(body))

    def _top_level_lines(self, request: Request, name: str, children: Callable[[dict], View],
                         template: str | None) -> View:
        text = request.query.get("$filter", "")
        journal_id, line_id = _filter_guid(text, "journalId"), _filter_guid(text, r"(?<!journal)id")
        if journal_id is None and line_id is None:
            raise dialog("You must specify a journal batch ID or a journal ID to get a journal line.")
        company = self.company
        if journal_id is not None:
            batch = company.batch_by_id(journal_id)
            batches = [batch] if batch is not None and (template is None or
                                                         batch["Journal_Template_Name"] == template) else []
        else:
            batches = [b for b in company.batches.values() if template is None or b["Journal_Template_Name"] == template]
        views = [children(b) for b in batches]
        first = views[0] if views else children({"Journal_Template_Name": "", "Name": ""})

        def rows(after: Any = None) -> Iterator[tuple[Any, dict]]:
            for index, view in enumerate(views):
                for key, row in view.rows(None):
                    if after is None or (index, key) > tuple(after):
                        yield (index, key), row

        return View(name, first.entity_type, first.fields, first.keys, rows, first.project, get=first.get)

    # -- companies -----------------------------------------------------------------------
    def company_row(self) -> dict:
        created = parse_datetime("2026-01-05T08:00:00Z")
        return {"id": self.company_id, "systemVersion": "24.0.16410.18056", "timestamp": 39181,
                "name": self.company_name, "displayName": self.company_name, "businessProfileId": "",
                "systemCreatedAt": created, "systemCreatedBy": EMPTY_GUID, "systemModifiedAt": created,
                "systemModifiedBy": EMPTY_GUID}

    # -- routing -------------------------------------------------------------------------
    def top_level(self, request: Request, name: str, keyed: bool) -> View | None:
        if name == "vendors":
            return self.vendors()
        if name == "purchaseInvoices":
            return self.purchase_invoices()
        if name == "purchaseCreditMemos":
            return self.purchase_credit_memos()
        if name == "purchaseInvoiceLines":
            if keyed:
                return self.top_level_invoice_lines_by_key()
            return self.top_level_invoice_lines(request)
        if name == "dimensionSetLines":
            raise dialog("You must get to the parent first to get to the dimension set line.")
        if name == "accounts":
            return self.accounts()
        if name == "dimensions":
            return self.dimensions()
        if name == "dimensionValues":
            return self.dimension_values()
        if name == "generalLedgerEntries":
            return self.general_ledger_entries()
        if name == "vendorPaymentJournals":
            return self.vendor_payment_journals()
        if name == "journals":
            if self.journals_by_any_id and (keyed or _filter_guid(request.query.get("$filter", ""), "id")):
                return self.journals(template=None)  # OnFindRecord: GetBySystemId, any template
            match = re.search(r"templateDisplayName eq '([^']*)'", request.query.get("$filter", ""))
            return self.journals(template=match.group(1) if match else GENERAL_TEMPLATE)
        if name in ("vendorPayments", "journalLines"):
            template = self.default_payment_template() if name == "vendorPayments" else None
            children = self.vendor_payments if name == "vendorPayments" else self.journal_lines
            if keyed:
                return self._lines_by_key(name, children, template)
            return self._top_level_lines(request, name, children, template)
        return None

    def top_level_invoice_lines_by_key(self) -> View:
        def get(key: tuple) -> dict | None:
            for _, header in self._invoice_rows(None):
                for line in header.get("_lines", []):
                    if line["SystemId"] == key[0]:
                        return {"_header": header, **line}
            return None

        view = self._view("purchaseInvoiceLines", lambda after: iter(()),
                          lambda line: self.project_invoice_line(line["_header"], line), get=get)
        view.children["dimensionSetLines"] = lambda line: self.dimension_set_lines(
            line.get("Dimension_Set_ID", 0), line["SystemId"], "Purchase Invoice Line")
        return view

    def _lines_by_key(self, name: str, children: Callable[[dict], View], template: str | None) -> View:
        company = self.company
        batches = [b for b in company.batches.values() if template is None or b["Journal_Template_Name"] == template]
        views = [children(b) for b in batches]
        first = views[0] if views else children({"Journal_Template_Name": "", "Name": ""})

        def get(key: tuple) -> dict | None:
            for view in views:
                row = view.get(key)
                if row is not None:
                    return row
            return None

        result = View(name, first.entity_type, first.fields, first.keys, lambda after: iter(()), first.project,
                      get=get, modify=first.modify, delete=first.delete)
        result.children = first.children
        return result

    def handle(self, request: Request, segments: list[str], company_url: str, context_root: str) -> Response:
        """``segments`` start after ``companies(<id>)``."""
        name, key_args = split_segment(segments[0])
        view = self.top_level(request, name, key_args is not None)
        if view is None:
            raise ODataError(404, "BadRequest_NotFound", f"Resource not found for the segment '{name}'.")
        url = f"{company_url}/{segments[0]}"
        context = f"{context_root}/{name}"
        row = None
        path = segments[0]
        if key_args is not None:
            row = self._get(view, key_args)
        for position, segment in enumerate(segments[1:], start=1):
            child_name, child_key = split_segment(segment)
            if row is None:
                raise ODataError(404, "BadRequest_NotFound",
                                 f"The URI segment '{segment}' is invalid after the segment '{path}'.")
            action = child_name.split(".")[-1] if child_name.startswith(("Microsoft.NAV.", "NAV.")) else None
            if action is not None:
                handler = view.actions.get(action) or view.actions.get(action[:1].lower() + action[1:])
                if handler is None or position != len(segments) - 1:
                    raise ODataError(404, "BadRequest_NotFound",
                                     f"The URI segment '{segment}' is invalid after the segment '{path}'.")
                if request.method != "POST":
                    raise method_not_allowed(request.method, child_name, PRODUCT)
                return handler(row)
            factory = view.children.get(child_name)
            if factory is None:
                raise ODataError(404, "BadRequest_NotFound", f"Resource not found for the segment '{child_name}'.")
            view = factory(row)
            url = f"{url}/{segment}"
            context = f"{context}/{child_name}"
            path = segment
            row = self._get(view, child_key) if child_key is not None else None
        if row is None:
            if request.method == "GET":
                return collection(request, view, url, context, self.max_page_size)
            if request.method == "POST":
                if view.insert is None:
                    raise method_not_allowed("POST", view.name, PRODUCT)
                created = view.insert(request_body(request))
                return Response(201, {"@odata.context": f"{context}/$entity", **serialize(view, created, {})})
            raise method_not_allowed(request.method, view.name, PRODUCT)
        if request.method == "GET":
            return Response(200, {"@odata.context": f"{context}/$entity", **serialize(view, row, request.query)})
        if request.method in ("PATCH", "PUT"):
            if view.modify is None:
                raise method_not_allowed(request.method, view.name, PRODUCT)
            check_if_match(request, view, row)
            updated = view.modify(row, request_body(request))
            return Response(200, {"@odata.context": f"{context}/$entity", **serialize(view, updated, {})})
        if request.method == "DELETE":
            if view.delete is None:
                raise method_not_allowed("DELETE", view.name, PRODUCT)
            check_if_match(request, view, row)
            view.delete(row)
            return Response(204)
        raise method_not_allowed(request.method, view.name, PRODUCT)

    @staticmethod
    def _get(view: View, key_args: str) -> dict:
        entity_id = _guid_of(key_args)
        row = view.get((entity_id,))
        if row is None:
            raise ODataError(404, "Internal_RecordNotFound",
                             f"The {view.name[:-1] if view.name.endswith('s') else view.name} does not exist. "
                             f"Identification fields and values: Id='{{{entity_id.upper()}}}'")
        return row
