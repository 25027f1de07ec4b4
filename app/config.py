"""Where the app keeps its files, and the settings it reads. Paths come from platformdirs.

``NAVBILL_HOME`` overrides every folder (tests, portable installs, the frozen smoke test).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from app import APP_AUTHOR, APP_NAME


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
        return f"sqlite:///{self.database_file}"

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
