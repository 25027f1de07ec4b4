"""Exactly-once writes: every write to NAV or BILL is an outbox row committed before it is sent.

    pending   -> recorded, not sent (safe to send)
    in_flight -> sent, outcome not recorded: look in the target system before sending again
    done      -> the write happened; ``result`` holds what the caller needs (the new id, number)
    failed    -> the system refused it (a RecordError): nothing happened, it may be sent again later

The caller records "done" in the same transaction as the link it writes (``finish``), so a crash
between the two leaves ``in_flight`` and the next attempt looks before it writes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.errors import RecordError
from app.engine.crash import crash_point
from app.store import schema as t

T = TypeVar("T")


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
