"""The connection test: for NAV and for BILL, step by step, what works and how to fix what does not.

Steps per side: the settings are complete, DNS, TCP to the port, TLS (when https), the server instance /
authentication / company or organization, read access to every entity the connector reads, write
permission, webhook support. Each step ends ``pass``, ``fail`` or ``skipped`` with a plain sentence;
a failure carries a sentence on how to fix it. When a step fails, the later steps of that side are
skipped (they could only fail for the same reason).

Write permission is tried only on profiles that are not production: the test re-saves one existing
vendor with the values it already has (NAV: PATCH with its ETag; BILL: PATCH with its own fields),
which proves the user may modify vendors without creating or changing any data. On production the
step is skipped on purpose: the test never writes to production; the first sync reports a missing
permission per record, with the same advice.

``run_checks`` is Qt-free; the window runs it in a worker thread (``progress`` is called after each
step, ``cancel`` is polled between steps). The command, ``python main.py check [--demo] [--json]``, is
app.cli.commands.check.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable

from app.check.bill import check_bill
from app.check.nav import check_nav
from app.check.steps import BILL, FAIL, NAV, CheckReport, CheckStep, _Cancelled, _Recorder

log = logging.getLogger("navbill.check")


def run_checks(nav_connection, bill_connection, progress: Callable[[CheckStep], None] | None = None,
               cancel: Callable[[], bool] | threading.Event | None = None, *,
               allow_write: bool = True, payment_journal: tuple[str, str, str, str] | None = None,
               bill_budget=None) -> CheckReport:
    """Check both sides (either connection may be None to check one side only).

    ``bill_budget`` (``app.clients.bill_budget.shared_budget``): the installation's hourly BILL request count, so the
    test's own requests are counted with the syncs' and its last BILL step says how many are used this hour.

    ``allow_write=False`` (production profiles) skips the write-permission step. ``payment_journal`` is the
    settings' (template, batch, balancing account type, balancing account). Never raises for a failed check:
    every failure is a step of the report.
    """
    report = CheckReport()
    recorder = _Recorder(report, progress, cancel)
    try:
        if nav_connection is not None:
            _guarded(functools.partial(check_nav, payment_journal=payment_journal), nav_connection, recorder, NAV,
                     allow_write)
        if bill_connection is not None:
            _guarded(functools.partial(check_bill, budget=bill_budget), bill_connection, recorder, BILL, allow_write)
    except _Cancelled:
        report.cancelled = True
    return report


def _guarded(check: Callable, connection, recorder: _Recorder, side: str, allow_write: bool) -> None:
    try:
        check(connection, recorder, allow_write=allow_write)
    except _Cancelled:
        raise
    except Exception as exc:  # a bug in a step must show as a failed step, not kill the UI worker
        log.exception("connection test for %s stopped unexpectedly", side)
        recorder.add(side, "internal", "Connection test", FAIL, f"The test stopped unexpectedly ({type(exc).__name__}).",
                     "Send the log file to support.")


NETWORK_STEPS = ("dns", "tcp", "tls")  # a failure here: the system could not be reached (exit code 3)


def exit_code(report: CheckReport) -> int:
    """0 every step passed (or was skipped on purpose); 3 a side could not be reached; 2 a setting, login or
    permission must change; 1 the test was cancelled or stopped unexpectedly."""
    if report.ok:
        return 0
    failures = report.failures()
    if report.cancelled or any(step.key == "internal" for step in failures):
        return 1
    if any(step.key in NETWORK_STEPS or "could not be reached" in step.detail.lower()
           or "could not answer" in step.detail.lower() for step in failures):
        return 3
    return 2
