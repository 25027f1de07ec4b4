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
