"""`navbill store init|migrate|status --url` for the administrator of a team's PostgreSQL store, run as a clerk's
administrator would: `python main.py ...` in a subprocess, checking the exit status and the sentence printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.store.migrations import LATEST_VERSION

ROOT = Path(__file__).resolve().parents[2]


def _cli(home: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NAVBILL_HOME": str(home), **(env or {})})


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    for folder in ("data", "logs", "config"):
        (home / folder).mkdir(parents=True)
    return home


def test_init_use_status_and_migrate_on_a_postgres_store(home):
    from tests.postgres import postgres_schema

    with postgres_schema() as url:
        status = _cli(home, "store", "status", "--url", url)
        assert status.returncode == 0, status.stderr
        assert "PostgreSQL team store" in status.stdout and f"schema 0 of {LATEST_VERSION}" in status.stdout
        assert "not the store this installation uses" in status.stdout

        from sqlalchemy.engine import make_url

        with_password = make_url(url).set(password="s3cret-pw").render_as_string(hide_password=False)
        refused = _cli(home, "store", "init", "--url", with_password, "--use")  # refused before anything is done...
        assert refused.returncode == 2 and "never written to disk" in refused.stderr and "pgpass" in refused.stderr
        assert "s3cret-pw" not in refused.stdout + refused.stderr  # ...but it is neither saved nor shown
        assert not (home / "config" / "store.json").exists()

        init = _cli(home, "store", "init", "--url", url, "--use")
        assert init.returncode == 0, init.stderr
        assert f"tables created (schema {LATEST_VERSION})" in init.stdout
        assert "This installation now uses the store" in init.stdout
        assert json.loads((home / "config" / "store.json").read_text())["url"] == url

        again = _cli(home, "store", "init")  # the store in use now: already there, nothing changed
        assert again.returncode == 1 and "already holds the connector's tables" in again.stderr

        status = _cli(home, "store", "status")
        assert status.returncode == 0, status.stderr
        assert "(in use by this installation)" in status.stdout and f"schema {LATEST_VERSION} of" in status.stdout
        assert "Leader: none" in status.stdout and "Sync: none running" in status.stdout

        migrate = _cli(home, "store", "migrate")
        assert migrate.returncode == 0 and "already up to date" in migrate.stdout

        backups = _cli(home, "store", "backups")  # file-only commands say so plainly
        assert backups.returncode == 1 and "not on PostgreSQL" in backups.stderr and "pg_dump" in backups.stderr


def test_a_password_in_the_url_is_never_written_and_never_printed(home):
    url = "postgresql+psycopg://navbill:s3cret-pw@127.0.0.1:1/navbill"
    refused = _cli(home, "store", "status", "--url", url)
    assert refused.returncode == 1
    assert "could not be used" in refused.stderr and "127.0.0.1" in refused.stderr
    assert "s3cret-pw" not in refused.stdout + refused.stderr
    sqlite_url = f"sqlite:///{home / 'data' / 'other.sqlite3'}"
    made = _cli(home, "store", "init", "--url", sqlite_url)
    assert made.returncode == 0 and f"tables created (schema {LATEST_VERSION})" in made.stdout
    assert not (home / "config" / "store.json").exists()  # without --use nothing changes for this installation
    assert _cli(home, "store", "status", "--url", "mysql://x@y/z").returncode == 2


def test_a_single_workstation_keeps_its_sqlite_file(home):
    status = _cli(home, "store", "status")
    assert status.returncode == 0, status.stderr
    assert f"SQLite store '{home / 'data' / 'navbill.sqlite3'}' (in use by this installation)" in status.stdout
