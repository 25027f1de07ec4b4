"""The PySide6 window, tray and wizard: the only package that imports Qt.
May import every layer below (domain, clients, setup, store, engine, check, push), never app.cli."""

from app.ui import qt_fixes as _qt_fixes

_qt_fixes.apply()
