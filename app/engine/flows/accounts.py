"""Flow 4, accounts: NAV G/L accounts and dimensions, BILL's chart of accounts and classifications.

Read: the four lists, whole (they are short). Decide: ``app.domain.mapping`` suggests account and dimension
mappings for what nobody mapped yet. Write: only the store (the caches the invoices flow and the window use);
nothing goes to NAV or BILL.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import delete

from app.domain.errors import RecordError
from app.domain.mapping import suggest_account_mappings, suggest_dimension_mappings
from app.domain.models import ClassificationKind
from app.engine.common import iso, parse_time
from app.engine.flows.base import Flow
from app.store import repository as q
from app.store import schema as t

log = logging.getLogger("navbill.engine")

# Reference lists (accounts, dimensions, classifications) are read in full at most this often unless NAV's
# change filter shows a change or the run names the accounts flow.
REFERENCE_MAX_AGE = timedelta(hours=1)
REFERENCE_READ_AT = "reference.read_at"  # bookmark: when the reference lists were last read in full
NAV_REFERENCE_MARK = "nav.reference."  # bookmarks: + list name -> NAV's newest modification time at that read


class AccountsFlow(Flow):
    """Refresh the account caches and suggest mappings (one transaction)."""

    def _reference_marks(self) -> dict[str, str] | None:
        """None when the reference caches are current: read in full less than an hour ago and NAV's change
        filter (Business Central: ``lastModifiedDateTime`` on accounts, dimensions, dimension values) shows
        nothing newer. Otherwise NAV's newest times, to keep with the full read that follows. BILL's lists and
        NAV 2016-2018's pages have no change filter the connector relies on: read at most hourly."""
        with self.store.session() as s:
            marks = q.bookmarks_starting(s, NAV_REFERENCE_MARK)
        read_at = parse_time(self.store.get_bookmark(REFERENCE_READ_AT))
        # As a list read: a NAV that answers 404 here (a wrong address) stops the NAV side with that reason.
        changed = dict(self._stream("NAV", lambda: self.nav.iter_reference_stamps(marks)))
        due = self.ctx.read_reference_in_full or read_at is None or self.clock() - read_at >= REFERENCE_MAX_AGE
        if not due and not any(changed.values()):
            return None
        return {name: stamp for name, stamp in changed.items() if stamp}

    def run(self) -> None:
        counts = self.report.counts("accounts")
        started = self.clock()
        nav_marks = self._reference_marks()
        if nav_marks is None:
            self._progress("accounts", 0, "accounts and classifications unchanged since the last read")
            return
        gl_accounts = list(self._stream("NAV", self.nav.iter_gl_accounts))
        dimensions = list(self._stream("NAV", self.nav.iter_dimensions))
        values = list(self._stream("NAV", self.nav.iter_dimension_values))
        bill_accounts = list(self._stream("BILL", self.bill.iter_chart_of_accounts))
        classifications = []
        for kind in ClassificationKind:
            try:
                classifications.extend(self._stream("BILL", lambda kind=kind: self.bill.iter_classifications(kind),
                                                    may_be_missing=True))
            except RecordError as exc:  # an organization without jobs, say: the other kinds still count
                log.info("BILL %s not available: %s", kind, exc)
        self._check_cancel()
        with self.store.session() as s:
            for model in (t.NavGLAccountCache, t.NavDimensionCache, t.NavDimensionValueCache, t.BillAccountCache,
                          t.BillClassificationCache):
                s.execute(delete(model))
            s.add_all(t.NavGLAccountCache(number=a.number, name=a.name, account_type=a.account_type,
                                          income_balance=a.income_balance, blocked=a.blocked) for a in gl_accounts)
            s.add_all(t.NavDimensionCache(code=d.code, name=d.name) for d in dimensions)
            s.add_all(t.NavDimensionValueCache(dimension_code=v.dimension_code, code=v.code, name=v.name,
                                               blocked=v.blocked) for v in values)
            s.add_all(t.BillAccountCache(id=a.id, name=a.name, number=a.number, account_type=a.account_type,
                                         archived=a.archived) for a in bill_accounts)
            s.add_all(t.BillClassificationCache(id=c.id, kind=str(c.kind), name=c.name, short_name=c.short_name,
                                                archived=c.archived) for c in classifications)
            archived = {a.id for a in bill_accounts if a.archived}
            # A suggestion that now points at an archived account is withdrawn (a user's choice stays, and
            # the invoices that need it are held with the reason).
            for mapping in q.suggested_account_mappings(s):
                if mapping.bill_account_id in archived:
                    s.delete(mapping)
            s.flush()
            mapped = q.mapped_nav_accounts(s)
            for suggestion in suggest_account_mappings(gl_accounts, bill_accounts, mapped):
                s.add(t.AccountMapping(nav_account=suggestion.nav_account, dimension_filter={},
                                       dimension_filter_key="", bill_account_id=suggestion.bill_account_id,
                                       source="suggested", reason=suggestion.reason))
                counts.created += 1
            mapped_values = q.mapped_dimension_values(s)
            for suggestion in suggest_dimension_mappings(values, classifications, mapped_values):
                s.add(t.DimensionMapping(dimension_code=suggestion.dimension_code, value_code=suggestion.value_code,
                                         kind=suggestion.kind, classification_id=suggestion.classification_id,
                                         source="suggested", reason=suggestion.reason))
                counts.created += 1
            counts.updated += len(gl_accounts) + len(bill_accounts)
            for name, stamp in nav_marks.items():
                self.store.set_bookmark(s, NAV_REFERENCE_MARK + name, stamp)
            self.store.set_bookmark(s, REFERENCE_READ_AT, iso(started))
        self._progress("accounts", len(gl_accounts) + len(bill_accounts), "accounts read")
