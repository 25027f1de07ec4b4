"""Fixtures for the push tests: push state, a real (fast-KDF) vault, a listener, a recording engine."""

from __future__ import annotations

import threading

import pytest

from app.push.state import PushState


@pytest.fixture
def push_state(tmp_path):
    return PushState(f"sqlite:///{tmp_path / 'push.sqlite3'}")


@pytest.fixture
def vault(tmp_path):
    from app.setup.vault import Vault

    return Vault.open_with_passphrase(f"sqlite:///{tmp_path / 'vault.sqlite3'}", "test-passphrase-123",
                                      scrypt_n=2**10)


class RecordingEngine:
    """Stands in for SyncEngine where a test is about push plumbing, not about what a sync writes.

    It records each call and lets a test wait for one. Tests that need a real sync use app.engine.
    """

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self._cond = threading.Condition()

    def _record(self, *call) -> None:
        with self._cond:
            self.calls.append(call)
            self._cond.notify_all()

    def run(self, flows=None, dry_run=False, progress=None, cancel=None, trigger="manual"):
        self._record("run", tuple(flows) if flows is not None else None)
        return {"flows": flows}

    def sync_nav_vendor(self, number):
        self._record("sync_nav_vendor", number)

    def sync_bill_vendor(self, vendor_id):
        self._record("sync_bill_vendor", vendor_id)

    def sync_invoice(self, number):
        self._record("sync_invoice", number)

    def sync_bill(self, bill_id):
        self._record("sync_bill", bill_id)

    def wait_for(self, predicate, timeout: float = 10.0) -> list[tuple]:
        with self._cond:
            self._cond.wait_for(lambda: any(predicate(c) for c in self.calls), timeout)
            return [c for c in self.calls if predicate(c)]


@pytest.fixture
def recording_engine():
    return RecordingEngine()
