"""Contract test: the NAV sandbox, over HTTP, against Microsoft's ground truth (``nav_truth.json``).

For every entity set the sandbox serves, in each flavour: field names (exactly the truth's list; the US Vendor
Card fields ``Federal_ID_No``/``IRS_1099_Code`` as the documented optional extras), keys, enum encodings
(API v2.0: encoded enum names; pages: plain captions), actions and their status codes, required filters and
their error messages, hidden lines; and that what real NAV lacks is gone (``NAV.Post`` on pages,
``Last_Modified_Date_Time`` on pages, ``PurchInvLines`` on page 146, ``/api/v2.0`` on NAV 2016-2018).

``check_contract`` collects problems instead of stopping at the first, so the last tests can prove it
catches a renamed field.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import requests

from app.sandbox import demo_data, nav_fields
from app.sandbox.base import SandboxClock, SandboxServer
from app.sandbox.nav import NavSandbox
from tests.sandbox.nav_fixtures import AUTH, api_company_url, api_url, company_url

REPO = Path(__file__).resolve().parents[2]
CANDIDATES = [Path(os.environ["NAVBILL_NAV_TRUTH"])] if os.environ.get("NAVBILL_NAV_TRUTH") else []
CANDIDATES += [REPO.parent / "shared/reference/nav/nav_truth.json",  # CI: shared/ beside the checkout
               REPO.parent.parent / "shared/reference/nav/nav_truth.json"]  # a worktree under <root>/wt/
TRUTH_PATH = next((path for path in CANDIDATES if path.is_file()), None)

pytestmark = pytest.mark.skipif(TRUTH_PATH is None, reason="the ground truth ../shared/reference/nav/nav_truth.json "
                                                           "is not beside this checkout")

PAGES = {"Vendor": "page_26", "VendorList": "page_27", "PostedPurchaseInvoice": "page_138",
         "PostedPurchaseInvoiceLines": "page_139", "PostedPurchaseInvoices": "page_146",
         "VendorLedgerEntries": "page_29", "ChartOfAccounts": "page_16", "Dimensions": "page_536",
         "DimensionValues": "page_537", "PaymentJournal": "page_256"}
US_EXTRAS = {"page_26": ["Federal_ID_No", "IRS_1099_Code"]}
CAPTIONS = {  # page -> property -> the English captions the truth lists
    "page_139": {"Type": {" ", "G/L Account", "Item", "Resource", "Fixed Asset", "Charge (Item)",
                          "Allocation Account"}},
    "page_29": {"Document_Type": {" ", "Payment", "Invoice", "Credit Memo", "Finance Charge Memo", "Reminder",
                                  "Refund"}},
    "page_16": {"Account_Type": {"Posting", "Heading", "Total", "Begin-Total", "End-Total"},
                "Income_Balance": {"Income Statement", "Balance Sheet"}},
    "page_26": {"Blocked": {" ", "Payment", "All"}},
    "page_256": {"Document_Type": {" ", "Payment", "Invoice", "Credit Memo", "Finance Charge Memo", "Reminder",
                                   "Refund"},
                 "Account_Type": {"G/L Account", "Customer", "Vendor", "Bank Account", "Fixed Asset", "IC Partner",
                                  "Employee", "Allocation Account"}},
}
GONE_ON_PAGES = ("Last_Modified_Date_Time", "SystemModifiedAt", "SystemId", "Id", "Dimensions")
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def load_truth() -> dict:
    assert TRUTH_PATH is not None
    return json.loads(TRUTH_PATH.read_text(encoding="utf-8"))


def _props(row: dict) -> list[str]:
    return [name for name in row if not name.startswith("@odata.") and not isinstance(row[name], list)]


def _message(notes: list[str], start: str) -> str:
    for note in notes:
        match = re.search(rf"'({re.escape(start)}[^']*)'", note)
        if match:
            return match.group(1)
    raise AssertionError(f"no message starting {start!r} in the truth")


class Checker:
    def __init__(self, server: SandboxServer, truth: dict, flavor: str, us_localization: bool = True) -> None:
        self.server, self.truth, self.flavor, self.us = server, truth, flavor, us_localization
        self.problems: list[str] = []

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def get(self, url: str, **params) -> requests.Response:
        return requests.get(url, auth=AUTH, params=params or None, timeout=30)

    def fields(self, where: str, row: dict, expected: list[str], optional: list[str] = ()) -> None:
        served = _props(row)
        allowed = expected + [name for name in optional if name in served]
        if served != allowed:
            missing = [name for name in expected if name not in served]
            unexpected = [name for name in served if name not in expected and name not in optional]
            if missing or unexpected:
                self.problem(f"{where}: missing {missing}, unexpected {unexpected}")
            else:
                self.problem(f"{where}: fields out of the page's order")

    # -- classic pages ------------------------------------------------------------------------
    def check_pages(self) -> None:
        root = company_url(self.server)
        for service, page in PAGES.items():
            spec = self.truth["classic"][page]
            expected = [f["odata"] for f in spec["fields"]] + [k for k in spec["keys"]
                                                              if k not in [f["odata"] for f in spec["fields"]]]
            answer = self.get(f"{root}/{service}", **{"$top": "200"})
            if answer.status_code != 200 or not answer.json().get("value"):
                self.problem(f"{service} (page {page[5:]}): GET answered {answer.status_code} or no rows")
                continue
            rows = answer.json()["value"]
            optional = US_EXTRAS.get(page, [])
            if page == "page_26" and self.us:
                expected = expected + optional
                optional = []
            self.fields(f"{service} (page {page[5:]})", rows[0], expected, optional)
            for name in GONE_ON_PAGES:
                if name in rows[0]:
                    self.problem(f"{service}: has {name}, which the page does not have")
            stamp = self.get(f"{root}/{service}", **{"$filter": "Last_Modified_Date_Time gt 2020-01-01T00:00:00Z"})
            if stamp.status_code != 400:
                self.problem(f"{service}: $filter on Last_Modified_Date_Time answered {stamp.status_code}, not 400")
            key = ",".join(f"{k}={json.dumps(rows[0][k]) if not isinstance(rows[0][k], str) else repr(rows[0][k])}"
                           for k in spec["keys"])
            by_key = self.get(f"{root}/{service}({key})")
            if by_key.status_code != 200:
                self.problem(f"{service}: GET by key ({key}) answered {by_key.status_code}")
            for name, captions in CAPTIONS.get(page, {}).items():
                values = {row[name] for row in rows if name in row}
                if not values <= captions:
                    self.problem(f"{service}.{name}: values {sorted(values - captions)} are not the page's captions")
            action = requests.post(f"{root}/{service}({key})/NAV.Post", auth=AUTH, timeout=30)
            if action.status_code < 400:
                self.problem(f"{service}: NAV.Post answered {action.status_code}; page {page[5:]} has no actions")
        # page 138's lines part, and page 146 without one
        lines = self.get(f"{root}/PostedPurchaseInvoice('108001')",
                         **{"$expand": "PostedPurchaseInvoicePurchInvLines"})
        part = lines.json().get("PostedPurchaseInvoicePurchInvLines") if lines.status_code == 200 else None
        if not part:
            self.problem(f"PostedPurchaseInvoice: $expand of its PurchInvLines part answered {lines.status_code}")
        else:
            self.fields("PostedPurchaseInvoicePurchInvLines", part[0],
                        [f["odata"] for f in self.truth["classic"]["page_139"]["fields"]] + ["Document_No", "Line_No"])
        by_path = self.get(f"{root}/PostedPurchaseInvoice('108001')/PostedPurchaseInvoicePurchInvLines")
        if by_path.status_code != 200:
            self.problem(f"PostedPurchaseInvoice('108001')/PostedPurchaseInvoicePurchInvLines: {by_path.status_code}")
        for expand in ("PurchInvLines", "PostedPurchaseInvoicesPurchInvLines"):
            refused = self.get(f"{root}/PostedPurchaseInvoices", **{"$expand": expand})
            if refused.status_code != 400:
                self.problem(f"PostedPurchaseInvoices?$expand={expand} answered {refused.status_code}, not 400")
        # page 256 over OData: no template/batch filter
        journal = self.get(f"{root}/PaymentJournal").json()["value"]
        if len({(r["Journal_Template_Name"], r["Journal_Batch_Name"]) for r in journal}) < 2:
            self.problem("PaymentJournal: an unfiltered read should show the lines of every template and batch")
        setup = self.get(f"{root}/GeneralLedgerSetup")
        if setup.status_code != 200 or any(name in setup.json()["value"][0] for name in GONE_ON_PAGES):
            self.problem("GeneralLedgerSetup: not served as a plain page")
        api = self.get(f"{api_url(self.server)}/companies")
        if self.flavor == "classic" and api.status_code != 404:
            self.problem(f"classic flavour: /api/v2.0/companies answered {api.status_code}, not 404")

    # -- API v2.0 -----------------------------------------------------------------------------
    def api_set(self, name: str, url: str, rows: list[dict] | None = None) -> list[dict]:
        spec = self.truth["api_v2"][name]
        if rows is None:
            answer = self.get(url)
            if answer.status_code != 200:
                self.problem(f"{name}: GET {url} answered {answer.status_code}")
                return []
            rows = answer.json()["value"]
        if not rows:
            self.problem(f"{name}: no rows to check at {url}")
            return []
        self.fields(name, rows[0], [f["name"] for f in spec["fields"]])
        for row in rows:
            if "id" in row and not GUID.match(str(row["id"])):
                self.problem(f"{name}: key id {row['id']!r} is not a GUID")
                break
        for field, enum in spec.get("enums", {}).items():
            wire = set(enum.get("values_wire") or [])
            if not wire and enum.get("values_al"):
                wire = {re.sub(r"[^A-Za-z0-9_]", lambda m: f"_x{ord(m.group(0)):04X}_", v) for v in enum["values_al"]}
            if enum.get("same_as"):
                wire = set(spec["enums"][enum["same_as"]]["values_wire"])
            values = {row[field] for row in rows if field in row}
            if not values <= wire:
                self.problem(f"{name}.{field}: {sorted(values - wire)} are not encoded enum values")
        if not url:  # rows read under a parent by the caller
            return rows
        if "id" in rows[0] and name not in ("dimensionSetLines",):
            one = self.get(f"{url.split('?')[0]}({rows[0]['id']})")
            if one.status_code != 200 or one.json().get("id") != rows[0]["id"]:
                self.problem(f"{name}: GET {name}({{id}}) answered {one.status_code}")
        if "lastModifiedDateTime" in [f["name"] for f in spec["fields"]]:
            since = self.get(url.split("?")[0], **{"$filter": "lastModifiedDateTime gt 2000-01-01T00:00:00Z"})
            if since.status_code != 200:
                self.problem(f"{name}: $filter=lastModifiedDateTime gt ... answered {since.status_code}")
        return rows

    def required_filter(self, name: str, start: str) -> None:
        message = _message(self.truth["api_v2"][name]["notes"], start)
        answer = self.get(f"{api_company_url(self.server)}/{name}")
        if answer.status_code < 400 or answer.json().get("error", {}).get("message") != message:
            self.problem(f"{name}: top-level GET should fail with {message!r}, got {answer.status_code} {answer.text}")

    def check_api(self) -> None:
        base = api_company_url(self.server)
        truth = self.truth["api_v2"]
        companies = self.get(f"{api_url(self.server)}/companies").json()["value"]
        self.fields("companies", companies[0], [f["name"] for f in truth["companies"]["fields"]])
        self.api_set("vendors", f"{base}/vendors")
        invoices = self.api_set("purchaseInvoices", f"{base}/purchaseInvoices")
        posted = next(i for i in invoices if i["status"] != "Draft")
        draft = next((i for i in invoices if i["status"] == "Draft"), None)
        if draft is None:
            self.problem("purchaseInvoices: the demo drafts are missing")
        lines = self.api_set("purchaseInvoiceLines", f"{base}/purchaseInvoices({posted['id']})/purchaseInvoiceLines")
        if lines:
            self.api_set("dimensionSetLines", f"{base}/purchaseInvoices({posted['id']})/purchaseInvoiceLines"
                                              f"({lines[0]['id']})/dimensionSetLines")
            self.api_set("dimensionSetLines", f"{base}/purchaseInvoices({posted['id']})/dimensionSetLines")
            filtered = self.get(f"{base}/purchaseInvoiceLines", **{"$filter": f"documentId eq {posted['id']}"})
            if filtered.status_code != 200 or len(filtered.json()["value"]) != len(lines):
                self.problem(f"purchaseInvoiceLines?$filter=documentId eq ...: {filtered.status_code}")
        self.required_filter("purchaseInvoiceLines", "You must specify an Id")
        self.required_filter("dimensionSetLines", "You must get to the parent first")
        self.required_filter("vendorPayments", "You must specify a journal batch ID")
        self.required_filter("journalLines", "You must specify a journal batch ID")
        self.api_set("accounts", f"{base}/accounts")
        dimensions = self.api_set("dimensions", f"{base}/dimensions")
        self.api_set("dimensionValues", f"{base}/dimensionValues")
        if dimensions:
            self.api_set("dimensionValues", f"{base}/dimensions({dimensions[0]['id']})/dimensionValues")
        self.api_set("generalLedgerEntries", f"{base}/generalLedgerEntries")
        payment_journals = self.api_set("vendorPaymentJournals", f"{base}/vendorPaymentJournals")
        journals = self.api_set("journals", f"{base}/journals")
        page_lines = self.get(f"{company_url(self.server)}/PaymentJournal").json()["value"]
        self._hidden("vendorPayments", payment_journals, "vendorPayments", page_lines, lambda r: (
            r["Document_Type"] == "Payment" and r["Account_Type"] == "Vendor"
            and (r["Applies_to_Doc_Type"] == "Invoice" or r["Applies_to_ID"] != "")))
        self._hidden("journalLines", journals, "journalLines", page_lines, lambda r: (
            r["Document_Type"] == " " and r["Account_Type"] in ("G/L Account", "Customer", "Vendor", "Bank Account")))
        # actions: journals post -> 204; no action on vendorPaymentJournals; purchaseInvoices post -> 204 on a draft
        if payment_journals:
            no_action = requests.post(f"{base}/vendorPaymentJournals({payment_journals[0]['id']})/Microsoft.NAV.post",
                                      auth=AUTH, timeout=30)
            if no_action.status_code < 400:
                self.problem(f"vendorPaymentJournals: Microsoft.NAV.post answered {no_action.status_code}; "
                             "page 30061 has no actions")
        posted_message = _message(truth["purchaseInvoices"]["notes"], "The invoice has been posted")
        patch = requests.patch(f"{base}/purchaseInvoices({posted['id']})", auth=AUTH, timeout=30,
                               json={"vendorInvoiceNumber": "x"}, headers={"If-Match": posted["@odata.etag"]})
        if patch.status_code < 400 or patch.json().get("error", {}).get("message") != posted_message:
            self.problem(f"purchaseInvoices: PATCH on a posted invoice answered {patch.status_code} {patch.text}")
        if draft is not None:
            action = requests.post(f"{base}/purchaseInvoices({draft['id']})/Microsoft.NAV.post", auth=AUTH, timeout=30)
            after = self.get(f"{base}/purchaseInvoices({draft['id']})").json()
            if action.status_code != 204 or after.get("status") == "Draft" or after.get("number") == draft["number"]:
                self.problem(f"purchaseInvoices: post on a draft answered {action.status_code}; after: {after}")
        general = next((j for j in journals if j["code"] == "DEFAULT"), None)
        if general is not None:
            action = requests.post(f"{base}/journals({general['id']})/Microsoft.NAV.post", auth=AUTH, timeout=30)
            if action.status_code != 204:
                self.problem(f"journals: Microsoft.NAV.post answered {action.status_code}, not 204")

    def _hidden(self, name: str, batches: list[dict], part: str, page_lines: list[dict], visible) -> None:
        base = api_company_url(self.server)
        seen_any = False
        for batch in batches:
            served = self.get(f"{base}/{'vendorPaymentJournals' if name == 'vendorPayments' else 'journals'}"
                              f"({batch['id']})/{part}")
            if served.status_code != 200:
                self.problem(f"{name} of {batch['code']}: {served.status_code}")
                continue
            rows = served.json()["value"]
            if rows:
                seen_any = True
                self.api_set(name, "", rows)
            expected = sorted(r["Line_No"] for r in page_lines
                              if r["Journal_Batch_Name"] == batch["code"] and visible(r)
                              and (name == "journalLines" or r["Journal_Template_Name"] == "PAYMENT")
                              and (name == "vendorPayments" or r["Journal_Template_Name"] == batch.get(
                                  "templateDisplayName")))
            if sorted(r["lineNumber"] for r in rows) != expected:
                self.problem(f"{name} of batch {batch['code']}: lines {sorted(r['lineNumber'] for r in rows)}, "
                             f"the visibility rule gives {expected}")
        if not seen_any:
            self.problem(f"{name}: no visible line in any batch to check")
        if name == "vendorPayments" and seen_any:
            journal = next(b for b in batches if self.get(f"{base}/vendorPaymentJournals({b['id']})/vendorPayments")
                           .json()["value"])
            payment = self.get(f"{base}/vendorPaymentJournals({journal['id']})/vendorPayments").json()["value"][0]
            entries = self.get(f"{base}/vendorPaymentJournals({journal['id']})/vendorPayments({payment['id']})"
                               "/applyVendorEntries")
            if entries.status_code != 200 or not entries.json()["value"]:
                self.problem(f"applyVendorEntries: {entries.status_code}")
            else:
                self.api_set("applyVendorEntries", "", entries.json()["value"])


def check_contract(server: SandboxServer, flavor: str, us_localization: bool = True) -> list[str]:
    checker = Checker(server, load_truth(), flavor, us_localization)
    checker.check_pages()
    if flavor == "bc":
        checker.check_api()
    return checker.problems


def _sandbox(flavor: str, **options) -> NavSandbox:
    return NavSandbox("demo", clock=SandboxClock(), flavor=flavor, notify=False, **options)


@pytest.mark.parametrize("flavor", ["classic", "bc"])
def test_sandbox_serves_the_ground_truth(flavor):
    app = _sandbox(flavor)
    try:
        with SandboxServer(app) as server:
            assert check_contract(server, flavor) == []
    finally:
        app.stop()


def test_without_us_localization_the_vendor_card_is_the_w1_page():
    app = _sandbox("classic", us_localization=False)
    with SandboxServer(app) as server:
        assert check_contract(server, "classic", us_localization=False) == []


def test_the_embedded_field_lists_are_the_truths():
    truth = load_truth()
    for page, spec in truth["classic"].items():
        names = [f["odata"] for f in spec["fields"]]
        assert list(nav_fields.PAGE_FIELDS[int(page[5:])])[:len(names)] == names, page
    for name, spec in truth["api_v2"].items():
        if isinstance(spec, dict) and "fields" in spec and name in nav_fields.API_FIELDS:
            assert list(nav_fields.API_FIELDS[name]) == [f["name"] for f in spec["fields"]], name


def test_contract_check_catches_a_renamed_page_field(monkeypatch):
    renamed = tuple("Vendor_Name" if name == "Name" else name for name in nav_fields.PAGE_FIELDS[26])
    monkeypatch.setitem(nav_fields.PAGE_FIELDS, 26, renamed)
    with SandboxServer(_sandbox("classic")) as server:
        problems = check_contract(server, "classic")
    assert any(p.startswith("Vendor (page 26): missing ['Name'], unexpected ['Vendor_Name']") for p in problems)


def test_contract_check_catches_a_renamed_api_field(monkeypatch):
    renamed = tuple("amount" if name == "amountExcludingTax" else name
                    for name in nav_fields.API_FIELDS["purchaseInvoiceLines"])
    monkeypatch.setitem(nav_fields.API_FIELDS, "purchaseInvoiceLines", renamed)
    with SandboxServer(_sandbox("bc")) as server:
        problems = check_contract(server, "bc")
    assert any("purchaseInvoiceLines: missing ['amountExcludingTax'], unexpected ['amount']" in p for p in problems)


def test_contract_check_catches_an_unencoded_enum(monkeypatch):
    from app.sandbox import nav_api

    monkeypatch.setattr(nav_api, "enum", lambda value: value)  # captions instead of _xHHHH_ names
    with SandboxServer(_sandbox("bc")) as server:
        problems = check_contract(server, "bc")
    assert any(p.startswith("accounts.accountType: ['Begin-Total', 'End-Total']") for p in problems)


def test_demo_company_names_match_the_truth_examples():
    # the truth's own example of the containment: PostedPurchaseInvoice('108001')/PostedPurchaseInvoicePurchInvLines
    note = " ".join(load_truth()["classic"]["page_138"]["notes"])
    assert "PostedPurchaseInvoice('108001')/PostedPurchaseInvoicePurchInvLines" in note
    assert demo_data.demo_posted_invoices()[0].number == "108001"
