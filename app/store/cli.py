"""`navbill store restore FILE [--to DATABASE]` and `navbill store backups`: the database's rolling backups.

Exit status: 0 done, 1 refused (a sync is running, the backup is damaged), 2 bad arguments.
"""

from __future__ import annotations

import sys
from pathlib import Path

from app.store.backup import RestoreError, database_for_backup, list_backups, restore, restore_command
from app.store.integrity import check_database
from app.store.lock import FileRunLock, RunBusyError


def restore_backup(backup: Path, database: Path | None = None, wait: float = 5.0) -> str:
    """Restore ``backup`` over ``database`` (by default the database the backup belongs to) while no sync runs.
    Returns the sentence to print; raises ``RestoreError`` or ``RunBusyError`` with one."""
    database = Path(database) if database else database_for_backup(backup)
    with FileRunLock(database).hold("store restore", wait=wait):
        aside = restore(database, Path(backup))
    return (f"Database {database} restored from {backup}. The file it replaced is kept as {aside} "
            "(delete it once the next sync looks right).")


def main(args) -> int:
    action = getattr(args, "store_action", "")
    if action == "restore":
        try:
            print(restore_backup(Path(args.backup), Path(args.to) if args.to else None))
        except (RestoreError, RunBusyError, OSError) as exc:
            print(f"Not restored: {exc}", file=sys.stderr)
            return 1
        return 0
    from app.config import app_paths

    database = app_paths(args.home).database_file
    if action == "backups":
        backups = list_backups(database)
        if not backups:
            print(f"No backups of {database} yet (one is made after each successful sync).")
        for backup in backups:
            print(restore_command(backup))
        return 0
    ok, line = check_database(database)
    print(line)
    return 0 if ok else 1
