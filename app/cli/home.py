"""The home folder (``--home DIR`` or ``NAVBILL_HOME``): found, created only when that is clearly meant.

A mistyped ``--home`` must not quietly start an empty home (and then say "no profile is set up"). So a home
folder that does not exist yet is created only
- at the default location (the user's app folders, no ``--home`` and no ``NAVBILL_HOME``),
- with ``--create-home``, or
- by a command that sets something up there: any ``--demo`` run, the window (its wizard), ``profile add``,
  ``settings KEY=VALUE``, ``vault set-passphrase`` and ``sandbox --write-profile``; these say on stderr that
  they created it.
Every other command (``sync``, ``serve``, ``check``, ``profile list``...) refuses a missing home with exit code 2
and a sentence that names the folder. A home that is a file, or cannot be created, is refused the same way.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from app.cli.errors import USAGE, CliError


def prepare_home(args, *, creates: bool):
    """The AppPaths to use (folders made), with ``args.home`` set to the folder; None for `sandbox` without
    ``--write-profile`` and the window's demo without a home, which keep nothing in a home."""
    from app.setup.config import app_paths

    if args.command == "sandbox" and not getattr(args, "write_profile", ""):
        return None
    given = args.home or os.environ.get("NAVBILL_HOME") or ""
    if args.command is None and args.demo and not given:
        return None  # the window's demo makes a fresh temporary home of its own and never touches the real one
    source = "--home" if args.home else "NAVBILL_HOME"
    if given:
        root = Path(given).expanduser()
        if root.exists() and not root.is_dir():
            raise CliError(f"The home folder {root} is a file, not a folder: give {source} a folder.", USAGE)
        if not root.exists():
            if not (creates or args.create_home):
                raise CliError(f"There is no NavBill home at {root}: check the spelling of {source}. To start a "
                               "new home there, run the command again with --create-home.", USAGE)
            _make(root, source)
            args.created_home = root  # a refusal later in the command must not say "nothing was changed"
            print(f"Created a new NavBill home at {root}.", file=sys.stderr, flush=True)
        args.home = str(root)
    paths = app_paths(args.home)
    try:
        return paths.ensure()
    except OSError as exc:
        where = args.home or str(paths.data_dir)
        raise CliError(f"The home folder {where} cannot be used ({exc.strerror or exc}): choose another with "
                       "--home, or fix its permissions.", USAGE) from None


def _make(root: Path, source: str) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"The home folder {root} cannot be created ({exc.strerror or exc}): give {source} a folder "
                       "you may write to.", USAGE) from None
