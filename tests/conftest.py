"""Fixtures shared by every test: an isolated app home, and both sandboxes on real loopback sockets."""

from __future__ import annotations

import os

# Qt must never try to open a real display in the default suite (tray tests start their own Xvfb).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402


@pytest.fixture
def navbill_home(tmp_path, monkeypatch):
    """An empty app home (data, logs, config) so no test touches the user's real folders."""
    home = tmp_path / "navbill-home"
    monkeypatch.setenv("NAVBILL_HOME", str(home))
    return home


@pytest.fixture
def sandboxes():
    """NAV and BILL sandboxes seeded with the demo company, on free loopback ports."""
    from app.sandbox.runner import running_sandboxes

    with running_sandboxes(seed="demo") as running:
        yield running


@pytest.fixture
def empty_sandboxes():
    from app.sandbox.runner import running_sandboxes

    with running_sandboxes(seed="empty") as running:
        yield running


@pytest.fixture(autouse=True)
def isolated_secret_registry():
    """The log redactor's registry is process-wide; a test that registers "wrong" as a password must not
    make the next test's messages read «redacted»."""
    from app import log

    with log._secrets_lock:
        before = set(log._secrets)
    yield
    with log._secrets_lock:
        log._secrets.clear()
        log._secrets.update(before)


@pytest.fixture
def no_keyring():
    """A machine without a secure keyring (a headless Linux box): the vault must fall back to a passphrase."""
    import keyring
    from keyring.backends import fail

    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(before)


# -- the store on SQLite (always) and PostgreSQL (when NAVBILL_TEST_POSTGRES_URL is set) -------------------
# A module marked ``pytest.mark.both_stores`` runs each test that uses ``store_url`` (or a fixture built on it)
# once per backend; elsewhere ``store_url`` is an SQLite file. See tests/postgres.py.


def pytest_generate_tests(metafunc):
    if metafunc.definition.get_closest_marker("both_stores") and "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def backend(request) -> str:
    return getattr(request, "param", "sqlite")


@pytest.fixture
def store_url(backend, tmp_path):
    if backend == "postgres":
        from tests.postgres import postgres_schema

        with postgres_schema() as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'navbill.sqlite3'}"
