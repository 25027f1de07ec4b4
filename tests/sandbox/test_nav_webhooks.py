"""Business Central webhooks in the NAV sandbox, the way the ground truth §2 describes them: handshake on
create and renew, 3-day lifetime, one POST per notificationUrl, collection notifications, drafts notify,
retries on no answer/408/429/5xx, and any other answer deletes every subscription on that URL."""

from __future__ import annotations

import time

import requests

from app.sandbox import demo_data
from tests.sandbox.nav_fixtures import AUTH, api_company_url, api_url

pytest_plugins = ["tests.sandbox.nav_fixtures"]

VENDORS = f"/api/v2.0/companies({demo_data.COMPANY_ID})/vendors"
INVOICES = f"api/v2.0/companies({demo_data.COMPANY_ID})/purchaseInvoices"


def _eventually(predicate, timeout: float = 5.0) -> bool:
    """Wait for the sandbox's delivery thread to reach a state (an event, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _subscribe(server, receiver, resource: str = VENDORS, client_state: str = "") -> requests.Response:
    return requests.post(f"{api_url(server)}/subscriptions", auth=AUTH, json={
        "notificationUrl": receiver.url, "resource": resource, "clientState": client_state})


def test_subscription_handshake_renewal_and_expiry(nav_server, nav, receiver):
    created = _subscribe(nav_server, receiver, client_state="s3")
    assert created.status_code == 201 and receiver.handshakes == 1
    sub = created.json()
    assert {"subscriptionId", "notificationUrl", "resource", "timestamp", "userId", "lastModifiedDateTime",
            "clientState", "expirationDateTime", "systemCreatedAt", "systemCreatedBy", "systemModifiedAt",
            "systemModifiedBy"} <= set(sub)
    url = f"{api_url(nav_server)}/subscriptions('{sub['subscriptionId']}')"
    nav.clock.advance(2 * 86400)
    renewed = requests.patch(url, auth=AUTH, json={}, headers={"If-Match": sub["@odata.etag"]})
    assert renewed.status_code == 200 and receiver.handshakes == 2
    assert renewed.json()["expirationDateTime"] > sub["expirationDateTime"]
    nav.clock.advance(3 * 86400 + 1)
    assert requests.get(url, auth=AUTH).status_code == 404


def test_subscription_refused_when_handshake_fails_or_resource_unsupported(nav_server, receiver):
    receiver.refuse_handshake = True
    assert _subscribe(nav_server, receiver).status_code == 400
    assert requests.get(f"{api_url(nav_server)}/subscriptions", auth=AUTH).json()["value"] == []
    receiver.refuse_handshake = False
    for resource in (f"/api/v2.0/companies({demo_data.COMPANY_ID})/purchaseInvoiceLines",
                     "/api/v2.0/companies(00000000-0000-0000-0000-000000000001)/vendors"):
        assert _subscribe(nav_server, receiver, resource).status_code == 400, resource


def test_renewal_needs_the_handshake_too(nav_server, nav, receiver):
    sub = _subscribe(nav_server, receiver).json()
    receiver.refuse_handshake = True
    url = f"{api_url(nav_server)}/subscriptions('{sub['subscriptionId']}')"
    refused = requests.patch(url, auth=AUTH, json={}, headers={"If-Match": sub["@odata.etag"]})
    assert refused.status_code == 400
    assert requests.get(url, auth=AUTH).json()["expirationDateTime"] == sub["expirationDateTime"]


def test_single_notification_shape(nav_server, nav, receiver):
    _subscribe(nav_server, receiver, client_state="secret-state")
    requests.post(f"{nav_server.url}/_sandbox/vendors/V00010", json={"City": "Erie"})
    first = receiver.wait_for(1)[0]["value"][0]
    vendor_id = nav.vendors.get("V00010")["SystemId"]
    assert first["changeType"] == "updated" and first["clientState"] == "secret-state"
    assert first["resource"] == f"{VENDORS.lstrip('/')}({vendor_id})"  # no leading slash
    assert set(first) == {"subscriptionId", "clientState", "expirationDateTime", "resource", "changeType",
                          "lastModifiedDateTime"}


def test_one_post_per_url_for_several_subscriptions(nav_server, nav, receiver):
    _subscribe(nav_server, receiver)
    _subscribe(nav_server, receiver, INVOICES)
    nav.notification_batch_delay = 0.3
    nav.edit_vendor("V00020", City="Erie")
    nav.post_invoice("V00020", "NEW-7", [{"account": "6100", "amount": 10}])
    batch = receiver.wait_for(1)[0]["value"]
    kinds = {n["resource"].split("/")[3].split("(")[0] for n in batch}
    assert kinds == {"vendors", "purchaseInvoices"} and len({n["subscriptionId"] for n in batch}) == 2
    assert receiver.wait_for_posts(1) == 1


def test_collection_notification_when_many_changed(nav_server, nav, receiver):
    _subscribe(nav_server, receiver)
    nav.notification_batch_delay = 0.3
    first_change = None
    for number in ("V00020", "V00030", "V00040", "V00050", "V00060", "V00070", "V00080"):
        nav.edit_vendor(number, City="Bulk")
        first_change = first_change or nav.vendors.get(number)["SystemModifiedAt"]
    value = receiver.wait_for(1)[0]["value"]
    assert len(value) == 1 and value[0]["changeType"] == "collection"
    resource = value[0]["resource"]
    assert resource.startswith(f"{VENDORS.lstrip('/')}?$filter=lastModifiedDateTime%20gt%20")
    stamp = resource.rsplit("%20", 1)[1]
    assert stamp < first_change.isoformat()
    changed = requests.get(f"{api_company_url(nav_server)}/vendors", auth=AUTH,
                           params={"$filter": f"lastModifiedDateTime gt {stamp}"}).json()["value"]
    assert len(changed) == 7


def test_drafts_notify_and_keep_their_id(nav_server, nav, receiver):
    _subscribe(nav_server, receiver, INVOICES)
    draft = requests.get(f"{api_company_url(nav_server)}/purchaseInvoices", auth=AUTH,
                         params={"$filter": "number eq '1001'"}).json()["value"][0]
    requests.post(f"{api_company_url(nav_server)}/purchaseInvoices({draft['id']})/Microsoft.NAV.post", auth=AUTH)
    notification = receiver.wait_for(1)[0]["value"][0]
    assert notification["resource"] == f"{INVOICES}({draft['id']})" and notification["changeType"] == "updated"


def test_retry_after_server_errors_then_delivered(nav_server, nav, receiver):
    _subscribe(nav_server, receiver)
    nav.webhooks.retry_scale = 0.01  # retries 0.6 s apart: time to stop failing before the third attempt
    receiver.fail = True  # 500: BC retries
    nav.edit_vendor("V00010", City="Erie")
    receiver.wait_for_posts(2)
    receiver.fail = False
    delivered = receiver.wait_for(1)
    assert delivered and delivered[0]["value"][0]["changeType"] == "updated"
    assert len(nav.subscriptions) == 1


def test_five_failed_attempts_delete_the_subscription(nav_server, nav, receiver):
    _subscribe(nav_server, receiver)
    receiver.fail = True
    nav.edit_vendor("V00010", City="Erie")
    receiver.wait_for_posts(5)
    assert _eventually(lambda: nav.subscriptions == {})
    assert receiver.posts == 5


def test_a_4xx_answer_deletes_every_subscription_on_that_url(nav_server, nav, receiver):
    _subscribe(nav_server, receiver)
    _subscribe(nav_server, receiver, INVOICES)
    assert len(nav.subscriptions) == 2
    receiver.status = 400
    nav.deliver([("vendors", "x", "updated", nav.clock.now())])
    assert nav.subscriptions == {}


def test_webhooks_off_and_classic_have_no_subscriptions(nav_server, classic_server, nav):
    nav.webhooks_supported = False
    assert requests.get(f"{api_url(nav_server)}/subscriptions", auth=AUTH).status_code == 404
    assert requests.get(f"{api_url(classic_server)}/subscriptions", auth=AUTH).status_code == 404
