"""NavClient and the connection test with Windows (NTLM) authentication, over real sockets against
the NAV sandbox in Windows mode: the real three-leg handshake, run by requests-ntlm and pyspnego."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.check import FAIL, PASS, run_checks
from app.clients.nav import NavClient, NavConnection
from app.clients.retry import RetryPolicy
from app.domain.errors import AuthenticationError
from app.sandbox import demo_data
from app.sandbox.base import SandboxServer
from app.sandbox.nav import NavSandbox

pytest_plugins = ["tests.sandbox.nav_fixtures"]

NO_WAIT = RetryPolicy(max_attempts=3, sleep=lambda seconds: None)
WRONG = "Not-The-Windows-Pw-1"


def _windows(server: SandboxServer, **overrides) -> NavConnection:
    values = dict(mode="onprem", base_url=server.url, server_instance=demo_data.SERVER_INSTANCE,
                  company=demo_data.COMPANY_NAME, company_id=demo_data.COMPANY_ID, use_windows_auth=True,
                  user=demo_data.NAV_WINDOWS_ACCOUNT, windows_password=demo_data.NAV_WINDOWS_PASSWORD,
                  flavor="classic")  # NAV 2016-2018 on a Windows domain: the published pages
    values.update(overrides)
    return NavConnection(**values)


@pytest.fixture
def win_nav() -> Iterator[NavSandbox]:
    app = NavSandbox("demo", windows_auth=True)
    app.notification_batch_delay = 0.01
    yield app
    app.stop()


@pytest.fixture
def win_server(win_nav) -> Iterator[SandboxServer]:
    with SandboxServer(win_nav) as server:
        yield server


def _unauthorized(app: NavSandbox) -> int:
    return sum(1 for r in app.requests if r.status == 401)


def test_reads_vendors_through_the_ntlm_handshake(win_server, win_nav):
    client = NavClient(_windows(win_server), retry=NO_WAIT, page_size=7)
    try:
        vendors = list(client.iter_vendors())
    finally:
        client.close()
    assert len(vendors) == 40 and vendors[0].number == "V00010"
    # One handshake (two 401 legs) on the first request; the six pages then ride the authenticated connection.
    assert _unauthorized(win_nav) == 2
    assert win_nav.count("GET", "/Vendor") == 2 + 6


def test_business_central_on_premises_reads_its_api_through_the_ntlm_handshake(win_server):
    client = NavClient(_windows(win_server, flavor="auto"), retry=NO_WAIT)
    try:
        assert client.flavor == "bc" and client.ping()["name"] == demo_data.COMPANY_NAME
        assert len(list(client.iter_vendors())) == 40
    finally:
        client.close()


@pytest.mark.parametrize("user", ["cronus\\APCLERK", demo_data.NAV_WINDOWS_USER])
def test_domain_and_user_spellings(win_server, user):
    client = NavClient(_windows(win_server, user=user), retry=NO_WAIT)
    try:
        assert client.ping()["Name"] == demo_data.COMPANY_NAME
    finally:
        client.close()


def test_password_in_the_key_field_still_works(win_server):
    """Profiles saved before windows_password existed kept the Windows password in the key field."""
    client = NavClient(_windows(win_server, windows_password="", web_service_key=demo_data.NAV_WINDOWS_PASSWORD),
                       retry=NO_WAIT)
    try:
        assert client.ping()["Name"] == demo_data.COMPANY_NAME
    finally:
        client.close()


def test_wrong_windows_password_is_a_clear_authentication_error(win_server):
    client = NavClient(_windows(win_server, windows_password=WRONG), retry=NO_WAIT)
    with pytest.raises(AuthenticationError) as caught:
        client.ping()
    client.close()
    text = str(caught.value)
    assert "Windows account 'CRONUS\\apclerk'" in text and "password" in text
    assert WRONG not in text and WRONG not in repr(caught.value)
    assert WRONG not in repr(client.connection)


def test_windows_auth_against_a_nav_user_password_instance_says_so(nav_server):
    client = NavClient(_windows(nav_server), retry=NO_WAIT)
    with pytest.raises(AuthenticationError, match="does not accept Windows authentication"):
        client.ping()
    client.close()


def test_web_service_key_against_a_windows_instance_is_refused(win_server):
    basic = NavConnection(mode="onprem", base_url=win_server.url, server_instance=demo_data.SERVER_INSTANCE,
                          company=demo_data.COMPANY_NAME, user=demo_data.NAV_USER,
                          web_service_key=demo_data.NAV_WEB_SERVICE_KEY)
    client = NavClient(basic, retry=NO_WAIT)
    with pytest.raises(AuthenticationError, match="web-service access key was refused"):
        client.ping()
    client.close()


def test_connection_test_passes_with_windows_auth(win_server):
    report = run_checks(_windows(win_server), None)
    nav_steps = [step for step in report.steps if step.side == "NAV"]
    assert all(step.status != FAIL for step in nav_steps), report.as_table()
    auth = report.step("NAV", "auth")
    assert auth.status == PASS and "CRONUS\\apclerk" in auth.detail
    assert report.step("NAV", "read.vendors").status == PASS
    assert "Windows authentication" in report.step("NAV", "settings").detail


def test_connection_test_names_a_refused_windows_account(win_server):
    report = run_checks(_windows(win_server, windows_password=WRONG), None)
    step = report.failures()[0]
    assert step.key == "auth" and step.detail.startswith("Windows account refused"), report.as_table()
    assert "Windows user name and password" in step.fix
    assert report.step("NAV", "instance").status == PASS
    assert WRONG not in report.to_json()


def test_connection_test_names_missing_windows_settings(win_server):
    report = run_checks(_windows(win_server, user="", windows_password=""), None)
    step = report.failures()[0]
    assert step.key == "settings" and "Windows user" in step.detail and "Windows password" in step.detail
