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

# The one place the version and product metadata live. pyproject.toml reads __version__ (dynamic version),
# installer/navbill.spec puts these into the Windows executables' version resource, and
# installer/windows/navbill.iss reads them with its preprocessor: keep each a one-line string literal
# (NAME = "value"), which is all those readers understand.
__version__ = "0.1.0"
APP_NAME = "NavBill"
# platformdirs' "appauthor": part of the Windows data path (%LOCALAPPDATA%\NavBill\NavBill). Never change it,
# or an upgrade stops finding the user's data.
APP_AUTHOR = "NavBill"
PUBLISHER = "NavBill"
DESCRIPTION = "NAV and BILL accounts-payable connector"
COPYRIGHT = "Copyright (C) 2026 NavBill"
