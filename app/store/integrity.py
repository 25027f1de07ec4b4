"""Is this file the connector's database, whole? Checked before a store is opened, and by ``check``.

A damaged file is never re-created over: an empty (zero-byte) file, a file cut short, a file that is not
SQLite, or an SQLite file of some other program is refused with the path and what to do (restore a backup,
or move the file away). ``quick_check`` runs ``PRAGMA quick_check`` for the connection test.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SQLITE_HEADER = b"SQLite format 3\x00"
HEADER_SIZE = 100


class DatabaseFileProblem(Exception):
    """``str()`` is the sentence for the clerk (it names the file and says what to do)."""


def _wal_has_data(path: Path) -> bool:
    wal = path.with_name(path.name + "-wal")
    try:
        return wal.stat().st_size > 0
    except OSError:
        return False


def inspect_file(path: Path) -> None:
    """Raise ``DatabaseFileProblem`` if ``path`` exists and is not a whole SQLite file. A missing file is
    fine (a new store). A zero-byte or short file with a write-ahead log beside it is left to SQLite, which
    replays the log (a crash right after the first commit leaves exactly that)."""
    from app.store.backup import restore_hint

    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    where = f"'{path}'"
    hint = restore_hint(path)
    if size == 0:
        if _wal_has_data(path):
            return
        raise DatabaseFileProblem(
            f"The connector's database {where} is damaged: it is empty (0 bytes), so its links, outbox, settings "
            f"and saved secrets are gone; it is not re-created over. {hint}")
    with path.open("rb") as handle:
        header = handle.read(HEADER_SIZE)
    if not header.startswith(SQLITE_HEADER[:len(header)]) or (len(header) < HEADER_SIZE and not _wal_has_data(path)):
        raise DatabaseFileProblem(
            f"The connector's database {where} is damaged (it is not an SQLite database, or its first page is "
            f"missing). {hint}")
    if len(header) < HEADER_SIZE:
        return
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    change_counter = header[24:28]
    page_count = int.from_bytes(header[28:32], "big")
    valid_for = header[92:96]
    if page_size < 512 or page_size & (page_size - 1):
        raise DatabaseFileProblem(f"The connector's database {where} is damaged (its header is unreadable). {hint}")
    if valid_for == change_counter and page_count and size < page_count * page_size and not _wal_has_data(path):
        raise DatabaseFileProblem(
            f"The connector's database {where} is damaged: it was cut short ({size:,} of "
            f"{page_count * page_size:,} bytes). {hint}")
    try:  # read-only, before the store's own connection switches the file to WAL
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
    except sqlite3.Error:
        return
    try:
        refuse_foreign(connection)
    except ValueError as exc:
        raise DatabaseFileProblem(f"The connector's database {where} cannot be used: {exc}.") from None
    except sqlite3.Error:
        return  # locked or damaged: the store's own open explains it
    finally:
        connection.close()


def refuse_foreign(connection) -> None:
    """An SQLite file with tables but without the connector's ``schema_version`` (and not just the vault's own
    tables) belongs to another program."""
    run = getattr(connection, "exec_driver_sql", None) or connection.execute
    tables = {row[0] for row in run(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
    # The vault's two tables are the connector's own: `vault set-passphrase` may run before the first sync.
    if tables - {"vault_meta", "vault_secrets"} and "schema_version" not in tables:
        shown = ", ".join(sorted(tables)[:5]) + ("…" if len(tables) > 5 else "")
        raise ValueError(f"it is an SQLite database of another program (tables {shown}), not the connector's; "
                         "point the connector at its own file or move this one away")


def quick_check(path: Path, limit: int = 5) -> list[str]:
    """``PRAGMA quick_check`` on the file (read-only). Empty list: fine; else the first problems, in SQLite's
    words. A file that is not a database at all is one problem."""
    try:
        inspect_file(Path(path))
    except DatabaseFileProblem as exc:
        return [str(exc)]
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as exc:
        return [str(exc)]
    try:
        rows = [str(r[0]) for r in connection.execute(f"PRAGMA quick_check({int(limit)})")]
    except sqlite3.Error as exc:
        return [str(exc)]
    finally:
        connection.close()
    return [] if rows == ["ok"] else rows


def check_database(path: Path) -> tuple[bool, str]:
    """For ``check``: (ok, one line). Runs ``PRAGMA quick_check`` and says where the backups are and how to
    restore the newest. A small self-contained function the connection test calls."""
    from app.store.backup import list_backups, restore_command, restore_hint

    path = Path(path)
    if not path.exists():
        return True, f"Database {path}: not created yet (the first sync creates it)."
    problems = quick_check(path)
    backups = list_backups(path)
    if problems:
        first = problems[0]
        detail = first if first.startswith("The connector's database") else (
            f"The connector's database '{path}' is damaged (PRAGMA quick_check: {'; '.join(problems[:3])}). "
            f"{restore_hint(path)}")
        return False, detail
    if backups:
        return True, (f"Database {path}: intact (PRAGMA quick_check ok); {len(backups)} backup(s), newest "
                      f"restored with: {restore_command(backups[0])}")
    return True, f"Database {path}: intact (PRAGMA quick_check ok); no backup yet (one is made after each sync)."
