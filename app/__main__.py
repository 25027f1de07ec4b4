"""Command line: the window by default, or one of the headless commands.

    navbill [--demo] [--minimized]         open the window (on the embedded sandboxes with --demo; in the tray)
    navbill sandbox [--nav-port ...]       run the NAV and BILL sandboxes in the foreground
    navbill sync [--demo] [--dry-run] [--only ...] [--json]
    navbill serve [--demo]                 scheduler + webhook listener, no window
    navbill check [--demo] [--json]        connection test for both sides
    navbill vault status|set-passphrase|change-passphrase|rotate-key
    navbill profile list|show|add|set|secret|activate|delete   connection profiles without a window
    navbill settings [KEY=VALUE ...]       the sync settings (journal, balancing account, conflict rule)
    navbill store restore FILE|backups|check   the database's rolling backups and integrity

The parser, the home folder, logging and the one error path (exit codes 0/1/2/3) live in ``app.cli``; each
command lives in its own module in ``app.cli.commands`` and is imported only when used, so `sync` never loads Qt.
"""

from __future__ import annotations

import sys

from app.cli import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
