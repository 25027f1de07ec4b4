"""The command line's one parser convention.

Global options (``--home``, ``--create-home``, ``--profile``, ``-v``) are accepted before or after the command
(and after a ``profile`` action). So are the options a command has in common with the window: ``--demo`` and
``--nav-flavor``, and ``--json`` on the commands that print JSON. An option given to a command that has no use
for it is a usage error (exit code 2), never silently ignored. Every option has a help text; ``settings`` and
``profile`` list their keys, types and allowed values in their ``--help``.
"""

from __future__ import annotations

import argparse
import sys
import textwrap

from app.cli.errors import UsageError

JSON_COMMANDS = ("sync", "check", "reconcile", "bank-changes", "settings", "profile", "vault")
DEMO_COMMANDS = ("sync", "serve", "check", "reconcile", None)  # None: the window
NAV_FLAVORS = ("bc", "classic")


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises UsageError instead of printing and exiting, so the one error path
    (stderr or JSON, exit code 2) handles a bad command line like any other failure."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{message[0].upper()}{message[1:]}.", usage=self.format_usage().strip(),
                         command=self.prog)


# -- value types: each says what it takes in the message --------------------------------------------


def port_number(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number (0 to 65535; 0 picks a free port)") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{number} is not a port number (0 to 65535; 0 picks a free port)")
    return number


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds (0 or more)")
    return value


def seed(text: str) -> str:
    text = text.strip()
    if text in ("demo", "empty"):
        return text
    if text.startswith("large:"):
        count = text.split(":", 1)[1]
        if count.isdigit() and int(count) > 0:
            return text
    raise argparse.ArgumentTypeError(f"'{text}' is not a seed; use demo, empty or large:N (N vendors, e.g. large:1000)")


def faults(text: str) -> str:
    """A fault SPEC, checked item by item so the message names the item that is wrong."""
    from app.sandbox.base import FaultSpec

    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            FaultSpec.parse(item)
        except ValueError as exc:
            words = str(exc)
            if "could not convert" in words or "invalid literal" in words:
                key = item.partition("=")[0].strip()
                kind = ("a whole number" if key.endswith("seed") else "a duration such as 20ms" if
                        key.endswith("latency") else "a rate between 0 and 1, e.g. 0.2")
                words = f"'{item}' needs {kind}"
            raise argparse.ArgumentTypeError(
                f"{words} (SPEC example: latency=20ms,5xx=0.2,ratelimit=0.05,drop=0.02,expire=0.1,seed=7)") from None
    return text


def listen_address(text: str) -> str:
    from app.push.listener import parse_listen_address

    try:
        parse_listen_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (use host:port, e.g. 0.0.0.0:8765)") from None
    return text


def _no_password_argument(_text: str) -> str:
    """``store join --password VALUE`` is refused without showing VALUE: the password goes on standard input.
    (A UsageError of its own: argparse's "argument --password: ..." would be masked as if it held a password.)"""
    raise UsageError("A password is never given as an argument (it would show in the process list and the shell "
                     "history): give it on standard input with --password-stdin. Nothing was changed.",
                     command="navbill store join")


# -- the parser ---------------------------------------------------------------------------------------


def _globals(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The options every command takes. On the subcommands their default is SUPPRESS, so a value given before
    the command is not overwritten by the subcommand's default."""
    d = {} if top else {"default": argparse.SUPPRESS}
    group = parser.add_argument_group("global options (before or after the command)")
    group.add_argument("--home", metavar="DIR", **d,
                       help="folder for data, logs and settings (also NAVBILL_HOME; default: the user's app folders). "
                            "A folder that does not exist is created only by a command that sets something up "
                            "(--demo, profile add, settings KEY=VALUE, vault set-passphrase) or with --create-home")
    group.add_argument("--create-home", action="store_true", **d,
                       help="create the --home folder if it does not exist yet")
    group.add_argument("--profile", metavar="NAME", **d,
                       help="connection profile to use (default: the active one)")
    group.add_argument("-v", "--verbose", action="store_true", **d,
                       help="show debug detail, and the traceback of an unexpected error, on the terminal")


def _demo(parser: argparse.ArgumentParser, *, top: bool) -> None:
    d = {} if top else {"default": argparse.SUPPRESS}
    parser.add_argument("--demo", action="store_true", **d, help="use the embedded NAV and BILL sandboxes")
    _flavor(parser, top=top)


def _flavor(parser: argparse.ArgumentParser, *, top: bool, text: str = "") -> None:
    d = {} if top else {"default": argparse.SUPPRESS}
    parser.add_argument("--nav-flavor", choices=NAV_FLAVORS, **d,
                        help=text or "with --demo: which NAV the sandbox plays, Business Central (API v2.0, bc) or "
                                     "NAV 2016/2018 (classic OData pages, classic)")


def _json(parser: argparse.ArgumentParser, *, top: bool, text: str = "") -> None:
    d = {} if top else {"default": argparse.SUPPRESS}
    parser.add_argument("--json", action="store_true", **d,
                        help=text or "print one JSON object on stdout (errors too) instead of text")


EXIT_CODES = ("exit codes: 0 all done; 1 something was held or failed (the output says what); 2 usage or "
              "configuration (a bad option or value, no profile, a refused login); 3 NAV or BILL could not be reached")


def build_parser() -> argparse.ArgumentParser:
    from app.cli.commands.profile import profile_keys_help
    from app.cli.commands.settings import settings_keys_help

    parser = Parser(prog="navbill", description="NAV ⇄ BILL accounts-payable connector. Without a command: the "
                    "window and tray.", epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    _globals(parser, top=True)
    _demo(parser, top=True)
    _json(parser, top=True, text="for sync, check, settings, profile and vault: print JSON")
    parser.add_argument("--minimized", action="store_true",
                        help="start hidden in the system tray (used when starting at sign-in)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    made: list[argparse.ArgumentParser] = []

    def command(name: str, text: str, epilog: str = "") -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text, epilog=(epilog + "\n\n" if epilog else "")
                                  + EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
        _globals(sub, top=False)
        made.append(sub)
        return sub

    sandbox = command("sandbox", "run the NAV and BILL sandboxes in the foreground until Ctrl+C; prints the "
                      "`profile add` line that points a profile at them")
    sandbox.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sandbox.add_argument("--nav-port", type=port_number, default=7048, help="NAV sandbox port (default 7048; 0: any)")
    sandbox.add_argument("--bill-port", type=port_number, default=7080, help="BILL sandbox port (default 7080; 0: any)")
    sandbox.add_argument("--seed", type=seed, default="demo", help="demo | empty | large:N (default demo)")
    sandbox.add_argument("--faults", type=faults, default="",
                         help="e.g. latency=20ms,5xx=0.2,ratelimit=0.05,drop=0.02,expire=0.1,seed=7 "
                              "(prefix a key with nav. or bill. for one side)")
    sandbox.add_argument("--write-profile", metavar="NAME", default="",
                         help="also save a connection profile NAME that points at these sandboxes (its secrets go "
                              "into the vault)")
    _flavor(sandbox, top=False, text="which NAV the sandbox plays: Business Central API v2.0 (bc) or NAV "
                                     "2016/2018 classic OData pages (classic)")

    sync = command("sync", "run one sync and exit",
                   "It lists what was read, created, updated, held and failed, with every held or failed record "
                   "(vendor, document, amount, reason).")
    _demo(sync, top=False)
    _json(sync, top=False)
    sync.add_argument("--dry-run", action="store_true", help="report what would change; write nothing")
    sync.add_argument("--only", choices=["vendors", "invoices", "payments", "accounts"], help="run one flow only")
    sync.add_argument("--faults", type=faults, default="", help="with --demo: faults for the embedded sandboxes")
    sync.add_argument("--limit", type=int, default=200, metavar="N",
                      help="list at most N planned changes and N held items (default 200; 0: all)")

    serve = command("serve", "run the scheduler and webhook listener without a window")
    _demo(serve, top=False)
    serve.add_argument("--listen", type=listen_address, default="", help="webhook listener address host:port")
    serve.add_argument("--run-for", type=seconds, default=0, metavar="SECONDS",
                       help="stop after this many seconds (0: until Ctrl+C or SIGTERM)")

    check = command("check", "test the connection to NAV and BILL, step by step")
    _demo(check, top=False)
    _json(check, top=False)

    reconcile = command("reconcile", "compare NAV and BILL for every linked vendor: open invoices against open "
                        "bills, BILL payments against NAV payment entries (read only)",
                        "Every difference is listed with both numbers and the likely cause. Exit code 0: they agree; "
                        "1: differences found.")
    _demo(reconcile, top=False)
    _json(reconcile, top=False)
    reconcile.add_argument("--csv", metavar="FILE", default="", help="also write the differences to FILE (CSV)")

    bank = command("bank-changes", "the unconfirmed changes of vendors' bank details in BILL; confirm one after "
                   "checking it with the vendor",
                   "Without an action: the list (exit 1 while some wait). `confirm BILL_VENDOR_ID --note TEXT`: a "
                   "person checked the change; that vendor's held payments are posted by the next sync.")
    _json(bank, top=False)
    bank.add_argument("bank_action", nargs="?", choices=["list", "confirm"], default="list", metavar="ACTION",
                      help="list (default) | confirm")
    bank.add_argument("vendor", nargs="?", default="", metavar="BILL_VENDOR_ID", help="with confirm: the vendor")
    bank.add_argument("--note", default="", help="with confirm: who checked the change, and how")

    vault = command("vault", "the credentials vault: status, passphrase, key rotation",
                    "Passphrases come from a prompt, or for scripts from NAVBILL_VAULT_PASSPHRASE (the current one) "
                    "and NAVBILL_NEW_VAULT_PASSPHRASE (a new one; set-passphrase also takes NAVBILL_VAULT_PASSPHRASE).")
    _json(vault, top=False)
    vault.add_argument("vault_action", choices=["status", "set-passphrase", "change-passphrase", "rotate-key"],
                       metavar="ACTION", help="status | set-passphrase | change-passphrase | rotate-key")

    settings = command("settings", "the sync settings (journal, balancing account, conflict rule, number series)",
                       settings_keys_help())
    _json(settings, top=False)
    settings.add_argument("settings", nargs="*", metavar="KEY=VALUE", help="settings to change (see the keys below)")

    store = command("store", "the database: rolling backups, restore one, integrity check; a team store "
                    "(init, migrate, status, join)",
                    "A backup is made after every successful sync (the last 7 are kept). A team shares one "
                    "PostgreSQL store: `store init --url postgresql+psycopg://USER@HOST/DB --use` on each PC.")
    store_actions = store.add_subparsers(dest="store_action", required=True, metavar="ACTION", parser_class=Parser)
    restore = store_actions.add_parser("restore", help="put a backup in place of the database (no sync may run)")
    _globals(restore, top=False)
    made.append(restore)
    restore.add_argument("backup", metavar="FILE")
    restore.add_argument("--to", default="", help="the database file (default: the one the backup belongs to)")
    for name, text in (("backups", "the backups and the command that restores each"),
                       ("check", "PRAGMA quick_check on the database")):
        sub = store_actions.add_parser(name, help=text, description=text)
        _globals(sub, top=False)
        made.append(sub)
    for name, text in (("init", "create the store's tables in an empty database (a team's PostgreSQL store)"),
                       ("migrate", "bring the store's tables up to this version of the app"),
                       ("status", "which store this installation uses, its schema version and who leads")):
        sub = store_actions.add_parser(name, help=text, description=text)
        _globals(sub, top=False)
        made.append(sub)
        sub.add_argument("--url", default="", help="the store's SQLAlchemy URL, e.g. postgresql+psycopg://"
                         "navbill@db.example.com/navbill (the password goes in PGPASSWORD or the pgpass file, "
                         "never in the URL); default: the store this installation uses")
        if name != "status":
            sub.add_argument("--use", action="store_true",
                             help="make this installation use that store from now on (written to store.json)")
        if name == "init":
            sub.add_argument("--copy", action="store_true",
                             help="copy the store this installation uses now (links, queue, mappings, history) into "
                                  "the new one, so the team starts where this PC left off")
    text = ("join a team store as the window's Settings → Team store… does: test the address and password, then "
            "use that store from now on, its password saved in this PC's own credentials vault")
    join = store_actions.add_parser(
        "join", help=text, description=text, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(paragraph if paragraph.startswith(" ") else textwrap.fill(paragraph, 100) for paragraph in (
            "The password comes on standard input with --password-stdin, never as an argument (it would show in "
            "the process list and the shell history):",
            "  navbill store join --url postgresql+psycopg://navbill@db.example.com/navbill --password-stdin < pw.txt",
            "Without --password-stdin, libpq's PGPASSWORD or pgpass file gives it and no password is saved (one "
            "saved before is removed). When "
            "the server refuses, cannot be reached or has no tables yet, it says why and what to do, and nothing "
            "is changed. This PC's vault opens with the system keyring, NAVBILL_VAULT_PASSPHRASE (a new vault takes "
            "it as its passphrase) or a prompt on a terminal. Headless commands (sync, serve, check, store status) "
            "then use the saved password; PGPASSWORD, when set for a command, wins.",
            "exit codes: 0 joined; 1 the server refused or could not be reached, or the store is not ready (the "
            "message says why); 2 a bad address or option, or this PC's vault is locked")))
    _globals(join, top=False)
    made.append(join)
    join.add_argument("--url", required=True, help="the team store's address as the administrator gave it, e.g. "
                      "postgresql+psycopg://navbill@db.example.com/navbill (postgres:// and postgresql:// work too), "
                      "without a password")
    join.add_argument("--password-stdin", action="store_true",
                      help="read the password from standard input (one line; asked without echo on a terminal)")
    join.add_argument("--password", type=_no_password_argument, default=argparse.SUPPRESS, metavar="",
                      help=argparse.SUPPRESS)
    join.add_argument("--create-tables", action="store_true",
                      help="I am the administrator: create the connector's tables if the database has none yet "
                           "(as `store init`)")
    text = ("an administrator's word that this installation is the only connector for its companies (sync and "
            "serve refuse to write while another installation's bills are in BILL)")
    sub = store_actions.add_parser("confirm-alone", help=text, description=text)
    _globals(sub, top=False)
    made.append(sub)

    profile = command("profile", "connection profiles without a window (secrets go to the vault)", profile_keys_help())
    _json(profile, top=False)
    actions = profile.add_subparsers(dest="profile_action", required=True, metavar="ACTION", parser_class=Parser)

    def action(name: str, text: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=text, description=text, epilog=profile_keys_help() + "\n\n" + EXIT_CODES,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        _globals(sub, top=False)
        _json(sub, top=False)
        made.append(sub)
        return sub

    action("list", "every profile, its settings, which is active and which secrets are set")
    for name, text in (("show", "one profile's settings and which secrets are set"),
                       ("add", "a new profile, with settings as KEY=VALUE"),
                       ("set", "change settings of a profile: KEY=VALUE ..."),
                       ("secret", "save a secret (from a prompt or NAVBILL_SECRET_VALUE) in the vault"),
                       ("activate", "make a profile the active one"),
                       ("delete", "remove a profile and its saved secrets (asks first; --yes to skip the question)")):
        sub = action(name, text)
        sub.add_argument("profile_name", metavar="NAME", help="the profile's name")
        if name in ("add", "set"):
            sub.add_argument("settings", nargs="*", metavar="KEY=VALUE", help="settings (see the keys below)")
        if name == "secret":
            sub.add_argument("secret_key", metavar="KEY", help="which secret, e.g. bill.password")
        if name == "delete":
            sub.add_argument("-y", "--yes", action="store_true", help="delete without asking")
    # Options a command has no use for are still recognised (hidden), so `parse` can say where they belong
    # instead of argparse's "unrecognized arguments".
    for sub in made:
        for flag, extra in (("--json", {"action": "store_true"}), ("--demo", {"action": "store_true"}),
                            ("--nav-flavor", {"choices": NAV_FLAVORS}), ("--minimized", {"action": "store_true"})):
            if flag not in sub._option_string_actions:
                sub.add_argument(flag, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **extra)
    return parser


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Parse and check the combinations argparse cannot: an option given to a command that has no use for it."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    command = args.command
    for name, default in (("json", False), ("demo", False), ("nav_flavor", None), ("home", None),
                          ("create_home", False), ("profile", None), ("verbose", False)):
        if not hasattr(args, name):
            setattr(args, name, default)
    where = f"`{command}`" if command else "the window"
    if args.json and command not in JSON_COMMANDS:
        problem = UsageError(f"--json is not available for {where}; it is for {', '.join(JSON_COMMANDS)}.")
        problem.plain = True  # this command does not speak JSON: the refusal is a sentence on stderr
        raise problem
    if args.demo and command not in DEMO_COMMANDS:
        raise UsageError(f"--demo is not available for {where}; it is for sync, serve, check, reconcile and the window.")
    if args.nav_flavor and command != "sandbox" and not args.demo:
        raise UsageError("--nav-flavor goes with --demo (or the sandbox command): it chooses which NAV the "
                         "sandbox plays.")
    if getattr(args, "faults", "") and command == "sync" and not args.demo:
        raise UsageError("--faults goes with --demo: it makes the embedded sandboxes misbehave.")
    if args.minimized and command:
        raise UsageError(f"--minimized is for the window, not for `{command}`.")
    if getattr(args, "limit", 0) < 0:
        raise UsageError("--limit takes 0 (all) or a positive number.")
    args.demo_sub = args.demo  # older callers read this
    return args
