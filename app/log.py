"""Logging: a rotating file in the user log folder plus the console; secrets never reach either.

Secrets are kept out in two ways. Code never formats a credential into a message (clients log
codes and record keys only). As a second line, ``SecretRedactor`` masks every value registered
with ``register_secret`` (the vault registers each secret it decrypts) and anything shaped like
an auth header or a ``password=``/``sessionId=`` pair, in the message and in exception text.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
import threading
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
MASK = "«redacted»"

_secrets: set[str] = set()
_secrets_lock = threading.Lock()

# key=value / "key": "value" / header: value shapes that carry credentials.
_SECRET_PATTERNS = [
    re.compile(
        r"(?i)(\"?(?:password|passwd|devKey|sessionId|client_secret|access_token|securityKey|"
        r"web_service_key|apiToken|appKey)\"?\s*[:=]\s*\"?)([^\"&,\s}]+)"
    ),
    re.compile(r"(?i)(authorization\s*[:=]\s*\"?(?:basic|bearer|ntlm|negotiate)\s+)([A-Za-z0-9+/=._~-]+)"),
]


# Words of the connector's own sentences. A "secret" that is one of them (a test password "BILL", a user name
# kept in the vault) would turn "BILL refused the username or password" into "«redacted» refused ...": such a
# value is not masked (it is no secret anyway when every message is full of it).
_OWN_WORDS = frozenset({"bill", "nav", "vendor", "vendors", "invoice", "invoices", "payment", "payments", "sandbox",
                        "production", "password", "username", "user", "login", "refused", "company", "demo"})


def register_secret(value: str | None) -> None:
    """Mask this exact value wherever it would be logged (ignored when too short to be a secret, or when it is
    one of the words the connector's own messages are made of)."""
    if value and len(value) >= 4 and value.strip().lower() not in _OWN_WORDS:
        with _secrets_lock:
            _secrets.add(value)


def redact(text: str) -> str:
    with _secrets_lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


class SecretRedactor(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the log line
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            # Render the traceback now, redacted, so the formatter does not re-render it raw.
            formatter = logging.Formatter()
            record.exc_text = redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        return True


class FileOnly(logging.Filter):
    """Keeps a record off the terminal: ``log.error(..., extra=FILE_ONLY)`` (the command prints its own sentence)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "file_only", False)


FILE_ONLY = {"file_only": True}


class ConsoleFormatter(logging.Formatter):
    """The terminal's format: without ``-v`` a traceback stays in the log file (one line says where)."""

    def __init__(self, fmt: str, tracebacks: bool) -> None:
        super().__init__(fmt, datefmt="%Y-%m-%d %H:%M:%S %Z")  # local time with its zone
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        if self.tracebacks:
            return super().format(record)
        saved = record.exc_info, record.exc_text, record.stack_info
        had_trace = bool(record.exc_info or record.exc_text)
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            text = super().format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved
        return text + (" (details in the log file; -v shows them here)" if had_trace else "")


def setup_logging(log_dir: Path | None, *, level: int = logging.INFO, console: bool = True,
                  console_level: int | None = None, console_tracebacks: bool = True) -> None:
    """Log to ``log_dir``/navbill.log at ``level`` and to stderr at ``console_level`` (default: ``level``).

    Headless commands keep the console quiet (their output is a report or JSON) while the file still
    records what every run did. ``console_tracebacks=False`` (the command line without ``-v``) keeps
    tracebacks in the file only.
    """
    root = logging.getLogger()
    root.setLevel(min(level, console_level or level))
    for handler in list(root.handlers):
        if getattr(handler, "_navbill", False):
            root.removeHandler(handler)
            handler.close()
    handlers: list[logging.Handler] = []
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        file_handler = logging.handlers.RotatingFileHandler(
            log_dir / "navbill.log", maxBytes=2_000_000, backupCount=5, encoding="utf-8"
        )
        handlers.append(file_handler)
    console_handler = None
    if console and sys.stderr is not None:  # windowed frozen builds have no stderr
        console_handler = logging.StreamHandler(sys.stderr)
        console_handler.setLevel(console_level or level)
        handlers.append(console_handler)
    for handler in handlers:
        if handler.level == logging.NOTSET:
            handler.setLevel(level)
        handler._navbill = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.addFilter(SecretRedactor())
        root.addHandler(handler)
    if console_handler is not None:
        console_handler.addFilter(FileOnly())
        console_handler.setFormatter(ConsoleFormatter(LOG_FORMAT, console_tracebacks))
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
