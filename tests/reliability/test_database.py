"""The database file in trouble: damaged (garbage, truncated), locked by another program, or written by an
older version of the app.

A damaged or locked database must give the clerk a sentence that says so (exit code non-zero, no Python
traceback on the console) from every headless command; an older database is copied aside before each
migration step runs, and its data survives the upgrade.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from app.setup.config import app_paths
from app.store import Store, migrations
from app.store import schema as t

ROOT = Path(__file__).resolve().parents[2]


def cli(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "main.py", "--home", str(home), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT)})


def database_with_data(home: Path) -> Path:
    """The app's database in ``home`` with a few links in it (as after some syncs)."""
    path = app_paths(home).ensure().data_dir / "navbill.sqlite3"
    store = Store(f"sqlite:///{path}")
    with store.session() as s:
        for n in range(1, 300):
            s.add(t.VendorLink(nav_number=f"V{n:05d}", bill_id=f"00902X{n:014d}", name=f"Vendor {n} " + "x" * 80,
                               status="linked"))
    store.close()
    return path


def damage(path: Path, how: str) -> None:
    if how == "garbage":
        path.write_bytes(os.urandom(1000) + b"\x00" * 3096 + os.urandom(20_000))
    elif how == "truncated":
        size = path.stat().st_size
        with path.open("r+b") as handle:
            handle.truncate(size // 2)
    elif how == "garbage header":
        data = bytearray(path.read_bytes())
        data[:100] = os.urandom(100)
        path.write_bytes(bytes(data))


def assert_clear_failure(result: subprocess.CompletedProcess, words: str) -> None:
    console = result.stdout + result.stderr
    assert result.returncode != 0, console
    assert "Traceback" not in console, f"a traceback instead of a message:\n{console[-3000:]}"
    assert words in console, console[-2000:]


HEADLESS = [("sync", "--json"), ("serve", "--run-for", "1")]


@pytest.mark.parametrize("how", ["garbage", "truncated", "garbage header"])
@pytest.mark.parametrize("command", HEADLESS, ids=lambda c: c[0])
def test_a_damaged_database_gives_a_clear_message(tmp_path, how, command):
    path = database_with_data(tmp_path / "home")
    for side in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        side.unlink(missing_ok=True)
    damage(path, how)
    result = cli(tmp_path / "home", *command)
    assert_clear_failure(result, "is damaged")
    assert str(path) in result.stdout + result.stderr  # it names the file, so the clerk can find it


@pytest.fixture
def locked_database(tmp_path):
    """Another program holds an exclusive lock on the app's database for the whole test."""
    path = database_with_data(tmp_path / "home")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE vendor_links SET name = name WHERE id = 1")  # really take the write lock
    yield tmp_path / "home"
    holder.execute("ROLLBACK")
    holder.close()


def test_a_locked_database_gives_a_clear_message(locked_database):
    """Both headless commands, one after the other, each waiting out the store's busy timeout."""
    for command in HEADLESS:
        assert_clear_failure(cli(locked_database, *command), "is locked by another program")


@pytest.mark.parametrize("trouble", ["garbage", "locked"])
def test_the_connection_test_on_a_damaged_or_locked_database_gives_a_clear_message(tmp_path, trouble):
    """`navbill check` opens the vault in the same database file: it must explain the same way."""
    path = database_with_data(tmp_path / "home")
    holder = None
    if trouble == "garbage":
        damage(path, "garbage")
    else:
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("UPDATE vendor_links SET name = name WHERE id = 1")
    try:
        result = cli(tmp_path / "home", "check", "--json")
    finally:
        if holder is not None:
            holder.close()
    assert_clear_failure(result, "damaged" if trouble == "garbage" else "locked")


# -- backups before migrations ----------------------------------------------------------------------
def old_database(path: Path, version: int = 1) -> None:
    """A database as an app at schema ``version`` left it, with a vendor link and a setting in it."""
    store = Store(f"sqlite:///{path}", migrate=False)
    store.migrate(target=version)
    assert store.schema_version() == version
    with store.session() as s:
        s.add(t.VendorLink(nav_number="V00010", bill_id="00902OLD0000000001", name="Acme Steel Supply",
                           status="linked"))
        s.add(t.Setting(key="journal_batch", value="BILL"))
    store.close()


def rows(path: Path, sql: str) -> list[tuple]:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def backups(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.endswith(".bak"))


def test_an_older_database_is_backed_up_before_the_migration_and_its_data_survives(tmp_path):
    assert migrations.LATEST_VERSION >= 2, "there is no older schema to migrate from"
    path = tmp_path / "navbill.sqlite3"
    old_database(path, version=1)
    assert backups(tmp_path) == []

    store = Store(f"sqlite:///{path}")
    try:
        assert store.schema_version() == migrations.LATEST_VERSION
        assert [(r.nav_number, r.bill_id, r.status) for r in store.vendor_rows()] == [
            ("V00010", "00902OLD0000000001", "linked")]
        assert store.get_setting("journal_batch") == "BILL"
    finally:
        store.close()

    [backup] = backups(tmp_path)
    assert backup.name.startswith("navbill.sqlite3.v1-")
    assert backup.stat().st_mode & 0o077 == 0, "the backup of financial data is readable by others"
    assert rows(backup, "SELECT max(version) FROM schema_version") == [(1,)]
    assert rows(backup, "SELECT nav_number, bill_id FROM vendor_links") == [("V00010", "00902OLD0000000001")]
    assert rows(backup, "SELECT count(*) FROM sqlite_master WHERE name = 'number_series'") == [(0,)]

    # Opened again at the same version: nothing to migrate, no new copy.
    Store(f"sqlite:///{path}").close()
    assert len(backups(tmp_path)) == 1


WRITE_AND_DIE = """
import os, sys
from app.store import Store
from app.store import schema as t
store = Store(sys.argv[1], migrate=False)
store.migrate(target=1)
with store.engine.connect() as c:
    c.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
with store.session() as s:
    s.add(t.VendorLink(nav_number="V00020", bill_id="00902WAL0000000002", name="Only In The WAL", status="linked"))
os._exit(137)  # killed before any checkpoint: the committed link lives in the -wal file only
"""


def test_an_upgrade_after_a_crash_keeps_the_data_still_in_the_write_ahead_log(tmp_path):
    path = tmp_path / "navbill.sqlite3"
    died = subprocess.run([sys.executable, "-c", WRITE_AND_DIE, f"sqlite:///{path}"], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60)
    assert died.returncode == 137, died.stderr
    assert path.with_name(path.name + "-wal").stat().st_size > 0

    store = Store(f"sqlite:///{path}")
    try:
        assert [r.nav_number for r in store.vendor_rows()] == ["V00020"]
    finally:
        store.close()
    [backup] = backups(tmp_path)
    # The backup (with its -wal copy) holds the link too: restoring it loses nothing.
    restored = tmp_path / "restored"
    restored.mkdir()
    for source in (backup, backup.with_name(backup.name + "-wal")):
        if source.exists():
            (restored / source.name.replace(backup.name, "navbill.sqlite3")).write_bytes(source.read_bytes())
    assert rows(restored / "navbill.sqlite3", "SELECT nav_number FROM vendor_links") == [("V00020",)]


def test_the_cli_backs_up_an_older_database_before_upgrading_it(tmp_path):
    home = tmp_path / "home"
    data = app_paths(home).ensure().data_dir
    old_database(data / "navbill.sqlite3", version=1)
    result = cli(home, "sync", "--json")  # no profile yet: exit 2, but the store was opened (and upgraded)
    assert "Traceback" not in result.stdout + result.stderr
    [backup] = backups(data)
    assert rows(backup, "SELECT nav_number FROM vendor_links") == [("V00010",)]
    assert rows(data / "navbill.sqlite3", "SELECT max(version) FROM schema_version") == [
        (migrations.LATEST_VERSION,)]
    assert rows(data / "navbill.sqlite3", "SELECT nav_number FROM vendor_links") == [("V00010",)]
