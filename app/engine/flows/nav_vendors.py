"""Flow 2, BILL → NAV vendors: a BILL vendor no NAV vendor claimed becomes a NAV vendor (setting
``create_nav_vendors``), linked to it at once.

Read: the BILL vendors the vendors flow kept as unclaimed candidates. Decide: archived ones are passed over, one
with a field longer than NAV's (``NAV_VENDOR_LIMITS``) is held. Write: the outbox, one at a time, the NAV number
chosen and stored before the POST so a retry after a crash finds the vendor instead of making a second one.
"""

from __future__ import annotations

from sqlalchemy import delete

from app.domain.models import VendorFields
from app.domain.values import shown
from app.engine.common import BATCH
from app.engine.crash import crash_point
from app.engine.flows.base import Flow
from app.store import repository as q
from app.store import schema as t

# NAV's vendor field lengths (table 23: Name, Address, E-Mail are Text[100]/[80]; the sandbox refuses more
# than 100 for every text): a BILL vendor over them is held before any NAV write.
NAV_VENDOR_LIMITS = {"name": 100, "address_line1": 100, "address_line2": 50, "city": 30, "postal_code": 20,
                     "email": 80, "phone": 30}


class NavVendorsFromBill(Flow):
    """NAV vendors created for BILL's unclaimed vendors (a step of the vendors flow)."""

    def create_all(self, only_bill_id: str | None = None) -> None:
        """A NAV vendor for each BILL vendor nobody claimed (all, or just ``only_bill_id``); an archived one is
        passed over, one with a field longer than NAV holds is held with the field and its length."""
        last_id = ""
        while True:
            self._check_cancel()
            with self.store.session() as s:
                batch = q.unclaimed_bill_vendors(s, last_id, BATCH, only_bill_id)
            if not batch:
                return
            for candidate in batch:
                last_id = candidate.bill_id
                fields = VendorFields.from_dict(candidate.fields)
                if fields.inactive:
                    continue  # archived in BILL: nothing to create
                too_long = [(name, len(str(getattr(fields, name)))) for name, limit in NAV_VENDOR_LIMITS.items()
                            if len(str(getattr(fields, name))) > limit]
                if too_long:
                    what = ", ".join(f"{name} is {length:,} characters long (NAV holds at most "
                                     f"{NAV_VENDOR_LIMITS[name]})" for name, length in too_long)
                    self._hold("bill_vendor", candidate.bill_id,
                               f"BILL vendor {shown(fields.name)} ({candidate.bill_id}): {what}. Shorten it in BILL; "
                               "it is tried again at the next sync.", flow="vendors")
                    continue
                self._guard("vendors", "bill_vendor", candidate.bill_id,
                            f"BILL vendor {shown(fields.name)}",
                            lambda candidate=candidate, fields=fields: self._create_nav_vendor(candidate.bill_id,
                                                                                               fields))

    def _create_nav_vendor(self, bill_id: str, fields: VendorFields) -> None:
        key = f"nav.vendor.create:{bill_id}"
        existing = self.outbox.entry(key)
        if existing is None:
            # The number is chosen and stored BEFORE the POST: after a crash, the retry finds the
            # vendor by that number instead of creating a second one. A number NAV already has (a store
            # that was lost or restored from an older backup starts its series again) is passed over.
            for _ in range(1000):
                with self.store.session() as s:
                    number = self.store.next_number(s, "vendor", self.settings.vendor_number_prefix,
                                                    self.settings.vendor_number_width)
                if self.report.dry_run or self._nav_call(self.nav.get_vendor, number) is None:
                    break
            with self.store.session() as s:
                s.add(t.OutboxEntry(key=key, system="NAV", action="create_nav_vendor", record=f"BILL vendor {bill_id}",
                                    payload={"number": number, "fields": fields.as_dict()}, run_id=self.report.run_id))
        else:
            number = existing.payload["number"]
        created = self.outbox.send(key, lambda: self._nav_call(self.nav.create_vendor, fields, number),
                                   lambda: self._nav_call(self.nav.get_vendor, number))
        self._finish_nav_vendor(key, bill_id, fields, created)

    def _finish_nav_vendor(self, key: str, bill_id: str, bill_fields: VendorFields, created) -> None:
        with self.store.session() as s:
            s.add(t.VendorLink(nav_number=created.number, bill_id=bill_id, status="linked", name=bill_fields.name,
                               nav_snapshot=created.fields.as_dict(), bill_snapshot=bill_fields.as_dict(),
                               nav_etag=created.etag, nav_modified=created.last_modified, synced_at=self.clock()))
            s.execute(delete(t.BillVendorCandidate).where(t.BillVendorCandidate.bill_id == bill_id))
            self.outbox.finish(s, key, {"number": created.number})
            self._resolve_item(s, "bill_vendor", bill_id)
            self._audit(s, "NAV", "create_vendor", f"vendor {created.number}", bill_id=bill_id,
                        name=bill_fields.name)
        crash_point("after_commit")
        self.report.counts("vendors").created += 1

    def recover(self) -> None:
        """Finish NAV vendor creations a crash or an unknown outcome left open (look first, then send)."""
        for row in self.outbox.unfinished("create_nav_vendor"):
            self._check_cancel()
            bill_id = row.key.split(":", 1)[1]
            fields = VendorFields.from_dict(row.payload["fields"])
            self._guard("vendors", "bill_vendor", bill_id, f"BILL vendor {shown(fields.name)}",
                        lambda bill_id=bill_id, fields=fields: self._create_nav_vendor(bill_id, fields))
