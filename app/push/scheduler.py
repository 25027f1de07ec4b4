"""When syncs run: the user's schedule, "Sync now", polling, webhook hints — one run at a time.

``SyncScheduler`` owns two kinds of thread:

* APScheduler's ``BackgroundScheduler`` decides *when* (the user's daily time or interval, the poll
  interval, subscription upkeep). Its jobs only *request* work; they never sync themselves.
* One worker thread does the work, strictly one item at a time, so a full run, a poll and a webhook's
  targeted sync never touch the same records at once.

Requests that arrive while a run is going are merged into ONE follow-up run (a burst of "Sync now"
clicks, or a schedule tick during a long run, costs one extra run, not many). Targeted syncs from
webhooks are de-duplicated by key while they wait.

Missed runs: jobs use ``coalesce`` and a generous ``misfire_grace_time``, so a workstation that slept
through its 07:00 run syncs once when it wakes up, not once per missed tick.

The module is Qt-free. The UI registers plain callbacks (run started/finished/progress, next run
time) and re-emits them as Qt signals; callbacks run on the worker or scheduler thread.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Any

from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger("navbill.scheduler")

SYNC_JOB_ID = "scheduled-sync"
# A daily run missed by up to 12 hours (laptop asleep overnight) still runs when the machine wakes.
DEFAULT_MISFIRE_GRACE = timedelta(hours=12)


# -- the user's schedule -----------------------------------------------------------------------
@dataclass(frozen=True)
class Schedule:
    """``daily`` at a time of day (the default), ``interval`` every N minutes, or ``manual`` only."""

    mode: str = "daily"
    daily_at: dtime = dtime(6, 0)
    every_minutes: int = 60

    _INTERVAL = re.compile(r"^every\s+(\d+)\s*(m|min|mins|minutes?|h|hours?)$")
    _DAILY = re.compile(r"^daily(?:\s+at)?\s+(\d{1,2}):(\d{2})$")

    def __post_init__(self) -> None:
        if self.mode not in ("daily", "interval", "manual"):
            raise ValueError(f"Schedule must be daily, interval or manual, not '{self.mode}'")
        if self.mode == "interval" and self.every_minutes < 1:
            raise ValueError("A sync interval must be at least one minute")

    @classmethod
    def parse(cls, text: str) -> Schedule:
        """``daily 06:30``, ``every 15m``, ``every 2h`` or ``manual``."""
        spec = " ".join(text.strip().lower().split())
        if spec == "manual":
            return cls(mode="manual")
        if match := cls._DAILY.match(spec):
            hour, minute = int(match[1]), int(match[2])
            if hour > 23 or minute > 59:
                raise ValueError(f"'{text}' is not a time of day")
            return cls(mode="daily", daily_at=dtime(hour, minute))
        if match := cls._INTERVAL.match(spec):
            minutes = int(match[1]) * (60 if match[2].startswith("h") else 1)
            return cls(mode="interval", every_minutes=minutes)
        raise ValueError(f"Unknown schedule '{text}'; use e.g. 'daily 06:30', 'every 15m', 'every 2h' or 'manual'")

    def describe(self) -> str:
        if self.mode == "daily":
            return f"daily at {self.daily_at:%H:%M}"
        if self.mode == "interval":
            if self.every_minutes % 60 == 0:
                hours = self.every_minutes // 60
                return f"every {hours} hour{'s' if hours > 1 else ''}"
            return f"every {self.every_minutes} minutes"
        return "only when asked (Sync now)"

    def trigger(self, timezone: Any = None):
        if self.mode == "daily":
            return CronTrigger(hour=self.daily_at.hour, minute=self.daily_at.minute, timezone=timezone)
        if self.mode == "interval":
            return IntervalTrigger(minutes=self.every_minutes, timezone=timezone)
        return None

    def misfire_grace(self) -> timedelta:
        # An interval run missed by more than one interval is superseded by the next tick anyway.
        if self.mode == "interval":
            return min(DEFAULT_MISFIRE_GRACE, timedelta(minutes=self.every_minutes))
        return DEFAULT_MISFIRE_GRACE


# -- what the worker does ----------------------------------------------------------------------
@dataclass(frozen=True)
class RunRequest:
    """A full or partial run. ``flows=None`` means every flow."""

    reason: str  # "schedule", "manual", "poll", "startup", ...
    flows: frozenset[str] | None = None

    def merged(self, other: RunRequest) -> RunRequest:
        if self.flows is None or other.flows is None:
            flows = None
        else:
            flows = self.flows | other.flows
        reasons = self.reason if other.reason in self.reason.split("+") else f"{self.reason}+{other.reason}"
        return RunRequest(reason=reasons, flows=flows)

    def describe(self) -> str:
        scope = "all flows" if self.flows is None else ", ".join(sorted(self.flows))
        return f"{scope} ({self.reason})"


@dataclass(frozen=True)
class TargetedTask:
    """One record to sync now because a webhook said it changed, e.g. key ``nav-vendor:V00010``."""

    key: str
    action: Callable[[], Any] = field(compare=False, repr=False)
    description: str = ""


@dataclass(frozen=True)
class RunOutcome:
    kind: str  # "run" or "targeted"
    description: str
    started_at: datetime
    finished_at: datetime
    result: Any = None  # the engine's RunReport for a run
    error: BaseException | None = None
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and not self.cancelled


RunFunction = Callable[[RunRequest, Callable[..., None], threading.Event], Any]


class SyncScheduler:
    """Schedules and serialises sync work. ``start()`` once, ``stop()`` when the app quits.

    ``run_function(request, progress, cancel)`` performs a run (the service passes one that calls
    ``SyncEngine.run(flows=..., progress=..., cancel=...)``).
    """

    def __init__(self, run_function: RunFunction, *, schedule: Schedule | None = None,
                 timezone: Any = None, now: Callable[[], datetime] | None = None) -> None:
        self._run_function = run_function
        self._schedule = schedule or Schedule()
        self._timezone = timezone
        self._now = now or (lambda: datetime.now(UTC))
        self._scheduler = BackgroundScheduler(
            timezone=timezone,
            job_defaults={"coalesce": True, "max_instances": 1,
                          "misfire_grace_time": int(DEFAULT_MISFIRE_GRACE.total_seconds())},
        )
        self._scheduler.add_listener(self._on_job_event, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED)

        self._cond = threading.Condition()
        self._pending_run: RunRequest | None = None
        self._tasks: OrderedDict[str, TargetedTask] = OrderedDict()
        self._current: str | None = None  # description of the item being worked on
        self._stopping = False
        self._cancel = threading.Event()
        self._worker: threading.Thread | None = None
        self._started = False

        self._started_callbacks: list[Callable[[str, str], None]] = []
        self._finished_callbacks: list[Callable[[RunOutcome], None]] = []
        self._progress_callbacks: list[Callable[..., None]] = []
        self._next_run_callbacks: list[Callable[[datetime | None], None]] = []
        self.runs_completed = 0  # full/partial runs finished (any outcome), for status and tests

    # -- callbacks (Qt-free; the UI wraps them into signals) -----------------------------------
    def on_run_started(self, callback: Callable[[str, str], None]) -> None:
        """``callback(kind, description)``; kind is "run" or "targeted"."""
        self._started_callbacks.append(callback)

    def on_run_finished(self, callback: Callable[[RunOutcome], None]) -> None:
        self._finished_callbacks.append(callback)

    def on_progress(self, callback: Callable[..., None]) -> None:
        """Receives whatever the engine reports as progress, unchanged."""
        self._progress_callbacks.append(callback)

    def on_next_run_changed(self, callback: Callable[[datetime | None], None]) -> None:
        self._next_run_callbacks.append(callback)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._worker = threading.Thread(target=self._work, name="navbill-sync-worker", daemon=True)
        self._worker.start()
        self._scheduler.start()
        self._apply_schedule()

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop scheduling, ask a running sync to cancel, and wait for it. True if everything stopped."""
        if not self._started:
            return True
        with self._cond:
            self._stopping = True
            self._pending_run = None
            self._tasks.clear()
            self._cond.notify_all()
        self._cancel.set()
        try:
            self._scheduler.shutdown(wait=True)
        except Exception:  # already shut down
            pass
        if self._worker is not None:
            self._worker.join(timeout)
            if self._worker.is_alive():
                log.warning("The sync in progress did not stop within %.0f s; quitting anyway", timeout)
                return False
        self._started = False
        return True

    @property
    def running(self) -> bool:
        return self._started and not self._stopping

    # -- the user's schedule -------------------------------------------------------------------
    @property
    def schedule(self) -> Schedule:
        return self._schedule

    def set_schedule(self, schedule: Schedule) -> None:
        self._schedule = schedule
        if self._started:
            self._apply_schedule()

    def _apply_schedule(self) -> None:
        trigger = self._schedule.trigger(self._timezone)
        if trigger is None:
            if self._scheduler.get_job(SYNC_JOB_ID):
                self._scheduler.remove_job(SYNC_JOB_ID)
        else:
            self._scheduler.add_job(
                self.request_run, trigger, id=SYNC_JOB_ID, replace_existing=True,
                kwargs={"reason": "schedule"}, coalesce=True, max_instances=1,
                misfire_grace_time=int(self._schedule.misfire_grace().total_seconds()),
            )
        log.info("Sync schedule: %s", self._schedule.describe())
        self._emit_next_run()

    def next_run_time(self) -> datetime | None:
        job = self._scheduler.get_job(SYNC_JOB_ID) if self._started else None
        return job.next_run_time if job is not None else None

    def catch_up_if_missed(self, last_run_at: datetime | None) -> bool:
        """At start-up: if a scheduled time passed while the app was closed, run once now."""
        trigger = self._schedule.trigger(self._timezone)
        if trigger is None:
            return False
        if last_run_at is None:  # never synced: nothing was missed, the user starts the first run
            return False
        now = self._now()
        # Judge by the LATEST scheduled time that passed, not the first: closed from Friday to Monday,
        # Monday 06:00 was missed a few hours ago even though Saturday's run is days old.
        due = latest = trigger.get_next_fire_time(None, last_run_at)
        for _ in range(100_000):  # bounded: a one-minute interval over two months
            if due is None or due > now:
                break
            latest = due
            due = trigger.get_next_fire_time(latest, latest + timedelta(microseconds=1))
        due = latest
        if due is not None and due <= now and now - due <= self._schedule.misfire_grace():
            log.info("A scheduled sync was missed while the app was closed; running it now")
            self.request_run(reason="catch-up")
            return True
        return False

    # -- other periodic jobs (poll, subscription upkeep) ---------------------------------------
    def add_periodic(self, job_id: str, function: Callable[[], Any], every: timedelta, *,
                     run_now: bool = False, grace: timedelta | None = None) -> None:
        """Run ``function`` on APScheduler's pool every ``every``; it must be quick or thread-safe.

        Poll jobs call ``request_run`` (quick); subscription upkeep talks to NAV and BILL and is
        safe to run beside a sync.
        """
        kwargs: dict[str, Any] = {}
        if run_now:
            kwargs["next_run_time"] = datetime.now(UTC)
        self._scheduler.add_job(
            self._guarded(job_id, function), IntervalTrigger(seconds=every.total_seconds()), id=job_id,
            replace_existing=True, coalesce=True, max_instances=1,
            misfire_grace_time=int((grace or every).total_seconds()) or 1, **kwargs,
        )

    def remove_periodic(self, job_id: str) -> None:
        if self._scheduler.get_job(job_id):
            self._scheduler.remove_job(job_id)

    def has_periodic(self, job_id: str) -> bool:
        return self._scheduler.get_job(job_id) is not None

    @staticmethod
    def _guarded(job_id: str, function: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            try:
                function()
            except Exception:
                log.exception("Background job %s failed; it will run again at its next time", job_id)

        return run

    # -- requests -------------------------------------------------------------------------------
    def sync_now(self) -> str:
        return self.request_run(reason="manual")

    def request_run(self, flows: Iterable[str] | None = None, reason: str = "manual") -> str:
        """Ask for a run. Returns "queued" or "merged" (folded into the one waiting follow-up)."""
        request = RunRequest(reason=reason, flows=None if flows is None else frozenset(flows))
        with self._cond:
            if self._stopping:
                return "stopped"
            if self._pending_run is None:
                self._pending_run = request
                outcome = "queued"
            else:
                self._pending_run = self._pending_run.merged(request)
                outcome = "merged"
            self._cond.notify_all()
        log.debug("Run requested: %s -> %s", request.describe(), outcome)
        return outcome

    def submit(self, key: str, action: Callable[[], Any], description: str = "") -> str:
        """Queue a targeted sync; a key already waiting is not queued twice. Returns "queued"/"merged"."""
        with self._cond:
            if self._stopping:
                return "stopped"
            if key in self._tasks:
                return "merged"
            self._tasks[key] = TargetedTask(key, action, description or key)
            self._cond.notify_all()
        return "queued"

    def cancel_current(self) -> None:
        """Ask the run in progress to stop after its current record; later runs are not affected."""
        with self._cond:
            if self._current is not None:
                self._cancel.set()

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._current is not None

    @property
    def pending(self) -> tuple[RunRequest | None, int]:
        with self._cond:
            return self._pending_run, len(self._tasks)

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing runs or waits (for tests and ``serve --run-for``)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._current is not None or self._pending_run is not None or self._tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.25))
            return True

    # -- the worker ----------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and self._pending_run is None and not self._tasks:
                    self._cond.wait()
                if self._stopping:
                    return
                # A fresh flag per item: a cancelled run must not cancel the ones after it. No new flag
                # once stopping, so the one stop() sets is the running item's.
                self._cancel = threading.Event()
                # Targeted syncs first: each is one record and a user may be waiting to see it.
                if self._tasks:
                    _, task = self._tasks.popitem(last=False)
                    item: RunRequest | TargetedTask = task
                    self._current = task.description
                else:
                    item = self._pending_run
                    self._pending_run = None
                    self._current = item.describe()
            try:
                if isinstance(item, TargetedTask):
                    self._execute("targeted", item.description, item.action)
                else:
                    self._execute("run", item.describe(),
                                  lambda req=item: self._run_function(req, self._progress, self._cancel))
            finally:
                with self._cond:
                    self._current = None
                    self._cond.notify_all()

    def _execute(self, kind: str, description: str, action: Callable[[], Any]) -> None:
        started = self._now()
        self._emit(self._started_callbacks, kind, description)
        result: Any = None
        error: BaseException | None = None
        try:
            result = action()
        except Exception as exc:  # the worker must outlive any one failed sync
            error = exc
            log.error("%s sync failed: %s: %s", kind.capitalize(), description, exc)
        cancelled = self._cancel.is_set()
        outcome = RunOutcome(kind, description, started, self._now(), result, error, cancelled)
        if kind == "run":
            self.runs_completed += 1
        self._emit(self._finished_callbacks, outcome)
        if kind == "run":
            self._emit_next_run()

    def _progress(self, *args: Any, **kwargs: Any) -> None:
        for callback in list(self._progress_callbacks):
            try:
                callback(*args, **kwargs)
            except Exception:
                log.exception("A progress listener failed")

    @staticmethod
    def _emit(callbacks: list[Callable[..., None]], *args: Any) -> None:
        for callback in list(callbacks):
            try:
                callback(*args)
            except Exception:
                log.exception("A scheduler listener failed")

    def _on_job_event(self, event: JobExecutionEvent) -> None:
        if event.job_id == SYNC_JOB_ID:
            if event.code == EVENT_JOB_MISSED:
                log.info("A scheduled sync was missed by more than the grace time and is skipped")
            self._emit_next_run()

    def _emit_next_run(self) -> None:
        self._emit(self._next_run_callbacks, self.next_run_time())
