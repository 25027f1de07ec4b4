"""Unlock the credentials vault for a headless command: from NAVBILL_VAULT_PASSPHRASE, else by asking on the
terminal, else with a sentence that names the variable (exit code 2)."""

from __future__ import annotations

import os
import sys

from app.cli.errors import USAGE, CliError


def unlock(vault, command: str = "") -> None:
    """Make ``vault`` usable or raise CliError saying how. A wrong passphrase raises the vault's own error."""
    from app.cli.commands.vault import InputProblem, _register, current_passphrase
    from app.setup.vault import PASSPHRASE_ENV

    if vault.is_unlocked:
        return
    run_again = f"`navbill {command}`" if command else "the command"
    if vault.mode == "passphrase":
        if not os.environ.get(PASSPHRASE_ENV) and sys.stdin is not None and sys.stdin.isatty():
            try:
                vault.unlock(_register(current_passphrase()))
                return
            except InputProblem:
                pass
        raise CliError(f"The credentials vault is locked: give its passphrase in {PASSPHRASE_ENV} (or run "
                       f"{run_again} in a terminal, which asks for it).", USAGE)
    if not vault.mode:
        raise CliError("The credentials vault has no passphrase yet and this computer has no usable system keyring: "
                       f"set one with `navbill vault set-passphrase` (or give it in {PASSPHRASE_ENV}), then save the "
                       "profile's secrets with `navbill profile secret NAME KEY`.", USAGE)
    raise CliError(f"{vault.backend_status().message} Unlock the system keyring, then run {run_again} again.", USAGE)
