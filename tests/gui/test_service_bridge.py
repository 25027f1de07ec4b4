"""The window driven by the Qt-free scheduler and push status through ServiceBridge (queued signals)."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from app.engine.report import RunReport
from app.push.status import Mode, PushStatus
from app.scheduler import SyncScheduler
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
