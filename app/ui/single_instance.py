"""One running window per home folder: a second launch asks the first to come forward, then exits.

The channel is a ``QLocalServer`` named after a hash of the home folder, so two different homes
(two portable installs, two test runs) never see each other.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger("navbill.ui")

SHOW_MESSAGE = b"show\n"


def channel_name(home: str | os.PathLike) -> str:
    digest = hashlib.sha256(str(Path(home).resolve()).encode("utf-8")).hexdigest()[:16]
    user = os.environ.get("USER") or os.environ.get("USERNAME") or "user"
    return f"navbill-{user}-{digest}"


def ask_running_instance(name: str, timeout_ms: int = 1000, message: bytes = SHOW_MESSAGE) -> bool:
    """True if an instance answers on ``name`` (it has been told to show its window)."""
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(timeout_ms):
        return False
    if message:
        socket.write(message)
        socket.flush()
        socket.waitForBytesWritten(timeout_ms)
    socket.disconnectFromServer()
    return True


class SingleInstance(QObject):
    """Listens on the channel; ``show_requested`` fires when a second launch knocks."""

    show_requested = Signal()

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self.server.newConnection.connect(self._accept)
        self._connections: list[QLocalSocket] = []

    def listen(self) -> bool:
        """Take the channel; False if another instance holds it."""
        # Look first: with access options Qt renames its socket over an existing one, which would
        # silently steal the channel from a running instance.
        if ask_running_instance(self.name, 300, message=b""):
            return False
        if self.server.listen(self.name):
            return True
        # A crashed instance leaves a stale socket file on Unix; nobody answers on it, so reclaim it.
        QLocalServer.removeServer(self.name)
        return self.server.listen(self.name)

    def _accept(self) -> None:
        while self.server.hasPendingConnections():
            connection = self.server.nextPendingConnection()
            self._connections.append(connection)
            connection.readyRead.connect(self._read_ready)
            connection.disconnected.connect(self._dropped)
            if connection.bytesAvailable():
                self._read(connection)

    def _read_ready(self) -> None:
        connection = self.sender()
        if isinstance(connection, QLocalSocket):
            self._read(connection)

    def _read(self, connection: QLocalSocket) -> None:
        data = bytes(connection.readAll().data())
        if SHOW_MESSAGE.strip() in data:
            self.show_requested.emit()

    def _dropped(self) -> None:
        connection = self.sender()
        if connection in self._connections:
            self._connections.remove(connection)
            connection.deleteLater()

    def close(self) -> None:
        for connection in self._connections:
            connection.readyRead.disconnect(self._read_ready)
            connection.disconnected.disconnect(self._dropped)
            connection.abort()
        self._connections.clear()
        self.server.close()
