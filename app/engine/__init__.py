"""The sync engine (headless, Qt-free): ``SyncEngine(store, nav_client, bill_client, settings).run()``, its flows in
``flows/``. The core imports app.domain and app.store (bank watch: the vault); the `sync` command (cli.py) also
wires clients and profiles. Never app.ui or app.push."""

from app.engine.engine import SyncEngine
from app.engine.report import FlowCounts, RunReport
from app.engine.settings import EngineSettings

__all__ = ["SyncEngine", "RunReport", "FlowCounts", "EngineSettings"]
