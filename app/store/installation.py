"""A second installation against the same company is stopped before it writes.

Two workstations that each keep their own SQLite store, pointed at the same NAV company and BILL
organization, each believe they have not yet created a bill: the team gets duplicate vendors, bills and
journal lines. A team shares one PostgreSQL store instead (``navbill store init --url ... --use``).

So before the first sync of a company on an installation whose own store is new (no vendor or invoice
linked yet), BILL is looked at once: a bill the connector made ("NAV posted invoice 108001" in its
description) that this store has no link for means another connector already syncs this company. The sync
and serve commands then refuse to write, naming that bill, until this installation joins the team store or an
administrator confirms it is the only one (``navbill store confirm-alone``: the other was retired, or this
PC's store was lost and must pick up where it left off; the engine then links the bills already in BILL
instead of creating them again).

Once an installation has synced a company (or was confirmed) that is recorded in ``installation.json`` in its
config folder, and nothing is looked at again: a single workstation sees no difference. A team store
(PostgreSQL) is never refused: sharing is what it is for.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from app.domain.errors import ConfigurationError
from app.domain.models import UnreadableRecord
from app.store import schema as t

OWN_BILL = re.compile(r"NAV posted invoice (\S+)")
ALL_COMPANIES = "*"


def _record_file(config_dir: Path) -> Path:
    return Path(config_dir) / "installation.json"


def _read(config_dir: Path) -> dict:
    try:
        data = json.loads(_record_file(config_dir).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write(config_dir: Path, data: dict) -> None:
    path = _record_file(config_dir)
    old = os.umask(0o077)
    try:
        temporary = path.with_name(path.name + f".{os.getpid()}")
        temporary.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(temporary, path)
    finally:
        os.umask(old)


def record(config_dir: Path, scope: str, how: str) -> None:
    data = _read(config_dir)
    data.setdefault("companies", {})[scope] = {"how": how, "at": datetime.now(UTC).isoformat(timespec="seconds")}
    _write(config_dir, data)


def confirm_alone(config_dir: Path) -> str:
    """The administrator's word: this installation is the only connector for its companies."""
    record(config_dir, ALL_COMPANIES, "confirmed by an administrator")
    return (f"Confirmed: this installation is the only connector for its companies (recorded in "
            f"{_record_file(config_dir)}). Its next sync links the bills already in BILL instead of creating them "
            "again.")


def scope_of(nav_company: str, bill_organization: str) -> str:
    return f"{nav_company.strip().casefold()}|{bill_organization.strip()}"


WINDOW_JOIN = ("Join the team's store (Settings → Team store…, with the address your administrator gives you), or, "
               "if this is the only connector now (the other was retired, or this PC's store was lost), have an "
               "administrator confirm it with `navbill store confirm-alone` and sync again.")
CLI_JOIN = ("Join the team's store (`navbill store init --url postgresql+psycopg://USER@SERVER/DATABASE --use`; ask "
            "whoever set it up), or, if this is the only connector now (the other was retired, or this PC's store was "
            "lost), confirm it with `navbill store confirm-alone`.")


def guard(store, bill, config_dir: Path, nav_company: str, bill_organization: str, *, window: bool = False) -> None:
    """Raise ``ConfigurationError`` (code ``second-installation``) if another connector already syncs this company
    from a store of its own; otherwise return (recording that this installation syncs it). ``window``: the
    refusal says what to do in the window (its Sync now and its service) rather than on the command line."""
    if getattr(store, "is_postgres", False):
        return
    scope = scope_of(nav_company, bill_organization)
    known = _read(config_dir).get("companies", {})
    if scope in known or ALL_COMPANIES in known:
        return
    with store.session() as s:
        links = (s.scalar(select(func.count()).select_from(t.VendorLink).where(t.VendorLink.status == "linked"))
                 + s.scalar(select(func.count()).select_from(t.InvoiceLink).where(t.InvoiceLink.bill_id != "")))
    if links:  # this store has synced before (an installation from before this check): it is the one
        record(config_dir, scope, "store already synced")
        return
    for found in bill.iter_bills():
        if isinstance(found, UnreadableRecord):
            continue
        match = OWN_BILL.search(found.description or "")
        if match:
            raise ConfigurationError(
                f"Another connector already syncs NAV company {nav_company} with BILL organization "
                f"{bill_organization}: BILL holds bill {found.invoice_number} ({found.amount:.2f}) made from NAV posted "
                f"invoice {match.group(1)}, which this installation's store does not know. Nothing was written: "
                "two stores would create duplicate vendors, bills and payment journal lines. "
                + (WINDOW_JOIN if window else CLI_JOIN), system="store", code="second-installation")
    record(config_dir, scope, "first sync: no other connector's bills in BILL")
