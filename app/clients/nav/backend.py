"""What both NAV backends share: the operations the engine calls, and the rules that do not depend on the wire.

A backend turns NAV's rows into domain types (``app.domain.models``). A row that does not parse becomes an
``UnreadableRecord`` yielded in its place, so one bad invoice never stops the stream.

Two rules live here because they are the same for every NAV:

* **Vendor updates** send only the fields the connector changes, with the ETag it read (``If-Match``). On 412
  the vendor is read again: if someone else changed one of those same fields it is a conflict, otherwise the
  change is resent with the new ETag and their other edits are kept.
* **Payments** are NEW journal lines in the connector's own batch, applied to the invoice. Posting (where the
  backend can post) posts the WHOLE batch, so the batch is read first: a line the connector did not write for
  this payment stops everything with ``JournalBatchNotEmptyError``. Lines of this payment already waiting there
  (a crash between writing and posting) are reused, never written twice.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from app.clients.nav.transport import SYSTEM, NavTransport
from app.domain.errors import ConcurrencyError, NotFoundError, RecordError
from app.domain.models import (
    VENDOR_SYNC_FIELDS,
    JournalLine,
    NavVendor,
    PaymentPosting,
    PostedPayment,
    UnreadableRecord,
    VendorFields,
    is_payment_description,
)
from app.domain.periods import AllowedPostingDates
from app.domain.values import shown

log = logging.getLogger("navbill.nav")

SEEN_VENDORS_LIMIT = 5000


class JournalBatchNotEmptyError(RecordError):
    """The journal batch holds lines the connector did not write; posting would post them too."""


class FieldError(ValueError):
    """A field of a NAV row that does not parse: which field, its raw value, and why."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        super().__init__(reason)
        self.field, self.value, self.reason = field, value, reason


def field_value(row: dict, name: str, parse: Callable[[Any], Any]) -> Any:
    """``parse(row[name])``, with a failure naming the field and its value."""
    value = row.get(name)
    try:
        return parse(value)
    except ValueError as exc:
        raise FieldError(name, value, str(exc)) from None


@dataclass
class JournalRow:
    """One line of the connector's payment journal batch, as either backend reads it."""

    external: str
    document: str
    invoice: str
    amount: Decimal
    line_no: int
    ref: dict  # what deleting it takes (key fields or id, and the ETag)
    description: str = ""

    @property
    def match_key(self) -> tuple[str, str, Decimal]:
        return self.external, self.invoice, self.amount

    @property
    def connectors(self) -> bool:
        """A line the connector wrote for some BILL payment: its description names that payment."""
        return bool(self.external) and is_payment_description(self.description, self.external)


class PaymentJournal:
    """The connector's batch on one backend."""

    record: str
    can_post: bool

    def lines(self) -> list[JournalRow]:
        raise NotImplementedError

    def create(self, line: JournalLine, line_no: int) -> JournalRow:
        raise NotImplementedError

    def delete(self, row: JournalRow) -> None:
        raise NotImplementedError

    def post(self) -> bool:
        """Post the batch: True, or False when this NAV cannot post it (the lines wait for the accountant)."""
        raise NotImplementedError


class NavBackend:
    """The operations the engine, the push service and the connection test use. Subclasses read and write."""

    flavor = ""
    description = ""  # e.g. "Business Central API v2.0", for the connection test and the log

    def __init__(self, transport: NavTransport) -> None:
        self.transport = transport
        self.connection = transport.connection
        self._seen_vendors: OrderedDict[str, NavVendor] = OrderedDict()

    # -- parsing helpers ------------------------------------------------------------------------
    def unreadable(self, kind: str, key: str, error: FieldError) -> UnreadableRecord:
        record = UnreadableRecord(system=SYSTEM, kind=kind, key=key, field=error.field, value=shown(error.value),
                                  reason=error.reason)
        log.debug("%s", record.message)  # the engine holds it and logs the hold
        return record

    def remember(self, vendor: NavVendor) -> NavVendor:
        """Keep what we last saw of a vendor (bounded), so a 412 can tell whose fields changed."""
        self._seen_vendors[vendor.number] = vendor
        self._seen_vendors.move_to_end(vendor.number)
        if len(self._seen_vendors) > SEEN_VENDORS_LIMIT:
            self._seen_vendors.popitem(last=False)
        return vendor

    # -- vendors ------------------------------------------------------------------------------------
    def get_vendor(self, number: str) -> NavVendor | None:
        raise NotImplementedError

    def _patch_vendor(self, number: str, fields: VendorFields, changed: set[str], etag: str):
        """Send the changed fields with If-Match; answers the response (the caller reads its status)."""
        raise NotImplementedError

    def _vendor_from_response(self, response) -> NavVendor:
        raise NotImplementedError

    def update_vendor(self, number: str, fields: VendorFields, etag: str) -> NavVendor:
        record = f"vendor {number}"
        seen = self._seen_vendors.get(number)
        base = seen.fields if seen is not None and seen.etag == etag else None
        changed = ({attr for attr in VENDOR_SYNC_FIELDS if getattr(fields, attr) != getattr(base, attr)}
                   if base is not None else set(VENDOR_SYNC_FIELDS))
        if not changed and seen is not None:
            return seen
        response = self._patch_vendor(number, fields, changed, etag)
        if response.status_code == 412:
            fresh = self.get_vendor(number)
            if fresh is None:
                raise NotFoundError("the vendor was deleted in NAV.", system=SYSTEM, record=record)
            if base is None:
                raise ConcurrencyError("someone changed this vendor in NAV since it was read.", system=SYSTEM,
                                       record=record, code="Request_EntityChanged")
            theirs = {attr for attr in changed
                      if getattr(fresh.fields, attr) != getattr(base, attr)
                      and getattr(fresh.fields, attr) != getattr(fields, attr)}
            if theirs:
                raise ConcurrencyError(
                    f"someone changed {', '.join(sorted(theirs))} of this vendor in NAV since it was read.",
                    system=SYSTEM, record=record, code="Request_EntityChanged")
            response = self._patch_vendor(number, fields, changed, fresh.etag)
        if response.status_code == 204:  # saved, answered without a body (OData part 1 11.4.3): read it back
            saved = self.get_vendor(number)
            if saved is None:
                raise NotFoundError("the vendor was deleted in NAV.", system=SYSTEM, record=record)
            return saved
        if response.status_code != 200:
            raise self.transport.error(response, record)
        return self._vendor_from_response(response)

    # -- payments -----------------------------------------------------------------------------------
    def payment_journal(self, lines: list[JournalLine], journal_template: str,
                        journal_batch: str) -> PaymentJournal:
        raise NotImplementedError

    def find_payments(self, external_document_number: str, dated: date | None = None) -> list[PostedPayment]:
        raise NotImplementedError

    def allowed_posting_dates(self) -> AllowedPostingDates:
        raise NotImplementedError

    def iter_reference_stamps(self, since: dict[str, str] | None = None) -> Iterator[tuple[str, str]]:
        """(list, newest modification time) of each reference list (G/L accounts, dimensions, dimension values),
        later than ``since[list]`` where given ("" for a list with nothing newer); nothing where this NAV cannot
        tell (the NAV 2016-2018 pages carry no modification time on them): the engine then re-reads hourly."""
        return iter(())

    # Posted purchase credit memos: Business Central API v2.0 (22/23+) and the NAV 2016-2018 pages 147/141
    # (docs/vendor-credits.md); a backend that has none leaves these.
    credit_memos_supported = False

    def iter_posted_credit_memos(self, skip=None) -> Iterator:
        return iter(())

    def post_payment(self, lines: list[JournalLine], journal_template: str, journal_batch: str) -> PaymentPosting:
        """Write one BILL payment's NEW journal lines and post them where this NAV can post over its API.

        Nothing posted is ever modified. Answers whether the lines were posted or wait in the batch for the
        accountant (NAV 2016-2018 have no standard way to post a journal over OData).
        """
        journal = self.payment_journal(lines, journal_template, journal_batch)
        batch = f"{journal_template}/{journal_batch}"
        wanted = {line.external_document_number for line in lines}
        documents = {line.document_number for line in lines}
        existing = journal.lines()
        # The connector's own lines of OTHER payments may share the batch: on NAV 2016-2018 they wait there for
        # the accountant, and on Business Central they are the lines of a payment whose posting was cut short,
        # which posting now completes (that payment's recovery then finds it posted). Anything else is foreign.
        mine = [row for row in existing if row.external in wanted and row.document in documents]
        foreign = [row for row in existing if row not in mine and not row.connectors]
        if foreign:
            shown_documents = ", ".join(sorted({row.document or row.external or f"line {row.line_no}"
                                                for row in foreign}))
            raise JournalBatchNotEmptyError(
                f"journal batch {batch} holds lines the connector did not write for this payment (document "
                f"{shown_documents}). Posting would post them too: post or delete those lines in NAV, or give the "
                "connector a batch of its own in Settings.", system=SYSTEM, record=f"journal batch {batch}",
                code="batch not empty")
        # A crash between creating the lines and posting them leaves them waiting, unposted, in the batch:
        # they are reused, so no line is added twice.
        waiting: dict[tuple[str, str, Decimal], JournalRow] = {}
        stale: list[JournalRow] = []
        for row in mine:
            if row.match_key in waiting:
                stale.append(row)
            else:
                waiting[row.match_key] = row
        own: list[JournalRow] = []
        next_line_no = max((row.line_no for row in existing), default=0) + 10000
        try:
            for line in lines:
                reused = waiting.pop((line.external_document_number, line.applies_to_invoice, line.amount), None)
                if reused is None:
                    reused = journal.create(line, next_line_no)
                    next_line_no += 10000
                own.append(reused)
            for row in stale + list(waiting.values()):  # this payment's lines no longer wanted (amounts changed)
                journal.delete(row)
            waits = journal.can_post and journal.post() is False  # False: this NAV cannot post it over the API
        except RecordError:
            if journal.can_post:
                # Refused: nothing was posted (NAV posts a batch in one transaction). Take this payment's lines
                # out again so the batch does not block every later payment with this error.
                for row in own:
                    try:
                        journal.delete(row)
                    except RecordError:
                        pass  # already gone
            raise
        if not journal.can_post or waits:
            return PaymentPosting(posted=False, batch=batch)
        posted: list[PostedPayment] = []
        for external in sorted(wanted):
            posted.extend(self.find_payments(external))
        return PaymentPosting(posted=True, batch=batch, entries=tuple(posted))

    # -- the rest of the interface (see NavClient) ---------------------------------------------------------
    def iter_vendors(self, modified_since=None) -> Iterator[NavVendor | UnreadableRecord]:
        raise NotImplementedError
