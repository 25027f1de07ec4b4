"""The NAV / Business Central client: one interface, two backends, chosen per profile.
May import app.domain, app.log and app.clients (its retry and transport helpers).

* ``bcapi.BcApi``: Business Central 17+ through its standard API v2.0 (posts payments, offers webhooks).
* ``classic.ClassicPages``: NAV 2016-2018, or any Business Central, through the standard pages published as
  OData v4 web services (payments wait in the journal for the accountant; no webhooks, so polling).

``NavClient`` picks one from ``NavConnection.flavor``: ``bc``, ``classic`` or ``auto`` (the default), which asks
``/api/v2.0/companies`` on first use and falls back to the pages when the server has no API v2.0. Nothing is
sent when a client is made, so the window can make one without waiting on the network.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, datetime

from app.clients.nav.backend import JournalBatchNotEmptyError, NavBackend
from app.clients.nav.bcapi import BcApi
from app.clients.nav.classic import ClassicPages
from app.clients.nav.transport import FLAVORS, SYSTEM, NavConnection, NavTransport
from app.clients.retry import RetryPolicy
from app.domain.errors import ConfigurationError
from app.domain.models import (
    Dimension,
    DimensionValue,
    GLAccount,
    JournalLine,
    NavVendor,
    PaymentPosting,
    PostedInvoice,
    PostedPayment,
    UnreadableRecord,
    VendorFields,
)
from app.domain.periods import AllowedPostingDates

FLAVOR_NAMES = {"bc": "Business Central (API v2.0)", "classic": "NAV OData v4 pages"}


class NavClient:
    """Everything the engine, the push service and the connection test ask of NAV."""

    def __init__(self, connection: NavConnection, retry: RetryPolicy | None = None, page_size: int = 1000,
                 timeout: float = 30) -> None:
        if connection.flavor not in FLAVORS:
            raise ConfigurationError(f"the NAV flavor '{connection.flavor}' is not one of {', '.join(FLAVORS)}.",
                                     system=SYSTEM, code="flavor")
        self.connection = connection
        self.transport = NavTransport(connection, retry=retry, page_size=page_size, timeout=timeout)
        self._backend: NavBackend | None = None
        self._lock = threading.Lock()

    @property
    def call_count(self) -> int:
        return self.transport.call_count

    def close(self) -> None:
        self.transport.close()

    # -- which NAV --------------------------------------------------------------------------------
    @property
    def backend(self) -> NavBackend:
        with self._lock:
            if self._backend is None:
                flavor = self.connection.flavor
                if flavor == "auto":
                    flavor = self.detect_flavor()
                self._backend = BcApi(self.transport) if flavor == "bc" else ClassicPages(self.transport)
            return self._backend

    @property
    def flavor(self) -> str:
        return self.backend.flavor

    def detect_flavor(self) -> str:
        """``bc`` when the server answers ``/api/v2.0/companies``, ``classic`` when it says there is no such
        thing (404: NAV 2016-2018, or the API switched off). Anything else (a 500, a timeout, a refused sign-in)
        is raised, and the next call asks again: a passing fault must not make a Business Central look like a
        NAV 2018 for the life of the client (its payments would then wait for an accountant forever)."""
        response = self.transport.send("GET", f"{self.connection.api_root}/companies", idempotent=True)
        if response.status_code == 200:
            return "bc"
        if response.status_code == 404:
            return "classic"
        raise self.transport.error(response, "")

    # -- the interface the engine uses --------------------------------------------------------------
    def ping(self) -> dict:
        return self.backend.ping()

    def iter_vendors(self, modified_since: datetime | None = None) -> Iterator[NavVendor | UnreadableRecord]:
        return self.backend.iter_vendors(modified_since)

    def get_vendor(self, number: str) -> NavVendor | None:
        return self.backend.get_vendor(number)

    def create_vendor(self, fields: VendorFields, number: str) -> NavVendor:
        return self.backend.create_vendor(fields, number)

    def update_vendor(self, number: str, fields: VendorFields, etag: str) -> NavVendor:
        return self.backend.update_vendor(number, fields, etag)

    def iter_posted_invoices(self, modified_since: datetime | None = None
                             ) -> Iterator[PostedInvoice | UnreadableRecord]:
        return self.backend.iter_posted_invoices(modified_since)

    def get_posted_invoice(self, number: str) -> PostedInvoice | None:
        return self.backend.get_posted_invoice(number)

    def iter_gl_accounts(self) -> Iterator[GLAccount | UnreadableRecord]:
        return self.backend.iter_gl_accounts()

    def iter_dimensions(self) -> Iterator[Dimension]:
        return self.backend.iter_dimensions()

    def iter_dimension_values(self) -> Iterator[DimensionValue]:
        return self.backend.iter_dimension_values()

    def iter_reference_stamps(self, since: dict[str, str] | None = None) -> Iterator[tuple[str, str]]:
        return self.backend.iter_reference_stamps(since)

    def find_payments(self, external_document_number: str, dated: date | None = None) -> list[PostedPayment]:
        return self.backend.find_payments(external_document_number, dated)

    def journal_documents(self, journal_template: str, journal_batch: str) -> set[str] | None:
        """Document Nos. of the lines now in this payment journal batch (NAV 2016-2018, page 256: the connector's
        lines wait there for the accountant); None on Business Central, where the connector posts its lines."""
        backend = self.backend
        if not isinstance(backend, ClassicPages):
            return None
        return {row.document for row in backend.payment_journal([], journal_template, journal_batch).lines()}

    def iter_posted_credit_memos(self, skip=None) -> Iterator:
        """Posted purchase credit memos (``PostedCreditMemo``), where this NAV offers them (BC 22/23+ API);
        ``skip(number)`` True: that memo's lines are not read (it was sent already)."""
        return self.backend.iter_posted_credit_memos(skip)

    @property
    def credit_memos_supported(self) -> bool:
        return bool(self.backend.credit_memos_supported)

    def allowed_posting_dates(self) -> AllowedPostingDates:
        """General Ledger Setup's Allow Posting From/To where NAV publishes them (``known`` False elsewhere)."""
        return self.backend.allowed_posting_dates()

    def post_payment(self, lines: list[JournalLine], journal_template: str, journal_batch: str) -> PaymentPosting:
        return self.backend.post_payment(lines, journal_template, journal_batch)

    # -- webhooks (Business Central only) -----------------------------------------------------------
    def webhooks_supported(self) -> bool:
        backend = self.backend
        return isinstance(backend, BcApi) and backend.webhooks_supported()

    def _api(self) -> BcApi:
        backend = self.backend
        if not isinstance(backend, BcApi):
            raise ConfigurationError("this NAV has no webhook subscriptions (NAV 2016-2018 pages): changes are "
                                     "polled.", system=SYSTEM, code="no webhooks")
        return backend

    def number_for_id(self, entity_set: str, system_id: str) -> str:
        return self._api().number_for_id(entity_set, system_id)

    def resource_path(self, entity_set: str) -> str:
        return self._api().resource_path(entity_set)

    def create_subscription(self, notification_url: str, resource: str, client_state: str) -> dict:
        return self._api().create_subscription(notification_url, resource, client_state)

    def get_subscription(self, subscription_id: str) -> dict | None:
        return self._api().get_subscription(subscription_id)

    def list_subscriptions(self) -> list[dict]:
        return self._api().list_subscriptions()

    def renew_subscription(self, subscription_id: str) -> dict:
        return self._api().renew_subscription(subscription_id)

    def delete_subscription(self, subscription_id: str) -> None:
        self._api().delete_subscription(subscription_id)


__all__ = ["NavClient", "NavConnection", "JournalBatchNotEmptyError", "FLAVOR_NAMES", "FLAVORS", "SYSTEM"]
