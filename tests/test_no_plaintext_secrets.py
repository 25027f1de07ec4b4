"""No secret in plain text anywhere: not in the app's data, log or config folders (database files
included, byte for byte), not in any log line, not in any error message.

The run: the connection test on the demo (which puts the demo credentials into the vault), a full
demo sync, and the headless service with webhooks for a few seconds (BILL webhook securityKeys, NAV
clientState), all in one app home, all in this process so the secrets handed out along the way can be
collected. Then every file under the home is scanned for every secret, raw and base64-encoded (a Basic
auth header is just base64 of "user:key").
"""

from __future__ import annotations

import base64
import logging
import re

import pytest

import app.log
from app.__main__ import main
from app.check import run_checks
from app.sandbox import demo_data

DEMO_SECRETS = {
    "NAV web-service key": demo_data.NAV_WEB_SERVICE_KEY,
    "NAV client secret": demo_data.NAV_CLIENT_SECRET,
    "NAV Windows password": demo_data.NAV_WINDOWS_PASSWORD,
    "BILL password": demo_data.BILL_PASSWORD,
    "BILL devKey": demo_data.BILL_DEV_KEY,
}
# The BILL sandbox's session ids ("!sbx" + 32 hex digits): any of them in a file is a leaked sessionId,
# even one the client forgot to register.
SANDBOX_SESSION_ID = re.compile(rb"!sbx[0-9a-f]{32}")


class RawRecords(logging.Handler):
    """Keeps every log message as the code wrote it, before any redaction."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(record.getMessage())
        except Exception:
            self.lines.append(str(record.msg))


def encodings(value: str) -> list[bytes]:
    raw = value.encode("utf-8")
    forms = [raw, base64.b64encode(raw), value.encode("utf-16-le")]
    if value == demo_data.NAV_WEB_SERVICE_KEY:
        forms.append(base64.b64encode(f"{demo_data.NAV_USER}:{value}".encode()))
    return forms


def scan_files(home, secrets: dict[str, str]) -> list[str]:
    leaks = []
    files = [p for p in home.rglob("*") if p.is_file()]
    assert files, "the run wrote no files at all"
    for path in files:
        data = path.read_bytes()
        for label, value in secrets.items():
            if any(form in data for form in encodings(value)):
                leaks.append(f"{label} in {path.relative_to(home)}")
        if SANDBOX_SESSION_ID.search(data):
            leaks.append(f"a BILL sessionId in {path.relative_to(home)}")
    return leaks


@pytest.fixture
def raw_log():
    handler = RawRecords()
    root = logging.getLogger()
    root.addHandler(handler)  # first in line, so it sees messages before any redacting filter
    old_level = root.level
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_no_secret_in_plain_text_after_demo_runs(tmp_path, capfd, raw_log, sandboxes):
    home = tmp_path / "home"
    registered_before = set(app.log._secrets)

    assert main(["--home", str(home), "-v", "check", "--demo", "--json"]) == 0
    # exit 1: the demo company holds some invoices on purpose (unmapped accounts); every flow ran
    assert main(["--home", str(home), "-v", "sync", "--demo", "--json"]) == 1, "the full demo sync failed"
    assert main(["--home", str(home), "serve", "--demo", "--run-for", "2"]) == 0

    # Wrong credentials: their values must not come back in error messages or reports either.
    wrong = {"wrong NAV key": "wrong-ws-key-123456", "wrong BILL password": "wrong-bill-pass-987",
             "wrong BILL devKey": "wrong-dev-key-555"}
    bad = run_checks(sandboxes.nav_connection(web_service_key=wrong["wrong NAV key"]),
                     sandboxes.bill_connection(password=wrong["wrong BILL password"]))
    bad_key = run_checks(None, sandboxes.bill_connection(dev_key=wrong["wrong BILL devKey"]))
    # Windows (NTLM) sign-in, right and wrong: the password goes through the handshake, never into text.
    wrong["wrong Windows password"] = "wrong-windows-pw-4242"
    sandboxes.nav.set_windows_auth(True)
    windows = dict(use_windows_auth=True, user=demo_data.NAV_WINDOWS_ACCOUNT, web_service_key="")
    good_windows = run_checks(sandboxes.nav_connection(windows_password=demo_data.NAV_WINDOWS_PASSWORD, **windows),
                              None)
    bad_windows = run_checks(sandboxes.nav_connection(windows_password=wrong["wrong Windows password"], **windows),
                             None)
    sandboxes.nav.set_windows_auth(False)
    assert good_windows.ok and bad_windows.failures()
    reports = "".join(r.to_json() + r.as_table() for r in (bad, bad_key, good_windows, bad_windows))
    assert bad.failures() and bad_key.failures()

    # Every secret seen on the way: the demo credentials plus what the clients and the vault registered
    # for masking (BILL sessionIds, webhook securityKeys, NAV clientState, tokens).
    seen = {f"registered secret #{i}": value
            for i, value in enumerate(sorted(set(app.log._secrets) - registered_before)) if len(value) >= 8}
    secrets = {**DEMO_SECRETS, **seen}
    assert any(value.startswith("!sbx") for value in seen.values()), "no BILL sessionId was seen"

    leaks = scan_files(home, secrets)
    out, err = capfd.readouterr()
    console = out + err
    for label, value in {**secrets, **wrong}.items():
        if value in console:
            leaks.append(f"{label} on the console")
        if value in reports:
            leaks.append(f"{label} in a connection-test report")
        if any(value in line for line in raw_log.lines):
            leaks.append(f"{label} in a log message as written by the code")
    if SANDBOX_SESSION_ID.search(console.encode()):
        leaks.append("a BILL sessionId on the console")
    assert not leaks, "secrets in plain text:\n" + "\n".join(sorted(set(leaks)))

    # The scan looked where it should: the vault database, the sync's database and the log exist.
    names = {p.name for p in home.rglob("*") if p.is_file()}
    assert "check-demo.sqlite3" in names and "navbill.log" in names  # the vault's database and the log
    assert any(n.endswith(".sqlite3") and n != "check-demo.sqlite3" for n in names)  # the sync's store
    assert len(raw_log.lines) > 20
