"""The credentials vault: keyring mode, the passphrase fallback, rotation, removal, tampering."""

from __future__ import annotations

import logging

import pytest
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null
from keyring.errors import PasswordDeleteError, PasswordSetError
from sqlalchemy import create_engine, select, update

from app.domain.errors import ConnectorError
from app.log import SecretRedactor
from app.setup.vault import (
    KEYRING_SERVICE,
    Vault,
    VaultError,
    VaultLockedError,
    WrongPassphraseError,
    insecure_reason,
    vault_meta_table,
    vault_secrets_table,
)

FAST_SCRYPT = 2**14  # the stored parameters travel with the salt, so tests can use a cheap cost


class MemoryKeyring(KeyringBackend):
    """A secure-looking keyring that lives in a dict (tests never touch the real OS keyring)."""

    priority = 5

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.entries.get((service, username))

    def set_password(self, service, username, password):
        self.entries[(service, username)] = password

    def delete_password(self, service, username):
        if (service, username) not in self.entries:
            raise PasswordDeleteError("not found")
        del self.entries[(service, username)]


class RefusingKeyring(MemoryKeyring):
    """Looks secure but every write fails (a locked Secret Service collection)."""

    def set_password(self, service, username, password):
        raise PasswordSetError("locked collection")


class PlaintextKeyring(MemoryKeyring):
    """Stands in for keyrings.alt.file.PlaintextKeyring (not installed here); judged by its name."""


class EmptyChainer(chainer.ChainerBackend):
    backends = []  # noqa: RUF012 - mirrors the class property of a chainer with nothing to chain


@pytest.fixture
def engine(tmp_path):
    return create_engine(f"sqlite:///{tmp_path / 'vault.sqlite3'}")


def test_keyring_mode_round_trip_and_key_in_keyring(engine):
    backend = MemoryKeyring()
    vault = Vault.open(engine, keyring_backend=backend, scrypt_n=FAST_SCRYPT)
    assert vault.is_unlocked and vault.mode == "keyring"
    vault.put("profile/demo/bill.password", "s3cret-bill-pass")
    assert vault.get("profile/demo/bill.password") == "s3cret-bill-pass"
    assert [service for service, _ in backend.entries] == [KEYRING_SERVICE]
    status = vault.backend_status()
    assert status.secure_keyring and status.unlocked and "system keyring" in status.message

    reopened = Vault.open(engine, keyring_backend=backend)
    assert reopened.get("profile/demo/bill.password") == "s3cret-bill-pass"
    assert reopened.names() == ["profile/demo/bill.password"]


def test_ciphertext_is_not_the_value_and_bound_to_its_name(engine):
    vault = Vault.open(engine, keyring_backend=MemoryKeyring())
    vault.put("a/password", "correct-horse-battery")
    vault.put("b/password", "another-secret-value")
    with engine.begin() as conn:
        rows = dict(conn.execute(select(vault_secrets_table.c.name, vault_secrets_table.c.ciphertext)).all())
        assert b"correct-horse-battery" not in rows["a/password"]
        # Swap the blobs: authenticated encryption with the name as associated data must refuse.
        conn.execute(update(vault_secrets_table).where(vault_secrets_table.c.name == "b/password")
                     .values(ciphertext=rows["a/password"]))
    with pytest.raises(VaultError, match="damaged"):
        vault.get("b/password")
    assert vault.get("a/password") == "correct-horse-battery"


def test_missing_secret_gives_default(engine):
    vault = Vault.open(engine, keyring_backend=MemoryKeyring())
    assert vault.get("nothing/here") is None
    assert vault.get("nothing/here", "fallback") == "fallback"


@pytest.mark.parametrize("backend", [fail.Keyring(), null.Keyring(), EmptyChainer(), PlaintextKeyring()],
                         ids=["fail", "null", "empty-chainer", "plaintext"])
def test_insecure_backends_are_recognised(backend):
    assert insecure_reason(backend)


def test_secure_backend_is_accepted():
    assert insecure_reason(MemoryKeyring()) == ""


def test_insecure_keyring_falls_back_to_passphrase_never_plaintext(engine):
    backend = PlaintextKeyring()
    vault = Vault.open(engine, keyring_backend=backend, scrypt_n=FAST_SCRYPT)
    assert not vault.is_unlocked and vault.needs_new_passphrase
    status = vault.backend_status()
    assert not status.secure_keyring and not status.unlocked
    assert "passphrase" in status.message and "PlaintextKeyring" in status.message
    with pytest.raises(VaultLockedError):
        vault.put("x/password", "value-while-locked")

    vault.set_passphrase("a long passphrase")
    vault.put("x/password", "plain-looking-value")
    assert backend.entries == {}  # nothing went to the plaintext keyring
    assert "passphrase" in vault.backend_status().message
    assert Vault.open(engine, keyring_backend=backend, passphrase="a long passphrase").get("x/password") \
        == "plain-looking-value"


def test_headless_fail_backend_with_passphrase(engine):
    vault = Vault.open(engine, keyring_backend=fail.Keyring(), passphrase="headless-pass", scrypt_n=FAST_SCRYPT)
    assert vault.is_unlocked and vault.mode == "passphrase"
    assert "no system keyring" in vault.backend_status().message
    vault.put("bill.dev_key", "dev-key-value")

    locked = Vault.open(engine, keyring_backend=fail.Keyring())
    assert not locked.is_unlocked and not locked.needs_new_passphrase
    with pytest.raises(VaultLockedError, match="passphrase"):
        locked.get("bill.dev_key")
    locked.unlock("headless-pass")
    assert locked.get("bill.dev_key") == "dev-key-value"


def test_wrong_passphrase_is_a_clear_error(engine):
    Vault.open_with_passphrase(engine, "right passphrase", scrypt_n=FAST_SCRYPT).put("k", "value-1234")
    with pytest.raises(WrongPassphraseError) as caught:
        Vault.open_with_passphrase(engine, "wrong passphrase")
    assert isinstance(caught.value, ConnectorError)
    assert "passphrase does not open" in str(caught.value)
    locked = Vault.open(engine, keyring_backend=fail.Keyring())
    with pytest.raises(WrongPassphraseError):
        locked.unlock("also wrong!")
    assert not locked.is_unlocked


def test_short_passphrase_refused(engine):
    with pytest.raises(VaultError, match="at least"):
        Vault.open_with_passphrase(engine, "short")


def test_change_passphrase(engine):
    vault = Vault.open_with_passphrase(engine, "first passphrase", scrypt_n=FAST_SCRYPT)
    vault.put("nav.web_service_key", "ws-key-value")
    with pytest.raises(WrongPassphraseError):
        vault.change_passphrase("not the first", "second passphrase")
    vault.change_passphrase("first passphrase", "second passphrase")
    with pytest.raises(WrongPassphraseError):
        Vault.open_with_passphrase(engine, "first passphrase")
    assert Vault.open_with_passphrase(engine, "second passphrase").get("nav.web_service_key") == "ws-key-value"


def test_change_passphrase_refused_in_keyring_mode(engine):
    vault = Vault.open(engine, keyring_backend=MemoryKeyring())
    with pytest.raises(VaultError, match="system keyring"):
        vault.change_passphrase("a passphrase", "b passphrase")


def test_rotate_key_in_keyring_mode(engine):
    backend = MemoryKeyring()
    vault = Vault.open(engine, keyring_backend=backend)
    vault.put("one", "first-value")
    vault.put("two", "second-value")
    with engine.connect() as conn:
        before = dict(conn.execute(select(vault_secrets_table.c.name, vault_secrets_table.c.ciphertext)).all())
    old_keys = set(backend.entries.values())
    vault.rotate_key()
    with engine.connect() as conn:
        after = dict(conn.execute(select(vault_secrets_table.c.name, vault_secrets_table.c.ciphertext)).all())
    assert before.keys() == after.keys() and all(before[n] != after[n] for n in before)
    assert len(backend.entries) == 1 and set(backend.entries.values()).isdisjoint(old_keys)
    assert vault.get("one") == "first-value"
    assert Vault.open(engine, keyring_backend=backend).get("two") == "second-value"


def test_rotate_key_in_passphrase_mode(engine):
    vault = Vault.open_with_passphrase(engine, "rotate passphrase", scrypt_n=FAST_SCRYPT)
    vault.put("one", "first-value")
    vault.rotate_key()
    assert vault.get("one") == "first-value"
    assert Vault.open_with_passphrase(engine, "rotate passphrase").get("one") == "first-value"


def test_delete_and_delete_prefix(engine):
    vault = Vault.open(engine, keyring_backend=MemoryKeyring())
    for name in ("profile/a/nav.web_service_key", "profile/a/bill.password", "profile/b/bill.password"):
        vault.put(name, f"value of {name}")
    assert vault.delete("profile/b/bill.password") is True
    assert vault.delete("profile/b/bill.password") is False
    assert vault.delete_prefix("profile/a/") == 2
    assert vault.names() == []


def test_keyring_refusing_writes_falls_back_to_passphrase(engine):
    vault = Vault.open(engine, keyring_backend=RefusingKeyring(), passphrase="fallback pass", scrypt_n=FAST_SCRYPT)
    assert vault.mode == "passphrase" and vault.is_unlocked


def test_keyring_vault_locked_when_key_missing_or_keyring_gone(engine):
    backend = MemoryKeyring()
    Vault.open(engine, keyring_backend=backend).put("k", "value-abc")
    on_headless = Vault.open(engine, keyring_backend=fail.Keyring())
    assert not on_headless.is_unlocked
    assert "system keyring" in on_headless.backend_status().message
    with pytest.raises(VaultLockedError):
        on_headless.get("k")

    backend.entries.clear()
    lost = Vault.open(engine, keyring_backend=backend)
    assert not lost.is_unlocked and "missing" in lost.backend_status().message


def test_keyring_entry_replaced_is_detected_by_check_value(engine):
    backend = MemoryKeyring()
    Vault.open(engine, keyring_backend=backend).put("k", "value-abc")
    entry = next(iter(backend.entries))
    backend.entries[entry] = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="  # 32 bytes of "A": not our key
    vault = Vault.open(engine, keyring_backend=backend)
    assert not vault.is_unlocked and "does not open" in vault.backend_status().message


def test_destroy_resets_everything(engine):
    backend = MemoryKeyring()
    vault = Vault.open(engine, keyring_backend=backend)
    vault.put("k", "value-abc")
    vault.destroy()
    assert backend.entries == {} and vault.names() == []
    with engine.connect() as conn:
        assert conn.execute(select(vault_meta_table)).all() == []
    fresh = Vault.open(engine, keyring_backend=backend)
    assert fresh.is_unlocked and fresh.get("k") is None


def test_open_with_passphrase_refuses_keyring_vault(engine):
    Vault.open(engine, keyring_backend=MemoryKeyring())
    with pytest.raises(ConnectorError, match="system keyring"):
        Vault.open_with_passphrase(engine, "some passphrase")


def test_decrypted_values_are_masked_in_logs(engine, caplog):
    vault = Vault.open(engine, keyring_backend=MemoryKeyring())
    vault.put("bill.session_id", "sess-0123456789")
    value = vault.get("bill.session_id")
    logger = logging.getLogger("navbill.test.vault")
    handler_filter = SecretRedactor()
    caplog.handler.addFilter(handler_filter)
    try:
        with caplog.at_level(logging.INFO, logger="navbill.test.vault"):
            logger.info("about to use %s", value)
    finally:
        caplog.handler.removeFilter(handler_filter)
    assert "sess-0123456789" not in caplog.text
    assert "redacted" in caplog.text


def test_accepts_database_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'by-url.sqlite3'}"
    Vault.open(url, keyring_backend=MemoryKeyring(), scrypt_n=FAST_SCRYPT)
    assert Vault.open(url, keyring_backend=MemoryKeyring()).mode == "keyring"


def test_open_for_headless_reads_passphrase_from_environment(engine, monkeypatch):
    Vault.open_with_passphrase(engine, "service passphrase", scrypt_n=FAST_SCRYPT).put("k", "value-abc")
    monkeypatch.delenv("NAVBILL_VAULT_PASSPHRASE", raising=False)
    assert not Vault.open_for_headless(engine, keyring_backend=fail.Keyring()).is_unlocked
    monkeypatch.setenv("NAVBILL_VAULT_PASSPHRASE", "service passphrase")
    assert Vault.open_for_headless(engine, keyring_backend=fail.Keyring()).get("k") == "value-abc"
