"""Business Central API v2.0 query options another OData server may not implement: the reference lists' change probe
($orderby + $top on lastModifiedDateTime) still tells what changed where $orderby is answered 501 Not Implemented
(OData part 1 9.3.1), and says nothing (the engine then reads hourly) where the filter is not there either."""

from __future__ import annotations

import pytest

from app.clients.nav import NavClient, NavConnection
from app.clients.retry import RetryPolicy
from app.sandbox import demo_data
from app.sandbox.base import SandboxServer

NO_WAIT = RetryPolicy(max_attempts=3, sleep=lambda seconds: None)
LONG_AGO = "2000-01-01T00:00:00Z"


def _stamps(server: SandboxServer, since: dict[str, str] | None = None) -> dict[str, str]:
    client = NavClient(NavConnection(mode="onprem", base_url=server.url, server_instance=demo_data.SERVER_INSTANCE,
                                     company=demo_data.COMPANY_NAME, user=demo_data.NAV_USER,
                                     web_service_key=demo_data.NAV_WEB_SERVICE_KEY), retry=NO_WAIT, page_size=5)
    try:
        return dict(client.iter_reference_stamps(since))
    finally:
        client.close()


def test_reference_changes_are_found_without_orderby(nav, nav_server):
    expected = _stamps(nav_server)
    assert set(expected) == {"accounts", "dimensions", "dimensionValues"} and all(expected.values())
    since = dict.fromkeys(expected, LONG_AGO)
    assert _stamps(nav_server, since) == expected
    nav.unimplemented_options = {"$orderby"}
    assert _stamps(nav_server) == expected
    assert _stamps(nav_server, since) == expected
    assert _stamps(nav_server, expected) == dict.fromkeys(expected, "")  # nothing newer than the marks


def test_a_server_without_the_change_filter_gives_no_stamp(nav, nav_server):
    nav.unimplemented_options = {"$orderby", "$filter"}
    assert _stamps(nav_server, dict.fromkeys(("accounts", "dimensions", "dimensionValues"), LONG_AGO)) == {}


@pytest.mark.parametrize("flavor", ["bc", "classic"])
def test_relative_next_links_are_followed(nav, nav_server, flavor):
    """OData JSON format 4.3: a payload's URLs may be relative to its context URL; Business Central's nextLinks are
    absolute, another server's may not be. Pages of 5 rows: many next links on the way."""
    client = NavClient(NavConnection(mode="onprem", base_url=nav_server.url, server_instance=demo_data.SERVER_INSTANCE,
                                     company=demo_data.COMPANY_NAME, user=demo_data.NAV_USER,
                                     web_service_key=demo_data.NAV_WEB_SERVICE_KEY), retry=NO_WAIT, page_size=5)
    try:
        expected = list(client.iter_vendors())
        assert len(expected) > 10
        nav.relative_next_links = True
        assert list(client.iter_vendors()) == expected
        assert len(list(client.iter_gl_accounts())) > 10
    finally:
        client.close()
    pages = [r for r in nav.requests if "skiptoken" in r.query]
    assert pages and all(r.status == 200 for r in pages)
