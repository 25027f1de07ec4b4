"""The credentials vault: every password, key, token and session id the connector keeps.

Secrets are encrypted with a random 256-bit data-encryption key (DEK) using AES-256-GCM, one random
nonce per value, with the secret's name as associated data (so a blob copied onto another name fails
to decrypt instead of handing out the wrong credential). The ciphertexts live in the app database
(tables ``vault_secrets`` and ``vault_meta`` on this module's own ``MetaData``).

Where the DEK lives depends on what the machine offers:

* ``keyring`` mode: the DEK sits in the OS keyring (Windows Credential Manager, macOS Keychain,
  Secret Service / KWallet) under service ``NavBill``.
* ``passphrase`` mode: when the only keyring backend is insecure (keyring's fail or null backend,
  a chainer with nothing to chain, the plaintext-file backends of keyrings.alt, which is what a
  headless Linux box usually has), the DEK is wrapped with a key derived from a passphrase the user
  sets (scrypt, random salt). The vault never falls back to plain text.

The mode is chosen when the vault is created and remembered in ``vault_meta`` (as Maestral persists
its keyring choice), so a later start never looks for the key in the wrong place.

A team store (PostgreSQL, shared by several workstations) always uses ``passphrase`` mode: a key kept in one PC's
keyring would leave every other workstation unable to decrypt the shared secrets. The team passphrase is set by
the administrator and entered once on each workstation; after that the data key is kept in *that PC's* keyring
(entry ``team-vault-key/<vault id>``, where a secure keyring exists), so the window and ``serve`` open the vault
without asking again. The database only ever holds ciphertexts and the passphrase-wrapped key, never a secret in
clear. To shut a workstation out, change the passphrase and rotate the key: the key its keyring kept no longer
fits, and it asks for the (new) passphrase.

A vault whose key cannot be reached opens *locked*: ``is_unlocked`` is False, ``backend_status()``
says why in words the UI can show, and reading a secret raises ``VaultLockedError``. A wrong
passphrase raises ``WrongPassphraseError``. Both are ``ConnectorError``s, never a crash.

Every value the vault decrypts or stores is passed to ``app.log.register_secret`` so it is masked
in every log line.
"""

from __future__ import annotations

import base64
import os
import secrets
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import (
    Column,
    DateTime,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    select,
)
from sqlalchemy.engine import Engine

from app.domain.errors import ConfigurationError, ConnectorError
from app.log import register_secret

KEYRING_SERVICE = "NavBill"

# scrypt cost: n=2**17, r=8, p=1 is OWASP's recommendation (about 128 MiB and a few tenths of a
# second, paid once per unlock). Tests pass a lower n; the parameters are stored with the salt.
DEFAULT_SCRYPT_N = 2**17
SCRYPT_R = 8
SCRYPT_P = 1
MIN_PASSPHRASE_LENGTH = 8

_NONCE_BYTES = 12
_KEY_BYTES = 32
_BLOB_VERSION = b"\x01"
_CHECK_NAME = "vault/check"  # associated data of the check value; no secret may use this name
_CHECK_PLAINTEXT = b"NavBill vault check v1"
_WRAP_AAD = b"NavBill vault data key v1"
TEAM_NEEDS_PASSPHRASE = ("This is a team store: its credentials are shared by every workstation, so they are "
                         "encrypted with a key derived from the team's vault passphrase. Choose it now (you are the "
                         "first) and give it to the other workstations; each enters it once.")
TEAM_ENTER_PASSPHRASE = ("Enter the team's vault passphrase (ask whoever set up the team store) to unlock the shared "
                         "credentials; this PC then keeps the key in its keyring and asks only once.")

DEMO_PASSPHRASE = "navbill-demo-passphrase"
PASSPHRASE_ENV = "NAVBILL_VAULT_PASSPHRASE"

vault_metadata = MetaData()

vault_secrets_table = Table(
    "vault_secrets",
    vault_metadata,
    Column("name", String(200), primary_key=True),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

vault_meta_table = Table(
    "vault_meta",
    vault_metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)


class VaultError(ConnectorError):
    """The vault could not do what was asked (base of the vault's own errors)."""


class VaultLockedError(VaultError):
    """The key that opens the saved credentials is not available (no passphrase yet, keyring missing)."""


class WrongPassphraseError(VaultLockedError):
    """The passphrase does not open this vault."""


# -- keyring backends --------------------------------------------------------------------------


@dataclass(frozen=True)
class BackendStatus:
    """What the UI shows about where the vault keeps its key.

    ``mode`` is "keyring" or "passphrase"; ``secure_keyring`` says whether a trustworthy OS keyring
    backend exists; ``message`` is a plain sentence for the settings page and the connection test.
    """

    mode: str
    backend_name: str
    secure_keyring: bool
    unlocked: bool
    message: str


def backend_name(backend: object) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def insecure_reason(backend: object) -> str:
    """Why this keyring backend must not hold our key, or "" when it is fine.

    Insecure: keyring's fail and null backends, a chainer with nothing usable to chain, anything from
    keyrings.alt (plaintext or weakly protected files; its own README warns about them), any backend
    whose class name says "Plaintext", and any backend with a negative priority (keyring's own signal
    for "not viable here").
    """
    module = type(backend).__module__
    name = type(backend).__name__
    if module == "keyring.backends.fail":
        return "no system keyring is available on this computer"
    if module == "keyring.backends.null":
        return "the keyring is switched off (null backend)"
    if module == "keyring.backends.chainer":
        chained = list(getattr(backend, "backends", []))
        if not chained:
            return "no system keyring is available on this computer"
        # The chainer writes to the first backend that accepts the value: that one must be sound.
        return insecure_reason(chained[0])
    if module.startswith("keyrings.alt") or "plaintext" in name.lower():
        return f"the only keyring ({name}) stores passwords in a file without proper protection"
    try:
        priority = float(getattr(backend, "priority", 1))
    except Exception:  # a backend whose priority check raises is not usable here
        return f"the keyring backend {name} is not usable on this computer"
    if priority < 0:
        return f"the keyring backend {name} is not usable on this computer"
    return ""


def _default_backend():
    import keyring

    return keyring.get_keyring()


# -- cryptography helpers ----------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))


def _seal(key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return _BLOB_VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, associated)


def _open_sealed(key: bytes, blob: bytes, associated: bytes) -> bytes:
    """Decrypt a blob from ``_seal``; raises InvalidTag when key, name or bytes do not match."""
    if not blob or blob[:1] != _BLOB_VERSION:
        raise InvalidTag()
    nonce = blob[1:1 + _NONCE_BYTES]
    return AESGCM(key).decrypt(nonce, blob[1 + _NONCE_BYTES:], associated)


def _secret_aad(name: str) -> bytes:
    return b"NavBill secret:" + name.encode("utf-8")


def _derive_key(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=_KEY_BYTES, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def _as_engine(engine_or_url: Engine | str) -> Engine:
    if isinstance(engine_or_url, Engine):
        return engine_or_url
    return create_engine(engine_or_url)


# -- the vault ---------------------------------------------------------------------------------


class Vault:
    """Encrypted secrets in the app database. Thread-safe; open with ``Vault.open``."""

    def __init__(self, engine: Engine, backend: object | None, *, scrypt_n: int = DEFAULT_SCRYPT_N,
                 team: bool | None = None) -> None:
        self._engine = engine
        # A team store's vault is read by several workstations: passphrase mode only (see the module doc).
        self.team = engine.dialect.name == "postgresql" if team is None else team
        self._backend = backend
        self._scrypt_n = scrypt_n
        self._lock = threading.RLock()
        self._dek: bytes | None = None
        self._kek: bytes | None = None  # passphrase-derived key, kept while unlocked to re-wrap on rotation
        self._lock_reason = ""

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, engine: Engine | str, keyring_backend: object | None = None, passphrase: str | None = None,
             *, scrypt_n: int = DEFAULT_SCRYPT_N, team: bool | None = None) -> Vault:
        """Open (creating if new) the vault in this database.

        A new vault keeps its key in the OS keyring when a secure backend exists, otherwise it needs
        a passphrase: with ``passphrase`` it is created and unlocked at once; without, it opens
        locked and ``needs_new_passphrase`` is True until ``set_passphrase`` is called.
        An existing vault uses the place its key was put when it was created.
        A team vault (``team``; by default: the database is PostgreSQL) always needs a passphrase, and opens
        without one on a workstation whose keyring kept the key since the passphrase was entered there.
        Raises ``WrongPassphraseError`` when ``passphrase`` does not open an existing passphrase vault.
        """
        backend = keyring_backend if keyring_backend is not None else _default_backend()
        vault = cls(_as_engine(engine), backend, scrypt_n=scrypt_n, team=team)
        vault._create_tables()
        meta = vault._meta()
        if not meta.get("mode"):
            if not vault.team and not insecure_reason(backend) and vault._try_create_in_keyring():
                return vault
            vault._lock_reason = TEAM_NEEDS_PASSPHRASE if vault.team else vault._fallback_sentence()
            if passphrase is not None:
                vault.set_passphrase(passphrase)
            return vault
        if meta["mode"] == "keyring":
            vault._unlock_from_keyring(meta)
            if vault.team and not vault.is_unlocked:
                vault._lock_reason = ("This team store's credentials were encrypted with a key kept in the keyring of "
                                      "the workstation that saved them, so this PC cannot read them. Reset the vault "
                                      "(Settings → Credentials), choose a team passphrase and enter the credentials "
                                      "again.")
        else:
            vault._lock_reason = (TEAM_ENTER_PASSPHRASE if vault.team
                                  else "Enter the vault passphrase to unlock the saved credentials.")
            if passphrase is not None:
                vault.unlock(passphrase)
            elif vault.team:
                vault._unlock_from_workstation_keyring(meta)
        return vault

    @classmethod
    def open_with_passphrase(cls, engine: Engine | str, passphrase: str, *,
                             scrypt_n: int = DEFAULT_SCRYPT_N) -> Vault:
        """Open a passphrase vault without ever touching the OS keyring.

        For ``--demo`` runs, tests and headless machines: the caller supplies the passphrase. The demo
        uses ``DEMO_PASSPHRASE``, a fixed value in the source code. That is acceptable only because
        everything a demo vault holds is the public sandbox credentials of ``app/sandbox/demo_data.py``;
        never use the demo passphrase for a vault holding real credentials.
        """
        vault = cls(_as_engine(engine), None, scrypt_n=scrypt_n)
        vault._create_tables()
        meta = vault._meta()
        if not meta.get("mode"):
            vault.set_passphrase(passphrase)
        elif meta["mode"] == "keyring":
            raise ConfigurationError(
                "These credentials are protected by the system keyring, not by a passphrase. "
                "Open the vault with the system keyring instead.", code="vault-mode")
        else:
            vault.unlock(passphrase)
        return vault

    @classmethod
    def open_for_headless(cls, engine: Engine | str, keyring_backend: object | None = None, *,
                          team: bool | None = None) -> Vault:
        """``Vault.open`` for commands without a window (sync, serve, check on a server).

        A passphrase vault there cannot ask; the passphrase may come from the ``NAVBILL_VAULT_PASSPHRASE``
        environment variable (set by the service manager, e.g. a systemd credential). Without it the
        vault opens locked and ``backend_status().message`` says what to do.
        """
        return cls.open(engine, keyring_backend=keyring_backend, passphrase=os.environ.get(PASSPHRASE_ENV) or None,
                        team=team)

    # -- state -----------------------------------------------------------------------------
    @property
    def is_unlocked(self) -> bool:
        return self._dek is not None

    @property
    def mode(self) -> str:
        """"keyring", "passphrase", or "" while a new vault still waits for its passphrase."""
        return self._meta().get("mode", "")

    @property
    def needs_new_passphrase(self) -> bool:
        """True for a new vault on a machine without a secure keyring: the user must choose a passphrase."""
        return not self.mode

    def backend_status(self) -> BackendStatus:
        reason = insecure_reason(self._backend) if self._backend is not None else "not consulted"
        name = backend_name(self._backend) if self._backend is not None else "none"
        mode = self.mode or "passphrase"
        if mode == "keyring":
            message = ("Credentials are encrypted; the key is kept in the system keyring "
                       f"({type(self._backend).__name__}).")
            if not self.is_unlocked:
                message = self._lock_reason
        elif self.is_unlocked and self.team:
            message = ("Team credentials are encrypted with a key derived from the team's vault passphrase"
                       + (", entered once on this PC; its keyring keeps the key." if self._workstation_keyring_usable()
                          else "; this PC has no secure keyring, so the passphrase is asked at each start."))
        elif self.is_unlocked:
            message = "Credentials are encrypted with a key derived from your vault passphrase."
            if self._backend is not None and reason:
                message = (f"The system keyring cannot be used ({reason}), so credentials are encrypted "
                           "with a key derived from your vault passphrase.")
        else:
            message = self._lock_reason or "Enter the vault passphrase to unlock the saved credentials."
        return BackendStatus(mode=mode, backend_name=name, secure_keyring=not reason, unlocked=self.is_unlocked,
                             message=message)

    # -- passphrase ------------------------------------------------------------------------
    def set_passphrase(self, passphrase: str) -> None:
        """Create a passphrase vault (only for a vault that has no key yet)."""
        _require_passphrase_strength(passphrase)
        with self._lock:
            if self.mode:
                raise VaultError("This vault already has its key; use change_passphrase instead.",
                                 code="vault-exists")
            dek = AESGCM.generate_key(bit_length=256)
            meta = self._passphrase_meta(passphrase, dek)
            meta.update(mode="passphrase", vault_id=str(uuid.uuid4()),
                        check=_b64(_seal(dek, _CHECK_PLAINTEXT, _CHECK_NAME.encode())),
                        created_at=datetime.now(UTC).isoformat())
            with self._engine.begin() as conn:
                self._write_meta(conn, meta)
            self._dek = dek
            self._lock_reason = ""
            self._remember_on_workstation(meta["vault_id"], dek)

    def unlock(self, passphrase: str) -> None:
        """Unlock a passphrase vault; raises ``WrongPassphraseError`` when it does not fit."""
        with self._lock:
            meta = self._meta()
            if meta.get("mode") != "passphrase":
                raise VaultError("This vault does not use a passphrase.", code="vault-mode")
            kek, dek = self._unwrap(meta, passphrase)
            self._kek, self._dek = kek, dek
            self._lock_reason = ""
            self._remember_on_workstation(meta.get("vault_id", ""), dek)

    def lock(self) -> None:
        """Forget the keys held in memory (passphrase vaults must be unlocked again)."""
        with self._lock:
            self._dek = None
            self._kek = None
            self._lock_reason = "The vault is locked."

    def change_passphrase(self, old_passphrase: str, new_passphrase: str) -> None:
        """Re-wrap the data key under a new passphrase (new salt). The secrets themselves stay as they are."""
        _require_passphrase_strength(new_passphrase)
        with self._lock:
            meta = self._meta()
            if meta.get("mode") != "passphrase":
                raise VaultError("This vault keeps its key in the system keyring; it has no passphrase.",
                                 code="vault-mode")
            _kek, dek = self._unwrap(meta, old_passphrase)
            new_meta = self._passphrase_meta(new_passphrase, dek)
            with self._engine.begin() as conn:
                self._write_meta(conn, new_meta)
            self._dek = dek
            self._kek = _derive_key(new_passphrase, _unb64(new_meta["kdf_salt"]), int(new_meta["kdf_n"]),
                                    SCRYPT_R, SCRYPT_P)

    # -- secrets ---------------------------------------------------------------------------
    def put(self, name: str, value: str) -> None:
        _check_name(name)
        if not isinstance(value, str):
            raise TypeError("vault values are text")
        register_secret(value)
        with self._lock:
            dek = self._require_key()
            blob = _seal(dek, value.encode("utf-8"), _secret_aad(name))
            now = datetime.now(UTC)
            with self._engine.begin() as conn:
                conn.execute(delete(vault_secrets_table).where(vault_secrets_table.c.name == name))
                conn.execute(vault_secrets_table.insert().values(name=name, ciphertext=blob, updated_at=now))

    def get(self, name: str, default: str | None = None) -> str | None:
        """The secret's value, or ``default`` when none is stored under this name."""
        _check_name(name)
        with self._lock:
            dek = self._require_key()
            with self._engine.connect() as conn:
                blob = conn.execute(
                    select(vault_secrets_table.c.ciphertext).where(vault_secrets_table.c.name == name)
                ).scalar_one_or_none()
            if blob is None:
                return default
            try:
                value = _open_sealed(dek, bytes(blob), _secret_aad(name)).decode("utf-8")
            except InvalidTag:
                raise VaultError(f"The saved credential '{name}' is damaged or was not written by this vault; "
                                 "enter it again.", code="vault-tamper", record=name) from None
        register_secret(value)
        return value

    def delete(self, name: str) -> bool:
        """Remove one secret; True when there was one. Works while locked (removing needs no key)."""
        with self._engine.begin() as conn:
            result = conn.execute(delete(vault_secrets_table).where(vault_secrets_table.c.name == name))
        return bool(result.rowcount)

    def delete_prefix(self, prefix: str) -> int:
        """Remove every secret whose name starts with ``prefix`` (a profile's secrets); returns how many."""
        names = [n for n in self.names() if n.startswith(prefix)]
        with self._engine.begin() as conn:
            for name in names:
                conn.execute(delete(vault_secrets_table).where(vault_secrets_table.c.name == name))
        return len(names)

    def names(self) -> list[str]:
        with self._engine.connect() as conn:
            return sorted(conn.execute(select(vault_secrets_table.c.name)).scalars())

    def updated_at(self, name: str) -> datetime | None:
        with self._engine.connect() as conn:
            return conn.execute(
                select(vault_secrets_table.c.updated_at).where(vault_secrets_table.c.name == name)
            ).scalar_one_or_none()

    # -- key rotation ----------------------------------------------------------------------
    def rotate_key(self) -> None:
        """Re-encrypt every secret under a fresh data key, in one transaction.

        Keyring mode writes the new key to the keyring under a new entry *before* the database
        switches to it, and removes the old entry after: a crash in between leaves a working vault.
        """
        with self._lock:
            old_dek = self._require_key()
            meta = self._meta()
            new_dek = AESGCM.generate_key(bit_length=256)
            with self._engine.connect() as conn:
                rows = conn.execute(select(vault_secrets_table.c.name, vault_secrets_table.c.ciphertext)).all()
            resealed = []
            for name, blob in rows:
                try:
                    plaintext = _open_sealed(old_dek, bytes(blob), _secret_aad(name))
                except InvalidTag:
                    raise VaultError(f"The saved credential '{name}' is damaged; delete it or enter it again "
                                     "before rotating the key.", code="vault-tamper", record=name) from None
                resealed.append((name, _seal(new_dek, plaintext, _secret_aad(name))))
            new_meta = {"check": _b64(_seal(new_dek, _CHECK_PLAINTEXT, _CHECK_NAME.encode()))}
            old_entry = ""
            if meta["mode"] == "keyring":
                generation = int(meta.get("key_generation", "1")) + 1
                old_entry = self._keyring_entry(meta["vault_id"], int(meta.get("key_generation", "1")))
                self._keyring_store(self._keyring_entry(meta["vault_id"], generation), new_dek)
                new_meta["key_generation"] = str(generation)
            else:
                kek = self._kek
                if kek is None:
                    raise VaultLockedError("Unlock the vault with its passphrase before rotating the key.")
                new_meta["wrapped_key"] = _b64(_seal(kek, new_dek, _WRAP_AAD))
            now = datetime.now(UTC)
            with self._engine.begin() as conn:
                for name, blob in resealed:
                    conn.execute(vault_secrets_table.update().where(vault_secrets_table.c.name == name)
                                 .values(ciphertext=blob, updated_at=now))
                self._write_meta(conn, new_meta)
            self._dek = new_dek
            if old_entry:
                self._keyring_forget(old_entry)
            if meta["mode"] == "passphrase":  # this PC keeps the new key; the others must enter the passphrase
                self._remember_on_workstation(meta.get("vault_id", ""), new_dek)

    def destroy(self) -> None:
        """Remove every secret, the vault's metadata and its keyring entry (a full reset)."""
        with self._lock:
            meta = self._meta()
            with self._engine.begin() as conn:
                conn.execute(delete(vault_secrets_table))
                conn.execute(delete(vault_meta_table))
            if meta.get("mode") == "keyring":
                self._keyring_forget(self._keyring_entry(meta["vault_id"], int(meta.get("key_generation", "1"))))
            elif self.team and meta.get("vault_id") and self._workstation_keyring_usable():
                self._keyring_forget(self._workstation_entry(meta["vault_id"]))
            self._dek = None
            self._kek = None
            self._lock_reason = "The vault was reset; enter the credentials again."

    # -- internals -------------------------------------------------------------------------
    def _create_tables(self) -> None:
        vault_metadata.create_all(self._engine)

    def _meta(self) -> dict[str, str]:
        with self._engine.connect() as conn:
            return {key: value for key, value in conn.execute(select(vault_meta_table.c.key, vault_meta_table.c.value))}

    @staticmethod
    def _write_meta(conn, values: dict[str, str]) -> None:
        for key, value in values.items():
            conn.execute(delete(vault_meta_table).where(vault_meta_table.c.key == key))
            conn.execute(vault_meta_table.insert().values(key=key, value=str(value)))

    def _require_key(self) -> bytes:
        if self._dek is None:
            raise VaultLockedError(self._lock_reason or "The vault is locked.", code="vault-locked")
        return self._dek

    def _fallback_sentence(self) -> str:
        reason = insecure_reason(self._backend) if self._backend is not None else ""
        if reason:
            return (f"The system keyring cannot be used ({reason}). Choose a vault passphrase: the saved "
                    "credentials are encrypted with a key derived from it.")
        return "The system keyring refused to store the key. Choose a vault passphrase instead."

    @staticmethod
    def _keyring_entry(vault_id: str, generation: int) -> str:
        # One entry per vault and key generation, so test databases, several installs and a rotation
        # in progress never overwrite each other's key.
        return f"vault-key/{vault_id}/{generation}"

    def _keyring_store(self, entry: str, dek: bytes) -> None:
        encoded = _b64(dek)
        try:
            self._backend.set_password(KEYRING_SERVICE, entry, encoded)
            stored = self._backend.get_password(KEYRING_SERVICE, entry)
        except Exception as exc:  # every backend has its own error types; the message names none of the key
            raise VaultLockedError(f"The system keyring refused to store the vault key ({type(exc).__name__}).",
                                   code="keyring-write") from None
        if stored != encoded:
            raise VaultLockedError("The system keyring did not keep the vault key.", code="keyring-write")

    def _keyring_forget(self, entry: str) -> None:
        try:
            self._backend.delete_password(KEYRING_SERVICE, entry)
        except Exception:  # already gone or keyring unavailable: nothing left to protect
            pass

    def _try_create_in_keyring(self) -> bool:
        vault_id = str(uuid.uuid4())
        dek = AESGCM.generate_key(bit_length=256)
        try:
            self._keyring_store(self._keyring_entry(vault_id, 1), dek)
        except VaultLockedError:
            return False
        meta = {"mode": "keyring", "vault_id": vault_id, "key_generation": "1",
                "keyring_backend": backend_name(self._backend),
                "check": _b64(_seal(dek, _CHECK_PLAINTEXT, _CHECK_NAME.encode())),
                "created_at": datetime.now(UTC).isoformat()}
        with self._engine.begin() as conn:
            self._write_meta(conn, meta)
        self._dek = dek
        return True

    def _unlock_from_keyring(self, meta: dict[str, str]) -> None:
        reason = insecure_reason(self._backend)
        if reason:
            self._lock_reason = (f"The saved credentials are protected by the system keyring, but {reason}. "
                                 "Sign in to your desktop session (or unlock the keyring) and start again, "
                                 "or reset the vault and enter the credentials again.")
            return
        entry = self._keyring_entry(meta["vault_id"], int(meta.get("key_generation", "1")))
        try:
            encoded = self._backend.get_password(KEYRING_SERVICE, entry)
        except Exception as exc:
            self._lock_reason = (f"The system keyring could not be read ({type(exc).__name__}). Unlock it and "
                                 "try again.")
            return
        if not encoded:
            self._lock_reason = ("The key of the saved credentials is missing from the system keyring. Reset "
                                 "the vault and enter the credentials again.")
            return
        try:
            dek = _unb64(encoded)
            _open_sealed(dek, _unb64(meta["check"]), _CHECK_NAME.encode())
        except (InvalidTag, ValueError):
            self._lock_reason = ("The key in the system keyring does not open the saved credentials (the "
                                 "keyring entry was replaced). Reset the vault and enter the credentials again.")
            return
        self._dek = dek
        self._lock_reason = ""

    # A team vault's key on this workstation (entered once with the team passphrase). -----------------------
    @staticmethod
    def _workstation_entry(vault_id: str) -> str:
        return f"team-vault-key/{vault_id}"

    def _workstation_keyring_usable(self) -> bool:
        return self._backend is not None and not insecure_reason(self._backend)

    def _remember_on_workstation(self, vault_id: str, dek: bytes) -> None:
        """A team vault unlocked with its passphrase: keep the data key in this PC's keyring (a secure one only)."""
        if not self.team or not vault_id or not self._workstation_keyring_usable():
            return
        try:
            self._keyring_store(self._workstation_entry(vault_id), dek)
        except VaultLockedError:  # the keyring refused: the passphrase is asked again next time, nothing worse
            pass

    def _unlock_from_workstation_keyring(self, meta: dict[str, str]) -> None:
        if not meta.get("vault_id") or not self._workstation_keyring_usable():
            return
        try:
            encoded = self._backend.get_password(KEYRING_SERVICE, self._workstation_entry(meta["vault_id"]))
        except Exception:  # noqa: BLE001 - a keyring that cannot be read: ask for the passphrase instead
            return
        if not encoded:
            return
        try:
            dek = _unb64(encoded)
            _open_sealed(dek, _unb64(meta["check"]), _CHECK_NAME.encode())
        except (InvalidTag, ValueError):  # the key was rotated since: the passphrase is needed again
            self._lock_reason = ("The team's vault key changed since this PC last unlocked it. " + TEAM_ENTER_PASSPHRASE)
            return
        self._dek = dek
        self._lock_reason = ""

    def _passphrase_meta(self, passphrase: str, dek: bytes) -> dict[str, str]:
        salt = secrets.token_bytes(16)
        kek = _derive_key(passphrase, salt, self._scrypt_n, SCRYPT_R, SCRYPT_P)
        self._kek = kek
        return {"kdf": "scrypt", "kdf_salt": _b64(salt), "kdf_n": str(self._scrypt_n), "kdf_r": str(SCRYPT_R),
                "kdf_p": str(SCRYPT_P), "wrapped_key": _b64(_seal(kek, dek, _WRAP_AAD))}

    @staticmethod
    def _unwrap(meta: dict[str, str], passphrase: str) -> tuple[bytes, bytes]:
        kek = _derive_key(passphrase, _unb64(meta["kdf_salt"]), int(meta["kdf_n"]), int(meta["kdf_r"]),
                          int(meta["kdf_p"]))
        try:
            dek = _open_sealed(kek, _unb64(meta["wrapped_key"]), _WRAP_AAD)
            _open_sealed(dek, _unb64(meta["check"]), _CHECK_NAME.encode())
        except InvalidTag:
            raise WrongPassphraseError("That passphrase does not open the saved credentials. Check it and try "
                                       "again.", code="wrong-passphrase") from None
        return kek, dek


def _check_name(name: str) -> None:
    if not name or name == _CHECK_NAME or len(name) > 200:
        raise ValueError(f"Not a usable vault name: {name!r}")


def _require_passphrase_strength(passphrase: str) -> None:
    if not isinstance(passphrase, str) or len(passphrase) < MIN_PASSPHRASE_LENGTH:
        raise VaultError(f"Choose a vault passphrase of at least {MIN_PASSPHRASE_LENGTH} characters.",
                         code="weak-passphrase")

