"""SyncScheduler: the user's schedule, one run at a time, one coalesced follow-up, catch-up, clean stop."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from datetime import time as dtime

import pytest

from app.push.scheduler import SYNC_JOB_ID, RunRequest, Schedule, SyncScheduler

WAIT = 10  # seconds a test may wait for a thread before calling it a failure (never a speed check)


class GatedRuns:
    """A run function that blocks until the test opens the gate, and records what ran."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.started = threading.Semaphore(0)
        self.requests: list[RunRequest] = []
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def __call__(self, request, progress, cancel):
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.requests.append(request)
        self.started.release()
        progress("vendors", 1, 2)
        self.gate.wait(WAIT)
        with self._lock:
            self.active -= 1
        return {"flows": request.flows}


@pytest.fixture
def gated():
    return GatedRuns()


@pytest.fixture
def scheduler(gated):
    sched = SyncScheduler(gated, schedule=Schedule(mode="manual"), timezone=UTC)
    sched.start()
    yield sched
    gated.gate.set()
    sched.stop(timeout=WAIT)


def test_requests_during_a_run_queue_exactly_one_follow_up(scheduler, gated):
    assert scheduler.sync_now() == "queued"
    assert gated.started.acquire(timeout=WAIT)
    outcomes = [scheduler.sync_now() for _ in range(5)] + [scheduler.request_run(reason="schedule")]
    assert outcomes == ["queued"] + ["merged"] * 5
    gated.gate.set()
    assert scheduler.wait_idle(WAIT)
    assert len(gated.requests) == 2
    assert gated.max_active == 1
    assert scheduler.runs_completed == 2
    assert "schedule" in gated.requests[1].reason and "manual" in gated.requests[1].reason


def test_follow_up_covers_every_flow_that_was_asked_for(scheduler, gated):
    scheduler.request_run(["payments"], reason="poll")
    assert gated.started.acquire(timeout=WAIT)
    scheduler.request_run(["vendors"], reason="poll")
    scheduler.request_run(["invoices"], reason="NAV collection")
    gated.gate.set()
    assert scheduler.wait_idle(WAIT)
    assert gated.requests[1].flows == frozenset({"vendors", "invoices"})
    # "all flows" absorbs any partial request
    assert RunRequest("a", frozenset({"x"})).merged(RunRequest("b", None)).flows is None


def test_targeted_syncs_are_deduplicated_while_waiting_and_never_overlap_a_run(scheduler, gated):
    done: list[str] = []
    scheduler.sync_now()
    assert gated.started.acquire(timeout=WAIT)
    assert scheduler.submit("nav-vendor:V1", lambda: done.append("V1")) == "queued"
    assert scheduler.submit("nav-vendor:V1", lambda: done.append("V1 again")) == "merged"
    assert scheduler.submit("bill-vendor:009", lambda: done.append("009")) == "queued"
    assert done == []  # the run holds the worker
    gated.gate.set()
    assert scheduler.wait_idle(WAIT)
    assert done == ["V1", "009"]


def test_callbacks_report_start_progress_finish_and_failures():
    events: list[tuple] = []
    finished = threading.Event()

    def failing(request, progress, cancel):
        progress("bills", 3)
        raise RuntimeError("BILL said no")

    sched = SyncScheduler(failing, schedule=Schedule(mode="manual"))
    sched.on_run_started(lambda kind, what: events.append(("started", kind)))
    sched.on_progress(lambda *args: events.append(("progress",) + args))
    sched.on_run_finished(lambda outcome: (events.append(("finished", outcome.ok, str(outcome.error))),
                                           finished.set()))
    sched.start()
    try:
        sched.sync_now()
        assert finished.wait(WAIT)
        assert events == [("started", "run"), ("progress", "bills", 3), ("finished", False, "BILL said no")]
        # the worker survived the failure
        finished.clear()
        sched.submit("k", lambda: None)
        assert finished.wait(WAIT)
    finally:
        sched.stop(WAIT)


def test_stop_cancels_the_run_in_progress_and_drops_queued_work():
    entered = threading.Event()
    outcomes = []

    def cancellable(request, progress, cancel):
        entered.set()
        cancel.wait(WAIT)
        return "stopped early"

    sched = SyncScheduler(cancellable, schedule=Schedule(mode="manual"))
    sched.on_run_finished(outcomes.append)
    sched.start()
    sched.sync_now()
    assert entered.wait(WAIT)
    sched.sync_now()
    assert sched.stop(timeout=WAIT) is True
    assert len(outcomes) == 1 and outcomes[0].cancelled
    assert sched.sync_now() == "stopped"


def test_daily_schedule_publishes_its_next_run_time(gated):
    seen: list = []
    sched = SyncScheduler(gated, schedule=Schedule.parse("daily 06:30"), timezone=UTC)
    sched.on_next_run_changed(seen.append)
    sched.start()
    try:
        next_run = sched.next_run_time()
        assert next_run is not None and (next_run.hour, next_run.minute) == (6, 30)
        assert seen and seen[-1] == next_run
        sched.set_schedule(Schedule(mode="interval", every_minutes=15))
        assert sched.next_run_time() - datetime.now(UTC) <= timedelta(minutes=15)
        sched.set_schedule(Schedule(mode="manual"))
        assert sched.next_run_time() is None and seen[-1] is None
    finally:
        gated.gate.set()
        sched.stop(WAIT)


def test_a_run_missed_while_the_machine_slept_runs_once_on_wake(gated):
    gated.gate.set()
    sched = SyncScheduler(gated, schedule=Schedule.parse("daily 06:00"), timezone=UTC)
    sched.start()
    try:
        job = sched._scheduler.get_job(SYNC_JOB_ID)
        assert job.coalesce and job.misfire_grace_time >= 6 * 3600
        # What APScheduler sees after the laptop lid opens: the 06:00 run is two hours overdue.
        sched._scheduler.modify_job(SYNC_JOB_ID, next_run_time=datetime.now(UTC) - timedelta(hours=2))
        sched._scheduler.wakeup()
        assert gated.started.acquire(timeout=WAIT)
        assert sched.wait_idle(WAIT)
        assert [r.reason for r in gated.requests] == ["schedule"]
        assert sched.next_run_time() > datetime.now(UTC)
    finally:
        sched.stop(WAIT)


def test_catch_up_at_start_when_the_app_was_closed_at_the_scheduled_time(gated):
    now = datetime(2024, 3, 5, 9, 0, tzinfo=UTC)
    sched = SyncScheduler(gated, schedule=Schedule(daily_at=dtime(6, 0)), timezone=UTC, now=lambda: now)
    assert sched.catch_up_if_missed(datetime(2024, 3, 4, 7, 0, tzinfo=UTC)) is True
    assert sched.pending[0].reason == "catch-up"
    fresh = SyncScheduler(gated, schedule=Schedule(daily_at=dtime(6, 0)), timezone=UTC, now=lambda: now)
    assert fresh.catch_up_if_missed(datetime(2024, 3, 5, 6, 5, tzinfo=UTC)) is False  # already ran today
    assert fresh.catch_up_if_missed(None) is False  # never ran: the user starts the first sync
    # Closed for a month (or over a weekend): this morning's 06:00 run was missed a few hours ago.
    assert fresh.catch_up_if_missed(datetime(2024, 2, 1, tzinfo=UTC)) is True
    weekend = SyncScheduler(gated, schedule=Schedule(daily_at=dtime(6, 0)), timezone=UTC,
                            now=lambda: datetime(2024, 3, 4, 9, 0, tzinfo=UTC))  # Monday 09:00
    assert weekend.catch_up_if_missed(datetime(2024, 3, 1, 6, 5, tzinfo=UTC)) is True  # last ran Friday
    late = SyncScheduler(gated, schedule=Schedule(daily_at=dtime(6, 0)), timezone=UTC,
                         now=lambda: datetime(2024, 3, 4, 23, 0, tzinfo=UTC))
    assert late.catch_up_if_missed(datetime(2024, 3, 1, 6, 5, tzinfo=UTC)) is False  # today's 06:00: beyond grace


@pytest.mark.parametrize("text, expected", [
    ("daily 06:30", Schedule(mode="daily", daily_at=dtime(6, 30))),
    ("Daily at 7:05", Schedule(mode="daily", daily_at=dtime(7, 5))),
    ("every 15m", Schedule(mode="interval", every_minutes=15)),
    ("every 2 hours", Schedule(mode="interval", every_minutes=120)),
    ("manual", Schedule(mode="manual")),
])
def test_schedule_parse(text, expected):
    assert Schedule.parse(text) == expected
    assert Schedule.parse(text).describe()


@pytest.mark.parametrize("text", ["daily 25:00", "every 0m", "hourly", "every m"])
def test_schedule_parse_rejects_nonsense(text):
    with pytest.raises(ValueError):
        Schedule.parse(text)


def test_cancelling_the_current_run_leaves_the_next_run_uncancelled():
    entered = threading.Event()
    outcomes = []
    finished = threading.Semaphore(0)

    def cancellable(request, progress, cancel):
        entered.set()
        if request.reason == "first":
            cancel.wait(WAIT)
        return "done"

    sched = SyncScheduler(cancellable, schedule=Schedule(mode="manual"))
    sched.on_run_finished(lambda outcome: (outcomes.append(outcome), finished.release()))
    sched.start()
    try:
        sched.request_run(reason="first")
        assert entered.wait(WAIT)
        sched.cancel_current()
        assert finished.acquire(timeout=WAIT)
        sched.request_run(reason="second")
        assert finished.acquire(timeout=WAIT)
        assert [(o.description, o.cancelled) for o in outcomes] == [
            ("all flows (first)", True), ("all flows (second)", False)]
    finally:
        sched.stop(WAIT)
