"""A bad record is held, never fatal: a table of bad data injected into the sandboxes between two syncs.

Each case is put in one record (through the BILL sandbox's ``/_sandbox/corrupt`` control endpoint, or as a
NAV user would post it) while ordinary work happens around it. After ONE sync run:

* the run completed (no "Unexpected error", every flow ran),
* every case is held in the queue with its reason (the words the clerk needs: the field, the value, the
  numbers), or went through unchanged where the value is odd but valid (an emoji name),
* every other record of that run went through (payments posted, bills created, vendors created),
* the bookmark moved past the bad records, and a second run neither counts them again nor writes anything
  twice.

The table is by side: BILL cases are injected over HTTP; engine cases come from NAV data the engine itself
must judge (a negative invoice) or from an ``UnreadableRecord`` in the NAV stream, the convention every
client follows. NAV-side wire cases (a null posting date, 31/12/2026, a null line number, 1e309) are damaged rows in
the NAV sandbox that the NAV client turns into that UnreadableRecord (``NAV_CASES``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import requests

from app.domain.models import UnreadableRecord
from app.sandbox.runner import running_sandboxes
from app.store import Store
from tests.engine.conftest import make_engine
from tests.reliability.state import duplicates


@dataclass(frozen=True)
class Case:
    name: str
    side: str  # "BILL", "NAV" or "engine"
    inject: Callable  # (world) -> (queue kind, record key) the case must be held under, or None: goes through
    expect: tuple[str, ...]  # words the held reason must contain (or, for "through", the name BILL/NAV shows)


class World:
    """The sandboxes, the store and the bills ready to be paid, for the cases to use."""

    def __init__(self, sandboxes, store) -> None:
        self.sandboxes, self.store = sandboxes, store
        self.open_bills = [row for row in store.invoice_rows(state="created") if row.bill_id]
        self.nav_stream_extra: list[UnreadableRecord] = []
        self.nav_damaged: list[str] = []

    def corrupt(self, entity: str, record_id: str, **changes) -> None:
        answer = requests.post(f"{self.sandboxes.bill_url}/_sandbox/corrupt", timeout=10,
                               json={"entity": entity, "id": record_id, "set": changes})
        assert answer.status_code == 200, answer.text

    def next_bill(self):
        return self.open_bills.pop(0)

    def pay(self, amount: str = "10.00") -> tuple[str, str, str]:
        """A real BILL payment of ``amount`` on the next open bill: (payment id, bill id, NAV invoice)."""
        row = self.next_bill()
        payment = self.sandboxes.bill.pay_bill(row.bill_id, Decimal(amount))
        return payment["id"], row.bill_id, row.nav_number

    def new_bill_vendor(self, name: str) -> str:
        return self.sandboxes.bill.create_vendor({"name": name, "accountType": "BUSINESS",
                                                 "address": {"city": "Erie", "country": "US"}})["id"]


def _payment_case(**changes):
    def inject(world: World):
        payment_id, bill_id, _ = world.pay()
        world.corrupt("payments", payment_id, **{k.replace("BILL_ID", bill_id): v for k, v in changes.items()})
        return "unreadable", f"BILL payment {payment_id}"
    return inject


def _overpayment(world: World):
    payment_id, bill_id, _ = world.pay()
    world.corrupt("payments", payment_id, **{"amount": 99999999, "billPayments.0.amount": 99999999})
    return "payment", payment_id


def _negative_payment(world: World):
    payment_id, _, _ = world.pay()
    world.corrupt("payments", payment_id, **{"amount": -50, "billPayments.0.amount": -50})
    return "payment", payment_id


def _other_currency(world: World):
    payment_id, _, _ = world.pay()
    world.corrupt("payments", payment_id, currency="EUR")
    return "payment", payment_id


def _null_payment_id(world: World):
    payment_id, _, _ = world.pay()
    world.corrupt("payments", payment_id, id=None)
    return "unreadable", "BILL payment (no number) id=null"


def _long_vendor_name(world: World):
    return "bill_vendor", world.new_bill_vendor("Long Name Supply " + "x" * 3983)


def _null_vendor_name(world: World):
    vendor_id = world.new_bill_vendor("Soon Nameless Vendor")
    world.corrupt("vendors", vendor_id, name=None)
    return "unreadable", f"BILL vendor {vendor_id}"


def _emoji_vendor_name(world: World):
    world.new_bill_vendor("Café Ünïcode 🚚 Logistics")
    return None


def _negative_invoice(world: World):
    template = world.sandboxes.nav.invoices.get("108001")["_lines"][0]
    invoice = world.sandboxes.nav.post_invoice("V00010", "CREDIT-1", [
        {"account": template["No"], "amount": "-120.00", "description": "Returned goods",
         "dimensions": {"DEPARTMENT": "PROD"}}])
    return "invoice", invoice["No"]


def _foreign_currency_invoice(world: World):
    """A Canadian supplier's invoice posted in CAD: sent as it is, 4,250.00 CAD would become a bill of 4,250.00
    USD."""
    template = world.sandboxes.nav.invoices.get("108001")["_lines"][0]
    invoice = world.sandboxes.nav.post_invoice("V00010", "CAD-7", [
        {"account": template["No"], "amount": "4250.00", "description": "Aluminium extrusions",
         "dimensions": {"DEPARTMENT": "PROD"}}], currency_code="CAD")
    return "invoice", invoice["No"]


def _unreadable_nav_invoice(world: World):
    world.nav_stream_extra.append(UnreadableRecord(
        "NAV", "posted invoice", "109999", "Posting_Date", "31/12/2026",
        "the date '31/12/2026' is not an ISO date (YYYY-MM-DD)"))
    return "unreadable", "NAV posted invoice 109999"


BILL_CASES = [
    Case("payment processDate null", "BILL", _payment_case(processDate=None), ("processDate", "date is empty")),
    Case("payment processDate 31/12/2026", "BILL", _payment_case(processDate="31/12/2026"),
         ("processDate", "'31/12/2026' is not an ISO date")),
    Case("payment amount 1e309", "BILL", _payment_case(**{"amount": "RAW:1e309", "billPayments.0.amount": "RAW:1e309"}),
         ("amount", "1E+309", "larger than any real")),
    Case("payment amount NaN", "BILL", _payment_case(**{"amount": "RAW:NaN", "billPayments.0.amount": "RAW:NaN"}),
         ("amount", "not a finite number")),
    Case("payment amount as text", "BILL", _payment_case(**{"billPayments.0.amount": "12,50"}),
         ("billPayments[1].amount", "'12,50' is not a number")),
    Case("payment bill id null", "BILL", _payment_case(**{"billPayments.0.billId": None}),
         ("billPayments[1].billId", "bill id is empty")),
    Case("payment id null", "BILL", _null_payment_id, ("field id", "payment id is empty")),
    Case("payment negative", "BILL", _negative_payment, ("-50.00", "zero or less")),
    Case("payment larger than the open amount", "BILL", _overpayment,
         ("99999999.00", "only", "is open", "already posted 0.00")),
    Case("payment in another currency", "BILL", _other_currency, ("EUR", "another currency")),
    Case("vendor name 4,000 characters", "BILL", _long_vendor_name, ("4,000 characters", "at most 100")),
    Case("vendor name null", "BILL", _null_vendor_name, ("field name", "name is empty")),
    Case("vendor name with emoji", "BILL", _emoji_vendor_name, ("Café Ünïcode 🚚 Logistics",)),
]
ENGINE_CASES = [
    Case("NAV invoice negative", "engine", _negative_invoice, ("NAV invoice 1", "CREDIT-1", "-120.00", "not positive")),
    Case("NAV invoice in a foreign currency", "engine", _foreign_currency_invoice,
         ("in CAD (4,250.00 CAD)", "does not convert currencies", "enter this bill in BILL by hand")),
    Case("NAV invoice unreadable (client's UnreadableRecord)", "engine", _unreadable_nav_invoice,
         ("Posting_Date", "31/12/2026", "Correct it in NAV")),
]
def _nav_invoice_damaged(header_changes: dict | None = None, line_changes: dict | None = None):
    """A posted NAV invoice whose row arrives damaged (as a broken customization or a foreign-format export
    might leave it): the client yields an UnreadableRecord in its place."""

    def inject(world: World):
        from decimal import Decimal

        nav = world.sandboxes.nav
        number = nav.post_invoice("V00010", f"DMG-{len(world.nav_damaged) + 1}", [
            {"account": "5110", "amount": "10.00", "dimensions": {"DEPARTMENT": "PROD"}}])["No"]
        world.nav_damaged.append(number)
        with nav.state_lock:
            header = nav.company.invoices.get(number)
            lines = [dict(line) for line in header["_lines"]]
            for name, value in (line_changes or {}).items():
                lines[0][name] = Decimal(value) if isinstance(value, str) and value.startswith("1e") else value
            nav.company.invoices.put(number, {**header, **(header_changes or {}), "_lines": lines})
        return "unreadable", f"NAV posted invoice {number}"

    return inject


# The demo runs the Business Central flavour: the API's field names are the ones the reason names.
NAV_CASES: list[Case] = [
    Case("NAV invoice posting date null", "NAV", _nav_invoice_damaged({"Posting_Date": None}),
         ("postingDate", "the date is empty", "Correct it in NAV")),
    Case("NAV invoice due date 31/12/2026", "NAV", _nav_invoice_damaged({"Due_Date": "31/12/2026"}),
         ("dueDate", "'31/12/2026' is not an ISO date")),
    Case("NAV invoice line amount 1e309", "NAV",
         _nav_invoice_damaged(line_changes={"Line_Amount": "1e309", "Amount": "1e309"}),
         ("netAmount", "not a finite number")),
    Case("NAV invoice line number null", "NAV", _nav_invoice_damaged(line_changes={"Line_No": None}),
         ("sequence", "is empty")),
]
CASES = BILL_CASES + ENGINE_CASES + NAV_CASES


class _NavWithBadRecords:
    """The real NAV client, whose posted-invoice stream also yields the world's UnreadableRecords (what the NAV
    client does for a record it cannot parse)."""

    def __init__(self, inner, extra: list[UnreadableRecord]) -> None:
        self._inner, self._extra = inner, extra

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def iter_posted_invoices(self, *args, **kwargs):
        first = True
        for invoice in self._inner.iter_posted_invoices(*args, **kwargs):
            if first:
                yield from self._extra  # in the middle of the stream, not at its end
                first = False
            yield invoice
        if first:
            yield from self._extra


def _run(store, sandboxes, world: World):
    engine = make_engine(store, sandboxes)
    engine.nav = _NavWithBadRecords(engine.nav, world.nav_stream_extra)
    try:
        return engine.run()
    finally:
        engine.nav.close()
        engine.bill.close()


def test_every_bad_record_is_held_with_its_reason_and_everything_else_goes_through(tmp_path):
    with running_sandboxes(seed="demo") as sandboxes:
        store = Store(f"sqlite:///{tmp_path / 'navbill.sqlite3'}")
        try:
            world = World(sandboxes, store)
            first = _run(store, sandboxes, world)
            assert first.completed, first.errors
            world = World(sandboxes, store)
            assert len(world.open_bills) >= 12, "the demo company has too few bills for the table"

            expected = {case.name: case.inject(world) for case in CASES}
            # Ordinary work in the same run, around the bad records.
            good_payments = [world.pay("25.00")[0] for _ in range(2)]
            good_vendor = world.new_bill_vendor("Ordinary Fasteners Inc")
            template = sandboxes.nav.invoices.get("108001")["_lines"][0]
            good_invoice = sandboxes.nav.post_invoice("V00010", "ORD-77", [
                {"account": template["No"], "amount": "310.40", "description": "Ordinary order",
                 "dimensions": {"DEPARTMENT": "PROD"}}])["No"]
            payments_mark = store.get_bookmark("bill.payments")

            report = _run(store, sandboxes, world)
            assert report.status == "completed" and not report.errors, report.errors
            assert "Unexpected" not in " ".join(report.errors)

            held = {(item.kind, item.record_key): item for item in store.queue_items(state="open")}
            table = []
            for case in CASES:
                where = expected[case.name]
                if where is None:  # odd but valid: it went through unchanged
                    names = [v["name"] for v in sandboxes.bill.vendors.values()]
                    nav_names = [row["Name"] for _, row in sandboxes.nav.vendors.iter_from(None)]
                    assert case.expect[0] in names and case.expect[0] in nav_names, case.name
                    table.append(f"{case.side:6} {case.name:55} went through")
                    continue
                item = held.get(where)
                assert item is not None, f"{case.name}: not held as {where}; held: {sorted(held)}"
                for words in case.expect:
                    assert words in item.reason, f"{case.name}: '{words}' not in the reason: {item.reason}"
                table.append(f"{case.side:6} {case.name:55} held: {item.reason[:110]}")
            print("\n" + "\n".join(table))

            # Everything else of that run went through.
            posted = {row.payment_id for row in store.payment_rows(state="posted")}
            assert set(good_payments) <= posted
            linked = {row.bill_id: row for row in store.vendor_rows(status="linked")}
            assert good_vendor in linked
            assert any(row.nav_number == good_invoice and row.bill_id for row in store.invoice_rows(state="created"))
            # The bookmark moved past the bad payments (they were read, held, and are not read as new again).
            assert store.get_bookmark("bill.payments") > payments_mark
            assert not duplicates(sandboxes)

            # A second run: nothing new to hold, nothing written twice.
            again = _run(store, sandboxes, world)
            assert again.completed, again.errors
            counts = again.flows
            assert sum(c.held + c.failed for c in counts.values()) <= len(
                [c for c in CASES if c.side == "engine"]) + 1, counts  # re-read streams may re-meet a record
            assert sum(c.created for name, c in counts.items() if name != "accounts") == 0, counts
            assert not duplicates(sandboxes)
            assert len(held) >= len([c for c in CASES if expected[c.name] is not None])

            # Corrected at the source, the record reads fine again: its hold is resolved and it goes through.
            _, nameless = expected["vendor name null"]
            vendor_id = nameless.split()[-1]
            world.corrupt("vendors", vendor_id, name="Named Again Supply")
            assert _run(store, sandboxes, world).completed
            still = {(item.kind, item.record_key) for item in store.queue_items(state="open")}
            assert expected["vendor name null"] not in still
            assert vendor_id in {row.bill_id for row in store.vendor_rows(status="linked")}
        finally:
            store.close()
            sandboxes.nav.stop()
