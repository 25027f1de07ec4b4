"""What differs on Windows, checked on any OS by forcing the Windows branch.

- keyring: the Windows Credential Manager backend is chosen and trusted when pywin32-ctypes is present,
  and the vault falls back to a passphrase when it is not (a frozen build missing its hidden import);
  the entries it writes are exactly the ones the uninstaller deletes ("delete my data").
- the single-instance channel: built from USERNAME (Windows has no USER), short and valid for a named pipe
  whatever the user's name or home path, and usable with a non-ASCII user name.
- per-user folders: platformdirs' Windows layout puts data, settings and logs under one folder, the one the
  uninstaller offers to delete, also for long and non-ASCII profile paths.
- long paths: the deepest file the bundle carries still fits Windows' 260-character limit when installed
  in the default per-user folder of a long user name.

Start at sign-in (the Run key and --minimized) is checked by the installer test under wine
(test_windows_installer.py) and by tests/installer/test_installer_files.py. File locking for the store is the
reliability work's, not checked here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import types
from pathlib import Path

import platformdirs
import platformdirs.windows
import pytest

import app
from app.setup import config
from app.setup.vault import KEYRING_SERVICE, Vault, insecure_reason

ROOT = Path(__file__).resolve().parents[2]
ISS = ROOT / "installer" / "windows" / "navbill.iss"
MAX_PATH = 260


# -- keyring: Windows Credential Manager ----------------------------------------------------------


class CredentialManagerError(Exception):
    """pywintypes.error: (winerror, funcname, strerror)."""

    def __init__(self, winerror: int, funcname: str, strerror: str) -> None:
        super().__init__(winerror, funcname, strerror)
        self.winerror, self.funcname, self.strerror = winerror, funcname, strerror


class CredentialManager:
    """win32ctypes.pywin32.win32cred as it behaves on Windows, over a dict (the real API runs in the wine
    test): generic credentials keyed by target name, case-insensitively, with Windows' size limits."""

    CRED_TYPE_GENERIC = 1
    CRED_PERSIST_SESSION, CRED_PERSIST_LOCAL_MACHINE, CRED_PERSIST_ENTERPRISE = 1, 2, 3
    MAX_BLOB_BYTES, MAX_USERNAME, MAX_TARGET = 5 * 512, 513, 32767

    def __init__(self) -> None:
        self.store: dict[str, dict] = {}

    def CredWrite(self, Credential: dict, Flags: int) -> None:  # noqa: N802, N803 (the pywin32 names)
        blob = Credential["CredentialBlob"].encode("utf-16-le")
        if (len(blob) > self.MAX_BLOB_BYTES or len(Credential["UserName"]) > self.MAX_USERNAME
                or len(Credential["TargetName"]) > self.MAX_TARGET):
            raise CredentialManagerError(87, "CredWrite", "The parameter is incorrect.")
        self.store[Credential["TargetName"].lower()] = {**Credential, "CredentialBlob": blob}

    def CredRead(self, Type: int, TargetName: str) -> dict:  # noqa: N802, N803
        try:
            return dict(self.store[TargetName.lower()])
        except KeyError:
            raise CredentialManagerError(1168, "CredRead", "Element not found.") from None

    def CredDelete(self, Type: int, TargetName: str) -> None:  # noqa: N802, N803
        if self.store.pop(TargetName.lower(), None) is None:
            raise CredentialManagerError(1168, "CredDelete", "Element not found.")

    def targets(self) -> set[tuple[str, str]]:
        return {(cred["TargetName"], cred["UserName"]) for cred in self.store.values()}


@pytest.fixture
def windows_keyring(monkeypatch):
    """keyring's WinVaultKeyring with pywin32-ctypes 'present' (its Windows branch), over a CredentialManager."""
    windows = pytest.importorskip("keyring.backends.Windows")
    manager = CredentialManager()
    monkeypatch.setattr(windows, "win32cred", manager, raising=False)
    monkeypatch.setattr(windows, "pywintypes", types.SimpleNamespace(error=CredentialManagerError), raising=False)
    monkeypatch.setattr(windows, "missing_deps", False)
    return windows.WinVaultKeyring(), manager


def uninstaller_deletes(target: str, user: str) -> bool:
    """The rule of IsConnectorCredential in navbill.iss [Code], in Python."""
    return user.startswith("vault-key/") and target in (KEYRING_SERVICE, f"{user}@{KEYRING_SERVICE}")


def test_windows_credential_manager_is_trusted_and_holds_the_vault_key(windows_keyring, tmp_path):
    backend, manager = windows_keyring
    assert backend.priority == 5, "keyring prefers the Credential Manager on Windows"
    assert insecure_reason(backend) == ""
    database = f"sqlite:///{tmp_path / 'navbill.sqlite3'}"
    vault = Vault.open(database, keyring_backend=backend)
    assert vault.mode == "keyring" and vault.is_unlocked
    vault.put("nav/password", "s3cret-ÄÖÜ")
    assert "s3cret" not in repr(manager.store), "only the key goes to the Credential Manager, not the secrets"
    reopened = Vault.open(database, keyring_backend=backend)
    assert reopened.is_unlocked and reopened.get("nav/password") == "s3cret-ÄÖÜ"


def test_vault_falls_back_to_a_passphrase_without_pywin32_ctypes(monkeypatch, tmp_path):
    """A build that lost the win32ctypes hidden import: keyring's Windows backend says it is not viable."""
    windows = pytest.importorskip("keyring.backends.Windows")
    monkeypatch.setattr(windows, "missing_deps", True)
    backend = windows.WinVaultKeyring()
    reason = insecure_reason(backend)
    assert "WinVaultKeyring is not usable" in reason
    vault = Vault.open(f"sqlite:///{tmp_path / 'navbill.sqlite3'}", keyring_backend=backend)
    assert vault.needs_new_passphrase and not vault.is_unlocked
    assert reason in vault.backend_status().message


def test_uninstaller_deletes_every_entry_the_vault_leaves_and_nothing_else(windows_keyring, tmp_path):
    backend, manager = windows_keyring
    manager.CredWrite({"TargetName": "OtherApp", "UserName": "clerk", "CredentialBlob": "x", "Type": 1}, 0)
    database = f"sqlite:///{tmp_path / 'navbill.sqlite3'}"
    first = Vault.open(database, keyring_backend=backend)
    first.put("bill/password", "pw")
    first.rotate_key()  # generation 2 under "NavBill", generation 1 moved to "vault-key/.../1@NavBill"
    # A second vault (a --home folder, a test profile) in the same Windows account.
    Vault.open(f"sqlite:///{tmp_path / 'other.sqlite3'}", keyring_backend=backend)
    ours = {entry for entry in manager.targets() if entry != ("OtherApp", "clerk")}
    assert len(ours) >= 2 and any("@" in target for target, _ in ours), ours
    assert all(uninstaller_deletes(target, user) for target, user in ours), ours
    assert not uninstaller_deletes("OtherApp", "clerk")
    assert Vault.open(database, keyring_backend=backend).get("bill/password") == "pw"


def test_uninstaller_rule_matches_the_app_constants():
    code = ISS.read_text(encoding="utf-8")
    defines = dict(re.findall(r'^\s*#define\s+(\w+)\s+"([^"]*)"', code, flags=re.MULTILINE))
    assert defines["KeyringService"] == KEYRING_SERVICE
    assert Vault._keyring_entry("id", 1).startswith(defines["KeyringEntryPrefix"])
    body = code.split("function IsConnectorCredential", 1)[1].split("\nend;", 1)[0]
    assert "(Pos('{#KeyringEntryPrefix}', UserName) = 1)" in body
    assert "(Target = '{#KeyringService}') or (Target = UserName + '@{#KeyringService}')" in body


# -- single instance ------------------------------------------------------------------------------


def load_single_instance():
    pytest.importorskip("PySide6.QtNetwork")
    from app.ui import single_instance

    return single_instance


def test_channel_name_on_windows_uses_username_and_stays_a_valid_pipe_name(monkeypatch, tmp_path):
    single_instance = load_single_instance()
    monkeypatch.delenv("USER", raising=False)  # Windows sets USERNAME only
    monkeypatch.setenv("USERNAME", "Zoë Müller")
    long_home = tmp_path / ("Ünïcødé-" * 12) / ("sub" * 40)
    name = single_instance.channel_name(long_home)
    assert name.startswith("navbill-Zoë Müller-")
    # \\.\pipe\<name>: up to 256 characters, no backslash.
    assert len(name) < 100 and "\\" not in name and "/" not in name
    assert name == single_instance.channel_name(long_home)
    assert name != single_instance.channel_name(tmp_path)
    digest = hashlib.sha256(str(long_home.resolve()).encode("utf-8")).hexdigest()[:16]
    assert name.endswith(digest)


def test_single_instance_channel_works_with_a_non_ascii_user(monkeypatch, tmp_path, qapp):
    single_instance = load_single_instance()
    monkeypatch.delenv("USER", raising=False)
    monkeypatch.setenv("USERNAME", "Zoë Müller")
    name = single_instance.channel_name(tmp_path / "Ärger")
    first = single_instance.SingleInstance(name)
    try:
        assert first.listen()
        second = single_instance.SingleInstance(name)
        assert not second.listen(), "a second instance must find the first on the same channel"
        second.close()
    finally:
        first.close()


# -- per-user folders -----------------------------------------------------------------------------


@pytest.mark.parametrize("local_appdata", [
    r"C:\Users\clerk\AppData\Local",
    r"C:\Users\Zoë Müller-Łukasiewicz\AppData\Local",
    "C:\\Users\\" + "Ü" * 64 + "\\AppData\\Local",
])
def test_windows_folders_are_per_user_and_under_the_one_the_uninstaller_offers(monkeypatch, local_appdata):
    monkeypatch.delenv("NAVBILL_HOME", raising=False)
    monkeypatch.setattr(platformdirs, "PlatformDirs", platformdirs.windows.Windows)
    monkeypatch.setattr(platformdirs.windows, "get_win_folder", lambda csidl: local_appdata)
    paths = config.app_paths()

    def windows(path: Path) -> str:  # os.path.join runs with this OS's separator here
        return str(path).replace("/", "\\")

    data_dir = local_appdata + "\\" + app.APP_AUTHOR + "\\" + app.APP_NAME
    assert windows(paths.data_dir) == data_dir  # installer/windows/navbill.iss: UserDataDir
    assert windows(paths.config_dir) == data_dir
    assert windows(paths.log_dir) == data_dir + "\\Logs"
    assert len(windows(paths.database_file)) < MAX_PATH


def test_navbill_home_overrides_the_windows_folders(monkeypatch, tmp_path):
    monkeypatch.setattr(platformdirs, "PlatformDirs", platformdirs.windows.Windows)
    home = tmp_path / "Zoë Müller" / ("lang" * 30)
    monkeypatch.setenv("NAVBILL_HOME", str(home))
    paths = config.app_paths().ensure()
    assert paths.data_dir == home / "data" and paths.data_dir.is_dir() and paths.log_dir.is_dir()


# -- long paths -----------------------------------------------------------------------------------


def test_deepest_bundled_file_fits_max_path_in_the_default_install_folder():
    """PyInstaller puts PySide6 under _internal\\PySide6\\...; Windows without long-path support refuses
    paths of 260 characters or more. The user name is at most 20 characters on Windows."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("PySide6 not installed")
    package = Path(next(iter(spec.submodule_search_locations)))
    deepest = max((p.relative_to(package.parent) for p in package.rglob("*") if p.is_file()),
                  key=lambda p: len(str(p)))
    install_dir = "C:\\Users\\" + "u" * 20 + "\\AppData\\Local\\Programs\\NavBill"
    installed = install_dir + "\\_internal\\" + str(deepest).replace("/", "\\")
    assert len(installed) < MAX_PATH, f"{installed} ({len(installed)} characters)"
