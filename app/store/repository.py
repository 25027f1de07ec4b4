"""The store in the flows' words: named questions about links, held items, conflicts and payments.

Each function takes the caller's session (a flow decides where its transactions begin and end) and answers
with rows or plain values. SQLite and PostgreSQL alike: nothing here is dialect-specific beyond
``schema.json_set``. The sync engine's flows ask these instead of building queries in their business steps.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.orm import Session

from app.store import schema as t

IN_CHUNK = 500  # keys per IN (...) list


# -- vendor links ----------------------------------------------------------------------------------
def vendor_links_for_numbers(s: Session, numbers: Iterable[str]) -> dict[str, t.VendorLink]:
    """NAV vendor No. -> its link (any status)."""
    return {link.nav_number: link for link in s.scalars(select(t.VendorLink).where(
        t.VendorLink.nav_number.in_(list(numbers))))}


def linked_vendors_for_bill_ids(s: Session, bill_ids: Iterable[str]) -> dict[str, t.VendorLink]:
    """BILL vendor id -> its link, for the linked ones."""
    return {link.bill_id: link for link in s.scalars(select(t.VendorLink).where(
        t.VendorLink.bill_id.in_(list(bill_ids)), t.VendorLink.status == "linked"))}


def linked_vendor_of_bill_id(s: Session, bill_id: str) -> t.VendorLink | None:
    return s.scalars(select(t.VendorLink).where(t.VendorLink.bill_id == bill_id,
                                                t.VendorLink.status == "linked")).first()


def vendor_link(s: Session, number: str) -> t.VendorLink | None:
    return s.scalars(select(t.VendorLink).where(t.VendorLink.nav_number == number)).first()


def vendor_links_by_id(s: Session, ids: Iterable[int]) -> Iterator[t.VendorLink]:
    return iter(s.scalars(select(t.VendorLink).where(t.VendorLink.id.in_(list(ids)))))


def linked_bill_ids(s: Session, among: list[str] | None = None) -> set[str]:
    """BILL vendor ids already linked (only those ``among`` the given ids, when given)."""
    query = select(t.VendorLink.bill_id).where(t.VendorLink.status == "linked")
    if among is not None:
        if not among:
            return set()
        query = query.where(t.VendorLink.bill_id.in_(among))
    return set(s.scalars(query))


def linked_nav_numbers(s: Session, numbers: Iterable[str]) -> set[str]:
    """Those of ``numbers`` whose NAV vendor is linked."""
    return set(s.scalars(select(t.VendorLink.nav_number).where(
        t.VendorLink.nav_number.in_(list(numbers)), t.VendorLink.status == "linked")))


def bill_vendor_ids(s: Session, numbers: Iterable[str]) -> dict[str, str]:
    """NAV vendor No. -> linked BILL vendor id, for the given vendors (one query)."""
    return dict(s.execute(select(t.VendorLink.nav_number, t.VendorLink.bill_id).where(
        t.VendorLink.nav_number.in_(sorted(set(numbers))), t.VendorLink.status == "linked")).all())


def links_to_reconcile(s: Session, after_id: int, limit: int, only_nav_number: str | None = None,
                       only_bill_id: str | None = None) -> list[t.VendorLink]:
    """Linked vendors with a change noted on either side (or never merged), a page at a time by id."""
    query = select(t.VendorLink).where(
        t.VendorLink.status == "linked", t.VendorLink.id > after_id,
        or_(t.json_set(t.VendorLink.nav_pending), t.json_set(t.VendorLink.bill_pending),
            t.VendorLink.nav_snapshot == {}))
    if only_nav_number:
        query = query.where(t.VendorLink.nav_number == only_nav_number)
    if only_bill_id:
        query = query.where(t.VendorLink.bill_id == only_bill_id)
    return list(s.scalars(query.order_by(t.VendorLink.id).limit(limit)))


def unclaimed_bill_vendors(s: Session, after_bill_id: str, limit: int,
                           only_bill_id: str | None = None) -> list[t.BillVendorCandidate]:
    """BILL vendors no NAV vendor matched or claimed, a page at a time by BILL id."""
    query = select(t.BillVendorCandidate).where(t.BillVendorCandidate.claimed_by == "",
                                                t.BillVendorCandidate.bill_id > after_bill_id)
    if only_bill_id:
        query = query.where(t.BillVendorCandidate.bill_id == only_bill_id)
    return list(s.scalars(query.order_by(t.BillVendorCandidate.bill_id).limit(limit)))


# -- conflicts -------------------------------------------------------------------------------------
def undecided_conflicts(s: Session, number: str) -> Iterator[t.Conflict]:
    """The vendor's conflicts a person has not decided yet, or decided and not applied yet."""
    return iter(s.scalars(select(t.Conflict).where(t.Conflict.record_key == number,
                                                   t.Conflict.state.in_(("open", "chosen")))))


def with_undecided_conflicts(s: Session, numbers: list[str]) -> set[str]:
    """Those of these vendors (NAV numbers) that have a conflict a person has not decided or applied yet."""
    found: set[str] = set()
    for start in range(0, len(numbers), IN_CHUNK):
        found.update(s.scalars(select(t.Conflict.record_key).where(
            t.Conflict.record_key.in_(numbers[start:start + IN_CHUNK]), t.Conflict.state.in_(("open", "chosen")))))
    return found


def open_conflict(s: Session, number: str, field: str) -> t.Conflict | None:
    return s.scalars(select(t.Conflict).where(t.Conflict.record_key == number, t.Conflict.field == field,
                                              t.Conflict.state == "open")).first()


def chosen_conflicts(s: Session) -> list[t.Conflict]:
    """Conflicts a person decided, by vendor."""
    return list(s.scalars(select(t.Conflict).where(t.Conflict.state == "chosen").order_by(t.Conflict.record_key)))


# -- invoice links ---------------------------------------------------------------------------------
def known_invoice_numbers(s: Session, numbers: Iterable[str], *, created_only: bool = False) -> set[str]:
    """Those of ``numbers`` that have an invoice link (created or held; only created ones with ``created_only``)."""
    query = select(t.InvoiceLink.nav_number).where(t.InvoiceLink.nav_number.in_(list(numbers)))
    if created_only:
        query = query.where(t.InvoiceLink.state == "created")
    return set(s.scalars(query))


def invoice_links_for_numbers(s: Session, numbers: Iterable[str]) -> dict[str, t.InvoiceLink]:
    return {link.nav_number: link for link in s.scalars(select(t.InvoiceLink).where(
        t.InvoiceLink.nav_number.in_(list(numbers))))}


def rows_among(s: Session, model: type, key: str, keys: list[str]) -> dict[str, object]:
    """The rows of ``model`` whose ``key`` column is one of ``keys``, by key, as ORM objects: what a plain
    ``select(model).where(key IN keys)`` answers, but when none exists (a first sync's new links) found by one
    query that loads nothing. A session holding objects of ``model`` asks the ORM way (it sees them as they are)."""
    if not keys:
        return {}
    column = getattr(model, key)
    if not any(isinstance(obj, model) for obj in (*s.new, *s.identity_map.values())):
        plain = model.__table__.c[key]
        found = [k for start in range(0, len(keys), IN_CHUNK)
                 for k in s.scalars(select(plain).where(plain.in_(keys[start:start + IN_CHUNK])))]
        if not found:
            return {}
        keys = found
    return {getattr(row, key): row for row in s.scalars(select(model).where(column.in_(keys)))}


def bill_ids_taken(s: Session, bill_ids: Iterable[str], *, created_only: bool = False,
                   other_than_invoice: str | None = None) -> set[str]:
    """Those of ``bill_ids`` an invoice is already linked to (a created link only, or another invoice's)."""
    query = select(t.InvoiceLink.bill_id).where(t.InvoiceLink.bill_id.in_(list(bill_ids)))
    if created_only:
        query = query.where(t.InvoiceLink.state == "created")
    if other_than_invoice is not None:
        query = query.where(t.InvoiceLink.nav_number != other_than_invoice)
    return set(s.scalars(query))


def created_invoices_for_bills(s: Session, bill_ids: Iterable[str]) -> dict[str, t.InvoiceLink]:
    """BILL bill id -> the NAV invoice whose bill it is."""
    return {link.bill_id: link for link in s.scalars(select(t.InvoiceLink).where(
        t.InvoiceLink.bill_id.in_(list(bill_ids)), t.InvoiceLink.state == "created"))}


def recorded_outbox_keys(s: Session, keys: Iterable[str]) -> set[str]:
    return set(s.scalars(select(t.OutboxEntry.key).where(t.OutboxEntry.key.in_(list(keys)))))


def add_rows(s: Session, model: type, rows: list[dict]) -> None:
    """Insert many new rows of ``model`` in one statement (executemany), in order, with the columns' defaults
    for what a row leaves out: what adding one ORM object per row writes, without the unit of work. Every row
    names the same columns.

    The statement is compiled once per table, columns and database; each row's values go through the same
    type conversions SQLAlchemy applies (JSON text, UTC times, money as text on SQLite) in one plain loop and
    reach the driver's executemany directly. A first sync inserts some 60,000 rows this way; SQLAlchemy's own
    per-row parameter handling cost about as much as the database's work on them."""
    if not rows:
        return
    connection = s.connection()
    writer = _row_writer(connection.dialect, model.__table__, tuple(rows[0]))
    connection.exec_driver_sql(writer.sql, [writer.params(row) for row in rows])


class _RowWriter:
    """One compiled INSERT of a table's named columns (plus those with a Python-side default), and how to turn
    a row dict into the driver's parameters: defaults filled in, each value through its column's converter."""

    def __init__(self, dialect, table, keys: tuple[str, ...]) -> None:
        unknown = [key for key in keys if key not in table.c]
        if unknown:  # what SQLAlchemy's own executemany refused ("Unconsumed column names")
            raise ValueError(f"add_rows: {table.name} has no column {', '.join(unknown)}")
        compiled = insert(table).compile(dialect=dialect, column_keys=list(keys), for_executemany=True)
        self.sql = compiled.string
        names = list(compiled.positiontup) if compiled.positional else list(compiled.binds)
        processors = compiled._bind_processors
        self.steps = []
        for name in names:
            column = table.c[name]
            default = None
            if name not in keys:
                if column.default is None or not (column.default.is_scalar or column.default.is_callable):
                    raise ValueError(f"add_rows: no value and no Python default for {table.name}.{name}")
                default = column.default.arg if column.default.is_callable else (lambda _c, v=column.default.arg: v)
            self.steps.append((name, name in keys, default, processors.get(name)))
        self.positional = compiled.positional

    def params(self, row: dict):
        values = []
        for name, given, default, process in self.steps:
            value = row[name] if given else default(None)
            values.append(process(value) if process is not None else value)
        if self.positional:
            return tuple(values)
        return {name: value for (name, *_), value in zip(self.steps, values, strict=True)}


_ROW_WRITERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _row_writer(dialect, table, keys: tuple[str, ...]) -> _RowWriter:
    writers = _ROW_WRITERS.setdefault(dialect, {})
    writer = writers.get((table.name, keys))
    if writer is None:
        writer = writers[(table.name, keys)] = _RowWriter(dialect, table, keys)
    return writer


def outbox_keys_among(s: Session, keys: list[str]) -> set[str]:
    """Those of ``keys`` that have an outbox row (nothing loaded, no autoflush)."""
    table = t.OutboxEntry.__table__
    found: set[str] = set()
    with s.no_autoflush:
        for start in range(0, len(keys), IN_CHUNK):
            found.update(s.scalars(select(table.c.key).where(table.c.key.in_(keys[start:start + IN_CHUNK]))))
    return found


def finish_outbox_rows(s: Session, results: dict[str, dict]) -> None:
    """Outbox rows ``done`` with their results, one UPDATE per row in one executemany, nothing loaded. Only for
    keys whose row the session does not hold as an object (it would not see the change)."""
    table = t.OutboxEntry.__table__
    s.execute(update(table).where(table.c.key == bindparam("done_key"))
              .values(state="done", result=bindparam("done_result"), last_error=""),
              [{"done_key": key, "done_result": result} for key, result in results.items()])


def outbox_row(s: Session, key: str) -> t.OutboxEntry | None:
    return s.scalars(select(t.OutboxEntry).where(t.OutboxEntry.key == key)).first()


# -- payment links ---------------------------------------------------------------------------------
def payments_in_journal(s: Session) -> list[str]:
    """BILL payment ids whose lines wait in a NAV journal batch (NAV 2016-2018), sorted."""
    return sorted(set(s.scalars(select(t.PaymentLink.payment_id).where(t.PaymentLink.state == "in journal"))))


def vendor_names(s: Session, nav_numbers: Iterable[str]) -> dict[str, str]:
    """NAV vendor No. -> the name last synced for it (vendors the store knows)."""
    return dict(s.execute(select(t.VendorLink.nav_number, t.VendorLink.name)
                          .where(t.VendorLink.nav_number.in_(list(nav_numbers)))).all())


def payment_links(s: Session, payment_id: str) -> list[t.PaymentLink]:
    return list(s.scalars(select(t.PaymentLink).where(t.PaymentLink.payment_id == payment_id)))


def payment_links_for(s: Session, payment_ids: Iterable[str]) -> Iterator[t.PaymentLink]:
    """The links of these payments, by bill."""
    return iter(s.scalars(select(t.PaymentLink).where(t.PaymentLink.payment_id.in_(list(payment_ids)))
                          .order_by(t.PaymentLink.bill_id)))


def posted_amounts(s: Session, bill_ids: Iterable[str], other_than_payment: str) -> list[tuple[str, str]]:
    """(bill id, amount as stored text) of the other payments already posted on these bills."""
    return [(bill_id, amount) for bill_id, amount in s.execute(
        select(t.PaymentLink.bill_id, t.PaymentLink.amount).where(
            t.PaymentLink.bill_id.in_(list(bill_ids)), t.PaymentLink.state == "posted",
            t.PaymentLink.payment_id != other_than_payment))]


# -- held items (the queue) ------------------------------------------------------------------------
def queue_item(s: Session, kind: str, key: str) -> t.QueueItem | None:
    return s.scalars(select(t.QueueItem).where(t.QueueItem.kind == kind, t.QueueItem.record_key == key)).first()


def queue_items(s: Session, kind: str, key: str) -> list[t.QueueItem]:
    return list(s.scalars(select(t.QueueItem).where(t.QueueItem.kind == kind, t.QueueItem.record_key == key)))


def queue_items_by_key(s: Session, kind: str, keys: list[str]) -> dict[str, t.QueueItem]:
    """The queue item of ``kind`` for each of these keys that has one (``queue_item`` for many keys)."""
    found: dict[str, t.QueueItem] = {}
    for start in range(0, len(keys), IN_CHUNK):
        for item in s.scalars(select(t.QueueItem).where(t.QueueItem.kind == kind, t.QueueItem.record_key.in_(
                keys[start:start + IN_CHUNK])).order_by(t.QueueItem.id)):
            found.setdefault(item.record_key, item)
    return found


def open_items(s: Session, kind: str, keys: list[str]) -> Iterator[t.QueueItem]:
    """The open items of ``kind`` for these keys (any number of keys)."""
    for start in range(0, len(keys), IN_CHUNK):
        yield from s.scalars(select(t.QueueItem).where(t.QueueItem.kind == kind, t.QueueItem.state == "open",
                                                       t.QueueItem.record_key.in_(keys[start:start + IN_CHUNK])))


def holds_queue_items(s: Session) -> bool:
    """Whether the session has queue items loaded or pending (then only an ORM query sees them as they are)."""
    return any(key[0] is t.QueueItem for key in s.identity_map.keys()) or any(
        isinstance(obj, t.QueueItem) for obj in s.new)


def resolve_open_items(s: Session, kind: str, keys: list[str]) -> None:
    """Open items of ``kind`` for these keys become resolved (and not retryable), one UPDATE per 500 keys and
    nothing loaded: when none is open (a first sync), that is one indexed statement that changes nothing. Only
    for a session that holds no queue item objects (``holds_queue_items``): they would not see the change."""
    table = t.QueueItem.__table__
    for start in range(0, len(keys), IN_CHUNK):
        s.execute(update(table).where(table.c.kind == kind, table.c.state == "open",
                                      table.c.record_key.in_(keys[start:start + IN_CHUNK]))
                  .values(state="resolved", retryable=False))


def open_item_starting(s: Session, kind: str, prefix: str) -> t.QueueItem | None:
    """An open item of ``kind`` whose key starts with ``prefix`` (taken literally)."""
    return s.scalars(select(t.QueueItem).where(t.QueueItem.kind == kind, t.QueueItem.state == "open",
                                               t.QueueItem.record_key.startswith(prefix, autoescape=True))).first()


def open_unreadable(s: Session, side: str) -> Iterator[t.QueueItem]:
    """Open holds of records of ``side`` ("NAV", "BILL") that could not be read."""
    return iter(s.scalars(select(t.QueueItem).where(t.QueueItem.kind == "unreadable", t.QueueItem.state == "open",
                                                    t.QueueItem.record_key.like(f"{side} %"))))


def retry_keys(s: Session, kind: str) -> list[str]:
    """Keys of the open items of ``kind`` that the next run tries again."""
    return list(s.scalars(select(t.QueueItem.record_key).where(
        t.QueueItem.kind == kind, t.QueueItem.state == "open", t.QueueItem.retryable.is_(True))))


def held_items(s: Session, kind: str, after_id: int, limit: int) -> list[t.QueueItem]:
    """Open items of ``kind`` held for a reason (not retried), a page at a time by id."""
    return list(s.scalars(select(t.QueueItem).where(
        t.QueueItem.kind == kind, t.QueueItem.state == "open", t.QueueItem.retryable.is_(False),
        t.QueueItem.id > after_id).order_by(t.QueueItem.id).limit(limit)))


# -- mappings --------------------------------------------------------------------------------------
def suggested_account_mappings(s: Session) -> list[t.AccountMapping]:
    return list(s.scalars(select(t.AccountMapping).where(t.AccountMapping.source == "suggested")))


def mapped_nav_accounts(s: Session) -> set[str]:
    """NAV accounts with a mapping that applies whatever the dimensions."""
    return set(s.scalars(select(t.AccountMapping.nav_account).where(t.AccountMapping.dimension_filter_key == "")))


def mapped_dimension_values(s: Session) -> set[tuple[str, str]]:
    return {(code, value) for code, value in s.execute(select(t.DimensionMapping.dimension_code,
                                                              t.DimensionMapping.value_code))}


# -- runs ------------------------------------------------------------------------------------------
def run_has_audit(s: Session, run_id: int) -> bool:
    return s.scalar(select(t.AuditEntry.id).where(t.AuditEntry.run_id == run_id).limit(1)) is not None


def bookmarks_starting(s: Session, prefix: str) -> dict[str, str]:
    """Bookmarks whose stream name starts with ``prefix``, by the rest of the name."""
    return {row.stream[len(prefix):]: row.value for row in s.scalars(
        select(t.Bookmark).where(t.Bookmark.stream.startswith(prefix, autoescape=True)))}
