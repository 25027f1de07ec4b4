"""Copy one store's rows into another (an SQLite workstation's store into a new team store on PostgreSQL).

Every table the store declares is copied as it is (links, bookmarks, outbox, queue, conflicts, mappings,
caches, runs, audit, settings), so the team store starts where the workstation left off: nothing is created
again in NAV or BILL. The credentials vault is not copied (its key is this PC's); profile secrets are
entered again on the team store (``navbill profile secret``).
"""

from __future__ import annotations

from sqlalchemy import func, select, text

from app.store import schema as t


class CopyRefused(Exception):
    """``str()`` says why (the target already holds data)."""


def _tables():
    return [table for table in t.Base.metadata.sorted_tables if table.name != t.SchemaVersion.__tablename__]


def copy_rows(source, target) -> dict[str, int]:
    """Copy every row of ``source`` (a Store) into ``target`` (a Store at the same schema version, empty).
    Returns rows copied per table. Raises ``CopyRefused`` if the target already holds rows."""
    if source.schema_version() != target.schema_version():
        raise CopyRefused(f"the two stores are at different schema versions ({source.schema_version()} and "
                          f"{target.schema_version()}): run `navbill store migrate` on the older one first")
    with target.engine.connect() as connection:
        filled = [table.name for table in _tables()
                  if connection.execute(select(func.count()).select_from(table)).scalar()]
    if filled:
        raise CopyRefused(f"the team store {target.where} already holds data ({', '.join(filled[:5])}); a store "
                          "is copied only into an empty one")
    copied: dict[str, int] = {}
    with source.engine.connect() as reading, target.engine.begin() as writing:
        for table in _tables():
            rows = reading.execute(select(table)).mappings()
            count = 0
            while batch := rows.fetchmany(1000):
                writing.execute(table.insert(), [dict(row) for row in batch])
                count += len(batch)
            copied[table.name] = count
            if writing.dialect.name == "postgresql":  # ids were copied as they are: move the counters past them
                for column in table.primary_key.columns:
                    if column.autoincrement is True or (column.autoincrement == "auto" and
                                                        len(table.primary_key.columns) == 1 and
                                                        column.type.python_type is int):
                        writing.execute(text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                            f"COALESCE((SELECT max({column.name}) FROM {table.name}), 0) + 1, false)"))
    return copied
