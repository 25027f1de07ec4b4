"""The headless commands on a team store joined in the window: they use the password this PC saved in its own
vault when it joined (as the window does), never show it, and say precisely what is wrong when the server refuses
it. `python main.py ...` in subprocesses, without PGPASSWORD, against the real throwaway PostgreSQL server
(``NAVBILL_TEST_POSTGRES_URL``; skipped without it), as a login role of its own that must give its password
(a `local ... scram-sha-256` line for that role alone at the top of the server's pg_hba.conf, removed afterwards).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Team-Store-pw-5521!"
PASSPHRASE = "headless team vault passphrase"


def _cli(home: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("PGPASSWORD", "PGPASSFILE", "NAVBILL_STORE_URL", "NAVBILL_SECRET_VALUE")}
    environment.update({"NAVBILL_HOME": str(home), "NAVBILL_VAULT_PASSPHRASE": PASSPHRASE,
                        "PGPASSFILE": str(home / "none"), "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
                        **(env or {})})
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=environment, stdin=subprocess.DEVNULL)


def _execute(admin, sql: str, **params):
    from sqlalchemy import text

    with admin.begin() as connection:
        result = connection.execute(text(sql), params)
        return result.scalar() if result.returns_rows else None


def _write_server_file(admin, path: str, content: str) -> None:
    oid = _execute(admin, "SELECT lo_from_bytea(0, convert_to(:content, 'UTF8'))", content=content)
    try:
        _execute(admin, "SELECT lo_export(:oid, :path)", oid=oid, path=path)
    finally:
        _execute(admin, "SELECT lo_unlink(:oid)", oid=oid)
    _execute(admin, "SELECT pg_reload_conf()")


def _refuses_without_password(url: str) -> bool:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect():
            return False
    except OperationalError:
        return True
    finally:
        engine.dispose()


@contextlib.contextmanager
def password_role(schema_url: str):
    """A login role that owns the test's schema and may log in only with ``PASSWORD``; yields its store URL."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    from tests.postgres import server_url

    role = f"navbill_pw_{uuid.uuid4().hex[:10]}"
    schema = make_url(schema_url).query["options"].split("search_path=")[1]
    admin = create_engine(server_url(), poolclass=NullPool)
    hba_file = _execute(admin, "SELECT setting FROM pg_settings WHERE name = 'hba_file'")
    original = _execute(admin, "SELECT pg_read_file(:path)", path=hba_file)
    _execute(admin, f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'")
    try:
        _execute(admin, f'ALTER SCHEMA "{schema}" OWNER TO {role}')
        _write_server_file(admin, hba_file, f"local all {role} scram-sha-256\n{original}")
        url = make_url(schema_url).set(username=role).render_as_string(hide_password=False)
        deadline = time.monotonic() + 10
        while not _refuses_without_password(url):  # the server reads pg_hba.conf again on its reload signal
            assert time.monotonic() < deadline, "the server did not start asking for the role's password"
            time.sleep(0.1)
        yield url, role, admin
    finally:
        _write_server_file(admin, hba_file, original)
        _execute(admin, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = :role",
                 role=role)
        _execute(admin, f'ALTER SCHEMA "{schema}" OWNER TO CURRENT_USER')
        _execute(admin, f"DROP OWNED BY {role} CASCADE")
        _execute(admin, f"DROP ROLE {role}")
        admin.dispose()


def _set_up_profile(home: Path, sandboxes) -> None:
    """A connection profile with its secrets in the team store's vault, made with the `profile` command."""
    from app.sandbox import demo_data

    nav, bill = urlsplit(sandboxes.nav_url), sandboxes.bill_url.rstrip("/")
    added = _cli(home, "profile", "add", "Team", f"nav.server={nav.hostname}", f"nav.port={nav.port}",
                 f"nav.server_instance={demo_data.SERVER_INSTANCE}", f"nav.company={demo_data.COMPANY_NAME}",
                 f"nav.user={demo_data.NAV_USER}", f"bill.username={demo_data.BILL_USERNAME}",
                 f"bill.organization_id={demo_data.BILL_ORGANIZATION_ID}", f"bill.base_url={bill}/connect",
                 f"bill.events_base_url={bill}/connect-events")
    assert added.returncode == 0, added.stderr
    for key, value in {"nav.web_service_key": demo_data.NAV_WEB_SERVICE_KEY, "bill.password": demo_data.BILL_PASSWORD,
                       "bill.dev_key": demo_data.BILL_DEV_KEY}.items():
        saved = _cli(home, "profile", "secret", "Team", key, env={"NAVBILL_SECRET_VALUE": value})
        assert saved.returncode == 0, saved.stderr


def _everything_written(home: Path, *results: subprocess.CompletedProcess) -> str:
    texts = [result.stdout + result.stderr for result in results]
    for folder in ("logs", "config"):
        for path in sorted((home / folder).rglob("*")):
            if path.is_file():
                texts.append(path.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(texts)


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    for folder in ("data", "logs", "config"):
        (home / folder).mkdir(parents=True)
    return home


def test_headless_commands_use_the_password_saved_when_joining(home, tmp_path):
    from tests.postgres import postgres_schema, server_url

    server_url()  # skips, with the reason, without a PostgreSQL server
    from app.sandbox.runner import running_sandboxes
    from app.setup.config import app_paths
    from app.setup.vault import Vault
    from app.store import team_join

    with postgres_schema() as schema_url, password_role(schema_url) as (url, role, admin):
        # Joined as the window's Team store… dialog does (its Qt-free half): tables made, the address in
        # store.json, the password in this PC's own (passphrase) vault.
        paths = app_paths(home)
        local_vault = Vault.open_with_passphrase(paths.database_url, PASSPHRASE)
        assert team_join.initialise(url, PASSWORD).ok
        team_join.join(paths, url, PASSWORD, local_vault)
        local_vault._engine.dispose()
        assert PASSWORD not in paths.store_config_file.read_text(encoding="utf-8")

        # Without the saved password the server refuses (so what follows shows the saved one is used).
        other = tmp_path / "other"
        (other / "config").mkdir(parents=True)
        (other / "config" / "store.json").write_text(paths.store_config_file.read_text(encoding="utf-8"))
        bare = _cli(other, "store", "status")
        assert bare.returncode == 1 and "no password supplied" in bare.stderr, bare.stderr

        status = _cli(home, "store", "status")
        assert status.returncode == 0, status.stderr
        assert "PostgreSQL team store" in status.stdout and "(in use by this installation)" in status.stdout
        assert f"{role}:***@" in status.stdout and "Leader: none" in status.stdout

        with running_sandboxes(seed="demo") as sandboxes:
            _set_up_profile(home, sandboxes)
            sync = _cli(home, "sync", "--profile", "Team", "--only", "accounts", "--json", "-v")
            assert sync.returncode in (0, 1) and '"run_status": "completed"' in sync.stdout, sync.stdout + sync.stderr
            check = _cli(home, "check", "--profile", "Team")
            assert "Store" in check.stdout and "could not be used" not in check.stderr, check.stdout + check.stderr
            assert "Database" in check.stdout and "team store on PostgreSQL" in check.stdout

            # The password is in no output, no log and no settings file (and the log did record the runs).
            written = _everything_written(home, status, sync, check)
            assert "BILL login ok" in (home / "logs" / "navbill.log").read_text(encoding="utf-8")
            assert PASSWORD not in written

            # This PC's vault does not open with the passphrase given: said so, with the other ways.
            locked = _cli(home, "store", "status", env={"NAVBILL_VAULT_PASSPHRASE": "not this pc's passphrase"})
            assert locked.returncode == 2, locked.stdout + locked.stderr
            assert "saved in this PC's own credentials vault" in locked.stderr
            assert "NAVBILL_VAULT_PASSPHRASE did not open it" in locked.stderr and "PGPASSWORD" in locked.stderr

            # The administrator changes the role's password: check and sync say precisely what is wrong.
            _execute(admin, f"ALTER ROLE {role} PASSWORD 'Changed-pw-0042!'")
            refused = _cli(home, "check", "--profile", "Team")
            assert refused.returncode == 2, refused.stdout + refused.stderr
            assert f"refused the password for user {role}: the one this PC saved when it joined the team store " \
                   f"postgresql+psycopg://{role}@/navbill_test" in refused.stderr, refused.stderr
            assert "Join again with the right password (in the window: Settings → Team store…)" in refused.stderr
            assert "Traceback" not in refused.stderr
            failed_sync = _cli(home, "sync", "--profile", "Team", "--json")
            assert failed_sync.returncode == 2 and f"refused the password for user {role}" in failed_sync.stdout
            failed_status = _cli(home, "store", "status")
            assert failed_status.returncode == 1 and "the one this PC saved" in failed_status.stderr

            # PGPASSWORD, when set for a command, wins over the saved password.
            given = _cli(home, "store", "status", env={"PGPASSWORD": "Changed-pw-0042!"})
            assert given.returncode == 0, given.stderr
            assert PASSWORD not in _everything_written(home, locked, refused, failed_sync, failed_status, given)
            assert "Changed-pw-0042!" not in _everything_written(home, refused, failed_sync, failed_status, given)


def test_a_team_store_that_cannot_be_reached_is_exit_code_3_with_the_server_named(home):
    (home / "config" / "store.json").write_text(
        '{"url": "postgresql+psycopg://navbill@/navbill?host=/nonexistent-navbill-socket-dir"}\n', encoding="utf-8")
    for args in (("check",), ("sync",)):
        result = _cli(home, *args)
        assert result.returncode == 3, result.stdout + result.stderr
        assert "The PostgreSQL server at /nonexistent-navbill-socket-dir could not be reached" in result.stderr
        assert "Traceback" not in result.stderr
