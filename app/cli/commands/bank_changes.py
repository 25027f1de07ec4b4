"""`navbill bank-changes [confirm BILL_VENDOR_ID --note TEXT] [--json]`: the bank-detail change alerts headlessly.

Without an action it lists the unconfirmed changes (app.engine.bankwatch): exit 0 when there are none, 1 when some
wait (their vendors' payments are held while ``hold_payments_on_bank_change`` is on). ``confirm`` marks a vendor's
open alerts as confirmed by a person (the window's Skip in Failed postings), with the note saying who checked and
how; the next sync posts that vendor's held payments. Exit 2: no such open alert, or no note.
"""

from __future__ import annotations

from app.cli.errors import HELD, OK, STATUS, USAGE, CliError
from app.domain.errors import ConnectorError
from app.engine.bankwatch import QUEUE_KIND


def main(args) -> int:
    from app.cli.output import emit_json
    from app.cli.unlock import unlock
    from app.setup.config import app_paths
    from app.setup.wiring import open_store_for

    try:
        store = open_store_for(app_paths(args.home).ensure(), "bank-changes", unlock)
    except ConnectorError as exc:
        raise CliError(f"Could not open the database: {exc}", USAGE) from None
    try:
        items = store.queue_items(state="open", kind=QUEUE_KIND)
        if getattr(args, "bank_action", "list") == "confirm":
            vendor = (args.vendor or "").strip()
            note = (args.note or "").strip()
            if not vendor or not note:
                raise CliError("confirm needs the BILL vendor id and --note saying who checked the change and how "
                               "(e.g. --note 'called the controller at the number on file'). Nothing changed.",
                               USAGE)
            mine = [item for item in items if item.record_key.split(":", 1)[0] == vendor]
            if not mine:
                raise CliError(f"There is no unconfirmed bank-detail change for BILL vendor {vendor}; "
                               "`navbill bank-changes` lists them. Nothing changed.", USAGE)
            for item in mine:
                store.skip_item(item.id, f"bank-detail change confirmed: {note}")
            if getattr(args, "json", False):
                emit_json({"status": STATUS[OK], "exit_code": OK, "confirmed": [i.record_key for i in mine]})
            else:
                print(f"Confirmed {len(mine)} bank-detail change(s) of BILL vendor {vendor}; the next sync posts "
                      "its held payments.")
            return OK
        code = HELD if items else OK
        if getattr(args, "json", False):
            emit_json({"status": STATUS[code], "exit_code": code,
                       "changes": [{"vendor": i.record_key.split(":", 1)[0], "reason": i.reason} for i in items]})
        elif items:
            print(f"{len(items)} unconfirmed bank-detail change(s):")
            for item in items:
                print(f"  - {item.reason}")
            print("Confirm one with `navbill bank-changes confirm BILL_VENDOR_ID --note '...'`.")
        else:
            print("No unconfirmed bank-detail changes.")
        return code
    finally:
        store.close()
