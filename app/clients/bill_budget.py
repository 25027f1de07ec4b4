"""BILL's hourly request budget, counted on our side.

BILL (developer.bill.com/docs/api-rate-limits): "The rate limit for BILL API requests per developer key per
hour is 20000. When you reach this limit, you receive the BDC_1144 error. All subsequent API requests must
wait until the beginning of the next hour." Other integrations of the same organization share that key's
budget, so the connector:

- counts every request it sends (login included) per clock hour (UTC), here and, when given a ledger file,
  across its processes (the window, ``serve`` and a ``sync`` from a script share one file);
- stops BEFORE the limit: at ``limit x (1 - headroom)`` (default 20% left for the others) every further
  request is refused here, without going out, with ``BudgetExhaustedError``; the run stops its BILL side
  cleanly and the next run (after the hour turns) goes on;
- never retries BDC_1144: once BILL says it, nothing more is sent until the next hour.

``text()`` is the status line for the window and ``check``: "BILL requests this hour: 1,234 / 20,000".
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from app.domain.errors import RateLimitError
from app.setup.file_lock import locked

HOURLY_LIMIT = 20_000  # per developer key (docs/api-rate-limits)
DEFAULT_HEADROOM = 0.20  # left for the organization's other integrations
BUDGET_STOP_CODE = "BUDGET_STOP"  # our own stop line (no request was sent)
HOURLY_LIMIT_CODE = "BDC_1144"
LEDGER_FILE = "bill_requests.json"
FLUSH_EVERY = 20  # requests between ledger writes (and at every stop, close and status read)
LEDGER_LOCK_WAIT = 2.0  # seconds; a flush that cannot take the lock keeps its count for the next one
LEDGER_CLOSE_WAIT = 10.0  # at close there is no next flush


class BudgetExhaustedError(RateLimitError):
    """The request was NOT sent: this hour's budget is used up to the stop line (or BILL said BDC_1144)."""


@dataclass(frozen=True)
class BudgetStatus:
    used: int
    limit: int
    stop_at: int  # the connector sends nothing more this hour once ``used`` reaches this
    resets_at: datetime
    bill_refused: bool  # BILL answered BDC_1144 this hour

    @property
    def left(self) -> int:
        return max(self.stop_at - self.used, 0)

    def text(self) -> str:
        return f"BILL requests this hour: {self.used:,} / {self.limit:,}"

    def detail(self) -> str:
        """What the count means for the syncs, and when it starts again (the status bar's tooltip, ``check``)."""
        kept = self.limit - self.stop_at
        if self.bill_refused:
            return (f"BILL answered BDC_1144 (its {self.limit:,} requests for this hour are used up): the connector "
                    f"sends nothing more to BILL until {self.resets_at:%H:%M} UTC, then the next sync goes on.")
        if self.used >= self.stop_at:
            return (f"The connector's stop line ({self.stop_at:,}, keeping {kept:,} for the organization's other "
                    f"integrations) is reached: syncs send nothing more to BILL until {self.resets_at:%H:%M} UTC, "
                    "then the next sync goes on from where this one stopped.")
        return (f"The connector stops at {self.stop_at:,} this hour, keeping {kept:,} for the organization's other "
                f"integrations; the count starts again at {self.resets_at:%H:%M} UTC.")


class RequestBudget:
    def __init__(self, limit: int = HOURLY_LIMIT, headroom: float = DEFAULT_HEADROOM,
                 clock: Callable[[], float] = time.time, ledger: str | os.PathLike | None = None,
                 scope: str = "") -> None:
        self._lock = threading.Lock()
        self.clock = clock
        self.ledger = Path(ledger) if ledger else None
        self.scope = scope  # the organization: one ledger file may serve several profiles
        self.limit, self.headroom = HOURLY_LIMIT, DEFAULT_HEADROOM
        self.configure(limit, headroom)
        self._hour = -1
        self._used = 0
        self._unflushed = 0
        self._refused_hour = -1

    def configure(self, limit: int | None = None, headroom: float | None = None) -> None:
        with self._lock:
            if limit is not None:
                if int(limit) < 1:
                    raise ValueError("the hourly limit must be at least 1")
                self.limit = int(limit)
            if headroom is not None:
                if not 0 <= float(headroom) < 1:
                    raise ValueError("the headroom must be between 0 and 1 (0.2 = 20%)")
                self.headroom = float(headroom)

    @property
    def stop_at(self) -> int:
        return max(math.floor(self.limit * (1 - self.headroom)), 0)

    # -- counting -----------------------------------------------------------------------------------
    def _roll(self) -> int:
        hour = int(self.clock() // 3600)
        if hour != self._hour:
            self._flush()
            self._hour, self._used, self._unflushed = hour, self._read_ledger(hour), 0
        return hour

    def take(self, record: str = "") -> None:
        """Count one request about to be sent, or refuse it (``BudgetExhaustedError``) without sending."""
        with self._lock:
            hour = self._roll()
            if self._refused_hour == hour:
                raise BudgetExhaustedError(
                    f"BILL answered BDC_1144 (its limit of {self.limit:,} requests this hour is reached); nothing "
                    f"more is sent to BILL until {self._resets_at(hour):%H:%M} UTC.",
                    system="BILL", record=record, code=HOURLY_LIMIT_CODE)
            if self._used >= self.stop_at:
                self._flush()
                raise BudgetExhaustedError(
                    f"BILL request budget for this hour used up to the stop line ({self._used:,} of "
                    f"{self.limit:,} requests; {self.limit - self.stop_at:,} kept for other integrations). "
                    f"The next run after {self._resets_at(hour):%H:%M} UTC goes on from here.",
                    system="BILL", record=record, code=BUDGET_STOP_CODE)
            self._used += 1
            self._unflushed += 1
            if self._unflushed >= FLUSH_EVERY:
                self._flush()

    def bill_refused(self) -> None:
        """BILL answered BDC_1144: its budget is spent, whatever we counted; wait for the next hour."""
        with self._lock:
            hour = self._roll()
            self._refused_hour = hour
            self._used = max(self._used, self.limit)
            self._unflushed += 1  # so the ledger learns it too
            self._flush(refused=True)

    def status(self) -> BudgetStatus:
        with self._lock:
            hour = self._roll()
            self._flush()
            # What the installation's other processes counted since (a long-lived service asks at each run's start).
            self._used = max(self._used, self._read_ledger(hour))
            return BudgetStatus(self._used, self.limit, self.stop_at, self._resets_at(hour),
                                self._refused_hour == hour)

    def left(self) -> int:
        return self.status().left

    def text(self) -> str:
        return self.status().text()

    def close(self) -> None:
        with self._lock:
            self._flush(wait=LEDGER_CLOSE_WAIT)  # the last chance to count this process's requests

    @staticmethod
    def _resets_at(hour: int) -> datetime:
        return datetime.fromtimestamp((hour + 1) * 3600, tz=UTC)

    # -- the ledger file shared by this profile's processes ------------------------------------------
    def _load(self) -> dict:
        if self.ledger is None:
            return {}
        try:
            data = json.loads(self.ledger.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _lock_path(self) -> Path:
        return self.ledger.with_name(self.ledger.name + ".lock")

    def _read_ledger(self, hour: int) -> int:
        # Under the lock as well: on Windows a reader holding the file open makes the writer's os.replace fail.
        data = {}
        if self.ledger is not None and self.ledger.exists():
            try:
                with locked(self._lock_path(), LEDGER_LOCK_WAIT):
                    data = self._load()
            except OSError:  # locked too long, or no lock file possible: the file itself is still readable
                data = self._load()
        entry = data.get(self.scope) or {}
        if entry.get("hour") != hour:
            return 0
        if entry.get("refused"):
            self._refused_hour = hour
        return int(entry.get("used", 0))

    def _flush(self, refused: bool = False, wait: float = 0.0) -> None:
        """Add what this process counted since the last flush to the file's count for this hour.

        Read, add and write happen under the ledger's lock file: without it, two processes flushing at once each
        wrote their own sum over the same old count, and the file lost the other's requests (4 processes sending
        12,000 requests left about 4,000 in it), so the stop line came far too late."""
        if self.ledger is None or (not self._unflushed and not refused) or self._hour < 0:
            return
        try:
            self.ledger.parent.mkdir(parents=True, exist_ok=True)
            with locked(self._lock_path(), wait or LEDGER_LOCK_WAIT):
                data = self._load()
                entry = data.get(self.scope) or {}
                theirs = int(entry.get("used", 0)) if entry.get("hour") == self._hour else 0
                total = max(theirs + self._unflushed, self._used)
                data[self.scope] = {"hour": self._hour, "used": total, "refused": bool(
                    refused or (entry.get("hour") == self._hour and entry.get("refused")))}
                temporary = self.ledger.with_name(f"{self.ledger.name}.{os.getpid()}.{threading.get_ident()}.tmp")
                temporary.write_text(json.dumps(data), encoding="utf-8")
                _replace(temporary, self.ledger)
        except OSError:
            return  # the count stays in memory; the next flush tries again
        self._used, self._unflushed = total, 0


def _replace(temporary: Path, ledger: Path) -> None:
    """``os.replace``, tried again for a moment on Windows, where a reader without the lock (an older version of
    this program, an antivirus scan) makes it fail; the temporary file never stays behind."""
    for attempt in range(5):
        try:
            os.replace(temporary, ledger)
            return
        except PermissionError:
            if attempt == 4:
                temporary.unlink(missing_ok=True)
                raise
            time.sleep(0.05)


def shared_budget(data_dir: str | os.PathLike, organization_id: str, limit: int = HOURLY_LIMIT,
                  headroom: float = DEFAULT_HEADROOM) -> RequestBudget:
    """The budget every process of one installation counts in: the window's syncs and service, ``serve``, ``sync``
    and the connection test share the ledger file in the data folder, one count per BILL organization."""
    return RequestBudget(limit=limit, headroom=headroom, ledger=Path(data_dir) / LEDGER_FILE, scope=organization_id)


def requests_this_hour(data_dir: str | os.PathLike, scope: str = "", limit: int = HOURLY_LIMIT,
                       headroom: float = DEFAULT_HEADROOM) -> BudgetStatus:
    """This hour's count from the ledger, for a process that has no BILL client of its own (the window's status
    bar): ``.text()`` is "BILL requests this hour: used / limit", ``.detail()`` what it means."""
    return shared_budget(data_dir, scope, limit, headroom).status()
