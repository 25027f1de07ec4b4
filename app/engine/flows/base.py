"""What a flow may use of the run it is part of: one place, so a flow reads as its own steps."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from app.engine.context import RunContext
    from app.engine.lane import WriteLane


class Flow:
    """A flow's view of the run (``RunContext``): the store, the NAV and BILL clients through the side-call
    wrappers (an authentication or configuration failure stops that side), the write lane, the hold and guard
    helpers, the settings and the run's report. A flow object lives for one run."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    # -- what the run has ---------------------------------------------------------------------------
    @property
    def store(self):
        return self.ctx.store

    @property
    def nav(self):
        return self.ctx.nav

    @property
    def bill(self):
        return self.ctx.bill

    @property
    def settings(self):
        return self.ctx.settings

    @property
    def outbox(self):
        return self.ctx.outbox

    @property
    def report(self):
        return self.ctx.report

    @property
    def lane(self) -> WriteLane:
        return self.ctx._lane

    def clock(self):
        return self.ctx.clock()

    @property
    def vendors_new_this_run(self) -> set[str]:
        """BILL vendors this run created (the vendors flow adds them): no bill of theirs can exist yet."""
        return self.ctx._vendors_new_this_run

    @property
    def run_started_at(self):
        """When this run started (UTC): the look for bills already in BILL covers those created before it."""
        return self.ctx._run_started_at

    # -- reading: the side calls ----------------------------------------------------------------------
    def _nav_call(self, fn: Callable, *args, **kwargs):
        return self.ctx._nav_call(fn, *args, **kwargs)

    def _bill_call(self, fn: Callable, *args, **kwargs):
        return self.ctx._bill_call(fn, *args, **kwargs)

    def _stream(self, side: str, iterator_factory: Callable[[], Iterator], *, may_be_missing: bool = False) -> Iterator:
        return self.ctx._stream(side, iterator_factory, may_be_missing=may_be_missing)

    # -- the run's bookkeeping ------------------------------------------------------------------------
    def _check_cancel(self) -> None:
        self.ctx._check_cancel()

    def _progress(self, flow: str, done: int, message: str) -> None:
        self.ctx._progress(flow, done, message)

    def _audit(self, s: Session, system: str, action: str, record: str, **detail: Any) -> None:
        self.ctx._audit(s, system, action, record, **detail)

    def _hold(self, kind: str, key: str, reason: str, **options: Any) -> None:
        self.ctx._hold(kind, key, reason, **options)

    def _guard(self, flow: str, kind: str, key: str, label: str, work: Callable[[], None],
               detail: dict | None = None) -> None:
        self.ctx._guard(flow, kind, key, label, work, detail)

    def _resolve_item(self, s: Session, kind: str, key: str) -> None:
        self.ctx._resolve_item(s, kind, key)

    def _resolve_items(self, s: Session, kind: str, keys: list[str]) -> None:
        self.ctx._resolve_items(s, kind, keys)

    def _retry_keys(self, kind: str) -> list[str]:
        return self.ctx._retry_keys(kind)
