"""One writer per company, damage never silent, rolling backups and restore (app/store/lock.py, integrity.py,
backup.py), on real files and real processes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from app.engine import SyncEngine
from app.store import Store, StoreError
from app.store import schema as t
from app.store.backup import list_backups, restore_command
from app.store.integrity import check_database, quick_check
from app.store.lock import FileRunLock, RunBusyError
from app.store.restore import restore

ROOT = Path(__file__).resolve().parents[2]

HOLD_THE_LOCK = """
import sys, time
from app.store import Store
with Store(sys.argv[1], migrate=False).run_lock().hold("schedule", wait=0):
    print("holding", flush=True)
    time.sleep(60)
"""


def hold_in_other_process(database: Path | str) -> subprocess.Popen:
    url = database if isinstance(database, str) else f"sqlite:///{database}"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_THE_LOCK, url], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT),
                                                           "NAVBILL_PROCESS_ROLE": "serve"})
    assert holder.stdout.readline().strip() == "holding"
    return holder


class _NoClient:
    call_count = 0

    def __getattr__(self, name):
        raise AssertionError(f"a busy run must not call the clients ({name})")


@pytest.mark.both_stores
def test_a_second_process_waits_briefly_then_says_who_is_running(store_url):
    store = Store(store_url)  # SQLite: a file lock; PostgreSQL: an advisory lock on the holder's connection
    holder = hold_in_other_process(store_url)
    try:
        engine = SyncEngine(store, _NoClient(), _NoClient(), lock_wait=0.5)
        started = time.monotonic()
        report = engine.run(trigger="cli")
        waited = time.monotonic() - started
        assert report.busy and not report.completed
        assert 0.4 <= waited < 5
        [message] = report.errors
        assert message.startswith("A sync is already running (started ")
        assert "by serve" in message and f"(schedule), pid {holder.pid})" in message, message
        with store.session() as s:  # nothing was written: no run row for the run that did not start
            assert s.query(t.Run).count() == 0
        # A webhook's targeted run gets the same answer.
        assert engine.sync_invoice("109104").busy
    finally:
        holder.kill()
        holder.wait()
        store.close()


@pytest.mark.both_stores
def test_a_killed_holder_leaves_no_stale_lock(store_url):
    store = Store(store_url)
    holder = hold_in_other_process(store_url)
    try:
        with pytest.raises(RunBusyError):
            with store.run_lock().hold("cli", wait=0):
                pass
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        with store.run_lock().hold("cli", wait=5):
            pass
    finally:
        store.close()


def test_two_engines_in_one_process_exclude_each_other(tmp_path):
    """The window's Sync now and serve's worker may live in one process on two Store objects."""
    database = tmp_path / "navbill.sqlite3"
    first, second = FileRunLock(database), FileRunLock(database)
    inside = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with first.hold("window", wait=0):
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert inside.wait(5)
        with pytest.raises(RunBusyError, match=r"started \d\d:\d\d by .*pid"):
            with second.hold("cli", wait=0.2):
                pass
    finally:
        release.set()
        thread.join()
    with second.hold("cli", wait=0.2):  # free again
        pass


# -- damage is never silent -------------------------------------------------------------------------------
def store_with_a_link(path: Path) -> None:
    store = Store(f"sqlite:///{path}")
    with store.session() as s:
        for n in range(200):
            s.add(t.VendorLink(nav_number=f"V{n:05d}", bill_id=f"009X{n:014d}", name="Vendor " + "x" * 200,
                               status="linked"))
    store.close()


@pytest.mark.parametrize("how", ["zeroed", "truncated", "foreign", "text"])
def test_a_damaged_or_foreign_file_is_refused_and_left_as_it_was(tmp_path, how):
    path = tmp_path / "navbill.sqlite3"
    if how == "foreign":
        with sqlite3.connect(path) as other:
            other.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, caption TEXT)")
            other.execute("INSERT INTO photos (caption) VALUES ('holiday')")
    else:
        store_with_a_link(path)
        if how == "zeroed":
            path.write_bytes(b"")
        elif how == "truncated":
            with path.open("r+b") as handle:
                handle.truncate(path.stat().st_size // 3)
        else:
            path.write_text("these are my notes, not a database\n" * 50)
    before = path.read_bytes()
    with pytest.raises(StoreError) as refused:
        Store(f"sqlite:///{path}")
    message = str(refused.value)
    assert str(path) in message
    expected = {"zeroed": "is empty (0 bytes)", "truncated": "was cut short", "foreign": "another program",
                "text": "is damaged"}[how]
    assert expected in message, message
    assert "Move the file away" in message or "move this one away" in message
    assert path.read_bytes() == before, "the refused file was changed"


def test_the_damaged_message_points_at_a_backup_that_exists(tmp_path):
    path = tmp_path / "navbill.sqlite3"
    store_with_a_link(path)
    store = Store(f"sqlite:///{path}")
    backup = store.backup()
    store.close()
    path.write_bytes(b"")
    with pytest.raises(StoreError) as refused:
        Store(f"sqlite:///{path}")
    assert restore_command(backup) in str(refused.value)
    assert ".bak files next to it" not in str(refused.value)


def test_quick_check_finds_damage_in_the_middle_of_the_file(tmp_path):
    path = tmp_path / "navbill.sqlite3"
    store_with_a_link(path)
    assert quick_check(path) == []
    assert check_database(path)[0]
    size = path.stat().st_size
    with path.open("r+b") as handle:  # scribble over pages in the middle; the header stays whole
        handle.seek(size // 2)
        handle.write(os.urandom(8192))
    assert quick_check(path), "a file damaged in the middle passed PRAGMA quick_check"
    ok, line = check_database(path)
    assert not ok and str(path) in line and "damaged" in line


# -- rolling backups and restore -----------------------------------------------------------------------
def test_backups_roll_and_one_restores_with_the_printed_command(tmp_path):
    path = tmp_path / "data" / "navbill.sqlite3"
    store = Store(f"sqlite:///{path}")
    made = []
    for n in range(5):
        with store.session() as s:
            s.add(t.Setting(key=f"k{n}", value=n))
        made.append(store.backup(keep=3, spacing=timedelta(0)))
    store.close()
    kept = list_backups(path)
    assert kept == sorted(made[-3:], reverse=True)
    assert all(p.stat().st_mode & 0o077 == 0 for p in kept)
    assert all(quick_check(p) == [] for p in kept)

    path.write_bytes(b"")  # the clerk's disaster
    command = restore_command(kept[-1])
    assert command.startswith("python main.py store restore ")
    result = subprocess.run(command.replace("python", sys.executable, 1), shell=True,
                            cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "restored" in result.stdout
    store = Store(f"sqlite:///{path}")
    try:
        assert store.get_setting("k2") == 2 and store.get_setting("k3") is None  # the oldest kept: after run 3
    finally:
        store.close()
    assert any(p.name.startswith("navbill.sqlite3.replaced-") for p in path.parent.iterdir())


def test_frequent_runs_keep_hourly_history_and_a_fresh_newest_copy(tmp_path):
    path = tmp_path / "navbill.sqlite3"
    store = Store(f"sqlite:///{path}")
    try:
        for _ in range(6):  # six runs within a second: the first and the last copy stay
            store.backup()
        kept = list_backups(path)
        assert len(kept) == 2
        store.backup(spacing=timedelta(0))
        assert len(list_backups(path)) == 3
    finally:
        store.close()


def test_a_damaged_backup_is_not_restored(tmp_path):
    path = tmp_path / "navbill.sqlite3"
    store_with_a_link(path)
    bad = tmp_path / "bad.bak"
    bad.write_bytes(b"SQLite format 3\x00" + os.urandom(5000))
    with pytest.raises(Exception, match="damaged too"):
        restore(path, bad)
    assert Store(f"sqlite:///{path}").vendor_rows()  # untouched


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "main.py", "--home", str(home), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_the_commands_refuse_an_emptied_database_and_store_check_runs_quick_check(tmp_path):
    home = tmp_path / "home"
    database = home / "data" / "navbill.sqlite3"
    database.parent.mkdir(parents=True)
    store_with_a_link(database)
    assert _cli(home, "store", "backups").stdout.startswith("No backups of ")
    ok = _cli(home, "store", "check")
    assert ok.returncode == 0 and "intact (PRAGMA quick_check ok)" in ok.stdout

    database.write_bytes(b"")
    result = _cli(home, "sync", "--json")
    console = result.stdout + result.stderr
    assert result.returncode == 2 and "Traceback" not in console
    assert "is damaged: it is empty (0 bytes)" in console and str(database) in console
    assert database.stat().st_size == 0
    checked = _cli(home, "store", "check")
    assert checked.returncode == 1 and "is empty (0 bytes)" in checked.stdout


def test_a_team_store_lock_is_released_by_the_key_it_was_taken_with():
    """The company is recorded in a team store while a run holds its lock (the first sync of a profile): the
    lock is still given back, and the next holder (any process, keyed by the recorded company) gets it."""
    from tests.postgres import postgres_schema

    with postgres_schema() as url:
        first, second = Store(url), Store(url)
        try:
            keys = [first.run_lock().key()]
            with first.run_lock().hold("cli", wait=0):
                first.set_scope("CRONUS Fabrication", "00802DEMOCRONUSFAB01")  # the key changes from here on
            keys.append(first.run_lock().key())
            assert keys[0] != keys[1]
            with second.run_lock().hold("cli", wait=0):
                assert first.run_lock().holder() is not None  # both derive the same key now
                with pytest.raises(RunBusyError):
                    with first.run_lock().hold("cli", wait=0):
                        pass
            with first.engine.connect() as connection:  # nothing is left held on a pooled connection
                from sqlalchemy import text

                # Only this test's two keys: the server is shared with the other tests (whose processes or
                # connections may still be closing), so every advisory lock on it is not this test's to count.
                held = connection.execute(text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 AND "
                    "((classid::bigint = :c0 AND objid::bigint = :o0) OR (classid::bigint = :c1 AND objid::bigint = :o1))"),
                    {"c0": (keys[0] >> 32) & 0xFFFFFFFF, "o0": keys[0] & 0xFFFFFFFF,
                     "c1": (keys[1] >> 32) & 0xFFFFFFFF, "o1": keys[1] & 0xFFFFFFFF}).scalar()
            assert held == 0
        finally:
            first.close()
            second.close()
