"""Linked vendors, three-way per field: what changed on one side goes to the other; a field changed on
both is a conflict (decided by the setting, or held for a person); a person's choice is applied.

Read: the links whose NAV or BILL side changed (noted by the vendors flow). Decide: ``app.domain.conflicts``
(three-way merge). Write: the outbox (an update sets values, so sending it twice is harmless).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, TypeVar

from app.domain.conflicts import FieldConflict, clears_1099_tracking, three_way
from app.domain.errors import RecordError
from app.domain.models import VENDOR_SYNC_FIELDS, VendorFields
from app.engine.common import BATCH
from app.engine.flows.base import Flow
from app.store import repository as q
from app.store import schema as t

log = logging.getLogger("navbill.engine")

if TYPE_CHECKING:
    from app.engine.context import RunContext

V = TypeVar("V")  # a NavVendor or a BillVendor


class VendorLinks(Flow):
    """Reconcile linked vendors and apply the conflict choices people made."""

    def __init__(self, ctx: RunContext) -> None:
        super().__init__(ctx)
        self._quiet_links: list[tuple[int, str, dict, dict, str]] | None = None  # see _store_quiet_links
        # NAV vendor numbers of the batch being reconciled that have an undecided conflict (None: not known,
        # ask per link): a first sync's thousand matched vendors have none, and cost no transaction each.
        self._with_conflicts: set[str] | None = None

    def reconcile_links(self, only_nav_number: str | None = None, only_bill_id: str | None = None) -> None:
        last_id = 0
        while True:
            self._check_cancel()
            with self.store.session() as s:
                links = q.links_to_reconcile(s, last_id, BATCH, only_nav_number, only_bill_id)
                conflicted = q.with_undecided_conflicts(s, [link.nav_number for link in links]) if links else set()
            if not links:
                return
            self._with_conflicts = conflicted
            self._quiet_links = []
            try:
                for link in links:
                    last_id = link.id
                    self._guard("vendors", "vendor", link.nav_number, f"NAV vendor {link.nav_number}",
                                lambda link=link: self._reconcile_link(link.id, link))
            finally:
                quiet, self._quiet_links, self._with_conflicts = self._quiet_links, None, None
                self._store_quiet_links(quiet)

    def _store_quiet_links(self, quiet: list[tuple[int, str, dict, dict, str]]) -> None:
        """Links whose reconcile wrote nothing to either side: their new snapshots, in one transaction
        (store-only work: a crash before it only means the comparison is made again)."""
        if not quiet:
            return
        by_id = {entry[0]: entry for entry in quiet}
        with self.store.session() as s:
            for link in q.vendor_links_by_id(s, by_id):
                _, _, nav_snapshot, bill_snapshot, etag = by_id[link.id]
                link.nav_snapshot, link.bill_snapshot = nav_snapshot, bill_snapshot
                link.nav_pending = link.bill_pending = None
                link.nav_etag, link.synced_at = etag, self.clock()
                link.name = nav_snapshot.get("name") or link.name
            self._resolve_items(s, "vendor", [entry[1] for entry in quiet])

    def _reconcile_link(self, link_id: int, link: t.VendorLink | None = None) -> None:
        if link is None:
            with self.store.session() as s:
                link = s.get(t.VendorLink, link_id)
        counts = self.report.counts("vendors")
        first_merge = not link.nav_snapshot or not link.bill_snapshot
        nav_fresh, bill_fresh = link.nav_pending is not None, link.bill_pending is not None
        nav_now = link.nav_pending
        etag = link.nav_etag
        if nav_now is None and first_merge:
            vendor = _read_now(self._nav_call(self.nav.get_vendor, link.nav_number), "NAV", link.nav_number)
            nav_now, etag = vendor.fields.as_dict(), vendor.etag
        bill_now = link.bill_pending
        if bill_now is None and first_merge:
            bill_now = _read_now(self._bill_call(self.bill.get_vendor, link.bill_id), "BILL",
                                 link.bill_id).fields.as_dict()
        nav_now = nav_now if nav_now is not None else link.nav_snapshot
        bill_now = bill_now if bill_now is not None else link.bill_snapshot

        if first_merge:
            # Linked just now: NAV is the vendor master, except where NAV has nothing and BILL has something.
            to_bill = {f: nav_now.get(f) for f in VENDOR_SYNC_FIELDS
                       if nav_now.get(f) != bill_now.get(f) and nav_now.get(f) not in ("", None)}
            to_nav = {f: bill_now.get(f) for f in VENDOR_SYNC_FIELDS
                      if nav_now.get(f) in ("", None) and bill_now.get(f) not in ("", None)}
            conflicts: tuple = ()
        else:
            result = three_way(link.nav_snapshot, nav_now, link.bill_snapshot, bill_now)
            to_bill, to_nav, conflicts = dict(result.to_bill), dict(result.to_nav), result.conflicts
        # Never written on NAV's word alone: BILL's 1099 tracking (app.domain.conflicts.clears_1099_tracking).
        asks_a_person = [FieldConflict(name, to_bill.pop(name), bill_now.get(name)) for name in list(to_bill)
                         if clears_1099_tracking(name, to_bill[name], bill_now.get(name))]
        # A field already in conflict waits for the person deciding it: nothing is written for it, whichever side
        # changed since (a webhook sync reads one side only, and the other side's snapshot is the old value).
        # Its conflict row follows the newest value read on each side, so the choice applies what is there now.
        undecided = set()
        if self._with_conflicts is None or link.nav_number in self._with_conflicts:
            with self.store.session() as s:
                for row in q.undecided_conflicts(s, link.nav_number):
                    undecided.add(row.field)
                    if nav_fresh and row.state == "open":
                        row.nav_value, row.nav_time = nav_now.get(row.field), link.nav_modified
                    if bill_fresh and row.state == "open":
                        row.bill_value, row.bill_time = bill_now.get(row.field), link.bill_updated
        for name in undecided:
            to_bill.pop(name, None)
            to_nav.pop(name, None)
        conflicts = tuple(c for c in conflicts if c.field not in undecided)
        policy = self.settings.master_on_conflict
        open_conflicts = [c for c in asks_a_person if c.field not in undecided]
        for conflict in conflicts:
            if clears_1099_tracking(conflict.field, conflict.nav_value, conflict.bill_value):
                open_conflicts.append(conflict)  # as above: never cleared in BILL by a policy
            elif policy == "nav":
                to_bill[conflict.field] = conflict.nav_value
            elif policy == "bill":
                to_nav[conflict.field] = conflict.bill_value
            else:
                open_conflicts.append(conflict)

        new_bill_snapshot = dict(bill_now)
        new_nav_snapshot = dict(nav_now)
        if to_bill:
            merged = VendorFields.from_dict({**bill_now, **to_bill})
            updated = self._write_bill_vendor(link.bill_id, link.nav_number, merged, to_bill, bill_now)
            new_bill_snapshot = updated.fields.as_dict() if updated is not None else merged.as_dict()
        if to_nav:
            merged = VendorFields.from_dict({**nav_now, **to_nav})
            updated = self._write_nav_vendor(link.nav_number, merged, etag, to_nav)
            new_nav_snapshot = updated.fields.as_dict()
            etag = updated.etag
        # A field in conflict keeps its old snapshot on both sides, so it stays "changed on both" until
        # the user (or the policy) decides; the conflict row carries both values and times.
        for name in [conflict.field for conflict in open_conflicts] + sorted(undecided):
            new_nav_snapshot[name] = (link.nav_snapshot or {}).get(name)
            new_bill_snapshot[name] = (link.bill_snapshot or {}).get(name)
        if not (to_bill or to_nav or open_conflicts) and self._quiet_links is not None:
            self._quiet_links.append((link_id, link.nav_number, new_nav_snapshot, new_bill_snapshot, etag))
            return
        with self.store.session() as s:
            link = s.get(t.VendorLink, link_id)
            link.nav_snapshot, link.bill_snapshot = new_nav_snapshot, new_bill_snapshot
            link.nav_pending = link.bill_pending = None
            link.nav_etag, link.synced_at, link.name = etag, self.clock(), new_nav_snapshot.get("name") or link.name
            for conflict in open_conflicts:
                row = q.open_conflict(s, link.nav_number, conflict.field)
                if row is None:
                    row = t.Conflict(entity="vendor", record_key=link.nav_number, bill_id=link.bill_id,
                                     field=conflict.field)
                    s.add(row)
                row.nav_value, row.bill_value = conflict.nav_value, conflict.bill_value
                row.nav_time, row.bill_time = link.nav_modified, link.bill_updated
                self._audit(s, "engine", "conflict", f"vendor {link.nav_number}", field=conflict.field)
            self._resolve_item(s, "vendor", link.nav_number)
        counts.conflicts += len(open_conflicts)
        if to_bill or to_nav:
            counts.updated += 1

    def _write_bill_vendor(self, bill_id: str, nav_number: str, merged: VendorFields, changes: dict,
                           before: dict):
        key = f"bill.vendor.update:{bill_id}:{hash(tuple(sorted(merged.as_dict().items()))) & 0xFFFFFFFF:x}"
        self.outbox.record(key, "BILL", "update_bill_vendor", f"vendor {nav_number}", {"changes": changes})
        # An update sets values (the client archives or restores when ``inactive`` changes): sending it
        # twice is harmless, so no look is needed.
        result = self.outbox.send(key, lambda: self._bill_call(self.bill.update_vendor, bill_id, merged), None)
        with self.store.session() as s:
            self.outbox.finish(s, key, {"bill_id": bill_id})
            self._audit(s, "BILL", "update_vendor", f"vendor {nav_number}", bill_id=bill_id,
                        before={k: before.get(k) for k in changes}, after=changes)
        return result

    def _write_nav_vendor(self, number: str, merged: VendorFields, etag: str, changes: dict):
        if not etag:
            current = self._nav_call(self.nav.get_vendor, number)
            etag = current.etag if current else ""
        key = f"nav.vendor.update:{number}:{hash(tuple(sorted(merged.as_dict().items()))) & 0xFFFFFFFF:x}"
        self.outbox.record(key, "NAV", "update_nav_vendor", f"vendor {number}", {"changes": changes})
        updated = self.outbox.send(key, lambda: self._nav_call(self.nav.update_vendor, number, merged, etag), None)
        with self.store.session() as s:
            self.outbox.finish(s, key, {"number": number})
            self._audit(s, "NAV", "update_vendor", f"vendor {number}", after=changes)
        if "is_1099" in changes and updated.fields.is_1099 != merged.is_1099:
            # Business Central's API ignores irs1099Code where the Vendor table has no IRS 1099 Code field.
            log.warning("NAV vendor %s (%s) kept no IRS 1099 Code: this NAV does not keep 1099 codes on the vendor "
                        "(a company outside the US, or Business Central 25 and later, which keeps them in the IRS "
                        "Forms app). BILL's 1099 tracking is unchanged; set the vendor up for 1099 in NAV by hand.",
                        number, merged.name)
        return updated

    def apply_chosen_conflicts(self) -> None:
        with self.store.session() as s:
            chosen = q.chosen_conflicts(s)
        by_vendor: dict[str, list[t.Conflict]] = {}
        for conflict in chosen:
            by_vendor.setdefault(conflict.record_key, []).append(conflict)
        for number, conflicts in by_vendor.items():
            self._check_cancel()
            self._guard("vendors", "vendor", number, f"NAV vendor {number}",
                        lambda number=number, conflicts=conflicts: self._apply_resolution(number, conflicts))

    def _apply_resolution(self, number: str, conflicts: list[t.Conflict]) -> None:
        with self.store.session() as s:
            link = q.vendor_link(s, number)
        if link is None or link.status != "linked":
            return
        nav_vendor = self._nav_call(self.nav.get_vendor, number)
        bill_vendor = self._bill_call(self.bill.get_vendor, link.bill_id)
        if nav_vendor is None or bill_vendor is None:
            raise RecordError("the vendor no longer exists on one side", record=f"vendor {number}")
        to_nav = {c.field: c.bill_value for c in conflicts if c.chosen_side == "bill"}
        to_bill = {c.field: c.nav_value for c in conflicts if c.chosen_side == "nav"}
        nav_fields, bill_fields = nav_vendor.fields.as_dict(), bill_vendor.fields.as_dict()
        if to_bill:
            updated = self._write_bill_vendor(link.bill_id, number, VendorFields.from_dict({**bill_fields, **to_bill}),
                                              to_bill, bill_fields)
            bill_fields = updated.fields.as_dict() if updated is not None else {**bill_fields, **to_bill}
        if to_nav:
            updated = self._write_nav_vendor(number, VendorFields.from_dict({**nav_fields, **to_nav}),
                                             nav_vendor.etag, to_nav)
            nav_fields = updated.fields.as_dict()
        with self.store.session() as s:
            row = s.get(t.VendorLink, link.id)
            snapshot_nav, snapshot_bill = dict(row.nav_snapshot), dict(row.bill_snapshot)
            for conflict in conflicts:
                snapshot_nav[conflict.field] = nav_fields.get(conflict.field)
                snapshot_bill[conflict.field] = bill_fields.get(conflict.field)
                s.get(t.Conflict, conflict.id).state = "applied"
            row.nav_snapshot, row.bill_snapshot = snapshot_nav, snapshot_bill
        self.report.counts("vendors").updated += 1


def _read_now(vendor: V | None, system: str, key: str) -> V:
    """A linked vendor read again for its first merge; gone or unreadable, the link waits (its own item says
    why)."""
    if vendor is None:
        raise RecordError(f"the {system} vendor no longer exists or could not be read (see its own item)",
                          system=system, record=f"vendor {key}")
    return vendor
