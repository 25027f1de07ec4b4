"""Joining a team store from the window (Settings → Team store…) or the command line (``navbill store join``):
test the address and password a clerk typed, say precisely what is wrong, create the tables if the administrator
chooses, and remember the choice.

The address goes to ``store.json`` (as ``navbill store init --url ... --use`` writes it), never with a password in
it. The password goes into this PC's own credentials vault (the one in its SQLite file, under
``STORE_PASSWORD_SECRET``): the team store's vault cannot hold the key to the team store. When the window opens
the team store, ``with_saved_password`` puts it back into the address in memory only; so do the commands without
a window (sync, serve, check, store status...: ``app.setup.wiring.store_url``), unless PGPASSWORD is set for them.
Without a saved password, libpq reads it from PGPASSWORD or the pgpass file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from app.log import register_secret

STORE_PASSWORD_SECRET = "store/password"
CONNECT_TIMEOUT_SECONDS = 8

OK, NOT_INITIALISED, OUTDATED, UNREACHABLE, BAD_PASSWORD, NO_PASSWORD, UNKNOWN_USER, NO_DATABASE, BAD_URL, OTHER = (
    "ok", "not initialised", "outdated", "unreachable", "bad password", "no password", "unknown user",
    "no database", "bad address", "other")


@dataclass(frozen=True)
class Probe:
    state: str
    message: str  # one or two sentences for the clerk: what was found and what to do
    schema: int = 0

    @property
    def ok(self) -> bool:
        return self.state == OK


@dataclass(frozen=True)
class Wording:
    """Where a message's "what to do" points: the window's Team store… dialog or ``navbill store join``."""
    give_password: str  # how the password is given
    create_tables: str  # how an administrator has the connector's tables created from there


WINDOW = Wording(give_password="type it in the Password field",
                 create_tables="tick “Create the connector's tables” and test again")
COMMAND_LINE = Wording(give_password="give it on standard input with --password-stdin (or in PGPASSWORD or the "
                                     "pgpass file)",
                       create_tables="run this again with --create-tables")


def shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an address that does not parse is shown as typed
        return url


def parse(url: str, wording: Wording = WINDOW):
    """The SQLAlchemy URL, or a ``Probe`` that says what is wrong with what was typed."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    url = url.strip()
    example = "postgresql+psycopg://navbill@db.example.com/navbill"
    if not url:
        return Probe(BAD_URL, f"Type the team store's address, like {example}.")
    try:
        parsed = make_url(with_bundled_driver(url))
    except ArgumentError:
        return Probe(BAD_URL, f"“{url}” is not a database address. A team store's looks like {example}.")
    if parsed.get_backend_name() != "postgresql":
        return Probe(BAD_URL, f"A team store is a PostgreSQL database ({example}), not {parsed.get_backend_name()}.")
    if parsed.password:
        return Probe(BAD_URL, f"Leave the password out of the address and {wording.give_password}: the address is "
                              "saved on this PC, the password only in its credentials vault.")
    if not parsed.database:
        return Probe(BAD_URL, f"The address names no database: add it after the server, like {example}.")
    return parsed


def with_bundled_driver(url: str) -> str:
    """A PostgreSQL address in the forms people copy from other tools (``postgres://``, ``postgresql://``, another
    driver's ``postgresql+psycopg2://``) with the driver the connector bundles (psycopg); any other unchanged."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url.strip())
    except ArgumentError:
        return url
    if parsed.get_backend_name() not in ("postgres", "postgresql") or parsed.drivername == "postgresql+psycopg":
        return url
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def _with_password(parsed, password: str):
    query = dict(parsed.query)
    query.setdefault("connect_timeout", str(CONNECT_TIMEOUT_SECONDS))
    parsed = parsed.update_query_dict(query)
    return parsed.set(password=password) if password else parsed


def _where(parsed) -> tuple[str, str]:
    server = parsed.host or dict(parsed.query).get("host") or "localhost"
    return server, f"{server}{f':{parsed.port}' if parsed.port else ''}"


def explain(error: Exception, parsed, wording: Wording = WINDOW) -> Probe:
    """libpq's refusal in the clerk's words (server, user and database named; never the password)."""
    text = str(getattr(error, "orig", error) or error).strip()
    low = text.casefold()
    user = parsed.username or "(no user in the address)"
    server, where = _where(parsed)
    if "password authentication failed" in low or "authentication failed" in low:
        return Probe(BAD_PASSWORD, f"The PostgreSQL server at {where} refused the password for user {user}. Type the "
                                   "password again (ask your administrator if you are not sure of it).")
    if "no password supplied" in low or "password is required" in low:
        return Probe(NO_PASSWORD, f"The PostgreSQL server at {where} asks for user {user}'s password, which was not "
                                  f"given: {wording.give_password}.")  # ("password: x" would be masked in a log)
    if "role" in low and "does not exist" in low:
        return Probe(UNKNOWN_USER, f"The PostgreSQL server at {where} has no user {user}. Check the user name in the "
                                   "address (before the @), or ask your administrator to create it.")
    if "database" in low and "does not exist" in low:
        return Probe(NO_DATABASE, f"The PostgreSQL server at {where} has no database {parsed.database}. Check its name "
                                  "(after the last /), or ask your administrator to create it.")
    if "could not translate host name" in low or "name or service not known" in low or "nodename nor servname" in low:
        return Probe(UNREACHABLE, f"No server called {server} was found. Check the server's name in the address.")
    if any(words in low for words in ("connection refused", "no such file or directory", "timeout expired",
                                      "timed out", "network is unreachable", "no route to host", "connection is bad",
                                      "could not connect")):
        return Probe(UNREACHABLE, f"The PostgreSQL server at {where} could not be reached ({text.splitlines()[0]}). "
                                  "Check the server's address and port, that it is running, and that it accepts "
                                  "connections from this PC (its pg_hba.conf and firewall).")
    if "pg_hba.conf" in low:
        return Probe(OTHER, f"The PostgreSQL server at {where} does not let user {user} in from this PC "
                            f"({text.splitlines()[0]}). Ask your administrator to allow it in pg_hba.conf.")
    return Probe(OTHER, f"The team store {shown(parsed.render_as_string(hide_password=True))} could not be used: "
                        f"{text.splitlines()[0] if text else type(error).__name__}.")


def _parse_secret(url: str, password: str, wording: Wording = WINDOW):
    """``parse``, and the password (when one is given) kept out of every log line and message from here on."""
    parsed = parse(url, wording)
    if password and not isinstance(parsed, Probe):
        register_secret(password)
    return parsed


def _open_store(parsed, password: str):
    """The team store at a parsed address, as it is (no migration): the caller reads or sets up its schema."""
    from app.store.store import Store

    return Store(_with_password(parsed, password).render_as_string(hide_password=False), migrate=False)


def probe(url: str, password: str = "", wording: Wording = WINDOW) -> Probe:
    """Connect to the team store as typed and read its schema version (blocking: call it on a worker). The
    messages say what to do in the window, or with ``wording=COMMAND_LINE`` on the command line."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.pool import NullPool

    from app.store import migrations

    parsed = _parse_secret(url, password, wording)
    if isinstance(parsed, Probe):
        return parsed
    engine = create_engine(_with_password(parsed, password), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        store = _open_store(parsed, password)
        try:
            version = store.schema_version()
        finally:
            store.close()
    except DBAPIError as error:
        return explain(error, parsed, wording)
    except Exception as error:  # noqa: BLE001 - a driver that is missing, a URL option libpq refuses, ...
        return explain(error, parsed, wording)
    finally:
        engine.dispose()
    address = shown(url.strip())
    if version == 0:
        return Probe(NOT_INITIALISED, f"The database {address} answers but holds no connector tables yet. Ask your "
                                      f"administrator to run `python main.py store init --url {address}` once, or, if "
                                      f"you are the administrator, {wording.create_tables}.")
    if version < migrations.LATEST_VERSION:
        return Probe(OUTDATED, f"The team store {address} has the tables of an older connector (schema {version} of "
                               f"{migrations.LATEST_VERSION}). Ask your administrator to run `python main.py store "
                               f"migrate --url {address}`.", version)
    if version > migrations.LATEST_VERSION:
        return Probe(OUTDATED, f"The team store {address} was set up by a newer connector (schema {version}; this one "
                               f"knows {migrations.LATEST_VERSION}). Install the same version as the other "
                               "workstations.", version)
    return Probe(OK, f"Connected: the team store {address} is ready (schema {version}).", version)


def initialise(url: str, password: str = "", wording: Wording = WINDOW) -> Probe:
    """Create the connector's tables in an empty team store (the administrator's choice), then test it again."""
    from sqlalchemy.exc import DBAPIError

    parsed = _parse_secret(url, password, wording)
    if isinstance(parsed, Probe):
        return parsed
    try:
        store = _open_store(parsed, password)
        try:
            store.migrate()
        finally:
            store.close()
    except DBAPIError as error:
        return explain(error, parsed, wording)
    return probe(url, password, wording)


def join(paths, url: str, password: str, local_vault) -> str:
    """Make this installation use the team store: the address in ``store.json``, the password in this PC's own
    vault (``local_vault``, opened on its SQLite file; None or empty password: libpq's PGPASSWORD or pgpass)."""
    parsed = parse(url)
    if isinstance(parsed, Probe):
        raise ValueError(parsed.message)
    address = parsed.render_as_string(hide_password=False)
    if password:
        if local_vault is None or not local_vault.is_unlocked:
            raise ValueError("This PC's credentials vault is locked, so the password cannot be saved: unlock it "
                             "(Settings → Credentials) and join again.")
        local_vault.put(STORE_PASSWORD_SECRET, password)
    elif local_vault is not None and local_vault.is_unlocked:
        local_vault.delete(STORE_PASSWORD_SECRET)
    old = os.umask(0o077)
    try:
        paths.store_config_file.write_text(json.dumps({"url": address}, indent=2) + "\n", encoding="utf-8")
    finally:
        os.umask(old)
    return (f"This PC now uses the team store {shown(address)}. Quit NavBill and start it again to work on it; "
            "enter the team's vault passphrase when it asks.")


def with_saved_password(url: str, local_vault) -> str:
    """``url`` with the password this PC saved for it (in memory only), when it is a team store without one."""
    if not url.startswith("postgresql") or local_vault is None or not local_vault.is_unlocked:
        return url
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.password:
        return url
    try:
        password = local_vault.get(STORE_PASSWORD_SECRET)
    except Exception:  # noqa: BLE001 - a damaged entry: libpq's own sources (PGPASSWORD, pgpass) still apply
        return url
    return parsed.set(password=password).render_as_string(hide_password=False) if password else url


def has_saved_password(database_file) -> bool:
    """True when this PC's own vault (its SQLite file) holds a team store password; reads no key, asks nothing."""
    from pathlib import Path

    from sqlalchemy import create_engine, inspect, select
    from sqlalchemy.pool import NullPool

    from app.setup.vault import vault_secrets_table

    if not Path(database_file).is_file():
        return False
    engine = create_engine(f"sqlite:///{database_file}", poolclass=NullPool)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table(vault_secrets_table.name):
                return False
            return connection.execute(select(vault_secrets_table.c.name).where(
                vault_secrets_table.c.name == STORE_PASSWORD_SECRET)).first() is not None
    except Exception:  # noqa: BLE001 - an unreadable file: the store's own opening says what is wrong with it
        return False
    finally:
        engine.dispose()


def refused(error: Exception, url: str, source: str) -> str:
    """A command's sentence for a team store that would not let it in: what the server said (server, user and
    database named, never the password) and where the password came from (``source``: "saved", "PGPASSWORD" or
    "" for libpq's own: the pgpass file or none), with what to do."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)._replace(password=None)  # (``set`` ignores None)
    found = explain(error, parsed)
    address = parsed.render_as_string(hide_password=True)
    user = parsed.username or "(no user in the address)"
    where = _where(parsed)[1]
    if found.state == BAD_PASSWORD:
        head = f"The PostgreSQL server at {where} refused the password for user {user}"
        if source == "saved":
            return (f"{head}: the one this PC saved when it joined the team store {address}. Join again with the "
                    "right password (in the window: Settings → Team store…) or `navbill store join --url ADDRESS "
                    "--password-stdin`, or give it in PGPASSWORD for this command.")
        if source == "address":
            return f"{head}: the one in the address (NAVBILL_STORE_URL). Correct it there."
        if source == "PGPASSWORD":
            return f"{head}: the one in PGPASSWORD. Correct it, or unset it to use the password saved on this PC."
        return (f"{head} (from the pgpass file). Correct it there, join the team store with its password in the "
                "window (Settings → Team store…) or with `navbill store join --url ADDRESS --password-stdin`, or "
                "give it in PGPASSWORD.")
    if found.state == NO_PASSWORD:
        return (f"The PostgreSQL server at {where} asks for user {user}'s password, and this PC has none saved for "
                f"the team store {address}. Join it with its password in the window (Settings → Team store…) or "
                "with `navbill store join --url ADDRESS --password-stdin`, or give it in PGPASSWORD or the pgpass "
                "file.")
    return found.message
