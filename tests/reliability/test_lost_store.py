"""The store is a cache of what NAV and BILL already say: the database deleted, zeroed, truncated or put back
from an older backup between syncs makes no duplicate, and damage is said, never papered over.

Between syncs users keep working (NAV invoices, BILL vendors, BILL payments). Then:

* deleted: the next sync starts a new store, recognises the vendors, bills and NAV payments already there by
  their natural keys (links rebuilt), and creates only the new work;
* zeroed: the store refuses the empty file with its path and the restore command; the clerk restores the
  OLDEST backup (a store that forgot a sync's work), and the next sync recognises what it forgot;
* truncated: refused with "cut short" and the path; the clerk moves it away and syncs.

After each sync neither sandbox holds a duplicate, and at the end every record is accounted for.
"""

from __future__ import annotations

import pytest

from app.cli.commands.store import restore_backup
from app.sandbox.runner import running_sandboxes
from app.store import Store, StoreError
from app.store.backup import list_backups, restore_command
from tests.reliability.scenario import kill_test_workload, pay_ready_bills, run_engine
from tests.reliability.state import duplicates, unaccounted


def _sync(path, sandboxes, workload):
    store = Store(f"sqlite:///{path}")
    try:
        report = run_engine(store, sandboxes)
        assert report.completed, report.errors
        pay_ready_bills(sandboxes, store, workload.payments)
        return report
    finally:
        store.close()


def _remove(path):
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def test_a_deleted_zeroed_truncated_or_stale_database_makes_no_duplicate(tmp_path):
    path = tmp_path / "data" / "navbill.sqlite3"
    workload = kill_test_workload(8)
    figures = []
    with running_sandboxes(seed="demo") as sandboxes:
        try:
            for _ in range(2):
                workload.next_step(sandboxes)
                _sync(path, sandboxes, workload)
            assert not duplicates(sandboxes)
            oldest = list_backups(path)[-1]

            # 1. deleted: a new store rebuilds its links from NAV and BILL.
            workload.next_step(sandboxes)
            _remove(path)
            report = _sync(path, sandboxes, workload)
            assert not duplicates(sandboxes), "deleted database: written twice"
            figures.append(f"deleted: recognised {sum(c.updated for c in report.flows.values())} record(s), "
                           f"created {sum(c.created for n, c in report.flows.items() if n != 'accounts')}")
            store = Store(f"sqlite:///{path}")
            try:
                assert store.invoice_rows(state="created"), "no bill was recognised"
                assert store.payment_rows(state="posted"), "no NAV payment was recognised"
            finally:
                store.close()
            _sync(path, sandboxes, workload)  # the payments made after it, posted once
            assert not duplicates(sandboxes)

            # 2. zeroed: refused with the path and the command that restores a backup; the oldest is restored.
            workload.next_step(sandboxes)
            path.write_bytes(b"")
            _remove(path.with_name(path.name + "-wal"))
            with pytest.raises(StoreError) as refused:
                Store(f"sqlite:///{path}")
            message = str(refused.value)
            assert "is empty (0 bytes)" in message and str(path) in message
            assert restore_command(list_backups(path)[0]) in message
            assert path.stat().st_size == 0, "the empty file was re-created over"
            print(f"\nzeroed: {message}")
            restore_backup(oldest)  # a store that forgot the syncs after it
            _sync(path, sandboxes, workload)
            assert not duplicates(sandboxes), "restored old backup: written twice"
            _sync(path, sandboxes, workload)
            assert not duplicates(sandboxes)
            figures.append("zeroed: refused, oldest backup restored, 0 duplicates")

            # 3. truncated: refused as cut short; moved away by the clerk, then a new store.
            workload.next_step(sandboxes)
            size = path.stat().st_size
            with path.open("r+b") as handle:
                handle.truncate(size // 2)
            with pytest.raises(StoreError) as refused:
                Store(f"sqlite:///{path}")
            assert "cut short" in str(refused.value) and str(path) in str(refused.value)
            print(f"truncated: {refused.value}")
            path.rename(path.with_name("navbill.sqlite3.damaged"))
            _sync(path, sandboxes, workload)
            _sync(path, sandboxes, workload)
            assert not duplicates(sandboxes), "truncated database: written twice"
            figures.append("truncated: refused, moved away, 0 duplicates")

            workload.remaining(sandboxes)
            _sync(path, sandboxes, workload)
            _sync(path, sandboxes, workload)
            assert not duplicates(sandboxes)
            store = Store(f"sqlite:///{path}")
            try:
                assert unaccounted(sandboxes, store) == []
            finally:
                store.close()
        finally:
            sandboxes.nav.stop()
    print("\n".join(figures))
