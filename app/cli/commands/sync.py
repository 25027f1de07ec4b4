"""`navbill sync`: one sync run from the command line, then exit.

    navbill sync [--demo] [--dry-run] [--only vendors|invoices|payments|accounts] [--json] [--limit N]

The report says per flow what was read, created, updated, held and failed, then lists every record that waits
for a person (held, or failed and retried by the next run) with its vendor, document, amount with currency and
reason, and for a dry run every planned change (or how many more there are and how to see them).

Exit status and the ``status`` word that goes with it (text and JSON):
    0 done          every flow ran and nothing waits
    1 held / failed something was held or failed, or a flow could not finish (the report says what)
    2 configuration no profile, a refused login, a wrong company, organization or address, bad settings
    3 unreachable   NAV or BILL could not be reached (network, service down, busy beyond the retries)
"""

from __future__ import annotations

import json
import logging
import sys
from contextlib import ExitStack
from datetime import UTC, datetime

from app.cli.errors import HELD, OK, UNREACHABLE, USAGE, CliError
from app.domain.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectorError,
    NotFoundError,
    RetryableError,
)
from app.engine.demo import DEMO_SETTINGS, add_follow_up_run, pay_some_demo_bills
from app.engine.engine import SyncEngine
from app.engine.report import FLOWS, RunReport, money, named_counts
from app.engine.settings import EngineSettings

log = logging.getLogger("navbill.sync")


# -- what went wrong where: the clients' errors, seen on their way to the engine ------------------------------


class _Witness:
    """Wraps a client and remembers the side-level errors its calls raised (the engine keeps only their text)."""

    def __init__(self, inner, side: str, seen: list[tuple[str, str, ConnectorError]]) -> None:
        self._inner, self._side, self._seen = inner, side, seen

    def __getattr__(self, name):
        value = getattr(self._inner, name)
        if not callable(value) or name.startswith("_"):
            return value
        seen, side = self._seen, self._side

        def call(*args, **kwargs):
            try:
                result = value(*args, **kwargs)
            except ConnectorError as exc:
                seen.append((side, name, exc))
                raise
            if name.startswith("iter_") and hasattr(result, "__next__"):
                return _watch(result, side, name, seen)
            return result

        return call


def _watch(iterator, side, name, seen):
    try:
        yield from iterator
    except ConnectorError as exc:
        seen.append((side, name, exc))
        raise


def _side_problem(seen: list[tuple[str, str, ConnectorError]]) -> tuple[int, str] | None:
    """(exit code, sentence) for the worst side-level error the clients raised, or None."""
    unreachable = [(side, exc) for side, _name, exc in seen if isinstance(exc, RetryableError)]
    config = [(side, exc) for side, _name, exc in seen if isinstance(exc, (AuthenticationError, ConfigurationError))]
    # A list read answered "not found": the address points at another service (or the web service is missing).
    wrong = [(side, exc) for side, name, exc in seen if isinstance(exc, NotFoundError) and name.startswith("iter_")]
    if unreachable:
        side, exc = unreachable[0]
        return UNREACHABLE, f"{side} could not be reached: {exc.message.rstrip('.')}"
    if config:
        side, exc = config[0]
        text = exc.message.rstrip(".")
        return USAGE, text if text.startswith(side) else f"{side} refused the connection: {text}"
    if wrong:
        side, exc = wrong[0]
        return USAGE, (f"{side} answered 'not found' when asked for its lists: the {side} address probably points "
                       f"at another service ({exc.message.rstrip('.')})")
    return None


_HINT = {
    "NAV": "check the profile's NAV settings (`navbill profile show NAME`, change with `navbill profile set NAME "
           "nav.KEY=VALUE`) and run `navbill check`",
    "BILL": "check the profile's BILL settings (`navbill profile show NAME`, change with `navbill profile set NAME "
            "bill.KEY=VALUE`) and run `navbill check`",
}


# -- what waits for a person --------------------------------------------------------------------------------


class _HeldLog(logging.Handler):
    """Collects the engine's "Held ..." / "Retry later ..." lines (a dry run's holds exist only in its copy)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text.startswith(("Held ", "Retry later ")):
            self.lines.append(text)


def held_items(store, since: datetime | None = None) -> list[dict]:
    """Every open held or failed item, with vendor, document, amount with currency and reason."""
    from sqlalchemy import select

    from app.store import schema as t

    items: list[dict] = []
    with store.session() as s:
        names = dict(s.execute(select(t.VendorLink.nav_number, t.VendorLink.name)).all())
        bill_names = {bill_id: name for bill_id, name in s.execute(select(t.VendorLink.bill_id, t.VendorLink.name))}
        for item in s.scalars(select(t.QueueItem).where(t.QueueItem.state == "open")
                              .order_by(t.QueueItem.kind, t.QueueItem.record_key)):
            detail = item.detail or {}
            entry = {"kind": item.kind, "record": item.record_key, "vendor": "", "document": "", "amount": "",
                     "reason": item.reason, "state": "failed" if item.retryable else "held",
                     "new": bool(since and item.updated_at and _aware(item.updated_at) >= since)}
            invoice = detail.get("invoice") if isinstance(detail, dict) else None
            if item.kind == "invoice" and isinstance(invoice, dict):
                number = invoice.get("vendor_number", "")
                entry["vendor"] = f"{names.get(number) or ''} ({number})".strip() if number else ""
                document = f"invoice {invoice.get('number', item.record_key)}"
                if invoice.get("vendor_invoice_number"):
                    document += f" (vendor's No. {invoice['vendor_invoice_number']})"
                entry["document"] = document
                entry["amount"] = money(invoice.get("amount_including_tax") or invoice.get("amount", "0"),
                                        invoice.get("currency", ""))
            elif item.kind == "invoice":
                entry["document"] = f"invoice {item.record_key}"
            elif item.kind == "vendor":
                entry["document"] = f"NAV vendor {names.get(item.record_key, '')} ({item.record_key})".replace(
                    "vendor  (", "vendor (")
            elif item.kind == "bill_vendor":
                entry["document"] = f"BILL vendor {bill_names.get(item.record_key, '')} ({item.record_key})".replace(
                    "vendor  (", "vendor (")
            elif item.kind == "payment":
                entry["document"] = f"BILL payment {item.record_key}"
                for link in s.scalars(select(t.PaymentLink).where(t.PaymentLink.payment_id == item.record_key)):
                    entry["vendor"] = f"{names.get(link.vendor_number, '')} ({link.vendor_number})".strip()
                    entry["amount"] = money(link.amount)
            else:
                entry["document"] = f"{item.kind} {item.record_key}"
            items.append(entry)
    return items


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- outcome --------------------------------------------------------------------------------------------------


def outcome(report: RunReport, problem: tuple[int, str] | None, waiting: int) -> tuple[int, str]:
    """(exit code, status word) of a run."""
    if report.status == "cancelled":
        return HELD, "cancelled"
    if report.errors:
        if problem is not None:
            return problem[0], {UNREACHABLE: "unreachable", USAGE: "configuration"}.get(problem[0], "failed")
        return HELD, "failed"
    if any(c.failed for c in report.flows.values()):
        return HELD, "failed"
    if waiting or any(c.held for c in report.flows.values()):
        return HELD, "held"
    return OK, "done"


def _headline(report: RunReport, status: str, waiting: list[dict]) -> str:
    what = "Dry run" if report.dry_run else "Sync"
    took = f"in {report.duration_seconds:.1f} s (HTTP calls: NAV {report.nav_calls}, BILL {report.bill_calls})"
    held = sum(1 for w in waiting if w["state"] == "held")
    failed = sum(1 for w in waiting if w["state"] == "failed")
    waits = ", ".join(part for part in (f"{held} held" if held else "", f"{failed} failed (retried by the next run)"
                                        if failed else "") if part)
    if status == "done":
        return f"{what} done {took}: every flow ran and nothing waits."
    if status == "held":
        return f"{what} finished {took}, but {waits or 'some records were held'}: see below."
    if status == "cancelled":
        return f"{what} cancelled {took}."
    if status == "failed" and not report.errors:
        return f"{what} finished {took}, but {waits or 'some records failed'}: see below."
    return f"{what} could not finish {took}: {len(report.errors)} problem(s), see below."


def cli_dict(report: RunReport, code: int, status: str, waiting: list[dict], held_log: list[str],
             problem: tuple[int, str] | None) -> dict:
    data = report.as_dict()
    data["run_status"] = data["status"]  # the engine's own word (completed | failed | cancelled)
    data["status"] = status
    data["exit_code"] = code
    data["counts"] = {name: named_counts(name, counts) for name, counts in report.flows.items()}
    if report.dry_run:
        data["held_in_dry_run"] = held_log
    else:
        data["waiting"] = waiting
    if report.errors:
        data["error"] = f"{problem[1]}. To fix: {_HINT['NAV' if problem[1].startswith('NAV') else 'BILL']}." \
            if problem is not None else report.errors[0]
    return data


def print_text(report: RunReport, status: str, waiting: list[dict], held_log: list[str],
               problem: tuple[int, str] | None, limit: int) -> None:
    print(_headline(report, status, waiting))
    for name in FLOWS:
        if name not in report.flows:
            continue
        words = named_counts(name, report.flows[name])
        if name == "invoices" or name == "vendors":
            still = sum(1 for w in waiting if _flow_of(w["kind"]) == name and not w["new"])
            if still:
                words["still held from earlier runs"] = still
        print(f"  {name:<9} " + ", ".join(f"{word} {n}" for word, n in words.items()))
    if report.errors:
        print("Problems:")
        for error in report.errors:
            print(f"  ! {error}")
    notes = list(getattr(report, "notes", [])) + list(getattr(report, "warnings", []))
    if notes:  # e.g. BILL's hourly budget reached: the next run goes on (not an error)
        print("Notes:")
        for note in notes:
            print(f"  - {note}")
    shown = waiting if not limit else waiting[:limit]
    if report.dry_run:
        if held_log:
            print(f"Would be held or retried ({len(held_log)}):")
            for line in held_log if not limit else held_log[:limit]:
                print(f"  - {line}")
            _more(len(held_log), limit, "held records")
    elif waiting:
        print(f"Waiting for you ({len(waiting)}; fix them in the window under Failed postings or in the mappings, "
              "then the next sync sends them):")
        for w in shown:
            parts = [w["document"]] + [p for p in (w["vendor"], w["amount"]) if p]
            mark = "retry" if w["state"] == "failed" else "held"
            print(f"  - [{mark}] {', '.join(parts)}: {w['reason']}")
        _more(len(waiting), limit, "held records")
    if report.dry_run:
        if report.planned:
            print(f"Would write ({len(report.planned)}):")
            for line in report.planned if not limit else report.planned[:limit]:
                print(f"  - {line}")
            _more(len(report.planned), limit, "planned changes")
        else:
            print("Would write nothing.")


def _more(total: int, limit: int, what: str) -> None:
    if limit and total > limit:
        print(f"  ... and {total - limit} more {what}: run again with --limit 0 to list them all "
              f"(or --json).")


def _flow_of(kind: str) -> str:
    return {"vendor": "vendors", "bill_vendor": "vendors", "conflict": "vendors", "invoice": "invoices",
            "payment": "payments"}.get(kind, kind)


# -- running ---------------------------------------------------------------------------------------------------


def _check_settings(settings: EngineSettings, flows, dry_run: bool) -> None:
    """The settings the engine checks first, as a usage error that says how to fix it (exit 2)."""
    try:
        settings.validate(tuple(flows or FLOWS))
    except ConnectorError as exc:
        raise CliError(f"{exc.message} Set them with `navbill settings KEY=VALUE` (e.g. balancing_account_number="
                       "2910; `navbill settings --help` lists the keys), or run another flow with --only.",
                       USAGE) from None


def _run_demo(args, flows, seen):
    from app.clients.bill import BillClient
    from app.clients.nav import NavClient
    from app.sandbox.runner import running_sandboxes
    from app.setup.config import app_paths
    from app.store import Store

    paths = app_paths(args.home).ensure()
    database = paths.data_dir / "demo.sqlite3"
    for leftover in (database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
        leftover.unlink(missing_ok=True)  # the sandboxes start fresh each time, so must the demo store
    with ExitStack() as stack:
        options = {"nav_flavor": args.nav_flavor} if getattr(args, "nav_flavor", None) else {}
        sandboxes = stack.enter_context(running_sandboxes(seed="demo", faults=getattr(args, "faults", ""),
                                                          **options))
        store = Store(f"sqlite:///{database}")
        stack.callback(store.close)
        nav, bill = NavClient(sandboxes.nav_connection()), BillClient(sandboxes.bill_connection())
        stack.callback(nav.close)
        stack.callback(bill.close)
        DEMO_SETTINGS.save(store)
        started = datetime.now(UTC)
        engine = SyncEngine(store, _Witness(nav, "NAV", seen), _Witness(bill, "BILL", seen), DEMO_SETTINGS)
        report = engine.run(flows=flows, dry_run=args.dry_run, trigger="cli --demo")
        if not args.dry_run and report.completed and (flows is None or "payments" in flows) \
                and (flows is None or "invoices" in flows or store.invoice_rows(state="created")):
            if pay_some_demo_bills(sandboxes, store):
                add_follow_up_run(report, engine.run(flows=["payments"], trigger="cli --demo payments"))
        return report, ([] if args.dry_run else held_items(store, started))


def _run_profile(args, flows, seen):
    from app.cli.unlock import unlock
    from app.setup.wiring import guard_installation, open_profile

    with open_profile(args.home, getattr(args, "profile", None), "sync", unlock) as opened:
        settings = EngineSettings.load(opened.store)
        _check_settings(settings, flows, args.dry_run)
        if not args.dry_run:  # a second installation with a store of its own writes nothing (a dry run may look)
            guard_installation(opened, args.home)
        started = datetime.now(UTC)
        engine = SyncEngine(opened.store, _Witness(opened.nav, "NAV", seen), _Witness(opened.bill, "BILL", seen),
                            settings)
        report = engine.run(flows=flows, dry_run=args.dry_run, trigger=f"cli {opened.profile.name}")
        return report, ([] if args.dry_run else held_items(opened.store, started))


def main(args) -> int:
    from app.log import setup_logging
    from app.setup.config import app_paths

    verbose = bool(getattr(args, "verbose", False))
    as_json = bool(getattr(args, "json", False))
    # The file records every run. The terminal: with --json the warnings (held records) on stderr for scripts;
    # as text nothing but the report (it lists what was held), unless -v.
    setup_logging(app_paths(args.home).log_dir, level=logging.DEBUG if verbose else logging.INFO,
                  console=verbose or as_json, console_level=logging.DEBUG if verbose else logging.WARNING,
                  console_tracebacks=verbose)
    flows = [args.only] if getattr(args, "only", None) else None
    seen: list[tuple[str, str, ConnectorError]] = []
    capture = _HeldLog()
    engine_log = logging.getLogger("navbill.engine")
    engine_log.addHandler(capture)
    try:
        report, waiting = (_run_demo if args.demo else _run_profile)(args, flows, seen)
    finally:
        engine_log.removeHandler(capture)
    problem = _side_problem(seen)
    code, status = outcome(report, problem, len(waiting))
    limit = int(getattr(args, "limit", 200) or 0)
    if as_json:
        print(json.dumps(cli_dict(report, code, status, waiting, capture.lines, problem), default=str), flush=True)
    else:
        print_text(report, status, waiting, capture.lines, problem, limit)
    if code and not as_json and report.errors:
        if problem is not None:
            side = "NAV" if problem[1].startswith("NAV") else "BILL"
            print(f"{problem[1]}. To fix: {_HINT[side]}.", file=sys.stderr)
        else:
            print(f"The sync could not finish: {report.errors[0]}", file=sys.stderr)
    return code
