"""SQLAlchemy store: links, bookmarks, outbox, queue, conflicts, mappings, caches, runs, audit, settings.
May import app.domain and app.setup.config (where the database lives) only."""

from app.store.store import Store, StoreError, open_store

__all__ = ["Store", "StoreError", "open_store"]
