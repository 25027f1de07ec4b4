"""Exit codes and the one error path every command shares.

    0  all done
    1  something was held or failed (the output says what)
    2  usage or configuration: a bad option or value, a missing profile or home, a refused login
    3  a system could not be reached: NAV or BILL (network, service down, busy beyond the retries)

A command raises ``CliError`` (or lets a ``ConnectorError`` through); ``app.cli.main`` turns either into one
plain sentence on stderr (or a JSON object on stdout with ``--json``) and the exit code. A traceback reaches
the terminal only with ``-v``; the log file always gets it.
"""

from __future__ import annotations

from app.domain.errors import ConnectorError, RecordError, RetryableError

OK = 0
HELD = 1
USAGE = 2
UNREACHABLE = 3

# The `status` word that goes with each exit code, in text and in JSON.
STATUS = {OK: "done", HELD: "held", USAGE: "configuration", UNREACHABLE: "unreachable"}


class CliError(Exception):
    """A failure the user can fix: ``message`` says what to change; ``code`` is the exit code."""

    def __init__(self, message: str, code: int = USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class UsageError(CliError):
    """A bad command line (unknown option, bad value): exit code 2, with the command's usage line."""

    def __init__(self, message: str, usage: str = "", command: str = "") -> None:
        super().__init__(message, USAGE)
        self.usage = usage
        self.command = command


def code_for(error: BaseException) -> int:
    """The exit code for an error that ended a command."""
    if isinstance(error, CliError):
        return error.code
    if isinstance(error, RetryableError):  # unreachable, down, or busy beyond the retries
        return UNREACHABLE
    if isinstance(error, RecordError):  # one record refused: the rest of the work is what the output says
        return HELD
    if isinstance(error, ConnectorError):
        # Refused login, wrong or missing setting, no profile, the vault's passphrase, a store that cannot be
        # opened (damaged, locked, newer): the setup must change.
        return USAGE
    if isinstance(error, (ValueError, OSError)):
        return USAGE
    return HELD
