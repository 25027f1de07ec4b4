"""The wire under both NAV backends: sign-in, retries, and NAV's errors turned into typed errors.

NAV on-premises signs in with Basic (user + web-service access key) or Windows (NTLM); Business Central online
with an OAuth 2.0 client-credentials token. Non-idempotent requests are never resent once sent: a lost answer
becomes ``UnknownOutcomeError`` and the engine looks before it writes again.

Messages are built from status codes, NAV error codes and record keys only, never from headers, so the
web-service key, client secret and tokens never reach a log line.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests

from app.clients.http_session import EnvironmentOnceSession
from app.clients.retry import RetryPolicy
from app.domain.errors import (
    AuthenticationError,
    ConcurrencyError,
    ConfigurationError,
    ConnectionFailedError,
    NotFoundError,
    RateLimitError,
    RecordError,
    RetryableError,
    UnknownOutcomeError,
)

log = logging.getLogger("navbill.nav")

SYSTEM = "NAV"
API_SCOPE = "https://api.businesscentral.dynamics.com/.default"
RETRYABLE_STATUS = {429, 502, 503, 504}
FLAVORS = ("auto", "bc", "classic")
# On a PATCH: ask for the saved record in the answer. OData part 1 11.4.3: "Upon successful completion the service
# responds with either 200 OK and a representation of the updated entity, or 204 No Content"; return=representation
# asks for the first. Business Central answers 200 anyway; a 204 is read back by the caller.
RETURN_REPRESENTATION = {"Prefer": "return=representation"}


@dataclass
class NavConnection:
    mode: str = "onprem"  # "onprem" (NavUserPassword or Windows) | "online" (OAuth client credentials)
    base_url: str = "http://localhost:7048"  # online: https://api.businesscentral.dynamics.com/v2.0/<tenant>/<env>
    server_instance: str = "DynamicsNAV110"
    company: str = ""
    user: str = ""  # NavUserPassword: the NAV user name; Windows auth: the Windows account, DOMAIN\user
    web_service_key: str = ""
    # Windows auth (the server instance's credential type is Windows): NAV authenticates the Windows
    # account itself over NTLM, so the secret is that account's Windows password, not a web-service key.
    use_windows_auth: bool = False
    windows_password: str = ""
    tenant: str = ""
    client_id: str = ""
    client_secret: str = ""
    token_url: str = ""  # e.g. https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token
    company_id: str = ""  # BC API companies(<id>); needed for webhooks
    # Which NAV we talk to: "bc" (Business Central 17+, API v2.0), "classic" (NAV 2016-2018 or any BC, published
    # OData v4 pages), or "auto" (probe /api/v2.0/companies on first use, fall back to the pages).
    flavor: str = "auto"

    def __repr__(self) -> str:  # never show secrets in a repr that might end up in a log
        return (f"NavConnection(mode={self.mode!r}, base_url={self.base_url!r}, "
                f"server_instance={self.server_instance!r}, company={self.company!r}, user={self.user!r}, "
                f"flavor={self.flavor!r})")

    @property
    def port(self) -> int:
        parts = urlsplit(self.base_url)
        return parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def odata_root(self) -> str:
        base = self.base_url.rstrip("/")
        return f"{base}/ODataV4" if self.mode == "online" else f"{base}/{self.server_instance}/ODataV4"

    @property
    def api_root(self) -> str:
        base = self.base_url.rstrip("/")
        return f"{base}/api/v2.0" if self.mode == "online" else f"{base}/{self.server_instance}/api/v2.0"

    @property
    def company_root(self) -> str:
        return f"{self.odata_root}/Company('{quote(self.company.replace(chr(39), chr(39) * 2), safe='')}')"


class NavTransport:
    """One HTTP session to one NAV server: every request of both backends goes through ``send``."""

    def __init__(self, connection: NavConnection, retry: RetryPolicy | None = None, page_size: int = 1000,
                 timeout: float = 30) -> None:
        if connection.use_windows_auth:
            try:
                import requests_ntlm  # type: ignore[import-not-found]  # noqa: F401
            except ImportError:
                raise ConfigurationError(
                    "Windows authentication needs the requests-ntlm package, which is not installed. "
                    "Use NAV user name + web service access key (NavUserPassword) instead, or install it.",
                    system=SYSTEM) from None
        self.connection = connection
        self.retry = retry or RetryPolicy()
        self.page_size = page_size
        self.timeout = timeout
        self.call_count = 0
        self._session = EnvironmentOnceSession()
        self._token: str = ""
        self._token_expiry = 0.0
        self._token_lock = threading.Lock()
        self._count_lock = threading.Lock()
        if connection.use_windows_auth:
            from requests_ntlm import HttpNtlmAuth  # type: ignore[import-not-found]

            # user is DOMAIN\user (or user@domain.local). Profiles saved before windows_password existed
            # kept the Windows password in the key field, so that is the fallback.
            self._session.auth = HttpNtlmAuth(connection.user,
                                              connection.windows_password or connection.web_service_key)
        elif connection.mode != "online":
            self._session.auth = (connection.user, connection.web_service_key)

    def close(self) -> None:
        self._session.close()

    # -- auth -------------------------------------------------------------------------------
    def _bearer(self, refresh: bool = False) -> str:
        with self._token_lock:
            if refresh or not self._token or time.time() >= self._token_expiry - 60:
                self._fetch_token()
            return self._token

    def _fetch_token(self) -> None:
        connection = self.connection
        url = connection.token_url or f"https://login.microsoftonline.com/{connection.tenant}/oauth2/v2.0/token"
        form = {"grant_type": "client_credentials", "client_id": connection.client_id,
                "client_secret": connection.client_secret, "scope": API_SCOPE}
        response = self.send("POST", url, data=form, idempotent=True, authenticate=False)
        if response.status_code in (400, 401):
            raise AuthenticationError("the Azure AD app's client id or secret was refused when asking for a token.",
                                      system=SYSTEM, code=f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise self.error(response, "")
        body = response.json()
        self._token = body["access_token"]
        self._token_expiry = time.time() + float(body.get("expires_in", 3600))

    # -- transport --------------------------------------------------------------------------
    def send(self, method: str, url: str, *, idempotent: bool, authenticate: bool = True, record: str = "",
              **kwargs: Any) -> requests.Response:
        """One logical request with retries. Non-idempotent requests are never resent once sent."""
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            headers = dict(kwargs.pop("headers", None) or {})
            kwargs["headers"] = headers
            headers.setdefault("Accept", "application/json")
            if authenticate and self.connection.mode == "online":
                headers["Authorization"] = f"Bearer {self._bearer()}"
            with self._count_lock:  # a stream read ahead on its own thread counts too
                self.call_count += 1
            try:
                response = self._session.request(method, url, timeout=self.timeout, **kwargs)
            except requests.ConnectionError as exc:
                sent = not _refused_before_sending(exc)
                if sent and not idempotent:
                    raise UnknownOutcomeError(
                        "the request was sent but no answer came back; it may or may not have been saved. "
                        "Look before trying again.", system=SYSTEM, record=record, code="connection lost") from None
                if attempt >= self.retry.max_attempts:
                    raise self._connection_error(sent) from None
                self.retry.wait(attempt)
                continue
            except PermissionError:  # requests-ntlm: the server broke off the NTLM handshake
                raise AuthenticationError(
                    "NAV did not complete the Windows (NTLM) sign-in: it sent no NTLM challenge. Check that the "
                    "server instance's credential type is Windows.", system=SYSTEM, record=record,
                    code="NTLM handshake") from None
            except requests.Timeout:
                if not idempotent:
                    raise UnknownOutcomeError(
                        f"NAV did not answer within {self.timeout:g} s; the change may or may not have been saved.",
                        system=SYSTEM, record=record, code="timeout") from None
                if attempt >= self.retry.max_attempts:
                    raise RetryableError(f"NAV did not answer within {self.timeout:g} s.", system=SYSTEM,
                                         record=record, code="timeout") from None
                self.retry.wait(attempt)
                continue
            if response.status_code == 401 and authenticate and self.connection.mode == "online" and not refreshed:
                refreshed = True  # the token may have expired early or been revoked: one fresh token
                with self._token_lock:
                    self._token = ""
                attempt -= 1
                continue
            if response.status_code in RETRYABLE_STATUS:
                # 429/503 mean the request was not processed, so even a POST may be resent.
                retry_after = _retry_after(response)
                if attempt >= self.retry.max_attempts:
                    return response
                self.retry.wait(attempt, retry_after)
                continue
            return response

    def _connection_error(self, sent: bool) -> ConnectionFailedError:
        port = self.connection.port
        host = urlsplit(self.connection.base_url).hostname or "the NAV server"
        if not sent:
            return ConnectionFailedError(
                f"nothing answers on port {port} at {host}. Check that the NAV service tier is running, "
                f"that OData web services are enabled on port {port}, and that no firewall blocks it.",
                system=SYSTEM, code="connection refused")
        return ConnectionFailedError(f"the connection to {host}:{port} was dropped before NAV answered.",
                                     system=SYSTEM, code="connection dropped")

    def error(self, response: requests.Response, record: str) -> Exception:
        """NAV's answer as a typed error; its HTTP status stays on it as ``http_status`` (see ``refused_query``)."""
        error = self._error(response, record)
        error.http_status = response.status_code  # type: ignore[attr-defined]
        return error

    def _error(self, response: requests.Response, record: str) -> Exception:
        status = response.status_code
        code, message = "", ""
        try:
            error = response.json().get("error", {})
            if isinstance(error, dict):
                code, message = str(error.get("code", "")), str(error.get("message", ""))
        except (ValueError, AttributeError):
            pass
        label = code or f"HTTP {status}"
        if status == 401 and self.connection.use_windows_auth and self.connection.mode != "online":
            offered = response.headers.get("WWW-Authenticate", "").lower()
            if "ntlm" not in offered and "negotiate" not in offered:
                return AuthenticationError(
                    "NAV does not accept Windows authentication on this server instance (its credential type "
                    "is not Windows). Switch Windows authentication off and use the NAV user name and web "
                    "service access key instead.", system=SYSTEM, record=record, code=label)
            return AuthenticationError(
                f"NAV refused the Windows account '{self.connection.user}': wrong user name or password, or "
                "the account is not set up as a NAV user. Check the Windows user (DOMAIN\\user) and password "
                "in the NAV settings.", system=SYSTEM, record=record, code=label)
        if status == 401:
            what = ("the Azure AD token was refused" if self.connection.mode == "online"
                    else f"the web-service access key was refused for user '{self.connection.user}'")
            return AuthenticationError(f"{what}. Check the user name and key in the NAV settings.",
                                       system=SYSTEM, record=record, code=label)
        if status == 412 or code == "Request_EntityChanged":
            return ConcurrencyError("someone changed this record in NAV since it was read.", system=SYSTEM,
                                    record=record, code=label)
        if code == "Internal_CompanyNotFound":
            return ConfigurationError(f"the company '{self.connection.company}' does not exist in NAV. "
                                      "Check the company name (wrong company).", system=SYSTEM, code=label)
        if status == 404 and "server instance" in message:
            return ConfigurationError(f"the server instance '{self.connection.server_instance}' does not exist on "
                                      f"this server (wrong instance). NAV 2018's default is DynamicsNAV110.",
                                      system=SYSTEM, code=label)
        if code == "BadRequest_ResourceNotFound" and not record:
            return ConfigurationError(f"a web service is not published in NAV: {message}", system=SYSTEM, code=label)
        if status == 429:
            return RateLimitError("NAV is throttling requests (too many requests); the sync will try again later.",
                                  retry_after=_retry_after(response), system=SYSTEM, record=record, code=label)
        if status >= 500:
            return RetryableError(f"NAV answered with a server error ({status}); it will be tried again later.",
                                  system=SYSTEM, record=record, code=label)
        if status == 404:
            return NotFoundError(f"not found in NAV ({message or 'no such record'}).", system=SYSTEM,
                                 record=record, code=label)
        return RecordError(f"NAV refused the request: {message or f'HTTP {status}'}", system=SYSTEM,
                           record=record, code=label)

    def json(self, response: requests.Response) -> Any:
        return json.loads(response.content.decode("utf-8") or "null", parse_float=Decimal)

    def get(self, url: str, params: dict | None = None, record: str = "",
             headers: dict | None = None) -> dict:
        response = self.send("GET", url, params=params, idempotent=True, record=record, headers=headers)
        if response.status_code != 200:
            raise self.error(response, record)
        return self.json(response)

    def iter_values(self, url: str, params: dict | None = None, record: str = "") -> Iterator[dict]:
        """Every row of a collection, page by page (server-driven paging, ``@odata.nextLink``)."""
        next_url: str | None = url
        prefer = {"Prefer": f"odata.maxpagesize={self.page_size}"}
        while next_url:
            body = self.get(next_url, params=params, record=record, headers=prefer)
            values = body.get("value") if isinstance(body, dict) else None
            if not isinstance(values, list):
                raise RecordError("NAV answered a list request with something that is not a list.", system=SYSTEM,
                                  record=record, code="unexpected answer")
            yield from values
            # The next link carries the whole query. It may be relative to the payload's context URL, or to the
            # request URL without one (OData JSON format 4.3 "Relative URLs"); Business Central's are absolute.
            link = body.get("@odata.nextLink")
            base = urljoin(next_url, str(body.get("@odata.context") or "")) if body.get("@odata.context") else next_url
            next_url, params = (urljoin(base, str(link)) if link else None), None


# A query the server will not run: Business Central answers 400 with an OData error body; OData's protocol
# (part 1, 9.3.1, oasis-tcs/odata-specs commit 7f4c4e36: "the service responds with 501 Not Implemented", and
# "Allow 400 Bad Request in addition to 501 Not Implemented for unsupported functionality") lets another server
# answer 501. Whatever error class the status made, it means "ask more simply".
QUERY_REFUSED_STATUSES = frozenset({400, 501})


def refused_query(error: BaseException) -> bool:
    """Whether NAV refused the query itself (its options), not the request's access or the server's health."""
    return getattr(error, "http_status", None) in QUERY_REFUSED_STATUSES


def literal(value: str) -> str:
    """An OData string literal."""
    return "'" + value.replace("'", "''") + "'"


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _refused_before_sending(exc: requests.ConnectionError) -> bool:
    """True when the TCP connection was never made (refused / no route): the request was not sent."""
    text = repr(exc)
    return any(marker in text for marker in ("ConnectionRefusedError", "NewConnectionError", "Errno 111",
                                             "Connection refused", "NameResolutionError", "No route to host"))
