"""`navbill serve`: settings parsing, and the demo command end to end in a child process."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from app.push.service import settings_from

ROOT = Path(__file__).resolve().parents[2]


def test_settings_from_the_store_and_the_command_line():
    settings = settings_from({"listen": "0.0.0.0:9100", "poll_minutes": 2, "schedule": "daily 07:15",
                              "public_url": "https://hooks.example.com", "push_enabled": False}, "")
    assert (settings.listen_host, settings.listen_port) == ("0.0.0.0", 9100)
    assert settings.poll_interval == timedelta(minutes=2) and not settings.push_enabled
    assert settings.schedule.describe() == "daily at 07:15"
    assert settings_from({"listen": "0.0.0.0:9100"}, "127.0.0.1:9200").listen_port == 9200
    with pytest.raises(ValueError):
        settings_from({}, "host:notaport")


def test_serve_demo_runs_the_scheduler_and_listener_and_stops_cleanly(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "--home", str(tmp_path), "serve", "--demo", "--listen",
         "127.0.0.1:0", "--run-for", "3"],
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "Listening on http://127.0.0.1:" in out
    assert "NAV: push" in out and "BILL: push" in out
    # On a slow machine the first run may still be going at the deadline: then it is cancelled, cleanly.
    assert "run: all flows (startup):" in out
    assert "Stopped. Runs: 1" in out
    assert "demo-bill-password" not in out + result.stderr and "demo-ws-key" not in out + result.stderr
