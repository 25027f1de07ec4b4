"""The app and tray icons: SVG files in resources/icons, one per connector state.

A missing file (a broken install) must not leave the tray without an icon (Qt refuses to show an
empty tray icon), so each state also has a plain painted fallback: a coloured disc.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from functools import cache
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap


class ConnectorState(StrEnum):
    IDLE = "idle"
    SYNCING = "syncing"
    ATTENTION = "attention"
    OFFLINE = "offline"
    PAUSED = "paused"


STATE_TEXT = {
    ConnectorState.IDLE: "Up to date",
    ConnectorState.SYNCING: "Syncing…",
    ConnectorState.ATTENTION: "Needs your attention",
    ConnectorState.OFFLINE: "Cannot reach NAV or BILL",
    ConnectorState.PAUSED: "Syncing paused",
}

_FALLBACK_COLOURS = {
    ConnectorState.IDLE: "#2e8b57",
    ConnectorState.SYNCING: "#1f6fd1",
    ConnectorState.ATTENTION: "#e8890c",
    ConnectorState.OFFLINE: "#7a7a7a",
    ConnectorState.PAUSED: "#8a8f98",
}


def resources_dir() -> Path:
    frozen_root = getattr(sys, "_MEIPASS", None)  # PyInstaller unpacks data files here
    if frozen_root:
        return Path(frozen_root) / "resources"
    checkout = Path(__file__).resolve().parents[2] / "resources"
    if checkout.is_dir():  # running from the source tree or an editable install
        return checkout
    return Path(sys.prefix) / "share" / "navbill" / "resources"  # a wheel's data files


def _painted(colour: str) -> QIcon:
    pixmap = QPixmap(64, 64)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor(colour))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawEllipse(4, 4, 56, 56)
    painter.end()
    return QIcon(pixmap)


@cache
def state_icon(state: ConnectorState) -> QIcon:
    path = resources_dir() / "icons" / f"state-{state.value}.svg"
    icon = QIcon(str(path)) if path.exists() else QIcon()
    return icon if not icon.isNull() else _painted(_FALLBACK_COLOURS[state])


@cache
def app_icon() -> QIcon:
    path = resources_dir() / "icons" / "navbill.svg"
    icon = QIcon(str(path)) if path.exists() else QIcon()
    return icon if not icon.isNull() else _painted("#1f5fa8")


def state_colour(state: ConnectorState) -> QColor:
    """The status light's colour, readable on the current palette (lighter hues on a dark one)."""
    from app.ui.theme import is_dark

    dark = {ConnectorState.IDLE: "#6fcf8f", ConnectorState.SYNCING: "#6ea8ff", ConnectorState.ATTENTION: "#ffb454",
            ConnectorState.OFFLINE: "#ff8a80", ConnectorState.PAUSED: "#b8bcc4"}
    light = {ConnectorState.IDLE: "#1e7b34", ConnectorState.SYNCING: "#1f5fc1", ConnectorState.ATTENTION: "#a35200",
             ConnectorState.OFFLINE: "#b00020", ConnectorState.PAUSED: "#5f6368"}
    return QColor((dark if is_dark() else light)[state])
