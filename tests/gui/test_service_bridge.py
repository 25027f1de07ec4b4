"""The window driven by the Qt-free scheduler and push status through ServiceBridge (queued signals)."""

from __future__ import annotations

import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest

from app.engine.report import PlannedWrite, RunReport
from app.push.scheduler import Schedule, SyncScheduler
from app.push.status import Mode, PushStatus
from app.ui.service_bridge import ServiceBridge, progress_triple


def test_progress_shapes():
    assert progress_triple("vendors", 12, "NAV vendors read") == ("vendors: NAV vendors read (12)", 0, 0)
    assert progress_triple("reading", 3, 10) == ("reading", 3, 10)
    assert progress_triple(message="x", done=1, total=2) == ("x", 1, 2)


@pytest.fixture
def service():
    def run(request, progress, cancel):
        progress("vendors", 5, "NAV vendors read")
        report = RunReport(run_id=1)
        report.counts("vendors").created = 2
        return report

    scheduler = SyncScheduler(run)
    status = PushStatus()
    fake = SimpleNamespace(scheduler=scheduler, status=status, sync_now=scheduler.sync_now,
                           set_schedule=scheduler.set_schedule, poll=lambda: "",
                           settings=SimpleNamespace(poll_interval=timedelta(minutes=5)))
    scheduler.start()
    yield fake
    scheduler.stop(10)


def test_sync_now_runs_on_the_service_and_reports_back(qtbot, window, service):
    bridge = ServiceBridge(service, window)
    window.attach_service(bridge)
    with qtbot.waitSignal(window.sync_finished, timeout=10_000) as finished:
        assert window.start_sync()
    outcome = finished.args[0]
    assert outcome.ok and "vendors: 2 created" in outcome.summary
    assert window.sync_action.isEnabled()


def test_push_status_reaches_the_status_bar(qtbot, window, service):
    bridge = ServiceBridge(service, window)
    window.attach_service(bridge)
    with qtbot.waitSignal(bridge.push_status_changed, timeout=10_000):
        service.status.set_side("nav", Mode.PUSH, "")
    qtbot.waitUntil(lambda: window.nav_mode_label.text() == "NAV: push")
    with qtbot.waitSignal(bridge.push_status_changed, timeout=10_000):
        service.status.set_side("bill", Mode.POLLING, "BILL's test event did not arrive")
    qtbot.waitUntil(lambda: window.bill_mode_label.text() == "BILL: polling")
    assert "test event" in window.bill_mode_label.toolTip()


def test_pause_sets_a_manual_schedule_and_resume_restores_it(window, service):
    bridge = ServiceBridge(service, window)
    window.attach_service(bridge)
    before = service.scheduler.schedule
    window.set_paused(True)
    assert service.scheduler.schedule.mode == "manual"
    window.set_paused(False)
    assert service.scheduler.schedule == before


WAIT = 10  # seconds a gated run waits for the test before giving up (never a speed check)


class GatedService:
    """A service whose runs wait for the test to release them (or for cancel), and an engine whose dry
    runs record whether anything else was running beside them."""

    def __init__(self) -> None:
        self.release_run = threading.Event()
        self.preview_waits_for_cancel = False
        self.log: list[str] = []
        self._active = 0
        self.max_active = 0
        self._lock = threading.Lock()
        self.scheduler = SyncScheduler(self._run, schedule=Schedule(mode="manual"))
        self.engine = SimpleNamespace(run=self._engine_run)
        self.status = PushStatus()
        self.sync_now = self.scheduler.sync_now
        self.set_schedule = self.scheduler.set_schedule
        self.settings = SimpleNamespace(poll_interval=timedelta(minutes=5))

    def _enter(self, what: str) -> None:
        with self._lock:
            self._active += 1
            self.max_active = max(self.max_active, self._active)
            self.log.append(f"{what} start")

    def _leave(self, what: str) -> None:
        with self._lock:
            self._active -= 1
            self.log.append(f"{what} end")

    def _run(self, request, progress, cancel):
        self._enter("run")
        try:
            while not (self.release_run.wait(0.02) or cancel.is_set()):
                pass  # until the test releases the run or the window cancels it
            return RunReport(run_id=1, status="cancelled" if cancel.is_set() else "completed")
        finally:
            self._leave("run")

    def _engine_run(self, flows=None, dry_run=False, progress=None, cancel=None, trigger="manual"):
        assert dry_run, "the window's service engine is only asked for previews here"
        self._enter("preview")
        try:
            progress("vendors", 3, "NAV vendors read")
            if self.preview_waits_for_cancel:
                cancel.wait(WAIT)
            report = RunReport(run_id=2, dry_run=True)
            report.plan.append(PlannedWrite("BILL", "create_vendor", "dry-run-vendor-1", name="V00050"))
            return report
        finally:
            self._leave("preview")


@pytest.fixture
def gated_service():
    service = GatedService()
    service.scheduler.start()
    yield service
    service.release_run.set()
    service.scheduler.stop(WAIT)


def test_a_preview_asked_for_during_a_run_waits_for_it_on_the_services_scheduler(qtbot, window, gated_service):
    bridge = ServiceBridge(gated_service, window)
    window.attach_service(bridge)
    outcomes, progress = [], []
    window.sync_finished.connect(outcomes.append)
    bridge.progress.connect(lambda *args: progress.append(args))
    with qtbot.waitSignal(bridge.run_started, timeout=10_000):
        assert window.start_sync()

    assert window.start_sync(dry_run=True)
    assert gated_service.scheduler.pending == (None, 1)  # queued behind the run, not started beside it
    assert "waits for the running sync" in window.progress_label.text()
    assert not window.preview_action.isEnabled() and window.cancel_action.isEnabled()
    assert not window.start_sync(dry_run=True)  # one preview waits at a time

    gated_service.release_run.set()
    qtbot.waitUntil(lambda: len(outcomes) == 2, timeout=10_000)
    assert gated_service.log == ["run start", "run end", "preview start", "preview end"]
    assert gated_service.max_active == 1
    assert [o.dry_run for o in outcomes] == [False, True]
    assert outcomes[1].ok and outcomes[1].details == ("BILL: Create vendor “V00050” in BILL",), outcomes[1].summary
    assert ("vendors: NAV vendors read (3)", 0, 0) in progress
    assert window.preview_action.isEnabled() and not window.cancel_action.isEnabled()


def test_cancel_stops_a_preview_on_the_scheduler_and_the_next_run_still_runs(qtbot, window, gated_service):
    bridge = ServiceBridge(gated_service, window)
    window.attach_service(bridge)
    gated_service.preview_waits_for_cancel = True
    with qtbot.waitSignal(bridge.preview_started, timeout=10_000):
        assert window.start_sync(dry_run=True)
    with qtbot.waitSignal(window.sync_finished, timeout=10_000) as previewed:
        window.cancel_sync()
    assert previewed.args[0].dry_run and previewed.args[0].summary == "Preview cancelled"

    gated_service.release_run.set()
    with qtbot.waitSignal(window.sync_finished, timeout=10_000) as synced:
        assert window.start_sync()
    assert synced.args[0].ok, synced.args[0].summary


def test_cancelling_a_service_run_from_the_window_does_not_cancel_the_next_one(qtbot, window, gated_service):
    bridge = ServiceBridge(gated_service, window)
    window.attach_service(bridge)
    with qtbot.waitSignal(bridge.run_started, timeout=10_000):
        assert window.start_sync()
    with qtbot.waitSignal(window.sync_finished, timeout=10_000) as cancelled:
        window.cancel_sync()
    assert cancelled.args[0].summary == "Sync cancelled"

    gated_service.release_run.set()
    with qtbot.waitSignal(window.sync_finished, timeout=10_000) as synced:
        assert window.start_sync()
    assert synced.args[0].ok, synced.args[0].summary
