"""`navbill sandbox [--nav-port N] [--bill-port N] [--seed ...] [--faults SPEC] [--write-profile NAME]`: both
sandboxes in the foreground (app.sandbox.runner starts them), with the profile lines that point at them.
"""

from __future__ import annotations

import logging
import signal
import threading

from app.sandbox import demo_data
from app.sandbox.runner import (
    RunningSandboxes,
    profile_secrets,
    profile_values,
    start_sandboxes,
    stop_sandboxes,
)


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def _program(args) -> str:
    import os
    import sys

    name = os.path.basename(sys.argv[0] or "navbill")
    program = "python main.py" if name.endswith(".py") else name
    home = getattr(args, "home", None)
    return f"{program} --home {_quote(home)}" if home else program


def _write_profile(args, running: RunningSandboxes) -> str:
    """Save profile ``args.write_profile`` pointing at the sandboxes, its secrets in the vault; returns a sentence."""
    from app.cli.commands.profile import _unlocked_vault, apply_settings, parse_settings
    from app.setup.config import app_paths
    from app.setup.profiles import Profile, ProfileStore, validate_profile_name
    from app.setup.vault import Vault
    from app.store import open_store

    name = validate_profile_name(args.write_profile)
    values = parse_settings([f"{k}={v}" for k, v in profile_values(running, running.nav_flavor).items()])
    paths = app_paths(args.home).ensure()
    database = open_store(paths.database_url)
    try:
        vault = Vault.open(database.engine)
        _unlocked_vault(vault)
        profiles = ProfileStore(paths, vault)
        existing = profiles.get(name) if name in profiles.names() else Profile(name=name)
        saved = profiles.save(apply_settings(existing, values), profile_secrets())
    finally:
        database.close()
    return (f"Profile '{name}' {'updated' if existing.nav.base_url else 'saved'} (its secrets are in the vault)"
            f"{' and active' if saved.active else ''}: try `{_program(args)} check --profile {_quote(name)}`.")


def main(args) -> int:
    """`python main.py sandbox`: both sandboxes in the foreground until Ctrl+C (or SIGTERM).

    Prints the addresses and the `profile add` / `profile secret` lines that point a profile at them; with
    ``--write-profile NAME`` saves that profile itself. Errors go to the command line's one error path.
    """

    from app.cli.errors import USAGE, CliError
    from app.log import register_secret, setup_logging

    for secret in profile_secrets().values():
        register_secret(secret)  # public demo values, but still kept out of any log
    if getattr(args, "write_profile", "") and getattr(args, "log_file", None) is not None:
        setup_logging(args.log_file.parent, console=bool(args.verbose), console_tracebacks=bool(args.verbose))
    else:
        setup_logging(None, console=True, console_level=logging.INFO if args.verbose else logging.WARNING,
                      console_tracebacks=bool(args.verbose))
    # Handlers first: whoever reads "Ctrl+C to stop." may send SIGTERM at once, and must get a clean stop.
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        running = start_sandboxes(seed=args.seed, faults=args.faults, host=args.host, nav_port=args.nav_port,
                                  bill_port=args.bill_port, nav_flavor=getattr(args, "nav_flavor", None))
    except OSError as exc:
        raise CliError(f"Could not start the sandboxes on {args.host} ({exc.strerror or exc}): is port "
                       f"{args.nav_port} or {args.bill_port} already in use? Choose others with --nav-port / "
                       "--bill-port (0 picks a free one).", USAGE) from None
    except (ValueError, OverflowError) as exc:
        raise CliError(f"Could not start the sandboxes: {exc}.", USAGE) from None
    try:
        written = _write_profile(args, running) if getattr(args, "write_profile", "") else ""
        nav = running.nav_connection()
        values = profile_values(running, running.nav_flavor)
        flavor = {"bc": "Business Central (API v2.0 and published pages)",
                  "classic": "NAV 2016-2018 (published OData pages only)"}[running.nav_flavor]
        print(f"NAV sandbox ({flavor}): {running.nav_url}/{nav.server_instance}/ODataV4/Company('{nav.company}')/")
        if running.nav_flavor == "bc":
            print(f"  API v2.0: {running.nav_url}/{nav.server_instance}/api/v2.0/companies({demo_data.COMPANY_ID})/")
            print(f"  company id {demo_data.COMPANY_ID}, user {demo_data.NAV_USER}")
        else:
            print(f"  user {demo_data.NAV_USER}; payments wait in journal batch PAYMENT/BILL for the accountant")
        print(f"BILL sandbox: {running.bill_url}/connect/v3/  events: {running.bill_url}/connect-events/v3/")
        print(f"  organization {demo_data.BILL_ORGANIZATION_ID}, user {demo_data.BILL_USERNAME}")
        print(f"Seed: {args.seed}; faults: {args.faults or 'none'}.")
        if written:
            print(written)
        else:
            program = _program(args)
            print("\nA profile for these sandboxes (the secrets are the sandboxes' public demo values; the vault "
                  "keeps them):")
            print(f"  {program} profile add sandbox " + " ".join(_quote(f"{k}={v}") for k, v in values.items()))
            for key, value in profile_secrets().items():
                print(f"  NAVBILL_SECRET_VALUE={_quote(value)} {program} profile secret sandbox {key}")
            print(f"  (or start the sandboxes with --write-profile sandbox; then `{program} check --profile sandbox`)")
        print("Ctrl+C to stop.", flush=True)
        while not stop.wait(0.25):  # short waits: a signal taken by another thread runs its handler on wake-up
            pass
    finally:
        stop_sandboxes(running)
    return 0
