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


def test_status_on_a_fresh_install_says_there_is_no_store_yet_and_creates_none(home):
    database = home / "data" / "navbill.sqlite3"
    database.unlink(missing_ok=True)
    status = _cli(home, "store", "status")
    assert status.returncode == 0, status.stderr
    assert f"SQLite store '{database}' (in use by this installation) does not exist yet" in status.stdout
    assert not database.exists()


def test_init_copy_moves_this_workstations_store_into_the_team_store(home):
    """The first PC of a team: its SQLite store's links and history go into the new team store, whose counters
    then continue past the copied ids; a second copy into a store that holds data is refused."""
    from decimal import Decimal

    from app.store import Store
    from app.store import schema as t
    from tests.postgres import postgres_schema

    local = Store(f"sqlite:///{home / 'data' / 'navbill.sqlite3'}")
    try:
        with local.session() as s:
            s.add(t.VendorLink(nav_number="V00010", bill_id="009a", status="linked", name="Fabrikam"))
            s.add(t.InvoiceLink(nav_number="108001", vendor_number="V00010", state="created", bill_id="00n1",
                                amount=Decimal("1130.10")))
            s.add_all([t.AuditEntry(system="engine", action="link", record=f"vendor V000{n}") for n in range(3)])
    finally:
        local.close()
    with postgres_schema() as url:
        copied = _cli(home, "store", "init", "--url", url, "--copy", "--use")
        assert copied.returncode == 0, copied.stderr
        assert "Copied from" in copied.stdout and "vendor_links 1" in copied.stdout
        assert "audit_log 3" in copied.stdout and "profile secret" in copied.stdout
        team = Store(url)
        try:
            [invoice] = team.invoice_rows()
            assert (invoice.nav_number, invoice.amount) == ("108001", Decimal("1130.10"))
            assert [row.nav_number for row in team.vendor_rows()] == ["V00010"]
            with team.session() as s:  # new rows continue after the copied ids
                entry = t.AuditEntry(system="engine", action="link", record="vendor V00040")
                s.add(entry)
                s.flush()
                assert entry.id == 4
        finally:
            team.close()
        same = _cli(home, "store", "init", "--url", url, "--copy")  # this installation uses it now
        assert same.returncode == 2 and "this is that store" in same.stderr
        other = home.parent / "second-pc"
        for folder in ("data", "logs", "config"):
            (other / folder).mkdir(parents=True)
        Store(f"sqlite:///{other / 'data' / 'navbill.sqlite3'}").close()
        again = _cli(other, "store", "init", "--url", url, "--copy")  # a second PC must join, not copy
        assert again.returncode == 1 and "already holds data" in again.stderr, again.stderr
