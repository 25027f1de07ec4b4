"""Rolling backups of the SQLite store, and restoring one.

After every successful sync run the store is copied with SQLite's online backup API (consistent while other
readers go on) to ``<data>/backups/navbill.sqlite3.<YYYYmmddTHHMMSS>.bak``; the newest ``keep`` copies (default
7, ``NAVBILL_BACKUPS``) are kept. ``restore_command(backup)`` is the one line a clerk types to put one back,
app.store.restore does it: it checks the copy (app.store.integrity, which names these backups in its advice),
moves the current file aside (never deletes it) and copies the backup in, while no sync is running.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import sqlite3
import sys
from datetime import datetime, timedelta
from pathlib import Path

log = logging.getLogger("navbill.store")

DEFAULT_KEEP = 7
DEFAULT_SPACING = timedelta(hours=1)  # older copies at least this far apart (the newest is always fresh)
BACKUP_DIR = "backups"
SUFFIX = ".bak"


def default_keep() -> int:
    try:
        return max(1, int(os.environ.get("NAVBILL_BACKUPS", DEFAULT_KEEP)))
    except ValueError:
        return DEFAULT_KEEP


def backup_dir(database_file: Path) -> Path:
    return database_file.parent / BACKUP_DIR


def list_backups(database_file: Path) -> list[Path]:
    """This database's rolling backups, newest first."""
    folder = backup_dir(database_file)
    if not folder.is_dir():
        return []
    prefix = database_file.name + "."
    return sorted((p for p in folder.iterdir() if p.name.startswith(prefix) and p.name.endswith(SUFFIX)),
                  key=lambda p: p.name, reverse=True)


def restore_command(backup: Path) -> str:
    """The one-line command that restores ``backup`` (for messages, ``check`` and the window's Help)."""
    program = "navbill-cli" if getattr(sys, "frozen", False) else "python main.py"
    return f"{program} store restore {shlex.quote(str(backup))}"


def restore_hint(database_file: Path | None) -> str:
    """What to do about a damaged or lost database, in one or two sentences."""
    backups = list_backups(database_file) if database_file is not None else []
    if backups:
        return (f"Close the window and stop serve, then restore the newest backup ({_when(backups[0])}) with: "
                f"{restore_command(backups[0])} ({len(backups)} backup(s) in {backup_dir(database_file)}).")
    return ("There is no backup of it yet. Move the file away to start afresh: the next sync recognises the "
            "vendors, bills and payments NAV and BILL already hold and creates none of them twice.")


def _stamp(backup: Path) -> datetime | None:
    stamp = backup.name[:-len(SUFFIX)].rsplit(".", 1)[-1]
    try:
        return datetime.strptime(stamp[:15], "%Y%m%dT%H%M%S")
    except ValueError:
        return None


def _when(backup: Path) -> str:
    stamp = backup.name[:-len(SUFFIX)].rsplit(".", 1)[-1]
    try:
        return datetime.strptime(stamp[:15], "%Y%m%dT%H%M%S").strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp


def make_backup(database_file: Path, keep: int | None = None, spacing: timedelta = DEFAULT_SPACING) -> Path:
    """Copy the live database with the online backup API; keep the newest ``keep`` copies.

    The newest copy is always the state after the last successful run. Older copies stay at least ``spacing``
    apart (the previous newest is dropped when it is closer than that to the one before it), so `serve`'s
    frequent polls do not push a day's history out of the ``keep`` copies within half an hour."""
    keep = default_keep() if keep is None else keep
    folder = backup_dir(database_file)
    old = os.umask(0o077)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            folder.chmod(0o700)
        stamp = datetime.now().strftime("%Y%m%dT%H%M%S%f")
        target = folder / f"{database_file.name}.{stamp}{SUFFIX}"
        partial = target.with_name(target.name + ".partial")
        source = sqlite3.connect(f"file:{database_file}?mode=ro", uri=True, timeout=10)
        try:
            copy = sqlite3.connect(partial)
            try:
                source.backup(copy)
                copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            finally:
                copy.close()
        finally:
            source.close()
        os.replace(partial, target)
        with contextlib.suppress(OSError):
            target.chmod(0o600)
    finally:
        os.umask(old)
    backups = list_backups(database_file)
    if len(backups) >= 3 and spacing > timedelta(0):
        previous, before = _stamp(backups[1]), _stamp(backups[2])
        if previous and before and previous - before < spacing:  # an in-between copy, too close to the one before
            with contextlib.suppress(OSError):
                backups[1].unlink()
    for stale in list_backups(database_file)[keep:]:
        with contextlib.suppress(OSError):
            stale.unlink()
    return target


class RestoreError(Exception):
    pass


def database_for_backup(backup: Path) -> Path:
    """The database a rolling backup belongs to: ``<data>/backups/<name>.<stamp>.bak`` -> ``<data>/<name>``."""
    backup = Path(backup).resolve()
    if backup.parent.name != BACKUP_DIR or not backup.name.endswith(SUFFIX) or backup.name.count(".") < 2:
        raise RestoreError(f"'{backup}' is not one of the connector's rolling backups (they live in a "
                           f"'{BACKUP_DIR}' folder beside the database); say which database to restore with --to.")
    name = backup.name[:-len(SUFFIX)].rsplit(".", 1)[0]
    return backup.parent.parent / name
