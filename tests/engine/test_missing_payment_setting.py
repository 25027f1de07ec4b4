"""A missing payment setting holds the payments flow only: vendors and invoices still go, and the run says why."""

from __future__ import annotations

from tests.engine.conftest import make_engine


def test_missing_balancing_account_stops_only_payments(store, sandboxes):
    engine = make_engine(store, sandboxes, balancing_account_number="")
    try:
        report = engine.run()
    finally:
        engine.nav.close()
        engine.bill.close()
    assert report.flows["vendors"].created > 0
    assert report.flows["invoices"].created > 0
    assert report.flows["payments"].created == 0
    assert any(e.startswith("payments: not run") and "balancing account" in e for e in report.errors)
    assert not any(e.startswith(("vendors", "invoices")) for e in report.errors)
