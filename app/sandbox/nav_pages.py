"""Classic pages published as OData v4 web services, under the service names the connector uses.

| service                      | page | writes                  |
|------------------------------|------|-------------------------|
| ``Vendor``                   | 26   | insert, modify, delete  |
| ``VendorList``               | 27   | read-only               |
| ``PostedPurchaseInvoice``    | 138  | read-only; part ``PostedPurchaseInvoicePurchInvLines`` (page 139) |
| ``PostedPurchaseInvoiceLines`` | 139 | read-only               |
| ``PostedPurchaseInvoices``   | 146  | read-only, no parts     |
| ``VendorLedgerEntries``      | 29   | read-only               |
| ``ChartOfAccounts``          | 16   | read-only here          |
| ``Dimensions``               | 536  | read-only here          |
| ``DimensionValues``          | 537  | read-only here          |
| ``GeneralLedgerSetup``       | 118  | read-only here          |
| ``PaymentJournal``           | 256  | insert, modify, delete  |
| ``PostedPurchaseCreditMemos`` | 147 | read-only, no parts     |
| ``PostedPurchaseCreditMemo``  | 140 | read-only; part ``PostedPurchaseCreditMemoPurchCrMemoLines`` (page 141) |
| ``PostedPurchaseCreditMemoLines`` | 141 | read-only           |

Property names are exactly the page controls of the ground truth (``nav_fields.PAGE_FIELDS``; US localization
adds ``Federal_ID_No`` and ``IRS_1099_Code`` to page 26). Options are captions in the server's language
(``nav_enums``). No page has a modification timestamp except 26/27's ``Last_Date_Modified`` (a date), no
``SystemId``, no bound action: NAV 2016–2018 cannot post over OData. Page 256 applies NO template or batch
filter over OData (its OnOpenPage exits for ODataV4 clients): it lists the lines of every journal.
Pages 147/140/141 (posted purchase credit memos) follow docs/nav_credit_memo_truth.json (NAV 2018 page sources):
page 141 carries only shortcut dimensions 1 and 2, page 147 has no vendor credit memo number (page 140 has it).
Page 118 serves a subset of its controls (posting range, dimensions, currency), names checked against
``GeneralLedgerSetup.Page.al`` in StefanMaron/MSDyn365BC.Code.History.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from app.sandbox import nav_enums
from app.sandbox.nav_company import BLANK_DATE, NavCompany, NavError
from app.sandbox.nav_fields import PAGE_FIELDS, PAGE_KEYS
from app.sandbox.nav_http import ODataError, View
from app.sandbox.nav_odata import parse_datetime

US_VENDOR_FIELDS = ("Federal_ID_No", "IRS_1099_Code")  # US (NA) Vendor Card controls "Federal ID No.", "IRS 1099 Code"
GL_SETUP_FIELDS = ("Primary_Key", "Allow_Posting_From", "Allow_Posting_To", "Global_Dimension_1_Code",
                   "Global_Dimension_2_Code", "Shortcut_Dimension_1_Code", "Shortcut_Dimension_2_Code",
                   "Shortcut_Dimension_3_Code", "Shortcut_Dimension_4_Code", "Shortcut_Dimension_5_Code",
                   "Shortcut_Dimension_6_Code", "Shortcut_Dimension_7_Code", "Shortcut_Dimension_8_Code",
                   "LCY_Code", "Local_Currency_Symbol", "Local_Currency_Description")

SERVICES = {  # published service name -> page
    "Vendor": 26, "VendorList": 27, "PostedPurchaseInvoice": 138, "PostedPurchaseInvoiceLines": 139,
    "PostedPurchaseInvoices": 146, "VendorLedgerEntries": 29, "ChartOfAccounts": 16, "Dimensions": 536,
    "DimensionValues": 537, "GeneralLedgerSetup": 118, "PaymentJournal": 256,
    "PostedPurchaseCreditMemos": 147, "PostedPurchaseCreditMemo": 140, "PostedPurchaseCreditMemoLines": 141,
}
LINES_PART = "PurchInvLines"  # page 138's part control -> navigation property <ServiceName>PurchInvLines
CREDIT_LINES_PART = "PurchCrMemoLines"  # page 140's part control (NAV 2018 source: Name=PurchCrMemoLines, Page141)

_BOOL = {"Paid", "Privacy_Blocked", "Disable_Search_by_Name", "Tax_Liable", "Prices_Including_VAT",
         "Allow_Multiple_Posting_Groups", "Block_Payment_Tolerance", "Exclude_from_Pmt_Practices", "Cancelled",
         "Corrective", "Closed", "Open", "Reversed", "Exported_to_Payment_File", "Direct_Posting", "Use_Tax",
         "Allow_Invoice_Disc", "Depr_Acquisition_Cost", "Depr_until_FA_Posting_Date", "Applied_Yes_No",
         "Check_Printed", "Correction", "Has_Payment_Export_Error", "Coupled_to_Dataverse", "Applied_Automatically",
         "Applied", "EU_3_Party_Trade"}
_INT = {"Entry_No", "Line_No", "No_Printed", "Reversed_by_Entry_No", "Reversed_Entry_No", "Dimension_Set_ID",
        "Incoming_Document_Entry_No", "Appl_to_Item_Entry", "NumberOfJournalRecords", "Priority"}
_STR = {"Consol_Debit_Acc", "Consol_Credit_Acc", "Cost_Type_No", "Lead_Time_Calculation", "Customized_Calendar",
        "Source_Currency_Code", "Budgeted_FA_No"}
_DATE = {"Last_Date_Modified", "Allow_Posting_From", "Allow_Posting_To", "GetAppliesToDocDueDate", "Closed_at_Date"}
_DEC = re.compile(r"Amount|Amt|Balance|Quantity|Cost|Price|Percent|Weight|Volume|Units_per_Parcel|Net_Change|"
                  r"Debit|Credit|Difference|Tolerance|Possible|Payments_LCY|NonDeductibleVAT|DisplayTotal")


@functools.lru_cache(maxsize=4096)
def field_kind(page: int, name: str) -> str:
    """'option:<set>', 'bool', 'int', 'date', 'decimal' or 'str' for a page property."""
    option_set = nav_enums.page_option_set(page, name)
    if option_set:
        return f"option:{option_set}"
    if name in _BOOL or (name == "Blocked" and page not in (26, 27)):
        return "bool"
    if name in _INT:
        return "int"
    if name in _STR:
        return "str"
    if name in _DATE or name.endswith("_Date") or "Posting_Date" in name:
        return "date"
    if _DEC.search(name):
        return "decimal"
    return "str"


def default_of(kind: str) -> Any:
    if kind.startswith("option:"):
        return nav_enums.default_value(kind[7:])
    return {"bool": False, "int": 0, "date": BLANK_DATE, "decimal": Decimal("0")}.get(kind, "")


def convert(page: int, name: str, value: Any, language: str) -> Any:
    """A JSON value written to a page property → the stored value, or the 400 NAV gives."""
    kind = field_kind(page, name)
    try:
        if kind.startswith("option:"):
            if not isinstance(value, str):
                raise TypeError
            return nav_enums.from_caption(kind[7:], value, language)
        if kind == "bool":
            if not isinstance(value, bool):
                raise TypeError
            return value
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError
            return value
        if kind == "decimal":
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise TypeError
            return Decimal(str(value))
        if kind == "date":
            return date.fromisoformat(value) if len(str(value)) == 10 else parse_datetime(value).date()
        if not isinstance(value, str):
            raise TypeError
        if len(value) > 250:
            raise ODataError(400, "Application_StringExceededLength",
                             f"The length of the string is {len(value)}, but it must be less than or equal to 250 "
                             f"characters. Value: {value[:20]}...")
        return value
    except (TypeError, ValueError, InvalidOperation):
        if kind.startswith("option:"):
            raise ODataError(400, "Application_EvaluateException",
                             f"The value \"{value}\" can't be evaluated into type {kind[7:]}.") from None
        raise ODataError(400, "BadRequest",
                         f"Cannot convert the literal '{value}' to the expected type for the property "
                         f"'{name}'.") from None


class ClassicPages:
    def __init__(self, company: NavCompany, language: str = "en", us_localization: bool = True) -> None:
        self.company = company
        self.language = language
        self.us_localization = us_localization

    # -- projections -----------------------------------------------------------------------
    def page_fields(self, page: int) -> tuple[str, ...]:
        if page == 118:
            return GL_SETUP_FIELDS
        fields = PAGE_FIELDS[page]
        if page == 26 and self.us_localization:
            fields = fields + US_VENDOR_FIELDS
        return fields

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one ClassicPages per sandbox seed
    def _layout(self, page: int) -> tuple[tuple[str, Any, str | None], ...]:
        """(name, default, option set) per property of a page, computed once."""
        layout = []
        for name in self.page_fields(page):
            kind = field_kind(page, name)
            layout.append((name, default_of(kind), kind[7:] if kind.startswith("option:") else None))
        return tuple(layout)

    def _project(self, page: int, row: dict, computed: dict[str, Any] | None = None) -> dict:
        computed = computed or {}
        view = {}
        german = self.language == "de"
        for name, default, option_set in self._layout(page):
            value = computed[name] if name in computed else row.get(name, default)
            if option_set and german and isinstance(value, str):
                value = nav_enums.caption(option_set, value, self.language)
            view[name] = value
        return view

    def _shortcut_dims(self, row: dict, bracketed: bool) -> dict[str, str]:
        dims = self.company.dims_of(row.get("Dimension_Set_ID", 0))
        out = {}
        for n, code in enumerate(self.company.shortcut_codes(), start=1):
            value = dims.get(code, "") if code else ""
            if n <= 2:
                out[f"Shortcut_Dimension_{n}_Code"] = value
            else:
                out[f"ShortcutDimCode_x005B_{n}_x005D_" if bracketed else f"ShortcutDimCode{n}"] = value
        return out

    def project_vendor(self, page: int, row: dict) -> dict:
        return self._project(page, row, {"Control16": row.get("Contact", ""), "Contact": row.get("Contact", ""),
                                         "Balance_Due_LCY": row.get("Balance_LCY", Decimal("0")),
                                         "LookupAddress": "Show on Map", "ShowMap": "Show on Map"})

    def project_invoice_list(self, row: dict) -> dict:
        entry = self.company.invoice_entry(row) or {}
        return self._project(146, row, {"Remaining_Amount": -entry.get("Remaining_Amount", Decimal("0")),
                                        "Closed": not entry.get("Open", True)})

    def project_line(self, row: dict) -> dict:
        return self._project(139, row, {"FilteredTypeField": row.get("Type", " "),
                                        **self._shortcut_dims(row, bracketed=True)})

    def project_credit_memo_list(self, row: dict) -> dict:
        """Page 147: Remaining Amount and Paid are FlowFields over the memo's vendor ledger entry (INFERRED sign:
        as page 146, the entry's remaining amount negated)."""
        entry = self.company.vendor_ledger.get(row.get("_vle")) if row.get("_vle") else None
        entry = entry or {}
        return self._project(147, row, {"Remaining_Amount": -entry.get("Remaining_Amount", Decimal("0")),
                                        "Paid": bool(entry) and not entry.get("Open", True)})

    def project_credit_memo_line(self, row: dict) -> dict:
        memo = self.company.credit_memos.get(row["Document_No"]) or {}
        return self._project(141, row, {"FilteredTypeField": row.get("Type", " "),
                                        "Total_Amount_Excl_VAT": memo.get("Amount", Decimal("0")),
                                        "Total_Amount_Incl_VAT": memo.get("Amount_Including_VAT", Decimal("0")),
                                        "Total_VAT_Amount": memo.get("Amount_Including_VAT", Decimal("0"))
                                        - memo.get("Amount", Decimal("0")),
                                        "Shortcut_Dimension_1_Code": self._shortcut_dims(row, True).get(
                                            "Shortcut_Dimension_1_Code", ""),
                                        "Shortcut_Dimension_2_Code": self._shortcut_dims(row, True).get(
                                            "Shortcut_Dimension_2_Code", "")})

    def _credit_memo_rows(self, after: Any = None) -> Iterator[tuple[Any, dict]]:
        memos = self.company.credit_memos
        for number in sorted(memos):
            if after is None or number > after:
                yield number, memos[number]

    def _credit_lines_rows(self, number: str | None = None):
        """Page 141's rows: one memo's lines, or every memo's in number order."""
        if number is not None:
            return self._lines_of(number, "credit_memos")

        def rows(after: Any = None) -> Iterator[tuple[Any, dict]]:
            for memo_no in sorted(self.company.credit_memos):
                yield from self._lines_of(memo_no, "credit_memos")(after)

        return rows

    def _narrow_credit_lines(self, text: str):
        return _narrow_to_document(text, self._credit_lines_rows)

    def _credit_lines_view(self, name: str, rows) -> View:
        return View(name, f"NAV.{name}", self.page_fields(141), PAGE_KEYS[141], rows, self.project_credit_memo_line,
                    get=lambda key: next((line for k, line in rows(None) if k == tuple(key)), None),
                    narrow=self._narrow_credit_lines)

    def project_account(self, row: dict) -> dict:
        net = Decimal("0")
        if row.get("Account_Type") == "Posting":
            net = sum((e["Amount"] for _, e in self.company.gl_entries.iter_from(None)
                       if e["G_L_Account_No"] == row["No"]), Decimal("0"))
        return self._project(16, row, {"Net_Change": net, "Balance": net, "Balance_at_Date": net})

    def project_journal(self, page: int, row: dict) -> dict:
        company = self.company
        account = (company.vendors.get(row["Account_No"]) if row["Account_Type"] == "Vendor"
                   else company.gl_accounts.get(row["Account_No"])) if row["Account_No"] else None
        bal = company.gl_accounts.get(row["Bal_Account_No"]) if row["Bal_Account_No"] else None
        due = BLANK_DATE
        if row.get("Applies_to_Doc_No"):
            invoice = company.invoices.get(row["Applies_to_Doc_No"])
            due = invoice["Due_Date"] if invoice else BLANK_DATE
        amount = row["Amount"]
        computed = {
            "AppliesToDocNo": row.get("Applies_to_Doc_No", ""), "CommentField": row.get("Comment", ""),
            "AccName": (account or {}).get("Name", ""), "BalAccName": (bal or {}).get("Name", ""),
            "Applied_Yes_No": bool(row.get("Applies_to_Doc_No") or row.get("Applies_to_ID")),
            "GetAppliesToDocDueDate": due, "Amount_LCY": amount,
            "Debit_Amount": amount if amount > 0 else Decimal("0"),
            "Credit_Amount": -amount if amount < 0 else Decimal("0"), "CurrentJnlBatchName": "",
            "NumberOfJournalRecords": sum(1 for _ in company.journal_lines(row["Journal_Template_Name"],
                                                                           row["Journal_Batch_Name"])),
            **self._shortcut_dims(row, bracketed=False),
        }
        return self._project(page, row, computed)

    # -- row sources -----------------------------------------------------------------------
    def _lines_rows(self, after: Any = None) -> Iterator[tuple[Any, dict]]:
        invoices = self.company.invoices
        start = after[0] if after else None
        if after:
            invoice = invoices.get(after[0])
            for line in (invoice or {}).get("_lines", []):
                if line["Line_No"] > after[1]:
                    yield (line["Document_No"], line["Line_No"]), line
        for _, invoice in invoices.iter_from(start):
            for line in invoice.get("_lines", []):
                yield (line["Document_No"], line["Line_No"]), line

    def _lines_of(self, number: str, documents: str = "invoices"):
        """The rows of one posted document's lines (``documents``: the company's invoices or credit_memos)."""
        def rows(after: Any = None) -> Iterator[tuple[Any, dict]]:
            document = getattr(self.company, documents).get(number) or {}
            for line in document.get("_lines", []):
                key = (line["Document_No"], line["Line_No"])
                if after is None or key > tuple(after):
                    yield key, line

        return rows

    def _narrow_lines(self, text: str):
        return _narrow_to_document(text, self._lines_of)

    @staticmethod
    def _ledger_order(source):
        """Page 29's SourceTableView: sorting("Vendor No.", "Posting Date") order(descending)."""
        def rows(after: Any = None) -> Iterator[tuple[Any, dict]]:
            every = sorted(((row["Vendor_No"], row["Posting_Date"].isoformat(), row["Entry_No"]), row)
                           for _, row in source(None))
            every.reverse()
            for key, row in every:
                if after is None or key < tuple(after):
                    yield key, row

        return rows

    def _ledger_all(self, after: Any = None) -> Iterator[tuple[Any, dict]]:
        """Every entry in page 29's order; the sort keys are cached (they never change once posted), the rows
        are read lazily, so a page of a large:N ledger costs one page of rows."""
        company = self.company
        signature = (id(company), company.next_entry_no, len(company.vendor_ledger))
        if getattr(self, "_ledger_cache", (None,))[0] != signature:
            keys = sorted((row["Vendor_No"], row["Posting_Date"].isoformat(), row["Entry_No"])
                          for _, row in company.vendor_ledger.iter_from(None))
            self._ledger_cache = (signature, keys)
        keys = self._ledger_cache[1]
        end = len(keys) if after is None else bisect.bisect_left(keys, tuple(after))
        for index in range(end - 1, -1, -1):
            row = company.vendor_ledger.get(keys[index][2])
            if row is not None:
                yield keys[index], row

    def _narrow_ledger(self, text: str):
        narrowed = self._narrow_ledger_source(text)
        return self._ledger_order(narrowed) if narrowed is not None else None

    def _narrow_ledger_source(self, text: str):
        company = self.company
        if " or " in f" {text} ":
            return None
        match = re.search(r"Entry_No (gt|ge) (\d+)", text)
        if match:
            start = int(match.group(2)) - (1 if match.group(1) == "ge" else 0)
            return lambda after: company.vendor_ledger.iter_from(start)
        match = re.search(r"Document_No eq '([^']*)'", text)
        if match:
            invoice = company.invoices.get(match.group(1))
            seeded = company.vendor_ledger.count

            def rows(after: Any = None) -> Iterator[tuple[Any, dict]]:
                if invoice is not None and invoice.get("_vle") and (after is None or after < invoice["_vle"]):
                    if invoice["_vle"] <= seeded:
                        entry = company.vendor_ledger.get(invoice["_vle"])
                        if entry is not None:
                            yield invoice["_vle"], entry
                yield from company.vendor_ledger.iter_from(max(after or 0, seeded) if seeded else after)

            return rows
        return None

    # -- views -----------------------------------------------------------------------------
    def view(self, service: str) -> View | None:
        page = SERVICES.get(service)
        if service == f"PostedPurchaseInvoice{LINES_PART}":
            # the part's entity set is listed in $metadata and addressable on its own (ground truth §0.2)
            view = self._lines_view(service, self._lines_rows)
            view.narrow = self._narrow_lines
            return view
        if service == f"PostedPurchaseCreditMemo{CREDIT_LINES_PART}":
            return self._credit_lines_view(service, self._credit_lines_rows())
        if page is None:
            return None
        company = self.company
        fields = self.page_fields(page)
        keys = PAGE_KEYS.get(page, ("Primary_Key",))
        entity = f"NAV.{service}"
        if page in (26, 27):
            view = View(service, entity, fields, keys, company.vendors.iter_from,
                        lambda row, p=page: self.project_vendor(p, row),
                        get=lambda key: company.vendors.get(key[0]))
            if page == 26:
                view.insert = self._insert_vendor
                view.modify = self._modify_vendor
                view.delete = lambda row: company.delete_vendor(row["No"]) and None
            return view
        if page == 138:
            view = View(service, entity, fields, keys, company.invoices.iter_from,
                        lambda row: self._project(138, row), get=lambda key: company.invoices.get(key[0]))
            view.children[f"{service}{LINES_PART}"] = lambda row: self._lines_view(
                f"{service}{LINES_PART}", self._lines_of(row["No"]))
            return view
        if page == 139:
            view = self._lines_view(service, self._lines_rows)
            view.narrow = self._narrow_lines
            return view
        if page == 146:
            return View(service, entity, fields, keys, company.invoices.iter_from, self.project_invoice_list,
                        get=lambda key: company.invoices.get(key[0]), expandable=False)
        if page == 147:
            return View(service, entity, fields, keys, self._credit_memo_rows, self.project_credit_memo_list,
                        get=lambda key: company.credit_memos.get(key[0]), expandable=False)
        if page == 140:
            view = View(service, entity, fields, keys, self._credit_memo_rows, lambda row: self._project(140, row),
                        get=lambda key: company.credit_memos.get(key[0]))
            view.children[f"{service}{CREDIT_LINES_PART}"] = lambda row: self._credit_lines_view(
                f"{service}{CREDIT_LINES_PART}", self._credit_lines_rows(row["No"]))
            return view
        if page == 141:
            return self._credit_lines_view(service, self._credit_lines_rows())
        if page == 29:
            return View(service, entity, fields, keys, self._ledger_all,
                        lambda row: self._project(29, row), get=lambda key: company.vendor_ledger.get(key[0]),
                        narrow=self._narrow_ledger)
        if page == 16:
            return View(service, entity, fields, keys, company.gl_accounts.iter_from, self.project_account,
                        get=lambda key: company.gl_accounts.get(key[0]))
        if page == 536:
            return View(service, entity, fields, keys, company.dimensions.iter_from,
                        lambda row: self._project(536, row), get=lambda key: company.dimensions.get(key[0]))
        if page == 537:
            return View(service, entity, fields, keys, company.dimension_values.iter_from,
                        lambda row: self._project(537, row), get=lambda key: company.dimension_values.get(key))
        if page == 118:
            return View(service, entity, fields, ("Primary_Key",), lambda after: iter([("", company.setup)])
                        if after is None else iter(()), lambda row: self._project(118, row),
                        get=lambda key: company.setup if key == ("",) else None)
        if page == 256:
            return View(service, entity, fields, keys, company.journal.iter_from,
                        lambda row: self.project_journal(256, row), get=lambda key: company.journal.get(tuple(key)),
                        insert=self._insert_journal_line, modify=self._modify_journal_line,
                        delete=self._delete_journal_line)
        return None

    def _lines_view(self, name: str, rows) -> View:
        return View(name, f"NAV.{name}", self.page_fields(139), PAGE_KEYS[139], rows, self.project_line,
                    get=lambda key: next((line for k, line in rows(None) if k == tuple(key)), None))

    # -- writes ----------------------------------------------------------------------------
    _VENDOR_READ_ONLY = frozenset({"Balance_LCY", "BalanceAsCustomer", "Balance_Due_LCY", "Last_Date_Modified",
                                   "LookupAddress", "ShowMap"})

    def _vendor_values(self, body: dict, inserting: bool) -> dict:
        fields = set(self.page_fields(26))
        values = {}
        for name, value in body.items():
            if name not in fields:
                raise ODataError(400, "BadRequest",
                                 f"The property '{name}' does not exist on type 'NAV.Vendor'. Make sure to only use "
                                 "property names that are defined by the type.")
            if name in self._VENDOR_READ_ONLY:
                raise ODataError(400, "BadRequest_InvalidOperation", f"Control '{name}' is read-only.")
            if name == "No" and not inserting:
                raise ODataError(400, "BadRequest_InvalidOperation",
                                 "The key field 'No' cannot be changed with PATCH; use Rename in NAV.")
            values["Contact" if name == "Control16" else name] = convert(26, name, value, self.language)
        for name, value in values.items():
            if name in ("Name", "Address", "City") and isinstance(value, str) and len(value) > 100:
                raise ODataError(400, "Application_StringExceededLength",
                                 f"The length of the string is {len(value)}, but it must be less than or equal to 100 "
                                 f"characters. Value: {value[:20]}...")
        return values

    def _insert_vendor(self, body: dict) -> dict:
        values = self._vendor_values(body, inserting=True)
        company = self.company
        number = values.get("No") or company.new_vendor_no()
        if number in company.vendors:
            raise ODataError(400, "Internal_EntityWithSameKeyExists",
                             f"The Vendor already exists. Identification fields and values: No.='{number}'")
        row = {"No": number, "Blocked": " ", "Application_Method": "Manual", "Country_Region_Code": "",
               "Search_Name": str(values.get("Name", "")).upper()}
        row.update(values)
        row["No"] = number
        return company.store_vendor(row)

    def _modify_vendor(self, row: dict, body: dict) -> dict:
        values = self._vendor_values(body, inserting=False)
        updated = dict(row) | values
        return self.company.store_vendor(updated, change="updated")

    _JOURNAL_READ_ONLY = frozenset({"AccName", "BalAccName", "Balance", "TotalBalance", "NumberOfJournalRecords",
                                    "GetAppliesToDocDueDate", "Applied_Yes_No", "Amount_LCY", "CurrentJnlBatchName",
                                    "TotalExportedAmount", "Has_Payment_Export_Error", "GenJnlBatchApprovalStatus",
                                    "GenJnlLineApprovalStatus", "Job_Queue_Status", "Exported_to_Payment_File",
                                    "Check_Printed"})
    _JOURNAL_ALIASES = {"AppliesToDocNo": "Applies_to_Doc_No", "CommentField": "Comment"}

    def _journal_values(self, body: dict, inserting: bool, current: dict | None = None) -> tuple[dict, dict]:
        fields = set(self.page_fields(256))
        values, dims = {}, {}
        codes = self.company.shortcut_codes()
        for name, value in body.items():
            if name not in fields:
                raise ODataError(400, "BadRequest",
                                 f"The property '{name}' does not exist on type 'NAV.PaymentJournal'. Make sure to "
                                 "only use property names that are defined by the type.")
            if name in self._JOURNAL_READ_ONLY:
                raise ODataError(400, "BadRequest_InvalidOperation", f"Control '{name}' is read-only.")
            if not inserting and name in PAGE_KEYS[256]:
                raise ODataError(400, "BadRequest_InvalidOperation",
                                 f"The key field '{name}' cannot be changed with PATCH.")
            converted = convert(256, name, value, self.language)
            match = re.fullmatch(r"Shortcut_Dimension_(\d)_Code|ShortcutDimCode(\d)", name)
            if match:
                n = int(match.group(1) or match.group(2))
                code = codes[n - 1]
                if not code:
                    raise ODataError(400, "Application_DialogException",
                                     f"Shortcut dimension {n} is not set up in General Ledger Setup.")
                if converted and (code, converted) not in self.company.dimension_values:
                    raise ODataError(400, "Application_DialogException",
                                     f"{code} {converted} is not available.")
                dims[code] = converted
            elif name == "Debit_Amount":
                values["Amount"] = converted
            elif name == "Credit_Amount":
                values["Amount"] = -converted
            else:
                values[self._JOURNAL_ALIASES.get(name, name)] = converted
        return values, dims

    def _insert_journal_line(self, body: dict) -> dict:
        values, dims = self._journal_values(body, inserting=True)
        template = values.pop("Journal_Template_Name", "")
        batch = values.pop("Journal_Batch_Name", "")
        if template not in self.company.templates:
            raise ODataError(400, "Internal_RecordNotFound",
                             f"The Gen. Journal Template does not exist. Identification fields and values: "
                             f"Name='{template}'")
        if self.company.templates[template]["Type"] == "Payments" and "Document_Type" not in values:
            values["Document_Type"] = "Payment"  # SetUpNewLine (the page's OnNewRecord) in a payment journal
        if dims:
            values["Dimension_Set_ID"] = self.company.dimension_set_id(dims)
        try:
            return self.company.insert_journal_line(template, batch, values)
        except NavError as error:
            raise ODataError(error.status, error.code, error.message) from None

    def _modify_journal_line(self, row: dict, body: dict) -> dict:
        values, dims = self._journal_values(body, inserting=False)
        updated = dict(row) | values
        if dims:
            updated["Dimension_Set_ID"] = self.company.dimension_set_id(self.company.dims_of(row["Dimension_Set_ID"])
                                                                        | dims)
        try:
            self.company.validate_journal_line(updated)
        except NavError as error:
            raise ODataError(error.status, error.code, error.message) from None
        updated["_v"] = self.company.version()
        updated["SystemModifiedAt"] = self.company.now()
        key = (row["Journal_Template_Name"], row["Journal_Batch_Name"], row["Line_No"])
        self.company.journal.put(key, updated)
        return updated

    def _delete_journal_line(self, row: dict) -> None:
        self.company.journal.delete((row["Journal_Template_Name"], row["Journal_Batch_Name"], row["Line_No"]))


def _narrow_to_document(text: str, rows_of: Callable[[str], Callable]) -> Callable | None:
    """A lines page filtered on one document (``Document_No eq '...'``, no ``or``) reads only that document's
    lines: ``rows_of(number)``; any other filter: None (the whole page is filtered row by row)."""
    match = re.search(r"Document_No eq '([^']*)'", text)
    if match and " or " not in f" {text} ":
        return rows_of(match.group(1))
    return None
