"""The NAV sandbox over real sockets: URL shapes, paging, filters, etags, posting, auth, webhooks."""

from __future__ import annotations

import requests

from app.sandbox import demo_data
from app.sandbox.base import SandboxServer
from app.sandbox.nav import NavSandbox
from tests.sandbox.nav_fixtures import AUTH, api_url, company_url

pytest_plugins = ["tests.sandbox.nav_fixtures"]


def _error(response: requests.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"])
    return body["error"]


def test_company_list_and_key_shapes(nav_server):
    root = f"{nav_server.url}/{demo_data.SERVER_INSTANCE}/ODataV4"
    companies = requests.get(f"{root}/Company", auth=AUTH).json()
    assert [c["Name"] for c in companies["value"]] == [demo_data.COMPANY_NAME]
    assert "@odata.context" in companies
    by_position = requests.get(f"{company_url(nav_server)}/Vendor('V00010')", auth=AUTH).json()
    by_name = requests.get(f"{company_url(nav_server)}/Vendor(No='V00010')", auth=AUTH).json()
    assert by_position["Name"] == by_name["Name"] == "Acme Steel Supply"
    assert by_position["@odata.etag"].startswith('W/"')


def test_wrong_instance_and_company_answer_odata_errors(nav_server):
    wrong_instance = requests.get(f"{nav_server.url}/DynamicsNAV100/ODataV4/Company", auth=AUTH)
    assert wrong_instance.status_code == 404
    assert "server instance" in _error(wrong_instance)["message"]
    wrong_company = requests.get(f"{nav_server.url}/{demo_data.SERVER_INSTANCE}/ODataV4/Company('Nope')/Vendor",
                                 auth=AUTH)
    assert _error(wrong_company)["code"] == "Internal_CompanyNotFound"
    unknown_service = requests.get(f"{company_url(nav_server)}/NoSuchPage", auth=AUTH)
    assert _error(unknown_service)["code"] == "BadRequest_ResourceNotFound"


def test_basic_auth_required(nav_server):
    missing = requests.get(f"{company_url(nav_server)}/Vendor")
    assert missing.status_code == 401 and "Basic" in missing.headers["WWW-Authenticate"]
    wrong = requests.get(f"{company_url(nav_server)}/Vendor", auth=(demo_data.NAV_USER, "wrong"))
    assert wrong.status_code == 401
    assert _error(wrong)["code"] == "Authentication_InvalidCredentials"
    assert demo_data.NAV_WEB_SERVICE_KEY not in wrong.text


def test_paging_follows_next_link_across_pages(nav_server):
    url = f"{company_url(nav_server)}/Vendor"
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


def test_filter_select_top_skip_orderby(nav_server, nav):
    url = f"{company_url(nav_server)}/Vendor"
    nav.clock.advance(60)
    nav.edit_vendor("V00030", City="Erie")
    stamp = nav.vendors.get("V00030")["Last_Modified_Date_Time"].strftime("%Y-%m-%dT%H:%M:%SZ")
    changed = requests.get(url, auth=AUTH, params={"$filter": f"Last_Modified_Date_Time ge {stamp}"}).json()
    assert [row["No"] for row in changed["value"]] == ["V00030"]
    both = requests.get(url, auth=AUTH, params={
        "$filter": "(County eq 'PA' and City ne 'Erie') or No eq 'V00020'", "$select": "No,City"}).json()
    assert {row["No"] for row in both["value"]} == {"V00010", "V00020", "V00070", "V00240", "V00390"}
    assert set(both["value"][0]) == {"@odata.etag", "No", "City"}
    top = requests.get(url, auth=AUTH, params={"$top": "3", "$skip": "2"}).json()
    assert [row["No"] for row in top["value"]] == ["V00030", "V00040", "V00050"] and "@odata.nextLink" not in top
    ordered = requests.get(url, auth=AUTH, params={"$orderby": "Name desc", "$top": "2"}).json()
    assert [row["Name"] for row in ordered["value"]] == ["Tri-County Waste Management", "Tidewater Uniform Services"]
    dated = requests.get(f"{company_url(nav_server)}/PostedPurchaseInvoices", auth=AUTH,
                         params={"$filter": "Posting_Date gt 2026-10-30 and Posting_Date le 2026-11-02"}).json()
    assert [row["No"] for row in dated["value"]] == ["108058", "108059", "108060"]


def test_bad_filter_is_an_odata_400(nav_server):
    url = f"{company_url(nav_server)}/Vendor"
    for bad in ("No eq", "No = 'x'", "Nope eq 1", "(No eq 'x'", "No eq 'unterminated"):
        response = requests.get(url, auth=AUTH, params={"$filter": bad})
        assert response.status_code == 400, bad
        _error(response)


def test_etag_if_match_and_412(nav_server):
    url = f"{company_url(nav_server)}/Vendor('V00010')"
    etag = requests.get(url, auth=AUTH).json()["@odata.etag"]
    missing = requests.patch(url, auth=AUTH, json={"City": "Erie"})
    assert missing.status_code == 400 and _error(missing)["code"] == "BadRequest_InvalidToken"
    ok = requests.patch(url, auth=AUTH, json={"City": "Erie"}, headers={"If-Match": etag})
    assert ok.status_code == 200 and ok.json()["City"] == "Erie" and ok.json()["@odata.etag"] != etag
    stale = requests.patch(url, auth=AUTH, json={"City": "Altoona"}, headers={"If-Match": etag})
    assert stale.status_code == 412 and _error(stale)["code"] == "Request_EntityChanged"


def test_bad_bodies_answer_odata_errors(nav_server):
    url = f"{company_url(nav_server)}/Vendor"
    cases = [
        (b"{not json", "BadRequest"),
        (b'{"No": "V90000", "Name": 12}', "BadRequest"),
        (b'{"No": "V90000", "Name": "X", "Colour": "red"}', "BadRequest"),
        (b'{"No": "V90000"}', "BadRequest_RequiredParamNotProvided"),
        (b'{"No": "V90000", "Name": "X", "Blocked": "Sometimes"}', "Application_EvaluateException"),
        (b'{"No": "V00010", "Name": "Dup"}', "Internal_EntityWithSameKeyExists"),
    ]
    for body, code in cases:
        response = requests.post(url, auth=AUTH, data=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, body
        assert _error(response)["code"] == code, body


def test_vendor_numbers_manual_or_from_series(nav_server):
    url = f"{company_url(nav_server)}/Vendor"
    manual = requests.post(url, auth=AUTH, json={"No": "V90000", "Name": "Manual"})
    assert manual.status_code == 201 and manual.json()["No"] == "V90000"
    series = requests.post(url, auth=AUTH, json={"Name": "From series"})
    assert series.status_code == 201 and series.json()["No"].startswith("V")


def test_purchase_orders_are_not_posted_invoices(nav_server):
    orders = requests.get(f"{company_url(nav_server)}/PurchaseOrders", auth=AUTH).json()["value"]
    invoices = requests.get(f"{company_url(nav_server)}/PostedPurchaseInvoices", auth=AUTH).json()["value"]
    assert {o["No"] for o in orders} == {"106001", "106002", "106003"}
    assert not {o["No"] for o in orders} & {i["No"] for i in invoices}
    assert len(invoices) == 60


def test_expand_lines_with_dimensions(nav_server):
    url = f"{company_url(nav_server)}/PostedPurchaseInvoices('108003')"
    body = requests.get(url, auth=AUTH, params={"$expand": "PurchInvLines"}).json()
    lines = body["PurchInvLines"]
    assert len(lines) == 2 and lines[0]["No"] == "5120" and lines[0]["Shortcut_Dimension_1_Code"] == "PROD"
    assert sum(line["Amount"] for line in lines) == body["Amount"]


def test_journal_posting_creates_entries_and_reduces_remaining(nav_server):
    root = company_url(nav_server)
    entry = requests.get(f"{root}/VendorLedgerEntries", auth=AUTH, params={
        "$filter": "Document_Type eq 'Invoice' and Document_No eq '108001'"}).json()["value"][0]
    owed = -entry["Remaining_Amount"]
    line = requests.post(f"{root}/GeneralJournalLines", auth=AUTH, json={
        "Journal_Template_Name": "PAYMENT", "Journal_Batch_Name": "BILL", "Document_No": "BILLPAY-1",
        "External_Document_No": "stp01ABC", "Account_No": "V00010", "Amount": 100.25,
        "Applies_to_Doc_Type": "Invoice", "Applies_to_Doc_No": "108001", "Bal_Account_No": "2910"})
    assert line.status_code == 201
    key = "Journal_Template_Name='PAYMENT',Journal_Batch_Name='BILL',Line_No=10000"
    posted = requests.post(f"{root}/GeneralJournalLines({key})/NAV.Post", auth=AUTH)
    assert posted.status_code == 200
    payments = requests.get(f"{root}/VendorLedgerEntries", auth=AUTH, params={
        "$filter": "External_Document_No eq 'stp01ABC'"}).json()["value"]
    assert len(payments) == 1 and payments[0]["Document_Type"] == "Payment" and payments[0]["Amount"] == 100.25
    after = requests.get(f"{root}/VendorLedgerEntries({entry['Entry_No']})", auth=AUTH).json()
    assert round(-after["Remaining_Amount"], 2) == round(owed - 100.25, 2)
    assert requests.get(f"{root}/GeneralJournalLines", auth=AUTH).json()["value"] == []
    gl = requests.get(f"{root}/GeneralLedgerEntries", auth=AUTH).json()["value"]
    assert sum(row["Amount"] for row in gl) == 0 and len(gl) == 2


def test_posted_entries_are_immutable(nav_server):
    root = company_url(nav_server)
    for url in (f"{root}/VendorLedgerEntries(1)", f"{root}/PostedPurchaseInvoices('108001')"):
        etag = requests.get(url, auth=AUTH).json()["@odata.etag"]
        patch = requests.patch(url, auth=AUTH, json={"Description": "x"}, headers={"If-Match": etag})
        delete = requests.delete(url, auth=AUTH, headers={"If-Match": etag})
        assert patch.status_code == delete.status_code == 405
        assert _error(patch)["code"] == "BadRequest_MethodNotAllowed"


def test_api_shape_same_data(nav_server):
    base = f"{api_url(nav_server)}/companies({demo_data.COMPANY_ID})"
    vendors = requests.get(f"{base}/vendors", auth=AUTH, params={"$filter": "number eq 'V00010'"}).json()["value"]
    assert vendors[0]["displayName"] == "Acme Steel Supply" and vendors[0]["state"] == "PA"
    one = requests.get(f"{base}/vendors({vendors[0]['id']})", auth=AUTH).json()
    patched = requests.patch(f"{base}/vendors({one['id']})", auth=AUTH, json={"city": "Erie"},
                             headers={"If-Match": one["@odata.etag"]})
    assert patched.status_code == 200
    page = requests.get(f"{company_url(nav_server)}/Vendor('V00010')", auth=AUTH).json()
    assert page["City"] == "Erie"
    invoices = requests.get(f"{base}/purchaseInvoices", auth=AUTH, params={"$top": "1",
                                                                          "$expand": "purchaseInvoiceLines"}).json()
    assert invoices["value"][0]["purchaseInvoiceLines"][0]["lineObjectNumber"]
    for name in ("accounts", "dimensions", "dimensionValues"):
        assert requests.get(f"{base}/{name}", auth=AUTH).json()["value"]


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


def test_subscription_handshake_renewal_and_expiry(nav_server, nav, receiver):
    subscriptions = f"{api_url(nav_server)}/subscriptions"
    resource = f"/api/v2.0/companies({demo_data.COMPANY_ID})/vendors"
    created = requests.post(subscriptions, auth=AUTH, json={"notificationUrl": receiver.url, "resource": resource,
                                                            "clientState": "s3"})
    assert created.status_code == 201 and receiver.handshakes == 1
    sub = created.json()
    url = f"{subscriptions}('{sub['subscriptionId']}')"
    nav.clock.advance(2 * 86400)
    renewed = requests.patch(url, auth=AUTH, json={}, headers={"If-Match": sub["@odata.etag"]})
    assert renewed.status_code == 200 and receiver.handshakes == 2
    assert renewed.json()["expirationDateTime"] > sub["expirationDateTime"]
    nav.clock.advance(3 * 86400 + 1)
    assert requests.get(url, auth=AUTH).status_code == 404


def test_subscription_refused_when_handshake_fails(nav_server, receiver):
    receiver.refuse_handshake = True
    response = requests.post(f"{api_url(nav_server)}/subscriptions", auth=AUTH, json={
        "notificationUrl": receiver.url, "resource": f"/api/v2.0/companies({demo_data.COMPANY_ID})/vendors"})
    assert response.status_code == 400
    assert requests.get(f"{api_url(nav_server)}/subscriptions", auth=AUTH).json()["value"] == []


def test_notifications_single_and_collection(nav_server, nav, receiver):
    resource = f"/api/v2.0/companies({demo_data.COMPANY_ID})/vendors"
    requests.post(f"{api_url(nav_server)}/subscriptions", auth=AUTH,
                  json={"notificationUrl": receiver.url, "resource": resource, "clientState": "secret-state"})
    requests.post(f"{nav_server.url}/_sandbox/vendors/V00010", json={"City": "Erie"})
    first = receiver.wait_for(1)[0]["value"][0]
    assert first["changeType"] == "updated" and first["clientState"] == "secret-state"
    assert first["resource"].startswith(resource + "(")
    nav.notification_batch_delay = 0.2
    for number in ("V00020", "V00030", "V00040", "V00050", "V00060", "V00070", "V00080"):
        nav.edit_vendor(number, City="Bulk")
    bulk = receiver.wait_for(2)
    assert bulk[1]["value"][0]["changeType"] == "collection"


def test_failing_subscriber_loses_subscription(nav_server, nav, receiver):
    resource = f"/api/v2.0/companies({demo_data.COMPANY_ID})/vendors"
    requests.post(f"{api_url(nav_server)}/subscriptions", auth=AUTH,
                  json={"notificationUrl": receiver.url, "resource": resource})
    receiver.fail = True
    for _ in range(3):
        nav.deliver([("vendors", "x", "updated", nav.clock.now())])
    assert nav.subscriptions == {}


def test_webhooks_toggle_and_control_endpoints(nav_server, nav):
    assert requests.post(f"{nav_server.url}/_sandbox/webhooks", json={"enabled": False}).status_code == 200
    assert requests.get(f"{api_url(nav_server)}/subscriptions", auth=AUTH).status_code == 404
    created = requests.post(f"{nav_server.url}/_sandbox/invoices", json={
        "vendor": "V00010", "vendor_invoice_number": "NEW-1",
        "lines": [{"account": "6100", "amount": "12.50", "dimensions": {"DEPARTMENT": "ADMIN"}}]})
    assert created.status_code == 201
    stats = requests.get(f"{nav_server.url}/_sandbox/stats").json()
    assert stats["posted_invoices"] == 61 and stats["webhooks_supported"] is False
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
    limited = requests.get(f"{company_url(nav_server)}/Vendor", auth=AUTH)
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
