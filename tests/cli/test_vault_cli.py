"""`navbill vault ...` on a machine without a secure keyring (keyring's fail backend), driven through main()."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select

from app.__main__ import main

FIRST = "first vault passphrase"
SECOND = "second vault passphrase"


@pytest.fixture
def home(navbill_home, no_keyring, monkeypatch):
    navbill_home.mkdir(parents=True, exist_ok=True)  # an existing home (a missing one is refused: tests/cli)
    monkeypatch.delenv("NAVBILL_VAULT_PASSPHRASE", raising=False)
    monkeypatch.delenv("NAVBILL_NEW_VAULT_PASSPHRASE", raising=False)
    return navbill_home


def database_url(home):
    from app.setup.config import app_paths

    return app_paths(home).ensure().database_url


def vault_cmd(home, action):
    return main(["--home", str(home), "vault", action])


def test_status_of_a_new_vault_says_it_needs_a_passphrase(home, capsys):
    assert vault_cmd(home, "status") == 0
    out = capsys.readouterr().out
    assert "needs a passphrase" in out and "unlocked:  no" in out
    assert "keyring.backends.fail" in out


def test_set_passphrase_then_status_unlocks_with_it(home, monkeypatch, capsys):
    from app.setup.vault import Vault

    monkeypatch.setenv("NAVBILL_NEW_VAULT_PASSPHRASE", FIRST)
    assert vault_cmd(home, "set-passphrase") == 0
    assert Vault.open(database_url(home), passphrase=FIRST).is_unlocked
    assert vault_cmd(home, "set-passphrase") == 2  # only once; changing is its own command
    monkeypatch.setenv("NAVBILL_VAULT_PASSPHRASE", FIRST)
    assert vault_cmd(home, "status") == 0
    captured = capsys.readouterr()
    assert "mode:      passphrase" in captured.out and "unlocked:  yes" in captured.out
    assert FIRST not in captured.out + captured.err


def test_change_passphrase_needs_the_current_one(home, monkeypatch, capsys):
    from app.setup.vault import Vault, WrongPassphraseError

    Vault.open(database_url(home), passphrase=FIRST).put("profile/A/bill.password", "bill-secret-1")
    monkeypatch.setenv("NAVBILL_NEW_VAULT_PASSPHRASE", SECOND)
    monkeypatch.setenv("NAVBILL_VAULT_PASSPHRASE", "not the passphrase")
    assert vault_cmd(home, "change-passphrase") == 2
    err = capsys.readouterr().err
    assert "passphrase" in err.lower() and "not the passphrase" not in err
    monkeypatch.setenv("NAVBILL_VAULT_PASSPHRASE", FIRST)
    assert vault_cmd(home, "change-passphrase") == 0
    assert Vault.open(database_url(home), passphrase=SECOND).get("profile/A/bill.password") == "bill-secret-1"
    with pytest.raises(WrongPassphraseError):
        Vault.open(database_url(home), passphrase=FIRST)


def test_rotate_key_re_encrypts_every_secret(home, monkeypatch):
    from app.setup.vault import Vault, vault_secrets_table

    Vault.open(database_url(home), passphrase=FIRST).put("profile/A/bill.password", "bill-secret-2")
    engine = create_engine(database_url(home))

    def blob():
        with engine.connect() as conn:
            return conn.execute(select(vault_secrets_table.c.ciphertext)).scalar_one()

    before = blob()
    assert vault_cmd(home, "rotate-key") == 2  # locked, no passphrase given, no terminal: nothing done
    assert blob() == before
    monkeypatch.setenv("NAVBILL_VAULT_PASSPHRASE", FIRST)
    assert vault_cmd(home, "rotate-key") == 0
    assert blob() != before
    engine.dispose()
    assert Vault.open(database_url(home), passphrase=FIRST).get("profile/A/bill.password") == "bill-secret-2"


def test_interactive_passphrase_must_match_twice(home, monkeypatch, capsys):
    from app.setup.vault import Vault

    answers = iter(["typed passphrase one", "typed passphrase two"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert vault_cmd(home, "set-passphrase") == 2
    assert "differ" in capsys.readouterr().err
    assert Vault.open(database_url(home)).needs_new_passphrase
    answers = iter(["typed passphrase one", "typed passphrase one"])
    assert vault_cmd(home, "set-passphrase") == 0
    assert Vault.open(database_url(home), passphrase="typed passphrase one").is_unlocked
