"""The connection test, one module per side (nav, bill; local: the database and the vault) on shared steps, run in
order by run.run_checks; Qt-free, may import app.domain, app.clients, app.store and app.setup, never app.engine."""

from app.check.local import store_step, vault_step
from app.check.run import exit_code, run_checks
from app.check.steps import BILL, FAIL, NAV, PASS, SKIPPED, WARN, CheckReport, CheckStep

__all__ = ["BILL", "FAIL", "NAV", "PASS", "SKIPPED", "WARN", "CheckReport", "CheckStep", "exit_code", "run_checks",
           "store_step", "vault_step"]
