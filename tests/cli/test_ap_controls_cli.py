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
