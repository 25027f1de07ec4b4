"""Business Central posted invoices are read with only the properties the connector uses ($select, also inside the
nested $expand of lines and dimensions), and a server that refuses that is read with whole rows instead."""

from __future__ import annotations

from urllib.parse import unquote_plus

import pytest
import requests

from app.clients.nav import NavClient, NavConnection, bcapi
from app.clients.retry import RetryPolicy
from app.sandbox import demo_data
from app.sandbox.base import SandboxServer
from app.sandbox.nav import NavSandbox

NO_WAIT = RetryPolicy(max_attempts=6, sleep=lambda seconds: None)


def _client(server: SandboxServer) -> NavClient:
    return NavClient(NavConnection(mode="onprem", base_url=server.url, server_instance=demo_data.SERVER_INSTANCE,
                                   company=demo_data.COMPANY_NAME, user=demo_data.NAV_USER,
                                   web_service_key=demo_data.NAV_WEB_SERVICE_KEY), retry=NO_WAIT, page_size=7)


def _invoice_reads(nav: NavSandbox) -> list[tuple[str, int]]:
    """(decoded query, status) of each purchaseInvoices list read, in order."""
    return [(unquote_plus(r.query), r.status) for r in nav.requests if r.path.endswith("/purchaseInvoices")]


def _whole_rows(server: SandboxServer) -> list:
    client = _client(server)
    client.backend._select_invoice_properties = False
    try:
        return list(client.iter_posted_invoices())
    finally:
        client.close()


def test_invoices_read_with_selected_properties_are_the_invoices_read_whole(nav, nav_server):
    client = _client(nav_server)
    try:
        selected = list(client.iter_posted_invoices())
    finally:
        client.close()
    reads = _invoice_reads(nav)
    assert reads and all("$select=" in query and "dimensionSetLines($select=code,valueCode)" in query
                         and status == 200 for query, status in reads)
    whole = _whole_rows(nav_server)
    assert not any("$select=" in query for query, _ in _invoice_reads(nav)[len(reads):])
    assert len(selected) > 5  # the demo company's posted invoices: items, comments, dimensions, currencies
    assert any(line.dimensions for invoice in selected for line in invoice.lines)
    assert selected == whole


def test_a_server_that_refuses_the_selection_is_read_with_whole_rows_once_and_for_all(nav, nav_server, monkeypatch):
    # a property this server does not have: it answers 400 (BadRequest_NotFound), as Business Central does
    refused = dict(bcapi.INVOICE_WITH_LINES_SELECTED, **{"$select": bcapi.INVOICE_PROPERTIES + ",noSuchProperty"})
    monkeypatch.setattr(bcapi, "INVOICE_WITH_LINES_SELECTED", refused)
    client = _client(nav_server)
    try:
        first = list(client.iter_posted_invoices())
        again = list(client.iter_posted_invoices())
    finally:
        client.close()
    statuses = [(("$select=" in query), status) for query, status in _invoice_reads(nav)]
    assert statuses[:2] == [(True, 400), (False, 200)]  # refused once, then whole rows with lines, nested
    assert (True, 400) not in statuses[2:]  # not asked again
    assert all("purchaseInvoiceLines($expand=dimensionSetLines)" in query for query, _ in _invoice_reads(nav)[1:])
    whole = _whole_rows(nav_server)
    assert first == again == whole


@pytest.mark.parametrize("mode", ["refuse-400", "refuse-501", "ignore-select", "ignore-expand", "no-expand"])
def test_a_server_without_nested_query_options_gives_the_same_invoices_with_their_dimensions(nav, nav_server, mode):
    """Another OData server than Business Central may refuse options inside $expand (400 with an OData error, or
    501 Not Implemented, OData part 1 9.3.1) or drop them silently (every property; the lines without their
    dimensionSetLines; no $expand at all): the invoices read are the same, dimensions included."""
    client = _client(nav_server)
    try:
        expected = list(client.iter_posted_invoices())
    finally:
        client.close()
    assert any(line.dimensions for invoice in expected for line in invoice.lines)
    nav.nested_options = mode
    client = _client(nav_server)
    try:
        first = list(client.iter_posted_invoices())
        again = list(client.iter_posted_invoices())
    finally:
        client.close()
    assert first == again == expected


def test_credit_memo_lines_are_read_with_their_dimensions_where_the_server_does_not_expand(nav, nav_server):
    answer = requests.post(f"{nav_server.url}/_sandbox/credit-memos", timeout=10, json={
        "vendor": "V00010", "vendor_credit_memo_number": "CM-77",
        "lines": [{"account": "5110", "amount": 64.99, "description": "Returned steel",
                   "dimensions": {"DEPARTMENT": "PROD"}}]})
    assert answer.status_code == 201, answer.text
    client = _client(nav_server)
    try:
        expected = list(client.iter_posted_credit_memos())
        assert [line.dimensions for memo in expected for line in memo.lines] == [{"DEPARTMENT": "PROD"}]
        nav.nested_options = "no-expand"  # $expand=dimensionSetLines ignored: each line's dimensions read alone
        assert list(client.iter_posted_credit_memos()) == expected
    finally:
        client.close()


@pytest.mark.parametrize(("mode", "status", "line_keys"), [
    ("supported", 200, {"@odata.etag", "sequence", "dimensionSetLines"}),
    ("refuse-400", 400, None), ("refuse-501", 501, None),
    ("ignore-select", 200, {"@odata.etag", "id", "sequence", "documentId", "dimensionSetLines"}),
    ("ignore-expand", 200, {"@odata.etag", "sequence"})])
def test_the_sandbox_plays_a_server_without_nested_query_options(nav, nav_server, mode, status, line_keys):
    nav.nested_options = mode
    url = (f"{nav_server.url}/{demo_data.SERVER_INSTANCE}/api/v2.0/companies({demo_data.COMPANY_ID})/purchaseInvoices")
    answer = requests.get(url, auth=(demo_data.NAV_USER, demo_data.NAV_WEB_SERVICE_KEY), timeout=10, params={
        "$top": "1", "$expand": "purchaseInvoiceLines($select=sequence;$expand=dimensionSetLines)"})
    assert answer.status_code == status, answer.text
    if line_keys is None:
        assert answer.json()["error"]["code"] in ("BadRequest", "NotImplemented")
        return
    [line, *_] = answer.json()["value"][0]["purchaseInvoiceLines"]
    assert line_keys <= set(line) and (mode == "ignore-select") == ("documentId" in line)
    assert ("dimensionSetLines" in line) == (mode != "ignore-expand")
