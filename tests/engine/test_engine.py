"""The engine against the demo sandboxes over real sockets: the flows, idempotence, conflicts, dry run."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from app.store import schema as t
from tests.engine.conftest import make_engine

pytestmark = pytest.mark.both_stores  # these run on PostgreSQL too (tests/postgres.py)


def bill_vendor_names(sandboxes) -> Counter:
    return Counter(v["name"] for v in sandboxes.bill.vendors.values())


def test_first_run_links_creates_holds_and_second_run_is_quiet(engine, store, sandboxes):
    first = engine.run()
    assert first.completed, first.errors
    vendors = first.flows["vendors"]
    assert vendors.created >= 30 and vendors.held == 1  # Great Lakes Aluminium waits for the user
    # No duplicates: every BILL vendor name appears once, including the ones BILL knew before.
    assert max(bill_vendor_names(sandboxes).values()) == 1
    # BILL-only vendors became NAV vendors numbered from the series.
    assert {"Quick Print Shop", "Metro Coffee Service"} <= {r.name for r in store.vendor_rows() if
                                                            r.nav_number.startswith("VB")}
    held = {row.nav_number: row.reason for row in store.invoice_rows(state="held")}
    assert any("G/L 6400 Calibration Services has no BILL account" in reason for reason in held.values())
    assert any("vendor V00040 is not linked to BILL" in reason for reason in held.values())
    assert first.flows["invoices"].created > 30

    second = engine.run()
    assert second.completed
    assert all(c.created == 0 and c.updated == 0 for name, c in second.flows.items() if name != "accounts")
    assert second.nav_calls + second.bill_calls < 20  # a handful: one page per stream, not one per record


def test_accepting_the_proposal_and_fixing_a_mapping_release_held_invoices(engine, store, sandboxes):
    engine.run()
    store.accept_proposal("V00040")
    bill_account = next(a["id"] for a in store.reference_data()["bill_accounts"] if a["name"] == "Professional Fees")
    store.set_account_mapping("6400", bill_account)
    report = engine.run(flows=["vendors", "invoices"])
    assert report.completed
    released = {row.nav_number for row in store.invoice_rows(state="created")}
    still_held = store.invoice_rows(state="held")
    assert {"108007", "108008"} <= released
    assert not any("6400" in row.reason for row in still_held)
    assert max(bill_vendor_names(sandboxes).values()) == 1


def test_changes_flow_both_ways_and_a_double_edit_is_a_conflict(engine, store, sandboxes):
    engine.run(flows=["vendors"])
    link = next(r for r in store.vendor_rows() if r.nav_number == "V00050")
    sandboxes.nav.edit_vendor("V00050", Phone_No="555-7777", City="Ann Arbor")
    sandboxes.bill.edit_vendor(link.bill_id, {"email": "new@precision.example", "address": {"city": "Flint"}})
    report = engine.run(flows=["vendors"])
    assert report.flows["vendors"].conflicts == 1
    assert sandboxes.bill.vendors[link.bill_id]["phone"] == "555-7777"
    assert sandboxes.nav.vendors.get("V00050")["E_Mail"] == "new@precision.example"
    [conflict] = store.conflict_rows()
    assert (conflict.field, conflict.nav_value, conflict.bill_value) == ("city", "Ann Arbor", "Flint")

    store.resolve_conflict(conflict.id, "bill")
    engine.run(flows=["vendors"])
    assert sandboxes.nav.vendors.get("V00050")["City"] == "Flint"
    assert store.conflict_rows() == []
    assert engine.run(flows=["vendors"]).flows["vendors"].conflicts == 0


def test_master_on_conflict_applies_without_asking(store, sandboxes):
    engine = make_engine(store, sandboxes, master_on_conflict="nav")
    engine.run(flows=["vendors"])
    link = next(r for r in store.vendor_rows() if r.nav_number == "V00050")
    sandboxes.nav.edit_vendor("V00050", City="Ann Arbor")
    sandboxes.bill.edit_vendor(link.bill_id, {"address": {"city": "Flint"}})
    report = engine.run(flows=["vendors"])
    assert report.flows["vendors"].conflicts == 0
    assert sandboxes.bill.vendors[link.bill_id]["address"]["city"] == "Ann Arbor"


def test_paid_bills_post_payment_journal_lines_once(engine, store, sandboxes):
    engine.run()
    bills = [row for row in store.invoice_rows(state="created")][:3]
    sandboxes.bill.pay_bill(bills[0].bill_id)
    sandboxes.bill.pay_bill(bills[1].bill_id, Decimal("10.00"))  # a partial payment posts what was paid
    report = engine.run(flows=["payments"])
    assert report.completed and report.flows["payments"].created == 2
    posted = {p.nav_invoice_number: p.amount for p in store.payment_rows()}
    assert posted[bills[1].nav_number] == Decimal("10.00")
    assert posted[bills[0].nav_number] == bills[0].amount
    assert engine.run(flows=["payments"]).flows["payments"].created == 0
    for payment_id in {p.payment_id for p in store.payment_rows()}:
        assert len(engine.nav.find_payments(payment_id)) == 1  # one ledger entry per BILL payment in NAV


def test_dry_run_writes_nothing(engine, store, sandboxes):
    before = bill_vendor_names(sandboxes)
    report = engine.run(dry_run=True)
    assert report.completed and report.dry_run
    assert report.flows["vendors"].created > 0 and any(p.startswith("BILL: create vendor") for p in report.planned)
    assert bill_vendor_names(sandboxes) == before
    assert store.vendor_rows() == [] and store.invoice_rows() == []
    assert store.get_bookmark("nav.vendors") == ""
    assert store.runs()[0].dry_run


def test_cancel_stops_between_records(engine, store):
    import threading

    cancel = threading.Event()
    cancel.set()
    report = engine.run(cancel=cancel)
    assert report.status == "cancelled"


def test_wrong_credentials_stop_that_side_with_a_clear_message(store, sandboxes):
    from app.clients.bill import BillClient
    from tests.engine.conftest import fast_retry

    engine = make_engine(store, sandboxes)
    engine.bill = BillClient(sandboxes.bill_connection(password="wrong"), retry=fast_retry())
    report = engine.run()
    assert not report.completed
    assert any("BILL" in error for error in report.errors)
    with store.session() as s:
        assert s.query(t.VendorLink).count() == 0


def test_a_proposed_match_keeps_nav_fields_for_the_comparison_and_merges_after_acceptance(engine, store, sandboxes):
    from app.store.ui_queries import vendor_sides

    engine.run(flows=["vendors"])
    proposal = vendor_sides(store)["V00040"]
    assert proposal.nav_fields["city"] == "Cleveland" and proposal.nav_fields["name"] == "Great Lakes Aluminum"

    store.accept_proposal("V00040")
    report = engine.run(flows=["vendors"])
    assert report.completed
    [row] = [r for r in store.vendor_rows() if r.nav_number == "V00040"]
    assert row.status == "linked"
    assert max(bill_vendor_names(sandboxes).values()) == 1


def test_created_and_held_invoice_links_carry_the_nav_invoice_dates(engine, store, sandboxes):
    report = engine.run(flows=["vendors", "accounts", "invoices"])
    assert report.completed, report.errors
    nav_dates = {i.number: (i.posting_date, i.document_date, i.due_date) for i in engine.nav.iter_posted_invoices()}
    rows = store.invoice_rows()
    assert {r.state for r in rows} == {"created", "held"}
    assert {r.nav_number: (r.posting_date, r.document_date, r.due_date) for r in rows} == {
        r.nav_number: nav_dates[r.nav_number] for r in rows}
    assert all(r.posting_date is not None and r.due_date is not None for r in rows)


def test_hold_reasons_name_an_archived_bill_account(engine, store, sandboxes):
    engine.run(flows=["accounts", "vendors", "invoices"])
    held = " ".join(row.reason for row in store.invoice_rows(state="held"))
    # Demo BILL has 6140 Waste Disposal archived: say so rather than only "no BILL account".
    assert "G/L 6140 Waste Disposal has no BILL account (BILL's account 6140 Waste Disposal is archived)" in held

    fees = next(a["id"] for a in store.reference_data()["bill_accounts"] if a["name"] == "Professional Fees")
    store.set_account_mapping("6400", fees)  # the clerk maps Calibration Services to Professional Fees...
    sandboxes.bill.classifications["chart-of-accounts"][fees]["archived"] = True  # ...then BILL archives it
    engine.run(flows=["accounts", "invoices"])
    held = " ".join(row.reason for row in store.invoice_rows(state="held"))
    assert "is mapped to BILL account 6300 Professional Fees, which is archived" in held


def test_purchase_orders_never_become_bills(engine, sandboxes):
    from app.sandbox import demo_data

    report = engine.run()
    assert report.completed and report.flows["invoices"].created > 0
    order_numbers = {number for number, _, _ in demo_data.demo_purchase_orders()}
    in_bill = {b["invoice"]["invoiceNumber"] for b in sandboxes.bill.bills.values()}
    descriptions = " ".join(b.get("description", "") for b in sandboxes.bill.bills.values())
    assert order_numbers and not any(number in in_bill or number in descriptions for number in order_numbers)
    assert len(sandboxes.bill.bills) == report.flows["invoices"].created  # bills come from posted invoices only


def test_linking_never_clears_bills_1099_tracking_on_a_nav_without_the_code_a_person_decides(engine, store,
                                                                                               sandboxes):
    """NAV is the vendor master when a link is made, but an empty IRS 1099 Code is not an answer: a NAV outside the
    US, or Business Central after 1099 moved to the IRS Forms app, reads it empty whatever is true. BILL keeps its
    1099 tracking until a person chooses, and the choice is applied."""
    from app.store.ui_queries import vendor_sides

    engine.run(flows=["vendors"])
    bill_id = vendor_sides(store)["V00040"].bill_id
    sandboxes.bill.edit_vendor(bill_id, {"additionalInfo": {"track1099": True}})
    assert not sandboxes.nav.vendors.get("V00040").get("IRS_1099_Code")
    store.accept_proposal("V00040")
    report = engine.run(flows=["vendors"])
    assert report.completed and report.flows["vendors"].conflicts == 1
    assert sandboxes.bill.vendors[bill_id]["additionalInfo"]["track1099"] is True
    [conflict] = store.conflict_rows()
    assert (conflict.field, conflict.nav_value, conflict.bill_value) == ("is_1099", False, True)
    assert engine.run(flows=["vendors"]).flows["vendors"].conflicts == 0  # asked once, not again each run
    assert sandboxes.bill.vendors[bill_id]["additionalInfo"]["track1099"] is True

    store.resolve_conflict(conflict.id, "nav")  # the controller checked: not a 1099 vendor
    engine.run(flows=["vendors"])
    assert sandboxes.bill.vendors[bill_id]["additionalInfo"]["track1099"] is False
    assert store.conflict_rows() == []


def test_a_business_central_without_1099_codes_clears_no_bill_1099_flag_and_says_when_a_choice_cannot_be_kept(
        store, sandboxes, caplog):
    """Business Central's irs1099Code reads empty and drops what is written where the Vendor table has no IRS 1099
    Code (outside the US; after 1099 moved to the IRS Forms app). A first sync links the demo's 1099 vendors by name:
    BILL keeps tracking them, each is a choice for a person; choosing BILL's says NAV did not keep it, once."""
    assert sandboxes.nav_flavor == "bc"
    sandboxes.nav.api.vendor_1099_field = False
    tracked = {vid for vid, v in sandboxes.bill.vendors.items() if v["name"] in ("Acme Steel Supply",
                                                                                   "Carolina Freight Lines")}
    for vendor_id in tracked:  # BILL tracks them for 1099; the first sync links them to NAV's by name and tax ID
        sandboxes.bill.edit_vendor(vendor_id, {"additionalInfo": {"track1099": True}})
    engine = make_engine(store, sandboxes)
    engine.run(flows=["vendors"])
    assert all(sandboxes.bill.vendors[vid]["additionalInfo"]["track1099"] for vid in tracked)
    conflicts = [c for c in store.conflict_rows() if c.field == "is_1099"]
    assert {c.bill_id for c in conflicts} == tracked
    assert all((c.nav_value, c.bill_value) == (False, True) for c in conflicts)

    for conflict in conflicts:
        store.resolve_conflict(conflict.id, "bill")
    engine.run(flows=["vendors"])
    kept_none = [r.getMessage() for r in caplog.records if "kept no IRS 1099 Code" in r.getMessage()]
    assert len(kept_none) == len(tracked), kept_none
    assert "NAV vendor V00010 (Acme Steel Supply) kept no IRS 1099 Code" in " ".join(kept_none)
    assert "Business Central 25 and later, which keeps them in the IRS Forms app" in kept_none[0]
    assert store.conflict_rows() == []
    caplog.clear()
    report = engine.run(flows=["vendors"])
    assert report.flows["vendors"].conflicts == 0 and report.flows["vendors"].updated == 0
    assert not any("kept no IRS 1099 Code" in r.getMessage() for r in caplog.records)
    assert all(sandboxes.bill.vendors[vid]["additionalInfo"]["track1099"] for vid in tracked)


def test_a_nav_that_stops_keeping_1099_codes_after_the_link_clears_no_bill_flag(store, sandboxes):
    """A linked 1099 vendor, tracked on both sides; then Business Central moves 1099 to the IRS Forms app and its API
    reads every code empty. The next change to that vendor in NAV must not take BILL's 1099 tracking with it."""
    engine = make_engine(store, sandboxes)
    engine.run(flows=["vendors"])
    bill_id = next(r.bill_id for r in store.vendor_rows() if r.nav_number == "V00060")
    sandboxes.nav.edit_vendor("V00060", IRS_1099_Code="MISC-07")
    engine.run(flows=["vendors"])
    assert sandboxes.bill.vendors[bill_id]["additionalInfo"]["track1099"] is True

    sandboxes.nav.api.vendor_1099_field = False  # the upgrade
    sandboxes.nav.edit_vendor("V00060", Phone_No="555-0160")
    report = engine.run(flows=["vendors"])
    assert sandboxes.bill.vendors[bill_id]["phone"] == "555-0160"  # the real change still goes through
    assert sandboxes.bill.vendors[bill_id]["additionalInfo"]["track1099"] is True
    assert report.flows["vendors"].conflicts == 1
    [conflict] = store.conflict_rows()
    assert (conflict.record_key, conflict.field, conflict.nav_value, conflict.bill_value) == (
        "V00060", "is_1099", False, True)


@pytest.mark.parametrize("policy", ["nav", "bill"])
def test_a_conflict_policy_never_decides_to_clear_bills_1099_tracking(store, sandboxes, policy):
    """"NAV wins" would clear BILL's 1099 tracking of every vendor a NAV without 1099 codes links; "BILL wins" would
    write a guessed 1099 box into NAV. Whatever the policy, this one waits for a person."""
    from app.store.ui_queries import vendor_sides

    engine = make_engine(store, sandboxes, master_on_conflict=policy)
    engine.run(flows=["vendors"])
    bill_id = vendor_sides(store)["V00040"].bill_id
    sandboxes.bill.edit_vendor(bill_id, {"additionalInfo": {"track1099": True}})
    store.accept_proposal("V00040")
    assert engine.run(flows=["vendors"]).flows["vendors"].conflicts == 1
    assert sandboxes.bill.vendors[bill_id]["additionalInfo"]["track1099"] is True
    assert not sandboxes.nav.vendors.get("V00040").get("IRS_1099_Code")
    assert [c.field for c in store.conflict_rows()] == ["is_1099"]


def test_blocking_tax_id_and_1099_reach_bill_and_unblocking_restores(engine, store, sandboxes):
    engine.run(flows=["vendors"])
    bill_id = next(r.bill_id for r in store.vendor_rows() if r.nav_number == "V00060")
    # Business Central's API v2.0 shows the VAT Registration No. as taxRegistrationNumber; a US NAV's Vendor Card
    # page shows the Federal ID No.
    tax_field = "VAT_Registration_No" if sandboxes.nav_flavor == "bc" else "Federal_ID_No"
    sandboxes.nav.edit_vendor("V00060", Blocked="All", IRS_1099_Code="MISC-07", **{tax_field: "98-7654321"})
    engine.run(flows=["vendors"])
    vendor = sandboxes.bill.vendors[bill_id]
    assert vendor["archived"] is True  # NAV Blocked = BILL archived
    assert vendor["additionalInfo"]["taxId"] == "98-7654321" and vendor["additionalInfo"]["track1099"] is True

    sandboxes.nav.edit_vendor("V00060", Blocked=" ")
    engine.run(flows=["vendors"])
    assert sandboxes.bill.vendors[bill_id]["archived"] is False  # restored in BILL


def test_a_webhook_about_nothing_new_leaves_no_run_behind_but_a_real_change_does(engine, store, sandboxes):
    engine.run(flows=["vendors"])
    runs_before = len(store.runs(limit=1000))
    echo = engine.sync_nav_vendor("V00050")  # e.g. the notification for our own write: nothing to change
    assert echo.completed and echo.run_id is None
    assert len(store.runs(limit=1000)) == runs_before

    sandboxes.nav.edit_vendor("V00050", Phone_No="555-4242")
    change = engine.sync_nav_vendor("V00050")
    assert change.completed and change.run_id is not None
    assert len(store.runs(limit=1000)) == runs_before + 1
    bill_id = next(r.bill_id for r in store.vendor_rows() if r.nav_number == "V00050")
    assert sandboxes.bill.vendors[bill_id]["phone"] == "555-4242"


def test_a_list_that_keeps_failing_interrupts_its_flow_only_and_the_next_run_finishes(engine, store, sandboxes):
    from app.sandbox.base import Response

    bill = sandboxes.bill
    original = bill.dispatch

    def locations_down(request):  # BILL's locations list answers 503 however often it is asked
        if "/classifications/locations" in request.path:
            return Response(503, [{"code": "BDC_1001", "severity": "ERROR", "category": "SERVER",
                                   "message": "Service unavailable", "timestamp": "2026-11-30T00:00:00.000+00:00"}])
        return original(request)

    bill.dispatch = locations_down
    report = engine.run()
    assert report.status == "completed" and not report.completed  # it ran every flow, with an error to show
    assert any(e.startswith("accounts:") and "next run tries again" in e for e in report.errors), report.errors
    assert not any("Unexpected error" in e for e in report.errors)
    assert report.flows["vendors"].created > 0  # the other flows still ran...
    assert report.flows["invoices"].held > 0  # ...and invoices wait, with a reason, for the account mappings

    bill.dispatch = original
    again = engine.run(flows=["accounts", "invoices"])
    assert again.completed, again.errors
    assert again.flows["invoices"].created > 0


def test_a_webhook_for_an_invoice_that_already_has_its_bill_makes_no_second_one(engine, store, sandboxes):
    """Business Central notifies a posted invoice again when it is paid or its status changes."""
    engine.run()
    billed = store.invoice_rows(state="created")[0]
    before = len(sandboxes.bill.bills)
    again = engine.sync_invoice(billed.nav_number)
    assert again.completed and len(sandboxes.bill.bills) == before
    assert [row.bill_id for row in store.invoice_rows(state="created") if row.nav_number == billed.nav_number] == [
        billed.bill_id]


def test_a_webhook_sync_after_a_conflict_leaves_the_field_alone_until_a_person_decides(engine, store, sandboxes):
    """A targeted sync reads one side only; the field in conflict must not be written over meanwhile."""
    engine.run(flows=["vendors"])
    link = next(r for r in store.vendor_rows() if r.nav_number == "V00050")
    sandboxes.nav.edit_vendor("V00050", City="Ann Arbor")
    sandboxes.bill.edit_vendor(link.bill_id, {"address": {"city": "Flint"}})
    assert engine.run(flows=["vendors"]).flows["vendors"].conflicts == 1
    sandboxes.nav.edit_vendor("V00050", City="Ann Arbor West")  # NAV changes it again; its webhook arrives
    engine.sync_nav_vendor("V00050")
    engine.run(flows=["vendors"])
    assert sandboxes.bill.vendors[link.bill_id]["address"]["city"] == "Flint"  # BILL's value stands
    assert sandboxes.nav.vendors.get("V00050")["City"] == "Ann Arbor West"  # and NAV's
    [conflict] = store.conflict_rows()
    assert conflict.field == "city"
    store.resolve_conflict(conflict.id, "nav")
    engine.run(flows=["vendors"])
    assert sandboxes.bill.vendors[link.bill_id]["address"]["city"] == "Ann Arbor West"
    assert store.conflict_rows() == []


def test_a_vendor_this_run_created_and_someone_changed_in_bill_before_the_read_back_reaches_nav(
        engine, store, sandboxes):
    """The read-back after creating BILL vendors passes over this run's own creates coming back unchanged, but
    one a person edited in BILL in the meantime is a change like any other: it reaches NAV."""
    read = engine.bill.iter_vendors
    edited: list[str] = []

    def read_back_after_an_edit(updated_since=None, **options):
        created = sorted(engine._vendors_new_this_run)
        if updated_since is not None and created and not edited:  # the read-back: the vendors are in BILL
            edited.append(created[0])
            sandboxes.bill.edit_vendor(created[0], {"email": "ap@changed-in-bill.example"})
        return read(updated_since=updated_since, **options)

    engine.bill.iter_vendors = read_back_after_an_edit
    assert engine.run(flows=["vendors"]).completed
    assert edited, "the run read no vendors back"
    link = next(r for r in store.vendor_rows() if r.bill_id == edited[0])
    assert sandboxes.nav.vendors.get(link.nav_number)["E_Mail"] == "ap@changed-in-bill.example"
