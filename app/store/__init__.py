"""SQLAlchemy store: links, bookmarks, outbox, queue, conflicts, mappings, caches, runs, audit, settings, and
``repository`` (the questions the flows ask, by name). May import app.domain and app.setup.config only."""

from app.store.store import Store, StoreError, open_store

__all__ = ["Store", "StoreError", "open_store"]
