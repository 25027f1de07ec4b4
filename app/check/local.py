"""The connection test's steps on this computer: the connector's own database and the credentials vault."""

from __future__ import annotations

from app.check.steps import FAIL, PASS, SKIPPED, CheckStep


def store_step(store) -> CheckStep:
    """The connector's own database as one step: ``PRAGMA quick_check`` and where its backups are (SQLite only;
    a team store on PostgreSQL is the database server's to check)."""
    from pathlib import Path

    from app.store.integrity import check_database

    if store.url.get_backend_name() != "sqlite" or not store.url.database:
        return CheckStep("Store", "store", "Database", SKIPPED,
                         "A team store on PostgreSQL: its server checks and backs it up (pg_amcheck, pg_dump).")
    ok, line = check_database(Path(store.url.database))
    if ok:
        return CheckStep("Store", "store", "Database", PASS, line)
    return CheckStep("Store", "store", "Database", FAIL, line,
                     "Close the window and stop serve, then restore a backup with the command shown.")


def vault_step(vault) -> CheckStep:
    """The vault's status as one step (the CLI and the window show it above the two sides)."""
    status = vault.backend_status()
    if not status.unlocked:
        from app.setup.vault import PASSPHRASE_ENV

        return CheckStep("Vault", "vault", "Credentials vault", FAIL, status.message,
                         f"Give the vault passphrase in {PASSPHRASE_ENV} (or run the test in a terminal, which asks "
                         "for it), or unlock the system keyring, and try again." if vault.mode != "" else
                         "Set a vault passphrase with `navbill vault set-passphrase`, then save the profile's "
                         "secrets with `navbill profile secret NAME KEY`.")
    return CheckStep("Vault", "vault", "Credentials vault", PASS, status.message)
