from app.ui import qt_fixes as _qt_fixes

_qt_fixes.apply()
