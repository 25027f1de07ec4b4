"""Colours from the palette's roles, so every screen reads under a light and a dark desktop theme.

Fixed colours only where a meaning needs a hue (a warning is red-ish, "good" is green-ish); even those
come in a light and a dark variant, picked from the palette's window colour.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget


def palette() -> QPalette:
    app = QApplication.instance()
    return app.palette() if app is not None else QPalette()


def is_dark(pal: QPalette | None = None) -> bool:
    pal = pal or palette()
    return pal.color(QPalette.ColorRole.Window).lightness() < 128


def _pick(light: str, dark: str, pal: QPalette | None = None) -> QColor:
    return QColor(dark if is_dark(pal) else light)


def warning_text(pal: QPalette | None = None) -> QColor:
    return _pick("#b00020", "#ff8a80", pal)


def good_text(pal: QPalette | None = None) -> QColor:
    return _pick("#1e7b34", "#7ddc8f", pal)


def banner_background(error: bool, pal: QPalette | None = None) -> QColor:
    if error:
        return _pick("#ffd9d4", "#5c2320", pal)
    return _pick("#dcecff", "#1f3a5c", pal)


def colour_text(widget: QWidget, colour: QColor, role: QPalette.ColorRole = QPalette.ColorRole.WindowText) -> None:
    """Give one widget's text a colour through its palette (no style sheet: the rest of the theme stays)."""
    pal = widget.palette()
    pal.setColor(role, colour)
    widget.setPalette(pal)
