"""`navbill check [--demo] [--json]`: the connection test (app.check) for the active profile or the demo
sandboxes; exit 0 only when every step passes (see ``app.check.run.exit_code``)."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Callable

from app.check.local import store_step, vault_step
from app.check.run import exit_code, run_checks
from app.check.steps import CheckReport, CheckStep
from app.domain.errors import ConfigurationError


def main(args) -> int:
    """``python main.py check [--demo] [--json]``: exit 0 only when every step passes (see ``exit_code``)."""
    from app.log import setup_logging
    from app.setup.config import app_paths

    paths = app_paths(getattr(args, "home", None)).ensure()
    setup_logging(paths.log_dir, level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
                  console=False)
    as_json = bool(getattr(args, "json", False))

    def show(step: CheckStep) -> None:
        if not as_json:  # live progress on stderr; the table (or JSON) alone goes to stdout
            print(f"  {step.side:<5} {step.status:<7} {step.title}", file=sys.stderr, flush=True)

    # A ConnectorError (no profile, a damaged store, a wrong vault passphrase) goes to the command line's one
    # error path: one sentence on stderr, or a JSON object with --json, and exit code 2.
    if args.demo:
        report = _run_demo(paths, show, getattr(args, "nav_flavor", None))
    else:
        report = _run_profile(paths, getattr(args, "profile", None), show)
    code = exit_code(report)
    if as_json:
        from app.cli.errors import STATUS

        data = report.to_dict()
        data.update(status="cancelled" if report.cancelled else STATUS.get(code, "failed"), exit_code=code)
        failures = report.failures()
        if failures:
            data["error"] = f"{failures[0].side}: {failures[0].detail} {failures[0].fix}".strip()
        print(json.dumps(data, indent=2))
    else:
        print("\n" + report.as_table())
        failures = report.failures()
        if failures:
            first = failures[0]
            print(f"{first.side} {first.title.lower()}: {first.detail} {first.fix}".strip(), file=sys.stderr)
    return code


def _run_demo(paths, show: Callable[[CheckStep], None], nav_flavor: str | None = None) -> CheckReport:
    from app.clients.bill_budget import LEDGER_FILE
    from app.sandbox.runner import running_sandboxes
    from app.setup.profiles import (
        ProfileStore,
        bill_budget,
        build_bill_connection,
        build_nav_connection,
        demo_profile,
        demo_secrets,
    )
    from app.setup.vault import DEMO_PASSPHRASE, Vault

    # A database and profile file of its own, made fresh each time: the demo must never add a profile to
    # the user's real list, switch the active one, or meet a real vault kept under the system keyring.
    folder = paths.data_dir / "check-demo"
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "check-demo.sqlite3"
    for leftover in (database, folder / "profiles.json", folder / LEDGER_FILE):  # a fresh sandbox: a fresh count
        leftover.unlink(missing_ok=True)
    vault = Vault.open_with_passphrase(f"sqlite:///{database}", DEMO_PASSPHRASE)
    store = ProfileStore(folder, vault)
    with running_sandboxes(seed="demo", nav_flavor=nav_flavor) as sandboxes:
        profile = store.save(demo_profile(sandboxes.nav_url, sandboxes.bill_url), demo_secrets())
        first = vault_step(vault)
        show(first)
        from app.engine.demo import DEMO_SETTINGS

        report = run_checks(build_nav_connection(profile, vault), build_bill_connection(profile, vault),
                            progress=show, allow_write=not profile.is_production,
                            payment_journal=_journal_of(DEMO_SETTINGS),
                            bill_budget=bill_budget(folder, profile, DEMO_SETTINGS))
    report.steps.insert(0, first)
    return report


def _journal_of(settings) -> tuple[str, str, str, str]:
    return (settings.journal_template, settings.journal_batch, settings.balancing_account_type,
            settings.balancing_account_number)


def _run_profile(paths, profile_name: str | None, show: Callable[[CheckStep], None]) -> CheckReport:
    from app.cli.unlock import unlock
    from app.setup.profiles import ProfileStore, bill_budget, build_bill_connection, build_nav_connection
    from app.setup.vault import Vault
    from app.setup.wiring import open_store_for

    # Open the store first, as sync and serve do: it turns a damaged or locked file, or a team store that refuses
    # the password saved on this PC, into a clear StoreError.
    database = open_store_for(paths, "check", unlock)
    vault = Vault.open_for_headless(database.engine)
    store = ProfileStore(paths, vault)
    profile = store.get(profile_name) if profile_name else store.active()
    if profile is None:
        raise ConfigurationError("No connection profile is set up yet. Add one with `navbill profile add NAME "
                                 "KEY=VALUE...` (or in the window), or run `navbill check --demo` to try the "
                                 "sandboxes.", code="no-profile")
    if not vault.is_unlocked and vault.mode == "passphrase" and sys.stdin is not None and sys.stdin.isatty():
        from app.cli.errors import CliError

        with contextlib.suppress(CliError):
            unlock(vault, "check")  # asks for the passphrase on the terminal; a wrong one is the vault's error
    first = vault_step(vault)
    show(first)
    database_step = store_step(database)
    show(database_step)
    if not vault.is_unlocked:
        return CheckReport([database_step, first])
    from app.engine.settings import EngineSettings

    settings = EngineSettings.load(database)
    report = run_checks(build_nav_connection(profile, vault), build_bill_connection(profile, vault),
                        progress=show, allow_write=not profile.is_production, payment_journal=_journal_of(settings),
                        bill_budget=bill_budget(paths.data_dir, profile, settings))
    report.steps[0:0] = [database_step, first]
    return report
