"""The clients' HTTP session reads the workstation's environment (proxies, netrc) once per address, and still
honours it: a company proxy and a netrc entry apply exactly as with a plain ``requests.Session``."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from app.clients import http_session
from app.clients.http_session import EnvironmentOnceSession


class _Recorder(BaseHTTPRequestHandler):
    """Answers 200 to anything and records the request line and Authorization header (a proxy sees the full
    URL in its request line)."""

    seen: list[tuple[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        _Recorder.seen.append((self.path, self.headers.get("Authorization", "")))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def server():
    _Recorder.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def clean_environment(monkeypatch, tmp_path):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy",
                 "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    return monkeypatch


def test_a_proxy_from_the_environment_carries_every_request_and_is_looked_up_once(server, clean_environment):
    # The loopback server plays the company proxy: requests sends it the absolute URL of the real host.
    clean_environment.setenv("HTTP_PROXY", server)
    lookups = []
    real = http_session.requests.Session.merge_environment_settings

    def counting(self, *args, **kwargs):
        lookups.append(args[0])
        return real(self, *args, **kwargs)

    clean_environment.setattr(http_session.requests.Session, "merge_environment_settings", counting)
    session = EnvironmentOnceSession()
    for number in range(5):
        assert session.get(f"http://bill.example.invalid/v3/vendors?page={number}", timeout=5).status_code == 200
    session.get("http://nav.example.invalid:7048/ODataV4/Company", timeout=5)

    assert [path for path, _ in _Recorder.seen] == [
        *(f"http://bill.example.invalid/v3/vendors?page={n}" for n in range(5)),
        "http://nav.example.invalid:7048/ODataV4/Company"]
    assert lookups == ["http://bill.example.invalid/v3/vendors?page=0", "http://nav.example.invalid:7048/ODataV4/Company"]


def test_a_host_on_the_bypass_list_is_reached_directly(server, clean_environment):
    clean_environment.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there: a proxy would fail
    clean_environment.setenv("NO_PROXY", "127.0.0.1")
    session = EnvironmentOnceSession()
    for _ in range(3):
        assert session.get(f"{server}/v3/vendors", timeout=5).status_code == 200
    assert [path for path, _ in _Recorder.seen] == ["/v3/vendors"] * 3


def test_a_netrc_entry_still_signs_requests_and_its_absence_adds_nothing(server, clean_environment, tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login proxyuser password proxypass\n", encoding="utf-8")
    netrc.chmod(0o600)
    clean_environment.setenv("NETRC", str(netrc))
    plain, once = requests.Session(), EnvironmentOnceSession()
    plain.get(f"{server}/a", timeout=5)
    once.get(f"{server}/b", timeout=5)
    once.get(f"{server}/c", timeout=5)
    assert _Recorder.seen[0][1].startswith("Basic ")
    assert [auth for _, auth in _Recorder.seen[1:]] == [_Recorder.seen[0][1]] * 2

    netrc.unlink()
    _Recorder.seen = []
    fresh = EnvironmentOnceSession()
    fresh.get(f"{server}/d", timeout=5)
    fresh.get(f"{server}/e", timeout=5)
    assert _Recorder.seen == [("/d", ""), ("/e", "")]
