"""SQLAlchemy store: links, bookmarks, outbox, queue, conflicts, mappings, caches, runs, audit, settings."""

from app.store.store import Store, StoreError, open_store

__all__ = ["Store", "StoreError", "open_store"]
