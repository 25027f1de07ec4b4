"""Where the app keeps its files, and the settings it reads. Paths come from platformdirs.

``NAVBILL_HOME`` overrides every folder (tests, portable installs, the frozen smoke test).

The store is the SQLite file in the data folder unless the installation joined a team store: a PostgreSQL
URL in ``store.json`` in the config folder (written by ``navbill store init|migrate --url ... --use``), or
``NAVBILL_STORE_URL``. Its password is never written there: libpq reads it from PGPASSWORD or the pgpass file
(``~/.pgpass``; ``%APPDATA%\\postgresql\\pgpass.conf`` on Windows).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from app import APP_AUTHOR, APP_NAME

STORE_URL_ENV = "NAVBILL_STORE_URL"


@dataclass(frozen=True)
class AppPaths:
    data_dir: Path
    log_dir: Path
    config_dir: Path

    @property
    def database_file(self) -> Path:
        return self.data_dir / "navbill.sqlite3"

    @property
    def database_url(self) -> str:
        """This workstation's own SQLite store (the demo always uses it)."""
        return f"sqlite:///{self.database_file}"

    @property
    def store_config_file(self) -> Path:
        return self.config_dir / "store.json"

    @property
    def store_url(self) -> str:
        """The store the connector works on: a team store if one is configured, else ``database_url``."""
        configured = os.environ.get(STORE_URL_ENV, "").strip()
        if not configured:
            try:
                configured = str(json.loads(self.store_config_file.read_text(encoding="utf-8")).get("url", ""))
            except (OSError, ValueError, AttributeError):
                configured = ""
        return configured or self.database_url

    def ensure(self) -> AppPaths:
        for folder in (self.data_dir, self.log_dir, self.config_dir):
            folder.mkdir(parents=True, exist_ok=True)
            try:
                folder.chmod(0o700)  # our data is financial: private to the user
            except OSError:
                pass
        return self


def app_paths(home: str | os.PathLike | None = None) -> AppPaths:
    home = home or os.environ.get("NAVBILL_HOME")
    if home:
        root = Path(home)
        return AppPaths(data_dir=root / "data", log_dir=root / "logs", config_dir=root / "config")
    return AppPaths(
        data_dir=Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR)),
        log_dir=Path(platformdirs.user_log_dir(APP_NAME, APP_AUTHOR)),
        config_dir=Path(platformdirs.user_config_dir(APP_NAME, APP_AUTHOR)),
    )
