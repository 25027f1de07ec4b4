"""`navbill settings [KEY=VALUE ...] [--json]`: the sync settings without a window (for a server set up headlessly).

With no arguments it prints every setting; with KEY=VALUE pairs it changes those and prints the result.
The keys are the fields of ``EngineSettings`` (journal template and batch, balancing account, conflict rule,
number series); every value is checked against its type and allowed values (``KEYS``) before anything is saved,
and then the way the engine checks them before a run. A bad value changes nothing.

Exit codes: 0 done, 2 bad input or a store that cannot be opened.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, fields, replace

from app.cli.errors import USAGE, CliError
from app.domain.errors import ConnectorError
from app.domain.periods import CLOSED_PERIOD_ACTIONS
from app.engine.settings import BALANCING_ACCOUNT_TYPES, CONFLICT_POLICIES, EngineSettings

_TRUE, _FALSE = ("yes", "true", "on", "1"), ("no", "false", "off", "0")


@dataclass(frozen=True)
class Key:
    kind: str  # "text" | "number" | "yes/no" | "choice"
    help: str
    choices: tuple[str, ...] = ()
    low: int = 0
    high: int = 0
    max_length: int = 0

    def describe(self) -> str:
        if self.kind == "choice":
            return "one of " + " | ".join(f'"{c}"' if " " in c else c for c in self.choices)
        if self.kind == "number":
            return f"whole number {self.low}-{self.high}"
        if self.kind == "text" and self.max_length:
            return f"text, up to {self.max_length} characters"
        return self.kind


# Limits follow NAV's field lengths (Code[10] journal template/batch, Code[20] numbers).
KEYS: dict[str, Key] = {
    "master_on_conflict": Key("choice", "which side wins when a vendor field changed on both (ask: you decide)",
                              CONFLICT_POLICIES),
    "vendor_number_prefix": Key("text", "start of the NAV vendor No. for vendors created in BILL", max_length=10),
    "vendor_number_width": Key("number", "digits after that prefix", low=1, high=10),
    "payment_document_prefix": Key("text", "start of the NAV document No. of payment journal lines", max_length=10),
    "payment_document_width": Key("number", "digits after that prefix", low=1, high=10),
    "journal_template": Key("text", "NAV general journal template for payments", max_length=10),
    "journal_batch": Key("text", "NAV journal batch of the connector's own (posting posts the whole batch)",
                         max_length=10),
    "balancing_account_type": Key("choice", "type of the payment's balancing account",
                                  BALANCING_ACCOUNT_TYPES),
    "balancing_account_number": Key("text", "the balancing account's No. in NAV (needed for payments)",
                                    max_length=20),
    "create_nav_vendors": Key("yes/no", "create NAV vendors for vendors created in BILL"),
    "write_concurrency": Key("number", "BILL creates in flight at once (BILL allows 3)", low=1, high=3),
    "hold_payments_on_bank_change": Key("yes/no", "hold a vendor's payments while a change of its bank details in "
                                        "BILL is not confirmed"),
    "closed_period_action": Key("choice", "a payment dated before NAV's allowed posting dates: hold it, or post "
                                "it on the first allowed date", CLOSED_PERIOD_ACTIONS),
    "reconcile_digest_time": Key("text", "daily reconciliation digest in the tray, HH:MM local (empty: off)",
                                 max_length=5),
}


def settings_keys_help() -> str:
    lines = ["settings (KEY=VALUE; put a value with spaces in quotes: 'balancing_account_type=Bank Account'):"]
    for name, key in KEYS.items():
        lines.append(f"  {name:<26} {key.describe():<38} {key.help}")
    return "\n".join(lines)


def _convert(name: str, text: str):
    key = KEYS[name]
    value = text.strip()
    if key.kind == "yes/no":
        word = value.lower()
        if word not in _TRUE + _FALSE:
            raise CliError(f"{name} takes yes or no, not '{value}'. Nothing changed.", USAGE)
        return word in _TRUE
    if key.kind == "number":
        try:
            number = int(value)
        except ValueError:
            raise CliError(f"{name} takes a whole number from {key.low} to {key.high}, not '{value}'. "
                           "Nothing changed.", USAGE) from None
        if not key.low <= number <= key.high:
            raise CliError(f"{name} takes a whole number from {key.low} to {key.high}, not {number}. "
                           "Nothing changed.", USAGE)
        return number
    if key.kind == "choice":
        match = next((c for c in key.choices if c.lower() == value.lower()), None)
        if match is None:
            raise CliError(f"{name} takes one of {', '.join(key.choices)}, not '{value}'. Nothing changed.", USAGE)
        return match
    if key.max_length and len(value) > key.max_length:
        raise CliError(f"{name} takes at most {key.max_length} characters (NAV's field length); '{value}' has "
                       f"{len(value)}. Nothing changed.", USAGE)
    return value


def apply(settings: EngineSettings, pairs: list[str]) -> EngineSettings:
    known = {f.name for f in fields(settings)}
    changes = {}
    for pair in pairs:
        if "=" not in pair:
            raise CliError(f"'{pair}' is not KEY=VALUE. Nothing changed. The keys are listed by "
                           "`navbill settings --help`.", USAGE)
        name, value = pair.split("=", 1)
        name = name.strip()
        if name not in known or name not in KEYS:
            raise CliError(f"Unknown setting '{name}'; the settings are: {', '.join(KEYS)}. Nothing changed.", USAGE)
        changes[name] = _convert(name, value)
    changed = replace(settings, **changes)
    try:
        changed.validate(("accounts", "vendors", "invoices"))  # the checks that do not need payments configured
    except ConnectorError as exc:
        raise CliError(f"{exc.message} Nothing changed.", USAGE) from None
    return changed


def main(args) -> int:
    from app.cli.output import emit_json
    from app.cli.unlock import unlock
    from app.setup.config import app_paths
    from app.setup.wiring import open_store_for

    try:
        store = open_store_for(app_paths(args.home).ensure(), "settings", unlock)
    except ConnectorError as exc:
        raise CliError(f"Could not open the settings: {exc}", USAGE) from None
    try:
        settings = EngineSettings.load(store)
        if args.settings:
            settings = apply(settings, args.settings)
            settings.save(store)
        note = ""
        try:
            settings.validate(("payments",))
        except ConnectorError as exc:
            note = exc.message
        if getattr(args, "json", False):
            emit_json({"status": "done", "exit_code": 0, "settings": asdict(settings),
                       "changed": [p.split("=", 1)[0].strip() for p in args.settings], **({"note": note} if note
                                                                                        else {})})
            return 0
        if args.settings:
            print(f"Changed: {', '.join(p.split('=', 1)[0].strip() for p in args.settings)}.")
        for key, value in asdict(settings).items():
            if isinstance(value, bool):
                value = "yes" if value else "no"
            print(f"{key} = {value}")
        if note:
            print(f"Note: {note} Set them with `navbill settings KEY=VALUE` (see --help).", file=sys.stderr)
        return 0
    finally:
        store.close()
