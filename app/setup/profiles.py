"""Connection profiles: one per company and environment (e.g. "Cronus – sandbox", "Cronus – production").

A profile holds the settings that are not secret (server, port, instance, company, user name,
organization id, which BILL environment) in ``profiles.json`` in the config folder. Its secrets live
only in the vault, under ``profile/<name>/<key>`` with the keys of ``SECRET_KEYS``. Exactly one profile
is active; the window shows which, and the sync uses it unless ``--profile`` names another.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from urllib.parse import urlsplit

from app.domain.errors import ConfigurationError
from app.sandbox import demo_data
from app.setup.config import AppPaths
from app.setup.vault import Vault

PROFILES_FILE = "profiles.json"
DEFAULT_NAV_ODATA_PORT = 7048
BC_ONLINE_API_ROOT = "https://api.businesscentral.dynamics.com"

BILL_BASE_URLS = {
    "sandbox": ("https://gateway.stage.bill.com/connect", "https://gateway.stage.bill.com/connect-events"),
    "production": ("https://gateway.prod.bill.com/connect", "https://gateway.prod.bill.com/connect-events"),
}

# What a profile may keep in the vault. The session id and the webhook securityKey are not typed by
# the user: the BILL client and the webhook subscription upkeep save them as they receive them.
SECRET_KEYS = (
    "nav.web_service_key",
    "nav.client_secret",
    "nav.windows_password",  # Windows auth: the password of the Windows account in NavSettings.user
    "bill.password",
    "bill.dev_key",
    "bill.session_id",
    "bill.webhook_security_key",
)

ENVIRONMENTS = ("sandbox", "production")


@dataclass
class NavSettings:
    """NAV / Business Central settings without secrets.

    On-prem: ``server``, ``port`` (OData, default 7048), ``use_https``, ``server_instance``, ``company``,
    and either ``user`` (+ the web-service access key in the vault) or ``use_windows_auth`` with ``user`` as
    the Windows account ``DOMAIN\\user`` (+ its Windows password in the vault as ``nav.windows_password``).
    Online: ``tenant``, ``environment_name``, ``client_id`` (+ client secret in the vault), ``company``
    or ``company_id``. ``base_url`` overrides the computed address (reverse proxies, the sandbox).
    """

    mode: str = "onprem"  # "onprem" | "online"
    server: str = ""
    port: int = DEFAULT_NAV_ODATA_PORT
    use_https: bool = False
    server_instance: str = ""
    company: str = ""
    user: str = ""
    use_windows_auth: bool = False
    tenant: str = ""
    environment_name: str = "production"
    client_id: str = ""
    company_id: str = ""
    token_url: str = ""
    base_url: str = ""
    flavor: str = "auto"  # "auto" | "bc" (Business Central API v2.0) | "classic" (NAV OData v4 pages)

    def effective_base_url(self) -> str:
        if self.base_url:
            return self.base_url.rstrip("/")
        if self.mode == "online":
            return f"{BC_ONLINE_API_ROOT}/v2.0/{self.tenant}/{self.environment_name}"
        scheme = "https" if self.use_https else "http"
        return f"{scheme}://{self.server}:{self.port}" if self.server else ""

    def effective_token_url(self) -> str:
        if self.token_url or self.mode != "online":
            return self.token_url
        return f"https://login.microsoftonline.com/{self.tenant}/oauth2/v2.0/token"


@dataclass
class BillSettings:
    """BILL settings without secrets (password, devKey, session id, webhook key live in the vault)."""

    username: str = ""
    organization_id: str = ""
    environment: str = "sandbox"  # "sandbox" | "production": separate devKeys, separate data
    base_url: str = ""  # overrides; blank → BILL's gateway for the environment
    events_base_url: str = ""

    def effective_base_urls(self) -> tuple[str, str]:
        default_base, default_events = BILL_BASE_URLS.get(self.environment, BILL_BASE_URLS["sandbox"])
        return (self.base_url.rstrip("/") or default_base, self.events_base_url.rstrip("/") or default_events)


@dataclass
class Profile:
    name: str
    nav: NavSettings = field(default_factory=NavSettings)
    bill: BillSettings = field(default_factory=BillSettings)
    environment: str = "sandbox"  # what the profile is for; production profiles get extra care (no test writes)
    active: bool = False

    @property
    def is_production(self) -> bool:
        return self.environment == "production" or self.bill.environment == "production"

    def to_json(self) -> dict:
        data = asdict(self)
        data.pop("active")  # the file records the active profile once, not per profile
        return data

    @classmethod
    def from_json(cls, data: dict, active: bool = False) -> Profile:
        return cls(
            name=data["name"],
            nav=NavSettings(**_known(NavSettings, data.get("nav", {}))),
            bill=BillSettings(**_known(BillSettings, data.get("bill", {}))),
            environment=data.get("environment", "sandbox"),
            active=active,
        )


def _known(cls, values: dict) -> dict:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in values.items() if k in names}  # a newer file's extra keys are ignored


def secret_name(profile_name: str, key: str) -> str:
    if key not in SECRET_KEYS:
        raise ValueError(f"Unknown profile secret '{key}'; known: {', '.join(SECRET_KEYS)}")
    return f"profile/{profile_name}/{key}"


def validate_profile_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ConfigurationError("Give the profile a name.", code="profile-name")
    if "/" in name or "\\" in name or len(name) > 80 or not name.isprintable():
        raise ConfigurationError(f"The profile name '{name}' may not contain slashes or be longer than 80 "
                                 "characters.", code="profile-name")
    return name


class ProfileStore:
    """Profiles in ``<config dir>/profiles.json``; their secrets in the vault."""

    def __init__(self, location: AppPaths | Path | str, vault: Vault | None = None) -> None:
        if isinstance(location, AppPaths):
            path = location.config_dir / PROFILES_FILE
        else:
            path = Path(location)
            if path.suffix != ".json":
                path = path / PROFILES_FILE
        self.path = path
        self.vault = vault
        self._lock = threading.RLock()

    # -- reading ---------------------------------------------------------------------------
    def _load(self) -> tuple[list[Profile], str]:
        if not self.path.exists():
            return [], ""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"The profile file {self.path} cannot be read ({type(exc).__name__}); "
                                     "restore it from a backup or delete it and set the profiles up again.",
                                     code="profiles-file") from None
        active = data.get("active", "")
        profiles = [Profile.from_json(item, active=item.get("name") == active) for item in data.get("profiles", [])]
        return profiles, active

    def list(self) -> list[Profile]:
        with self._lock:
            return self._load()[0]

    def names(self) -> list[str]:
        return [p.name for p in self.list()]

    def get(self, name: str) -> Profile:
        for profile in self.list():
            if profile.name == name:
                return profile
        raise ConfigurationError(f"There is no connection profile named '{name}'.", code="profile-missing")

    def active(self) -> Profile | None:
        profiles = self.list()
        for profile in profiles:
            if profile.active:
                return profile
        return None

    # -- writing ---------------------------------------------------------------------------
    def _write(self, profiles: list[Profile], active: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"version": 1, "active": active, "profiles": [p.to_json() for p in profiles]}
        # Write a sibling temp file and rename it over the old one so a crash never leaves half a file.
        fd, tmp = tempfile.mkstemp(prefix=".profiles-", suffix=".json", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(payload, handle, indent=2, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def save(self, profile: Profile, secrets: dict[str, str | None] | None = None) -> Profile:
        """Add or replace a profile and update its secrets.

        ``secrets`` maps keys of ``SECRET_KEYS`` to values: a key left out stays as it is, a key with
        None or "" is removed. The first profile saved becomes the active one, as does any profile
        saved with ``active=True``.
        """
        name = validate_profile_name(profile.name)
        profile = replace(profile, name=name)
        secrets = secrets or {}
        for key in secrets:
            secret_name(name, key)  # unknown keys are a programming error, found before anything is written
        if secrets and self.vault is None:
            raise ConfigurationError("Saving credentials needs the vault.", code="vault-missing")
        with self._lock:
            profiles, active = self._load()
            profiles = [p for p in profiles if p.name != name] + [profile]
            if profile.active or not active or active not in {p.name for p in profiles}:
                active = name
            for key, value in secrets.items():
                if value:
                    self.vault.put(secret_name(name, key), value)
                else:
                    self.vault.delete(secret_name(name, key))
            self._write(profiles, active)
        return replace(profile, active=active == name)

    def delete(self, name: str) -> None:
        """Remove a profile and every secret it kept. Another profile becomes active if this one was."""
        with self._lock:
            profiles, active = self._load()
            if name not in {p.name for p in profiles}:
                raise ConfigurationError(f"There is no connection profile named '{name}'.", code="profile-missing")
            profiles = [p for p in profiles if p.name != name]
            if active == name:
                active = profiles[0].name if profiles else ""
            if self.vault is not None:
                self.vault.delete_prefix(f"profile/{name}/")
            self._write(profiles, active)

    def set_active(self, name: str) -> Profile:
        with self._lock:
            profiles, _active = self._load()
            if name not in {p.name for p in profiles}:
                raise ConfigurationError(f"There is no connection profile named '{name}'.", code="profile-missing")
            self._write(profiles, name)
        return self.get(name)

    # -- secrets ---------------------------------------------------------------------------
    def secret(self, profile: Profile | str, key: str) -> str | None:
        name = profile.name if isinstance(profile, Profile) else profile
        if self.vault is None:
            return None
        return self.vault.get(secret_name(name, key))

    def saved_secret_keys(self, profile: Profile | str) -> list[str]:
        """Which secrets a profile has saved (names only, for the settings page's "saved" marks)."""
        name = profile.name if isinstance(profile, Profile) else profile
        if self.vault is None:
            return []
        prefix = f"profile/{name}/"
        return [n[len(prefix):] for n in self.vault.names() if n.startswith(prefix)]


# -- connections -------------------------------------------------------------------------------


def _vault_secret(vault: Vault | None, profile: Profile, key: str) -> str:
    if vault is None:
        return ""
    return vault.get(secret_name(profile.name, key)) or ""


def build_nav_connection(profile: Profile, vault: Vault | None):
    """The NAV client's connection settings for this profile, with its secrets from the vault."""
    from app.clients.nav import NavConnection

    nav = profile.nav
    return NavConnection(
        mode=nav.mode,
        base_url=nav.effective_base_url(),
        server_instance=nav.server_instance,
        company=nav.company,
        user=nav.user,
        web_service_key=_vault_secret(vault, profile, "nav.web_service_key"),
        use_windows_auth=nav.use_windows_auth,
        windows_password=_vault_secret(vault, profile, "nav.windows_password"),
        tenant=nav.tenant,
        client_id=nav.client_id,
        client_secret=_vault_secret(vault, profile, "nav.client_secret"),
        token_url=nav.effective_token_url(),
        company_id=nav.company_id,
        flavor=nav.flavor or "auto",
    )


def build_bill_connection(profile: Profile, vault: Vault | None):
    """The BILL client's connection settings for this profile, with its secrets from the vault."""
    from app.clients.bill import BillConnection

    bill = profile.bill
    base_url, events_base_url = bill.effective_base_urls()
    return BillConnection(
        base_url=base_url,
        events_base_url=events_base_url,
        username=bill.username,
        password=_vault_secret(vault, profile, "bill.password"),
        organization_id=bill.organization_id,
        dev_key=_vault_secret(vault, profile, "bill.dev_key"),
        environment=bill.environment,
    )


def bill_session_store(profile: Profile, vault: Vault) -> tuple[str | None, Callable[[str | None], None]]:
    """(saved BILL session id, callback that saves a new one) for ``BillClient(session_id=, on_session=)``.

    Reusing the session across runs matters: BILL allows 200 logins per devKey per hour.
    """
    name = secret_name(profile.name, "bill.session_id")

    def save(session_id: str | None) -> None:
        if session_id:
            vault.put(name, session_id)
        else:
            vault.delete(name)

    return vault.get(name), save


def bill_budget(data_dir: str | os.PathLike | None, profile: Profile, settings=None):
    """The hourly BILL request count of this installation for the profile's organization (a ledger file in the data
    folder, shared by the window, ``serve``, ``sync`` and the connection test), or None without a data folder.
    ``settings`` (EngineSettings) gives the limit and the headroom; a sync sets them again when it starts."""
    from app.clients.bill_budget import DEFAULT_HEADROOM, HOURLY_LIMIT, shared_budget

    if data_dir is None:
        return None
    limit = int(getattr(settings, "bill_hourly_limit", HOURLY_LIMIT))
    headroom = int(getattr(settings, "bill_budget_headroom_percent", DEFAULT_HEADROOM * 100)) / 100
    return shared_budget(data_dir, profile.bill.organization_id, limit, headroom)


# -- demo --------------------------------------------------------------------------------------

DEMO_PROFILE_NAME = "Demo (sandboxes)"


def demo_profile(nav_url: str, bill_url: str, name: str = DEMO_PROFILE_NAME) -> Profile:
    """A profile pointing at the embedded sandboxes (``nav_url``/``bill_url`` are their root URLs)."""
    parts = urlsplit(nav_url)
    nav = NavSettings(
        mode="onprem",
        server=parts.hostname or "127.0.0.1",
        port=parts.port or DEFAULT_NAV_ODATA_PORT,
        use_https=parts.scheme == "https",
        server_instance=demo_data.SERVER_INSTANCE,
        company=demo_data.COMPANY_NAME,
        company_id=demo_data.COMPANY_ID,  # the BC API (webhook subscriptions, payments) names the company by id
        user=demo_data.NAV_USER,
    )
    root = bill_url.rstrip("/")
    bill = BillSettings(
        username=demo_data.BILL_USERNAME,
        organization_id=demo_data.BILL_ORGANIZATION_ID,
        environment="sandbox",
        base_url=f"{root}/connect",
        events_base_url=f"{root}/connect-events",
    )
    return Profile(name=name, nav=nav, bill=bill, environment="sandbox", active=True)


def demo_secrets() -> dict[str, str]:
    """The demo credentials the sandboxes accept (public values from app/sandbox/demo_data.py)."""
    return {
        "nav.web_service_key": demo_data.NAV_WEB_SERVICE_KEY,
        "nav.client_secret": demo_data.NAV_CLIENT_SECRET,
        "bill.password": demo_data.BILL_PASSWORD,
        "bill.dev_key": demo_data.BILL_DEV_KEY,
    }
