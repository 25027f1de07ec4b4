"""The daily reconciliation digest's rules (Qt-free): when it is due, what the tray says (count, the biggest
difference with vendor, documents, both numbers and the gap with its currency), and that the same drift is said
once a day, remembered in the store across restarts."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

import pytest

from app.domain.errors import ConfigurationError
from app.engine import digest as rules
from app.engine.reconcile import Difference, ReconcileReport
from app.engine.settings import EngineSettings


def _report(*gaps: str) -> ReconcileReport:
    report = ReconcileReport(nav_flavor="classic", vendors=2, invoices=3)
    for n, gap in enumerate(gaps):
        report.differences.append(Difference(
            "invoice", f"Vendor {n} (V0000{n})", f"NAV invoice 10800{n} / BILL bill 00n{n}", f"{gap} USD open",
            "0.00 USD due", "Held invoice: unmapped account 6400.", Decimal(gap), "USD"))
    return report


def test_the_time_is_hh_mm_or_off():
    assert rules.parse_time("08:00") == time(8, 0) and rules.parse_time(" 17:45 ") == time(17, 45)
    assert rules.parse_time("") is None
    for bad in ("8", "25:00", "8:5", "noon", "08:00:00"):
        with pytest.raises(ConfigurationError, match="reconcile_digest_time must be a time of day as HH:MM"):
            rules.parse_time(bad)
    assert EngineSettings().reconcile_digest_time == rules.DEFAULT_TIME  # mornings by default
    with pytest.raises(ConfigurationError):
        EngineSettings(reconcile_digest_time="8am").validate(())


def test_due_once_a_day_after_the_time():
    at = time(8, 0)
    assert not rules.is_due(datetime(2026, 12, 1, 7, 59), at, None)
    assert rules.is_due(datetime(2026, 12, 1, 8, 0), at, None)
    assert rules.is_due(datetime(2026, 12, 1, 15, 0), at, date(2026, 11, 30))  # the PC was off at 8: later
    assert not rules.is_due(datetime(2026, 12, 1, 15, 0), at, date(2026, 12, 1))  # ran today already
    assert not rules.is_due(datetime(2026, 12, 1, 15, 0), None, None)  # off


def test_the_notice_names_the_count_and_the_biggest_difference():
    assert rules.digest_for(ReconcileReport()) is None  # they agree: nothing to say
    digest = rules.digest_for(_report("12.50", "1130.50", "99.00"))
    assert digest.count == 3 and digest.title == "Reconciliation: NAV and BILL differ (3)"
    assert digest.message.startswith("3 difference(s) between NAV and BILL. The biggest: Vendor 1 (V00001), "
                                     "NAV invoice 108001 / BILL bill 00n1: NAV 1130.50 USD open; BILL 0.00 USD due "
                                     "(a difference of 1,130.50 USD).")
    assert "Held invoice: unmapped account 6400." in digest.message
    assert digest.message.endswith("Click to open the Reconciliation tab.")


def test_the_same_drift_is_said_once_a_day(store):
    monday, tuesday = date(2026, 11, 30), date(2026, 12, 1)
    drift = rules.digest_for(_report("10.00", "20.00"))
    state = rules.DigestState.load(store)
    assert state.last_day is None
    assert rules.settle(state, monday, drift) is True
    state.save(store)
    again = rules.DigestState.load(store)  # the window restarted the same day
    assert again.last_day == monday and rules.settle(again, monday, drift) is False
    other = rules.digest_for(_report("10.00", "20.00", "5.00"))
    assert rules.settle(again, monday, other) is True  # a different drift is news
    assert rules.settle(again, tuesday, other) is True  # a new day says it again
    assert rules.settle(again, tuesday, None) is False and again.last_day == tuesday


def test_the_digest_time_is_set_headless(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from app.store import open_store

    repo = Path(__file__).resolve().parents[2]
    home = tmp_path / "home"

    def settings(*pairs: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "main.py", "--home", str(home), "settings", *pairs, "--create-home"],
                              cwd=repo, capture_output=True, text=True, timeout=120)

    done = settings("reconcile_digest_time=07:30")
    assert done.returncode == 0, done.stderr
    refused = settings("reconcile_digest_time=8am")
    assert refused.returncode == 2
    assert "reconcile_digest_time must be a time of day as HH:MM" in refused.stderr and "Nothing changed" in \
        refused.stderr
    database = open_store(home=home)
    try:
        assert EngineSettings.load(database).reconcile_digest_time == "07:30"
    finally:
        database.close()
    assert settings("reconcile_digest_time=").returncode == 0  # empty: off
