"""What push upkeep remembers between runs: subscriptions, webhook event ids already seen, a few values.

Kept in SQLite through SQLAlchemy on this module's own ``MetaData`` (tables prefixed ``push_``), so it
can share the app's database file without depending on the main store's schema. Every write is one
short transaction; the listener's threads, the scheduler's threads and the UI may call in at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

metadata = MetaData()

subscriptions_table = Table(
    "push_subscriptions",
    metadata,
    Column("side", String(8), primary_key=True),  # "nav" or "bill"
    Column("resource", String(200), primary_key=True),  # "vendors", "purchaseInvoices", "events"
    Column("subscription_id", String(200), nullable=False, default=""),
    Column("notification_url", Text, nullable=False, default=""),
    Column("expires_at", DateTime(timezone=True)),
    Column("etag", Text, nullable=False, default=""),
    Column("updated_at", DateTime(timezone=True)),
)

seen_events_table = Table(
    "push_seen_events",
    metadata,
    Column("event_id", String(200), primary_key=True),
    Column("source", String(8), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

values_table = Table(
    "push_values",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)

@dataclass(frozen=True)
class StoredSubscription:
    side: str
    resource: str
    subscription_id: str
    notification_url: str = ""
    expires_at: datetime | None = None
    etag: str = ""


def _utc(value: datetime | None) -> datetime | None:
    """SQLite drops the zone; everything stored here is UTC, so put it back."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class PushState:
    """Durable push bookkeeping. ``PushState.in_memory()`` for tests and dry runs."""

    def __init__(self, engine_or_url: Engine | str) -> None:
        if isinstance(engine_or_url, str):
            connect_args = {"check_same_thread": False} if engine_or_url.startswith("sqlite") else {}
            engine_or_url = create_engine(engine_or_url, connect_args=connect_args)
        self.engine = engine_or_url
        self._lock = threading.Lock()  # SQLite allows one writer; queue ours instead of retrying
        metadata.create_all(self.engine)

    @classmethod
    def in_memory(cls) -> PushState:
        from sqlalchemy.pool import StaticPool

        engine = create_engine("sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool)
        return cls(engine)

    # -- subscriptions ------------------------------------------------------------------------
    def subscription(self, side: str, resource: str) -> StoredSubscription | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(subscriptions_table).where(
                    subscriptions_table.c.side == side, subscriptions_table.c.resource == resource
                )
            ).mappings().first()
        if row is None:
            return None
        return StoredSubscription(side=row["side"], resource=row["resource"],
                                  subscription_id=row["subscription_id"],
                                  notification_url=row["notification_url"],
                                  expires_at=_utc(row["expires_at"]), etag=row["etag"])

    def save_subscription(self, sub: StoredSubscription) -> None:
        values = dict(subscription_id=sub.subscription_id, notification_url=sub.notification_url,
                      expires_at=sub.expires_at, etag=sub.etag, updated_at=datetime.now(UTC))
        with self._lock, self.engine.begin() as conn:
            changed = conn.execute(
                update(subscriptions_table)
                .where(subscriptions_table.c.side == sub.side, subscriptions_table.c.resource == sub.resource)
                .values(**values)
            ).rowcount
            if not changed:
                conn.execute(insert(subscriptions_table).values(side=sub.side, resource=sub.resource, **values))

    def forget_subscription(self, side: str, resource: str) -> None:
        with self._lock, self.engine.begin() as conn:
            conn.execute(delete(subscriptions_table).where(
                subscriptions_table.c.side == side, subscriptions_table.c.resource == resource))

    # -- webhook event ids --------------------------------------------------------------------
    def first_sighting(self, event_id: str, source: str, at: datetime | None = None) -> bool:
        """Record ``event_id``; True the first time it is seen, False for every repeat (atomic)."""
        try:
            with self._lock, self.engine.begin() as conn:
                conn.execute(insert(seen_events_table).values(
                    event_id=event_id, source=source, received_at=at or datetime.now(UTC)))
        except IntegrityError:
            return False
        return True

    def forget_events_before(self, cutoff: datetime) -> int:
        """Drop old event ids. BILL keeps 180 days of history it may resend, so keep a little longer."""
        with self._lock, self.engine.begin() as conn:
            return conn.execute(delete(seen_events_table).where(seen_events_table.c.received_at < cutoff)).rowcount

    def prune_events(self, now: datetime, keep: timedelta = timedelta(days=200)) -> int:
        return self.forget_events_before(now - keep)

    # -- small named values -------------------------------------------------------------------
    def value(self, name: str, default: str = "") -> str:
        with self.engine.connect() as conn:
            found = conn.execute(select(values_table.c.value).where(values_table.c.name == name)).scalar()
        return default if found is None else found

    def set_value(self, name: str, value: str) -> None:
        with self._lock, self.engine.begin() as conn:
            changed = conn.execute(update(values_table).where(values_table.c.name == name).values(value=value)).rowcount
            if not changed:
                conn.execute(insert(values_table).values(name=name, value=value))
