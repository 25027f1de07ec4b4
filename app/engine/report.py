"""What a run did, per flow, in numbers a person and a script can both read."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

FLOWS = ("accounts", "vendors", "invoices", "payments")


@dataclass
class FlowCounts:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    held: int = 0
    failed: int = 0
    conflicts: int = 0

    def add(self, outcome: str, n: int = 1) -> None:
        setattr(self, outcome, getattr(self, outcome) + n)


@dataclass
class RunReport:
    run_id: int | None = None
    dry_run: bool = False
    status: str = "completed"  # completed | failed | cancelled
    flows: dict[str, FlowCounts] = field(default_factory=dict)
    nav_calls: int = 0
    bill_calls: int = 0
    duration_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)  # side-level stops, in plain words
    notes: list[str] = field(default_factory=list)  # clean early stops (BILL's hourly budget), in plain words
    planned: list[str] = field(default_factory=list)  # dry run: what would have been written

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
            "notes": list(self.notes),
            **({"planned": list(self.planned)} if self.dry_run else {}),
        }
