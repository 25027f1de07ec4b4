"""Typed errors. Each names the record and the cause in words an accounts-payable clerk understands.

The engine decides what to do by type: ``RetryableError`` waits in the queue and is tried again,
``RecordError`` holds one record (the run goes on), ``AuthenticationError``/``ConfigurationError``
stop the run for that side. Messages never contain a secret: clients build them from codes and
record keys, never from request headers or bodies.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of every error the connector raises on purpose."""

    def __init__(self, message: str, *, system: str = "", record: str = "", code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.system = system  # "NAV" or "BILL"
        self.record = record  # e.g. "vendor V00010", "bill for invoice PI-1001"
        self.code = code  # e.g. "BDC_1109", "Internal_EntityNotFound", "HTTP 503"

    def __str__(self) -> str:
        parts = [p for p in (self.system, self.record) if p]
        prefix = f"{' '.join(parts)}: " if parts else ""
        return f"{prefix}{self.message}"


class RetryableError(ConnectorError):
    """The system was unreachable, overloaded or rate-limited; the same request may succeed later."""


class RateLimitError(RetryableError):
    """BILL's BDC_1144/BDC_1322 or HTTP 429."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ConnectionFailedError(RetryableError):
    """DNS, TCP, TLS or a dropped connection."""


class AuthenticationError(ConnectorError):
    """Credentials were refused (wrong key, wrong password, expired and could not log in again)."""


class ConfigurationError(ConnectorError):
    """The setup is wrong: unknown server instance, company or organization, missing web service."""


class RecordError(ConnectorError):
    """This one record was refused (invalid field, not found, business rule). Others can go on."""


class ConcurrencyError(RecordError):
    """The record changed since it was read (NAV 412 on a stale ETag)."""


class NotFoundError(RecordError):
    """The record does not exist (any more)."""


class UnknownOutcomeError(RetryableError):
    """A write was sent but no answer came back: it may or may not have happened.

    The engine must look before it writes again (the exactly-once rule)."""
