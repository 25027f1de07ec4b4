"""Build the Linux bundle, smoke-test the frozen executables, and pack a tarball.

    .venv/bin/python installer/build_linux.py               build + verify + smoke test + package
    .venv/bin/python installer/build_linux.py --skip-build  smoke-test the bundle already in dist/
    .venv/bin/python installer/build_linux.py --no-gui      leave out the offscreen window start
    python installer/build_linux.py --skip-build --no-package   on Windows: steps 2-3 on dist/NavBill/*.exe

Steps (after qutebrowser's scripts/dev/build_release.py: build, verify, smoke-test, then package):

1. PyInstaller with installer/navbill.spec -> dist/NavBill/ (NavBill + navbill-cli sharing _internal/).
2. Verify the folder: both executables, the bundled resources, none of the Qt modules the spec excludes.
3. Smoke test, headless, each command in a fresh temporary --home so nothing touches the user's data:
   ``navbill-cli check --demo`` must succeed and its ``--json`` form report every step passed or skipped
   on both sides; ``navbill-cli sync --demo --json`` must print a run report
   with sane figures (completed, no errors, nothing failed, work done on both sides); ``serve --demo``
   must run its scheduler for a few seconds and report at least one run; the window
   (``NavBill --demo``) must stay up for a few seconds on Qt's offscreen platform.
4. Copy the desktop entries, icon and install.sh into the bundle and pack
   dist/navbill-<version>-linux-<arch>.tar.gz.

Exits non-zero, naming the failed step, on any failure. Not run by pytest (a build takes minutes);
tests/installer/test_installer_files.py covers the files themselves.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "installer" / "navbill.spec"
LINUX_FILES = ROOT / "installer" / "linux"
ICON_PNG = ROOT / "installer" / "icons" / "navbill.png"
BUNDLE_NAME = "NavBill"
GUI_EXE = "NavBill"
CLI_EXE = "navbill-cli"
# The same smoke test checks the Windows bundle in .github/workflows/release.yml (--skip-build --no-package).
EXE_SUFFIX = ".exe" if sys.platform == "win32" else ""
FLOWS = ("accounts", "vendors", "invoices", "payments")
COMMAND_TIMEOUT = 240  # seconds; a demo sync on the embedded sandboxes takes a few
GUI_SECONDS = 6.0
SERVE_SECONDS = 4.0
GUI_FAILURE_MARKERS = ("Traceback", "ImportError", "ModuleNotFoundError", " CRITICAL ", " ERROR ")
# Libraries the spec keeps out; finding one means an exclude stopped working and the bundle grew.
MUST_NOT_SHIP = ("QtWebEngine", "Qt6WebEngine", "Qt63D", "Qt6Multimedia", "Qt6Quick", "Qt6Qml", "Qt6Pdf")


class SmokeTestFailure(Exception):
    """One step of the build or smoke test went wrong; the message says which and why."""


def project_version() -> str:
    """app.__version__, read without importing the app (installer/metadata.py)."""
    sys.path.insert(0, str(ROOT / "installer"))
    try:
        from metadata import app_metadata
    finally:
        sys.path.pop(0)
    return app_metadata()["__version__"]


def step(title: str) -> None:
    print(f"\n==> {title}", flush=True)


# -- build ----------------------------------------------------------------------------------------


def build(dist: Path, work: Path) -> Path:
    step("PyInstaller")
    command = [
        sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean",
        "--distpath", str(dist), "--workpath", str(work), str(SPEC),
    ]
    print(" ".join(command), flush=True)
    if subprocess.run(command, cwd=ROOT).returncode != 0:
        raise SmokeTestFailure("PyInstaller failed (its output is above)")
    return dist / BUNDLE_NAME


def verify_bundle(bundle: Path) -> None:
    step(f"verify {bundle}")
    for name in (GUI_EXE, CLI_EXE):
        exe = bundle / (name + EXE_SUFFIX)
        if not (exe.is_file() and os.access(exe, os.X_OK)):
            raise SmokeTestFailure(f"missing executable {exe}")
    internal = bundle / "_internal"
    if not (internal / "resources" / "icons" / "navbill.svg").is_file():
        raise SmokeTestFailure("resources/ is not bundled (no _internal/resources/icons/navbill.svg)")
    for distribution in ("keyring", "apscheduler"):  # they find their plug-ins through entry points
        if not any(internal.glob(f"{distribution}-*.dist-info/entry_points.txt")):
            raise SmokeTestFailure(f"{distribution}'s entry-point metadata is not bundled")
    unwanted = sorted(
        str(path.relative_to(bundle))
        for path in internal.rglob("*")
        if any(fragment.lower() in path.name.lower() for fragment in MUST_NOT_SHIP)
    )
    if unwanted:
        raise SmokeTestFailure("excluded Qt modules were bundled anyway: " + ", ".join(unwanted[:10]))
    size = sum(path.stat().st_size for path in bundle.rglob("*") if path.is_file() and not path.is_symlink())
    print(f"ok: {GUI_EXE}, {CLI_EXE}, resources; {size / 1e6:.0f} MB", flush=True)


# -- smoke test -----------------------------------------------------------------------------------


def frozen_environment(home: Path) -> dict[str, str]:
    """The environment for the frozen executables: no trace of the venv, a private home, no display."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["NAVBILL_HOME"] = str(home)
    env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def run_frozen(bundle: Path, home: Path, *args: str, ok_codes: tuple[int, ...] = (0,)
               ) -> subprocess.CompletedProcess[str]:
    command = [str(bundle / (CLI_EXE + EXE_SUFFIX)), "--home", str(home), *args]
    print("$ " + " ".join(command[:1] + ["--home", "<tmp>"] + list(args)), flush=True)
    try:
        result = subprocess.run(
            command, cwd=home, env=frozen_environment(home), capture_output=True, text=True,
            timeout=COMMAND_TIMEOUT,
        )
    except subprocess.TimeoutExpired as error:
        raise SmokeTestFailure(f"`{' '.join(args)}` did not finish within {COMMAND_TIMEOUT} s") from error
    if result.returncode not in ok_codes:
        raise SmokeTestFailure(
            f"`{' '.join(args)}` exited with {result.returncode}\n"
            f"--- stdout ---\n{result.stdout[-4000:]}\n--- stderr ---\n{result.stderr[-4000:]}"
        )
    return result


def last_json_object(stdout: str) -> dict:
    """The JSON object a --json command printed (log lines go to stderr, but tolerate stray stdout lines)."""
    text = stdout.strip()
    starts = [0] + [index + 1 for index in range(len(text)) if text.startswith("\n{", index)]
    for start in reversed(starts):  # the object begins at the start of a line; try the last one first
        try:
            value = json.loads(text[start:])
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    raise SmokeTestFailure(f"expected one JSON object on stdout, got:\n{stdout[-2000:]}")


def check_report_problems(report: dict) -> list[str]:
    """What is wrong with a `check --demo --json` report; empty when it is sane.

    Against the embedded sandboxes every step must pass or be skipped (TLS, on plain loopback HTTP), and
    both NAV and BILL must have been reached: the vault, keyring and HTTP stack all work in the bundle.
    """
    problems: list[str] = []
    if report.get("ok") is not True:
        problems.append(f"ok is {report.get('ok')!r}, not true")
    steps = report.get("steps")
    if not isinstance(steps, list) or not steps:
        return [*problems, "no steps in the report"]
    for entry in steps:
        if not isinstance(entry, dict):
            problems.append(f"step {entry!r} is not an object")
        elif entry.get("status") not in ("pass", "skipped"):
            problems.append(f"{entry.get('side')} / {entry.get('title')}: {entry.get('status')}: {entry.get('detail')}")
    sides = {entry.get("side") for entry in steps if isinstance(entry, dict) and entry.get("status") == "pass"}
    missing = {"NAV", "BILL"} - sides
    if missing:
        problems.append(f"no passing step for {', '.join(sorted(missing))}")
    return problems


def sync_figure_problems(report: dict) -> list[str]:
    """What is wrong with a `sync --demo --json` report; empty when its figures are sane.

    On the demo company a first full run must complete without errors, touch every flow, fail nothing,
    write something, and have called both NAV and BILL. Holds and conflicts are allowed: the demo data
    contains an invoice with an unmappable line on purpose.
    """
    problems: list[str] = []
    status = report.get("run_status", report.get("status"))  # run_status: the engine's word (status: the exit's)
    if status != "completed":
        problems.append(f"status is {status!r}, not 'completed'")
    if report.get("dry_run"):
        problems.append("the run was a dry run")
    if report.get("errors"):
        problems.append(f"errors: {report['errors']}")
    flows = report.get("flows")
    if not isinstance(flows, dict):
        return [*problems, "no 'flows' object"]
    missing = [flow for flow in FLOWS if flow not in flows]
    if missing:
        problems.append(f"flows missing from the report: {', '.join(missing)}")
    written = 0
    for flow, counts in flows.items():
        if not isinstance(counts, dict):
            problems.append(f"{flow}: counts are not an object")
            continue
        for name, value in counts.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                problems.append(f"{flow}.{name} = {value!r} is not a count")
        if counts.get("failed"):
            problems.append(f"{flow}: {counts['failed']} failed")
        written += sum(counts.get(key, 0) for key in ("created", "updated") if isinstance(counts.get(key), int))
    if written == 0:
        problems.append("nothing was created or updated on the demo company")
    calls = report.get("http_calls", {})
    if not isinstance(calls, dict) or not calls.get("nav") or not calls.get("bill"):
        problems.append(f"expected calls to both NAV and BILL, got http_calls={calls!r}")
    return problems


def smoke_test_cli(bundle: Path) -> None:
    step("smoke test: navbill-cli check --demo")
    with tempfile.TemporaryDirectory(prefix="navbill-smoke-") as tmp:
        result = run_frozen(bundle, Path(tmp), "check", "--demo")
        print(result.stdout.strip()[-2000:], flush=True)

    step("smoke test: navbill-cli check --demo --json")
    with tempfile.TemporaryDirectory(prefix="navbill-smoke-") as tmp:
        report = last_json_object(run_frozen(bundle, Path(tmp), "check", "--demo", "--json").stdout)
        problems = check_report_problems(report)
        if problems:
            raise SmokeTestFailure("check report is not sane:\n  - " + "\n  - ".join(problems))
        print(f"ok: {len(report['steps'])} steps, none failed", flush=True)

    step("smoke test: navbill-cli sync --demo --json")
    with tempfile.TemporaryDirectory(prefix="navbill-smoke-") as tmp:
        home = Path(tmp)
        # Exit 1 means "done, but some records are held for a person": the demo holds some on purpose.
        report = last_json_object(run_frozen(bundle, home, "sync", "--demo", "--json", ok_codes=(0, 1)).stdout)
        print(json.dumps(report, indent=2)[:3000], flush=True)
        problems = sync_figure_problems(report)
        if problems:
            raise SmokeTestFailure("sync report is not sane:\n  - " + "\n  - ".join(problems))
        if not any(home.joinpath("data").glob("*.sqlite3")):
            raise SmokeTestFailure(f"sync wrote no database under {home / 'data'}")


def postgres_driver_problem(stderr: str) -> str:
    """What `store status --url postgresql+psycopg://...` against a server that is not there says about the
    frozen PostgreSQL driver: "" when psycopg loaded and only the connection failed (as it must), else why not."""
    if "Traceback" in stderr or "No module named" in stderr or "no pq wrapper" in stderr.lower():
        return f"psycopg (or its libpq) is missing from the bundle:\n{stderr[-3000:]}"
    if "could not be used" not in stderr:
        return f"store status did not report the unreachable server:\n{stderr[-3000:]}"
    return ""


def smoke_test_postgres_driver(bundle: Path) -> None:
    """A team store needs psycopg and libpq inside the bundle: connect to a socket folder with no server in it."""
    step("smoke test: navbill-cli store status --url postgresql+psycopg://... (no server: the driver loads)")
    with tempfile.TemporaryDirectory(prefix="navbill-smoke-") as tmp:
        url = f"postgresql+psycopg://navbill@/navbill?host={tmp}&connect_timeout=5"
        result = run_frozen(bundle, Path(tmp), "store", "status", "--url", url, ok_codes=(1,))
        problem = postgres_driver_problem(result.stderr)
        if problem:
            raise SmokeTestFailure(problem)
        print(f"ok: {result.stderr.strip()[:300]}", flush=True)


def smoke_test_serve(bundle: Path) -> None:
    """The headless service: the scheduler (APScheduler's entry-point plug-ins) and the webhook listener."""
    step(f"smoke test: navbill-cli serve --demo --run-for {SERVE_SECONDS:.0f}")
    with tempfile.TemporaryDirectory(prefix="navbill-smoke-") as tmp:
        result = run_frozen(bundle, Path(tmp), "serve", "--demo", "--run-for", str(SERVE_SECONDS))
        output = result.stdout + result.stderr
        runs = re.search(r"Runs: (\d+)", output)
        if "Traceback" in output or not runs or int(runs.group(1)) < 1:
            raise SmokeTestFailure(f"serve ran no sync or logged a traceback:\n{output[-4000:]}")
        print(f"ok: {runs.group(0)}", flush=True)


def smoke_test_gui(bundle: Path) -> None:
    step(f"smoke test: {GUI_EXE} --demo on the offscreen platform for {GUI_SECONDS:.0f} s")
    with tempfile.TemporaryDirectory(prefix="navbill-smoke-") as tmp:
        home = Path(tmp)
        log = home / "gui-output.txt"
        with log.open("w") as output:
            # Its own process group (POSIX), so the sandboxes' threads end with it; on Windows ending the
            # process ends all its threads.
            group = {"start_new_session": True} if os.name == "posix" else {}
            process = subprocess.Popen(
                [str(bundle / (GUI_EXE + EXE_SUFFIX)), "--home", str(home), "--demo"],
                cwd=home, env=frozen_environment(home), stdout=output, stderr=subprocess.STDOUT, **group,
            )
            deadline = time.monotonic() + GUI_SECONDS
            while time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.2)
            exit_code = process.poll()
            if exit_code is None and os.name != "posix":
                process.terminate()
                process.wait(timeout=30)
            elif exit_code is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        if exit_code is not None:
            raise SmokeTestFailure(
                f"the window exited after less than {GUI_SECONDS:.0f} s with {exit_code}:\n"
                + log.read_text(errors="replace")[-4000:]
            )
        # Staying up is not enough: a crash dialog also stays up. Look for what a broken bundle leaves behind.
        output = log.read_text(errors="replace")
        output += "".join(path.read_text(errors="replace") for path in home.glob("logs/*.log"))
        broken = [marker for marker in GUI_FAILURE_MARKERS if marker in output]
        if broken:
            raise SmokeTestFailure(f"the window logged {', '.join(broken)}:\n{output[-4000:]}")
        if not any(home.joinpath("data").glob("*.sqlite3")):
            raise SmokeTestFailure(f"the window did not open its database under {home / 'data'}")
        print("ok: the window stayed up, opened its database and logged no error", flush=True)


# -- package --------------------------------------------------------------------------------------


def package(bundle: Path, dist: Path) -> Path:
    step("package")
    share = bundle / "share"
    share.mkdir(exist_ok=True)
    for name in ("navbill.desktop", "navbill-autostart.desktop"):
        shutil.copy2(LINUX_FILES / name, share / name)
    shutil.copy2(ICON_PNG, share / "navbill.png")
    shutil.copy2(LINUX_FILES / "install.sh", bundle / "install.sh")
    (bundle / "install.sh").chmod(0o755)
    tarball = dist / f"navbill-{project_version()}-linux-{platform.machine()}.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(bundle, arcname=BUNDLE_NAME)
    print(f"ok: {tarball} ({tarball.stat().st_size / 1e6:.0f} MB)", flush=True)
    return tarball


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder (default: dist/)")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "pyinstaller", help="PyInstaller work folder")
    parser.add_argument("--skip-build", action="store_true", help="test the bundle already in --dist")
    parser.add_argument("--no-gui", action="store_true", help="skip starting the window offscreen")
    parser.add_argument("--no-package", action="store_true", help="do not write the tarball")
    args = parser.parse_args(argv)

    dist = args.dist.resolve()
    try:
        bundle = dist / BUNDLE_NAME if args.skip_build else build(dist, args.work.resolve())
        verify_bundle(bundle)
        smoke_test_cli(bundle)
        smoke_test_serve(bundle)
        smoke_test_postgres_driver(bundle)
        if not args.no_gui:
            smoke_test_gui(bundle)
        if not args.no_package:
            package(bundle, dist)
    except SmokeTestFailure as failure:
        print(f"\nFAILED: {failure}", file=sys.stderr, flush=True)
        return 1
    print("\nbuild and smoke test passed", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
