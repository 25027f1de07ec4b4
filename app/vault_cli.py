"""`navbill vault status|set-passphrase|change-passphrase|rotate-key`: the credentials vault without a window.

For servers and machines without a secure keyring. Passphrases are read with getpass, or, for scripts,
from the environment: ``NAVBILL_VAULT_PASSPHRASE`` (the current one) and ``NAVBILL_NEW_VAULT_PASSPHRASE``
(a new one). They are never printed or logged; error messages are the vault's own sentences.
Exit codes: 0 done, 1 the vault refused (wrong passphrase, locked, nothing to do), 2 input problem.
"""

from __future__ import annotations

import getpass
import os
import sys
import warnings

from app.domain.errors import ConnectorError

NEW_PASSPHRASE_ENV = "NAVBILL_NEW_VAULT_PASSPHRASE"
ACTIONS = ("status", "set-passphrase", "change-passphrase", "rotate-key")


class InputProblem(Exception):
    """The passphrase could not be read (no terminal, the two entries differ)."""


def current_passphrase(prompt: str = "Vault passphrase: ") -> str:
    from app.vault import PASSPHRASE_ENV

    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value
    return _ask(prompt)


def new_passphrase() -> str:
    value = os.environ.get(NEW_PASSPHRASE_ENV)
    if value:
        return value
    first = _ask("New vault passphrase: ")
    if _ask("Type it again: ") != first:
        raise InputProblem("The two passphrases differ; nothing was changed.")
    return first


def _ask(prompt: str) -> str:
    try:
        with warnings.catch_warnings():
            # Without a terminal getpass would read the passphrase with echo on; refuse instead.
            warnings.simplefilter("error", getpass.GetPassWarning)
            return getpass.getpass(prompt)
    except (EOFError, KeyboardInterrupt, OSError, getpass.GetPassWarning):
        raise InputProblem("No passphrase was entered (set NAVBILL_VAULT_PASSPHRASE or NAVBILL_NEW_VAULT_PASSPHRASE "
                           "to run without a terminal).") from None


def _register(value: str) -> str:
    from app.log import register_secret

    if value:
        register_secret(value)
    return value


def run(action: str, home) -> int:
    from app.config import app_paths
    from app.vault import PASSPHRASE_ENV, Vault

    url = app_paths(home).ensure().database_url
    vault = Vault.open(url)
    if action == "status":
        if not vault.is_unlocked and vault.mode == "passphrase" and os.environ.get(PASSPHRASE_ENV):
            vault.unlock(_register(current_passphrase()))
        status = vault.backend_status()
        print(f"mode:      {vault.mode or 'not set up (needs a passphrase)'}")
        print(f"keyring:   {status.backend_name} ({'secure' if status.secure_keyring else 'not usable'})")
        print(f"unlocked:  {'yes' if vault.is_unlocked else 'no'}")
        print(f"secrets:   {len(vault.names())}")
        print(status.message)
        return 0
    if action == "set-passphrase":
        if not vault.needs_new_passphrase:
            print("This vault already has its key; use `vault change-passphrase`.", file=sys.stderr)
            return 1
        vault.set_passphrase(_register(new_passphrase()))
        print("The vault passphrase is set. Keep it safe: without it the saved credentials cannot be read.")
        return 0
    if action == "change-passphrase":
        if vault.mode != "passphrase":
            print("This vault keeps its key in the system keyring; it has no passphrase to change.",
                  file=sys.stderr)
            return 1
        old = _register(current_passphrase("Current vault passphrase: "))
        vault.change_passphrase(old, _register(new_passphrase()))
        print("The vault passphrase was changed.")
        return 0
    # rotate-key
    if not vault.is_unlocked:
        if vault.mode != "passphrase":
            print(vault.backend_status().message, file=sys.stderr)
            return 1
        vault.unlock(_register(current_passphrase()))
    vault.rotate_key()
    print(f"Every saved credential ({len(vault.names())}) is now encrypted under a new key.")
    return 0


def main(args) -> int:
    try:
        return run(args.vault_action, getattr(args, "home", None))
    except InputProblem as problem:
        print(str(problem), file=sys.stderr)
        return 2
    except ConnectorError as error:
        from app.log import redact

        print(redact(str(error)), file=sys.stderr)
        return 1
