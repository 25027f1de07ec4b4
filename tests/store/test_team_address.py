"""What a clerk types as the team store's address: the forms people copy from other tools are taken as the
PostgreSQL driver the connector bundles; anything else is refused with what to type."""

from __future__ import annotations

import pytest

from app.store import team_join


@pytest.mark.parametrize("typed", ["postgresql://navbill@db.example.com/navbill",
                                   "postgres://navbill@db.example.com/navbill",
                                   "postgresql+psycopg2://navbill@db.example.com/navbill",
                                   "  postgresql+psycopg://navbill@db.example.com:5432/navbill  "])
def test_the_usual_forms_of_a_postgresql_address_use_the_bundled_driver(typed):
    parsed = team_join.parse(typed)
    assert not isinstance(parsed, team_join.Probe), parsed
    assert parsed.drivername == "postgresql+psycopg"
    assert (parsed.host, parsed.database, parsed.username) == ("db.example.com", "navbill", "navbill")


@pytest.mark.parametrize(("typed", "said"), [
    ("", "Type the team store's address"),
    ("sqlite:///navbill.sqlite3", "A team store is a PostgreSQL database"),
    ("postgresql://navbill:secret@db.example.com/navbill", "Leave the password out of the address"),
    ("postgresql://navbill@db.example.com", "names no database"),
    ("db.example.com", "is not a database address"),
])
def test_an_address_that_cannot_be_a_team_store_says_what_to_type(typed, said):
    probe = team_join.parse(typed)
    assert isinstance(probe, team_join.Probe) and said in probe.message
    assert "secret" not in probe.message


def test_the_command_line_takes_the_same_forms(tmp_path):
    """``store status --url postgres://...`` reaches the server with the bundled driver (here: none listening), not
    "must be SQLite or PostgreSQL, not postgres"."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "main.py", "--home", str(tmp_path), "--create-home", "store", "status",
                           "--url", "postgres://navbill@127.0.0.1:9/navbill"], cwd=root, capture_output=True,
                          text=True, timeout=120)
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert "not postgres" not in said and "127.0.0.1" in said, said
