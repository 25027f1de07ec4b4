"""The NAV sandbox over real sockets, in both flavours: URL shapes, paging, filters, etags, pages, posting,
API v2.0, auth. Webhooks are in test_nav_webhooks.py, the field-by-field contract in test_nav_contract.py."""

from __future__ import annotations

from datetime import timedelta

import requests

from app.sandbox import demo_data
from app.sandbox.base import SandboxClock, SandboxServer
from app.sandbox.nav import NavSandbox
from tests.sandbox.nav_fixtures import AUTH, api_company_url, api_url, company_url

pytest_plugins = ["tests.sandbox.nav_fixtures"]


def _error(response: requests.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"])
    return body["error"]


# -- URL shapes, auth, paging, queries ----------------------------------------------------------

def test_company_list_and_key_shapes(classic_server):
    root = f"{classic_server.url}/{demo_data.SERVER_INSTANCE}/ODataV4"
    companies = requests.get(f"{root}/Company", auth=AUTH).json()
    assert [c["Name"] for c in companies["value"]] == [demo_data.COMPANY_NAME]
    by_position = requests.get(f"{company_url(classic_server)}/Vendor('V00010')", auth=AUTH).json()
    by_name = requests.get(f"{company_url(classic_server)}/Vendor(No='V00010')", auth=AUTH).json()
    assert by_position["Name"] == by_name["Name"] == "Acme Steel Supply"
    assert by_position["@odata.etag"].startswith('W/"')
    line = requests.get(f"{company_url(classic_server)}/PostedPurchaseInvoiceLines(Document_No='108003',"
                        f"Line_No=20000)", auth=AUTH)
    assert line.status_code == 200 and line.json()["Description"] == "Project materials"


def test_wrong_instance_company_and_service_answer_odata_errors(classic_server):
    wrong_instance = requests.get(f"{classic_server.url}/DynamicsNAV100/ODataV4/Company", auth=AUTH)
    assert wrong_instance.status_code == 404 and "server instance" in _error(wrong_instance)["message"]
    wrong_company = requests.get(f"{classic_server.url}/{demo_data.SERVER_INSTANCE}/ODataV4/Company('Nope')/Vendor",
                                 auth=AUTH)
    assert _error(wrong_company)["code"] == "Internal_CompanyNotFound"
    for service in ("NoSuchPage", "GeneralJournalLines", "PurchaseOrders", "GeneralLedgerEntries"):
        unknown = requests.get(f"{company_url(classic_server)}/{service}", auth=AUTH)
        assert unknown.status_code == 404 and _error(unknown)["code"] == "BadRequest_NotFound", service


def test_classic_flavour_has_no_api(classic_server, nav_server):
    for path in ("/companies", f"/companies({demo_data.COMPANY_ID})/vendors", "/subscriptions"):
        classic = requests.get(f"{api_url(classic_server)}{path}", auth=AUTH)
        assert classic.status_code == 404, path
        _error(classic)
    assert requests.get(f"{api_url(nav_server)}/companies", auth=AUTH).status_code == 200


def test_basic_auth_required(classic_server):
    missing = requests.get(f"{company_url(classic_server)}/Vendor")
    assert missing.status_code == 401 and "Basic" in missing.headers["WWW-Authenticate"]
    wrong = requests.get(f"{company_url(classic_server)}/Vendor", auth=(demo_data.NAV_USER, "wrong"))
    assert wrong.status_code == 401 and _error(wrong)["code"] == "Authentication_InvalidCredentials"
    assert demo_data.NAV_WEB_SERVICE_KEY not in wrong.text


def test_paging_follows_next_link_across_pages(classic_server):
    url = f"{company_url(classic_server)}/Vendor"
    seen, pages = [], 0
    body = requests.get(url, auth=AUTH, headers={"Prefer": "odata.maxpagesize=7"}).json()
    while True:
        pages += 1
        seen += [row["No"] for row in body["value"]]
        if "@odata.nextLink" not in body:
            break
        body = requests.get(body["@odata.nextLink"], auth=AUTH, headers={"Prefer": "odata.maxpagesize=7"}).json()
    assert pages == 6 and len(seen) == 40 and seen == sorted(seen) and len(set(seen)) == 40


def test_server_page_size_applies_without_prefer(clock):
    app = NavSandbox("demo", clock=clock, max_page_size=25)
    with SandboxServer(app) as server:
        body = requests.get(f"{company_url(server)}/Vendor", auth=AUTH).json()
        assert len(body["value"]) == 25 and "@odata.nextLink" in body
        api = requests.get(f"{api_company_url(server)}/vendors", auth=AUTH).json()
        assert len(api["value"]) == 25 and "@odata.nextLink" in api


def test_filter_select_top_skip_orderby_on_pages(classic_server, classic_nav):
    url = f"{company_url(classic_server)}/Vendor"
    classic_nav.clock.advance(3 * 86400)
    classic_nav.edit_vendor("V00030", City="Erie")
    today = classic_nav.clock.now().date().isoformat()
    changed = requests.get(url, auth=AUTH, params={"$filter": f"Last_Date_Modified ge {today}"}).json()
    assert [row["No"] for row in changed["value"]] == ["V00030"]
    assert changed["value"][0]["Last_Date_Modified"] == today  # a date, no time
    both = requests.get(url, auth=AUTH, params={
        "$filter": "County eq 'PA' and (City eq 'Erie' or City eq 'Pittsburgh')", "$select": "No,City"}).json()
    assert {row["No"] for row in both["value"]} == {"V00010", "V00240"}
    assert set(both["value"][0]) == {"@odata.etag", "No", "City"}
    distinct = requests.get(url, auth=AUTH, params={"$filter": "County eq 'PA' or No eq 'V00020'"})
    assert distinct.status_code == 400  # no 'or' across different fields
    assert _error(distinct)["message"] == "The 'OR' operator is not supported on distinct fields on an OData filter."
    top = requests.get(url, auth=AUTH, params={"$top": "3", "$skip": "2"}).json()
    assert [row["No"] for row in top["value"]] == ["V00030", "V00040", "V00050"] and "@odata.nextLink" not in top
    ordered = requests.get(url, auth=AUTH, params={"$orderby": "Name desc", "$top": "2"}).json()
    assert [row["Name"] for row in ordered["value"]] == ["Tri-County Waste Management", "Tidewater Uniform Services"]
    dated = requests.get(f"{company_url(classic_server)}/PostedPurchaseInvoices", auth=AUTH,
                         params={"$filter": "Posting_Date gt 2026-10-30 and Posting_Date le 2026-11-02"}).json()
    assert [row["No"] for row in dated["value"]] == ["108058", "108059", "108060"]


def test_pages_have_no_timestamp_to_filter_on(classic_server):
    for service in ("Vendor", "PostedPurchaseInvoices", "VendorLedgerEntries"):
        response = requests.get(f"{company_url(classic_server)}/{service}", auth=AUTH,
                                params={"$filter": "Last_Modified_Date_Time gt 2026-01-01T00:00:00Z"})
        assert response.status_code == 400, service
        assert "Last_Modified_Date_Time" in _error(response)["message"]


def test_bad_filter_is_an_odata_400(classic_server):
    url = f"{company_url(classic_server)}/Vendor"
    for bad in ("No eq", "No = 'x'", "Nope eq 1", "(No eq 'x'", "No eq 'unterminated"):
        response = requests.get(url, auth=AUTH, params={"$filter": bad})
        assert response.status_code == 400, bad
        _error(response)


# -- classic writes ------------------------------------------------------------------------------

def test_etag_if_match_and_412(classic_server):
    url = f"{company_url(classic_server)}/Vendor('V00010')"
    etag = requests.get(url, auth=AUTH).json()["@odata.etag"]
    missing = requests.patch(url, auth=AUTH, json={"City": "Erie"})
    assert missing.status_code == 400 and _error(missing)["code"] == "BadRequest_InvalidToken"
    ok = requests.patch(url, auth=AUTH, json={"City": "Erie", "Control16": "Dana"}, headers={"If-Match": etag})
    assert ok.status_code == 200 and ok.json()["City"] == "Erie" and ok.json()["@odata.etag"] != etag
    assert ok.json()["Control16"] == "Dana"
    listed = requests.get(f"{company_url(classic_server)}/VendorList('V00010')", auth=AUTH).json()
    assert listed["Contact"] == "Dana"
    stale = requests.patch(url, auth=AUTH, json={"City": "Altoona"}, headers={"If-Match": etag})
    assert stale.status_code == 412 and _error(stale)["code"] == "Request_EntityChanged"


def test_bad_vendor_bodies_answer_odata_errors(classic_server):
    url = f"{company_url(classic_server)}/Vendor"
    cases = [
        (b"{not json", "BadRequest"),
        (b'{"No": "V90000", "Name": 12}', "BadRequest"),
        (b'{"No": "V90000", "Name": "X", "Colour": "red"}', "BadRequest"),
        (b'{"No": "V90000", "Name": "X", "Last_Modified_Date_Time": "2026-01-01T00:00:00Z"}', "BadRequest"),
        (b'{"No": "V90000", "Name": "X", "Blocked": "Sometimes"}', "Application_EvaluateException"),
        (b'{"No": "V00010", "Name": "Dup"}', "Internal_EntityWithSameKeyExists"),
        (b'{"No": "V90000", "Name": "X", "Balance_LCY": 5}', "BadRequest_InvalidOperation"),
    ]
    for body, code in cases:
        response = requests.post(url, auth=AUTH, data=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, body
        assert _error(response)["code"] == code, body


def test_vendor_insert_delete_and_read_only_list(classic_server):
    url = f"{company_url(classic_server)}/Vendor"
    manual = requests.post(url, auth=AUTH, json={"No": "V90000", "Name": "Manual", "Federal_ID_No": "12-3456789",
                                                 "IRS_1099_Code": "NEC-01", "Blocked": "Payment"})
    assert manual.status_code == 201 and manual.json()["No"] == "V90000" and manual.json()["Blocked"] == "Payment"
    series = requests.post(url, auth=AUTH, json={"Name": "From series"})
    assert series.status_code == 201 and series.json()["No"].startswith("V")
    gone = requests.delete(f"{url}('V90000')", auth=AUTH, headers={"If-Match": manual.json()["@odata.etag"]})
    assert gone.status_code == 204
    assert requests.get(f"{url}('V90000')", auth=AUTH).status_code == 404
    read_only = requests.post(f"{company_url(classic_server)}/VendorList", auth=AUTH, json={"Name": "x"})
    assert read_only.status_code == 405 and _error(read_only)["code"] == "BadRequest_MethodNotAllowed"


def test_us_localization_switch(clock):
    app = NavSandbox("demo", clock=clock, flavor="classic", us_localization=False)
    with SandboxServer(app) as server:
        vendor = requests.get(f"{company_url(server)}/Vendor('V00010')", auth=AUTH).json()
        assert "Federal_ID_No" not in vendor and "IRS_1099_Code" not in vendor
    with SandboxServer(NavSandbox("demo", clock=clock, flavor="classic")) as server:
        vendor = requests.get(f"{company_url(server)}/Vendor('V00010')", auth=AUTH).json()
        assert vendor["Federal_ID_No"] == "11-1001234"


# -- posted invoices on pages ------------------------------------------------------------------

def test_invoice_document_page_with_lines_part(classic_server):
    root = company_url(classic_server)
    body = requests.get(f"{root}/PostedPurchaseInvoice('108012')", auth=AUTH,
                        params={"$expand": "PostedPurchaseInvoicePurchInvLines"}).json()
    assert "Amount" not in body  # page 138 shows no amounts
    lines = body["PostedPurchaseInvoicePurchInvLines"]
    assert [line["Line_No"] for line in lines] == [10000, 20000]
    assert lines[1]["Shortcut_Dimension_1_Code"] == "PROD" and lines[1]["ShortcutDimCode_x005B_3_x005D_"] == "EAST"
    assert lines[0]["Type"] == "G/L Account" and "Dimensions" not in lines[0] and "Amount" not in lines[0]
    by_path = requests.get(f"{root}/PostedPurchaseInvoice('108012')/PostedPurchaseInvoicePurchInvLines",
                           auth=AUTH).json()["value"]
    assert [line["Line_Amount"] for line in by_path] == [line["Line_Amount"] for line in lines]
    subform = requests.get(f"{root}/PostedPurchaseInvoiceLines", auth=AUTH,
                           params={"$filter": "Document_No eq '108012'"}).json()["value"]
    assert [line["No"] for line in subform] == [line["No"] for line in lines]
    listed = requests.get(f"{root}/PostedPurchaseInvoices('108012')", auth=AUTH).json()
    assert round(sum(line["Line_Amount"] for line in lines), 2) == listed["Amount"] == listed["Remaining_Amount"]
    assert listed["Closed"] is False and listed["Cancelled"] is False


def test_invoice_list_page_has_no_lines(classic_server):
    root = company_url(classic_server)
    for expand in ("PurchInvLines", "PostedPurchaseInvoicesPurchInvLines"):
        refused = requests.get(f"{root}/PostedPurchaseInvoices", auth=AUTH, params={"$expand": expand})
        assert refused.status_code == 400 and expand in _error(refused)["message"]
    assert requests.get(f"{root}/PostedPurchaseInvoices('108001')/PurchInvLines", auth=AUTH).status_code == 404
    assert len(requests.get(f"{root}/PostedPurchaseInvoices", auth=AUTH).json()["value"]) == 60


def test_drafts_are_not_on_the_posted_pages(classic_server):
    invoices = requests.get(f"{company_url(classic_server)}/PostedPurchaseInvoices", auth=AUTH).json()["value"]
    assert not {i["No"] for i in invoices} & {d.number for d in demo_data.demo_draft_invoices()}


def test_no_bound_actions_on_pages(classic_server):
    root = company_url(classic_server)
    for path in ("PaymentJournal(Journal_Template_Name='PAYMENT',Journal_Batch_Name='DEFAULT',Line_No=10000)/NAV.Post",
                 "PostedPurchaseInvoice('108001')/NAV.Post"):
        response = requests.post(f"{root}/{path}", auth=AUTH)
        assert response.status_code == 404 and _error(response)["code"] == "BadRequest_NotFound", path


def test_german_server_sends_translated_captions(clock):
    app = NavSandbox("demo", clock=clock, flavor="classic", language="de")
    with SandboxServer(app) as server:
        root = company_url(server)
        line = requests.get(f"{root}/PostedPurchaseInvoiceLines", auth=AUTH, params={"$top": "1"}).json()["value"][0]
        assert line["Type"] == "Sachkonto"
        entry = requests.get(f"{root}/VendorLedgerEntries(1)", auth=AUTH).json()
        assert entry["Document_Type"] == "Rechnung"
        journal = requests.get(f"{root}/PaymentJournal", auth=AUTH,
                               params={"$filter": "Document_Type eq 'Zahlung'"}).json()["value"]
        assert journal and {row["Account_Type"] for row in journal} == {"Kreditor"}
        created = requests.post(f"{root}/PaymentJournal", auth=AUTH, json={
            "Journal_Template_Name": "PAYMENT", "Journal_Batch_Name": "BILL", "Document_Type": "Zahlung",
            "Document_No": "P-1", "Account_Type": "Kreditor", "Account_No": "V00010", "Amount": 1})
        assert created.status_code == 201 and created.json()["Document_Type"] == "Zahlung"


# -- payment journal page and the accountant's posting -------------------------------------------

def test_payment_journal_page_shows_every_journal_unless_filtered(classic_server):
    url = f"{company_url(classic_server)}/PaymentJournal"
    everything = requests.get(url, auth=AUTH).json()["value"]
    assert {(row["Journal_Template_Name"], row["Journal_Batch_Name"]) for row in everything} == {
        ("GENERAL", "DEFAULT"), ("PAYMENT", "DEFAULT")}
    mine = requests.get(url, auth=AUTH, params={
        "$filter": "Journal_Template_Name eq 'PAYMENT' and Journal_Batch_Name eq 'BILL'"}).json()["value"]
    assert mine == []


def _pay_line(root: str, **extra) -> requests.Response:
    body = {"Journal_Template_Name": "PAYMENT", "Journal_Batch_Name": "BILL", "Document_Type": "Payment",
            "Document_No": "BILLPAY-1", "External_Document_No": "stp01ABC", "Account_Type": "Vendor",
            "Account_No": "V00010", "Amount": 100.25, "Applies_to_Doc_Type": "Invoice", "AppliesToDocNo": "108001"}
    return requests.post(f"{root}/PaymentJournal", auth=AUTH, json=body | extra)


def test_accountant_posts_the_batch_and_the_ledger_shows_it(classic_server):
    root = company_url(classic_server)
    invoice = requests.get(f"{root}/PostedPurchaseInvoices('108001')", auth=AUTH).json()
    owed = invoice["Remaining_Amount"]
    line = _pay_line(root)
    assert line.status_code == 201 and line.json()["Line_No"] == 10000 and line.json()["Bal_Account_No"] == "2910"
    assert line.json()["AppliesToDocNo"] == "108001" and line.json()["AccName"] == "Acme Steel Supply"
    second = _pay_line(root, Document_No="BILLPAY-2", External_Document_No="stp02", Amount=owed - 100.25)
    assert second.status_code == 201 and second.json()["Line_No"] == 20000
    clerk_before = requests.get(f"{root}/PaymentJournal", auth=AUTH).json()["value"]
    posted = requests.post(f"{classic_server.url}/_sandbox/journals/post", json={"template": "PAYMENT",
                                                                                  "batch": "BILL"})
    assert posted.status_code == 200 and len(posted.json()["posted"]) == 2
    payments = requests.get(f"{root}/VendorLedgerEntries", auth=AUTH, params={
        "$filter": "External_Document_No eq 'stp01ABC'"}).json()["value"]
    assert len(payments) == 1 and payments[0]["Document_Type"] == "Payment" and payments[0]["Amount"] == 100.25
    entry = requests.get(f"{root}/VendorLedgerEntries", auth=AUTH, params={
        "$filter": "Document_Type eq 'Invoice' and Document_No eq '108001'"}).json()["value"][0]
    assert entry["Remaining_Amount"] == 0 and entry["Open"] is False
    after = requests.get(f"{root}/PostedPurchaseInvoices('108001')", auth=AUTH).json()
    assert after["Remaining_Amount"] == 0 and after["Closed"] is True
    remaining = requests.get(f"{root}/PaymentJournal", auth=AUTH).json()["value"]
    assert [r["Document_No"] for r in remaining] == [r["Document_No"] for r in clerk_before
                                                     if r["Journal_Batch_Name"] != "BILL"]
    newest = requests.get(f"{root}/VendorLedgerEntries", auth=AUTH, params={"$filter": "Entry_No gt 60"}).json()
    assert [row["Entry_No"] for row in newest["value"]] == [62, 61]  # page 29: by vendor and date, descending


def test_posting_refuses_dates_outside_the_allowed_range(classic_server):
    root = company_url(classic_server)
    assert _pay_line(root, Posting_Date="2025-12-31").status_code == 201
    refused = requests.post(f"{classic_server.url}/_sandbox/journals/post", json={"template": "PAYMENT",
                                                                                   "batch": "BILL"})
    assert refused.status_code == 400 and "allowed posting dates" in _error(refused)["message"]
    assert len(requests.get(f"{root}/PaymentJournal", auth=AUTH, params={
        "$filter": "Journal_Batch_Name eq 'BILL'"}).json()["value"]) == 1
    setup = requests.get(f"{root}/GeneralLedgerSetup('')", auth=AUTH).json()
    assert setup["Allow_Posting_From"] == f"{demo_data.DEMO_TODAY.year}-01-01"
    assert setup["Global_Dimension_1_Code"] == "DEPARTMENT" and setup["Shortcut_Dimension_3_Code"] == "AREA"
    empty = requests.post(f"{classic_server.url}/_sandbox/journals/post", json={"template": "PAYMENT",
                                                                                 "batch": "NONE"})
    assert empty.status_code == 400 and "nothing to post" in _error(empty)["message"]


def test_journal_line_validation(classic_server):
    root = company_url(classic_server)
    unknown_vendor = _pay_line(root, Account_No="V99999")
    assert unknown_vendor.status_code == 400 and _error(unknown_vendor)["code"] == "Internal_InvalidTableRelation"
    no_batch = _pay_line(root, Journal_Batch_Name="NOPE")
    assert no_batch.status_code == 400
    wrong_dim = _pay_line(root, ShortcutDimCode3="NORTH")
    assert wrong_dim.status_code == 400
    ok = _pay_line(root, ShortcutDimCode3="WEST", Shortcut_Dimension_1_Code="ADMIN")
    assert ok.status_code == 201 and ok.json()["ShortcutDimCode3"] == "WEST"
    key = "Journal_Template_Name='PAYMENT',Journal_Batch_Name='BILL',Line_No=10000"
    patched = requests.patch(f"{root}/PaymentJournal({key})", auth=AUTH, json={"Amount": 5},
                             headers={"If-Match": ok.json()["@odata.etag"]})
    assert patched.status_code == 200 and patched.json()["Amount"] == 5
    deleted = requests.delete(f"{root}/PaymentJournal({key})", auth=AUTH,
                              headers={"If-Match": patched.json()["@odata.etag"]})
    assert deleted.status_code == 204


# -- Business Central API v2.0 ----------------------------------------------------------------

def test_api_vendors_read_write_and_encoded_enum(nav_server, nav):
    base = api_company_url(nav_server)
    vendors = requests.get(f"{base}/vendors", auth=AUTH, params={"$filter": "number eq 'V00380'"}).json()["value"]
    assert vendors[0]["displayName"] == "Frontier Telecom" and vendors[0]["blocked"] == "All"
    either = requests.get(f"{base}/vendors", auth=AUTH, params={"$filter": "number eq 'V00380' or city eq 'Erie'"})
    assert either.status_code == 400  # no 'or' across different fields in BC either
    same = requests.get(f"{base}/vendors", auth=AUTH, params={"$filter": "number eq 'V00380' or number eq 'V00010'"})
    assert len(same.json()["value"]) == 2
    acme = requests.get(f"{base}/vendors", auth=AUTH, params={"$filter": "number eq 'V00010'"}).json()["value"][0]
    assert acme["blocked"] == "_x0020_" and acme["currencyCode"] == "USD"
    patched = requests.patch(f"{base}/vendors({acme['id']})", auth=AUTH, json={"city": "Erie", "blocked": "Payment"},
                             headers={"If-Match": acme["@odata.etag"]})
    assert patched.status_code == 200 and patched.json()["blocked"] == "Payment"
    assert patched.json()["lastModifiedDateTime"] > acme["lastModifiedDateTime"]
    page = requests.get(f"{company_url(nav_server)}/Vendor('V00010')", auth=AUTH).json()
    assert page["City"] == "Erie" and page["Blocked"] == "Payment"
    stale = requests.patch(f"{base}/vendors({acme['id']})", auth=AUTH, json={"city": "X"},
                           headers={"If-Match": acme["@odata.etag"]})
    assert stale.status_code == 412
    created = requests.post(f"{base}/vendors", auth=AUTH, json={"displayName": "New API Vendor",
                                                                "email": "a@b.example"})
    assert created.status_code == 201 and created.json()["number"].startswith("V")
    since = patched.json()["lastModifiedDateTime"]
    changed = requests.get(f"{base}/vendors", auth=AUTH, params={"$filter": f"lastModifiedDateTime ge {since}"})
    assert {v["number"] for v in changed.json()["value"]} == {"V00010", created.json()["number"]}
    wrong = requests.post(f"{base}/vendors", auth=AUTH, json={"displayName": "x", "Name": "y"})
    assert wrong.status_code == 400


def test_api_purchase_invoices_drafts_and_posting(nav_server):
    base = api_company_url(nav_server)
    invoices = requests.get(f"{base}/purchaseInvoices", auth=AUTH).json()["value"]
    drafts = [i for i in invoices if i["status"] == "Draft"]
    assert [d["number"] for d in drafts] == ["1001", "1002"] and len(invoices) == 62
    assert {i["status"] for i in invoices} == {"Draft", "Open"}
    draft = drafts[0]
    refused = requests.post(f"{base}/purchaseInvoices({invoices[-1]['id']})/Microsoft.NAV.post", auth=AUTH)
    assert refused.status_code == 400 and "draft invoice only" in _error(refused)["message"]
    patch_posted = requests.patch(f"{base}/purchaseInvoices({invoices[-1]['id']})", auth=AUTH,
                                  json={"vendorInvoiceNumber": "x"}, headers={"If-Match": invoices[-1]["@odata.etag"]})
    assert patch_posted.status_code == 400
    assert _error(patch_posted)["message"] == "The invoice has been posted and can no longer be modified."
    posted = requests.post(f"{base}/purchaseInvoices({draft['id']})/Microsoft.NAV.post", auth=AUTH)
    assert posted.status_code == 204 and posted.text == ""
    after = requests.get(f"{base}/purchaseInvoices({draft['id']})", auth=AUTH).json()
    assert after["id"] == draft["id"] and after["number"] != "1001" and after["status"] == "Open"
    assert after["totalAmountIncludingTax"] == draft["totalAmountIncludingTax"]
    page = requests.get(f"{company_url(nav_server)}/PostedPurchaseInvoice('{after['number']}')", auth=AUTH).json()
    assert page["Pre_Assigned_No"] == "1001"
    opened = requests.get(f"{base}/purchaseInvoices", auth=AUTH, params={"$filter": "status eq 'Open'"}).json()
    assert len(opened["value"]) == 61
    typed = requests.get(f"{base}/purchaseInvoices", auth=AUTH, params={
        "$filter": "status eq Microsoft.NAV.invoiceEntityAggregateStatus'Draft'"}).json()["value"]
    assert [i["number"] for i in typed] == ["1002"]


def test_api_creates_drafts_only(nav_server):
    base = api_company_url(nav_server)
    missing = requests.post(f"{base}/purchaseInvoices", auth=AUTH, json={"vendorInvoiceNumber": "X-1"})
    assert missing.status_code == 400
    assert _error(missing)["message"] == 'A "vendorNumber" or a "vendorID" must be provided.'
    created = requests.post(f"{base}/purchaseInvoices", auth=AUTH, json={"vendorNumber": "V00030",
                                                                         "vendorInvoiceNumber": "X-1"})
    assert created.status_code == 201 and created.json()["status"] == "Draft"
    draft = created.json()
    line = requests.post(f"{base}/purchaseInvoices({draft['id']})/purchaseInvoiceLines", auth=AUTH, json={
        "lineType": "Account", "lineObjectNumber": "6200", "quantity": 2, "unitCost": 10.5})
    assert line.status_code == 201 and line.json()["amountExcludingTax"] == 21
    again = requests.get(f"{base}/purchaseInvoices({draft['id']})", auth=AUTH).json()
    assert again["totalAmountExcludingTax"] == 21 and again["status"] == "Draft"
    pages = requests.get(f"{company_url(nav_server)}/PostedPurchaseInvoices", auth=AUTH).json()["value"]
    assert draft["number"] not in {row["No"] for row in pages}
    assert requests.post(f"{base}/purchaseInvoices({draft['id']})/Microsoft.NAV.post", auth=AUTH).status_code == 204
    posted = requests.get(f"{base}/purchaseInvoices({draft['id']})", auth=AUTH).json()
    assert posted["status"] == "Open" and posted["vendorInvoiceNumber"] == "X-1"


def test_item_lines_on_pages_and_api(nav_server):
    lines = requests.get(f"{company_url(nav_server)}/PostedPurchaseInvoiceLines", auth=AUTH,
                         params={"$filter": "Document_No eq '108005'"}).json()["value"]
    assert [(line["Type"], line["No"]) for line in lines] == [("G/L Account", "5120"), ("Item", "1100")]
    base = api_company_url(nav_server)
    invoice = requests.get(f"{base}/purchaseInvoices", auth=AUTH,
                           params={"$filter": "number eq '108005'"}).json()["value"][0]
    api_lines = requests.get(f"{base}/purchaseInvoices({invoice['id']})/purchaseInvoiceLines", auth=AUTH).json()
    item = api_lines["value"][1]
    assert item["lineType"] == "Item" and item["lineObjectNumber"] == "1100"
    assert item["accountId"] == "00000000-0000-0000-0000-000000000000" and item["itemId"] != item["accountId"]


def test_api_invoice_lines_and_dimension_set_lines(nav_server):
    base = api_company_url(nav_server)
    invoice = requests.get(f"{base}/purchaseInvoices", auth=AUTH,
                           params={"$filter": "number eq '108012'"}).json()["value"][0]
    lines = requests.get(f"{base}/purchaseInvoices({invoice['id']})/purchaseInvoiceLines", auth=AUTH).json()["value"]
    assert [line["lineType"] for line in lines] == ["Account", "Account"]
    assert sum(line["amountExcludingTax"] for line in lines) == invoice["totalAmountExcludingTax"]
    assert "lastModifiedDateTime" not in lines[0]
    dims = requests.get(f"{base}/purchaseInvoices({invoice['id']})/purchaseInvoiceLines({lines[1]['id']})/"
                        "dimensionSetLines", auth=AUTH).json()["value"]
    assert {(d["code"], d["valueCode"]) for d in dims} == {("AREA", "EAST"), ("DEPARTMENT", "PROD"),
                                                           ("PROJECT", "P-1001")}
    assert {d["parentType"] for d in dims} == {"Purchase_x0020_Invoice_x0020_Line"}
    expanded = requests.get(f"{base}/purchaseInvoices({invoice['id']})", auth=AUTH, params={
        "$expand": "purchaseInvoiceLines($expand=dimensionSetLines),dimensionSetLines"}).json()
    assert len(expanded["purchaseInvoiceLines"][1]["dimensionSetLines"]) == 3
    assert expanded["dimensionSetLines"][0]["parentType"] == "Purchase_x0020_Invoice"
    filtered = requests.get(f"{base}/purchaseInvoiceLines", auth=AUTH,
                            params={"$filter": f"documentId eq {invoice['id']}"}).json()["value"]
    assert [line["id"] for line in filtered] == [line["id"] for line in lines]
    unfiltered = requests.get(f"{base}/purchaseInvoiceLines", auth=AUTH)
    assert unfiltered.status_code == 400
    assert _error(unfiltered)["message"] == "You must specify an Id or a Document Id to get the lines."
    top_dims = requests.get(f"{base}/dimensionSetLines", auth=AUTH)
    assert _error(top_dims)["message"] == "You must get to the parent first to get to the dimension set line."


def test_api_accounts_dimensions_and_companies(nav_server):
    base = api_company_url(nav_server)
    accounts = {a["number"]: a for a in requests.get(f"{base}/accounts", auth=AUTH).json()["value"]}
    assert accounts["5000"]["accountType"] == "Begin_x002D_Total" and accounts["5110"]["accountType"] == "Posting"
    assert accounts["5110"]["category"] == "Cost_x0020_of_x0020_Goods_x0020_Sold"
    assert requests.post(f"{base}/accounts", auth=AUTH, json={"number": "1"}).status_code == 405
    dims = {d["code"]: d for d in requests.get(f"{base}/dimensions", auth=AUTH).json()["value"]}
    assert set(dims) == {"DEPARTMENT", "PROJECT", "AREA"}
    values = requests.get(f"{base}/dimensions({dims['AREA']['id']})/dimensionValues", auth=AUTH).json()["value"]
    assert {v["code"] for v in values} == {"EAST", "WEST"} and values[0]["dimensionId"] == dims["AREA"]["id"]
    companies = requests.get(f"{api_url(nav_server)}/companies", auth=AUTH).json()["value"]
    assert companies[0]["id"] == demo_data.COMPANY_ID and companies[0]["name"] == demo_data.COMPANY_NAME


def test_api_vendor_payments_rules(nav_server):
    base = api_company_url(nav_server)
    journals = {j["code"]: j for j in requests.get(f"{base}/vendorPaymentJournals", auth=AUTH).json()["value"]}
    assert set(journals) == {"BILL", "DEFAULT"}
    clerk = requests.get(f"{base}/vendorPaymentJournals({journals['DEFAULT']['id']})/vendorPayments",
                         auth=AUTH).json()["value"]
    assert [p["documentNumber"] for p in clerk] == ["PAY-0001"]  # the unapplied PAY-0002 is hidden (BC18+)
    top = requests.get(f"{base}/vendorPayments", auth=AUTH)
    assert _error(top)["message"] == "You must specify a journal batch ID or a journal ID to get a journal line."
    by_journal = requests.get(f"{base}/vendorPayments", auth=AUTH,
                              params={"$filter": f"journalId eq {journals['DEFAULT']['id']}"}).json()["value"]
    assert [p["id"] for p in by_journal] == [p["id"] for p in clerk]
    no_action = requests.post(f"{base}/vendorPaymentJournals({journals['BILL']['id']})/Microsoft.NAV.post", auth=AUTH)
    assert no_action.status_code == 404 and _error(no_action)["code"] == "BadRequest_NotFound"
    new_journal = requests.post(f"{base}/vendorPaymentJournals", auth=AUTH, json={"code": "bill2",
                                                                                  "balancingAccountNumber": "2910"})
    assert new_journal.status_code == 201 and new_journal.json()["code"] == "BILL2"
    assert new_journal.json()["balancingAccountNumber"] == "2910"


def test_api_payment_posted_through_journals_post(nav_server):
    base = api_company_url(nav_server)
    journal = requests.get(f"{base}/vendorPaymentJournals", auth=AUTH,
                           params={"$filter": "code eq 'BILL'"}).json()["value"][0]
    invoice = requests.get(f"{base}/purchaseInvoices", auth=AUTH,
                           params={"$filter": "number eq '108002'"}).json()["value"][0]
    payments = f"{base}/vendorPaymentJournals({journal['id']})/vendorPayments"
    created = requests.post(payments, auth=AUTH, json={
        "vendorNumber": "V00010", "postingDate": demo_data.DEMO_TODAY.isoformat(), "documentNumber": "BILLPAY-9",
        "externalDocumentNumber": "stp09", "amount": invoice["totalAmountIncludingTax"],
        "appliesToInvoiceId": invoice["id"], "description": "BILL payment"})
    assert created.status_code == 201
    payment = created.json()
    assert payment["appliesToInvoiceNumber"] == "108002" and payment["lineNumber"] == 10000
    applied = requests.get(f"{payments}({payment['id']})/applyVendorEntries", auth=AUTH).json()["value"]
    assert [e["documentNumber"] for e in applied if e["applied"]] == ["108002"]
    assert {e["documentType"] for e in applied} == {"Invoice"}
    lines = requests.get(f"{base}/journals({journal['id']})/journalLines", auth=AUTH).json()["value"]
    assert lines == []  # journalLines hides every line with a document type
    posted = requests.post(f"{base}/journals({journal['id']})/Microsoft.NAV.post", auth=AUTH)
    assert posted.status_code == 204
    assert requests.get(payments, auth=AUTH).json()["value"] == []
    paid = requests.get(f"{base}/purchaseInvoices({invoice['id']})", auth=AUTH).json()
    assert paid["status"] == "Paid"
    entries = requests.get(f"{base}/generalLedgerEntries", auth=AUTH,
                           params={"$filter": "documentNumber eq 'BILLPAY-9'"}).json()["value"]
    assert len(entries) == 2 and {e["documentType"] for e in entries} == {"Payment"}
    assert sum(e["debitAmount"] - e["creditAmount"] for e in entries) == 0
    again = requests.post(f"{base}/journals({journal['id']})/Microsoft.NAV.post", auth=AUTH)
    assert again.status_code == 400 and "nothing to post" in _error(again)["message"]
    clerk = requests.get(f"{company_url(nav_server)}/PaymentJournal", auth=AUTH).json()["value"]
    assert len(clerk) == 4  # the clerk's lines in other batches were not posted


def test_api_journals_templates_and_hidden_lines(nav_server):
    base = api_company_url(nav_server)
    general = requests.get(f"{base}/journals", auth=AUTH).json()["value"]
    assert [(j["templateDisplayName"], j["code"]) for j in general] == [("GENERAL", "DEFAULT")]
    payment = requests.get(f"{base}/journals", auth=AUTH,
                           params={"$filter": "templateDisplayName eq 'PAYMENT'"}).json()["value"]
    assert {j["code"] for j in payment} == {"BILL", "DEFAULT"}
    by_id = requests.get(f"{base}/journals", auth=AUTH, params={"$filter": f"id eq {payment[0]['id']}"}).json()
    assert [j["id"] for j in by_id["value"]] == [payment[0]["id"]]  # an id filter finds any template's batch
    lines = requests.get(f"{base}/journals({general[0]['id']})/journalLines", auth=AUTH).json()["value"]
    assert [line["documentNumber"] for line in lines] == ["G00001"]  # the Payment-type G00002 is hidden
    assert lines[0]["accountType"] == "G_x002F_L_x0020_Account"
    assert requests.get(f"{base}/journalLines", auth=AUTH).status_code == 400


def test_oauth_bearer_tokens_expire(nav_server, nav):
    token_url = f"{nav_server.url}/{demo_data.NAV_TENANT}/oauth2/v2.0/token"
    refused = requests.post(token_url, data={"grant_type": "client_credentials", "client_id": "x",
                                             "client_secret": "y"})
    assert refused.status_code == 401
    token = requests.post(token_url, data={"grant_type": "client_credentials", "client_id": demo_data.NAV_CLIENT_ID,
                                           "client_secret": demo_data.NAV_CLIENT_SECRET}).json()["access_token"]
    online = f"{nav_server.url}/v2.0/{demo_data.NAV_TENANT}/production/api/v2.0/companies"
    assert requests.get(online, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    nav.clock.advance(nav.token_lifetime + 1)
    expired = requests.get(online, headers={"Authorization": f"Bearer {token}"})
    assert expired.status_code == 401 and "Bearer" in expired.headers["WWW-Authenticate"]


# -- control endpoints, faults, seeds --------------------------------------------------------------

def test_control_endpoints(nav_server, nav):
    assert requests.post(f"{nav_server.url}/_sandbox/webhooks", json={"enabled": False}).status_code == 200
    assert requests.get(f"{api_url(nav_server)}/subscriptions", auth=AUTH).status_code == 404
    created = requests.post(f"{nav_server.url}/_sandbox/invoices", json={
        "vendor": "V00010", "vendor_invoice_number": "NEW-1",
        "lines": [{"account": "6100", "amount": "12.50", "dimensions": {"DEPARTMENT": "ADMIN"}}]})
    assert created.status_code == 201 and created.json()["Amount"] == 12.5
    draft = requests.post(f"{nav_server.url}/_sandbox/drafts/1002/post")
    assert draft.status_code == 200 and draft.json()["No"] not in ("1002", created.json()["No"])
    stats = requests.get(f"{nav_server.url}/_sandbox/stats").json()
    assert stats["posted_invoices"] == 62 and stats["draft_invoices"] == 1 and stats["webhooks_supported"] is False
    assert stats["flavor"] == "bc"
    setup = requests.post(f"{nav_server.url}/_sandbox/setup", json={"Allow_Posting_To": "2026-12-31"})
    assert setup.status_code == 200 and setup.json()["Allow_Posting_To"] == "2026-12-31"
    before = nav.clock.now()
    requests.post(f"{nav_server.url}/_sandbox/clock", json={"seconds": 3600})
    assert (nav.clock.now() - before).total_seconds() >= 3600
    requests.post(f"{nav_server.url}/_sandbox/reset", json={})
    assert requests.get(f"{nav_server.url}/_sandbox/stats").json()["posted_invoices"] == 60


def test_faults_are_nav_shaped_and_skip_control_paths(nav_server, nav):
    from app.sandbox.base import FaultSpec

    nav.set_faults(FaultSpec(error_5xx=1.0))
    failing = requests.get(f"{company_url(nav_server)}/Vendor", auth=AUTH)
    assert failing.status_code == 503 and _error(failing)["code"]
    assert requests.get(f"{nav_server.url}/_sandbox/stats").status_code == 200
    nav.set_faults(FaultSpec(rate_limit=1.0))
    limited = requests.get(f"{api_company_url(nav_server)}/vendors", auth=AUTH)
    assert limited.status_code == 429 and limited.headers["Retry-After"]


def test_large_seed_is_lazy_and_pages(clock):
    app = NavSandbox("large:10000", clock=clock)
    assert len(app.vendors) == 10000 and len(app.invoices) == 20000
    assert not app.vendors.overrides  # nothing materialised
    with SandboxServer(app) as server:
        body = requests.get(f"{company_url(server)}/Vendor", auth=AUTH,
                            params={"$filter": "No ge 'L0009999'"}).json()
        assert [row["No"] for row in body["value"]] == ["L0009999", "L0010000"]
        page = requests.get(f"{company_url(server)}/PostedPurchaseInvoices", auth=AUTH,
                            headers={"Prefer": "odata.maxpagesize=500"}).json()
        assert len(page["value"]) == 500 and page["@odata.nextLink"]
        ledger = requests.get(f"{company_url(server)}/VendorLedgerEntries", auth=AUTH,
                              params={"$filter": "Entry_No gt 19998"}).json()["value"]
        assert [row["Entry_No"] for row in ledger] == [20000, 19999]
        base = api_company_url(server)
        since = (app.company.seeded_at - timedelta(seconds=1.5)).isoformat().replace("+00:00", "Z")
        recent = requests.get(f"{base}/vendors", auth=AUTH, params={"$filter": f"lastModifiedDateTime gt {since}"})
        assert [v["number"] for v in recent.json()["value"]] == ["L0009999", "L0010000"]
        one = requests.get(f"{base}/vendors", auth=AUTH, params={"$top": "1", "$skip": "9999"}).json()["value"][0]
        assert requests.get(f"{base}/vendors({one['id']})", auth=AUTH).json()["number"] == "L0010000"
        invoice = requests.get(f"{base}/purchaseInvoices", auth=AUTH, params={"$top": "1"}).json()["value"][0]
        lines = requests.get(f"{base}/purchaseInvoices({invoice['id']})/purchaseInvoiceLines", auth=AUTH).json()
        assert lines["value"][0]["lineObjectNumber"] == "5110"
    assert len(app.vendors.overrides) == 0


def test_runner_passes_the_flavour(tmp_path):
    from app.sandbox.runner import running_sandboxes

    with running_sandboxes(seed="empty", nav_flavor="classic") as running:
        assert running.nav.flavor == "classic" and running.nav_connection().company_id == ""
    with running_sandboxes(seed="empty") as running:
        assert running.nav.flavor == "bc" and running.nav_connection().company_id == demo_data.COMPANY_ID


def test_unknown_flavour_or_language_is_refused():
    import pytest

    with pytest.raises(ValueError):
        NavSandbox("demo", clock=SandboxClock(), flavor="nav2009")
    with pytest.raises(ValueError):
        NavSandbox("demo", clock=SandboxClock(), language="fr")


def test_metadata_lists_the_published_services_and_api(nav_server, classic_server):
    import xml.etree.ElementTree as ElementTree

    edm = "{http://docs.oasis-open.org/odata/ns/edm}"
    classic = requests.get(f"{classic_server.url}/{demo_data.SERVER_INSTANCE}/ODataV4/$metadata", auth=AUTH)
    assert classic.status_code == 200 and classic.headers["Content-Type"].startswith("application/xml")
    tree = ElementTree.fromstring(classic.content)
    sets = {e.get("Name") for e in tree.iter(f"{edm}EntitySet")}
    assert {"Vendor", "PostedPurchaseInvoice", "PostedPurchaseInvoicePurchInvLines", "PostedPurchaseInvoices",
            "PaymentJournal", "VendorLedgerEntries"} <= sets
    part = next(e for e in tree.iter(f"{edm}NavigationProperty"))
    assert part.get("Name") == "PostedPurchaseInvoicePurchInvLines" and part.get("ContainsTarget") == "true"
    standalone = requests.get(f"{company_url(classic_server)}/PostedPurchaseInvoicePurchInvLines", auth=AUTH,
                              params={"$filter": "Document_No eq '108001'"}).json()["value"]
    assert [line["Document_No"] for line in standalone] == ["108001"]
    api = requests.get(f"{api_url(nav_server)}/$metadata", auth=AUTH)
    tree = ElementTree.fromstring(api.content)
    members = {m.get("Name") for e in tree.iter(f"{edm}EnumType") if e.get("Name") == "glAccountType"
               for m in e.iter(f"{edm}Member")}
    assert "Begin_x002D_Total" in members
    assert requests.get(f"{api_url(classic_server)}/$metadata", auth=AUTH).status_code == 404
