"""NAV ⇄ BILL connector.

Layers (data flows one way: clients → engine → store → UI):
  app.domain   plain types and rules, no I/O
  app.clients  NAV (OData v4 / BC API) and BILL (v3) HTTP clients
  app.store    SQLAlchemy store: links, bookmarks, outbox, queue, conflicts, audit
  app.engine   the sync flows
  app.sandbox  loopback HTTP servers that behave like NAV and BILL
  app.push     webhook receiver and subscription upkeep
  app.ui       PySide6; the only package that imports Qt
"""

__version__ = "0.1.0"
APP_NAME = "NavBill"
APP_AUTHOR = "NavBill"
