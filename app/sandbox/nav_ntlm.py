"""The server side of NTLM for the NAV sandbox, on pyspnego's NTLM acceptor.

A NAV service tier whose credential type is Windows answers an unauthenticated request with
``401`` and ``WWW-Authenticate: Negotiate`` / ``NTLM``; the client then runs a three-leg handshake on
ONE TCP connection (NEGOTIATE → 401 with CHALLENGE → AUTHENTICATE), and the connection stays
authenticated as that Windows account. ``NtlmAcceptor`` does the two server legs.

pyspnego's acceptor reads the accounts it accepts from the file named by the ``NTLM_USER_FILE``
environment variable, both when the context is created and when the AUTHENTICATE message is checked.
Each acceptor writes its own file (mode 0600, in a private temp directory, removed by ``close``), and
points the variable at it only while it runs a handshake step, under one process-wide lock, so two
sandboxes with different accounts in one process never see each other's file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator

import spnego
from spnego.exceptions import SpnegoError

ENV_VAR = "NTLM_USER_FILE"
_env_lock = threading.Lock()

NTLMSSP = b"NTLMSSP\x00"
NEGOTIATE_MESSAGE, AUTHENTICATE_MESSAGE = 1, 3


def message_type(token: bytes) -> int:
    """1 (NEGOTIATE), 2 (CHALLENGE), 3 (AUTHENTICATE), or 0 when this is not a raw NTLM message."""
    if len(token) < 12 or not token.startswith(NTLMSSP):
        return 0
    return int.from_bytes(token[8:12], "little")


class NtlmAcceptor:
    """Accepts the given Windows accounts (``{"DOMAIN\\\\user": password}``) over NTLM.

    A bare user name (no domain) is taken as a user of the server's own domain, as a domain-joined
    server would; the identity reported is then ``DOMAIN\\user`` all the same.
    """

    def __init__(self, accounts: dict[str, str]) -> None:
        self._domains: dict[str, str] = {}  # upper-case user → DOMAIN
        lines = []
        for account, password in accounts.items():
            domain, _, user = account.rpartition("\\")
            if not domain or not user or ":" in account or ":" in password:
                raise ValueError("A Windows account is DOMAIN\\user, without ':' in it or in its password")
            self._domains.setdefault(user.upper(), domain)
            lines.append(f"{domain}:{user}:{password}")  # Heimdal format, read by pyspnego
            lines.append(f":{user}:{password}")  # the same user named without its domain
        self._dir = tempfile.mkdtemp(prefix="navbill-ntlm-")
        self.path = os.path.join(self._dir, "users")
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)

    @contextlib.contextmanager
    def _users_file(self) -> Iterator[None]:
        with _env_lock:
            previous = os.environ.get(ENV_VAR)
            os.environ[ENV_VAR] = self.path
            try:
                yield
            finally:
                if previous is None:
                    os.environ.pop(ENV_VAR, None)
                else:
                    os.environ[ENV_VAR] = previous

    def challenge(self, negotiate: bytes) -> tuple[spnego.ContextProxy, bytes]:
        """The server context for this connection and the CHALLENGE answering a NEGOTIATE message.

        Raises SpnegoError for a malformed message."""
        with self._users_file():
            context = spnego.server(protocol="ntlm", options=spnego.NegotiateOptions.use_ntlm)
            challenge = context.step(negotiate)
        if not challenge:
            raise SpnegoError(context_msg="no NTLM challenge produced")
        return context, challenge

    def authenticate(self, context: spnego.ContextProxy, authenticate: bytes) -> str | None:
        """``DOMAIN\\user`` when the AUTHENTICATE message proves the account's password, else None."""
        try:
            with self._users_file():
                context.step(authenticate)
        except SpnegoError:  # unknown user, wrong password, malformed message
            return None
        principal = context.client_principal if context.complete else None
        if not principal:
            return None
        domain, _, user = principal.rpartition("\\")
        return f"{self._domains.get(user.upper(), domain)}\\{user}"
