"""The NAV sandbox in Windows mode: NTLM over real sockets, driven leg by leg with pyspnego's client."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator

import pytest
import requests
import spnego

from app.sandbox import demo_data
from app.sandbox.base import SandboxServer
from app.sandbox.nav import NavSandbox
from app.sandbox.nav_ntlm import ENV_VAR, NtlmAcceptor

from .nav_fixtures import AUTH, api_company_url, company_url

pytest_plugins = ["tests.sandbox.nav_fixtures"]


@pytest.fixture(params=["classic", "bc"])
def win_server(request) -> Iterator[SandboxServer]:
    """A Windows-mode instance: NAV 2016-2018 (pages only) and Business Central on-prem (pages + API v2.0)."""
    app = NavSandbox("demo", windows_auth=True, flavor=request.param)
    with SandboxServer(app) as server:
        yield server
    app.stop()


def _ntlm_client(user: str = demo_data.NAV_WINDOWS_ACCOUNT, password: str = demo_data.NAV_WINDOWS_PASSWORD):
    return spnego.client(user, password, protocol="ntlm", options=spnego.NegotiateOptions.use_ntlm)


def _header(token: bytes, scheme: str = "NTLM") -> dict[str, str]:
    return {"Authorization": f"{scheme} {base64.b64encode(token).decode()}"}


def _handshake(session: requests.Session, url: str, user: str = demo_data.NAV_WINDOWS_ACCOUNT,
               password: str = demo_data.NAV_WINDOWS_PASSWORD, scheme: str = "NTLM") -> requests.Response:
    """The three legs on the session's one keep-alive connection; returns the answer to the last."""
    client = _ntlm_client(user, password)
    challenge = session.get(url, headers=_header(client.step(), scheme))
    assert challenge.status_code == 401
    offered = challenge.headers["WWW-Authenticate"]
    assert offered.startswith(f"{scheme} ")
    return session.get(url, headers=_header(client.step(base64.b64decode(offered.split(" ", 1)[1])), scheme))


def test_unauthenticated_request_is_challenged_with_negotiate_and_ntlm(win_server):
    answer = requests.get(f"{company_url(win_server)}/Vendor")
    assert answer.status_code == 401
    assert answer.raw.headers.getlist("WWW-Authenticate") == ["Negotiate", "NTLM"]
    assert answer.json()["error"]["code"] == "Authentication_InvalidCredentials"


def test_basic_with_the_web_service_key_is_refused_in_windows_mode(win_server):
    url = f"{company_url(win_server)}/Vendor"
    refused = requests.get(url, auth=AUTH)
    assert refused.status_code == 401 and "NTLM" in refused.headers["WWW-Authenticate"]
    switched = requests.post(f"{win_server.url}/_sandbox/windows-auth", json={"enabled": False})
    assert switched.json() == {"windows_auth": False}
    assert requests.get(url, auth=AUTH).status_code == 200  # NavUserPassword again: the key works
    assert requests.post(f"{win_server.url}/_sandbox/windows-auth", json={}).json() == {"windows_auth": True}
    assert requests.get(url, auth=AUTH).status_code == 401


def test_basic_mode_offers_no_ntlm(nav_server):
    answer = requests.get(f"{company_url(nav_server)}/Vendor")
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == 'Basic realm="NAV"'
    client = _ntlm_client()
    assert requests.get(f"{company_url(nav_server)}/Vendor", headers=_header(client.step())).status_code == 401


@pytest.mark.parametrize("scheme", ["NTLM", "Negotiate"])
def test_handshake_authenticates_the_connection(win_server, scheme):
    url = f"{company_url(win_server)}/Vendor"
    with requests.Session() as session:
        answer = _handshake(session, url, scheme=scheme)
        assert answer.status_code == 200 and len(answer.json()["value"]) == 40
        # NTLM authenticates the TCP connection: the next request on it needs no header.
        again = session.get(f"{url}('V00010')")
        assert again.status_code == 200 and again.json()["No"] == "V00010"
    with requests.Session() as other:  # another connection is not authenticated by the first one
        assert other.get(url).status_code == 401


def test_handshake_on_the_api_of_business_central_on_prem(win_server):
    app = win_server.app
    url = f"{api_company_url(win_server)}/vendors"
    if app.flavor == "classic":  # NAV 2016-2018 has no API v2.0 at all
        assert requests.get(url).status_code == 404
        return
    with requests.Session() as session:
        answer = _handshake(session, url)
        assert answer.status_code == 200 and len(answer.json()["value"]) == 40
        assert session.get(f"{api_company_url(win_server)}/accounts").status_code == 200


def test_wrong_password_is_refused_and_leaves_the_connection_unauthenticated(win_server):
    url = f"{company_url(win_server)}/Vendor"
    with requests.Session() as session:
        answer = _handshake(session, url, password="not-the-password")
        assert answer.status_code == 401 and "NTLM" in answer.headers["WWW-Authenticate"]
        assert session.get(url).status_code == 401


@pytest.mark.parametrize("user", ["EVIL\\apclerk", "CRONUS\\nobody"])
def test_unknown_account_is_refused(win_server, user):
    with requests.Session() as session:
        assert _handshake(session, f"{company_url(win_server)}/Vendor", user=user).status_code == 401


def test_authenticate_without_negotiate_on_this_connection_is_refused(win_server):
    url = f"{company_url(win_server)}/Vendor"
    client = _ntlm_client()
    with requests.Session() as first:
        challenge = first.get(url, headers=_header(client.step()))
        token = client.step(base64.b64decode(challenge.headers["WWW-Authenticate"].split(" ", 1)[1]))
    with requests.Session() as second:  # the AUTHENTICATE leg on a different TCP connection
        assert second.get(url, headers=_header(token)).status_code == 401


def test_acceptors_with_different_accounts_keep_to_their_own(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    one = NtlmAcceptor({"CRONUS\\apclerk": "first-password"})
    two = NtlmAcceptor({"CRONUS\\apclerk": "second-password"})
    try:
        def sign_in(acceptor: NtlmAcceptor, user: str, password: str) -> str | None:
            client = _ntlm_client(user, password)
            context, challenge = acceptor.challenge(client.step())
            return acceptor.authenticate(context, client.step(challenge))

        assert sign_in(one, "CRONUS\\apclerk", "first-password") == "CRONUS\\apclerk"
        assert sign_in(two, "CRONUS\\apclerk", "second-password") == "CRONUS\\apclerk"
        assert sign_in(one, "CRONUS\\apclerk", "second-password") is None
        assert sign_in(two, "CRONUS\\apclerk", "first-password") is None
        assert sign_in(one, "apclerk", "first-password") == "CRONUS\\apclerk"  # the server's own domain
        assert ENV_VAR not in os.environ  # the variable is only set while a step runs
    finally:
        one.close()
        two.close()
    assert not os.path.exists(one.path)
