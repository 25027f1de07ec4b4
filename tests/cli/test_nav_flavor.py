"""`--nav-flavor bc|classic` reaches the sandboxes of every command that starts them (in-process: the keyword is
what matters here; the sandboxes' two NAV flavors are tested with the NAV sandbox)."""

from __future__ import annotations

import pytest

from app.__main__ import main


@pytest.fixture
def started(monkeypatch):
    """Record the nav_flavor each start of the sandboxes was given (the real sandboxes still start)."""
    import app.sandbox.runner as runner

    seen: list[str | None] = []
    real = runner.start_sandboxes

    def start(*args, nav_flavor=None, **kwargs):
        seen.append(nav_flavor)
        return real(*args, nav_flavor=nav_flavor, **kwargs)

    monkeypatch.setattr(runner, "start_sandboxes", start)
    return seen


@pytest.mark.parametrize("words", [
    ["sync", "--demo", "--only", "accounts", "--nav-flavor", "classic"],
    ["--nav-flavor", "classic", "check", "--demo", "--json"],
    ["serve", "--demo", "--run-for", "0.5", "--nav-flavor", "classic"],
])
def test_demo_commands_pass_the_flavor_on(words, started, navbill_home, capsys):
    assert main(words) in (0, 1)
    assert started == ["classic"], capsys.readouterr()


def test_an_unknown_flavor_is_refused(navbill_home, capsys):
    assert main(["sync", "--demo", "--nav-flavor", "nav2009"]) == 2
    assert "invalid choice: 'nav2009' (choose from 'bc', 'classic')" in capsys.readouterr().err


def test_start_sandboxes_accepts_the_keyword_either_way():
    from app.sandbox.runner import running_sandboxes

    for flavor in ("bc", "classic", None):
        with running_sandboxes(seed="empty", nav_flavor=flavor) as running:
            assert running.nav_url.startswith("http://127.0.0.1:")
