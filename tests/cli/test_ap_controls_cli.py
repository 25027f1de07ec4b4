"""The AP controls' headless surface: `python main.py settings` for the closed-period and bank-change settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "--home", str(home), *args], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)


def test_closed_period_action_is_a_setting_with_allowed_values(tmp_path):
    home = tmp_path / "home"
    done = run("settings", "closed_period_action=first_open_date", home=home)
    assert done.returncode == 0, done.stderr
    assert "closed_period_action = first_open_date" in done.stdout
    bad = run("settings", "closed_period_action=later", home=home)
    assert bad.returncode == 2 and "closed_period_action takes one of hold, first_open_date" in bad.stderr
    assert "Nothing changed" in bad.stderr
    shown = run("settings", home=home)
    assert "closed_period_action = first_open_date" in shown.stdout
    assert "first allowed date" in run("settings", "--help", home=home).stdout


def test_reconcile_demo_lists_differences_exits_1_and_writes_csv(tmp_path):
    import csv
    import json

    home, out = tmp_path / "home", tmp_path / "differences.csv"
    done = run("reconcile", "--demo", "--nav-flavor", "classic", "--json", "--csv", str(out), home=home)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "held" and report["exit_code"] == 1 and report["nav_flavor"] == "classic"
    causes = [d["cause"] for d in report["differences"]]
    assert any(c.startswith("Held invoice: ") for c in causes)
    assert any("Waiting in the journal batch" in c for c in causes)
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == len(report["differences"]) and rows[0]["nav"] and rows[0]["bill"]

    text = run("reconcile", "--demo", "--nav-flavor", "bc", home=home)
    assert text.returncode == 1 and "difference(s):" in text.stdout
    assert "compared by status (Open / Paid) only" in text.stdout


def test_reconcile_without_a_profile_or_with_a_bad_csv_folder_exits_2(tmp_path):
    home = tmp_path / "home"
    assert run("settings", "--create-home", home=home).returncode == 0
    none = run("reconcile", home=home)
    assert none.returncode == 2 and "No connection profile is set up" in none.stderr
    bad = run("reconcile", "--csv", str(tmp_path / "missing" / "x.csv"), home=home)
    assert bad.returncode == 2 and "does not exist" in bad.stderr


def test_bank_changes_are_listed_and_confirmed_headlessly(tmp_path):
    import json

    from app.setup.config import app_paths
    from app.store import open_store
    from app.store import schema as t

    home = tmp_path / "home"
    assert run("settings", "--create-home", home=home).returncode == 0
    assert run("bank-changes", home=home).returncode == 0  # none yet
    store = open_store(app_paths(str(home)).database_url)
    try:
        with store.session() as s:
            s.add(t.QueueItem(kind="bank_change", record_key="00901ACME:abc:electronic (ACH)",
                              reason="BILL vendor Acme Steel Supply (00901ACME, NAV vendor V00010): a bank account was "
                                     "added in BILL on 2026-11-02 10:00 UTC (BILL does not say by whom)."))
    finally:
        store.close()
    listed = run("bank-changes", "--json", home=home)
    assert listed.returncode == 1 and json.loads(listed.stdout)["changes"][0]["vendor"] == "00901ACME"
    assert "Acme Steel Supply" in run("bank-changes", home=home).stdout
    no_note = run("bank-changes", "confirm", "00901ACME", home=home)
    assert no_note.returncode == 2 and "--note" in no_note.stderr
    wrong = run("bank-changes", "confirm", "00901OTHER", "--note", "called", home=home)
    assert wrong.returncode == 2 and "no unconfirmed bank-detail change for BILL vendor 00901OTHER" in wrong.stderr
    done = run("bank-changes", "confirm", "00901ACME", "--note", "called the controller", home=home)
    assert done.returncode == 0 and "Confirmed 1 bank-detail change(s)" in done.stdout
    assert run("bank-changes", home=home).returncode == 0
    store = open_store(app_paths(str(home)).database_url)
    try:
        [item] = store.queue_items(state="skipped", kind="bank_change")
        assert "called the controller" in item.note
    finally:
        store.close()
