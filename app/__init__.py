"""NAV ⇄ BILL connector: the product's name and version here, the layers in the packages below.
A package imports only its own layer and the ones above it in this list (tests/test_layout.py checks it):

  app.domain   plain types and rules, no I/O (app.log: logging that never shows a secret)
  app.clients  NAV (OData v4 / BC API) and BILL (v3) HTTP clients
  app.sandbox  loopback HTTP servers that behave like NAV and BILL
  app.setup    the installation's folders, profiles and credentials vault, and opening them for a command
               (setup.config and setup.vault sit below the store, setup.wiring above it)
  app.store    SQLAlchemy store: links, bookmarks, outbox, queue, conflicts, audit
  app.engine   the sync flows;  app.check  the connection test
  app.push     scheduler, webhook listener and subscription upkeep
  app.cli      the command line;  app.ui  PySide6, the only package that imports Qt
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
