"""app.engine.demo: the demo's follow-up payments run is counted into the run it follows."""

from __future__ import annotations

from app.engine.demo import add_follow_up_run
from app.engine.report import RunReport


def test_a_follow_up_run_adds_its_counts_calls_time_and_errors():
    report = RunReport(run_id=1, nav_calls=5, bill_calls=7, duration_seconds=2.0)
    report.counts("payments").created = 1
    report.counts("invoices").held = 2
    follow_up = RunReport(run_id=2, nav_calls=3, bill_calls=4, duration_seconds=0.5, errors=["BILL: slow"])
    follow_up.counts("payments").created = 3
    follow_up.counts("payments").failed = 1
    add_follow_up_run(report, follow_up)
    assert (report.counts("payments").created, report.counts("payments").failed) == (4, 1)
    assert report.counts("invoices").held == 2
    assert (report.nav_calls, report.bill_calls, report.duration_seconds) == (8, 11, 2.5)
    assert report.errors == ["BILL: slow"] and report.run_id == 1
