"""Command line: the window by default, or one of the headless commands.

    navbill [--demo] [--minimized]         open the window (on the embedded sandboxes with --demo; in the tray)
    navbill sandbox [--nav-port ...]       run the NAV and BILL sandboxes in the foreground
    navbill sync [--demo] [--dry-run] [--only ...] [--json]
    navbill serve [--demo]                 scheduler + webhook listener, no window
    navbill check [--demo]                 connection test for both sides
    navbill vault status|set-passphrase|change-passphrase|rotate-key
    navbill profile list|show|add|set|secret|activate|delete   connection profiles without a window
    navbill settings [KEY=VALUE ...]       the sync settings (journal, balancing account, conflict rule)
    navbill store restore FILE|backups|check   the database's rolling backups and integrity

Each command lives in its own module and is imported only when used, so `sync` never loads Qt.
"""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="navbill", description="NAV ⇄ BILL accounts-payable connector")
    parser.add_argument("--demo", action="store_true", help="use the embedded NAV and BILL sandboxes")
    parser.add_argument("--home", help="folder for data, logs and settings (default: the user's app folders)")
    parser.add_argument("--profile", help="connection profile to use (default: the active one)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    parser.add_argument("--minimized", action="store_true",
                        help="start hidden in the system tray (used when starting at sign-in)")
    commands = parser.add_subparsers(dest="command")

    sandbox = commands.add_parser("sandbox", help="run the NAV and BILL sandboxes in the foreground")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--nav-port", type=int, default=7048)
    sandbox.add_argument("--bill-port", type=int, default=7080)
    sandbox.add_argument("--seed", default="demo", help="demo | empty | large:N")
    sandbox.add_argument("--faults", default="", help="e.g. latency=20ms,5xx=0.2,ratelimit=0.05,drop=0.02,expire=0.1")

    sync = commands.add_parser("sync", help="run one sync and exit")
    sync.add_argument("--demo", action="store_true", dest="demo_sub", help=argparse.SUPPRESS)
    sync.add_argument("--dry-run", action="store_true", help="report what would change; write nothing")
    sync.add_argument("--only", choices=["vendors", "invoices", "payments", "accounts"])
    sync.add_argument("--json", action="store_true", help="print one JSON object with the run's figures")
    sync.add_argument("--faults", default="", help="with --demo: faults for the embedded sandboxes")

    serve = commands.add_parser("serve", help="run the scheduler and webhook listener without a window")
    serve.add_argument("--demo", action="store_true", dest="demo_sub", help=argparse.SUPPRESS)
    serve.add_argument("--listen", default="", help="webhook listener address host:port")
    serve.add_argument("--run-for", type=float, default=0, help="stop after N seconds (tests)")

    check = commands.add_parser("check", help="test the connection to NAV and BILL")
    check.add_argument("--demo", action="store_true", dest="demo_sub", help=argparse.SUPPRESS)
    check.add_argument("--json", action="store_true")

    vault = commands.add_parser("vault", help="the credentials vault: status, passphrase, key rotation")
    vault.add_argument("vault_action", choices=["status", "set-passphrase", "change-passphrase", "rotate-key"])

    settings = commands.add_parser("settings", help="the sync settings (journal, balancing account, conflict rule)")
    settings.add_argument("settings", nargs="*", metavar="KEY=VALUE")

    store = commands.add_parser("store", help="the database: rolling backups, restore one, integrity check")
    store_actions = store.add_subparsers(dest="store_action", required=True)
    restore = store_actions.add_parser("restore", help="put a backup in place of the database (no sync may run)")
    restore.add_argument("backup", metavar="FILE")
    restore.add_argument("--to", default="", help="the database file (default: the one the backup belongs to)")
    store_actions.add_parser("backups", help="the backups and the command that restores each")
    store_actions.add_parser("check", help="PRAGMA quick_check on the database")

    profile = commands.add_parser("profile", help="connection profiles without a window (secrets go to the vault)")
    actions = profile.add_subparsers(dest="profile_action", required=True)
    actions.add_parser("list", help="every profile, its settings, which is active and which secrets are set")
    for action, text in (("show", "one profile's settings and which secrets are set"),
                         ("add", "a new profile, with settings as KEY=VALUE"),
                         ("set", "change settings of a profile: KEY=VALUE ..."),
                         ("secret", "save a secret (from a prompt or NAVBILL_SECRET_VALUE)"),
                         ("activate", "make a profile the active one"),
                         ("delete", "remove a profile and its saved secrets")):
        sub = actions.add_parser(action, help=text)
        sub.add_argument("profile_name", metavar="NAME")
        if action in ("add", "set"):
            sub.add_argument("settings", nargs="*", metavar="KEY=VALUE")
        if action == "secret":
            sub.add_argument("secret_key", metavar="KEY")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.demo = bool(args.demo or getattr(args, "demo_sub", False))
    if args.command == "sandbox":
        from app.sandbox.runner import main as run
    elif args.command == "sync":
        from app.engine.cli import main as run
    elif args.command == "serve":
        from app.push.serve import main as run
    elif args.command == "check":
        from app.check import main as run
    elif args.command == "vault":
        from app.vault_cli import main as run
    elif args.command == "settings":
        from app.settings_cli import main as run
    elif args.command == "store":
        from app.store.cli import main as run
    elif args.command == "profile":
        from app.profile_cli import main as run
    else:
        from app.ui.application import main as run
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
