"""The business work the reliability tests replay: what a NAV user and a BILL user do between syncs.

A scenario is a list of steps done by hand in the two systems (post an invoice in NAV, add a vendor in
BILL, change a phone number, pay bills). The same steps, done on a fresh pair of sandboxes with one
clean sync after them, give the reference state a faulty or killed run must end in.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from app.sandbox.runner import running_sandboxes
from app.store import Store
from tests.engine.conftest import make_engine
from tests.reliability.state import full_state

# NAV invoice number → share of the bill a BILL user pays once the bill is in BILL (the demo pays three).
DEMO_PAYMENTS = {"108001": Decimal("1"), "108002": Decimal("0.5"), "108003": Decimal("1")}


def run_engine(store, sandboxes, **kwargs):
    """One sync run with fresh clients, as a re-run by the clerk would make."""
    engine = make_engine(store, sandboxes)
    try:
        return engine.run(**kwargs)
    finally:
        engine.nav.close()
        engine.bill.close()


def pay_ready_bills(sandboxes, store, targets: dict[str, Decimal]) -> list[str]:
    """Pay each target invoice's bill once it exists in BILL and is still unpaid; returns the NAV numbers."""
    paid = []
    links = {row.nav_number: row for row in store.invoice_rows(state="created")}
    for number, share in targets.items():
        link = links.get(number)
        if link is None or not link.bill_id:
            continue
        bill = sandboxes.bill.bills.get(link.bill_id)
        if bill is None or Decimal(str(bill.get("paidAmount", 0))) > 0:
            continue
        amount = (Decimal(str(bill["amount"])) * share).quantize(Decimal("0.01"))
        sandboxes.bill.pay_bill(link.bill_id, amount)
        paid.append(number)
    return paid


class Workload:
    """Steps done by users between runs, and the bills they pay."""

    def __init__(self, steps: list[Callable] | None = None, payments: dict[str, Decimal] | None = None) -> None:
        self.steps = steps or []
        self.payments = dict(DEMO_PAYMENTS if payments is None else payments)
        self.done = 0

    def next_step(self, sandboxes) -> bool:
        if self.done >= len(self.steps):
            return False
        step = self.steps[self.done]
        self.done += 1
        result = step(sandboxes)
        if isinstance(result, dict):  # a step may add invoices to pay
            self.payments.update(result)
        return True

    def remaining(self, sandboxes) -> None:
        while self.next_step(sandboxes):
            pass


def reference_state(make_workload: Callable[[], Workload], tmp_path, reasons: bool = True) -> dict[str, list[str]]:
    """The workload on fresh sandboxes without faults: all steps, a sync, the payments, a sync."""
    workload = make_workload()
    with running_sandboxes(seed="demo") as sandboxes:
        store = Store(f"sqlite:///{tmp_path / 'reference.sqlite3'}")
        try:
            workload.remaining(sandboxes)
            assert run_engine(store, sandboxes).status == "completed"
            pay_ready_bills(sandboxes, store, workload.payments)
            assert run_engine(store, sandboxes).status == "completed"
            state = full_state(sandboxes, store, reasons)
            # the reference itself is stable: one more run changes nothing
            assert run_engine(store, sandboxes).status == "completed"
            assert full_state(sandboxes, store, reasons) == state, "a fault-free rerun changed the reference state"
            return state
        finally:
            store.close()
            sandboxes.nav.stop()


def kill_test_workload(rounds: int = 12) -> Workload:
    """New work for a run that is killed: a NAV invoice, a BILL vendor and a NAV vendor edit per round."""

    def round_step(index: int) -> Callable:
        def step(sandboxes) -> dict[str, Decimal]:
            template = sandboxes.nav.invoices.get("108001")["_lines"][0]
            invoice = sandboxes.nav.post_invoice("V00010", f"REL-{index:03d}", [
                {"account": template["No"], "amount": str(Decimal(100 + index) + Decimal("0.25")),
                 "description": f"Reliability order {index}", "dimensions": {"DEPARTMENT": "PROD"}}])
            sandboxes.bill.create_vendor({"name": f"Reliability Vendor {index:03d}", "accountType": "BUSINESS",
                                          "email": f"ap{index}@reliability.example",
                                          "address": {"city": "Erie", "stateOrProvince": "PA", "country": "US"}})
            sandboxes.nav.edit_vendor("V00050", Phone_No=f"555-7{index:03d}")
            return {invoice["No"]: Decimal("1")} if index % 2 == 0 else {}
        return step

    return Workload([round_step(i) for i in range(rounds)])
