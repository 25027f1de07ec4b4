"""The NAV sandbox's company: NAV *tables* in memory, and what NAV does to them (posting, applying).

Pages (``nav_pages.py``) and API v2.0 entity sets (``nav_api.py``) are projections of these tables; the
tables hold option values by their English AL value names (``"G/L Account"``) and use the classic OData
property names as column names where a page shows the column (``"No"``, ``"Buy_from_Vendor_No"``), plus
``SystemId`` / ``SystemModifiedAt`` as every BC table has them.

Tables: Vendor, Purch. Inv. Header/Line (posted; lines kept inside the header row as ``_lines``),
Purchase Header/Line (draft invoices, same shape), G/L Account, Dimension, Dimension Value, Dimension Set
Entry (``dimension_sets``), Gen. Journal Template/Batch/Line, Vendor Ledger Entry, G/L Entry, General
Ledger Setup.

Seeds: ``demo`` (the demo company of ``demo_data``), ``empty`` (setup only) and ``large:N`` (N vendors and
2N posted invoices with their vendor ledger entries, generated on demand by ``LazyTable``; records modified
one a second up to seeding).
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from app.sandbox import demo_data
from app.sandbox.nav_odata import LazyTable

EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
BLANK_DATE = date(1, 1, 1)
PAYABLES_ACCOUNT = "2110"  # vendor posting group DOMESTIC: Payables Account
BANK_GL_ACCOUNT = "2910"  # bank account posting group: G/L account of bank account CHECKING
BANK_ACCOUNT = "CHECKING"
GENERAL_TEMPLATE = "GENERAL"
PAYMENT_TEMPLATE = "PAYMENT"
CONNECTOR_BATCH = "BILL"
LARGE_VENDOR_ID = "00000000-0000-4000-8000-{:012d}"
LARGE_INVOICE_ID = "00000000-0000-4000-9000-{:012d}"


class NavError(Exception):
    """An error NAV raises while validating or posting; the HTTP layer turns it into an OData error."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


_URL_NAMESPACE = uuid.NAMESPACE_URL.bytes


def guid(kind: str, key: Any) -> str:
    """str(uuid.uuid5(uuid.NAMESPACE_URL, "navbill-sandbox:{kind}:{key}")), without building a UUID object
    (a page of 1,000 invoices makes thousands of them)."""
    digest = bytearray(hashlib.sha1(_URL_NAMESPACE + f"navbill-sandbox:{kind}:{key}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


Change = Callable[[str, str, str], None]  # (API entity set, API id, created|updated|deleted)


class NavCompany:
    def __init__(self, seed: str, clock: Any, on_change: Change | None = None) -> None:
        self.clock = clock
        self.on_change: Change = on_change or (lambda *_: None)
        self._versions = itertools.count(1000)
        self.seed_name = seed
        self._seed(seed)

    # -- helpers -------------------------------------------------------------------------
    def version(self) -> int:
        return next(self._versions)

    def now(self) -> datetime:
        return self.clock.now()

    def work_date(self) -> date:
        return self.clock.now().date()

    def dimension_set_id(self, dims: dict[str, str]) -> int:
        items = tuple(sorted((k, v) for k, v in dims.items() if v))
        if not items:
            return 0
        if items not in self._set_ids:
            new_id = len(self._set_ids) + 1
            self._set_ids[items] = new_id
            self.dimension_sets[new_id] = dict(items)
        return self._set_ids[items]

    def dims_of(self, set_id: int) -> dict[str, str]:
        return dict(self.dimension_sets.get(set_id or 0, {}))

    def shortcut_codes(self) -> list[str]:
        """Dimension codes of shortcut dimensions 1..8 (General Ledger Setup), '' where not set."""
        return [self.setup[f"Shortcut_Dimension_{n}_Code"] for n in range(1, 9)]

    # -- seeding -------------------------------------------------------------------------
    def _seed(self, seed: str) -> None:
        large = 0
        if seed.startswith("large:"):
            try:
                large = int(seed.split(":", 1)[1])
            except ValueError:
                raise ValueError(f"Unknown NAV seed '{seed}'; use demo, empty or large:N") from None
        elif seed not in ("demo", "empty"):
            raise ValueError(f"Unknown NAV seed '{seed}'; use demo, empty or large:N")
        now = self.now()
        seeded_at = now - timedelta(days=1)
        self.seeded_at = seeded_at
        self.dimension_sets: dict[int, dict[str, str]] = {}
        self._set_ids: dict[tuple, int] = {}
        self.vendor_ids: dict[str, str] = {}
        self.invoice_ids: dict[str, str] = {}  # API id -> posted No.
        self.draft_ids: dict[str, str] = {}  # API id -> draft No.
        self.vendors = self._large_vendors(large, seeded_at) if large else LazyTable()
        self.invoices = self._large_invoices(large, seeded_at) if large else LazyTable()
        self.vendor_ledger = self._large_ledger(large) if large else LazyTable()
        self.drafts = LazyTable()
        self.credit_memos: dict[str, dict] = {}  # Purch. Cr. Memo Hdr. (+ "_lines"), by No.; see post_credit_memo
        self.gl_accounts = LazyTable()
        self.dimensions = LazyTable()
        self.dimension_values = LazyTable()
        self.gl_entries = LazyTable()
        self.journal = LazyTable()
        self.templates: dict[str, dict] = {}
        self.batches: dict[tuple[str, str], dict] = {}
        self.next_entry_no = 2 * large + 1
        self.next_gl_entry_no = 1
        self.next_vendor_no = 10000
        self.next_invoice_no = 109001
        self.next_draft_no = 1003
        self.setup = {
            "Primary_Key": "", "Allow_Posting_From": date(demo_data.DEMO_TODAY.year, 1, 1),
            "Allow_Posting_To": BLANK_DATE, "LCY_Code": "USD", "Local_Currency_Symbol": "$",
            "Local_Currency_Description": "US dollar", "SystemModifiedAt": seeded_at, "_v": 1,
        }
        for n in range(1, 9):
            code = demo_data.SHORTCUT_DIMENSIONS[n - 1] if n <= len(demo_data.SHORTCUT_DIMENSIONS) else ""
            self.setup[f"Shortcut_Dimension_{n}_Code"] = code
        self.setup["Global_Dimension_1_Code"] = demo_data.GLOBAL_DIMENSIONS[0]
        self.setup["Global_Dimension_2_Code"] = demo_data.GLOBAL_DIMENSIONS[1]
        if large:
            self.dimension_set_id({"DEPARTMENT": "PROD"})  # set 1, used by every large:N line
        self._seed_setup(seeded_at)
        if seed == "demo":
            self._seed_demo(seeded_at)

    def _seed_setup(self, seeded_at: datetime) -> None:
        for index, account in enumerate(demo_data.DEMO_GL_ACCOUNTS):
            balance_sheet = account.income_balance == "Balance Sheet"
            category = ("Liabilities" if account.number.startswith("2") and account.number != BANK_GL_ACCOUNT
                        else "Assets" if balance_sheet
                        else "Cost of Goods Sold" if account.number.startswith("5") else "Expense")
            totaling = "5000..5999" if account.account_type == "End-Total" else ""
            row = {"No": account.number, "Name": account.name, "Account_Type": account.account_type,
                   "Income_Balance": account.income_balance, "Account_Category": category,
                   "Direct_Posting": account.account_type == "Posting" and account.number != PAYABLES_ACCOUNT,
                   "Blocked": False, "Totaling": totaling, "Gen_Posting_Type": " ",
                   "SystemId": guid("account", account.number),
                   "SystemModifiedAt": seeded_at + timedelta(seconds=index), "_v": 1}
            self.gl_accounts.put(account.number, row)
        for index, (code, (name, values)) in enumerate(demo_data.DEMO_DIMENSIONS.items()):
            self.dimensions.put(code, {"Code": code, "Name": name, "Code_Caption": name,
                                       "Filter_Caption": f"{name} Filter", "Description": "", "Blocked": False,
                                       "SystemId": guid("dimension", code),
                                       "SystemModifiedAt": seeded_at + timedelta(seconds=index), "_v": 1})
            for value_code, value_name in values:
                self.dimension_values.put((code, value_code), {
                    "Dimension_Code": code, "Code": value_code, "Name": value_name,
                    "Dimension_Value_Type": "Standard", "Totaling": "", "Blocked": False,
                    "SystemId": guid("dimension-value", f"{code}/{value_code}"),
                    "SystemModifiedAt": seeded_at + timedelta(seconds=index), "_v": 1})
        self.templates = {
            GENERAL_TEMPLATE: {"Name": GENERAL_TEMPLATE, "Description": "General", "Type": "General",
                               "Page_ID": 39, "Recurring": False},
            PAYMENT_TEMPLATE: {"Name": PAYMENT_TEMPLATE, "Description": "Payments", "Type": "Payments",
                               "Page_ID": 256, "Recurring": False},
        }
        self.create_batch(GENERAL_TEMPLATE, "DEFAULT", "Default Journal Batch", when=seeded_at)
        self.create_batch(PAYMENT_TEMPLATE, "DEFAULT", "Default Journal Batch", "G/L Account", BANK_GL_ACCOUNT,
                          when=seeded_at)
        self.create_batch(PAYMENT_TEMPLATE, CONNECTOR_BATCH, "Payments from BILL", "G/L Account", BANK_GL_ACCOUNT,
                          when=seeded_at)

    def _seed_demo(self, seeded_at: datetime) -> None:
        for index, vendor in enumerate(demo_data.demo_vendors()):
            self.store_vendor({
                "No": vendor.number, "Name": vendor.name, "Search_Name": vendor.name.upper(),
                "Address": vendor.address, "Address_2": "", "City": vendor.city, "County": vendor.state,
                "Post_Code": vendor.postal_code, "Country_Region_Code": "US", "E_Mail": vendor.email,
                "Phone_No": vendor.phone, "Federal_ID_No": vendor.tax_id, "VAT_Registration_No": vendor.tax_id,
                "IRS_1099_Code": "MISC-07" if vendor.is_1099 else "", "Blocked": "All" if vendor.blocked else " ",
                "Vendor_Posting_Group": "DOMESTIC", "Gen_Bus_Posting_Group": "DOMESTIC", "Payment_Terms_Code": "NET30",
                "Application_Method": "Manual",
            }, when=seeded_at - timedelta(hours=2) + timedelta(seconds=index), notify=False)
        for index, invoice in enumerate(demo_data.demo_posted_invoices()):
            self.post_purchase_invoice(invoice, when=seeded_at - timedelta(hours=1) + timedelta(seconds=index),
                                       notify=False)
        for index, invoice in enumerate(demo_data.demo_draft_invoices()):
            self.store_draft(invoice, when=seeded_at + timedelta(seconds=index), notify=False)
        # The clerk's own journal lines: in the PAYMENT template's DEFAULT batch and in the general journal.
        # Over OData page 256 shows them to anyone who does not filter on template AND batch.
        first_open = next(iter(demo_data.demo_posted_invoices()[20:21]))
        self.insert_journal_line(PAYMENT_TEMPLATE, "DEFAULT", {
            "Posting_Date": demo_data.DEMO_TODAY, "Document_Type": "Payment", "Document_No": "PAY-0001",
            "Account_Type": "Vendor", "Account_No": first_open.vendor_number, "Amount": Decimal("100.00"),
            "Description": "Partial payment by check (clerk)", "Applies_to_Doc_Type": "Invoice",
            "Applies_to_Doc_No": first_open.number}, when=seeded_at)
        self.insert_journal_line(PAYMENT_TEMPLATE, "DEFAULT", {
            "Posting_Date": demo_data.DEMO_TODAY, "Document_Type": "Payment", "Document_No": "PAY-0002",
            "Account_Type": "Vendor", "Account_No": "V00090", "Amount": Decimal("250.00"),
            "Description": "Deposit, not applied yet (clerk)"}, when=seeded_at)
        self.insert_journal_line(GENERAL_TEMPLATE, "DEFAULT", {
            "Posting_Date": demo_data.DEMO_TODAY, "Document_Type": " ", "Document_No": "G00001",
            "Account_Type": "G/L Account", "Account_No": "6200", "Amount": Decimal("42.10"),
            "Description": "Petty cash: toner", "Bal_Account_Type": "G/L Account",
            "Bal_Account_No": BANK_GL_ACCOUNT}, when=seeded_at)
        self.insert_journal_line(GENERAL_TEMPLATE, "DEFAULT", {
            "Posting_Date": demo_data.DEMO_TODAY, "Document_Type": "Payment", "Document_No": "G00002",
            "Account_Type": "Vendor", "Account_No": "V00110", "Amount": Decimal("75.00"),
            "Description": "Refund of overpayment (clerk)", "Bal_Account_Type": "G/L Account",
            "Bal_Account_No": BANK_GL_ACCOUNT}, when=seeded_at)

    def _large_vendors(self, count: int, seeded_at: datetime) -> LazyTable:
        def make(index: int) -> dict:
            i = index + 1
            modified = seeded_at - timedelta(seconds=count - i)
            return {"No": f"L{i:07d}", "Name": f"Bench Vendor {i:07d}", "Search_Name": f"BENCH VENDOR {i:07d}",
                    "Address": f"{i} Bench St", "Address_2": "", "City": "Pittsburgh", "County": "PA",
                    "Post_Code": "15222", "Country_Region_Code": "US", "E_Mail": f"v{i}@bench.example",
                    "Phone_No": f"555-{i % 10000:04d}", "Federal_ID_No": "", "VAT_Registration_No": "",
                    "IRS_1099_Code": "", "Blocked": " ", "Vendor_Posting_Group": "DOMESTIC",
                    "Gen_Bus_Posting_Group": "DOMESTIC", "Application_Method": "Manual",
                    "Balance_LCY": Decimal(100 + (2 * i - 1) % 500) + Decimal(100 + (2 * i) % 500),
                    "Last_Date_Modified": modified.date(), "SystemModifiedAt": modified,
                    "SystemId": LARGE_VENDOR_ID.format(i), "_v": 1}

        return LazyTable(count, lambda index: f"L{index + 1:07d}", make, lambda key: int(key[1:]) - 1)

    def _large_invoices(self, vendors: int, seeded_at: datetime) -> LazyTable:
        start = demo_data.DEMO_TODAY - timedelta(days=90)

        def make(index: int) -> dict:
            n = index + 1
            vendor = (index // 2) + 1
            amount = Decimal(100 + n % 500)
            posting = start + timedelta(days=n % 60)
            number = f"B{n:08d}"
            return {"No": number, "Buy_from_Vendor_No": f"L{vendor:07d}", "Pay_to_Vendor_No": f"L{vendor:07d}",
                    "Buy_from_Vendor_Name": f"Bench Vendor {vendor:07d}", "Pay_to_Name": f"Bench Vendor {vendor:07d}",
                    "Vendor_Invoice_No": f"BI-{vendor}-{index % 2}", "Posting_Date": posting, "Document_Date": posting,
                    "Due_Date": start + timedelta(days=30 + n % 60), "Currency_Code": "", "Amount": amount,
                    "Amount_Including_VAT": amount, "Shortcut_Dimension_1_Code": "PROD",
                    "Shortcut_Dimension_2_Code": "", "Dimension_Set_ID": 1, "Cancelled": False, "Corrective": False,
                    "Payment_Terms_Code": "NET30", "_vle": n,
                    "SystemModifiedAt": seeded_at - timedelta(seconds=2 * vendors - n),
                    "SystemId": LARGE_INVOICE_ID.format(n), "Draft_Invoice_SystemId": EMPTY_GUID, "_v": 1,
                    "_lines": [{"Document_No": number, "Line_No": 10000, "Type": "G/L Account", "No": "5110",
                                "Description": "Bench material", "Quantity": Decimal(1), "Direct_Unit_Cost": amount,
                                "Line_Amount": amount, "Amount": amount, "Amount_Including_VAT": amount,
                                "Unit_of_Measure_Code": "", "Shortcut_Dimension_1_Code": "PROD",
                                "Shortcut_Dimension_2_Code": "", "Dimension_Set_ID": 1,
                                "SystemId": guid("invoice-line", f"{number}/10000")}]}

        return LazyTable(2 * vendors, lambda index: f"B{index + 1:08d}", make, lambda key: int(key[1:]) - 1)

    def _large_ledger(self, vendors: int) -> LazyTable:
        def make(index: int) -> dict:
            invoice = self.invoices.get(f"B{index + 1:08d}")
            return self._invoice_entry(index + 1, invoice)

        return LazyTable(2 * vendors, lambda index: index + 1, make, lambda key: int(key) - 1)

    # -- vendors -------------------------------------------------------------------------
    def store_vendor(self, row: dict, when: datetime | None = None, notify: bool = True,
                     change: str = "created") -> dict:
        when = when or self.now()
        row.setdefault("SystemId", guid("vendor", row["No"]))
        row["SystemModifiedAt"] = when
        row["Last_Date_Modified"] = when.date()
        row.setdefault("Balance_LCY", Decimal("0"))
        row["_v"] = self.version()
        self.vendors.put(row["No"], row)
        self.vendor_ids[row["SystemId"]] = row["No"]
        if notify:
            self.on_change("vendors", row["SystemId"], change)
        return row

    def vendor_by_id(self, vendor_id: str) -> dict | None:
        number = self.vendor_ids.get(vendor_id)
        if number is None and vendor_id.startswith("00000000-0000-4000-8000-"):
            number = f"L{int(vendor_id[-12:]):07d}"
        row = self.vendors.get(number) if number else None
        return row if row is not None and row["SystemId"] == vendor_id else None

    def new_vendor_no(self) -> str:
        while f"V{self.next_vendor_no:05d}" in self.vendors:
            self.next_vendor_no += 10
        return f"V{self.next_vendor_no:05d}"

    def delete_vendor(self, number: str) -> dict:
        row = self.vendors.get(number)
        if row is None:
            raise KeyError(number)
        self.vendors.delete(number)
        self.vendor_ids.pop(row["SystemId"], None)
        self.on_change("vendors", row["SystemId"], "deleted")
        return row

    # -- purchase invoices ---------------------------------------------------------------
    def _document_rows(self, invoice: demo_data.DemoInvoice, posted: bool) -> tuple[dict, list[dict]]:
        vendor = self.vendors.get(invoice.vendor_number)
        if vendor is None:
            raise NavError(400, "Internal_RecordNotFound",
                           f"The Vendor does not exist. Identification fields and values: No.='{invoice.vendor_number}'")
        codes = self.shortcut_codes()
        lines = []
        for line in invoice.lines:
            dims = dict(line.dimensions)
            set_id = self.dimension_set_id(dims)
            row = {"Document_No": invoice.number, "Line_No": line.line_no * 10000,
                   "Type": line.line_type, "No": line.gl_account,
                   "Description": line.description, "Quantity": line.quantity, "Direct_Unit_Cost": line.unit_cost,
                   "Unit_of_Measure_Code": "", "Line_Amount": line.amount, "Amount": line.amount,
                   "Amount_Including_VAT": line.amount, "Dimension_Set_ID": set_id,
                   "SystemId": guid("invoice-line" if posted else "draft-line", f"{invoice.number}/{line.line_no}")}
            for n, code in enumerate(codes, start=1):
                value = dims.get(code, "") if code else ""
                if n <= 2:
                    row[f"Shortcut_Dimension_{n}_Code"] = value
                else:
                    row[f"ShortcutDimCode_x005B_{n}_x005D_"] = value
            lines.append(row)
        amount = sum((line["Amount"] for line in lines), Decimal("0"))
        # The header's dimensions (from the vendor's defaults in NAV): here those of the first line.
        header_set = lines[0]["Dimension_Set_ID"] if lines else 0
        first_dims = self.dims_of(header_set)
        header = {
            "No": invoice.number, "Buy_from_Vendor_No": invoice.vendor_number, "Pay_to_Vendor_No": invoice.vendor_number,
            "Buy_from_Vendor_Name": vendor["Name"], "Pay_to_Name": vendor["Name"],
            "Buy_from_Address": vendor.get("Address", ""), "Buy_from_City": vendor.get("City", ""),
            "Buy_from_County": vendor.get("County", ""), "Buy_from_Post_Code": vendor.get("Post_Code", ""),
            "Buy_from_Country_Region_Code": vendor.get("Country_Region_Code", ""),
            "Pay_to_Address": vendor.get("Address", ""), "Pay_to_City": vendor.get("City", ""),
            "Pay_to_County": vendor.get("County", ""), "Pay_to_Post_Code": vendor.get("Post_Code", ""),
            "Pay_to_Country_Region_Code": vendor.get("Country_Region_Code", ""),
            "Vendor_Invoice_No": invoice.vendor_invoice_number, "Posting_Date": invoice.posting_date,
            "Document_Date": invoice.posting_date, "Due_Date": invoice.due_date,
            "Currency_Code": getattr(invoice, "currency_code", ""), "Amount": amount, "Amount_Including_VAT": amount,
            "Shortcut_Dimension_1_Code": first_dims.get(codes[0], ""),
            "Shortcut_Dimension_2_Code": first_dims.get(codes[1], ""), "Dimension_Set_ID": header_set,
            "Payment_Terms_Code": vendor.get("Payment_Terms_Code", ""), "Cancelled": False, "Corrective": False,
            "Vendor_Posting_Group": vendor.get("Vendor_Posting_Group", ""), "_lines": lines,
        }
        return header, lines

    def post_credit_memo(self, memo: demo_data.DemoInvoice, when: datetime | None = None) -> dict:
        """A posted purchase credit memo (Purch. Cr. Memo Hdr./Line), as API v2.0 purchaseCreditMemos and pages
        147/140/141 show it, with its vendor ledger entry (Document Type Credit Memo, a positive amount, open until
        a journal line applied to it closes it). Not simulated: its G/L entries."""
        when = when or self.now()
        header, lines = self._document_rows(memo, posted=True)
        for line in lines:
            line["SystemId"] = guid("credit-memo-line", f"{memo.number}/{line['Line_No']}")
        header["Vendor_Cr_Memo_No"] = header.pop("Vendor_Invoice_No")
        header["SystemId"] = guid("credit-memo", memo.number)
        header["SystemModifiedAt"] = when
        entry_no = self.next_entry_no
        self.next_entry_no += 1
        header["_vle"] = entry_no
        amount = header["Amount_Including_VAT"]
        entry = self._invoice_entry(entry_no, {**header, "Vendor_Invoice_No": header["Vendor_Cr_Memo_No"]})
        entry.update({"Document_Type": "Credit Memo", "Description": f"Credit Memo {memo.number}",
                      "Original_Amount": amount, "Original_Amt_LCY": amount, "Amount": amount, "Amount_LCY": amount,
                      "Debit_Amount": amount, "Debit_Amount_LCY": amount, "Credit_Amount": Decimal("0"),
                      "Credit_Amount_LCY": Decimal("0"), "Remaining_Amount": amount, "Remaining_Amt_LCY": amount,
                      "_v": self.version()})
        self.vendor_ledger.put(entry_no, entry)
        self._add_balance(memo.vendor_number, -amount)
        self.credit_memos[memo.number] = header
        self.on_change("purchaseCreditMemos", header["SystemId"], "created")
        return header

    def new_credit_memo_no(self) -> str:
        number = 109001 + len(self.credit_memos)
        while str(number) in self.credit_memos:
            number += 1
        return str(number)

    def post_purchase_invoice(self, invoice: demo_data.DemoInvoice, when: datetime | None = None,
                              notify: bool = True, draft: dict | None = None) -> dict:
        """Post an invoice: Purch. Inv. Header/Lines, the vendor ledger entry, G/L entries, vendor balance."""
        when = when or self.now()
        header, lines = self._document_rows(invoice, posted=True)
        header["SystemId"] = guid("invoice", invoice.number)
        header["Draft_Invoice_SystemId"] = draft["SystemId"] if draft else EMPTY_GUID
        header["Pre_Assigned_No"] = draft["No"] if draft else ""
        header["SystemModifiedAt"] = when
        header["_v"] = self.version()
        entry_no = self.next_entry_no
        self.next_entry_no += 1
        header["_vle"] = entry_no
        self.invoices.put(invoice.number, header)
        api_id = self.invoice_api_id(header)
        self.invoice_ids[api_id] = invoice.number
        entry = self._invoice_entry(entry_no, header) | {"_v": self.version()}
        self.vendor_ledger.put(entry_no, entry)
        # Item lines post through the inventory posting setup; here to Raw Materials.
        entries = [self._gl_entry(line["No"] if line["Type"] == "G/L Account" else "5110", header["Posting_Date"],
                                  "Invoice", invoice.number, line["Description"], line["Amount"],
                                  line["Dimension_Set_ID"], "Vendor", invoice.vendor_number, when) for line in lines]
        entries.append(self._gl_entry(PAYABLES_ACCOUNT, header["Posting_Date"], "Invoice", invoice.number,
                                      f"Invoice {invoice.number}", -header["Amount_Including_VAT"], 0, "Vendor",
                                      invoice.vendor_number, when))
        self._add_balance(invoice.vendor_number, header["Amount_Including_VAT"])
        if notify:
            self.on_change("purchaseInvoices", api_id, "updated" if draft else "created")
            for entry in entries:
                self.on_change("generalLedgerEntries", entry["SystemId"], "created")
        return header

    @staticmethod
    def invoice_api_id(header: dict) -> str:
        """purchaseInvoices id of a posted invoice: the draft's id when it was a draft (ground truth §1.2)."""
        draft_id = header.get("Draft_Invoice_SystemId") or EMPTY_GUID
        return draft_id if draft_id != EMPTY_GUID else header["SystemId"]

    def store_draft(self, invoice: demo_data.DemoInvoice, when: datetime | None = None, notify: bool = True) -> dict:
        when = when or self.now()
        header, _ = self._document_rows(invoice, posted=False)
        header.update({"Document_Type": "Invoice", "Status": "Open", "SystemId": guid("draft", invoice.number),
                       "SystemModifiedAt": when, "_v": self.version()})
        self.drafts.put(invoice.number, header)
        self.draft_ids[header["SystemId"]] = invoice.number
        if notify:
            self.on_change("purchaseInvoices", header["SystemId"], "created")
        return header

    def post_draft(self, number: str) -> dict:
        """Post a draft purchase invoice: its API id stays, its number becomes the next posted number."""
        draft = self.drafts.get(number)
        if draft is None:
            raise KeyError(number)
        if not draft["_lines"]:
            raise NavError(400, "Application_DialogException", "There is nothing to post.")
        self.check_posting_date(draft["Posting_Date"], f"Purchase Header Document Type='Invoice',No.='{number}'")
        posted_no = self.new_posted_invoice_no()
        invoice = demo_data.DemoInvoice(
            posted_no, draft["Buy_from_Vendor_No"], draft["Vendor_Invoice_No"], draft["Posting_Date"],
            draft["Due_Date"], tuple(demo_data.DemoInvoiceLine(
                line["Line_No"] // 10000, line["No"], line["Description"], line["Quantity"],
                line["Direct_Unit_Cost"], self.dims_of(line["Dimension_Set_ID"]), line["Type"])
                for line in draft["_lines"]))
        self.drafts.delete(number)
        self.draft_ids.pop(draft["SystemId"], None)
        return self.post_purchase_invoice(invoice, draft=draft)

    def new_posted_invoice_no(self) -> str:
        while str(self.next_invoice_no) in self.invoices:
            self.next_invoice_no += 1
        number = str(self.next_invoice_no)
        self.next_invoice_no += 1
        return number

    def invoice_by_api_id(self, api_id: str) -> tuple[str, dict] | None:
        """("posted"|"draft", row) for a purchaseInvoices id."""
        number = self.invoice_ids.get(api_id)
        if number is None and api_id.startswith("00000000-0000-4000-9000-"):
            number = f"B{int(api_id[-12:]):08d}"
        if number is not None:
            row = self.invoices.get(number)
            if row is not None and self.invoice_api_id(row) == api_id:
                return "posted", row
        number = self.draft_ids.get(api_id)
        row = self.drafts.get(number) if number else None
        return ("draft", row) if row is not None else None

    def invoice_entry(self, header: dict) -> dict | None:
        return self.vendor_ledger.get(header.get("_vle"))

    def invoice_open(self, header: dict) -> bool:
        """Whether the invoice's ledger entry is open (True without one), as invoice_entry()'s "Open" says; a
        seeded entry nobody changed is one _invoice_entry makes, always open, so it is not built to be read."""
        ledger = self.vendor_ledger
        key = header.get("_vle")
        if key not in ledger.overrides and ledger.is_seeded(key):
            return True
        return (ledger.get(key) or {}).get("Open", True)

    def _invoice_entry(self, entry_no: int, invoice: dict) -> dict:
        amount = -invoice["Amount_Including_VAT"]
        vendor = self.vendors.get(invoice["Buy_from_Vendor_No"]) or {}
        dims = self.dims_of(invoice.get("Dimension_Set_ID", 0))
        return {"Entry_No": entry_no, "Posting_Date": invoice["Posting_Date"], "Document_Date": invoice["Document_Date"],
                "Document_Type": "Invoice", "Document_No": invoice["No"],
                "External_Document_No": invoice["Vendor_Invoice_No"], "Vendor_No": invoice["Buy_from_Vendor_No"],
                "Vendor_Name": vendor.get("Name", invoice.get("Buy_from_Vendor_Name", "")),
                "Description": f"Invoice {invoice['No']}", "Currency_Code": invoice.get("Currency_Code", ""),
                "Vendor_Posting_Group": "DOMESTIC", "Original_Amount": amount, "Original_Amt_LCY": amount,
                "Amount": amount, "Amount_LCY": amount, "Debit_Amount": Decimal("0"),
                "Debit_Amount_LCY": Decimal("0"), "Credit_Amount": -amount, "Credit_Amount_LCY": -amount,
                "Remaining_Amount": amount, "Remaining_Amt_LCY": amount, "Due_Date": invoice["Due_Date"],
                "Open": True, "Dimension_Set_ID": invoice.get("Dimension_Set_ID", 0),
                "Global_Dimension_1_Code": dims.get(self.setup["Global_Dimension_1_Code"], ""),
                "Global_Dimension_2_Code": dims.get(self.setup["Global_Dimension_2_Code"], ""),
                "Bal_Account_Type": "G/L Account", "User_ID": "ADMIN", "Source_Code": "PURCHASES",
                "SystemId": guid("vle", entry_no), "_v": 1}

    def _add_balance(self, vendor_no: str, amount: Decimal) -> None:
        vendor = self.vendors.get(vendor_no)
        if vendor is not None:
            updated = dict(vendor)
            updated["Balance_LCY"] = vendor.get("Balance_LCY", Decimal("0")) + amount
            self.vendors.put(vendor_no, updated)  # a FlowField: no new Last Date Modified, no notification

    def _gl_entry(self, account: str, posting: date, document_type: str, document_no: str, description: str,
                  amount: Decimal, set_id: int, source_type: str, source_no: str, when: datetime) -> dict:
        entry_no = self.next_gl_entry_no
        self.next_gl_entry_no += 1
        row = {"Entry_No": entry_no, "G_L_Account_No": account, "Posting_Date": posting,
               "Document_Type": document_type, "Document_No": document_no, "Description": description,
               "Amount": amount, "Debit_Amount": amount if amount > 0 else Decimal("0"),
               "Credit_Amount": -amount if amount < 0 else Decimal("0"), "Dimension_Set_ID": set_id,
               "Source_Type": source_type, "Source_No": source_no, "SystemId": guid("gl-entry", entry_no),
               "SystemModifiedAt": when, "_v": 1}
        self.gl_entries.put(entry_no, row)
        return row

    # -- journals ------------------------------------------------------------------------
    def create_batch(self, template: str, name: str, description: str = "", bal_type: str = "G/L Account",
                     bal_no: str = "", when: datetime | None = None) -> dict:
        if template not in self.templates:
            raise NavError(400, "Internal_RecordNotFound",
                           f"The Gen. Journal Template does not exist. Identification fields and values: "
                           f"Name='{template}'")
        if (template, name) in self.batches:
            raise NavError(400, "Internal_EntityWithSameKeyExists",
                           f"The Gen. Journal Batch already exists. Identification fields and values: "
                           f"Journal Template Name='{template}',Name='{name}'")
        row = {"Journal_Template_Name": template, "Name": name, "Description": description or name,
               "Bal_Account_Type": bal_type, "Bal_Account_No": bal_no,
               "SystemId": guid("batch", f"{template}/{name}/{len(self.batches)}/{self.seed_name}"),
               "SystemModifiedAt": when or self.now(), "_v": self.version()}
        self.batches[(template, name)] = row
        return row

    def batch_by_id(self, batch_id: str) -> dict | None:
        return next((row for row in self.batches.values() if row["SystemId"] == batch_id), None)

    def journal_lines(self, template: str | None = None, batch: str | None = None) -> Iterator[tuple[Any, dict]]:
        for key, row in self.journal.iter_from(None):
            if (template is None or key[0] == template) and (batch is None or key[1] == batch):
                yield key, row

    def journal_line_by_id(self, line_id: str) -> tuple[Any, dict] | None:
        return next(((key, row) for key, row in self.journal.iter_from(None) if row["SystemId"] == line_id), None)

    def insert_journal_line(self, template: str, batch: str, values: dict, when: datetime | None = None) -> dict:
        """Gen. Journal Line OnInsert/SetUpNewLine + field validation, as a page insert runs them."""
        batch_row = self.batches.get((template, batch))
        if batch_row is None:
            raise NavError(400, "Internal_RecordNotFound",
                           f"The Gen. Journal Batch does not exist. Identification fields and values: "
                           f"Journal Template Name='{template}',Name='{batch}'")
        line_no = values.get("Line_No") or 0
        if not line_no:
            last = max((k[2] for k, _ in self.journal_lines(template, batch)), default=0)
            line_no = last + 10000
        key = (template, batch, line_no)
        if key in self.journal:
            raise NavError(400, "Internal_EntityWithSameKeyExists",
                           f"The Gen. Journal Line already exists. Identification fields and values: "
                           f"Journal Template Name='{template}',Journal Batch Name='{batch}',Line No.='{line_no}'")
        row = {"Journal_Template_Name": template, "Journal_Batch_Name": batch, "Line_No": line_no,
               "Posting_Date": self.work_date(), "Document_Date": BLANK_DATE, "Document_Type": " ",
               "Document_No": "", "External_Document_No": "", "Account_Type": "G/L Account", "Account_No": "",
               "Description": "", "Amount": Decimal("0"), "Currency_Code": "",
               "Bal_Account_Type": batch_row["Bal_Account_Type"], "Bal_Account_No": batch_row["Bal_Account_No"],
               "Applies_to_Doc_Type": " ", "Applies_to_Doc_No": "", "Applies_to_ID": "", "Comment": "",
               "Dimension_Set_ID": 0, "Bank_Payment_Type": " ", "Gen_Posting_Type": " ",
               "Bal_Gen_Posting_Type": " ",
               "SystemId": str(uuid.uuid4()), "Journal_Batch_Id": batch_row["SystemId"]}
        row.update({k: v for k, v in values.items() if k not in ("Journal_Template_Name", "Journal_Batch_Name",
                                                                 "Line_No")})
        self.validate_journal_line(row)
        row["SystemModifiedAt"] = when or self.now()
        row["_v"] = self.version()
        self.journal.put(key, row)
        return row

    def validate_journal_line(self, row: dict) -> None:
        account_type, account_no = row["Account_Type"], row["Account_No"]
        if account_no:
            table, label = ((self.vendors, "Vendor") if account_type == "Vendor"
                            else (self.gl_accounts, "G/L Account") if account_type == "G/L Account" else (None, ""))
            if table is not None and account_no not in table:
                raise NavError(400, "Internal_InvalidTableRelation",
                               f"The field Account No. of table Gen. Journal Line contains a value ({account_no}) "
                               f"that cannot be found in the related table ({label}).")
            if account_type == "Vendor" and not row.get("Description"):
                row["Description"] = self.vendors.get(account_no)["Name"]
        if row.get("Applies_to_Doc_No"):
            entry = self.open_document_entry(row["Applies_to_Doc_No"], account_no if account_type == "Vendor" else None)
            if entry is None:
                raise NavError(400, "Application_DialogException",
                               f"The Vendor Ledger Entry does not exist. Identification fields and values: "
                               f"Document No.='{row['Applies_to_Doc_No']}'")
            if row.get("Applies_to_Doc_Type", " ") == " ":
                row["Applies_to_Doc_Type"] = entry["Document_Type"]

    def open_document_entry(self, document_no: str, vendor_no: str | None) -> dict | None:
        invoice = self.invoices.get(document_no)
        if invoice is not None:
            entry = self.invoice_entry(invoice)
            if entry is not None and entry["Open"] and (vendor_no is None or entry["Vendor_No"] == vendor_no):
                return entry
            return None
        for _, entry in self.vendor_ledger.iter_from(self.vendor_ledger.count or None):
            if entry["Document_No"] == document_no and entry["Open"] and (vendor_no in (None, entry["Vendor_No"])):
                return entry
        return None

    def check_posting_date(self, posting: date, record: str) -> None:
        start, end = self.setup["Allow_Posting_From"], self.setup["Allow_Posting_To"]
        if (start != BLANK_DATE and posting < start) or (end != BLANK_DATE and posting > end):
            raise NavError(400, "Application_DialogException",
                           f"Posting Date is not within your range of allowed posting dates in {record}.")

    def post_batch(self, template: str, batch: str) -> list[dict]:
        """Codeunit Gen. Jnl.-Post on a whole batch: every line, checked first, then written (one transaction).

        Vendor lines become vendor ledger entries (payments positive), applied to the entry named by
        Applies-to Doc. No. (its Remaining Amount goes toward 0; Open = false at 0); G/L entries on the
        payables account and the balancing account; the lines are deleted.
        """
        lines = list(self.journal_lines(template, batch))
        if not lines:
            raise NavError(400, "Application_DialogException", "There is nothing to post.")
        remaining: dict[int, Decimal] = {}
        plan = []
        for _, line in lines:
            where = (f"Gen. Journal Line Journal Template Name='{template}',Journal Batch Name='{batch}',"
                     f"Line No.='{line['Line_No']}'")
            if not line["Document_No"]:
                raise NavError(400, "Application_FieldValidationException",
                               f"Document No. must have a value in {where}. It cannot be zero or empty.")
            if not line["Account_No"]:
                raise NavError(400, "Application_FieldValidationException",
                               f"Account No. must have a value in {where}. It cannot be zero or empty.")
            if line["Amount"] in (None, Decimal("0")):
                raise NavError(400, "Application_FieldValidationException",
                               f"Amount must have a value in {where}. It cannot be zero or empty.")
            self.check_posting_date(line["Posting_Date"], where)
            applied_entry = None
            if line["Account_Type"] == "Vendor" and line.get("Applies_to_Doc_No"):
                applied_entry = self.open_document_entry(line["Applies_to_Doc_No"], line["Account_No"])
                if applied_entry is None:
                    raise NavError(400, "Application_DialogException",
                                   f"Cannot apply to {line['Applies_to_Doc_Type'].strip() or 'document'} "
                                   f"{line['Applies_to_Doc_No']}: there is no open vendor ledger entry for vendor "
                                   f"{line['Account_No']} with that document number ({where}).")
                remaining.setdefault(applied_entry["Entry_No"], applied_entry["Remaining_Amount"])
            plan.append((line, applied_entry))
        when = self.now()
        posted = []
        for line, applied_entry in plan:
            amount = line["Amount"]
            document_type = line["Document_Type"]
            if line["Account_Type"] == "Vendor":
                entry_no = self.next_entry_no
                self.next_entry_no += 1
                rest = amount
                if applied_entry is not None:
                    before = remaining[applied_entry["Entry_No"]]
                    if before < 0:  # an invoice: a positive line pays it
                        applied = min(amount, -before) if amount > 0 else Decimal("0")
                    else:  # a credit memo: a negative line uses it up
                        applied = max(amount, -before) if amount < 0 else Decimal("0")
                    remaining[applied_entry["Entry_No"]] = before + applied
                    rest = amount - applied
                    updated = dict(applied_entry)
                    updated["Remaining_Amount"] = updated["Remaining_Amt_LCY"] = before + applied
                    updated["Open"] = updated["Remaining_Amount"] != 0
                    if not updated["Open"]:
                        updated["Closed_by_Entry_No"] = entry_no
                        updated["Closed_at_Date"] = line["Posting_Date"]
                    updated["_v"] = self.version()
                    self.vendor_ledger.put(applied_entry["Entry_No"], updated)
                    invoice = self.invoices.get(updated["Document_No"])
                    if invoice is not None:
                        changed = dict(invoice)
                        changed["SystemModifiedAt"] = when
                        changed["_v"] = self.version()
                        self.invoices.put(invoice["No"], changed)
                        self.on_change("purchaseInvoices", self.invoice_api_id(changed), "updated")
                vendor = self.vendors.get(line["Account_No"]) or {}
                dims = self.dims_of(line.get("Dimension_Set_ID", 0))
                entry = {"Entry_No": entry_no, "Posting_Date": line["Posting_Date"],
                         "Document_Date": line["Posting_Date"], "Document_Type": document_type,
                         "Document_No": line["Document_No"], "External_Document_No": line["External_Document_No"],
                         "Vendor_No": line["Account_No"], "Vendor_Name": vendor.get("Name", ""),
                         "Description": line["Description"], "Currency_Code": line.get("Currency_Code", ""),
                         "Vendor_Posting_Group": "DOMESTIC", "Original_Amount": amount, "Original_Amt_LCY": amount,
                         "Amount": amount, "Amount_LCY": amount,
                         "Debit_Amount": amount if amount > 0 else Decimal("0"),
                         "Debit_Amount_LCY": amount if amount > 0 else Decimal("0"),
                         "Credit_Amount": -amount if amount < 0 else Decimal("0"),
                         "Credit_Amount_LCY": -amount if amount < 0 else Decimal("0"),
                         "Remaining_Amount": rest, "Remaining_Amt_LCY": rest, "Open": rest != 0,
                         "Due_Date": line["Posting_Date"], "Bal_Account_Type": line["Bal_Account_Type"],
                         "Bal_Account_No": line["Bal_Account_No"], "Dimension_Set_ID": line.get("Dimension_Set_ID", 0),
                         "Global_Dimension_1_Code": dims.get(self.setup["Global_Dimension_1_Code"], ""),
                         "Global_Dimension_2_Code": dims.get(self.setup["Global_Dimension_2_Code"], ""),
                         "User_ID": "ADMIN", "Source_Code": "PAYMENTJNL" if template == PAYMENT_TEMPLATE else "GENJNL",
                         "SystemId": guid("vle", entry_no), "_v": self.version()}
                self.vendor_ledger.put(entry_no, entry)
                self._add_balance(line["Account_No"], -amount)
                posted.append(entry)
                account = PAYABLES_ACCOUNT
            else:
                account = line["Account_No"] if line["Account_Type"] == "G/L Account" else BANK_GL_ACCOUNT
            balancing = (line["Bal_Account_No"] if line["Bal_Account_Type"] == "G/L Account" and line["Bal_Account_No"]
                         else BANK_GL_ACCOUNT)
            # a line without a balancing account is balanced by the document's other lines (e.g. a credit memo
            # applied to an invoice: +amount and -amount): only its own G/L entry
            sides = ((account, amount), (balancing, -amount)) if line["Bal_Account_No"] else ((account, amount),)
            for gl_account, signed in sides:
                row = self._gl_entry(gl_account, line["Posting_Date"], document_type, line["Document_No"],
                                     line["Description"], signed, line.get("Dimension_Set_ID", 0),
                                     "Vendor" if line["Account_Type"] == "Vendor" else " ",
                                     line["Account_No"] if line["Account_Type"] == "Vendor" else "", when)
                self.on_change("generalLedgerEntries", row["SystemId"], "created")
        for key, _ in lines:
            self.journal.delete(key)
        return posted

    # -- a NAV user's actions --------------------------------------------------------------
    def touch_setup(self, **values: Any) -> dict:
        for name, value in values.items():
            if name not in self.setup or name.startswith("_"):
                raise ValueError(f"General Ledger Setup has no field '{name}'")
            if name.startswith("Allow_Posting"):
                value = date.fromisoformat(value) if value else BLANK_DATE
            self.setup[name] = value
        self.setup["_v"] = self.version()
        self.setup["SystemModifiedAt"] = self.now()
        return self.setup


def as_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)
