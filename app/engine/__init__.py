"""The sync engine (headless, Qt-free): ``SyncEngine(store, nav_client, bill_client, settings).run()``, its flows in
``flows/``. May import app.domain, app.store and app.setup (the vault); clients arrive as arguments, never Qt."""

from app.engine.engine import SyncEngine
from app.engine.report import FlowCounts, RunReport
from app.engine.settings import EngineSettings

__all__ = ["SyncEngine", "RunReport", "FlowCounts", "EngineSettings"]
