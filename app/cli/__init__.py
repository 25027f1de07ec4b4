"""The command line: one parser (parser), one error path and exit codes (errors), and every subcommand (commands/).
May import every layer, and app.ui only to start the window (the default command).

``main(argv)`` parses (``app.cli.parser``), finds the home folder (``app.cli.home``), sets up logging (the log
file always records everything, tracebacks included; the terminal shows a traceback only with ``-v``), runs the
command and turns whatever stopped it into one sentence on stderr, or one JSON object on stdout with ``--json``.
Exit codes are in ``app.cli.errors``. Each command's module is imported only when used, so `sync` never loads Qt.
"""

from __future__ import annotations

import logging
import sys

from app.cli.errors import HELD, OK, STATUS, UNREACHABLE, USAGE, CliError, UsageError, code_for
from app.cli.output import emit_json
from app.cli.parser import build_parser, parse
from app.domain.errors import ConnectorError

__all__ = ["main", "build_parser", "CliError", "UsageError", "OK", "HELD", "USAGE", "UNREACHABLE", "emit_json"]

log = logging.getLogger("navbill.cli")

# Commands that set something up in the home folder, and so may create it (and say so).
_CREATING_ACTIONS = {("profile", "add"), ("vault", "set-passphrase")}


def _suppress():
    import contextlib

    return contextlib.suppress(Exception)


def _wants_json(argv: list[str]) -> bool:
    return "--json" in argv


def _creates_home(args) -> bool:
    command = args.command
    if command is None or args.demo:  # the window (its wizard sets up a profile) and every demo run
        return True
    if command == "settings":
        if args.settings:  # refuse a bad value before a new home is made for it
            from app.cli.commands.settings import apply
            from app.engine.settings import EngineSettings

            apply(EngineSettings(), args.settings)
        return bool(args.settings)
    if command == "profile" and args.profile_action == "add":
        from app.cli.commands.profile import parse_settings

        parse_settings(args.settings or [])
    if command == "sandbox":
        return bool(getattr(args, "write_profile", ""))
    action = getattr(args, "profile_action", None) or getattr(args, "vault_action", None)
    return (command, action) in _CREATING_ACTIONS


def _runner(command: str | None):
    if command == "sandbox":
        from app.cli.commands.sandbox import main as run
    elif command == "sync":
        from app.cli.commands.sync import main as run
    elif command == "serve":
        from app.cli.commands.serve import main as run
    elif command == "check":
        from app.cli.commands.check import main as run
    elif command == "bank-changes":
        from app.cli.commands.bank_changes import main as run
    elif command == "reconcile":
        from app.cli.commands.reconcile import main as run
    elif command == "vault":
        from app.cli.commands.vault import main as run
    elif command == "settings":
        from app.cli.commands.settings import main as run
    elif command == "profile":
        from app.cli.commands.profile import main as run
    elif command == "store":
        from app.cli.commands.store import main as run
    else:
        from app.ui.application import main as run
    return run


def _report(error: BaseException, code: int, as_json: bool, verbose: bool, log_file) -> None:
    from app.log import redact

    if isinstance(error, CliError):
        message = error.message
    elif isinstance(error, ConnectorError):
        message = str(error)
    else:
        where = f" Details are in {log_file}." if log_file else ""
        message = (f"Unexpected error ({type(error).__name__}: {error}).{where} "
                   f"{'' if verbose else 'Run the command again with -v to see the traceback; '}"
                   "please send the log file to support.")
    message = redact(message)
    if as_json and not getattr(error, "plain", False):
        emit_json({"status": STATUS.get(code, "failed"), "exit_code": code, "error": message})
    else:
        print(message, file=sys.stderr, flush=True)
        if isinstance(error, UsageError) and error.usage:
            print(f"{error.usage}\nSee `{error.command or 'navbill'} --help`.", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json, verbose, log_file = _wants_json(argv), "-v" in argv or "--verbose" in argv, None
    args = None
    try:
        try:
            args = parse(argv)
        except SystemExit as done:  # --help (argparse prints and exits 0)
            return int(done.code or 0)
        as_json, verbose = bool(args.json), bool(args.verbose)
        from app.cli.home import prepare_home

        paths = prepare_home(args, creates=_creates_home(args))
        if paths is not None:
            from app.log import setup_logging

            log_file = paths.log_dir / "navbill.log"
            # The file records everything (tracebacks too); each command sets its own console level later.
            setup_logging(paths.log_dir, level=logging.DEBUG if verbose else logging.INFO, console=False)
        args.log_file = log_file
        return int(_runner(args.command)(args) or 0)
    except KeyboardInterrupt:
        print("Stopped (Ctrl+C).", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`navbill sync | head`): nothing more to say to it
        import os

        with _suppress():
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return HELD
    except Exception as error:  # the one error path
        code = code_for(error)
        if not isinstance(error, CliError):
            from app.log import FILE_ONLY

            command = getattr(args, "command", None) or "navbill"
            log.error("%s stopped: %s", command, error, exc_info=True, extra=FILE_ONLY)
        if verbose and not isinstance(error, CliError):
            import traceback

            traceback.print_exc(file=sys.stderr)
        _report(error, code, as_json, verbose, log_file)
        return code
