"""The installer files agree with each other and with the app; no build is run here.

The real build and frozen smoke test is `python installer/build_linux.py` (minutes, not seconds).
These checks catch what would otherwise only show on a build machine: a renamed executable the
desktop entry or Inno Setup script still names, a version bump the installer missed, a Qt module
the spec excludes but the app imports, a hidden import that no longer exists.
"""

from __future__ import annotations

import ast
import configparser
import importlib.metadata
import importlib.util
import os
import re
import shutil
import struct
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import app

ROOT = Path(__file__).resolve().parents[2]
INSTALLER = ROOT / "installer"
SPEC = INSTALLER / "navbill.spec"
ISS = INSTALLER / "windows" / "navbill.iss"
DESKTOP = INSTALLER / "linux" / "navbill.desktop"
AUTOSTART = INSTALLER / "linux" / "navbill-autostart.desktop"
INSTALL_SH = INSTALLER / "linux" / "install.sh"
ICON_PNG = INSTALLER / "icons" / "navbill.png"
ICON_ICO = INSTALLER / "icons" / "navbill.ico"


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def load_metadata():
    spec = importlib.util.spec_from_file_location("navbill_metadata", INSTALLER / "metadata.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def spec_tree() -> ast.Module:
    return ast.parse(SPEC.read_text(encoding="utf-8"), filename=str(SPEC))


def spec_constant(name: str):
    """A module-level literal assignment in the spec (names, lists of names)."""
    for node in spec_tree().body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} is not assigned a literal in {SPEC.name}")


def spec_calls(function: str) -> list[ast.Call]:
    return [
        node for node in ast.walk(spec_tree())
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == function
    ]


def spec_string_literals() -> set[str]:
    return {node.value for node in ast.walk(spec_tree()) if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def iss_defines() -> dict[str, str]:
    text = ISS.read_text(encoding="utf-8")
    return dict(re.findall(r'^\s*#define\s+(\w+)\s+"([^"]*)"', text, flags=re.MULTILINE))


def iss_setup() -> dict[str, str]:
    text = ISS.read_text(encoding="utf-8")
    section = text.split("[Setup]", 1)[1].split("\n[", 1)[0]
    pairs = (line.split("=", 1) for line in section.splitlines() if "=" in line and not line.lstrip().startswith(";"))
    return {key.strip(): value.strip() for key, value in pairs}


def text_of_function(name: str) -> str:
    """The Pascal source of one [Code] function or procedure of navbill.iss."""
    code = ISS.read_text(encoding="utf-8").split("[Code]", 1)[1]
    match = re.search(rf"^(function|procedure) {name}\b.*?^end;", code, flags=re.MULTILINE | re.DOTALL)
    assert match, f"{name} not found in [Code]"
    return match.group()


def desktop_entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # desktop entry keys are case-sensitive
    parser.read(path, encoding="utf-8")
    assert parser.sections() == ["Desktop Entry"], f"{path.name}: one [Desktop Entry] group expected"
    return dict(parser["Desktop Entry"])


def load_build_linux():
    spec = importlib.util.spec_from_file_location("build_linux", INSTALLER / "build_linux.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- PyInstaller spec -----------------------------------------------------------------------------


def test_spec_builds_one_folder_from_main_py():
    (analysis,) = spec_calls("Analysis")
    assert "main.py" in ast.unparse(analysis.args[0])
    assert (ROOT / "main.py").is_file()
    assert len(spec_calls("COLLECT")) == 1, "onedir: one COLLECT holds both executables"
    (exe,) = spec_calls("EXE")
    keywords = {kw.arg: ast.unparse(kw.value) for kw in exe.keywords}
    assert keywords["exclude_binaries"] == "True", "onefile would embed the libraries in the executable"


def test_spec_makes_a_windowed_and_a_console_executable():
    executables = {
        ast.unparse(call.args[0]): ast.unparse(next(kw.value for kw in call.keywords if kw.arg == "console"))
        for call in spec_calls("_executable")
    }
    assert executables == {"GUI_NAME": "False", "CLI_NAME": "True"}
    assert spec_constant("GUI_NAME") != spec_constant("CLI_NAME")
    (collect,) = spec_calls("COLLECT")
    assert [ast.unparse(arg) for arg in collect.args[:2]] == ["gui_exe", "cli_exe"]


def test_spec_bundles_resources_and_entry_point_metadata():
    text = SPEC.read_text(encoding="utf-8")
    assert '(str(ROOT / "resources"), "resources")' in text
    assert (ROOT / "resources" / "icons" / "navbill.svg").is_file()
    for distribution in ("keyring", "APScheduler"):
        assert f'copy_metadata("{distribution}")' in text, f"{distribution} finds its plug-ins via entry points"


def test_spec_hidden_imports_cover_dynamic_imports():
    names = spec_string_literals()
    for required in (
        "keyring.backends.SecretService", "keyring.backends.Windows", "keyring.backends.macOS",
        "sqlalchemy.dialects.sqlite", "sqlalchemy.dialects.sqlite.pysqlite",
        "apscheduler.triggers", "apscheduler.executors.pool", "apscheduler.jobstores.memory",
        "apscheduler.jobstores.sqlalchemy",
    ):
        assert required in names, f"hidden import {required} missing from the spec"
    assert "keyring.backends" in names and "app" in names  # collect_submodules over both


def test_spec_hidden_imports_exist():
    """A misspelt hidden import is only a warning in a long build log; here it fails."""
    windows_only = ("win32ctypes",)
    dotted = {
        name for name in spec_string_literals()
        if re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_]\w*)+", name) and not name.startswith(("PySide6.", "sqlalchemy.testing"))
    }
    checked = 0
    for name in sorted(dotted):
        if name.startswith(windows_only) or name.startswith("platformdirs."):
            continue
        if name.startswith(("keyring.", "sqlalchemy.", "apscheduler.", "jeepney.")):
            assert importlib.util.find_spec(name) is not None, f"hidden import {name} does not exist"
            checked += 1
    assert checked >= 10


def test_spec_excludes_heavy_qt_modules_the_app_does_not_import():
    excluded = set(spec_constant("QT_UNUSED"))
    assert {"QtWebEngineCore", "QtWebEngineWidgets", "Qt3DCore", "QtMultimedia", "QtQuick", "QtQml"} <= excluded
    assert not excluded & {"QtCore", "QtGui", "QtWidgets", "QtSvg", "QtNetwork", "QtDBus"}
    used = set()
    for source in list((ROOT / "app").rglob("*.py")) + [ROOT / "main.py"]:
        text = source.read_text(encoding="utf-8")
        used |= set(re.findall(r"PySide6\.(Qt\w+)", text))
        for imported in re.findall(r"from\s+PySide6\s+import\s+\(?([\w\s,]+)\)?", text):
            used |= {name.strip() for name in imported.split(",") if name.strip()}
    wrongly_excluded = sorted(used & excluded)
    assert not wrongly_excluded, f"the app imports {wrongly_excluded}, which the spec excludes from the bundle"


# -- Inno Setup -----------------------------------------------------------------------------------


# -- version and product metadata: one place, app/__init__.py -------------------------------------


def test_version_lives_only_in_app_init():
    project = pyproject()
    assert "version" not in project["project"] and project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "app.__version__"}
    assert importlib.metadata.version("navbill") == app.__version__, "reinstall: pip install -e ."
    iss = ISS.read_text(encoding="utf-8")
    assert not re.search(r'#define\s+AppVersion\s+"', iss), "the installer must not hard-code the version"
    assert re.search(r'#define AppInit .*"\.\.\\\.\.\\app\\__init__\.py"', iss)
    assert iss_setup()["AppVersion"] == "{#AppVersion}"
    assert iss_setup()["OutputBaseFilename"] == "navbill-{#AppVersion}-setup"


def test_app_init_keeps_the_one_line_form_the_installer_preprocessor_reads():
    """navbill.iss reads `NAME = "value"` lines with ISPP (the wine test compiles it for real)."""
    metadata = load_metadata()
    values = metadata.app_metadata()
    lines = (ROOT / "app" / "__init__.py").read_text(encoding="utf-8").splitlines()
    for name in metadata.FIELDS:
        matches = [line for line in lines if line.startswith(f"{name} = ")]
        assert matches == [f'{name} = "{values[name]}"'], f"{name} must be one plain line NAME = \"value\""
        assert getattr(app, name) == values[name]
        assert "\"" not in values[name] and values[name].isascii()
    # Inno Setup's VersionInfoVersion and the executables' FixedFileInfo take up to four numbers only.
    assert re.fullmatch(r"\d+(\.\d+){1,3}", app.__version__), "the version must be numbers: 1.2.3"
    code = ISS.read_text(encoding="utf-8")
    for name, define in (("__version__", "AppVersion"), ("APP_NAME", "AppName"), ("PUBLISHER", "AppPublisher"),
                         ("DESCRIPTION", "AppDescription"), ("COPYRIGHT", "AppCopyright")):
        assert f'ConstName == "{name}" && !Defined({define})' in code


@pytest.mark.parametrize("version, numbers", [("0.1.0", (0, 1, 0, 0)), ("1.2.3.4", (1, 2, 3, 4)),
                                              ("2.0.0rc1", (2, 0, 0, 0)), ("3", (3, 0, 0, 0))])
def test_windows_version_numbers(version, numbers):
    assert load_metadata().version_numbers(version) == numbers


def version_file_strings(text: str) -> dict[str, str]:
    calls = [node for node in ast.walk(ast.parse(text)) if isinstance(node, ast.Call)]
    return {ast.literal_eval(call.args[0]): ast.literal_eval(call.args[1])
            for call in calls if getattr(call.func, "id", None) == "StringStruct"}


def test_windows_executables_carry_name_version_and_publisher():
    metadata = load_metadata()
    strings = version_file_strings(metadata.windows_version_file("navbill-cli", "NavBill command line"))
    assert strings["ProductName"] == app.APP_NAME
    assert strings["ProductVersion"] == strings["FileVersion"] == app.__version__
    assert strings["CompanyName"] == app.PUBLISHER
    assert strings["LegalCopyright"] == app.COPYRIGHT
    assert strings["OriginalFilename"] == "navbill-cli.exe"
    assert "version=_windows_version_file(name, description)" in SPEC.read_text(encoding="utf-8")


def test_windows_version_file_has_the_fixed_version_numbers():
    """PyInstaller evaluates the version file with its versioninfo classes (Windows-only, so not imported
    here); the release workflow reads the built executable's version back (.github/workflows/release.yml)."""
    tree = ast.parse(load_metadata().windows_version_file("NavBill", "NavBill"))
    (fixed,) = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and node.func.id == "FixedFileInfo"]
    keywords = {kw.arg: ast.literal_eval(kw.value) for kw in fixed.keywords}
    numbers = load_metadata().version_numbers(app.__version__)
    assert keywords["filevers"] == keywords["prodvers"] == numbers
    (root,) = [node for node in tree.body if isinstance(node, ast.Expr)]
    assert root.value.func.id == "VSVersionInfo"


def test_iss_names_the_executables_the_spec_builds():
    defines = iss_defines()
    assert defines["GuiExe"] == spec_constant("GUI_NAME") + ".exe"
    assert defines["CliExe"] == spec_constant("CLI_NAME") + ".exe"
    assert defines["BundleDir"].replace("\\", "/") == "../../dist/" + spec_constant("BUNDLE_NAME")
    setup = iss_setup()
    assert setup["SetupIconFile"].replace("\\", "/") == "../icons/navbill.ico"
    assert (ISS.parent / setup["SetupIconFile"].replace("\\", "/")).resolve() == ICON_ICO


def test_iss_installs_per_user_with_start_menu_and_login_task():
    setup = iss_setup()
    assert re.fullmatch(r"\{\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}", setup["AppId"])
    assert setup["PrivilegesRequired"] == "lowest"
    assert setup["DefaultDirName"] == "{code:DefaultInstallDir}"
    default_dir = text_of_function("DefaultInstallDir")
    # {autopf} first (Programs per user, Program Files for all users), its Windows default where it fails.
    assert default_dir.index("'{autopf}\\{#AppName}'") < default_dir.index("'{localappdata}\\Programs\\{#AppName}'")
    text = ISS.read_text(encoding="utf-8")
    assert 'Name: "{autoprograms}\\{#AppName}"; Filename: "{app}\\{#GuiExe}"' in text
    assert re.search(r'^Name: "startatlogin";', text, flags=re.MULTILINE)
    run_key = next(line for line in text.splitlines() if "CurrentVersion\\Run" in line and line.startswith("Root:"))
    assert "Tasks: startatlogin" in run_key and "uninsdeletevalue" in run_key
    assert '--minimized"' in run_key  # start at login hidden in the tray
    assert 'ValueName: "{#AppName}"' in run_key
    from app.__main__ import build_parser

    assert build_parser().parse_args(["--minimized"]).minimized


def test_iss_uninstall_asks_about_the_platformdirs_data_folder(monkeypatch):
    """The folder the uninstaller offers to delete is where the app really keeps its data on Windows."""
    windows_dirs = pytest.importorskip("platformdirs.windows")
    local_appdata = r"C:\Users\clerk\AppData\Local"
    monkeypatch.setattr(windows_dirs, "get_win_folder", lambda csidl: local_appdata)
    dirs = windows_dirs.Windows(appname=app.APP_NAME, appauthor=app.APP_AUTHOR)
    data_dir = dirs.user_data_dir.replace("/", "\\")
    assert iss_defines()["UserDataDir"].replace("{localappdata}", local_appdata) == data_dir
    for other in (dirs.user_config_dir, dirs.user_log_dir):  # one folder removes settings and logs too
        assert other.replace("/", "\\").startswith(data_dir)
    code = ISS.read_text(encoding="utf-8").split("[Code]", 1)[1]
    assert "usPostUninstall" in code and "MsgBox(" in code and "MB_DEFBUTTON2" in code  # default: keep
    assert "UninstallSilent" in code  # never delete data unasked ...
    assert "'/DELETEDATA'" in text_of_function("CommandLineAsksToDeleteData")  # ... unless told to
    assert "DelTree(DataDir" in code
    cleanup = text_of_function("CurUninstallStepChanged")
    assert cleanup.index("UserWantsDataDeleted") < cleanup.index("DeleteConnectorCredentials()")


# -- Linux desktop entries ------------------------------------------------------------------------


@pytest.mark.parametrize("path", [DESKTOP, AUTOSTART], ids=lambda p: p.name)
def test_desktop_entry_has_the_keys_it_needs(path):
    entry = desktop_entry(path)
    assert entry["Type"] == "Application"
    assert entry["Name"] == "NavBill"
    assert entry["Terminal"] == "false"
    assert entry["Icon"] == ICON_PNG.stem
    assert entry["Categories"].endswith(";") and "Office" in entry["Categories"].split(";")
    assert entry["Exec"].split()[0] == spec_constant("GUI_NAME"), "Exec must start the windowed executable"
    assert entry["Version"] == "1.4"


def test_autostart_entry_starts_the_same_program():
    # ... hidden in the tray: nobody asked for a window at sign-in
    assert desktop_entry(AUTOSTART)["Exec"] == desktop_entry(DESKTOP)["Exec"] + " --minimized"
    assert desktop_entry(AUTOSTART)["X-GNOME-Autostart-enabled"] == "true"


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils not installed")
@pytest.mark.parametrize("path", [DESKTOP, AUTOSTART], ids=lambda p: p.name)
def test_desktop_entry_passes_desktop_file_validate(path):
    result = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


@pytest.mark.skipif(sys.platform == "win32" or shutil.which("sh") is None, reason="POSIX shell script")
def test_install_sh_installs_and_uninstalls_a_bundle(tmp_path):
    """install.sh on a stand-in bundle: menu entry with an absolute Exec, icon, commands, autostart; then gone."""
    bundle = tmp_path / "NavBill"
    (bundle / "share").mkdir(parents=True)
    for name in (spec_constant("GUI_NAME"), spec_constant("CLI_NAME")):
        (bundle / name).write_text("#!/bin/sh\nexit 0\n")
        (bundle / name).chmod(0o755)
    shutil.copy2(DESKTOP, bundle / "share" / DESKTOP.name)
    shutil.copy2(AUTOSTART, bundle / "share" / AUTOSTART.name)
    shutil.copy2(ICON_PNG, bundle / "share" / "navbill.png")
    shutil.copy2(INSTALL_SH, bundle / "install.sh")
    home = tmp_path / "home"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}

    subprocess.run(["sh", str(bundle / "install.sh"), "--autostart"], env=env, check=True, capture_output=True)
    app_dir = home / ".local" / "lib" / "navbill"
    installed = desktop_entry(home / ".local" / "share" / "applications" / "navbill.desktop")
    assert installed["Exec"] == f'"{app_dir}/NavBill"'
    assert desktop_entry(home / ".config" / "autostart" / "navbill.desktop")["Exec"] == \
        installed["Exec"] + " --minimized"
    assert (home / ".local" / "share" / "icons" / "hicolor" / "256x256" / "apps" / "navbill.png").is_file()
    assert (home / ".local" / "bin" / "navbill-cli").resolve() == (app_dir / "navbill-cli").resolve()

    data_dir = home / ".local" / "share" / "NavBill"
    data_dir.mkdir(parents=True)
    subprocess.run(["sh", str(app_dir / "install.sh"), "--uninstall"], env=env, check=True, capture_output=True)
    assert not app_dir.exists()
    assert not (home / ".config" / "autostart" / "navbill.desktop").exists()
    assert not (home / ".local" / "share" / "applications" / "navbill.desktop").exists()
    assert data_dir.is_dir(), "plain --uninstall keeps the user's data"


# -- icons ----------------------------------------------------------------------------------------


def test_icons_are_real_png_and_ico():
    png = ICON_PNG.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (256, 256)
    ico = ICON_ICO.read_bytes()
    reserved, kind, count = struct.unpack("<HHH", ico[:6])
    assert (reserved, kind) == (0, 1) and count >= 4
    sides = {ico[6 + 16 * index] or 256 for index in range(count)}
    assert {16, 32, 48, 256} <= sides


# -- smoke-test helpers in build_linux.py ---------------------------------------------------------


def test_build_script_uses_the_spec_names():
    build_linux = load_build_linux()
    assert build_linux.GUI_EXE == spec_constant("GUI_NAME")
    assert build_linux.CLI_EXE == spec_constant("CLI_NAME")
    assert build_linux.BUNDLE_NAME == spec_constant("BUNDLE_NAME")
    assert build_linux.project_version() == app.__version__


def sane_report() -> dict:
    counts = {"created": 0, "updated": 0, "skipped": 0, "held": 0, "failed": 0, "conflicts": 0}
    flows = {flow: dict(counts) for flow in ("accounts", "vendors", "invoices", "payments")}
    flows["vendors"]["created"] = 40
    flows["invoices"]["held"] = 3
    return {"run_id": 1, "status": "completed", "dry_run": False, "flows": flows,
            "http_calls": {"nav": 12, "bill": 30}, "duration_seconds": 2.5, "errors": []}


def test_smoke_check_accepts_a_sane_sync_report():
    assert load_build_linux().sync_figure_problems(sane_report()) == []


@pytest.mark.parametrize(
    "spoil, expected",
    [
        (lambda r: r.update(status="failed"), "status"),
        (lambda r: r.update(errors=["BILL: sign-in refused"]), "errors"),
        (lambda r: r["flows"]["payments"].update(failed=2), "payments: 2 failed"),
        (lambda r: r["flows"].pop("accounts"), "flows missing"),
        (lambda r: r["flows"]["vendors"].update(created=0), "nothing was created"),
        (lambda r: r["flows"]["vendors"].update(skipped=-1), "is not a count"),
        (lambda r: r.update(http_calls={"nav": 3, "bill": 0}), "both NAV and BILL"),
    ],
)
def test_smoke_check_rejects_a_bad_sync_report(spoil, expected):
    report = sane_report()
    spoil(report)
    problems = load_build_linux().sync_figure_problems(report)
    assert any(expected in problem for problem in problems), problems


def test_smoke_check_finds_the_json_after_stray_output():
    build_linux = load_build_linux()
    stdout = 'sandbox listening on 127.0.0.1:7048\n{\n  "status": "completed",\n  "flows": {}\n}\n'
    assert build_linux.last_json_object(stdout)["status"] == "completed"
    with pytest.raises(build_linux.SmokeTestFailure):
        build_linux.last_json_object("no json here")


def check_step(side: str, title: str, status: str = "pass") -> dict:
    return {"side": side, "key": title.lower(), "title": title, "status": status, "detail": "", "fix": "", "seconds": 0.0}


def test_smoke_check_accepts_a_passing_check_report():
    report = {"ok": True, "cancelled": False, "steps": [
        check_step("Vault", "Credentials vault"), check_step("NAV", "Authentication"),
        check_step("NAV", "TLS", "skipped"), check_step("BILL", "Login"),
    ]}
    assert load_build_linux().check_report_problems(report) == []


def test_smoke_check_rejects_a_failed_or_one_sided_check_report():
    build_linux = load_build_linux()
    failed = {"ok": False, "steps": [check_step("NAV", "Authentication"), check_step("BILL", "Login", "fail")]}
    problems = build_linux.check_report_problems(failed)
    assert any("not true" in p for p in problems) and any("BILL / Login: fail" in p for p in problems)
    one_sided = {"ok": True, "steps": [check_step("NAV", "Authentication")]}
    assert build_linux.check_report_problems(one_sided) == ["no passing step for BILL"]


def test_spec_bundles_the_postgresql_driver_for_a_team_store():
    """A frozen build must reach a team store: SQLAlchemy's psycopg dialect and psycopg with its binary libpq
    wrapper are all imported by string at run time, so the spec names them (and the build extra installs them)."""
    import psycopg  # noqa: F401 - psycopg_binary refuses to be imported first

    names = spec_string_literals()
    for required in ("sqlalchemy.dialects.postgresql", "sqlalchemy.dialects.postgresql.psycopg",
                     "psycopg", "psycopg_binary", "psycopg_binary.pq", "psycopg_binary._psycopg"):
        assert required in names, f"the spec does not bundle {required}: a frozen build could not use a team store"
        assert importlib.util.find_spec(required) is not None, f"hidden import {required} does not exist"
    text = SPEC.read_text(encoding="utf-8")
    assert 'copy_metadata("psycopg")' in text and 'copy_metadata("psycopg-binary")' in text
    # The URL a team store uses names exactly this dialect and driver.
    from sqlalchemy.engine import make_url

    dialect = make_url("postgresql+psycopg://navbill@db/navbill").get_dialect()
    assert dialect.__module__ in names and dialect.import_dbapi().__name__ in names
    build = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    assert any(requirement.startswith("psycopg[binary]") for requirement in build["build"])


def test_smoke_test_tells_a_missing_driver_from_an_absent_server():
    build_linux = load_build_linux()
    assert build_linux.postgres_driver_problem(
        "Store postgresql+psycopg://navbill@/navbill could not be used: connection is bad: connection to server on "
        'socket "/tmp/x/.s.PGSQL.5432" failed: No such file or directory. Check the server\'s address') == ""
    assert "missing" in build_linux.postgres_driver_problem("ModuleNotFoundError: No module named 'psycopg'")
    assert "missing" in build_linux.postgres_driver_problem(
        "ImportError: no pq wrapper available.\nAttempts made: ...")
    assert build_linux.postgres_driver_problem("something else") != ""
