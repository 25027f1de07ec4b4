"""`navbill settings [KEY=VALUE ...]`: the sync settings without a window (for a server set up headlessly).

With no arguments it prints every setting; with KEY=VALUE pairs it changes those and prints the result.
The keys are the fields of ``EngineSettings`` (journal template and batch, balancing account, conflict rule,
number series); values are checked the same way the engine checks them before a run.

Exit codes: 0 done, 2 bad input or a store that cannot be opened.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, fields, replace

from app.domain.errors import ConnectorError
from app.engine.settings import EngineSettings

_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _convert(name: str, text: str, current):
    if isinstance(current, bool):
        word = text.strip().lower()
        if word not in _TRUE | _FALSE:
            raise ValueError(f"{name} takes yes or no")
        return word in _TRUE
    if isinstance(current, int):
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{name} takes a whole number") from None
    return text.strip()


def apply(settings: EngineSettings, pairs: list[str]) -> EngineSettings:
    known = {f.name: getattr(settings, f.name) for f in fields(settings)}
    changes = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"'{pair}' is not KEY=VALUE")
        key, value = pair.split("=", 1)
        key = key.strip()
        if key not in known:
            raise ValueError(f"unknown setting '{key}'; known: {', '.join(known)}")
        changes[key] = _convert(key, value, known[key])
    changed = replace(settings, **changes)
    changed.validate(("accounts", "vendors", "invoices"))  # the checks that do not need payments configured
    return changed


def main(args) -> int:
    from app.store import open_store

    try:
        store = open_store(home=args.home)
    except ConnectorError as exc:
        print(f"Could not open the settings: {exc}", file=sys.stderr)
        return 2
    try:
        settings = EngineSettings.load(store)
        if args.settings:
            try:
                settings = apply(settings, args.settings)
            except (ValueError, ConnectorError) as exc:
                print(f"Nothing changed: {exc}", file=sys.stderr)
                return 2
            settings.save(store)
        for key, value in asdict(settings).items():
            print(f"{key} = {value}")
        try:
            settings.validate(("payments",))
        except ConnectorError as exc:
            print(f"Note: {exc.message}", file=sys.stderr)
        return 0
    finally:
        store.close()
