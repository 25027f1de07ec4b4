"""`navbill store join --url URL [--password-stdin] [--create-tables]`: join a team store without a window.

What the window's Settings → Team store… dialog does, for an administrator on a server or a script: the address
and password are tested first (``team_join.probe``, the dialog's test, with the command line's "what to do"), and
only a passing test changes anything: the address goes to ``store.json``, the password to this PC's own
credentials vault (``team_join.join``), where the headless commands find it (``app.setup.wiring.team_store_url``).

The password comes on standard input (``--password-stdin``; asked without echo on a terminal), never as an
argument, which would show in the process list and the shell history; it is registered as a secret at once, so
no log line or message shows it. Without ``--password-stdin`` libpq's PGPASSWORD or pgpass file gives it and no
password is saved (one saved before is removed, as the dialog does with an empty Password field).

Exit codes: 0 joined; 1 the server refused, could not be reached, or the store is not ready (no tables, an
older or newer schema); 2 a bad address or option, no password on standard input, or this PC's vault is locked.
Nothing is changed unless it exits 0.
"""

from __future__ import annotations

import logging
import os
import sys

from app.cli.errors import HELD, USAGE, CliError

log = logging.getLogger("navbill.cli")

NOTHING_CHANGED = "Nothing was changed."


def nothing_changed(args) -> str:
    """The refusal's last sentence: with ``--create-home`` the new (empty) home folder was made before the test."""
    created = getattr(args, "created_home", None)
    if created is None:
        return NOTHING_CHANGED
    return (f"Nothing else was changed: only the new, empty home folder {created} was made (delete it if it was "
            "not meant).")


def read_password(stream) -> str:
    """The password on ``stream``: asked without echo on a terminal; else everything piped in, less the one line
    end ``echo``, a here-string or a file adds."""
    if stream is None:
        return ""
    if stream.isatty():
        import getpass

        try:
            return getpass.getpass("Team store password: ")
        except (EOFError, KeyboardInterrupt, OSError):
            return ""
    text = stream.read()
    if text.endswith("\n"):
        text = text[:-1]
    if text.endswith("\r"):
        text = text[:-1]
    return text


def _this_pcs_vault(paths, engine, saving: bool, nothing: str = NOTHING_CHANGED):
    """This PC's own credentials vault (in its SQLite file), unlocked as the other commands unlock one: the
    system keyring, NAVBILL_VAULT_PASSPHRASE (a new vault takes it as its passphrase), or a prompt on a terminal.
    ``saving``: a password is to be saved (else the one saved before is to be removed)."""
    from app.cli.unlock import unlock
    from app.setup.vault import PASSPHRASE_ENV, Vault, WrongPassphraseError

    kept = ("The team store's password is kept" if saving else "A team store password saved before (to be "
            "removed, as none is given now) is")
    where = f"{kept} in this PC's own credentials vault ({paths.database_file}), which is locked"
    given = os.environ.get(PASSPHRASE_ENV) or None
    instead = "leave out --password-stdin and give the password in PGPASSWORD or the pgpass file" if saving else ""
    or_instead = f", or {instead}" if instead else ""
    try:
        vault = Vault.open(engine, passphrase=given)
    except WrongPassphraseError:
        raise CliError(f"{where}: {PASSPHRASE_ENV} does not open it (it may hold the team's passphrase, not this "
                       f"PC's). Give this PC's vault passphrase in {PASSPHRASE_ENV}{or_instead}. {nothing}",
                       USAGE) from None
    # A new vault on a PC without a usable keyring (it holds no saved password: only ``saving`` comes here).
    if vault.needs_new_passphrase:
        raise CliError(f"The team store's password is kept in this PC's own credentials vault ({paths.database_file}), "
                       "which has no passphrase yet, and this PC has no usable system keyring: choose one and give "
                       f"it in {PASSPHRASE_ENV} (the headless commands then open the vault with it){or_instead}. "
                       f"{nothing}", USAGE)
    if not vault.is_unlocked:
        try:
            unlock(vault, "store join")
        except CliError as error:
            raise CliError(f"{where}. {error.message} {f'Or {instead}. ' if instead else ''}{nothing}",
                           USAGE) from None
    return vault


def main(args) -> int:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError
    from sqlalchemy.pool import NullPool

    from app.log import register_secret
    from app.setup.config import app_paths
    from app.store import team_join

    paths = app_paths(args.home).ensure()
    nothing = nothing_changed(args)
    url = args.url.strip()
    try:  # a password in the address is refused below (team_join.parse); it is not shown on the way
        register_secret(make_url(team_join.with_bundled_driver(url)).password)
    except (ArgumentError, ValueError):
        pass
    password = ""
    if args.password_stdin:
        password = read_password(sys.stdin)
        if not password:
            raise CliError("No password came on standard input: pipe it in (e.g. `navbill store join --url ... "
                           "--password-stdin < pw.txt`), or leave out --password-stdin to use PGPASSWORD or the "
                           f"pgpass file. {nothing}", USAGE)
        register_secret(password)

    wording = team_join.COMMAND_LINE
    found = team_join.probe(url, password, wording)
    log.info("Team store test of %s: %s", team_join.shown(url), found.state)
    create = found.state == team_join.NOT_INITIALISED and args.create_tables
    if not found.ok and not create:
        raise CliError(f"{found.message} {nothing}", USAGE if found.state == team_join.BAD_URL else HELD)

    engine = create_engine(paths.database_url, poolclass=NullPool)
    try:
        needs_vault = bool(password) or team_join.has_saved_password(paths.database_file)  # to save, or to remove
        local_vault = _this_pcs_vault(paths, engine, bool(password), nothing) if needs_vault else None  # before any table
        if create:
            found = team_join.initialise(url, password, wording)
            log.info("Team store tables created in %s: %s", team_join.shown(url), found.state)
            if not found.ok:
                raise CliError(f"{found.message} {nothing}", HELD)
        message = team_join.join(paths, url, password, local_vault)
    finally:
        engine.dispose()
    log.info("Joined the team store %s from the command line", team_join.shown(url))
    print(found.message)
    print(message)
    _warn_if_overridden(paths)
    return 0


def _warn_if_overridden(paths) -> None:
    """NAVBILL_STORE_URL comes before store.json: with it set to another store, what was just joined is not what
    the commands (or the window) started from this environment will use. Say so, on stderr; the join stands."""
    import json

    from app.setup.config import STORE_URL_ENV
    from app.store import team_join

    override = os.environ.get(STORE_URL_ENV, "").strip()
    try:
        joined = str(json.loads(paths.store_config_file.read_text(encoding="utf-8")).get("url", ""))
    except (OSError, ValueError, AttributeError):
        joined = ""
    if override and override != joined:
        print(f"Note: {STORE_URL_ENV} is set here ({team_join.shown(override)}) and comes before store.json, so the "
              "commands and the window started with it keep using that store. Remove it, or set it to the address "
              "just joined, to work on the team store.", file=sys.stderr)
