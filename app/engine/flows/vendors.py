"""Flows 1-3, vendors: NAV ⇄ BILL, matched on first sight; new vendors created on the other side.

Read: BILL's changed vendors (noted on their link, or kept as match candidates), then NAV's changed vendors.
Decide: ``app.domain.matching`` links, proposes or queues a match for a NAV vendor seen for the first time;
a NAV vendor with no match becomes a BILL vendor, a BILL vendor nobody claims becomes a NAV vendor (setting).
Write: through the write lane (BILL, in bulk calls of 20 on a first sync) and the outbox (NAV, one by one).
The linked vendors' field changes are reconciled three-way in ``vendor_links``; NAV vendors are created for BILL's
unclaimed ones in ``nav_vendors``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from app.domain.matching import MatchKeys, MatchKind, match_vendor
from app.engine import recovery
from app.engine.common import Write, batched, iso, parse_time, side_by_side
from app.engine.crash import crash_point
from app.engine.flows.base import Flow
from app.engine.flows.nav_vendors import NavVendorsFromBill
from app.engine.flows.vendor_links import VendorLinks
from app.engine.flows.vendor_pool import CandidatePool, candidate_pool, candidate_rows
from app.engine.payloads import nav_vendor_to_json
from app.store import repository as q
from app.store import schema as t

if TYPE_CHECKING:
    from app.engine.context import RunContext
    from app.engine.flows.bank import BankWatch

log = logging.getLogger("navbill.engine")

class VendorsFlow(Flow):
    """NAV and BILL vendors: read both, match the new ones, create what the other side lacks."""

    def __init__(self, ctx: RunContext, bank: BankWatch) -> None:
        super().__init__(ctx)
        self.bank = bank
        self.links = VendorLinks(ctx)
        self.from_bill = NavVendorsFromBill(ctx)
        self._bill_vendors_created = 0  # in this run: their echoes come back in BILL's vendor list
        self._created_vendor_times: list[datetime] = []
        # BILL vendors this run created: id -> hash of (updated time, fields) as BILL answered the create. A hash,
        # not the values: a first sync of 100,000 vendors would keep them all for the length of the run.
        self._created_here: dict[str, int] = {}

    def run(self) -> None:
        self._recover_vendor_writes()
        self.links.apply_chosen_conflicts()
        self._retry_failed_vendors()
        bill_mark = self.store.get_bookmark("bill.vendors")
        self._absorb_bill_vendors(self._stream("BILL", lambda: self.bill.iter_vendors(
            updated_since=parse_time(bill_mark))), bookmark="bill.vendors")
        nav_mark = self.store.get_bookmark("nav.vendors")
        self._absorb_nav_vendors(self._stream("NAV", lambda: self.nav.iter_vendors(
            modified_since=parse_time(nav_mark))), bookmark="nav.vendors")
        if self.lane.bulk_unsettled:  # a bulk answer was lost in this run: settle it now
            self.lane.bulk_unsettled = False
            recovery.recover_bulk_bill_vendors(self)
        if self._bill_vendors_created:
            # The vendors just created come back in BILL's list (newer than the bookmark). Read them now,
            # at 100 a page, as known echoes (no work), so the next run reads only what changed after
            # this one instead of every vendor this run created.
            bill_mark = self.store.get_bookmark("bill.vendors")
            self._absorb_bill_vendors(self._stream("BILL", lambda: self._vendor_echoes(parse_time(bill_mark))),
                                      bookmark="bill.vendors")
        self.links.reconcile_links()
        if self.settings.create_nav_vendors:
            self.from_bill.create_all()

    def sync_one_nav_vendor(self, number: str) -> None:
        """A webhook said NAV vendor ``number`` changed: bring just that one across."""
        vendor = self._nav_call(self.nav.get_vendor, number)
        if vendor is not None:
            self._absorb_nav_vendors([vendor])
        self.links.reconcile_links(only_nav_number=number)

    def sync_one_bill_vendor(self, bill_id: str) -> None:
        vendor = self._bill_call(self.bill.get_vendor, bill_id)
        if vendor is not None:
            self._absorb_bill_vendors([vendor])
        self.links.reconcile_links(only_bill_id=bill_id)
        self.from_bill.create_all(only_bill_id=bill_id)

    def _absorb_bill_vendors(self, vendors: Iterable, bookmark: str = "") -> None:
        """Note each changed BILL vendor: on its link (reconciled later) or in the match index."""
        newest = ""
        for batch in batched(vendors):
            self._check_cancel()
            for vendor in batch:
                newest = max(newest, iso(vendor.updated_time))
            # This run's own creates coming back unchanged (the read-back after a first sync: thousands) have
            # nothing to note: their links were written with these very values.
            changed = [v for v in batch if self._created_here.get(v.id) != hash((v.updated_time, v.fields))]
            with self.store.session() as s:
                ids = [v.id for v in changed]
                links = q.linked_vendors_for_bill_ids(s, ids) if ids else {}
                candidates = candidate_rows(s, [i for i in ids if i not in links]) if ids else {}
                for vendor in changed:
                    link = links.get(vendor.id)
                    if link is not None:
                        fields = vendor.fields.as_dict()
                        if link.bill_pending is None and link.bill_snapshot and fields == link.bill_snapshot:
                            # Unchanged since the last sync (often our own write coming back): nothing to do.
                            if link.bill_updated != vendor.updated_time:
                                link.bill_updated = vendor.updated_time
                            continue
                        link.bill_pending, link.bill_updated = fields, vendor.updated_time
                        continue
                    keys = MatchKeys.of(vendor.fields.name, vendor.fields.email, vendor.fields.tax_id)
                    candidate = candidates.get(vendor.id)
                    if candidate is None:
                        candidate = candidates[vendor.id] = t.BillVendorCandidate(bill_id=vendor.id, claimed_by="")
                        s.add(candidate)
                    candidate.exact_name, candidate.name_key = keys.exact_name, keys.name
                    candidate.email_key, candidate.tax_key = keys.email, keys.tax_id
                    candidate.fields, candidate.updated_time = vendor.fields.as_dict(), vendor.updated_time
            self.bank.watch_bank(batch)
            crash_point("mid_stream")
        if bookmark and newest:
            with self.store.session() as s:
                self.store.set_bookmark(s, bookmark, newest)

    def _absorb_nav_vendors(self, vendors: Iterable, bookmark: str = "") -> None:
        newest = ""
        counts = self.report.counts("vendors")
        to_create = []
        done = 0
        for batch in batched(vendors):
            self._check_cancel()
            with self.store.session() as s:
                links = q.vendor_links_for_numbers(s, [v.number for v in batch])
                new = [(v.number, MatchKeys.of(v.fields.name, v.fields.email, v.fields.tax_id))
                       for v in batch if v.number not in links]
                pool = candidate_pool(s, [k for _, k in new]) if new else None
                keys = dict(new)
                for vendor in batch:
                    newest = max(newest, iso(vendor.last_modified))
                    link = links.get(vendor.number)
                    if link is not None and link.status == "linked":
                        fields = vendor.fields.as_dict()
                        if link.nav_pending is None and link.nav_snapshot and fields == link.nav_snapshot:
                            # Unchanged since the last sync: keep the ETag for the next PATCH, nothing else.
                            if (link.nav_etag, link.nav_modified) != (vendor.etag, vendor.last_modified):
                                link.nav_etag, link.nav_modified = vendor.etag, vendor.last_modified
                            continue
                        link.nav_pending, link.nav_etag = fields, vendor.etag
                        link.nav_modified, link.name = vendor.last_modified, vendor.fields.name
                    elif link is not None and link.status in ("proposed", "ambiguous"):
                        link.name = vendor.fields.name  # waiting for the user
                    elif link is not None and link.status == "rejected":
                        to_create.append(vendor)
                    elif not self._match_nav_vendor(s, vendor, pool, keys.get(vendor.number)):
                        if vendor.fields.inactive:
                            counts.skipped += 1  # a blocked vendor with no BILL counterpart stays out of BILL
                        else:
                            to_create.append(vendor)
            done += len(batch)
            self._check_cancel()
            self._create_bill_vendors(to_create, wait=False)  # in flight while the next batch is read
            to_create = []
            self._progress("vendors", done, "NAV vendors read")
            crash_point("mid_stream")
        self.lane.drain()
        if bookmark and newest:
            with self.store.session() as s:
                self.store.set_bookmark(s, bookmark, newest)

    def _match_nav_vendor(self, s: Session, vendor, pool: CandidatePool | None = None,
                          keys: MatchKeys | None = None) -> bool:
        """Link, propose or queue a match for a NAV vendor seen for the first time. False: no match."""
        if keys is None:
            keys = MatchKeys.of(vendor.fields.name, vendor.fields.email, vendor.fields.tax_id)
        if pool is None:
            pool = candidate_pool(s, [keys])
        candidates = pool.candidates(keys)
        if not candidates:
            return False
        result = match_vendor(keys, candidates)
        if result.kind == MatchKind.NONE:
            return False
        by_id = pool.rows
        counts = self.report.counts("vendors")
        link = t.VendorLink(nav_number=vendor.number, name=vendor.fields.name, match_reason=result.reason,
                            nav_etag=vendor.etag, nav_modified=vendor.last_modified)
        s.add(link)
        if result.kind == MatchKind.EXACT:
            candidate = by_id[result.single]
            link.status, link.bill_id = "linked", candidate.bill_id
            link.nav_pending, link.bill_pending = vendor.fields.as_dict(), dict(candidate.fields)
            link.bill_updated = candidate.updated_time
            s.delete(candidate)
            pool.gone.add(candidate.bill_id)
            self._audit(s, "engine", "link", f"vendor {vendor.number}", bill_id=candidate.bill_id,
                        reason=result.reason)
            counts.updated += 1
            return True
        link.status = "proposed" if result.kind == MatchKind.PROPOSED else "ambiguous"
        link.bill_id = result.single
        link.candidate_ids = list(result.candidate_ids)
        # Keep NAV's side as read, so the clerk compares full records before accepting, and the first
        # merge after acceptance has NAV's values without waiting for the vendor to change again.
        link.nav_pending = vendor.fields.as_dict()
        for bill_id in result.candidate_ids:
            by_id[bill_id].claimed_by = vendor.number
            pool.gone.add(bill_id)
        names = ", ".join(f"'{by_id[i].exact_name}' ({i})" for i in result.candidate_ids)
        if result.kind == MatchKind.PROPOSED:
            reason = (f"NAV vendor {vendor.number} {vendor.fields.name} looks like BILL vendor {names} "
                      f"({result.reason}): confirm or reject the match.")
        else:
            reason = (f"NAV vendor {vendor.number} {vendor.fields.name} could be any of the BILL vendors {names}: "
                      "pick the right one or reject them all.")
        item = q.queue_item(s, "vendor", vendor.number)
        if item is None:
            s.add(t.QueueItem(kind="vendor", record_key=vendor.number, reason=reason))
        else:
            item.reason, item.state = reason, "open"
        counts.held += 1
        return True

    def _create_bill_vendor(self, vendor) -> None:
        self._create_bill_vendors([vendor])

    def _create_bill_vendors(self, vendors: list, wait: bool = True) -> None:
        """New NAV vendors become BILL vendors: in bulk calls when there are several (one outbox row per
        call), one by one otherwise (a webhook's one-off); up to 3 calls at once."""
        if len(vendors) > 1 and hasattr(self.bill, "create_vendors"):
            self._create_bill_vendors_bulk(vendors, wait)
            return
        writes = []
        for vendor in vendors:
            fields = vendor.fields

            def look(fields=fields):
                found = self._bill_call(self.bill.find_vendors_by_name, fields.name) or []
                linked = self._linked_bill_ids([v.id for v in found])
                return next((v for v in found if v.id not in linked), None)

            writes.append(Write(
                key=f"bill.vendor.create:{vendor.number}", action="create_bill_vendor",
                record=f"vendor {vendor.number}", payload=fields.as_dict(), record_key=vendor.number,
                label=f"NAV vendor {vendor.number} {fields.name}",
                send=lambda fields=fields: self._bill_call(self.bill.create_vendor, fields), look=look,
                data=vendor))
        self.lane.write_batch("vendors", "vendor", writes, self._finish_bill_vendors, wait=wait)

    def _create_bill_vendors_bulk(self, vendors: list, wait: bool = True) -> None:
        limit = self.lane.bulk_limit("bulk_vendor_limit", 20)
        marks = self.lane.sent_marks()
        writes = []
        for start in range(0, len(vendors), limit):
            chunk = vendors[start:start + limit]
            label = f"{len(chunk)} new BILL vendors (NAV vendors {chunk[0].number} … {chunk[-1].number})"
            writes.append(Write(
                key=self.lane.bulk_key("vendors"), action="create_bill_vendors", record=label,
                payload={**marks, "vendors": [nav_vendor_to_json(v) for v in chunk]},
                record_key=chunk[0].number, label=label, look=None, data=chunk, bulk=True,
                send=lambda chunk=chunk: self._bill_call(self.bill.create_vendors, [v.fields for v in chunk])))
        self.lane.write_batch("vendors", "vendor", writes, self._finish_bulk_bill_vendors, wait=wait)

    @staticmethod
    def _vendor_stub(vendor) -> Write:
        """What ``_finish_bill_vendors`` needs of one vendor created in a bulk call."""
        return Write(key=f"bill.vendor.create:{vendor.number}", action="create_bill_vendor",
                      record=f"vendor {vendor.number}", payload={}, record_key=vendor.number, label="",
                      send=lambda: None, look=None, data=vendor)

    def _finish_bulk_bill_vendors(self, s: Session, done: list[tuple[Write, Any]]) -> dict[str, dict]:
        created, results = [], {}
        for write, outcomes in done:
            made, refused = {}, {}
            for vendor, outcome in zip(write.data, outcomes, strict=True):
                if isinstance(outcome, Exception):
                    refused[vendor.number] = str(outcome)
                    self.lane.refused_in_bulk(
                        s, f"bill.vendor.create:{vendor.number}", "create_bill_vendor", f"vendor {vendor.number}",
                        vendor.fields.as_dict(), outcome, "vendor", vendor.number,
                        f"NAV vendor {vendor.number} {vendor.fields.name}: {getattr(outcome, 'message', outcome)}",
                        None, "vendors")
                else:
                    made[vendor.number] = outcome.id
                    created.append((self._vendor_stub(vendor), outcome))
            results[write.key] = {"created": made, "refused": refused}
        if created:
            self._finish_bill_vendors(s, created)
        return results

    def _finish_bill_vendors(self, s: Session, done: list[tuple[Write, Any]]) -> dict[str, dict]:
        """The created vendors' links, audit rows and resolved holds, in the caller's transaction. A link the store
        has already (a rejected match, say) is set on its object; the new ones (a first sync's all) are inserted
        together, with the audit rows, by one executemany each instead of one ORM object per row."""
        numbers = [w.record_key for w, _ in done]
        links = q.rows_among(s, t.VendorLink, "nav_number", numbers)
        results, fresh, audits = {}, {}, []
        for write, created in done:
            vendor, fields = write.data, write.data.fields
            values = {"bill_id": created.id, "status": "linked", "name": fields.name, "candidate_ids": [],
                      "nav_snapshot": fields.as_dict(), "bill_snapshot": created.fields.as_dict(),
                      "nav_pending": None, "bill_pending": None, "nav_etag": vendor.etag,
                      "nav_modified": vendor.last_modified, "bill_updated": created.updated_time,
                      "synced_at": self.clock()}
            link = links.get(vendor.number)
            if link is not None:
                for name, value in values.items():
                    setattr(link, name, value)
            else:  # the same vendor twice in one group: the last one's link, as setting one object twice gives
                fresh[vendor.number] = {"nav_number": vendor.number, **values}
            audits.append(self.ctx._audit_row("BILL", "create_vendor", f"vendor {vendor.number}", bill_id=created.id,
                                              name=fields.name))
            results[write.key] = {"bill_id": created.id}
        q.add_rows(s, t.VendorLink, list(fresh.values()))
        self.ctx._audit_many(s, audits)
        created_ids = [created.id for _, created in done]
        if any(isinstance(obj, t.BillVendorCandidate) for obj in (*s.identity_map.values(), *s.new)):
            s.execute(delete(t.BillVendorCandidate).where(t.BillVendorCandidate.bill_id.in_(created_ids)))
        else:  # nothing loaded to keep in step: the table's own DELETE, without the ORM's bookkeeping
            candidates = t.BillVendorCandidate.__table__
            s.execute(delete(candidates).where(candidates.c.bill_id.in_(created_ids)))
        self._resolve_items(s, "vendor", numbers)
        self._bill_vendors_created += len(done)
        self._created_here.update((created.id, hash((created.updated_time, created.fields))) for _, created in done)
        self.vendors_new_this_run.update(created.id for _, created in done)
        self._created_vendor_times.extend(c.updated_time for _, c in done if c.updated_time)
        self.lane.saw_bill_times(c.updated_time for _, c in done)
        return results

    def _vendor_echoes(self, since: datetime | None) -> Iterator:
        """BILL's vendors changed since ``since``, this run's creates among them. Many pages: read as up to
        3 lists side by side (updatedTime ranges cut where this run's creates split evenly; BILL filters
        createdTime/updatedTime by range), so the pages go 3 at a time like the writes did."""
        times = sorted(self._created_vendor_times)
        parts = self.lane.concurrency()
        if len(times) < 300 or parts <= 1:
            yield from self.bill.iter_vendors(updated_since=since)
            return
        cuts = sorted({times[len(times) * i // parts] for i in range(1, parts)} - {since})
        bounds = list(zip([since, *cuts], [*cuts, None], strict=True))
        yield from side_by_side([lambda a=a, b=b: self.bill.iter_vendors(updated_since=a, updated_before=b)
                                  for a, b in bounds])

    def _linked_bill_ids(self, among: list[str] | None = None) -> set[str]:
        """BILL vendor ids already linked (only those ``among`` the given ids, when given)."""
        with self.store.session() as s:
            return q.linked_bill_ids(s, among)

    def _recover_vendor_writes(self) -> None:
        """Finish vendor creations a crash or an unknown outcome left open (look first, then send)."""
        recovery.recover_bulk_bill_vendors(self)
        self.from_bill.recover()
        for row in self.outbox.unfinished("create_bill_vendor"):
            self._check_cancel()
            number = row.key.split(":", 1)[1]
            vendor = self._nav_call(self.nav.get_vendor, number)
            if vendor is None:
                continue
            self._guard("vendors", "vendor", number, f"NAV vendor {number}",
                        lambda vendor=vendor: self._create_bill_vendor(vendor))

    def _retry_failed_vendors(self) -> None:
        for number in self._retry_keys("vendor"):
            vendor = self._nav_call(self.nav.get_vendor, number)
            if vendor is not None:
                self._absorb_nav_vendors([vendor])
        for bill_id in self._retry_keys("bill_vendor"):
            vendor = self._bill_call(self.bill.get_vendor, bill_id)
            if vendor is not None:
                self._absorb_bill_vendors([vendor])
