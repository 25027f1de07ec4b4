"""Exactly-once writes: every write to NAV or BILL is an outbox row committed before it is sent.

    pending   -> recorded, not sent (safe to send)
    in_flight -> sent, outcome not recorded: look in the target system before sending again
    done      -> the write happened; ``result`` holds what the caller needs (the new id, number)
    failed    -> the system refused it (a RecordError): nothing happened, it may be sent again later

The caller records "done" in the same transaction as the link it writes (``finish``), so a crash
between the two leaves ``in_flight`` and the next attempt looks before it writes.

Batched use (the initial sync's many creates): ``prepare`` records a group of rows and marks them
``in_flight`` in ONE committed transaction before any of them is sent (``in_flight`` then reads "may
have been sent": the worst a crash costs is a look for a row that never went out); ``deliver`` sends
one of them (looking first if an earlier attempt may have landed), with no store work, so several can
go at once; ``finish_many`` records "done" for a group in the transaction that writes their links;
``release`` puts rows that were prepared but never sent (a cancel) back as they were.

Bulk calls (``create_bill_vendors``, ``create_bills``): ONE row covers a whole call; its payload holds the
records and ``sent_after`` (when it was prepared). ``done`` rows' results list, per record, the id BILL gave it
or why it was refused (a refused record then gets a ``failed`` single-create row of its own, so the next run
sends it again alone). A bulk row left ``in_flight`` is not looked up record by record:
``app.engine.recovery`` finds all such rows' records with one or a few list calls (BILL's ``createdTime:gte`` and
``vendorId:in`` filters, from the oldest ``sent_after`` minus a clock margin), links those BILL has and sends
only the others, in new rows; a ``pending`` row (never sent, e.g. stopped by the hourly budget) needs no look.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.errors import RecordError
from app.engine.crash import crash_point
from app.store import repository as q
from app.store import schema as t

T = TypeVar("T")


@dataclass(frozen=True)
class Prepared:
    """A row ``prepare`` marked in flight: its state before (``""`` if new) and its stored payload."""

    key: str
    state_before: str
    payload: dict[str, Any]

    @property
    def look_first(self) -> bool:
        return self.state_before == "in_flight"


class Outbox:
    def __init__(self, store, run_id: int | None = None) -> None:
        self.store = store
        self.run_id = run_id

    def entry(self, key: str) -> t.OutboxEntry | None:
        with self.store.session() as s:
            return s.scalars(select(t.OutboxEntry).where(t.OutboxEntry.key == key)).first()

    def record(self, key: str, system: str, action: str, record: str, payload: dict[str, Any]) -> t.OutboxEntry:
        """Create the row (or return the existing one, whose payload wins: e.g. a number already chosen)."""
        with self.store.session() as s:
            row = s.scalars(select(t.OutboxEntry).where(t.OutboxEntry.key == key)).first()
            if row is None:
                row = t.OutboxEntry(key=key, system=system, action=action, record=record, payload=payload,
                                    run_id=self.run_id)
                s.add(row)
            return row

    def send(self, key: str, send: Callable[[], T], look: Callable[[], T | None] | None) -> T:
        """Send the write for the recorded row ``key``, looking first if an earlier send may have landed."""
        row = self.entry(key)
        assert row is not None, f"outbox row {key} must be recorded before sending"
        if row.state == "in_flight" and look is not None:
            found = look()
            if found is not None:
                return found
        crash_point("before_send")
        with self.store.session() as s:
            current = s.get(t.OutboxEntry, row.id)
            current.state, current.attempts = "in_flight", current.attempts + 1
        try:
            result = send()
        except RecordError as exc:
            # Refused: it did not happen. Record why; a later attempt may send it again.
            with self.store.session() as s:
                current = s.get(t.OutboxEntry, row.id)
                current.state, current.last_error = "failed", str(exc)[:2000]
            raise
        except Exception as exc:
            # Unknown outcome (or retries exhausted): stays in_flight so the next attempt looks first.
            with self.store.session() as s:
                s.get(t.OutboxEntry, row.id).last_error = str(exc)[:2000]
            raise
        crash_point("after_send")
        return result

    # -- batched protocol ---------------------------------------------------------------------------
    def prepare(self, entries: list[tuple[str, str, str, str, dict[str, Any]]]) -> dict[str, Prepared]:
        """Record ``(key, system, action, record, payload)`` rows and mark them ``in_flight``, committed
        in one transaction BEFORE any is sent. An existing row keeps its payload (e.g. a number already
        chosen). Answers, per key, whether an earlier attempt may have landed (look first) and the row."""
        if not entries:
            return {}
        keys = [entry[0] for entry in entries]
        prepared: dict[str, Prepared] = {}
        with self.store.session() as s:
            known = q.outbox_keys_among(s, keys)  # usually none: a first attempt loads and builds no objects
            existing = {row.key: row for row in s.scalars(select(t.OutboxEntry).where(
                t.OutboxEntry.key.in_(sorted(known))))} if known else {}
            fresh = []
            for key, system, action, record, payload in entries:
                if key in prepared:
                    continue
                row = existing.get(key)
                if row is None:
                    fresh.append({"key": key, "system": system, "action": action, "record": record,
                                  "payload": payload, "run_id": self.run_id, "state": "in_flight", "attempts": 1})
                    prepared[key] = Prepared(key, "", dict(payload))
                else:
                    prepared[key] = Prepared(key, row.state, dict(row.payload or {}))
                    row.state, row.attempts = "in_flight", (row.attempts or 0) + 1
            q.add_rows(s, t.OutboxEntry, fresh)
        return prepared

    def prepare_new(self, key: str, system: str, action: str, record: str, payload: dict[str, Any]) -> Prepared:
        """``prepare`` for a key no row can have yet (a bulk call's, numbered by this run): one INSERT, no look
        for an earlier row. Should one exist all the same, the key's unique index refuses the INSERT and nothing
        is sent."""
        with self.store.session() as s:
            q.add_rows(s, t.OutboxEntry, [{"key": key, "system": system, "action": action, "record": record,
                                           "payload": payload, "run_id": self.run_id, "state": "in_flight",
                                           "attempts": 1}])
        return Prepared(key, "", dict(payload))

    @staticmethod
    def deliver(prepared: Prepared, send: Callable[[], T], look: Callable[[], T | None] | None) -> T:
        """Send one prepared write (no store work: safe on a worker thread). Looks first when an earlier
        attempt may have landed. Errors go to the caller, who records them with ``failed``."""
        if prepared.look_first and look is not None:
            found = look()
            if found is not None:
                return found
        crash_point("before_send")
        result = send()
        crash_point("after_send")
        return result

    def failed(self, key: str, error: Exception) -> None:
        """A prepared write raised: refused (RecordError: nothing happened, ``failed``) or an unknown
        outcome (stays ``in_flight``, so the next attempt looks first)."""
        with self.store.session() as s:
            row = s.scalars(select(t.OutboxEntry).where(t.OutboxEntry.key == key)).first()
            if row is None:
                return
            if isinstance(error, RecordError):
                row.state = "failed"
            row.last_error = str(error)[:2000]

    def release(self, prepared: list[Prepared]) -> None:
        """Rows prepared but never sent (cancelled before their turn) go back to the state they had."""
        if not prepared:
            return
        with self.store.session() as s:
            by_key = {p.key: p for p in prepared}
            for row in s.scalars(select(t.OutboxEntry).where(t.OutboxEntry.key.in_(list(by_key)))):
                before = by_key[row.key].state_before
                row.state = before or "pending"
                row.attempts = max((row.attempts or 1) - 1, 0)

    @staticmethod
    def finish_many(session: Session, results: dict[str, dict[str, Any]]) -> None:
        """``finish`` for a group of keys, in the caller's transaction (with the links it writes)."""
        if not results:
            return
        # Rows this session holds as objects (a refused record's own row, a recovery's) are set on the object;
        # the others (every bulk call's row) by one executemany UPDATE, without loading their payloads.
        held = {obj.key: obj for obj in (*session.identity_map.values(), *session.new)
                if isinstance(obj, t.OutboxEntry) and obj.key in results}
        rest = {key: result for key, result in results.items() if key not in held}
        for key, row in held.items():
            row.state, row.result, row.last_error = "done", results[key], ""
        if rest:
            q.finish_outbox_rows(session, rest)

    @staticmethod
    def finish(session: Session, key: str, result: dict[str, Any]) -> None:
        row = session.scalars(select(t.OutboxEntry).where(t.OutboxEntry.key == key)).first()
        if row is not None:
            row.state, row.result, row.last_error = "done", result, ""

    def unfinished(self, action: str) -> list[t.OutboxEntry]:
        with self.store.session() as s:
            return list(s.scalars(select(t.OutboxEntry).where(
                t.OutboxEntry.action == action, t.OutboxEntry.state.in_(("pending", "in_flight", "failed")))
                .order_by(t.OutboxEntry.id)))
