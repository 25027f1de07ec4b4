"""A loopback server that behaves like Microsoft Dynamics NAV 2016–2018 or Business Central web services.

Built to the ground truth in ``shared/reference/nav`` (Microsoft's page source and docs), in two flavours:

* ``flavor="classic"`` — NAV 2016–2018: only UI pages published as OData v4 web services,
  ``/<ServerInstance>/ODataV4/Company('<name>')/<ServiceName>`` (``nav_pages.SERVICES``); ``/api/v2.0`` is 404.
* ``flavor="bc"`` — Business Central 18+: the same published pages AND API v2.0 at
  ``/<ServerInstance>/api/v2.0/companies(<id>)/...`` (``nav_api``), webhooks at ``/api/v2.0/subscriptions``
  (``nav_webhooks``); online also as ``/v2.0/<tenant>/<environment>/api/v2.0/...`` with an OAuth token from
  ``/<tenant>/oauth2/v2.0/token``.

One company of NAV tables underneath (``nav_company``); option values are encoded in one place
(``nav_enums``): captions on pages (German with ``language="de"``), encoded enum names in API v2.0.

Behaviour from Microsoft's documentation: server-driven paging (``@odata.nextLink``, ``Prefer:
odata.maxpagesize``; NAV 2018's default Max Page Size 1000), OData error bodies ``{"error": {"code",
"message"}}`` with the codes of the "Error Codes" table, ETags + If-Match (412 ``Request_EntityChanged``),
429 with Retry-After for throttling.

Authentication: Basic with user + web-service access key; Windows (NTLM, ``windows_auth=True`` or
``POST /_sandbox/windows-auth``): requests without credentials (and Basic ones) get ``401`` with
``WWW-Authenticate: Negotiate`` and ``NTLM``; a real NTLM handshake (pyspnego's acceptor, ``nav_ntlm``)
authenticates the TCP connection as ``CRONUS\\apclerk``. Bearer tokens on the online URL shape.

Control endpoints (no auth, no faults), for tests and the demo — what a NAV user does in the client:
``POST /_sandbox/reset {"seed"}``, ``POST /_sandbox/clock {"seconds"}``, ``POST /_sandbox/vendors`` /
``POST|DELETE /_sandbox/vendors/<No>`` (page 26 field names), ``POST /_sandbox/invoices`` (post an invoice),
``POST /_sandbox/drafts/<No>/post`` (post a draft invoice), ``POST /_sandbox/credit-memos`` (post a purchase
credit memo; served in the bc flavour's ``purchaseCreditMemos`` and in both flavours' pages 147/140/141, with its
vendor ledger entry), ``POST /_sandbox/journals/post
{"template","batch"}`` (the accountant posts a batch), ``POST /_sandbox/setup`` (General Ledger Setup, e.g.
``Allow_Posting_From``), ``POST /_sandbox/webhooks {"enabled"}``, ``GET /_sandbox/stats``,
``POST /_sandbox/windows-auth {"enabled"}``.

Not simulated: Kerberos, ``$batch``, ``$count``, ``$metadata`` documents, SOAP, deep insert.
"""

from __future__ import annotations

import base64
import logging
import secrets
import threading
import urllib.parse
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from app.sandbox import demo_data
from app.sandbox.base import Request, Response, SandboxApp, SandboxClock
from app.sandbox.nav_api import ApiV2
from app.sandbox.nav_company import CONNECTOR_BATCH, PAYMENT_TEMPLATE, NavCompany, NavError
from app.sandbox.nav_http import (
    ODataError,
    check_if_match,
    collection,
    json_value,
    method_not_allowed,
    parse_expand,
    request_body,
    serialize,
    split_segment,
)
from app.sandbox.nav_metadata import api_metadata, classic_metadata
from app.sandbox.nav_ntlm import AUTHENTICATE_MESSAGE, NEGOTIATE_MESSAGE, NtlmAcceptor, message_type
from app.sandbox.nav_odata import ODataNotSupported, ODataSyntaxError, parse_key_segment
from app.sandbox.nav_pages import CREDIT_LINES_PART, LINES_PART, ClassicPages
from app.sandbox.nav_webhooks import Webhooks

log = logging.getLogger("navbill.sandbox.nav")

DEFAULT_TOKEN_LIFETIME = 3600.0
API_SCOPE = "https://api.businesscentral.dynamics.com/.default"
WINDOWS_IDENTITY = "nav.windows_identity"  # connection state: DOMAIN\\user once NTLM succeeded
NTLM_CONTEXT = "nav.ntlm_context"  # connection state: the acceptor between CHALLENGE and AUTHENTICATE
FLAVORS = ("bc", "classic")
# How the API v2.0 endpoint treats query options nested inside $expand (``purchaseInvoiceLines($select=...;
# $expand=dimensionSetLines)``). Business Central takes them; another OData server may not: it refuses them
# (400 with an OData error, or 501 Not Implemented) or drops them silently (every property, or no nested rows).
# "no-expand": a server that ignores $expand altogether (no navigation property in any row).
NESTED_OPTION_MODES = ("supported", "refuse-400", "refuse-501", "ignore-select", "ignore-expand", "no-expand")
NAV_PRODUCT = "Microsoft Dynamics NAV"

__all__ = ["NavSandbox", "ODataError", "FLAVORS", "PAYMENT_TEMPLATE", "CONNECTOR_BATCH"]


class NavSandbox(SandboxApp):
    name = "nav"

    def __init__(self, seed: str = "demo", clock: SandboxClock | None = None, notify: bool = True,
                 max_page_size: int = 1000, token_lifetime: float = DEFAULT_TOKEN_LIFETIME,
                 windows_auth: bool = False, flavor: str = "bc", language: str = "en",
                 us_localization: bool = True, notification_delay: float = 1.0,
                 collection_threshold: int = 1000, retry_scale: float = 1.0,
                 unpublished: tuple[str, ...] = ()) -> None:
        super().__init__()
        if flavor not in FLAVORS:
            raise ValueError(f"Unknown NAV flavour '{flavor}'; use bc or classic")
        if language not in ("en", "de"):
            raise ValueError(f"Unknown NAV language '{language}'; use en or de")
        self.flavor = flavor
        self.language = language
        self.us_localization = us_localization
        self._ntlm: NtlmAcceptor | None = None
        self._ntlm_lock = threading.Lock()
        self.windows_auth = False
        self.set_windows_auth(windows_auth)
        self.clock = clock or SandboxClock()
        self.max_page_size = max_page_size
        self.token_lifetime = token_lifetime
        self.instance = demo_data.SERVER_INSTANCE
        self.company_name = demo_data.COMPANY_NAME
        self.company_id = demo_data.COMPANY_ID
        self._tokens: dict[str, float] = {}  # bearer token -> expiry (sandbox clock)
        self.webhooks = Webhooks(self.clock, self.company_id, self.state_lock, delay=notification_delay,
                                 collection_threshold=collection_threshold, retry_scale=retry_scale)
        self.webhooks.notify = notify
        self.seed_name = seed
        # Web services (classic page service names) or API v2.0 entity sets this server does not offer: 404, as a
        # page not published on the Web Services page, or purchaseCreditMemos before BC 22/23. Kept over resets.
        self.unpublished: set[str] = set(unpublished)
        self.nested_options = "supported"  # NESTED_OPTION_MODES; tests switch it to play another server
        # API v2.0 system query options this server does not implement (e.g. {"$orderby"}): 501 Not Implemented,
        # as OData part 1 9.3.1 lets a service answer. Tests set it to play another server than Business Central.
        self.unimplemented_options: set[str] = set()
        # @odata.nextLink relative to the payload's context URL, as OData JSON 4.3 "Relative URLs" allows (Business
        # Central sends absolute ones). Tests set it to play another server.
        self.relative_next_links = False
        # PATCH answered 204 No Content whatever the Prefer header (OData part 1 11.4.3 allows 200 or 204).
        self.patch_no_content = False
        self._seed(seed)
        self._add_routes()

    # -- compatibility properties ---------------------------------------------------------
    @property
    def notification_batch_delay(self) -> float:
        return self.webhooks.delay

    @notification_batch_delay.setter
    def notification_batch_delay(self, value: float) -> None:
        self.webhooks.delay = value

    @property
    def webhooks_supported(self) -> bool:
        return self.flavor == "bc" and self.webhooks.enabled

    @webhooks_supported.setter
    def webhooks_supported(self, value: bool) -> None:
        self.webhooks.enabled = bool(value)

    @property
    def notify_enabled(self) -> bool:
        return self.webhooks.notify

    @property
    def subscriptions(self) -> dict[str, dict]:
        return self.webhooks.subscriptions

    @property
    def notifications_sent(self) -> int:
        return self.webhooks.notifications_sent

    def deliver(self, batch: list) -> None:
        self.webhooks.deliver(batch)

    # the company's tables, by their old names
    vendors = property(lambda self: self.company.vendors)
    invoices = property(lambda self: self.company.invoices)
    drafts = property(lambda self: self.company.drafts)
    vendor_ledger = property(lambda self: self.company.vendor_ledger)
    gl_entries = property(lambda self: self.company.gl_entries)
    journal = property(lambda self: self.company.journal)
    batches = property(lambda self: self.company.batches)

    # -- seeding --------------------------------------------------------------------------
    def _seed(self, seed: str) -> None:
        with self.state_lock:
            self.webhooks.clear()
            self.company = NavCompany(seed, self.clock, on_change=self._changed)
            self.seed_name = seed
            self.pages = ClassicPages(self.company, self.language, self.us_localization)
            self.api = ApiV2(self.company, self.company_id, self.company_name, self.max_page_size)

    def _changed(self, entity_set: str, entity_id: str, change: str) -> None:
        if self.flavor == "bc":
            self.webhooks.queue(entity_set, entity_id, change)

    # -- routing --------------------------------------------------------------------------
    def _add_routes(self) -> None:
        for method in ("GET", "POST", "PATCH", "PUT", "DELETE"):
            self.route(method, r"/(?P<instance>[^/]+)/ODataV4(?P<rest>/.*)?", self._odata)
            self.route(method, r"/(?P<instance>[^/]+)/api/v2\.0(?P<rest>/.*)?", self._api)
            self.route(method, r"/v2\.0/(?P<tenant>[^/]+)/(?P<environment>[^/]+)/ODataV4(?P<rest>/.*)?", self._odata)
            self.route(method, r"/v2\.0/(?P<tenant>[^/]+)/(?P<environment>[^/]+)/api/v2\.0(?P<rest>/.*)?", self._api)
        self.route("POST", r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token", self._token)
        self.route("POST", r"/_sandbox/reset", self._control_reset)
        self.route("POST", r"/_sandbox/clock", self._control_clock)
        self.route("POST", r"/_sandbox/vendors", self._control_create_vendor)
        self.route("POST", r"/_sandbox/vendors/(?P<number>[^/]+)", self._control_edit_vendor)
        self.route("DELETE", r"/_sandbox/vendors/(?P<number>[^/]+)", self._control_delete_vendor)
        self.route("POST", r"/_sandbox/invoices", self._control_post_invoice)
        self.route("POST", r"/_sandbox/credit-memos", self._control_post_credit_memo)
        self.route("POST", r"/_sandbox/drafts/(?P<number>[^/]+)/post", self._control_post_draft)
        self.route("POST", r"/_sandbox/journals/post", self._control_post_journal)
        self.route("POST", r"/_sandbox/setup", self._control_setup)
        self.route("POST", r"/_sandbox/webhooks", self._control_webhooks)
        self.route("POST", r"/_sandbox/services", self._control_services)
        self.route("GET", r"/_sandbox/stats", self._control_stats)
        self.route("POST", r"/_sandbox/windows-auth", self._control_windows_auth)

    def faults_apply_to(self, request: Request) -> bool:
        return not request.path.startswith("/_sandbox")

    def not_found(self, request: Request, method_not_allowed: bool = False) -> Response:
        return ODataError(404, "BadRequest_NotFound",
                          f"No HTTP resource was found that matches the request URI '{request.path}'.").response()

    def server_error(self, request: Request) -> Response:
        return ODataError(503, "Internal_ServiceUnavailable",
                          "The service is temporarily unavailable. Please try again later.").response()

    def rate_limited(self, request: Request) -> Response:
        return ODataError(429, "Application_TooManyRequests",
                          "Too many requests reached. Please try again later.", {"Retry-After": "1"}).response()

    def expire_session(self, request: Request) -> None:
        request.connection.pop(WINDOWS_IDENTITY, None)  # an NTLM connection must authenticate again
        token = self._bearer(request)
        if token:
            with self.state_lock:
                self._tokens.pop(token, None)

    # -- auth ---------------------------------------------------------------------------
    @staticmethod
    def _bearer(request: Request) -> str:
        header = request.header("Authorization")
        return header[7:].strip() if header[:7].lower() == "bearer " else ""

    def set_windows_auth(self, enabled: bool) -> None:
        """Switch the instance's credential type between Windows (NTLM) and NavUserPassword (Basic)."""
        with self._ntlm_lock:
            if enabled and self._ntlm is None:
                self._ntlm = NtlmAcceptor({demo_data.NAV_WINDOWS_ACCOUNT: demo_data.NAV_WINDOWS_PASSWORD})
            self.windows_auth = bool(enabled)

    def _authenticate(self, request: Request) -> None:
        if self.windows_auth and "tenant" not in request.params:
            self._authenticate_windows(request)
            return
        header = request.header("Authorization")
        challenge = {"WWW-Authenticate": 'Basic realm="NAV"'}
        if header[:6].lower() == "basic ":
            try:
                user, _, key = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                user, key = "", ""
            if user.upper() == demo_data.NAV_USER and secrets.compare_digest(key, demo_data.NAV_WEB_SERVICE_KEY):
                return
        elif header[:7].lower() == "bearer ":
            token = self._bearer(request)
            with self.state_lock:
                expiry = self._tokens.get(token)
            if expiry is not None and expiry > self.clock.time():
                return
            challenge = {"WWW-Authenticate": 'Bearer error="invalid_token", error_description="The token expired"'}
        raise ODataError(401, "Authentication_InvalidCredentials", "The server has rejected the client credentials.",
                         challenge)

    def _authenticate_windows(self, request: Request) -> None:
        """NTLM over HTTP: the handshake's state and its outcome live on the TCP connection."""
        state = request.connection
        scheme, _, encoded = request.header("Authorization").strip().partition(" ")
        scheme = scheme.lower()
        if scheme not in ("ntlm", "negotiate"):
            # No credentials yet, or Basic/Bearer, which a Windows-mode instance does not take.
            if not scheme and state.get(WINDOWS_IDENTITY):
                return
            self._refuse_windows(request)
        state.pop(WINDOWS_IDENTITY, None)  # a new handshake replaces the connection's identity
        try:
            token = base64.b64decode(encoded.strip(), validate=True)
        except ValueError:
            token = b""
        kind = message_type(token)
        acceptor = self._ntlm
        if kind == NEGOTIATE_MESSAGE and acceptor is not None:
            state.pop(NTLM_CONTEXT, None)
            try:
                context, challenge = acceptor.challenge(token)
            except Exception:  # a malformed NEGOTIATE message
                self._refuse_windows(request)
            state[NTLM_CONTEXT] = context
            label = "Negotiate" if scheme == "negotiate" else "NTLM"
            raise ODataError(401, "Authentication_InvalidCredentials", "The server has rejected the client "
                             "credentials.", {"WWW-Authenticate": f"{label} {base64.b64encode(challenge).decode()}"})
        if kind == AUTHENTICATE_MESSAGE and acceptor is not None:
            context = state.pop(NTLM_CONTEXT, None)
            identity = acceptor.authenticate(context, token) if context is not None else None
            if identity:
                state[WINDOWS_IDENTITY] = identity
                return
        self._refuse_windows(request)

    @staticmethod
    def _refuse_windows(request: Request) -> None:
        request.connection.pop(NTLM_CONTEXT, None)
        raise ODataError(401, "Authentication_InvalidCredentials", "The server has rejected the client credentials.",
                         {"WWW-Authenticate": ["Negotiate", "NTLM"]})

    def _token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in urllib.parse.parse_qs(request.body.decode("utf-8", "replace")).items()}
        if request.params["tenant"] != demo_data.NAV_TENANT:
            return Response(400, {"error": "invalid_request",
                                  "error_description": f"Tenant '{request.params['tenant']}' not found."})
        if form.get("grant_type") != "client_credentials":
            return Response(400, {"error": "unsupported_grant_type",
                                  "error_description": "Only client_credentials is supported."})
        if form.get("client_id") != demo_data.NAV_CLIENT_ID or not secrets.compare_digest(
                form.get("client_secret", ""), demo_data.NAV_CLIENT_SECRET):
            return Response(401, {"error": "invalid_client",
                                  "error_description": "Invalid client secret provided."})
        token = secrets.token_urlsafe(32)
        with self.state_lock:
            self._tokens[token] = self.clock.time() + self.token_lifetime
        return Response(200, {"token_type": "Bearer", "expires_in": int(self.token_lifetime),
                              "ext_expires_in": int(self.token_lifetime), "access_token": token})

    # -- OData pages ----------------------------------------------------------------------
    def _guarded(self, handler: Callable[[Request], Response], request: Request) -> Response:
        try:
            response = handler(request)
            if self.relative_next_links:
                _relative_next_link(response)
            if self.patch_no_content and request.method == "PATCH" and response.status == 200:
                return Response(204, None, {k: v for k, v in response.headers.items() if k.lower() == "etag"})
            return response
        except ODataError as error:
            return error.response()
        except NavError as error:
            return ODataError(error.status, error.code, error.message).response()
        except ODataNotSupported as error:
            return ODataError(400, "BadRequest", str(error)).response()
        except ODataSyntaxError as error:
            return ODataError(400, "BadRequest_NotFound", f"Bad Request - Error in query syntax. {error}").response()

    def _odata(self, request: Request) -> Response:
        return self._guarded(self._odata_inner, request)

    def _api(self, request: Request) -> Response:
        return self._guarded(self._api_inner, request)

    def _nested_query_options(self, request: Request) -> None:
        """Play a server without query options inside $expand (``nested_options``): refuse them, or drop them."""
        mode = self.nested_options
        if mode not in NESTED_OPTION_MODES:
            raise ValueError(f"Unknown nested_options '{mode}'; use one of {', '.join(NESTED_OPTION_MODES)}")
        expand = request.query["$expand"]
        if mode == "no-expand":
            del request.query["$expand"]
            return
        if not any(options for _, options in parse_expand(expand)):
            return
        if mode == "refuse-400":
            raise ODataError(400, "BadRequest", "Query options inside $expand are not supported.")
        if mode == "refuse-501":
            raise ODataError(501, "NotImplemented", "Nested query options in $expand are not implemented.")
        request.query["$expand"] = _without_nested(expand, "$select" if mode == "ignore-select" else "$expand")

    def _check_instance(self, request: Request) -> None:
        instance = request.params.get("instance")
        if instance is not None and instance != self.instance:
            # A real server has no listener for that path; we say so in an OData error so the
            # connection test can tell "wrong server instance" from other failures.
            raise ODataError(404, "BadRequest_NotFound",
                             f"The server instance '{instance}' does not exist on this server.")
        tenant = request.params.get("tenant")
        if tenant is not None and tenant != demo_data.NAV_TENANT:
            raise ODataError(404, "Internal_TenantUnavailable", f"The tenant '{tenant}' is not accessible.")

    def _root(self, request: Request, kind: str) -> str:
        host = request.header("Host", "127.0.0.1")
        if "tenant" in request.params:
            return f"http://{host}/v2.0/{request.params['tenant']}/{request.params['environment']}/{kind}"
        return f"http://{host}/{self.instance}/{kind}"

    def _company_page_row(self) -> dict:
        return {"Name": self.company_name, "Display_Name": self.company_name, "Id": self.company_id,
                "Business_Profile_Id": ""}

    def _odata_inner(self, request: Request) -> Response:
        self._check_instance(request)
        self._authenticate(request)
        segments = [s for s in (request.params.get("rest") or "").split("/") if s]
        root = self._root(request, "ODataV4")
        if not segments:
            return Response(200, {"@odata.context": f"{root}/$metadata", "value": [
                {"name": "Company", "kind": "EntitySet", "url": "Company"}]})
        if segments[0] == "$metadata":
            with self.state_lock:
                xml = classic_metadata(self.pages)
            return Response(200, xml.encode("utf-8"), {"Content-Type": "application/xml;charset=utf-8"})
        head, args = split_segment(segments[0])
        if head != "Company":
            raise ODataError(400, "Internal_CompanyNotFound",
                             "Cannot process the request because the default company cannot be found. "
                             "Specify a company in the URL as Company('name').")
        if args is None:
            if request.method != "GET":
                raise method_not_allowed(request.method, "Company", NAV_PRODUCT)
            return Response(200, {"@odata.context": f"{root}/$metadata#Company", "value": [self._company_page_row()]})
        (company,) = parse_key_segment(args, ("Name",))
        if company != self.company_name:
            raise ODataError(404, "Internal_CompanyNotFound", f"The company '{company}' does not exist.")
        company_root = f"{root}/Company('{urllib.parse.quote(company)}')"
        if len(segments) == 1:
            return Response(200, {"@odata.context": f"{root}/$metadata#Company/$entity", **self._company_page_row()})
        service, key_args = split_segment(segments[1])
        with self.state_lock:
            hidden = service in self.unpublished or any(
                service.startswith(name) and service[len(name):] in (LINES_PART, CREDIT_LINES_PART)
                for name in self.unpublished)  # a document page's lines part goes with the page
            view = None if hidden else self.pages.view(service)
            if view is None:
                raise ODataError(404, "BadRequest_NotFound", f"Resource not found for the segment '{service}'.")
            context = f"{root}/$metadata#Company('{urllib.parse.quote(company)}')/{service}"
            row = None
            if key_args is not None:
                key = parse_key_segment(key_args, view.keys)
                row = view.get(key)
                if row is None:
                    shown = ",".join(f"{name}='{value}'" for name, value in zip(view.keys, key, strict=False))
                    raise ODataError(404, "Internal_RecordNotFound",
                                     f"The {service} does not exist. Identification fields and values: {shown}")
            url = f"{company_root}/{service}"
            if len(segments) > 2:
                if row is None or len(segments) > 3:
                    raise ODataError(404, "BadRequest_NotFound",
                                     f"The URI segment '{segments[-1]}' is invalid after the segment "
                                     f"'{segments[-2]}'.")
                part, part_key = split_segment(segments[2])
                factory = view.children.get(part)
                if factory is None:
                    # also what NAV answers for a bound action a page does not have (NAV.Post, ...)
                    raise ODataError(404, "BadRequest_NotFound",
                                     f"The URI segment '{segments[2]}' is invalid after the segment '{segments[1]}'.")
                view = factory(row)
                context, url = f"{context}/{part}", f"{url}/{segments[2]}"
                row = None
                if part_key is not None:
                    row = view.get(parse_key_segment(part_key, view.keys))
                    if row is None:
                        raise ODataError(404, "Internal_RecordNotFound", f"The {part} does not exist.")
                if request.method != "GET":
                    raise method_not_allowed(request.method, part, NAV_PRODUCT)
            if row is None:
                if request.method == "GET":
                    return collection(request, view, url, context, self.max_page_size)
                if request.method == "POST":
                    if view.insert is None:
                        raise method_not_allowed("POST", service, NAV_PRODUCT)
                    created = view.insert(request_body(request))
                    return Response(201, {"@odata.context": f"{context}/$entity", **serialize(view, created, {})})
                raise method_not_allowed(request.method, service, NAV_PRODUCT)
            if request.method == "GET":
                return Response(200, {"@odata.context": f"{context}/$entity", **serialize(view, row, request.query)})
            if request.method in ("PATCH", "PUT"):
                if view.modify is None:
                    raise method_not_allowed(request.method, service, NAV_PRODUCT)
                check_if_match(request, view, row)
                updated = view.modify(row, request_body(request))
                return Response(200, {"@odata.context": f"{context}/$entity", **serialize(view, updated, {})})
            if request.method == "DELETE":
                if view.delete is None:
                    raise method_not_allowed("DELETE", service, NAV_PRODUCT)
                check_if_match(request, view, row)
                view.delete(row)
                return Response(204)
            raise method_not_allowed(request.method, service, NAV_PRODUCT)

    # -- BC API v2.0 ------------------------------------------------------------------------
    def _api_inner(self, request: Request) -> Response:
        if self.flavor != "bc":
            raise ODataError(404, "BadRequest_NotFound",
                             f"No HTTP resource was found that matches the request URI '{request.path}'.")
        self._check_instance(request)
        self._authenticate(request)
        if self.nested_options != "supported" and request.query.get("$expand"):
            self._nested_query_options(request)
        for option in sorted(self.unimplemented_options & set(request.query)):
            raise ODataError(501, "NotImplemented", f"The query option '{option}' is not implemented.")
        segments = [s for s in (request.params.get("rest") or "").split("/") if s]
        root = self._root(request, "api/v2.0")
        if not segments:
            raise ODataError(404, "BadRequest_NotFound", "Resource not found for the segment 'v2.0'.")
        if segments[0] == "$metadata":
            return Response(200, api_metadata().encode("utf-8"), {"Content-Type": "application/xml;charset=utf-8"})
        head, args = split_segment(segments[0])
        if head == "subscriptions":
            return self.webhooks.handle(request, args, root)
        if head != "companies":
            raise ODataError(404, "BadRequest_NotFound", f"Resource not found for the segment '{head}'.")
        context_root = f"{root}/$metadata#companies"
        if args is None:
            if len(segments) > 1 or request.method != "GET":
                raise method_not_allowed(request.method, "companies", "Dynamics 365 Business Central")
            row = self.api.company_row()
            return Response(200, {"@odata.context": context_root, "value": [
                {name: json_value(value) for name, value in row.items()}]})
        company_id = args.strip().strip("'").lower()
        if company_id != self.company_id:
            raise ODataError(404, "Internal_CompanyNotFound", f"The company '{company_id}' does not exist.")
        if len(segments) == 1:
            row = self.api.company_row()
            return Response(200, {"@odata.context": f"{context_root}/$entity",
                                  **{name: json_value(value) for name, value in row.items()}})
        entity_set = split_segment(segments[1])[0]
        if entity_set in self.unpublished:
            raise ODataError(404, "BadRequest_NotFound", f"Resource not found for the segment '{entity_set}'.")
        with self.state_lock:
            return self.api.handle(request, segments[1:], f"{root}/companies({self.company_id})",
                                   f"{context_root}({self.company_id})")

    # -- operations a NAV user (or a test) performs -------------------------------------------
    def edit_vendor(self, number: str, **fields: Any) -> dict:
        """Change a vendor as a NAV user would on the card (page 26 names): new date, new etag, notification."""
        with self.state_lock:
            row = self.company.vendors.get(number)
            if row is None:
                raise KeyError(number)
            view = self.pages.view("Vendor")
            updated = view.modify(row, fields)
            return serialize(view, updated, {})

    def create_vendor(self, **fields: Any) -> dict:
        with self.state_lock:
            view = self.pages.view("Vendor")
            return serialize(view, view.insert(fields), {})

    def delete_vendor(self, number: str) -> None:
        with self.state_lock:
            self.company.delete_vendor(number)

    def post_invoice(self, vendor_number: str, vendor_invoice_number: str, lines: list[dict],
                     posting_date: date | None = None, due_days: int = 30, currency_code: str = "") -> dict:
        """Post a purchase invoice. Each line: {"account", "amount", "description"?, "dimensions"?}; amounts in
        ``currency_code`` (blank: the local currency).

        Answers the posted invoice as page 146 shows it, plus ``"id"``: its purchaseInvoices id."""
        with self.state_lock:
            if vendor_number not in self.company.vendors:
                raise KeyError(vendor_number)
            number = self.company.new_posted_invoice_no()
            posting = posting_date or self.clock.now().date()
            demo_lines = tuple(
                demo_data.DemoInvoiceLine(index + 1, line["account"], line.get("description", "Purchase"),
                                          Decimal("1"), Decimal(str(line["amount"])), dict(line.get("dimensions", {})))
                for index, line in enumerate(lines))
            invoice = demo_data.DemoInvoice(number, vendor_number, vendor_invoice_number, posting,
                                            posting + timedelta(days=due_days), demo_lines, currency_code)
            header = self.company.post_purchase_invoice(invoice)
            view = self.pages.view("PostedPurchaseInvoices")
            return serialize(view, header, {}) | {"id": self.company.invoice_api_id(header)}

    def post_credit_memo(self, vendor_number: str, vendor_credit_memo_number: str, lines: list[dict],
                         posting_date: date | None = None) -> dict:
        """Post a purchase credit memo (lines as for ``post_invoice``); answers it as API v2.0 shows it."""
        with self.state_lock:
            if vendor_number not in self.company.vendors:
                raise KeyError(vendor_number)
            number = self.company.new_credit_memo_no()
            posting = posting_date or self.clock.now().date()
            demo_lines = tuple(
                demo_data.DemoInvoiceLine(index + 1, line["account"], line.get("description", "Credit"),
                                          Decimal("1"), Decimal(str(line["amount"])), dict(line.get("dimensions", {})))
                for index, line in enumerate(lines))
            memo = demo_data.DemoInvoice(number, vendor_number, vendor_credit_memo_number, posting, posting, demo_lines)
            header = self.company.post_credit_memo(memo)
            return {"number": header["No"], "id": header["SystemId"], "amount": str(header["Amount"])}

    def post_draft(self, number: str) -> dict:
        """Post a draft invoice (Purchase Header) as a NAV user would; the API id stays the same."""
        with self.state_lock:
            header = self.company.post_draft(number)
            return serialize(self.pages.view("PostedPurchaseInvoices"), header, {}) | {
                "id": self.company.invoice_api_id(header)}

    def post_journal(self, template: str = PAYMENT_TEMPLATE, batch: str = CONNECTOR_BATCH) -> list[dict]:
        """The accountant posts a journal batch in NAV (the whole batch, like Post in the journal)."""
        with self.state_lock:
            entries = self.company.post_batch(template, batch)
            view = self.pages.view("VendorLedgerEntries")
            return [serialize(view, entry, {}) for entry in entries]

    def reset(self, seed: str | None = None) -> None:
        self._seed(seed or self.seed_name)

    def stats(self) -> dict:
        with self.state_lock:
            company = self.company
            return {"seed": self.seed_name, "flavor": self.flavor, "language": self.language,
                    "vendors": len(company.vendors), "posted_invoices": len(company.invoices),
                    "draft_invoices": len(company.drafts), "journal_lines": len(company.journal),
                    "vendor_ledger_entries": len(company.vendor_ledger), "gl_entries": len(company.gl_entries),
                    "subscriptions": len(self.subscriptions), "webhooks_supported": self.webhooks_supported,
                    "windows_auth": self.windows_auth, "notifications_sent": self.notifications_sent,
                    "requests": len(self.requests), "now": json_value(self.clock.now())}

    def stop(self) -> None:
        """Stop the notifier thread (a daemon anyway) and remove the NTLM users file."""
        with self._ntlm_lock:
            if self._ntlm is not None:
                self._ntlm.close()
                self._ntlm = None
        self.webhooks.stop()

    # -- control endpoints (no auth, no faults) ------------------------------------------------
    def _control_json(self, request: Request) -> dict:
        if not request.body:
            return {}
        body = request.json()
        return body if isinstance(body, dict) else {}

    def _control(self, action: Callable[[], Any], status: int = 200) -> Response:
        try:
            return Response(status, action())
        except ODataError as error:
            return error.response()
        except NavError as error:
            return ODataError(error.status, error.code, error.message).response()
        except KeyError as error:
            return Response(404, {"error": {"code": "NotFound", "message": f"{error.args[0]} does not exist"}})
        except (ValueError, TypeError) as error:
            return Response(400, {"error": {"code": "BadRequest", "message": str(error)}})

    def _control_reset(self, request: Request) -> Response:
        body = self._control_json(request)
        return self._control(lambda: (self.reset(body.get("seed")), self.stats())[1])

    def _control_clock(self, request: Request) -> Response:
        body = self._control_json(request)

        def advance() -> dict:
            self.clock.advance(float(body.get("seconds", 0)))
            with self.state_lock:
                self.webhooks._purge_expired()
            return {"now": json_value(self.clock.now())}

        return self._control(advance)

    def _control_create_vendor(self, request: Request) -> Response:
        body = self._control_json(request)
        return self._control(lambda: self.create_vendor(**body), 201)

    def _control_edit_vendor(self, request: Request) -> Response:
        body = self._control_json(request)
        return self._control(lambda: self.edit_vendor(request.params["number"], **body))

    def _control_delete_vendor(self, request: Request) -> Response:
        return self._control(lambda: (self.delete_vendor(request.params["number"]), {"deleted": True})[1])

    def _control_post_invoice(self, request: Request) -> Response:
        body = self._control_json(request)
        return self._control(lambda: self.post_invoice(body["vendor"], body["vendor_invoice_number"], body["lines"],
                                                       date.fromisoformat(body["posting_date"])
                                                       if body.get("posting_date") else None), 201)

    def _control_post_credit_memo(self, request: Request) -> Response:
        body = self._control_json(request)
        return self._control(lambda: self.post_credit_memo(body["vendor"], body["vendor_credit_memo_number"],
                                                           body["lines"], date.fromisoformat(body["posting_date"])
                                                           if body.get("posting_date") else None), 201)

    def _control_post_draft(self, request: Request) -> Response:
        return self._control(lambda: self.post_draft(request.params["number"]))

    def _control_post_journal(self, request: Request) -> Response:
        body = self._control_json(request)
        return self._control(lambda: {"posted": self.post_journal(str(body.get("template") or PAYMENT_TEMPLATE),
                                                                  str(body.get("batch") or CONNECTOR_BATCH))})

    def _control_setup(self, request: Request) -> Response:
        body = self._control_json(request)

        def change() -> dict:
            with self.state_lock:
                return serialize(self.pages.view("GeneralLedgerSetup"), self.company.touch_setup(**body), {})

        return self._control(change)

    def _control_webhooks(self, request: Request) -> Response:
        body = self._control_json(request)

        def toggle() -> dict:
            self.webhooks_supported = bool(body.get("enabled", True))
            return {"webhooks_supported": self.webhooks_supported}

        return self._control(toggle)

    def _control_services(self, request: Request) -> Response:
        """{"unpublish": [names], "publish": [names]}: page service names or API v2.0 entity sets."""
        body = self._control_json(request)

        def change() -> dict:
            with self.state_lock:
                self.unpublished |= {str(name) for name in body.get("unpublish") or ()}
                self.unpublished -= {str(name) for name in body.get("publish") or ()}
                return {"unpublished": sorted(self.unpublished)}

        return self._control(change)

    def _control_stats(self, request: Request) -> Response:
        return Response(200, self.stats())

    def _control_windows_auth(self, request: Request) -> Response:
        body = self._control_json(request)

        def toggle() -> dict:
            self.set_windows_auth(bool(body.get("enabled", True)))
            return {"windows_auth": self.windows_auth}

        return self._control(toggle)


def _without_nested(expand: str, option: str) -> str:
    """``expand`` with ``option`` left out at every nested level (the top-level navigation properties stay)."""
    parts = []
    for name, options in parse_expand(expand):
        kept = {key: _without_nested(value, option) if key == "$expand" else value
                for key, value in options.items() if key != option}
        parts.append(name + (f"({';'.join(f'{k}={v}' for k, v in kept.items())})" if kept else ""))
    return ",".join(parts)


def _relative_next_link(response: Response) -> None:
    """The response's ``@odata.nextLink`` made relative to its ``@odata.context`` (OData JSON format 4.3)."""
    body = response.body
    if not isinstance(body, dict) or "@odata.nextLink" not in body:
        return
    base = str(body.get("@odata.context") or "").split("#")[0].rsplit("/", 1)[0] + "/"
    link = str(body["@odata.nextLink"])
    if base != "/" and link.startswith(base):
        body["@odata.nextLink"] = link[len(base):]
