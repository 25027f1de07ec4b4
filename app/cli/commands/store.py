"""`navbill store restore FILE [--to DATABASE]` and `navbill store backups`: the database's rolling backups.
`navbill store init|migrate|status [--url URL] [--use]`: a team's shared PostgreSQL store, for the administrator.
`navbill store join --url URL [--password-stdin]`: join one, its password saved on this PC (app.cli.commands.store_join).

Exit status: 0 done, 1 refused (a sync is running, the backup is damaged, the server cannot be reached), 2 bad
arguments.
"""

from __future__ import annotations

import sys
from pathlib import Path

from app.store.backup import RestoreError, database_for_backup, list_backups, restore_command
from app.store.integrity import check_database
from app.store.lock import FileRunLock, RunBusyError
from app.store.restore import restore

NOT_ON_POSTGRES = ("`navbill store {what}` works on the SQLite file of a single workstation, not on PostgreSQL: "
                   "this installation uses the team store {where}. Back it up, restore and check it on the database "
                   "server (pg_dump, pg_restore, pg_amcheck), as for any PostgreSQL database.")

PASSWORD_NOT_SAVED = ("The URL carries a password, which is never written to disk: remove it from the URL and put "
                      "it in the pgpass file (~/.pgpass; %APPDATA%\\postgresql\\pgpass.conf on Windows) or "
                      "PGPASSWORD, then run this again. Nothing was changed.")


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _check_url(url: str) -> str | None:
    """A sentence saying what is wrong with ``url``, or None."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return (f"'{url}' is not a database URL. A team store looks like "
                "postgresql+psycopg://navbill@db.example.com/navbill.")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        return f"The store must be SQLite or PostgreSQL, not {parsed.get_backend_name()}."
    return None


def _use(paths, url: str) -> str:
    import json
    import os

    from sqlalchemy.engine import make_url

    if make_url(url).password:
        raise ValueError(PASSWORD_NOT_SAVED)
    old = os.umask(0o077)
    try:
        paths.store_config_file.write_text(json.dumps({"url": url}, indent=2) + "\n", encoding="utf-8")
    finally:
        os.umask(old)
    return f"This installation now uses the store {_shown(url)} (written to {paths.store_config_file})."


def _copy_into(target, current_url: str) -> str:
    """Copy the store this installation uses now into ``target`` while no sync runs on it."""
    from app.store.copy import copy_rows
    from app.store.store import Store

    if current_url == target.url.render_as_string(hide_password=False):
        raise ValueError("--copy copies the store this installation uses now into another one; this is that store")
    source = Store(current_url)
    try:
        with source.run_lock().hold("store copy", wait=5):
            copied = copy_rows(source, target)
    finally:
        source.close()
    shown = ", ".join(f"{name} {count}" for name, count in copied.items() if count) or "nothing (it was empty)"
    return (f"Copied from {source.where}: {shown}. The credentials vault stays on this PC: enter the profile's "
            "secrets again on the team store (`navbill profile secret NAME KEY`).")


def team_store(args) -> int:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    from app.setup.config import app_paths
    from app.store import migrations
    from app.store.copy import CopyRefused
    from app.store.store import Store, StoreError

    action = args.store_action
    paths = app_paths(args.home).ensure()
    from app.store.team_join import with_bundled_driver

    url = with_bundled_driver(args.url or paths.store_url)  # postgres://, postgresql://: the bundled driver
    problem = _check_url(url)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    if getattr(args, "use", False) and make_url(url).password:
        print(PASSWORD_NOT_SAVED, file=sys.stderr)
        return 2
    source = "address" if make_url(url).password else ""
    connect_url = url
    if url == paths.store_url and not source:  # the team store this PC joined: with the password it saved
        from app.cli.unlock import unlock
        from app.setup.wiring import team_store_url

        connect_url, source = team_store_url(paths, f"store {action}", unlock)
    database = make_url(url).database if make_url(url).get_backend_name() == "sqlite" else None
    if action == "status" and database and database != ":memory:" and not Path(database).exists():
        # Opening it would create an empty file: a status only looks.
        in_use = "in use by this installation" if url == paths.store_url else "not the store this installation uses"
        print(f"SQLite store '{database}' ({in_use}) does not exist yet: the first sync creates it "
              "(or `navbill store init`).")
        return 0
    try:
        store = Store(connect_url, migrate=False)
    except StoreError as exc:
        print(f"Store {_shown(url)}: {exc.message}", file=sys.stderr)
        return 1
    try:
        before = store.schema_version()
        if action == "init" and before:
            print(f"Store {store.where} already holds the connector's tables (schema {before}); "
                  "`store migrate` upgrades them, nothing was changed.", file=sys.stderr)
            if getattr(args, "copy", False):  # tables made by an init whose copy was refused: copy now
                print(_copy_into(store, paths.store_url))
            elif not getattr(args, "use", False):
                return 1
        elif action in ("init", "migrate"):
            store.migrate()
            after = store.schema_version()
            verb = "created" if before == 0 else ("upgraded" if after != before else "already up to date")
            print(f"Store {store.where}: tables {verb} (schema {after}"
                  f"{f', was {before}' if before and after != before else ''}).")
            if action == "init" and getattr(args, "copy", False):
                print(_copy_into(store, paths.store_url))
        if action in ("init", "migrate") and getattr(args, "use", False):
            print(_use(paths, url))
        if action == "status":
            in_use = "in use by this installation" if url == paths.store_url else "not the store this installation uses"
            kind = "PostgreSQL team store" if store.is_postgres else "SQLite store"
            print(f"{kind} {store.where} ({in_use}); schema {before} of {migrations.LATEST_VERSION}"
                  f"{'' if before == migrations.LATEST_VERSION else ' (run `navbill store migrate`)'}.")
            if store.is_postgres and before:
                leader = store.leader_lock().holder()
                running = store.run_lock().holder()
                print(f"Leader: {leader.describe() if leader else 'none (no serve or window leads right now)'}.")
                print(f"Sync: {'running, ' + running.describe() if running else 'none running'}.")
        return 0
    except StoreError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    except DBAPIError as exc:  # the server cannot be reached, the user may not log in, ...
        if source in ("saved", "PGPASSWORD"):  # where the password came from, said with what the server said
            from app.store.team_join import refused

            print(refused(exc, url, source), file=sys.stderr)
            return 1
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        print(f"Store {_shown(url)} could not be used: {reason}. Check the server's address and that the user may "
              "log in (its password in PGPASSWORD or the pgpass file).", file=sys.stderr)
        return 1
    except (ValueError, CopyRefused) as exc:
        print(str(exc) if isinstance(exc, ValueError) else f"Not copied: {exc}.", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1
    except RunBusyError as exc:
        print(f"Not copied: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()


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
    if action == "join":
        from app.cli.commands.store_join import main as join

        return join(args)
    if action in ("init", "migrate", "status"):
        return team_store(args)
    if action == "confirm-alone":
        from app.setup.config import app_paths
        from app.store.installation import confirm_alone

        print(confirm_alone(app_paths(args.home).ensure().config_dir))
        return 0
    from app.setup.config import app_paths

    in_use = app_paths(args.home).store_url
    if not in_use.startswith("sqlite"):
        print(NOT_ON_POSTGRES.format(what=action, where=_shown(in_use)), file=sys.stderr)
        return 1
    if action == "restore":
        try:
            print(restore_backup(Path(args.backup), Path(args.to) if args.to else None))
        except (RestoreError, RunBusyError, OSError) as exc:
            print(f"Not restored: {exc}", file=sys.stderr)
            return 1
        return 0
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
