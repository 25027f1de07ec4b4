"""`navbill profile ...` on a machine without a secure keyring, driven through main(); then the profile it made
runs `check` and `sync` against the sandboxes."""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest

from app.__main__ import main
from app.sandbox import demo_data

PASSPHRASE = "profile cli vault passphrase"
SECRET = "s3cret-value-not-to-print"


@pytest.fixture
def home(navbill_home, no_keyring, monkeypatch):
    navbill_home.mkdir(parents=True, exist_ok=True)  # an existing home (a missing one is refused: tests/cli)
    monkeypatch.delenv("NAVBILL_SECRET_VALUE", raising=False)
    monkeypatch.setenv("NAVBILL_VAULT_PASSPHRASE", PASSPHRASE)
    return navbill_home


def profile_cmd(home, *words):
    return main(["--home", str(home), "profile", *words])


def stored(home):
    from app.setup.config import app_paths
    from app.setup.profiles import ProfileStore
    from app.setup.vault import Vault

    paths = app_paths(home).ensure()
    vault = Vault.open_with_passphrase(paths.database_url, PASSPHRASE)
    return ProfileStore(paths, vault), vault


def put_secret(home, monkeypatch, name, key, value):
    monkeypatch.setenv("NAVBILL_SECRET_VALUE", value)
    try:
        return profile_cmd(home, "secret", name, key)
    finally:
        monkeypatch.delenv("NAVBILL_SECRET_VALUE")


def test_add_converts_settings_to_their_types(home):
    assert profile_cmd(home, "add", "Cronus", "nav.server=nav01", "nav.port=7049", "nav.use_https=yes",
                       "nav.use_windows_auth=off", "bill.environment=production", "environment=production") == 0
    profile = stored(home)[0].get("Cronus")
    assert profile.nav.server == "nav01" and profile.nav.port == 7049
    assert profile.nav.use_https is True and profile.nav.use_windows_auth is False
    assert profile.bill.environment == "production" and profile.environment == "production"
    assert profile.active  # the first profile becomes the active one
    assert profile_cmd(home, "set", "Cronus", "nav.port=7048", "nav.use_https=false") == 0
    profile = stored(home)[0].get("Cronus")
    assert profile.nav.port == 7048 and profile.nav.use_https is False and profile.nav.server == "nav01"


@pytest.mark.parametrize("pair", ["nav.port=seventy", "nav.port=70000", "nav.use_https=maybe", "nav.mode=cloud",
                                  "bill.environment=staging", "nav.server"])
def test_bad_values_are_bad_input_and_change_nothing(home, capsys, pair):
    assert profile_cmd(home, "add", "Cronus", "nav.server=nav01") == 0
    assert profile_cmd(home, "set", "Cronus", pair) == 2
    assert profile_cmd(home, "add", "Other", pair) == 2
    store = stored(home)[0]
    assert store.names() == ["Cronus"] and store.get("Cronus").nav.port == 7048
    assert store.get("Cronus").nav.server == "nav01"


def test_unknown_key_is_rejected_with_the_known_ones(home, capsys):
    assert profile_cmd(home, "add", "Cronus", "nav.sever=typo-value") == 2
    err = capsys.readouterr().err
    assert "nav.sever" in err and "typo-value" not in err
    for known in ("nav.server", "nav.port", "nav.use_windows_auth", "nav.company_id", "bill.username",
                  "bill.organization_id", "bill.environment", "environment"):
        assert known in err
    assert stored(home)[0].names() == []


def test_a_secret_is_never_taken_as_a_setting(home, capsys):
    assert profile_cmd(home, "add", "Cronus") == 0
    assert profile_cmd(home, "set", "Cronus", f"bill.password={SECRET}") == 2
    captured = capsys.readouterr()
    assert "profile secret" in captured.err and SECRET not in captured.out + captured.err
    store, vault = stored(home)
    assert store.saved_secret_keys("Cronus") == [] and SECRET not in store.path.read_text()


def test_secret_from_the_environment_lands_in_the_vault_and_show_says_only_set(home, monkeypatch, capsys):
    assert profile_cmd(home, "add", "Cronus", "bill.username=ap@example.com") == 0
    assert put_secret(home, monkeypatch, "Cronus", "bill.password", SECRET) == 0
    store, _vault = stored(home)
    assert store.secret("Cronus", "bill.password") == SECRET
    assert SECRET not in store.path.read_text()
    capsys.readouterr()
    assert profile_cmd(home, "show", "Cronus") == 0
    assert profile_cmd(home, "list") == 0
    out = capsys.readouterr().out
    assert SECRET not in out and PASSPHRASE not in out
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith("  ")}
    assert lines["bill.password"] == ["set"] and lines["bill.dev_key"] == ["not", "set"]
    assert lines["bill.username"] == ["ap@example.com"]
    assert out.count("Cronus  (active)") == 2


def test_secret_prompt_is_used_with_a_terminal(home, monkeypatch, capsys):
    assert profile_cmd(home, "add", "Cronus") == 0
    prompts = []
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": prompts.append(prompt) or SECRET)
    assert profile_cmd(home, "secret", "Cronus", "nav.web_service_key") == 0
    assert prompts == ["Value for nav.web_service_key: "]
    assert stored(home)[0].secret("Cronus", "nav.web_service_key") == SECRET
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err


def test_secret_without_a_terminal_is_refused(home, monkeypatch, capsys):
    assert profile_cmd(home, "add", "Cronus") == 0
    # What getpass does without a terminal: warn, then read stdin with echo on. The command must refuse instead.
    monkeypatch.setattr(getpass, "getpass", getpass.fallback_getpass)
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(SECRET + "\n"))
    assert profile_cmd(home, "secret", "Cronus", "bill.dev_key") == 2
    captured = capsys.readouterr()
    assert "NAVBILL_SECRET_VALUE" in captured.err and SECRET not in captured.out + captured.err
    assert stored(home)[0].saved_secret_keys("Cronus") == []


def test_secret_needs_a_known_key_and_the_right_vault_passphrase(home, monkeypatch, capsys):
    assert profile_cmd(home, "add", "Cronus") == 0
    assert put_secret(home, monkeypatch, "Cronus", "bill.pasword", SECRET) == 2
    assert "bill.dev_key" in capsys.readouterr().err
    assert put_secret(home, monkeypatch, "Cronus", "bill.password", SECRET) == 0  # creates the vault
    monkeypatch.setenv("NAVBILL_VAULT_PASSPHRASE", "not the passphrase")
    assert put_secret(home, monkeypatch, "Cronus", "bill.dev_key", SECRET) == 2
    captured = capsys.readouterr()
    assert "not the passphrase" not in captured.err and SECRET not in captured.out + captured.err
    assert stored(home)[0].saved_secret_keys("Cronus") == ["bill.password"]


def test_unknown_profiles_are_refused(home, monkeypatch, capsys):
    assert profile_cmd(home, "add", "Cronus") == 0
    assert profile_cmd(home, "add", "Cronus") == 2  # exists already
    for words in (("show", "Nope"), ("set", "Nope", "nav.server=x"), ("activate", "Nope"), ("delete", "Nope")):
        assert profile_cmd(home, *words) == 2
    assert put_secret(home, monkeypatch, "Nope", "bill.password", SECRET) == 2
    assert "no connection profile named 'Nope'" in capsys.readouterr().err
    store, vault = stored(home)
    assert store.names() == ["Cronus"] and vault.names() == []


def test_activate_and_delete_with_its_secrets(home, monkeypatch):
    assert profile_cmd(home, "add", "A") == 0
    assert profile_cmd(home, "add", "B") == 0
    assert put_secret(home, monkeypatch, "A", "bill.password", SECRET) == 0
    assert put_secret(home, monkeypatch, "B", "bill.password", SECRET + "-b") == 0
    assert stored(home)[0].active().name == "A"
    assert profile_cmd(home, "activate", "B") == 0
    assert stored(home)[0].active().name == "B"
    assert profile_cmd(home, "delete", "B") == 2  # no terminal to ask: --yes is required
    assert stored(home)[0].names() == ["A", "B"]
    assert profile_cmd(home, "delete", "B", "--yes") == 0
    store, vault = stored(home)
    assert store.names() == ["A"] and store.active().name == "A"
    assert vault.names() == ["profile/A/bill.password"]


def test_a_profile_made_on_the_command_line_checks_and_syncs(home, sandboxes, monkeypatch, capsys):
    nav = urlsplit(sandboxes.nav_url)
    bill = sandboxes.bill_url.rstrip("/")
    assert profile_cmd(home, "add", "Cronus", f"nav.server={nav.hostname}", f"nav.port={nav.port}",
                       f"nav.server_instance={demo_data.SERVER_INSTANCE}", f"nav.company={demo_data.COMPANY_NAME}",
                       f"nav.company_id={demo_data.COMPANY_ID}",
                       f"nav.user={demo_data.NAV_USER}", f"bill.username={demo_data.BILL_USERNAME}",
                       f"bill.organization_id={demo_data.BILL_ORGANIZATION_ID}",
                       f"bill.base_url={bill}/connect", f"bill.events_base_url={bill}/connect-events") == 0
    secrets = {"nav.web_service_key": demo_data.NAV_WEB_SERVICE_KEY, "bill.password": demo_data.BILL_PASSWORD,
               "bill.dev_key": demo_data.BILL_DEV_KEY}
    for key, value in secrets.items():
        assert put_secret(home, monkeypatch, "Cronus", key, value) == 0
    capsys.readouterr()

    assert main(["--home", str(home), "check", "--json"]) == 0
    check_out = capsys.readouterr()
    report = json.loads(check_out.out)
    assert report["ok"] and report["steps"]
    # The test's BILL requests count in the installation's hourly ledger, as a sync's do, and its last step says so.
    from app.clients.bill_budget import LEDGER_FILE
    from app.setup.config import app_paths

    ledger = app_paths(str(home)).data_dir / LEDGER_FILE
    counted = json.loads(ledger.read_text(encoding="utf-8"))[demo_data.BILL_ORGANIZATION_ID]["used"]
    budget_step = next(step for step in report["steps"] if step["side"] == "BILL" and step["key"] == "budget")
    assert counted >= 10 and budget_step["status"] == "pass"
    assert budget_step["detail"].startswith(f"BILL requests this hour: {counted:,} / 20,000. The connector stops at "
                                            "16,000 this hour"), budget_step

    # The engine's own settings (payment journal, balancing account) live in the store, not in the profile:
    # the `settings` command sets them without a window, as a server's administrator would.
    assert main(["--home", str(home), "settings", "journal_batch=BILL", "balancing_account_number=2910"]) == 0
    capsys.readouterr()
    assert main(["--home", str(home), "sync", "--json"]) == 1  # the demo company holds invoices on purpose
    sync_out = capsys.readouterr()
    run = json.loads(sync_out.out)
    assert run["status"] == "held" and run["run_status"] == "completed" and run["flows"]["vendors"]["created"] > 0
    assert any(item["kind"] == "invoice" and item["amount"] for item in run["waiting"])
    after_sync = json.loads(ledger.read_text(encoding="utf-8"))[demo_data.BILL_ORGANIZATION_ID]["used"]
    # The sync's requests were added to the test's (unless the clock hour turned in between: then its own alone).
    assert after_sync >= counted + 10 or (after_sync >= 10 and datetime.now(UTC).minute == 0), (counted, after_sync)

    assert profile_cmd(home, "show", "Cronus") == 0
    show_out = capsys.readouterr()
    everything = "".join(c.out + c.err for c in (check_out, sync_out, show_out))
    for value in (*secrets.values(), PASSPHRASE):
        assert value not in everything
