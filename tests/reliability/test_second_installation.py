"""A second installation with a store of its own, against the same NAV company and BILL organization, is
refused before it writes; `store confirm-alone` lets it go on (it then links what is already in BILL).

Both installations are real homes made with the `profile` and `settings` commands, and every sync or serve
is `python main.py ...` in a subprocess, checked by exit code and message (tests/reliability/test_race.py
sets a home up the same way).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from app.sandbox.runner import running_sandboxes
from tests.reliability.state import duplicates, sandbox_state
from tests.reliability.test_race import _set_up_home, vault_env  # noqa: F401 - the fixture is used by name

ROOT = Path(__file__).resolve().parents[2]


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "main.py", "--home", str(home), *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_a_second_sqlite_installation_refuses_to_write_until_confirmed(tmp_path, vault_env, monkeypatch):  # noqa: F811
    first, second = tmp_path / "first-pc", tmp_path / "second-pc"
    with running_sandboxes(seed="demo") as sandboxes:
        try:
            _set_up_home(first, sandboxes, monkeypatch)
            _set_up_home(second, sandboxes, monkeypatch)
            run = _cli(first, "sync", "--json")
            assert run.returncode in (0, 1) and json.loads(run.stdout)["run_status"] == "completed", run.stderr
            again = _cli(first, "sync", "--json")  # the first installation is never asked again
            assert again.returncode in (0, 1) and json.loads(again.stdout)["run_status"] == "completed"
            before = sandbox_state(sandboxes)

            refused = _cli(second, "sync")
            assert refused.returncode == 2, refused.stdout + refused.stderr
            assert "Another connector already syncs NAV company CRONUS Fabrication" in refused.stderr
            assert "made from NAV posted invoice " in refused.stderr and "store confirm-alone" in refused.stderr
            assert "store init --url" in refused.stderr
            serve = _cli(second, "serve", "--listen", "127.0.0.1:0", "--run-for", "30")
            assert serve.returncode == 2 and "Another connector already syncs" in serve.stderr
            assert "Listening on" not in serve.stdout
            dry = _cli(second, "sync", "--dry-run", "--json")  # looking is allowed; it writes nothing either
            assert json.loads(dry.stdout)["run_status"] == "completed", dry.stderr
            assert sandbox_state(sandboxes) == before  # nothing was written by the second installation

            confirmed = _cli(second, "store", "confirm-alone")
            assert confirmed.returncode == 0 and "only connector" in confirmed.stdout
            allowed = _cli(second, "sync", "--json")
            assert allowed.returncode in (0, 1), allowed.stderr
            assert json.loads(allowed.stdout)["run_status"] == "completed"
            assert not duplicates(sandboxes)  # it linked what the first made instead of making it again
        finally:
            sandboxes.nav.stop()
