"""Work-arounds for bugs in the Qt binding, applied once when ``app.ui`` is imported; ``FitsWrappedText``, for
dialogs whose word-wrapped labels Qt would cut off; and ``ElidedLabel``, for one-line sentences Qt would cut off.

PySide6 6.12.0 on Python 3.11: every ``SignalInstance.emit()`` call returns ``True`` without taking a
reference to it, so each emit drops one reference to ``True``; after a few hundred emits (one sync's
progress, a morning of webhooks) the interpreter aborts with "Fatal Python error: bool_dealloc". The
fix is measured, not assumed: only when an emit is seen to lose a reference is ``emit`` wrapped to
give the reference back, so a fixed PySide6 runs unpatched.
"""

from __future__ import annotations

import ctypes
import logging
import sys

from PySide6.QtCore import QEvent, QObject, QSize, Qt, Signal, SignalInstance
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QLabel

log = logging.getLogger("navbill.ui")

_PROBES = 16


class _Probe(QObject):
    ping = Signal()


def emit_loses_a_reference() -> bool:
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(_PROBES):
        probe.ping.emit()
    lost = before - sys.getrefcount(True)
    if lost > 0:  # give back what the probe took
        for _ in range(lost):
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(True))
    return lost >= _PROBES // 2


def apply() -> bool:
    """Patch ``SignalInstance.emit`` if this PySide6 leaks; True when patched."""
    if getattr(SignalInstance.emit, "_navbill_patched", False):
        return True
    if not emit_loses_a_reference():
        return False
    original = SignalInstance.emit
    incref = ctypes.pythonapi.Py_IncRef

    def emit(self, *args):
        result = original(self, *args)
        if result is True or result is False:
            incref(ctypes.py_object(result))
        return result

    emit._navbill_patched = True  # type: ignore[attr-defined]
    SignalInstance.emit = emit
    log.debug("PySide6 emit() reference leak worked around")
    return True


class FitsWrappedText:
    """A dialog does not grow for its word-wrapped labels by itself (Qt sizes a window from its minimum size, not
    from the height a wrapped text needs at the window's width): without this the first and last lines of a long
    explanation are cut off. Mixed in before QDialog; refits whenever the layout changes (a new text, an error)."""

    def _fit_height(self) -> None:
        layout = self.layout()
        needed = layout.heightForWidth(self.width()) if layout is not None else -1
        if needed > 0:
            self.setMinimumHeight(needed)
            if self.height() < needed:
                self.resize(self.width(), needed)

    def event(self, event) -> bool:
        handled = super().event(event)
        if event.type() in (QEvent.Type.LayoutRequest, QEvent.Type.Resize):
            self._fit_height()
        return handled


class ElidedLabel(QLabel):
    """A one-line label that ends in "…" when its text is wider than the room it has (a QLabel just cuts it: "Sync
    completed: nothing to chang"). ``text()`` is still the whole sentence; so is the tooltip its owner sets."""

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        room = self.contentsRect()
        shown = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, room.width())
        painter.drawText(room, int(self.alignment()), shown)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        hint = super().minimumSizeHint()
        return QSize(self.fontMetrics().horizontalAdvance("…") * 4, hint.height())
