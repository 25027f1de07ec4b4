"""The HTTP session both clients use: requests' own, reading the workstation's environment once per address.

A workstation inside a company network may reach BILL only through a proxy, trust a company CA, or keep
credentials in a netrc file, so the clients keep requests' ``trust_env``. But requests reads all of that again
for every request: the proxy variables (on Windows, the registry) with their bypass list, the CA bundle
variables, and the netrc file from disk. A first sync sends BILL some 800 requests from three threads, and
those look-ups were about 3% of the connector's CPU (py-spy). Here they are made once per scheme and host, with the same
answers requests would give; a process started after the environment changes sees the change.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.utils import get_netrc_auth


def _as_is(request):
    """An auth that adds nothing: stands for "no netrc entry" so requests does not look for one again."""
    return request


class EnvironmentOnceSession(requests.Session):
    """``requests.Session`` with the environment's proxies, CA bundle and netrc entry looked up once per address."""

    def __init__(self) -> None:
        super().__init__()
        self._settings: dict[tuple, dict[str, Any]] = {}
        self._netrc: dict[str, Any] = {}
        self._lock = threading.Lock()

    def merge_environment_settings(self, url, proxies, stream, verify, cert) -> dict[str, Any]:
        if proxies or not self.trust_env:  # a request that names its proxies: requests' own way
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, stream, verify, _hashable(cert))
        with self._lock:
            found = self._settings.get(key)
        if found is None:
            found = super().merge_environment_settings(url, proxies, stream, verify, cert)
            with self._lock:
                self._settings[key] = found
        return {**found, "proxies": dict(found["proxies"] or {})}

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        if self.trust_env and not request.auth and not self.auth:
            host = urlsplit(str(request.url)).netloc
            with self._lock:
                known = host in self._netrc
                auth = self._netrc.get(host)
            if not known:
                auth = get_netrc_auth(request.url)
                with self._lock:
                    self._netrc[host] = auth
            request.auth = auth or _as_is
        return super().prepare_request(request)


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
