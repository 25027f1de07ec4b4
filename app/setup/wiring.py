"""Open the active profile for a headless command: store, vault, profile and both clients, closed together.

`sync` and `serve` (and anything else that runs against the user's real systems without a window) start the
same way; this is that one way, so a fix to how a profile is opened lands everywhere at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from app.domain.errors import ConfigurationError


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
    from app.clients.bill_budget import LEDGER_FILE, RequestBudget
    from app.clients.nav import NavClient
    from app.setup.config import app_paths
    from app.setup.profiles import (
        ProfileStore,
        bill_session_store,
        build_bill_connection,
        build_nav_connection,
    )
    from app.setup.vault import Vault
    from app.store import open_store

    paths = app_paths(home).ensure()
    store = open_store(home=home)  # a damaged or locked database becomes a clear StoreError here
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
        budget = RequestBudget(ledger=paths.data_dir / LEDGER_FILE, scope=bill_connection.organization_id)
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
