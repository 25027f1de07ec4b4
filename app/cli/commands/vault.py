"""`navbill vault status|set-passphrase|change-passphrase|rotate-key`: the credentials vault without a window.

For servers and machines without a secure keyring. Passphrases are read with getpass, or, for scripts,
from the environment: ``NAVBILL_VAULT_PASSPHRASE`` (the current one) and ``NAVBILL_NEW_VAULT_PASSPHRASE``
(a new one). ``set-passphrase`` (the first one) takes either: ``NAVBILL_NEW_VAULT_PASSPHRASE``, else
``NAVBILL_VAULT_PASSPHRASE`` (the variable `sync`, `serve` and `check` then read). They are never printed or
logged; error messages are the vault's own sentences.
Exit codes (as every command): 0 done, 2 the vault refused (wrong passphrase, locked, nothing to do) or an
input problem.
"""

from __future__ import annotations

import getpass
import os
import warnings

from app.cli.errors import USAGE, CliError

NEW_PASSPHRASE_ENV = "NAVBILL_NEW_VAULT_PASSPHRASE"
ACTIONS = ("status", "set-passphrase", "change-passphrase", "rotate-key")


class InputProblem(Exception):
    """The passphrase could not be read (no terminal, the two entries differ)."""


def current_passphrase(prompt: str = "Vault passphrase: ") -> str:
    from app.setup.vault import PASSPHRASE_ENV

    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value
    return _ask(prompt)


def new_passphrase(first_one: bool = False) -> str:
    """The new passphrase: NAVBILL_NEW_VAULT_PASSPHRASE; for the first one also NAVBILL_VAULT_PASSPHRASE (the
    variable the other commands read, so one variable sets up and then unlocks); else asked twice."""
    from app.setup.vault import PASSPHRASE_ENV

    value = os.environ.get(NEW_PASSPHRASE_ENV) or (os.environ.get(PASSPHRASE_ENV) if first_one else None)
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
        raise InputProblem("No passphrase was entered and there is no terminal to ask for one: set "
                           "NAVBILL_VAULT_PASSPHRASE (the current passphrase; for `vault set-passphrase` the first "
                           "one) or NAVBILL_NEW_VAULT_PASSPHRASE (a new one for `vault change-passphrase`).") from None


def _register(value: str) -> str:
    from app.log import register_secret

    if value:
        register_secret(value)
    return value


def _done(as_json: bool, message: str, **extra) -> int:
    if as_json:
        from app.cli.output import emit_json

        emit_json({"status": "done", "exit_code": 0, "message": message, **extra})
    else:
        print(message)
    return 0


def run(action: str, home, as_json: bool = False) -> int:
    from app.setup.config import app_paths
    from app.setup.vault import PASSPHRASE_ENV, Vault
    from app.setup.wiring import team_store_url

    url, _source = team_store_url(app_paths(home).ensure(), "vault")  # a team store: the password saved on this PC
    vault = Vault.open(url)
    if action == "status":
        if not vault.is_unlocked and vault.mode == "passphrase" and os.environ.get(PASSPHRASE_ENV):
            vault.unlock(_register(current_passphrase()))
        status = vault.backend_status()
        if as_json:
            from app.cli.output import emit_json

            emit_json({"status": "done", "exit_code": 0, "mode": vault.mode or "", "keyring": status.backend_name,
                       "secure_keyring": bool(status.secure_keyring), "unlocked": vault.is_unlocked,
                       "secrets": len(vault.names()), "message": status.message})
            return 0
        print(f"mode:      {vault.mode or 'not set up (needs a passphrase)'}")
        print(f"keyring:   {status.backend_name} ({'secure' if status.secure_keyring else 'not usable'})")
        print(f"unlocked:  {'yes' if vault.is_unlocked else 'no'}")
        print(f"secrets:   {len(vault.names())}")
        print(status.message)
        return 0
    if action == "set-passphrase":
        if not vault.needs_new_passphrase:
            raise CliError("This vault already has its key" + (" (a passphrase)" if vault.mode == "passphrase" else
                                                               " (in the system keyring)")
                           + "; to change the passphrase use `navbill vault change-passphrase`.", USAGE)
        vault.set_passphrase(_register(new_passphrase(first_one=True)))
        return _done(as_json, "The vault passphrase is set. Keep it safe: without it the saved credentials cannot "
                              f"be read. Commands without a terminal read it from {PASSPHRASE_ENV}.")
    if action == "change-passphrase":
        if vault.mode != "passphrase":
            raise CliError("This vault keeps its key in the system keyring; it has no passphrase to change.", USAGE)
        old = _register(current_passphrase("Current vault passphrase: "))
        vault.change_passphrase(old, _register(new_passphrase()))
        return _done(as_json, "The vault passphrase was changed.")
    # rotate-key
    if not vault.is_unlocked:
        if vault.mode != "passphrase":
            raise CliError(vault.backend_status().message, USAGE)
        vault.unlock(_register(current_passphrase()))
    vault.rotate_key()
    return _done(as_json, f"Every saved credential ({len(vault.names())}) is now encrypted under a new key.")


def main(args) -> int:
    try:
        return run(args.vault_action, getattr(args, "home", None), bool(getattr(args, "json", False)))
    except InputProblem as problem:
        raise CliError(str(problem), USAGE) from None
