"""What a run did, per flow, in numbers a person and a script can both read."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal

FLOWS = ("accounts", "vendors", "invoices", "payments")


@dataclass
class FlowCounts:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    held: int = 0
    failed: int = 0
    conflicts: int = 0
    waiting: int = 0  # payments: journal lines written, waiting for the accountant to post the batch

    def add(self, outcome: str, n: int = 1) -> None:
        setattr(self, outcome, getattr(self, outcome) + n)


@dataclass(frozen=True)
class PlannedWrite:
    """One write a dry run would make, as data: the run's plan sentence (``text``) and the window's preview in
    words (app/ui/plan_words.py) are both made from it, so neither reads the other."""

    system: str  # NAV | BILL ("" for a sentence that names no system)
    kind: str  # create_vendor | update_vendor | archive_vendor | restore_vendor | create_bill | create_vendor_credit
    #            | post_payment | other
    record: str = ""  # vendor: NAV number or BILL id (dry-run-vendor-N when new); bill: invoice; vendor credit: NAV
    #                  credit memo; payment: BILL id
    name: str = ""  # the vendor's name where the write knows it (bill: the BILL vendor's name, "" if unknown)
    amount: Decimal | None = None  # bill, vendor credit, payment
    currency: str = ""  # "" = the local currency (neither BILL's bill nor NAV's journal line names one)
    vendor: str = ""  # bill, vendor credit: the BILL vendor id; payment: the NAV vendor number
    invoice: str = ""  # payment: the NAV posted invoice it is applied to
    source: str = ""  # bill: where it comes from, in words ("NAV invoice 108001")
    note: str = ""  # kind other: the sentence after "SYSTEM: "

    @classmethod
    def said(cls, sentence: str) -> PlannedWrite:
        """A write planned as a finished sentence ("BILL: create vendor credit ..."): kind other."""
        system, _, rest = sentence.partition(": ")
        return cls(system if rest else "", "other", note=rest or sentence)

    @property
    def vendor_label(self) -> str:
        """A bill's vendor in the sentence: "Name (id)", "Name (new)" for one the run would create, or the id."""
        if self.vendor.startswith("dry-run-"):
            return f"{self.name} (new)" if self.name else "a new vendor"
        return f"{self.name} ({self.vendor})" if self.name else self.vendor

    @property
    def text(self) -> str:
        """The plan's sentence (``RunReport.planned``, the command line's "Would write")."""
        what = {
            "create_vendor": (f"create vendor {self.record} {self.name}" if self.system == "NAV"
                              else f"create vendor {self.name}"),
            "update_vendor": (f"update vendor {self.record}" if self.system == "NAV"
                              else f"update vendor {self.record} ({self.name})"),
            "archive_vendor": f"archive vendor {self.record}",
            "restore_vendor": f"restore vendor {self.record}",
            "create_bill": (f"create bill {self.record}{f' ({self.source})' if self.source else ''} for "
                            f"{self.vendor_label}, {money(self.amount, self.currency)}"),
            "create_vendor_credit": (f"create vendor credit {self.record} (NAV credit memo) for {self.vendor_label}, "
                                     f"{money(self.amount, self.currency)}"),
            "post_payment": (f"post payment {money(self.amount, self.currency)} to vendor {self.vendor} applied "
                             f"to invoice {self.invoice} (BILL payment {self.record})"),
        }.get(self.kind, self.note)
        return f"{self.system}: {what}" if self.system else what


@dataclass
class RunReport:
    run_id: int | None = None
    dry_run: bool = False
    status: str = "completed"  # completed | failed | cancelled | busy (another run held the lock: nothing done)
    flows: dict[str, FlowCounts] = field(default_factory=dict)
    nav_calls: int = 0
    bill_calls: int = 0
    duration_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)  # side-level stops, in plain words
    notes: list[str] = field(default_factory=list)  # clean early stops (BILL's hourly budget), in plain words
    plan: list[PlannedWrite] = field(default_factory=list)  # dry run: what would have been written
    warnings: list[str] = field(default_factory=list)  # said, but the run still counts as completed
    trigger: str = ""  # a targeted run: what it synced, by number ("webhook: NAV vendor V00070")

    @property
    def planned(self) -> list[str]:
        """The plan in sentences, one per write ("BILL: create bill 108001 (NAV invoice 108001) for ...")."""
        return [write.text for write in self.plan]

    @property
    def busy(self) -> bool:
        """Another sync held the company's lock, so this one did nothing (``errors[0]`` says who)."""
        return self.status == "busy"

    def counts(self, flow: str) -> FlowCounts:
        return self.flows.setdefault(flow, FlowCounts())

    @property
    def completed(self) -> bool:
        return self.status == "completed" and not self.errors

    def as_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "dry_run": self.dry_run,
            "flows": {name: asdict(counts) for name, counts in self.flows.items()},
            "http_calls": {"nav": self.nav_calls, "bill": self.bill_calls},
            "duration_seconds": round(self.duration_seconds, 3),
            "errors": list(self.errors),
            **({"warnings": list(self.warnings)} if self.warnings else {}),
            "notes": list(self.notes),
            **({"planned": list(self.planned)} if self.dry_run else {}),
        }


# -- for people: names for what happened, amounts with two decimals -------------------------------------------

# What each count means per flow, in the words the command line prints (accounts are read, not updated: the
# engine counts every account it read as "updated", and the mapping suggestions it made as "created").
COUNT_WORDS = {
    "accounts": (("updated", "read"), ("created", "mappings suggested"), ("held", "held"), ("failed", "failed")),
    "vendors": (("created", "created"), ("updated", "updated"), ("skipped", "skipped"), ("held", "held"),
                ("failed", "failed"), ("conflicts", "conflicts")),
    "invoices": (("created", "bills created"), ("updated", "updated"), ("skipped", "skipped"), ("held", "held"),
                 ("failed", "failed")),
    "payments": (("created", "posted to NAV"), ("waiting", "waiting in NAV's journal for the accountant"),
                 ("updated", "confirmed posted"), ("skipped", "skipped"), ("held", "held"), ("failed", "failed")),
}


def named_counts(flow: str, counts: FlowCounts) -> dict[str, int]:
    """``{"read": 53, "mappings suggested": 19, ...}``: the counts of one flow under the names people read."""
    words = COUNT_WORDS.get(flow) or tuple((name, name) for name in asdict(counts))
    return {word: getattr(counts, name) for name, word in words}


def money(amount, currency: str = "") -> str:
    """``1130.5`` → ``"1,130.50 USD"``. A blank currency is the organization's (a BILL payment) or the company's
    where NAV names none: US dollars, the only currency the connector sends (others are held)."""
    from decimal import Decimal, InvalidOperation

    from app.domain.models import LOCAL_CURRENCY

    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return f"{amount} {currency or LOCAL_CURRENCY}"
    return f"{value:,.2f} {currency or LOCAL_CURRENCY}"
