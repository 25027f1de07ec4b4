"""Put a rolling backup (app.store.backup) in place of the SQLite database, once app.store.integrity finds it whole.

Apart from app.store.backup because the integrity check names the backups in its advice: backup ← integrity ←
restore, no circle.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from datetime import datetime
from pathlib import Path

from app.store.backup import RestoreError, backup_dir
from app.store.integrity import quick_check

log = logging.getLogger("navbill.store")


def restore(database_file: Path, backup: Path) -> Path:
    """Put ``backup`` in place of the database. The current file (and its -wal/-shm) is moved aside to
    ``<name>.replaced-<stamp>``, never deleted. Returns where the old file went. Raises ``RestoreError``
    with a sentence for the clerk. The caller holds the run lock (no sync may run meanwhile)."""
    backup = Path(backup)
    if not backup.is_file():
        raise RestoreError(f"The backup '{backup}' does not exist.")
    problems = quick_check(backup)
    if problems:
        raise RestoreError(f"The backup '{backup}' is damaged too ({problems[0]}); choose an older one from "
                           f"{backup_dir(database_file)}.")
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    aside = database_file.with_name(f"{database_file.name}.replaced-{stamp}")
    old = os.umask(0o077)
    try:
        for suffix in ("", "-wal", "-shm"):
            current = database_file.with_name(database_file.name + suffix)
            if current.exists():
                os.replace(current, aside.with_name(aside.name + suffix))
        source = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
        try:
            target = sqlite3.connect(database_file)
            try:
                source.backup(target)
            finally:
                target.close()
        finally:
            source.close()
        with contextlib.suppress(OSError):
            database_file.chmod(0o600)
    finally:
        os.umask(old)
    log.warning("Database %s restored from %s; the previous file is kept as %s", database_file, backup, aside)
    return aside
