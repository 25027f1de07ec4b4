"""`navbill store join --url URL [--password-stdin] [--create-tables]`: an administrator joins a team store without
a window, as the window's Settings → Team store… dialog does. `python main.py ...` in subprocesses, without
PGPASSWORD or a pgpass file, the password piped on standard input; the PostgreSQL tests run against the real
throwaway server (``NAVBILL_TEST_POSTGRES_URL``; skipped without it) as a login role that must give its password.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.store.migrations import LATEST_VERSION
from tests.store.test_team_password_cli import PASSPHRASE, PASSWORD, password_role

ROOT = Path(__file__).resolve().parents[2]


def _cli(home: Path, *args: str, stdin: str | None = None, env: dict | None = None,
         unset: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("PGPASSWORD", "PGPASSFILE", "NAVBILL_STORE_URL", *unset)}
    environment.update({"NAVBILL_HOME": str(home), "NAVBILL_VAULT_PASSPHRASE": PASSPHRASE,
                        "PGPASSFILE": str(home / "none"), "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
                        **(env or {})})
    for key in unset:
        environment.pop(key, None)
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=environment, input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL)


def _home(path: Path) -> Path:
    for folder in ("data", "logs", "config"):
        (path / folder).mkdir(parents=True)
    return path


def _everything(home: Path, *results: subprocess.CompletedProcess) -> bytes:
    """Every output of the commands and every byte under the home (logs, store.json, the SQLite file)."""
    texts = [(result.stdout + result.stderr).encode() for result in results]
    texts += [path.read_bytes() for path in sorted(home.rglob("*")) if path.is_file()]
    return b"\n".join(texts)


@pytest.fixture
def home(tmp_path):
    return _home(tmp_path / "home")


def test_store_join_saves_the_password_in_this_pcs_vault_for_the_headless_commands(home, tmp_path):
    from sqlalchemy.engine import make_url

    from tests.postgres import postgres_schema, server_url

    server_url()  # skips, with the reason, without a PostgreSQL server
    store_json = home / "config" / "store.json"
    with postgres_schema() as schema_url, password_role(schema_url) as (url, role, _admin):
        parsed = make_url(url)
        server = parsed.host or parsed.query["host"]  # a socket directory is the server's name to libpq
        typed = parsed.set(drivername="postgresql").render_as_string(hide_password=False)  # as copied from psql

        wrong = _cli(home, "store", "join", "--url", typed, "--password-stdin", stdin="Wrong-pw-7781!\n")
        assert wrong.returncode == 1, wrong.stdout + wrong.stderr
        assert f"The PostgreSQL server at {server}" in wrong.stderr, wrong.stderr
        assert f"refused the password for user {role}" in wrong.stderr and "Nothing was changed." in wrong.stderr
        assert "Traceback" not in wrong.stderr and not store_json.exists()

        none = _cli(home, "store", "join", "--url", typed)  # no password anywhere: libpq has none to give
        assert none.returncode == 1, none.stdout + none.stderr
        assert f"asks for user {role}'s password, which was not given: give it on standard input with " \
            "--password-stdin" in none.stderr, none.stderr
        assert not store_json.exists()

        # This PC's vault must open to keep the password: without its passphrase nothing is made or saved.
        locked_home = _home(tmp_path / "locked")
        locked = _cli(locked_home, "store", "join", "--url", typed, "--password-stdin", "--create-tables",
                      stdin=PASSWORD + "\n", unset=("NAVBILL_VAULT_PASSPHRASE",))
        assert locked.returncode == 2, locked.stdout + locked.stderr
        assert "this PC's own credentials vault" in locked.stderr and "NAVBILL_VAULT_PASSPHRASE" in locked.stderr
        assert not (locked_home / "config" / "store.json").exists()

        empty = _cli(home, "store", "join", "--url", typed, "--password-stdin", stdin=PASSWORD + "\n")
        assert empty.returncode == 1, empty.stdout + empty.stderr
        assert "holds no connector tables yet" in empty.stderr and "run this again with --create-tables" in empty.stderr
        assert not store_json.exists()

        joined = _cli(home, "store", "join", "--url", typed, "--password-stdin", "--create-tables",
                      stdin=PASSWORD + "\n")
        assert joined.returncode == 0, joined.stdout + joined.stderr
        assert f"This PC now uses the team store postgresql+psycopg://{role}@" in joined.stdout and f"schema {LATEST_VERSION}" in joined.stdout
        saved = json.loads(store_json.read_text(encoding="utf-8"))["url"]
        assert saved.startswith(f"postgresql+psycopg://{role}@") and make_url(saved).password is None

        # A headless command on the store now in use, with no PGPASSWORD and no pgpass file: the saved password.
        status = _cli(home, "store", "status")
        assert status.returncode == 0, status.stdout + status.stderr
        assert "PostgreSQL team store" in status.stdout and "(in use by this installation)" in status.stdout
        assert f"schema {LATEST_VERSION} of {LATEST_VERSION}" in status.stdout
        assert "NAVBILL_STORE_URL" not in joined.stderr

        # NAVBILL_STORE_URL set to another store would go on winning over store.json: the join says so.
        elsewhere = f"sqlite:///{tmp_path / 'elsewhere.sqlite3'}"
        overridden = _cli(home, "store", "join", "--url", typed, "--password-stdin", stdin=PASSWORD + "\n",
                          env={"NAVBILL_STORE_URL": elsewhere})
        assert overridden.returncode == 0, overridden.stdout + overridden.stderr
        assert f"NAVBILL_STORE_URL is set here ({elsewhere}) and comes before store.json" in overridden.stderr

        # Joining again needs this PC's vault passphrase, not another: said so, and store.json stays as it was.
        before = store_json.read_bytes()
        other_passphrase = _cli(home, "store", "join", "--url", typed, "--password-stdin", stdin=PASSWORD + "\n",
                                env={"NAVBILL_VAULT_PASSPHRASE": "not this pc's passphrase"})
        assert other_passphrase.returncode == 2, other_passphrase.stdout + other_passphrase.stderr
        assert "NAVBILL_VAULT_PASSPHRASE does not open it" in other_passphrase.stderr
        assert store_json.read_bytes() == before

        # The password is in no output, no log, no settings file and not in plain text in the SQLite file.
        written = _everything(home, wrong, none, empty, locked, joined, status, other_passphrase, overridden) + \
            _everything(locked_home)
        assert PASSWORD.encode() not in written and b"Wrong-pw-7781!" not in written
        assert b"Team store test of" in (home / "logs" / "navbill.log").read_bytes()


def test_a_password_in_the_address_or_as_an_argument_is_refused_and_never_shown(home):
    secret = "s3cret-Arg-pw"
    for typed in (f"postgres://navbill:{secret}@127.0.0.1:1/navbill",
                  f"postgresql+psycopg2://navbill:{secret}@db.example.com/navbill"):
        refused = _cli(home, "store", "join", "--url", typed)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "Leave the password out of the address and give it on standard input with --password-stdin" \
            in refused.stderr
    as_argument = _cli(home, "store", "join", "--url", "postgres://navbill@127.0.0.1:1/navbill", "--password", secret)
    assert as_argument.returncode == 2 and "never given as an argument" in as_argument.stderr, as_argument.stderr
    assert "--password-stdin" in as_argument.stderr
    other = _cli(home, "store", "join", "--url", "mysql://navbill@db.example.com/navbill")
    assert other.returncode == 2 and "A team store is a PostgreSQL database" in other.stderr, other.stderr
    no_password = _cli(home, "store", "join", "--url", "postgres://navbill@127.0.0.1:1/navbill", "--password-stdin",
                       stdin="")
    assert no_password.returncode == 2 and "No password came on standard input" in no_password.stderr
    assert secret.encode() not in _everything(home, refused, as_argument, other, no_password)
    assert not (home / "config" / "store.json").exists()


def test_a_server_that_cannot_be_reached_is_named_and_nothing_is_saved(home):
    joined = _cli(home, "store", "join", "--url", "postgresql://navbill@/navbill?host=/nonexistent-navbill-socket-dir",
                  "--password-stdin", stdin="Some-pw-3345!\n")
    assert joined.returncode == 1, joined.stdout + joined.stderr
    assert "The PostgreSQL server at /nonexistent-navbill-socket-dir could not be reached" in joined.stderr
    assert "Nothing was changed." in joined.stderr and "Traceback" not in joined.stderr
    assert not (home / "config" / "store.json").exists()
    assert b"Some-pw-3345!" not in _everything(home, joined)


def test_the_help_says_where_the_password_goes(home):
    shown = _cli(home, "store", "join", "--help")
    assert shown.returncode == 0
    assert "--password-stdin" in shown.stdout and "never as an argument" in shown.stdout
    assert "join" in _cli(home, "store", "--help").stdout


def test_a_refusal_after_create_home_names_the_new_home_instead_of_saying_nothing_changed(tmp_path):
    new_home = tmp_path / "new-home"
    joined = _cli(new_home, "store", "join", "--create-home", "--url",
                  "postgresql://navbill@/navbill?host=/nonexistent-navbill-socket-dir", "--password-stdin",
                  stdin="Some-pw-3345!\n")
    assert joined.returncode == 1, joined.stdout + joined.stderr
    assert f"Created a new NavBill home at {new_home}." in joined.stderr
    assert "could not be reached" in joined.stderr and "Nothing was changed." not in joined.stderr
    assert f"only the new, empty home folder {new_home} was made" in joined.stderr, joined.stderr
    assert not (new_home / "config" / "store.json").exists()
