"""Open the active profile for a headless command: store, vault, profile and both clients, closed together.

`sync` and `serve` (and anything else that runs against the user's real systems without a window) start the
same way; this is that one way, so a fix to how a profile is opened lands everywhere at once. ``open_store_for``
opens just the store (a team store with the password this PC saved when it joined, as the window does).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from app.domain.errors import ConfigurationError, RetryableError
from app.store.store import StoreError

log = logging.getLogger("navbill.setup")

PGPASSWORD_ENV = "PGPASSWORD"


class TeamStoreUnreachableError(StoreError, RetryableError):
    """The team store's server could not be reached: a store error the command line exits 3 for, as for NAV or
    BILL (``app.cli.errors.code_for``)."""


@dataclass
class ProfileSession:
    store: Any  # app.store.Store
    vault: Any  # app.setup.vault.Vault
    profile: Any  # app.setup.profiles.Profile
    nav: Any  # app.clients.nav.NavClient
    bill: Any  # app.clients.bill.BillClient


@contextmanager
def open_profile(home: str | None, profile_name: str | None, command: str,
                 unlock: Callable[[Any, str], None]) -> Iterator[ProfileSession]:
    """Yield the named (or active) profile with its clients; ConfigurationError when none is set up.

    ``unlock(vault, command)`` makes a locked vault usable or raises (the command line's app.cli.unlock.unlock)."""
    from app.clients.bill import BillClient
    from app.clients.bill_budget import shared_budget
    from app.clients.nav import NavClient
    from app.setup.config import app_paths
    from app.setup.profiles import (
        ProfileStore,
        bill_session_store,
        build_bill_connection,
        build_nav_connection,
    )
    from app.setup.vault import Vault

    paths = app_paths(home).ensure()
    store = open_store_for(paths, command, unlock)  # a damaged, locked or refusing store: a clear StoreError here
    try:
        vault = Vault.open_for_headless(store.engine)  # a passphrase vault unlocks from NAVBILL_VAULT_PASSPHRASE
        profiles = ProfileStore(paths, vault)
        profile = profiles.get(profile_name) if profile_name else profiles.active()
        if profile is None:
            raise ConfigurationError(f"No connection profile is set up. Add one with `navbill profile add NAME "
                                     f"KEY=VALUE...` (or in the window), or try `navbill {command} --demo`.",
                                     code="no-profile")
        # A team store's locks are per company: the NAV company and the BILL organization.
        store.set_scope(profile.nav.company or profile.nav.company_id, profile.bill.organization_id)
        unlock(vault, command)  # asks on a terminal; otherwise names NAVBILL_VAULT_PASSPHRASE
        session_id, save_session = bill_session_store(profile, vault)
        nav = NavClient(build_nav_connection(profile, vault))
        bill_connection = build_bill_connection(profile, vault)
        # BILL's hourly budget is per developer key: this profile's processes count it in one ledger file.
        budget = shared_budget(paths.data_dir, bill_connection.organization_id)
        bill = BillClient(bill_connection, session_id=session_id, on_session=save_session, budget=budget)
        try:
            yield ProfileSession(store, vault, profile, nav, bill)
        finally:
            nav.close()
            bill.close()
    finally:
        store.close()


def guard_installation(opened: ProfileSession, home: str | None) -> None:
    """Before a command writes: refuse if another installation syncs this company from a store of its own
    (app/store/installation.py). A ConfigurationError says what to do."""
    from app.setup.config import app_paths
    from app.store.installation import guard

    profile = opened.profile
    guard(opened.store, opened.bill, app_paths(home).config_dir, profile.nav.company or profile.nav.company_id,
          profile.bill.organization_id)


def team_store_url(paths, command: str = "", unlock: Callable[[Any, str], None] | None = None) -> tuple[str, str]:
    """The address of the store this installation uses, and where a team store's password comes from.

    A team store joined in the window (Settings → Team store…) has its password in this PC's own vault; it is
    put into the address in memory only (``team_join.with_saved_password``, as the window does), unless
    PGPASSWORD is set for this command, which then wins. The second value says which: "saved", "PGPASSWORD",
    or "" (libpq's own: the pgpass file, or none). A passphrase vault is unlocked from NAVBILL_VAULT_PASSPHRASE,
    else by ``unlock(vault, command)`` (the command line's app.cli.unlock.unlock: asks on a terminal, or raises
    saying how); a vault that stays locked is a ConfigurationError naming this PC's vault and the other ways."""
    from sqlalchemy.engine import make_url

    from app.store import team_join

    url = paths.store_url
    if not url.startswith("postgresql"):
        return url, ""
    if make_url(url).password:  # NAVBILL_STORE_URL with its password: the administrator's choice
        return url, "address"
    if os.environ.get(PGPASSWORD_ENV):
        return url, PGPASSWORD_ENV
    if not team_join.has_saved_password(paths.database_file):
        return url, ""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from app.setup.vault import Vault

    engine = create_engine(paths.database_url, poolclass=NullPool)
    try:
        return _with_saved_password(paths, url, Vault.open(engine), command, unlock)
    finally:
        engine.dispose()


def _with_saved_password(paths, url: str, vault, command: str, unlock) -> tuple[str, str]:
    from app.setup.vault import PASSPHRASE_ENV, WrongPassphraseError
    from app.store import team_join

    address = team_join.shown(url)
    tried = ""
    if not vault.is_unlocked and vault.mode == "passphrase" and os.environ.get(PASSPHRASE_ENV):
        try:  # one passphrase for this PC's vault and the team's is the usual case on a server
            vault.unlock(os.environ[PASSPHRASE_ENV])
        except WrongPassphraseError:
            tried = f" ({PASSPHRASE_ENV} did not open it: it may hold the team's passphrase, not this PC's)"
    if not vault.is_unlocked and unlock is not None and not tried:
        try:
            unlock(vault, command)
        except Exception as error:  # noqa: BLE001 - said again with what the vault was needed for
            tried = f" ({getattr(error, 'message', None) or error})"
    if not vault.is_unlocked:
        raise ConfigurationError(
            f"The password of the team store {address} is saved in this PC's own credentials vault "
            f"({paths.database_file}), which is locked{tried}. Give this PC's vault passphrase, or give the team "
            f"store's password in {PGPASSWORD_ENV} or the pgpass file instead.", code="vault-locked")
    saved = team_join.with_saved_password(url, vault)
    if saved == url:
        log.warning("The team store's password saved on this PC could not be read; libpq's pgpass file applies")
        return url, ""
    return saved, "saved"


def open_store_for(paths, command: str = "", unlock: Callable[[Any, str], None] | None = None):
    """The store this installation uses, opened (and migrated) for a headless command: a team store with the
    password ``team_store_url`` finds. A server that refuses the connection is a StoreError saying precisely
    what is wrong and where the password came from (never the password itself)."""
    from sqlalchemy.exc import DBAPIError

    from app.store import team_join
    from app.store.store import Store

    url, source = team_store_url(paths, command, unlock)
    if not url.startswith("postgresql"):
        return Store(url)
    store = Store(url, migrate=False)
    try:
        with store.engine.connect():
            pass
        store.migrate()
    except DBAPIError as error:
        store.close()
        from sqlalchemy.engine import make_url

        message = team_join.refused(error, url, source)
        if team_join.explain(error, make_url(url)).state == team_join.UNREACHABLE:  # exit code 3, like NAV or BILL
            raise TeamStoreUnreachableError(message, system="store", code="unreachable") from None
        raise StoreError(message, system="store", code="refused") from None
    except BaseException:
        store.close()
        raise
    return store
