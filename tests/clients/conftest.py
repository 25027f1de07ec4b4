"""The NAV sandbox the NAV client tests talk to over a real socket: ``nav`` (the sandbox, to seed and inspect)
and ``nav_server`` (it listening on loopback). Business Central by default; a module that covers both flavours
overrides ``flavor`` with a parametrized fixture of its own (tests/clients/test_nav_client.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.sandbox.base import SandboxClock, SandboxServer
from app.sandbox.nav import NavSandbox


@pytest.fixture
def flavor() -> str:
    return "bc"


@pytest.fixture
def nav(flavor) -> Iterator[NavSandbox]:
    app = NavSandbox("demo", clock=SandboxClock(), flavor=flavor)
    yield app
    app.stop()


@pytest.fixture
def nav_server(nav) -> Iterator[SandboxServer]:
    with SandboxServer(nav) as server:
        yield server
