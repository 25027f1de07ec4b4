"""The store: one SQLite file (or any SQLAlchemy URL) with links, bookmarks, outbox, queue, audit, settings.

SQLite is the embedded default (one workstation). A team shares one PostgreSQL database instead
(``postgresql+psycopg://user@server/navbill``): the same tables and migrations, the run lock becomes an advisory
lock (``app/store/lock.py``), and what only makes sense for a file (WAL, the online backup API, the file's
integrity check) is left to the database server and its administrator.

Thread use: a worker thread runs the sync while the UI thread reads. Every unit of work opens its own
Session (``with store.session() as s:``) and commits or rolls back as a whole; SQLite in WAL mode lets
readers go on while the writer writes. No Qt here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, delete, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from app.domain.errors import ConnectorError
from app.domain.models import VENDOR_SYNC_FIELDS
from app.store import migrations
from app.store import schema as t
from app.store.backup import make_backup, restore_hint
from app.store.integrity import DatabaseFileProblem, inspect_file, refuse_foreign
from app.store.lock import AdvisoryLock, FileRunLock, ProcessRunLock, RunLock, advisory_key
from app.store.views import (
    AccountMappingRow,
    AuditRow,
    ConflictRow,
    DimensionMappingRow,
    FieldDiff,
    InvoiceRow,
    PaymentRow,
    QueueItemRow,
    RunRow,
    VendorRow,
)

log = logging.getLogger("navbill.store")

BUSY_TIMEOUT_MS = 10_000
MIGRATION_KEY = advisory_key("migrate", "")
SCOPE_SETTING = "team.company"  # "<nav company>|<bill organization>", see Store.set_scope


class StoreError(ConnectorError):
    """The database cannot be used: damaged, locked by another program, or from a newer app version."""


def _explain(exc: Exception, where: str, database_file: Path | None = None) -> StoreError:
    text = str(getattr(exc, "orig", exc)).lower()
    if "locked" in text or "busy" in text:
        message = (f"The connector's database {where} is locked by another program (another copy of the "
                   "connector may be running). Close it and try again.")
    elif "not a database" in text or "malformed" in text or "corrupt" in text:
        message = f"The connector's database {where} is damaged. {restore_hint(database_file)}"
    else:
        message = f"The connector's database {where} could not be used: {getattr(exc, 'orig', exc)}"
    return StoreError(message, system="store", code=type(exc).__name__)


def filter_key(dimension_filter: dict[str, str] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((dimension_filter or {}).items()))


class Store:
    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = make_url(url)
        self.database_file: Path | None = None
        options: dict[str, Any] = {}
        if self.url.get_backend_name() == "sqlite":
            database = self.url.database or ""
            if database and database != ":memory:" and not database.startswith("file:"):
                self.database_file = Path(database)
                try:  # an empty, cut-short or foreign file is refused, never re-created over
                    inspect_file(self.database_file)
                except DatabaseFileProblem as exc:
                    raise StoreError(str(exc), system="store", code="damaged") from None
                self._create_private_file(self.database_file)
                options["connect_args"] = {"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000}
            else:  # one shared in-memory database for every thread (tests)
                options["connect_args"] = {"check_same_thread": False}
                options["poolclass"] = StaticPool
        elif self.is_postgres:
            # A server store: a dropped connection (server restart, a PC that slept) is noticed and replaced;
            # keepalives let the server notice a dead workstation (and drop its locks) within about a minute.
            options["pool_pre_ping"] = True
            options["connect_args"] = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10,
                                       "keepalives_count": 3, "connect_timeout": 10}
        # JSON is written standard-only: a NaN or infinity anywhere is an error, never "NaN" in the database.
        options["json_serializer"] = lambda value: json.dumps(value, allow_nan=False)
        self.engine = create_engine(self.url, **options)
        if self.url.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", self._sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # One writer per company at a time (see app/store/lock.py): a file lock beside an SQLite file, an
        # advisory lock on PostgreSQL (keyed by ``scope``: the NAV company and BILL organization).
        self.scope = ""
        self._run_lock: RunLock
        if self.is_postgres:
            self._run_lock = AdvisoryLock(self.engine, "run", self._lock_scope)
        elif self.database_file is not None:
            self._run_lock = FileRunLock(self.database_file)
        else:
            self._run_lock = ProcessRunLock()
        if migrate:
            self.migrate()

    @property
    def is_postgres(self) -> bool:
        return self.url.get_backend_name() == "postgresql"

    @property
    def where(self) -> str:
        if self.database_file:
            return f"'{self.database_file}'"
        if self.is_postgres:  # never the password
            return f"'{self.url.render_as_string(hide_password=True)}'"
        return f"({self.url.get_backend_name()})"

    def set_scope(self, nav_company: str, bill_organization: str) -> None:
        """Whose data this store holds: the NAV company and BILL organization. Recorded in the store the first
        time, so every process on it (serve, sync, any window) derives the same lock keys from it."""
        scope = f"{nav_company.strip().casefold()}|{bill_organization.strip()}"
        if not self.is_postgres:  # one workstation: nothing to share, nothing written
            self.scope = scope
            return
        recorded = self.get_setting(SCOPE_SETTING)
        if not recorded:
            self.set_setting(SCOPE_SETTING, scope)
        elif recorded != scope:
            log.warning("This store belongs to %s, not %s: its locks stay those of %s", recorded, scope, recorded)
        self.scope = ""  # read back from the store

    def _lock_scope(self) -> str:
        if not self.scope:
            self.scope = str(self.get_setting(SCOPE_SETTING) or "")
        with self.engine.connect() as connection:  # two stores (schemas) on one server never share a lock
            schema_name = connection.execute(text("SELECT current_schema()")).scalar() or ""
        return f"{self.url.database}|{schema_name}|{self.scope}"

    def leader_lock(self) -> RunLock:
        """On PostgreSQL: the lock whoever runs the scheduler and webhook listener holds (one per company).
        On SQLite: one workstation is always its own leader; the run lock already keeps its processes apart."""
        if self.is_postgres:
            return AdvisoryLock(self.engine, "leader", self._lock_scope)
        return ProcessRunLock()

    @staticmethod
    def _create_private_file(path: Path) -> None:
        # Financial data: the file (and WAL/backup siblings created later by SQLite with the same
        # mode) is readable by the user only.
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            old = os.umask(0o077)
            try:
                fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
                os.close(fd)
            finally:
                os.umask(old)
        with contextlib.suppress(OSError):
            path.chmod(0o600)

    def _sqlite_pragmas(self, dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if self.database_file is not None:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    def migrate(self, target: int = migrations.LATEST_VERSION) -> None:
        old = os.umask(0o077)
        try:
            if self.url.get_backend_name() == "sqlite":
                with self.engine.connect() as connection:
                    if migrations.current_version(connection) == 0:
                        refuse_foreign(connection)
            if self.is_postgres:  # two workstations starting at once: one migrates, the other waits
                with self.engine.connect() as connection:
                    connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_KEY})
                    try:
                        migrations.migrate(self.engine, None, target)
                    finally:
                        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_KEY})
                        connection.commit()
            else:
                migrations.migrate(self.engine, self.database_file, target)
        except ValueError as exc:
            raise StoreError(f"The connector's database {self.where} cannot be opened: {exc}.",
                             system="store") from None
        except (DatabaseError, OperationalError) as exc:
            raise _explain(exc, self.where, self.database_file) from None
        finally:
            os.umask(old)

    def schema_version(self) -> int:
        with self.engine.connect() as connection:
            return migrations.current_version(connection)

    def close(self) -> None:
        self.engine.dispose()

    # -- one writer at a time, backups ----------------------------------------------------------
    def run_lock(self) -> RunLock:
        """The lock every sync run holds for its whole length (``RunLock.hold``)."""
        return self._run_lock

    def backup(self, keep: int | None = None, **options: Any) -> Path | None:
        """A rolling backup (SQLite online backup API) after a successful run; None for a non-file store."""
        if self.database_file is None:
            return None
        return make_backup(self.database_file, keep, **options)

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """One unit of work: commits when the block ends, rolls back if it raises."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except (DatabaseError, OperationalError) as exc:
            session.rollback()
            raise _explain(exc, self.where, self.database_file) from None
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    # -- settings ------------------------------------------------------------------------------
    def get_setting(self, key: str, default: Any = None) -> Any:
        with self.session() as s:
            row = s.get(t.Setting, key)
            return default if row is None else row.value

    def set_setting(self, key: str, value: Any) -> None:
        with self.session() as s:
            s.merge(t.Setting(key=key, value=value))

    # -- bookmarks and number series (engine helpers; pass the engine's session) ---------------
    def get_bookmark(self, stream: str) -> str:
        with self.session() as s:
            row = s.get(t.Bookmark, stream)
            return row.value if row else ""

    @staticmethod
    def set_bookmark(session: Session, stream: str, value: str) -> None:
        row = session.get(t.Bookmark, stream)
        if row is None:
            session.add(t.Bookmark(stream=stream, value=value))
        elif value > row.value:  # ISO times: text order is time order; never move back
            row.value = value

    def reset_bookmarks(self) -> None:
        """Make the next run read everything again (a full resync; links keep duplicates away)."""
        with self.session() as s:
            s.execute(delete(t.Bookmark))

    @staticmethod
    def next_number(session: Session, series: str, prefix: str, width: int = 5) -> str:
        row = session.get(t.NumberSeries, series)
        if row is None:
            row = t.NumberSeries(name=series, prefix=prefix, next_value=1, width=width)
            session.add(row)
        number = f"{row.prefix}{row.next_value:0{row.width}d}"
        row.next_value += 1
        return number

    # -- reads for the UI -------------------------------------------------------------------------
    def vendor_rows(self, status: str | None = None, search: str = "") -> list[VendorRow]:
        with self.session() as s:
            query = select(t.VendorLink).order_by(t.VendorLink.nav_number)
            if status:
                query = query.where(t.VendorLink.status == status)
            if search:
                like = f"%{search}%"
                query = query.where(t.VendorLink.name.ilike(like) | t.VendorLink.nav_number.ilike(like)
                                    | t.VendorLink.bill_id.ilike(like))
            conflicts = dict(s.execute(select(t.Conflict.record_key, func.count()).where(
                t.Conflict.state == "open").group_by(t.Conflict.record_key)).all())
            rows = []
            for link in s.scalars(query):
                differences = tuple(
                    FieldDiff(name, link.nav_snapshot.get(name), link.bill_snapshot.get(name))
                    for name in VENDOR_SYNC_FIELDS
                    if link.nav_snapshot and link.bill_snapshot
                    and link.nav_snapshot.get(name) != link.bill_snapshot.get(name)
                )
                rows.append(VendorRow(link.nav_number, link.bill_id, link.name, link.status, link.match_reason,
                                      tuple(link.candidate_ids or ()), link.synced_at,
                                      conflicts.get(link.nav_number, 0), differences))
            return rows

    def conflict_rows(self, state: str | None = "open", record_key: str | None = None) -> list[ConflictRow]:
        with self.session() as s:
            query = select(t.Conflict).order_by(t.Conflict.record_key, t.Conflict.field)
            if state:
                query = query.where(t.Conflict.state == state)
            if record_key:
                query = query.where(t.Conflict.record_key == record_key)
            return [ConflictRow(c.id, c.entity, c.record_key, c.bill_id, c.field, c.nav_value, c.nav_time,
                                c.bill_value, c.bill_time, c.state, c.chosen_side) for c in s.scalars(query)]

    def invoice_rows(self, state: str | None = None) -> list[InvoiceRow]:
        with self.session() as s:
            reasons = dict(s.execute(select(t.QueueItem.record_key, t.QueueItem.reason).where(
                t.QueueItem.kind == "invoice", t.QueueItem.state == "open")).all())
            query = select(t.InvoiceLink).order_by(t.InvoiceLink.nav_number)
            if state:
                query = query.where(t.InvoiceLink.state == state)
            return [InvoiceRow(i.nav_number, i.vendor_number, i.vendor_invoice_number, i.amount, i.bill_id,
                               i.state, reasons.get(i.nav_number, ""), posting_date=i.posting_date,
                               document_date=i.document_date, due_date=i.due_date) for i in s.scalars(query)]

    def payment_rows(self, state: str | None = None) -> list[PaymentRow]:
        with self.session() as s:
            query = select(t.PaymentLink).order_by(t.PaymentLink.payment_id, t.PaymentLink.bill_id)
            if state:
                query = query.where(t.PaymentLink.state == state)
            return [PaymentRow(p.payment_id, p.bill_id, p.vendor_number, p.nav_invoice_number,
                               p.nav_document_number, p.amount, p.state, p.posted_at) for p in s.scalars(query)]

    def queue_items(self, state: str | None = "open", kind: str | None = None) -> list[QueueItemRow]:
        with self.session() as s:
            query = select(t.QueueItem).order_by(t.QueueItem.kind, t.QueueItem.record_key)
            if state:
                query = query.where(t.QueueItem.state == state)
            if kind:
                query = query.where(t.QueueItem.kind == kind)
            return [QueueItemRow(q.id, q.kind, q.record_key, q.reason, q.retry_count, q.last_error, q.state,
                                 q.retryable, q.note, q.created_at, q.updated_at) for q in s.scalars(query)]

    def account_mapping_rows(self) -> list[AccountMappingRow]:
        with self.session() as s:
            gl = {a.number: a.name for a in s.scalars(select(t.NavGLAccountCache))}
            bill = {a.id: a for a in s.scalars(select(t.BillAccountCache))}
            rows = []
            for m in s.scalars(select(t.AccountMapping).order_by(t.AccountMapping.nav_account,
                                                                 t.AccountMapping.dimension_filter_key)):
                target = bill.get(m.bill_account_id)
                rows.append(AccountMappingRow(m.nav_account, gl.get(m.nav_account, ""), dict(m.dimension_filter),
                                              m.bill_account_id, target.name if target else "",
                                              bool(target and target.archived), dict(m.classifications),
                                              m.source, m.reason))
            return rows

    def dimension_mapping_rows(self) -> list[DimensionMappingRow]:
        with self.session() as s:
            values = {(v.dimension_code, v.code): v.name for v in s.scalars(select(t.NavDimensionValueCache))}
            names = {c.id: c.name for c in s.scalars(select(t.BillClassificationCache))}
            return [DimensionMappingRow(m.dimension_code, m.value_code, values.get((m.dimension_code, m.value_code), ""),
                                        m.kind, m.classification_id, names.get(m.classification_id, ""), m.source)
                    for m in s.scalars(select(t.DimensionMapping).order_by(t.DimensionMapping.dimension_code,
                                                                           t.DimensionMapping.value_code))]

    def reference_data(self) -> dict[str, list[dict[str, Any]]]:
        """The cached NAV and BILL lists the mapping screens offer (read by the last accounts sync)."""
        with self.session() as s:
            def rows(model, *columns):
                return [{c: getattr(r, c) for c in columns} for r in s.scalars(select(model))]
            return {
                "gl_accounts": rows(t.NavGLAccountCache, "number", "name", "account_type", "income_balance",
                                    "blocked"),
                "dimensions": rows(t.NavDimensionCache, "code", "name"),
                "dimension_values": rows(t.NavDimensionValueCache, "dimension_code", "code", "name", "blocked"),
                "bill_accounts": rows(t.BillAccountCache, "id", "name", "number", "account_type", "archived"),
                "classifications": rows(t.BillClassificationCache, "id", "kind", "name", "short_name", "archived"),
            }

    def runs(self, limit: int = 50) -> list[RunRow]:
        with self.session() as s:
            query = select(t.Run).order_by(t.Run.id.desc()).limit(limit)
            return [RunRow(r.id, r.started_at, r.finished_at, r.status, r.trigger, tuple(r.flows), dict(r.counts),
                           r.nav_calls, r.bill_calls, r.dry_run, r.message) for r in s.scalars(query)]

    def audit(self, *, run_id: int | None = None, record: str = "", system: str = "", action: str = "",
              since: datetime | None = None, limit: int = 500) -> list[AuditRow]:
        with self.session() as s:
            query = select(t.AuditEntry).order_by(t.AuditEntry.id.desc()).limit(limit)
            if run_id is not None:
                query = query.where(t.AuditEntry.run_id == run_id)
            if record:
                query = query.where(t.AuditEntry.record.ilike(f"%{record}%"))
            if system:
                query = query.where(t.AuditEntry.system == system)
            if action:
                query = query.where(t.AuditEntry.action == action)
            if since is not None:
                query = query.where(t.AuditEntry.at >= since)
            return [AuditRow(a.id, a.run_id, a.at, a.system, a.action, a.record, dict(a.detail))
                    for a in s.scalars(query)]

    def counts(self) -> dict[str, int]:
        """Badge numbers for the window: open queue items, open conflicts, proposals waiting."""
        with self.session() as s:
            def count(model, *where):
                return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()
            return {
                "queue_open": count(t.QueueItem, t.QueueItem.state == "open"),
                "conflicts_open": count(t.Conflict, t.Conflict.state == "open"),
                "proposals": count(t.VendorLink, t.VendorLink.status.in_(("proposed", "ambiguous"))),
                "vendors_linked": count(t.VendorLink, t.VendorLink.status == "linked"),
                "invoices_held": count(t.InvoiceLink, t.InvoiceLink.state == "held"),
            }

    # -- commands from the UI ---------------------------------------------------------------------
    def _audit(self, s: Session, action: str, record: str, **detail: Any) -> None:
        s.add(t.AuditEntry(system="user", action=action, record=record, detail=detail))

    def link_vendor(self, nav_number: str, bill_id: str) -> None:
        """Link by hand (or accept a proposal): the next run compares both sides and fills gaps."""
        with self.session() as s:
            other = s.scalars(select(t.VendorLink).where(t.VendorLink.bill_id == bill_id,
                                                         t.VendorLink.status == "linked",
                                                         t.VendorLink.nav_number != nav_number)).first()
            if other is not None:
                raise StoreError(f"BILL vendor {bill_id} is already linked to NAV vendor {other.nav_number}.")
            link = s.scalars(select(t.VendorLink).where(t.VendorLink.nav_number == nav_number)).first()
            candidate = s.get(t.BillVendorCandidate, bill_id)
            if link is None:
                link = t.VendorLink(nav_number=nav_number, status="linked")
                s.add(link)
            link.bill_id, link.status, link.candidate_ids = bill_id, "linked", []
            link.nav_snapshot, link.bill_snapshot = {}, {}  # empty snapshots: the next run does a first merge
            link.bill_pending = dict(candidate.fields) if candidate else None
            if candidate is not None:
                s.delete(candidate)
            self._audit(s, "link", f"vendor {nav_number}", bill_id=bill_id)

    def accept_proposal(self, nav_number: str, bill_id: str | None = None) -> None:
        with self.session() as s:
            link = s.scalars(select(t.VendorLink).where(t.VendorLink.nav_number == nav_number)).first()
            if link is None or link.status not in ("proposed", "ambiguous"):
                raise StoreError(f"NAV vendor {nav_number} has no proposal waiting.")
            chosen = bill_id or link.bill_id
            if not chosen or (link.candidate_ids and chosen not in link.candidate_ids and chosen != link.bill_id):
                raise StoreError(f"Choose one of the proposed BILL vendors for NAV vendor {nav_number}.")
        self.link_vendor(nav_number, chosen)
        self._close_queue_item("vendor", nav_number, "proposal accepted")

    def reject_proposal(self, nav_number: str) -> None:
        """Not the same vendor: the next run creates a new BILL vendor for it."""
        with self.session() as s:
            link = s.scalars(select(t.VendorLink).where(t.VendorLink.nav_number == nav_number)).first()
            if link is None or link.status not in ("proposed", "ambiguous"):
                raise StoreError(f"NAV vendor {nav_number} has no proposal waiting.")
            for bill_id in {link.bill_id, *(link.candidate_ids or [])} - {""}:
                candidate = s.get(t.BillVendorCandidate, bill_id)
                if candidate is not None and candidate.claimed_by == nav_number:
                    candidate.claimed_by = "rejected:" + nav_number
            link.status, link.bill_id, link.candidate_ids = "rejected", "", []
            self._audit(s, "reject_proposal", f"vendor {nav_number}")
        self._close_queue_item("vendor", nav_number, "proposal rejected")

    def unlink_vendor(self, nav_number: str) -> None:
        with self.session() as s:
            link = s.scalars(select(t.VendorLink).where(t.VendorLink.nav_number == nav_number)).first()
            if link is None:
                raise StoreError(f"NAV vendor {nav_number} is not linked.")
            s.execute(delete(t.Conflict).where(t.Conflict.record_key == nav_number, t.Conflict.state == "open"))
            self._audit(s, "unlink", f"vendor {nav_number}", bill_id=link.bill_id)
            s.delete(link)

    def resolve_conflict(self, conflict_id: int, side: str) -> None:
        """Pick the value of one side ("nav" or "bill"); the next run writes it to the other side."""
        if side not in ("nav", "bill"):
            raise ValueError("side must be 'nav' or 'bill'")
        with self.session() as s:
            conflict = s.get(t.Conflict, conflict_id)
            if conflict is None or conflict.state != "open":
                raise StoreError(f"Conflict {conflict_id} is not open.")
            conflict.state, conflict.chosen_side, conflict.resolved_at = "chosen", side, datetime.now(UTC)
            self._audit(s, "resolve_conflict", f"vendor {conflict.record_key}", field=conflict.field, side=side)

    def retry_item(self, item_id: int) -> None:
        """Try this held or failed item again on the next run."""
        with self.session() as s:
            item = s.get(t.QueueItem, item_id)
            if item is None:
                raise StoreError(f"Queue item {item_id} does not exist.")
            item.state, item.retryable = "open", True
            item.detail = {**item.detail, "retry_requested": True}
            self._audit(s, "retry", f"{item.kind} {item.record_key}")

    def skip_item(self, item_id: int, note: str) -> None:
        """Leave this item alone for good (it stays visible with the note)."""
        with self.session() as s:
            item = s.get(t.QueueItem, item_id)
            if item is None:
                raise StoreError(f"Queue item {item_id} does not exist.")
            item.state, item.note = "skipped", note
            self._audit(s, "skip", f"{item.kind} {item.record_key}", note=note)

    def set_account_mapping(self, nav_account: str, bill_account_id: str, *,
                            classifications: dict[str, str] | None = None,
                            dimension_filter: dict[str, str] | None = None, source: str = "user",
                            reason: str = "") -> None:
        with self.session() as s:
            target = s.get(t.BillAccountCache, bill_account_id)
            if target is not None and target.archived:
                raise StoreError(f"BILL account {target.name} is archived; choose an active account.")
            key = filter_key(dimension_filter)
            row = s.scalars(select(t.AccountMapping).where(t.AccountMapping.nav_account == nav_account,
                                                           t.AccountMapping.dimension_filter_key == key)).first()
            if row is None:
                row = t.AccountMapping(nav_account=nav_account, dimension_filter=dict(dimension_filter or {}),
                                       dimension_filter_key=key, bill_account_id=bill_account_id)
                s.add(row)
            elif source == "suggested" and row.source == "user":
                return  # a user's choice is never overwritten by a suggestion
            row.bill_account_id, row.classifications = bill_account_id, dict(classifications or {})
            row.source, row.reason = source, reason
            if source == "user":
                self._audit(s, "set_mapping", f"G/L {nav_account}", bill_account_id=bill_account_id,
                            dimension_filter=key)

    def remove_account_mapping(self, nav_account: str, dimension_filter: dict[str, str] | None = None) -> None:
        with self.session() as s:
            s.execute(delete(t.AccountMapping).where(t.AccountMapping.nav_account == nav_account,
                                                     t.AccountMapping.dimension_filter_key == filter_key(
                                                         dimension_filter)))
            self._audit(s, "remove_mapping", f"G/L {nav_account}")

    def set_dimension_mapping(self, dimension_code: str, value_code: str, kind: str, classification_id: str, *,
                              source: str = "user", reason: str = "") -> None:
        with self.session() as s:
            row = s.get(t.DimensionMapping, (dimension_code, value_code))
            if row is not None and source == "suggested" and row.source == "user":
                return
            s.merge(t.DimensionMapping(dimension_code=dimension_code, value_code=value_code, kind=kind,
                                       classification_id=classification_id, source=source, reason=reason))
            if source == "user":
                self._audit(s, "set_dimension_mapping", f"{dimension_code} {value_code}",
                            classification_id=classification_id)

    def remove_dimension_mapping(self, dimension_code: str, value_code: str) -> None:
        with self.session() as s:
            s.execute(delete(t.DimensionMapping).where(t.DimensionMapping.dimension_code == dimension_code,
                                                       t.DimensionMapping.value_code == value_code))

    def _close_queue_item(self, kind: str, record_key: str, note: str) -> None:
        with self.session() as s:
            item = s.scalars(select(t.QueueItem).where(t.QueueItem.kind == kind,
                                                       t.QueueItem.record_key == record_key)).first()
            if item is not None and item.state == "open":
                item.state, item.note = "resolved", note


def open_store(url: str | None = None, home: str | os.PathLike | None = None) -> Store:
    """The app's store: ``url`` if given, else the SQLite file in the user data folder."""
    if url is None:
        from app.setup.config import app_paths

        url = app_paths(home).ensure().store_url
    return Store(url)
