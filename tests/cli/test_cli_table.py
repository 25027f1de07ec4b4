"""The command line an administrator can trust (issue 13), case by case, through `python main.py ...`.

Every case runs the real command in a subprocess (cwd = the repository, NAVBILL_HOME in a temporary folder, no
keyring, no terminal) and checks the exit code and the message. No case may show a traceback unless it asked
for one with -v. The sandboxes start once for the module: one `sandbox --write-profile sb` in the background
(the profile the cases use), one plain `sandbox` whose printed `profile add` lines are run as a user would.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "cli-table vault passphrase"
TIMEOUT = 120


def environment(home: Path, **extra: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("NAVBILL_NEW_VAULT_PASSPHRASE", "NAVBILL_SECRET_VALUE", "NAVBILL_HOME")}
    env.update(NAVBILL_HOME=str(home), QT_QPA_PLATFORM="offscreen", NAVBILL_VAULT_PASSPHRASE=PASSPHRASE,
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring", PYTHONPATH=str(ROOT), COLUMNS="200")
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def both(self) -> str:
        return self.out + self.err

    def json(self) -> dict:
        return json.loads(self.out)  # one JSON object, and nothing else, on stdout


def cli(home: Path, *args: str, **env: str | None) -> Result:
    done = subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, env=environment(home, **env),
                          capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
                          start_new_session=True)  # no controlling terminal: getpass must not find /dev/tty
    result = Result(done.returncode, done.stdout, done.stderr)
    if "-v" not in args:
        assert "Traceback" not in result.both, f"a traceback reached the terminal:\n{result.both[-3000:]}"
    return result


class Sandbox:
    """`python main.py sandbox ...` in the background until the module is done."""

    def __init__(self, home: Path, *args: str) -> None:
        self.process = subprocess.Popen([sys.executable, "main.py", "sandbox", "--nav-port", "0", "--bill-port", "0",
                                         *args], cwd=ROOT, env=environment(home), stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
        self.lines: list[str] = []
        ready = threading.Event()

        def read() -> None:
            for line in self.process.stdout:
                self.lines.append(line.rstrip("\n"))
                if line.startswith("Ctrl+C to stop"):
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        assert ready.wait(60) and self.process.poll() is None, "\n".join(self.lines)
        self.text = "\n".join(self.lines)
        self.nav_url = re.search(r"NAV sandbox[^:]*: (http://[\d.]+:\d+)/", self.text).group(1)
        self.bill_url = re.search(r"BILL sandbox: (http://[\d.]+:\d+)/", self.text).group(1)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(30)


@pytest.fixture(scope="module")
def homes(tmp_path_factory):
    return tmp_path_factory.mktemp("cli-homes")


@pytest.fixture(scope="module")
def sandbox(homes):
    """The sandboxes, and a home with profile 'sb' (written by `sandbox --write-profile`) plus some broken ones."""
    home = homes / "ready"
    running = Sandbox(home, "--write-profile", "sb")
    try:
        assert "Profile 'sb' saved" in running.text
        assert cli(home, "settings", "balancing_account_number=2910").code == 0
        _broken_profiles(home, running)
        yield running, home
    finally:
        assert running.stop() == 0, "the sandbox did not stop cleanly on SIGTERM"


@pytest.fixture(scope="module")
def plain_sandbox(homes):
    running = Sandbox(homes / "unused")
    yield running
    running.stop()


def _broken_profiles(home: Path, running: Sandbox) -> None:
    """Profiles a user might get wrong, written the way `profile add` does (through the same Python API)."""
    from app.sandbox import demo_data
    from app.sandbox.runner import profile_secrets
    from app.setup.config import app_paths
    from app.setup.profiles import ProfileStore
    from app.setup.vault import Vault

    paths = app_paths(home)
    vault = Vault.open_with_passphrase(paths.database_url, PASSPHRASE)
    profiles = ProfileStore(paths, vault)
    good = profiles.get("sb")
    secrets = profile_secrets()
    from dataclasses import replace

    variants = {
        "wrongnav": replace(good, nav=replace(good.nav, base_url=running.bill_url)),  # NAV address → BILL's server
        "wrongbill": replace(good, bill=replace(good.bill, base_url=f"{running.nav_url}/connect")),
        "offline": replace(good, bill=replace(good.bill, base_url="http://127.0.0.1:1/connect")),
        "nocompany": replace(good, nav=replace(good.nav, company_id="")),
        "badpass": good,
    }
    for name, profile in variants.items():
        saved = dict(secrets)
        if name == "badpass":
            saved["bill.password"] = "BILL"  # a wrong password that is also a word of our own messages
        profiles.save(replace(profile, name=name, active=False), saved)
    assert profiles.active().name == "sb" and demo_data.COMPANY_ID == good.nav.company_id


# -- 1. one parser convention ----------------------------------------------------------------------------------


def test_global_options_before_or_after_the_command(homes):
    home = homes / "options"
    after = cli(homes / "elsewhere", "check", "--demo", "--home", str(home), "--json")
    before = cli(homes / "elsewhere", "--home", str(home), "--json", "check", "--demo")
    assert after.code == before.code == 0, after.both + before.both
    assert after.json()["status"] == before.json()["status"] == "done"
    verbose_after = cli(home, "settings", "-v", "--profile", "x", "--json")
    assert verbose_after.code == 0 and verbose_after.json()["settings"]["journal_batch"] == "BILL"


@pytest.mark.parametrize("args, words", [
    (["serve", "--json"], "--json is not available for `serve`"),
    (["vault", "status", "--demo"], "--demo is not available for `vault`"),
    (["sync", "--faults", "5xx=0.2"], "--faults goes with --demo"),
    (["sync", "--only", "bills"], "invalid choice: 'bills'"),
    (["sandbox", "--nav-port", "99999"], "99999 is not a port number"),
    (["sandbox", "--faults", "5xx=abc"], "'5xx=abc' needs a rate between 0 and 1"),
    (["sandbox", "--seed", "huge"], "use demo, empty or large:N"),
    (["serve", "--demo", "--listen", "host:port"], "is not host:port"),
    (["--nav-flavor", "bc", "settings"], "--nav-flavor goes with --demo"),
    (["nonsense"], "invalid choice: 'nonsense'"),
])
def test_usage_errors_say_what_to_change_with_exit_code_2(homes, args, words):
    result = cli(homes / "usage", *args)
    assert result.code == 2, result.both
    assert words in result.err and result.out == "", result.both
    assert "could not convert" not in result.err and "OverflowError" not in result.err


def test_usage_error_with_json_is_json_on_stdout(homes):
    result = cli(homes / "usage", "sync", "--json", "--only", "bills")
    assert result.code == 2 and result.json() == {"status": "configuration", "exit_code": 2,
                                                  "error": result.json()["error"]}
    assert "invalid choice: 'bills'" in result.json()["error"]


def test_help_lists_keys_types_and_allowed_values(homes):
    settings = cli(homes / "usage", "settings", "--help")
    assert settings.code == 0
    assert re.search(r"balancing_account_type\s+one of \"G/L Account\" \| \"Bank Account\"", settings.out)
    assert re.search(r"write_concurrency\s+whole number 1-3", settings.out) and "exit codes: 0" in settings.out
    profile = cli(homes / "usage", "profile", "add", "--help")
    assert re.search(r"nav\.port\s+port 1-65535", profile.out) and re.search(r"bill\.environment\s+sandbox \| "
                                                                           r"production", profile.out)
    assert "nav.company_id" in profile.out and "bill.password" in profile.out  # secrets named, never taken here
    for command in ("sync", "serve", "check", "sandbox", "vault", "profile", "settings"):
        text = cli(homes / "usage", command, "--help").out
        for line in text.splitlines():  # every option has a help text
            if line.startswith("  -") and "--help" not in line:
                assert len(line.split("  ")) > 2 or text.split(line, 1)[1].startswith("\n      "), (command, line)


@pytest.mark.parametrize("pair, words", [
    ("balancing_account_type=Foo", "balancing_account_type takes one of G/L Account, Bank Account, not 'Foo'"),
    ("write_concurrency=9", "write_concurrency takes a whole number from 1 to 3, not 9"),
    ("create_nav_vendors=perhaps", "create_nav_vendors takes yes or no"),
    ("journal_batch=FAR-TOO-LONG", "at most 10 characters"),
    ("bogus=1", "Unknown setting 'bogus'"),
])
def test_settings_values_are_validated(homes, pair, words):
    home = homes / "settings"
    assert cli(home, "settings", "journal_batch=OURS").code == 0  # creates the home: it sets something up
    result = cli(home, "settings", pair)
    assert result.code == 2 and words in result.err and "Nothing changed" in result.err, result.both
    assert cli(home, "settings", "--json").json()["settings"]["journal_batch"] == "OURS"


def test_a_bad_value_does_not_make_a_new_home(homes):
    home = homes / "not-made"
    result = cli(home, "settings", "balancing_account_type=Foo")
    assert result.code == 2 and "balancing_account_type takes one of" in result.err and not home.exists()
    result = cli(home, "profile", "add", "P", "nav.port=many")
    assert result.code == 2 and "nav.port takes a whole number" in result.err and not home.exists()


def test_settings_accept_allowed_values_in_any_case(homes):
    home = homes / "settings-ok"
    result = cli(home, "settings", "balancing_account_type=bank account", "--json")
    assert result.code == 0 and result.json()["settings"]["balancing_account_type"] == "Bank Account"


def test_profile_values_are_validated(homes):
    home = homes / "profile-values"
    for pair, words in (("nav.port=70000", "nav.port takes a port number"), ("nav.mode=cloud", "nav.mode takes one"),
                        ("nav.base_url=nav01:7048", "starts with http:// or https://"),
                        ("bill.password=hunter22", "is a secret and is never given on the command line")):
        result = cli(home, "profile", "add", "P", pair, "--create-home")
        assert result.code == 2 and words in result.err, result.both
        assert "hunter22" not in result.both


# -- 2. one error path -----------------------------------------------------------------------------------------


def test_a_mistyped_home_is_refused_not_created(homes):
    typo = homes / "tpyo"
    for args in (["sync"], ["check", "--json"], ["profile", "list"], ["vault", "status"], ["serve"], ["settings"]):
        result = cli(typo, *args)
        assert result.code == 2, (args, result.both)
        assert f"There is no NavBill home at {typo}" in result.both and "--create-home" in result.both
    assert not typo.exists()
    created = cli(typo, "profile", "list", "--create-home")
    assert created.code == 0 and "Created a new NavBill home" in created.err and typo.is_dir()


def test_a_home_that_cannot_be_used(homes):
    blocker = homes / "a-file"
    blocker.write_text("not a folder")
    result = cli(blocker, "profile", "list")
    assert result.code == 2 and "is a file, not a folder" in result.err
    inside = cli(blocker / "home", "sync", "--demo")
    assert inside.code == 2 and "cannot be created" in inside.err, inside.both
    as_json = cli(blocker / "home", "check", "--demo", "--json")
    assert as_json.code == 2 and as_json.json()["status"] == "configuration"


def test_no_profile_is_a_sentence_on_stderr_or_json_on_stdout(homes):
    home = homes / "no-profile"
    home.mkdir()
    text = cli(home, "sync")
    assert text.code == 2 and text.out == "" and "No connection profile is set up" in text.err
    assert "navbill profile add" in text.err
    for command in ("sync", "check"):
        result = cli(home, command, "--json")
        assert result.code == 2 and result.err == ""
        data = result.json()
        assert data["status"] == "configuration" and data["exit_code"] == 2
        assert "No connection profile" in data["error"]


def test_wrong_nav_address_is_a_message_not_a_traceback(sandbox):
    _running, home = sandbox
    result = cli(home, "sync", "--profile", "wrongnav")
    assert result.code == 2, result.both
    assert "the NAV address probably points at another service" in result.err
    assert "navbill profile set NAME nav.KEY=VALUE" in result.err
    assert "Sync could not finish" in result.out and "completed" not in result.out
    log = (home / "logs" / "navbill.log").read_text()
    assert "not found" in log.lower()  # the detail is kept for support
    assert "Traceback" not in result.both  # the engine stops the NAV side with the reason; nothing crashed
    check = cli(home, "check", "--profile", "wrongnav")
    assert check.code == 2 and "NAV answered unexpectedly" in check.out
    assert "the port may belong to another service" in check.err  # the first failure, and its fix, on stderr


def test_wrong_bill_address(sandbox):
    _running, home = sandbox
    result = cli(home, "sync", "--profile", "wrongbill", "--only", "accounts", "--json")
    assert result.code == 2, result.both
    data = result.json()
    assert data["status"] == "configuration" and data["run_status"] == "completed"
    assert "BILL refused the login (HTTP 404, no reason given)" in data["error"]
    check = cli(home, "check", "--profile", "wrongbill")
    assert check.code == 2
    assert "BILL refused the login: BILL refused the login" not in check.both
    assert "refused the login (HTTP 404, no reason given): check that the BILL address" in check.out


def test_bill_that_cannot_be_reached_exits_3(sandbox):
    _running, home = sandbox
    result = cli(home, "sync", "--profile", "offline", "--only", "accounts", "--json")
    assert result.code == 3, result.both
    data = result.json()
    assert data["status"] == "unreachable" and data["exit_code"] == 3
    assert "BILL could not be reached" in data["error"] and "127.0.0.1:1" in data["error"]
    check = cli(home, "check", "--profile", "offline", "--json")
    assert check.code == 3 and check.json()["status"] == "unreachable"
    assert "Nothing answers on port 1" in check.json()["error"]


def test_wrong_password_message_keeps_the_word_bill(sandbox):
    _running, home = sandbox
    result = cli(home, "check", "--profile", "badpass")
    assert result.code == 2, result.both
    assert "BILL refused the username or password" in result.out
    assert "«redacted» refused" not in result.both


def test_without_a_company_id_the_company_is_found_by_its_name_and_webhooks_still_work(sandbox):
    from app.sandbox import demo_data

    _running, home = sandbox
    result = cli(home, "check", "--profile", "nocompany", "--json")
    assert result.code == 0, result.both
    steps = {s["key"]: s for s in result.json()["steps"] if s["side"] == "NAV"}
    assert steps["webhooks"]["status"] == "pass"
    assert steps["backend"]["status"] == "pass" and demo_data.COMPANY_ID in steps["backend"]["detail"]
    assert "Put company id" in steps["backend"]["detail"]  # a hint that saves a look-up, not a failure
    good = cli(home, "check", "--profile", "sb", "--json")
    assert good.code == 0 and good.json()["status"] == "done", good.both


# -- vault passphrase from the variables the README names ------------------------------------------------------


def test_vault_passphrase_from_the_documented_variable(homes):
    home = homes / "vault"
    first = cli(home, "vault", "set-passphrase")  # NAVBILL_VAULT_PASSPHRASE, as the README says
    assert first.code == 0 and "passphrase is set" in first.out, first.both
    status = cli(home, "vault", "status", "--json")
    assert status.code == 0 and status.json()["unlocked"] is True and status.json()["mode"] == "passphrase"
    again = cli(home, "vault", "set-passphrase")
    assert again.code == 2 and "vault change-passphrase" in again.err
    assert cli(home, "profile", "add", "P", "nav.server=nav01").code == 0
    locked = cli(home, "sync", NAVBILL_VAULT_PASSPHRASE=None)
    assert locked.code == 2 and "NAVBILL_VAULT_PASSPHRASE" in locked.err, locked.both
    wrong = cli(home, "sync", NAVBILL_VAULT_PASSPHRASE="not it")
    assert wrong.code == 2 and "passphrase does not open" in wrong.err and "not it" not in wrong.both
    check = cli(home, "check", NAVBILL_VAULT_PASSPHRASE=None)
    assert check.code == 2 and "NAVBILL_VAULT_PASSPHRASE" in check.out
    no_terminal = cli(homes / "vault-new", "vault", "set-passphrase", "--create-home", NAVBILL_VAULT_PASSPHRASE=None)
    assert no_terminal.code == 2 and "NAVBILL_VAULT_PASSPHRASE" in no_terminal.err


def test_profile_delete_asks_first(sandbox):
    _running, home = sandbox
    refused = cli(home, "profile", "delete", "badpass")
    assert refused.code == 2 and "add --yes to confirm" in refused.err
    assert "badpass" in cli(home, "profile", "list").out
    deleted = cli(home, "profile", "delete", "badpass", "--yes", "--json")
    assert deleted.code == 0 and deleted.json()["status"] == "done"
    assert "badpass" not in cli(home, "profile", "list").out
    unknown = cli(home, "profile", "show", "badpass")
    assert unknown.code == 2 and "no connection profile named 'badpass'" in unknown.err and unknown.out == ""


# -- 3. status matches the exit code; JSON on stdout -----------------------------------------------------------


def test_a_run_with_nothing_waiting_is_done_exit_0(sandbox):
    _running, home = sandbox
    result = cli(home, "sync", "--profile", "sb", "--only", "accounts", "--json")
    assert result.code == 0, result.both
    data = result.json()
    assert data["status"] == "done" and data["exit_code"] == 0 and data["waiting"] == []
    assert data["counts"]["accounts"]["read"] > 0


def test_demo_sync_holds_invoices_and_says_so(homes):
    home = homes / "demo"
    text = cli(home, "sync", "--demo")
    assert text.code == 1, text.both
    assert "but 17 held: see below" in text.out and "completed" not in text.out.lower()
    assert re.search(r"accounts\s+read \d+, mappings suggested \d+", text.out)
    assert "accounts  created" not in text.out and "updated 34" not in text.out
    held = [line for line in text.out.splitlines() if line.startswith("  - [held] invoice")]
    assert len(held) == 16
    # The demo runs on Business Central's API, which names the company's currency (its LCY Code).
    assert "invoice 108007 (vendor's No. INV-00040-01), Great Lakes Aluminum (V00040), 1,153.50 USD: vendor " \
           "V00040 is not linked to BILL" in text.out
    assert all(re.search(r", [\d,]+\.\d\d USD: ", line) for line in held)
    assert "Held" not in text.err and "WARNING" not in text.err  # the reasons are in the report, not log lines
    as_json = cli(home, "sync", "--demo", "--json")
    data = as_json.json()
    assert as_json.code == 1 and data["status"] == "held" and data["exit_code"] == 1
    invoice = next(w for w in data["waiting"] if w["record"] == "108007")
    assert invoice["amount"] == "1,153.50 USD" and invoice["vendor"] == "Great Lakes Aluminum (V00040)"


def test_still_held_invoices_are_not_shown_as_held_0(sandbox):
    _running, home = sandbox
    first = cli(home, "sync", "--profile", "sb")
    assert first.code == 1 and "17 held" in first.out
    second = cli(home, "sync", "--profile", "sb")
    assert second.code == 1, second.both
    assert re.search(r"invoices .*held 0, failed 0, still held from earlier runs 16", second.out), second.out
    assert "Waiting for you (17" in second.out


def test_dry_run_lists_everything_or_says_how_many_more(homes):
    home = homes / "dry"
    short = cli(home, "sync", "--demo", "--dry-run", "--limit", "5")
    assert short.code == 1
    assert re.search(r"\.\.\. and \d+ more planned changes: run again with --limit 0", short.out)
    full = cli(home, "sync", "--demo", "--dry-run", "--limit", "0")
    planned = [line for line in full.out.split("Would write (", 1)[1].splitlines()[1:] if line.startswith("  - ")]
    total = int(re.search(r"Would write \((\d+)\)", full.out).group(1))
    assert len(planned) == total > 50 and "more planned changes" not in full.out
    assert "dry-run-vendor" not in full.out
    assert "BILL: create bill INV-00020-01 (NAV invoice 108003) for Midwest Fasteners Inc. (new), 1,130.00 USD" \
        in full.out
    assert not re.search(r"\d\.\d\b(?!\d)", "\n".join(line for line in planned if "create bill" in line))
    data = cli(home, "sync", "--demo", "--dry-run", "--json").json()
    assert len(data["planned"]) == total and data["dry_run"] and len(data["held_in_dry_run"]) == 16


# -- 4. sandbox gives a profile everything it needs ------------------------------------------------------------


def test_the_sandbox_prints_a_profile_that_works(plain_sandbox, homes):
    lines = [line.strip() for line in plain_sandbox.lines if line.strip().startswith(("python main.py profile",
                                                                                       "NAVBILL_SECRET_VALUE="))]
    add = next(line for line in lines if " profile add " in line)
    for key in ("nav.base_url=", "nav.server_instance=", "nav.company=", "nav.company_id=", "nav.user=",
                "bill.base_url=", "bill.username=", "bill.organization_id=", "bill.environment="):
        assert key in add, key
    assert len([line for line in lines if " profile secret " in line]) == 3
    home = homes / "from-printed-lines"
    for line in lines:
        words = shlex.split(line)
        env = {}
        while "=" in words[0]:
            key, _, value = words.pop(0).partition("=")
            env[key] = value
        assert words[:2] == ["python", "main.py"]
        result = cli(home, *words[2:], **env)
        assert result.code == 0, (line, result.both)
    check = cli(home, "check", "--profile", "sandbox", "--json")
    assert check.code == 0 and check.json()["status"] == "done", check.out
    log = (home / "logs" / "navbill.log").read_text()
    assert "demo-bill-password" not in log and "demo-dev-key-0000" not in log


def test_sandbox_says_which_nav_it_plays(homes):
    running = Sandbox(homes / "unused", "--nav-flavor", "classic", "--seed", "empty")
    try:
        assert "NAV sandbox (NAV 2016-2018 (published OData pages only))" in running.text
    finally:
        assert running.stop() == 0


def test_sandbox_port_in_use_is_a_message(plain_sandbox, homes):
    port = plain_sandbox.nav_url.rsplit(":", 1)[1]
    result = cli(homes / "unused", "sandbox", "--nav-port", port, "--bill-port", "0")
    assert result.code == 2 and f"is port {port} or 0 already in use?" in result.err, result.both


# -- 5. serve logs what changed, in local time with the zone ---------------------------------------------------


def test_serve_prints_changes_not_its_own_echoes(homes):
    result = cli(homes / "serve", "serve", "--demo", "--run-for", "3")
    assert result.code == 0, result.both
    assert "targeted:" not in result.out  # the webhooks about its own writes changed nothing
    zone = time.strftime("%Z")
    assert re.search(rf"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d {re.escape(zone)}  run: all flows \(startup\): .*bills "
                     r"created 44, held 16", result.out), result.out
    assert re.search(rf"next scheduled sync: \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d {re.escape(zone)}", result.out)
    assert "+00:00" not in result.out and ".50208" not in result.out
    assert "Stopped. Runs: 1" in result.out


# -- 6. an unexpected error: a sentence, the traceback only with -v and always in the log ------------------------


def test_an_unexpected_error_shows_its_traceback_only_with_v(homes):
    from app.store import open_store

    home = homes / "damaged-settings"
    store = open_store(home=home)
    store.set_setting("engine", {"write_concurrency": "three"})  # written by hand, past the settings command
    store.close()
    plain = cli(home, "settings")
    assert plain.code == 2, plain.both
    assert "Unexpected error (ValueError" in plain.err and "Run the command again with -v" in plain.err
    assert str(home / "logs" / "navbill.log") in plain.err
    assert "Traceback" in (home / "logs" / "navbill.log").read_text()
    verbose = cli(home, "settings", "-v")
    assert verbose.code == 2 and "Traceback (most recent call last)" in verbose.err


def test_exit_code_and_status_agree_on_a_run_with_faults(homes):
    # dropped connections on BILL: some writes fail (retried by the next run), the run still finishes
    result = cli(homes / "faults", "sync", "--demo", "--json", "--faults", "bill.drop=0.2,seed=3")
    data = result.json()
    expected = {"done": 0, "held": 1, "failed": 1, "configuration": 2, "unreachable": 3}
    assert result.code == data["exit_code"] == expected[data["status"]], data
    failed = sum(flow["failed"] for flow in data["flows"].values())
    if failed:  # a run with failed records is never "done" (it used to exit 0)
        assert result.code != 0 and data["status"] in ("failed", "unreachable")
        assert any(item["state"] == "failed" and item["reason"] for item in data["waiting"])


def test_check_runs_quick_check_on_the_database_and_names_the_restore_command(sandbox):
    _running, home = sandbox
    result = cli(home, "check", "--profile", "sb", "--json")
    step = next(s for s in result.json()["steps"] if s["key"] == "store")
    assert step["status"] == "pass" and "PRAGMA quick_check ok" in step["detail"]
