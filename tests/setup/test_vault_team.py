"""A team store's vault: secrets shared by several workstations, readable on each, never in clear in the database.

The team passphrase (chosen by whoever sets up the team store) is entered once per workstation; that PC's keyring
then keeps the data key. Each "workstation" here is a Vault on the same database with a keyring of its own.
Runs on SQLite (``team=True``) and, with ``NAVBILL_TEST_POSTGRES_URL``, on a real PostgreSQL team store, where a
PostgreSQL database makes the vault a team vault by itself.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool

from app.setup.vault import (
    KEYRING_SERVICE,
    Vault,
    WrongPassphraseError,
    vault_meta_table,
    vault_secrets_table,
)
from tests.setup.test_vault import FAST_SCRYPT, MemoryKeyring, PlaintextKeyring

PASSPHRASE = "team passphrase 2026"
SECRET = "BILL-password-Zq81!x"


@pytest.fixture(params=["sqlite", "postgres"])
def team_engine(request, tmp_path):
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'team.sqlite3'}")
        yield engine, True
        engine.dispose()
        return
    from tests.postgres import postgres_schema

    with postgres_schema() as url:
        engine = create_engine(url, poolclass=NullPool)
        yield engine, None  # None: the vault must find out by itself that PostgreSQL means a team
        engine.dispose()


def open_on(engine_team, keyring, passphrase=None):
    engine, team = engine_team
    return Vault.open(engine, keyring_backend=keyring, passphrase=passphrase, scrypt_n=FAST_SCRYPT, team=team)


def test_a_new_team_vault_never_keeps_its_key_in_one_pcs_keyring(team_engine):
    first_pc = MemoryKeyring()
    vault = open_on(team_engine, first_pc)
    assert vault.team
    assert not vault.is_unlocked and vault.needs_new_passphrase  # a secure keyring is not enough for a team
    assert "team" in vault.backend_status().message
    vault.set_passphrase(PASSPHRASE)
    assert vault.mode == "passphrase"
    assert list(first_pc.entries) == [(KEYRING_SERVICE, f"team-vault-key/{vault._meta()['vault_id']}")]


def test_each_workstation_enters_the_passphrase_once_and_reads_the_shared_secrets(team_engine):
    admin_pc, clerk_pc = MemoryKeyring(), MemoryKeyring()
    admin = open_on(team_engine, admin_pc)
    admin.set_passphrase(PASSPHRASE)
    admin.put("profile/ACME/bill.password", SECRET)

    clerk = open_on(team_engine, clerk_pc)  # a second PC: its keyring knows nothing yet
    assert not clerk.is_unlocked and not clerk.needs_new_passphrase
    assert "team's vault passphrase" in clerk.backend_status().message
    with pytest.raises(WrongPassphraseError):
        clerk.unlock("not the team passphrase")
    clerk.unlock(PASSPHRASE)
    assert clerk.get("profile/ACME/bill.password") == SECRET

    again = open_on(team_engine, clerk_pc)  # the next start on that PC asks nothing
    assert again.is_unlocked and again.get("profile/ACME/bill.password") == SECRET
    assert "entered once on this PC" in again.backend_status().message
    assert open_on(team_engine, admin_pc).is_unlocked
    assert not open_on(team_engine, MemoryKeyring()).is_unlocked  # a third PC still needs the passphrase


def test_the_database_holds_no_secret_and_no_key_in_clear(team_engine):
    vault = open_on(team_engine, MemoryKeyring())
    vault.set_passphrase(PASSPHRASE)
    vault.put("profile/ACME/bill.password", SECRET)
    engine, _team = team_engine
    with engine.connect() as connection:
        blobs = [bytes(b) for b in connection.execute(select(vault_secrets_table.c.ciphertext)).scalars()]
        meta = " ".join(f"{k}={v}" for k, v in connection.execute(select(vault_meta_table.c.key,
                                                                             vault_meta_table.c.value)))
        if engine.dialect.name == "postgresql":  # every text column of every table in this schema
            dump = " ".join(str(row) for row in connection.execute(text(
                "SELECT row_to_json(s)::text FROM vault_secrets s UNION ALL SELECT row_to_json(m)::text "
                "FROM vault_meta m")))
        else:
            dump = meta
    assert blobs and all(SECRET.encode() not in blob for blob in blobs)
    assert SECRET not in dump and PASSPHRASE not in meta
    key = vault._dek
    import base64

    assert base64.b64encode(key).decode() not in dump and base64.b64encode(key).decode() not in meta


def test_rotating_the_key_shuts_out_a_workstation_that_kept_the_old_one(team_engine):
    admin_pc, old_pc = MemoryKeyring(), MemoryKeyring()
    admin = open_on(team_engine, admin_pc, passphrase=None)
    admin.set_passphrase(PASSPHRASE)
    admin.put("s", SECRET)
    open_on(team_engine, old_pc).unlock(PASSPHRASE)
    assert open_on(team_engine, old_pc).is_unlocked
    admin.change_passphrase(PASSPHRASE, "the new team passphrase")
    admin.rotate_key()
    shut_out = open_on(team_engine, old_pc)
    assert not shut_out.is_unlocked
    assert "changed since this PC last unlocked it" in shut_out.backend_status().message
    with pytest.raises(WrongPassphraseError):
        shut_out.unlock(PASSPHRASE)
    shut_out.unlock("the new team passphrase")
    assert shut_out.get("s") == SECRET
    assert open_on(team_engine, admin_pc).get("s") == SECRET  # the admin's PC kept the new key


def test_an_insecure_keyring_keeps_nothing_and_asks_at_each_start(team_engine):
    plaintext = PlaintextKeyring()
    vault = open_on(team_engine, plaintext, passphrase=PASSPHRASE)
    vault.put("s", SECRET)
    assert plaintext.entries == {}
    assert "asked at each start" in vault.backend_status().message
    assert not open_on(team_engine, plaintext).is_unlocked


def test_a_single_workstation_vault_is_unchanged(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'own.sqlite3'}")
    vault = Vault.open(engine, keyring_backend=MemoryKeyring(), scrypt_n=FAST_SCRYPT)
    assert not vault.team and vault.mode == "keyring" and vault.is_unlocked
