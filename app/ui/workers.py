"""Run blocking work (database, network) off the UI thread and hear back through signals.

``TaskRunner.start(fn, ...)`` runs ``fn`` on the runner's own thread pool. The signals object of
each task is created on the UI thread, so its signals reach UI slots as queued connections: slots
always run on the UI thread, never on the worker. ``fn`` receives a ``TaskContext`` carrying the
cancel flag (a ``threading.Event``, which is what the engine understands) and a progress callback.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from app.domain.errors import ConnectorError
from app.log import redact

log = logging.getLogger("navbill.ui")


class TaskContext:
    def __init__(self, signals: TaskSignals) -> None:
        self.cancel = threading.Event()
        self._signals = signals

    def progress(self, message: str, done: int = 0, total: int = 0) -> None:
        self._signals.progress.emit(str(message), int(done), int(total))


class TaskSignals(QObject):
    progress = Signal(str, int, int)  # message, done, total (0 = unknown)
    succeeded = Signal(object)  # the function's return value
    failed = Signal(str)  # what went wrong, in words for the user (secrets redacted)
    finished = Signal()  # after succeeded or failed


def describe_error(error: BaseException) -> str:
    if isinstance(error, ConnectorError):
        return redact(str(error))
    return redact(f"Unexpected error: {type(error).__name__}: {error}")


class Task(QRunnable):
    def __init__(self, name: str, fn: Callable[[TaskContext], Any]) -> None:
        super().__init__()
        self.setAutoDelete(False)  # Python owns it (TaskRunner keeps it until finished)
        self.name = name
        self.signals = TaskSignals()
        self.context = TaskContext(self.signals)
        self._fn = fn

    def cancel(self) -> None:
        self.context.cancel.set()

    def run(self) -> None:
        try:
            result = self._fn(self.context)
        except Exception as error:  # every failure must reach the user, not kill the worker thread
            if not isinstance(error, ConnectorError):
                log.exception("Task %s failed", self.name)
            self.signals.failed.emit(describe_error(error))
        else:
            self.signals.succeeded.emit(result)
        finally:
            self.signals.finished.emit()


class TaskRunner(QObject):
    """Owns a thread pool and the tasks running on it; ``busy_changed`` tells the window when to show it."""

    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None, max_threads: int = 4) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._tasks: set[Task] = set()
        self._quiet: set[Task] = set()  # kept alive while they run, never shown as busy

    def start(self, name: str, fn: Callable[[TaskContext], Any], *,
              on_success: Callable[[Any], None] | None = None,
              on_failure: Callable[[str], None] | None = None,
              on_progress: Callable[[str, int, int], None] | None = None, quiet: bool = False) -> Task:
        """Run ``fn`` on the pool. A ``quiet`` task (a timer's look, say) does not make the window busy."""
        task = Task(name, fn)
        if on_success is not None:
            task.signals.succeeded.connect(on_success)
        if on_failure is not None:
            task.signals.failed.connect(on_failure)
        if on_progress is not None:
            task.signals.progress.connect(on_progress)
        if quiet:
            self._quiet.add(task)
            task.signals.finished.connect(lambda: shiboken6.isValid(self) and self._quiet.discard(task))
            self._pool.start(task)
            return task
        task.signals.finished.connect(lambda: self._forget(task))
        was_idle = not self._tasks
        self._tasks.add(task)
        if was_idle:
            self.busy_changed.emit(True)
        self._pool.start(task)
        return task

    def _forget(self, task: Task) -> None:
        if not shiboken6.isValid(self):  # the window (and this runner) went while the task ran: nobody to tell
            return
        self._tasks.discard(task)
        if not self._tasks:
            self.busy_changed.emit(False)

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    def cancel_all(self) -> None:
        for task in list(self._tasks | self._quiet):
            task.cancel()

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel what runs and wait for the threads (quit, test teardown)."""
        self.cancel_all()
        return self._pool.waitForDone(timeout_ms)
