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
