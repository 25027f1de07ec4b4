"""`navbill profile list|show|add|set|secret|activate|delete`: connection profiles without a window.

For servers where `navbill serve` runs and the desktop wizard cannot. Settings that are not secret are given as
``KEY=VALUE`` arguments (``nav.server=nav01``, ``bill.username=ap@example.com``, ``environment=production``), the
keys taken from the fields of ``NavSettings``, ``BillSettings`` and ``Profile``. Secrets are never taken on the
command line: ``profile secret NAME KEY`` reads the value with getpass, or, for scripts, from
``NAVBILL_SECRET_VALUE``, and puts it in the vault under the profile's name. The vault unlocks as for the `vault`
command (``NAVBILL_VAULT_PASSPHRASE`` or a prompt). ``list`` and ``show`` say of each secret only whether it is set.
No value given to this command is ever printed: messages about a bad argument name its key, not its value.
``delete`` asks before it deletes (``--yes`` skips the question; without a terminal it is required).
Exit codes (as every command): 0 done, 2 bad input or refused (unknown profile, profile exists, vault locked or
wrong passphrase).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import typing

from app.cli.commands.vault import InputProblem, _ask, _register, current_passphrase
from app.cli.errors import USAGE, CliError
from app.domain.errors import ConfigurationError

SECRET_VALUE_ENV = "NAVBILL_SECRET_VALUE"
ACTIONS = ("list", "show", "add", "set", "secret", "activate", "delete")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
# Fields whose value must be one of a few words.
CHOICES = {
    "nav.mode": ("onprem", "online"),
    "nav.flavor": ("auto", "bc", "classic"),
    "bill.environment": ("sandbox", "production"),
    "environment": ("sandbox", "production"),
}


class BadInput(CliError):
    """An argument this command cannot use (exit code 2). Its message never contains a given value."""

    def __init__(self, message: str) -> None:
        super().__init__(message, USAGE)


# What each key is for, shown by `profile --help` (the keys themselves come from the dataclasses).
KEY_HELP = {
    "nav.mode": "onprem: NAV/BC on your server; online: Business Central online",
    "nav.server": "NAV server name or IP address (on-prem)",
    "nav.port": "OData port of the service tier (default 7048)",
    "nav.use_https": "https instead of http",
    "nav.server_instance": "NAV server instance, e.g. DynamicsNAV110 / BC",
    "nav.company": "company name exactly as NAV shows it",
    "nav.user": "NAV user (its web-service access key: `profile secret NAME nav.web_service_key`)",
    "nav.use_windows_auth": "sign in as a Windows account (DOMAIN\\user; password: nav.windows_password)",
    "nav.tenant": "online: the Azure AD tenant id",
    "nav.environment_name": "online: the BC environment, e.g. production",
    "nav.client_id": "online: the app registration's client id (secret: nav.client_secret)",
    "nav.company_id": "Business Central: the company's id (GUID); blank: looked up from the company name",
    "nav.flavor": "which NAV: auto (ask the server), bc (Business Central API v2.0), classic (NAV 2016-2018 pages)",
    "nav.token_url": "online: OAuth token URL (blank: computed from the tenant)",
    "nav.base_url": "full NAV address http(s)://host:port, overrides server/port/use_https",
    "bill.username": "BILL user (Administrator or Accountant role)",
    "bill.organization_id": "BILL organization id (starts with 008)",
    "bill.environment": "which BILL: sandbox or production (separate developer keys and data)",
    "bill.base_url": "BILL API address, overrides the environment's (e.g. a sandbox: http://host:port/connect)",
    "bill.events_base_url": "BILL events API address (webhooks), overrides the environment's",
    "environment": "what the profile is for; production profiles are never written to by `check`",
}


def _kind(key: str, kind: type) -> str:
    if key in CHOICES:
        return " | ".join(CHOICES[key])
    if kind is bool:
        return "yes/no"
    if kind is int:
        return "port 1-65535" if key.endswith("port") else "whole number"
    return "http(s) URL" if key.endswith("url") else "text"


def profile_keys_help() -> str:
    from app.setup.profiles import SECRET_KEYS

    lines = ["settings (KEY=VALUE):"]
    for key, kind in setting_types().items():
        lines.append(f"  {key:<22} {_kind(key, kind):<22} {KEY_HELP.get(key, '')}")
    typed = [k for k in SECRET_KEYS if k not in ("bill.session_id", "bill.webhook_security_key")]
    lines.append(f"secrets (never on the command line: `profile secret NAME KEY` asks, or reads {SECRET_VALUE_ENV}): "
                 + ", ".join(typed))
    return "\n".join(lines)


# -- settings keys -----------------------------------------------------------------------------


def setting_types() -> dict[str, type]:
    """Every settable key (``nav.<field>``, ``bill.<field>``, ``environment``) and its type, from the dataclasses."""
    from app.setup.profiles import BillSettings, NavSettings, Profile

    keys: dict[str, type] = {}
    for prefix, cls in (("nav", NavSettings), ("bill", BillSettings)):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            keys[f"{prefix}.{f.name}"] = hints[f.name]
    profile_hints = typing.get_type_hints(Profile)
    for f in dataclasses.fields(Profile):
        if profile_hints[f.name] in (str, int, bool) and f.name not in ("name", "active"):
            keys[f.name] = profile_hints[f.name]
    return keys


def _convert(key: str, kind: type, text: str):
    if kind is bool:
        word = text.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise BadInput(f"{key} takes yes/no (one of {', '.join(TRUE_WORDS + FALSE_WORDS)}).")
    if kind is int:
        try:
            number = int(text.strip())
        except ValueError:
            raise BadInput(f"{key} takes a whole number.") from None
        if key.endswith("port") and not 1 <= number <= 65535:
            raise BadInput(f"{key} takes a port number from 1 to 65535.")
        return number
    value = text.strip()
    if key in CHOICES and value not in CHOICES[key]:
        raise BadInput(f"{key} takes one of: {', '.join(CHOICES[key])}.")
    if key.endswith("url") and value and not value.lower().startswith(("http://", "https://")):
        raise BadInput(f"{key} takes an address that starts with http:// or https://.")
    return value


def parse_settings(pairs: list[str]) -> dict[str, object]:
    """``["nav.port=7048", ...]`` → ``{"nav.port": 7048, ...}``, typed; BadInput for anything else."""
    from app.setup.profiles import SECRET_KEYS

    known = setting_types()
    values: dict[str, object] = {}
    for position, pair in enumerate(pairs, start=1):
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            # Do not echo the argument: it may be a secret typed in the wrong place.
            raise BadInput(f"Setting {position} is not of the form KEY=VALUE.")
        if key in SECRET_KEYS:
            raise BadInput(f"{key} is a secret and is never given on the command line; use "
                           f"`profile secret NAME {key}` (it reads the value from a prompt or {SECRET_VALUE_ENV}).")
        if key not in known:
            raise BadInput(f"Unknown setting '{key}'. Known settings: {', '.join(known)}.")
        values[key] = _convert(key, known[key], text)
    return values


def apply_settings(profile, values: dict[str, object]):
    """A copy of ``profile`` with the settings changed."""
    nav = {k[4:]: v for k, v in values.items() if k.startswith("nav.")}
    bill = {k[5:]: v for k, v in values.items() if k.startswith("bill.")}
    top = {k: v for k, v in values.items() if "." not in k}
    return dataclasses.replace(profile, nav=dataclasses.replace(profile.nav, **nav),
                               bill=dataclasses.replace(profile.bill, **bill), **top)


# -- output ------------------------------------------------------------------------------------


def describe(profile, saved: list[str]) -> list[str]:
    """Lines about one profile: its settings and, for each secret key, only whether it is set."""
    from app.setup.profiles import SECRET_KEYS

    lines = [f"{profile.name}{'  (active)' if profile.active else ''}"]
    settings = setting_types()
    for key in settings:
        section, _, name = key.rpartition(".")
        value = getattr(getattr(profile, section) if section else profile, name)
        if isinstance(value, bool):
            value = "yes" if value else "no"
        lines.append(f"  {key:<26} {value}")
    for key in SECRET_KEYS:
        lines.append(f"  {key:<26} {'set' if key in saved else 'not set'}")
    return lines


# -- the command -------------------------------------------------------------------------------


def _unlocked_vault(vault) -> None:
    """Unlock ``vault`` as the `vault` command would; VaultLockedError-style refusals become exit code 1."""
    from app.setup.vault import PASSPHRASE_ENV

    if vault.is_unlocked:
        return
    if vault.needs_new_passphrase:
        given = os.environ.get(PASSPHRASE_ENV)
        if not given:
            raise ConfigurationError("The credentials vault has no passphrase yet and the system keyring cannot "
                                     "be used. Set one first with `navbill vault set-passphrase`, or give it in "
                                     f"{PASSPHRASE_ENV}.", code="vault-new")
        vault.set_passphrase(_register(given))
        return
    if vault.mode == "passphrase":
        vault.unlock(_register(current_passphrase()))
        return
    raise ConfigurationError(vault.backend_status().message, code="vault-locked")


def _secret_value(key: str) -> str:
    value = os.environ.get(SECRET_VALUE_ENV)
    if value is None:
        try:
            value = _ask(f"Value for {key}: ")
        except InputProblem:
            raise InputProblem(f"No value was entered for {key} (set {SECRET_VALUE_ENV} to run without a "
                               "terminal).") from None
    if not value:
        raise InputProblem(f"The value for {key} is empty; nothing was saved.")
    return _register(value)


def _confirm_delete(name: str, count: int, yes: bool) -> None:
    if yes:
        return
    if sys.stdin is None or not sys.stdin.isatty():
        raise BadInput(f"Deleting profile '{name}' removes its {count} saved credential(s) for good: add --yes to "
                       "confirm (there is no terminal to ask).")
    try:
        answer = input(f"Delete profile '{name}' and its {count} saved credential(s)? Type yes to confirm: ")
    except (EOFError, KeyboardInterrupt):
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        raise BadInput(f"Profile '{name}' was not deleted.")


def _say(as_json: bool, message: str, **extra) -> int:
    if as_json:
        from app.cli.output import emit_json

        emit_json({"status": "done", "exit_code": 0, "message": message, **extra})
    else:
        print(message)
    return 0


def _as_dict(profile, saved: list[str]) -> dict:
    from app.setup.profiles import SECRET_KEYS

    data = profile.to_json()
    data["active"] = profile.active
    data["secrets"] = {key: key in saved for key in SECRET_KEYS}
    return data


def run(args) -> int:
    from app.cli.unlock import unlock
    from app.setup.config import app_paths
    from app.setup.profiles import SECRET_KEYS, Profile, ProfileStore, validate_profile_name
    from app.setup.vault import Vault
    from app.setup.wiring import open_store_for

    action = args.profile_action
    as_json = bool(getattr(args, "json", False))
    name = getattr(args, "profile_name", None)
    # Check everything typed before touching the database.
    values = parse_settings(getattr(args, "settings", None) or [])
    if action == "set" and not values:
        raise BadInput("Give at least one setting as KEY=VALUE (the keys are listed by `navbill profile --help`).")
    key = getattr(args, "secret_key", None)
    if action == "secret" and key not in SECRET_KEYS:
        raise BadInput(f"Unknown secret '{key}'. Known secrets: {', '.join(SECRET_KEYS)}.")
    if action == "add":
        try:
            name = validate_profile_name(name)
        except ConfigurationError as problem:
            raise BadInput(problem.message) from None

    paths = app_paths(getattr(args, "home", None)).ensure()
    database = open_store_for(paths, "profile", unlock)  # a team store: with the password saved on this PC
    try:
        # Reading the list, activating and deleting need no key (secret names are stored in the clear).
        vault = Vault.open(database.engine)
        profiles = ProfileStore(paths, vault)
        if action == "list":
            found = profiles.list()
            if as_json:
                from app.cli.output import emit_json

                emit_json({"status": "done", "exit_code": 0,
                           "profiles": [_as_dict(p, profiles.saved_secret_keys(p)) for p in found]})
                return 0
            if not found:
                print("No connection profile is set up. Add one with `navbill profile add NAME KEY=VALUE...`.")
            for index, profile in enumerate(found):
                if index:
                    print()
                print("\n".join(describe(profile, profiles.saved_secret_keys(profile))))
            return 0
        if action == "add":
            if name in profiles.names():
                raise BadInput(f"A connection profile named '{name}' already exists; change it with "
                               f"`navbill profile set '{name}' KEY=VALUE...`.")
            saved = profiles.save(apply_settings(Profile(name=name), values))
            return _say(as_json, f"Profile '{name}' added{' and active' if saved.active else ''}. Save its secrets "
                                 f"with `navbill profile secret '{name}' KEY` (see `navbill profile --help`).")
        try:
            profile = profiles.get(name)
        except ConfigurationError:
            known = profiles.names()
            raise BadInput(f"There is no connection profile named '{name}'. "
                           + (f"The profiles are: {', '.join(known)}." if known else
                              "Add one with `navbill profile add NAME KEY=VALUE...`.")) from None
        if action == "show":
            if as_json:
                from app.cli.output import emit_json

                emit_json({"status": "done", "exit_code": 0,
                           "profile": _as_dict(profile, profiles.saved_secret_keys(profile))})
                return 0
            print("\n".join(describe(profile, profiles.saved_secret_keys(profile))))
        elif action == "set":
            profiles.save(apply_settings(profile, values))
            return _say(as_json, f"Profile '{name}' changed: {', '.join(values)}.")
        elif action == "secret":
            _unlocked_vault(vault)
            profiles.save(profile, {key: _secret_value(key)})
            return _say(as_json, f"Profile '{name}': {key} saved in the vault.")
        elif action == "activate":
            profiles.set_active(name)
            return _say(as_json, f"Profile '{name}' is now the active one.")
        else:  # delete
            count = len(profiles.saved_secret_keys(profile))
            _confirm_delete(name, count, bool(getattr(args, "yes", False)))
            profiles.delete(name)
            active = profiles.active()
            return _say(as_json, f"Profile '{name}' and its {count} saved credential(s) were deleted."
                        + (f" The active profile is now '{active.name}'." if active and profile.active else ""))
        return 0
    finally:
        database.close()


def main(args) -> int:
    try:
        return run(args)
    except InputProblem as problem:
        raise CliError(str(problem), USAGE) from None
