"""The connection test against the NAV and BILL sandboxes, with each fault it must tell apart."""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import threading

import pytest

from app.check import FAIL, PASS, SKIPPED, run_checks
from app.sandbox import demo_data


def closed_port() -> int:
    """A port nothing listens on: bind to get a free one, then close it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def first_failure(report):
    failures = report.failures()
    assert failures, report.as_table()
    return failures[0]


def test_all_green(sandboxes):
    seen = []
    report = run_checks(sandboxes.nav_connection(), sandboxes.bill_connection(), progress=seen.append)
    assert report.ok, report.as_table()
    assert seen == report.steps
    for side in ("NAV", "BILL"):
        for key in ("dns", "tcp", "auth" if side == "NAV" else "login", "write", "webhooks"):
            assert report.step(side, key).status == PASS, (side, key)
        assert report.step(side, "tls").status == SKIPPED  # plain http on loopback
    for key in ("vendors", "posted_invoices", "gl_accounts", "dimensions", "vendor_ledger_entries"):
        assert report.step("NAV", f"read.{key}").status == PASS
    for key in ("vendors", "bills", "payments", "chart_of_accounts", "classifications"):
        assert report.step("BILL", f"read.{key}").status == PASS
    assert "All checks passed" in report.as_table()
    assert json.loads(report.to_json())["ok"] is True


def test_write_probe_changes_nothing(sandboxes):
    from app.clients.bill import BillClient
    from app.clients.nav import NavClient

    nav = NavClient(sandboxes.nav_connection())
    bill = BillClient(sandboxes.bill_connection())
    nav_before = {v.number: v.fields for v in nav.iter_vendors()}
    bill_before = {v.id: v.fields for v in bill.iter_vendors()}
    report = run_checks(sandboxes.nav_connection(), sandboxes.bill_connection())
    assert report.step("NAV", "write").status == PASS and report.step("BILL", "write").status == PASS
    assert {v.number: v.fields for v in nav.iter_vendors()} == nav_before
    assert {v.id: v.fields for v in bill.iter_vendors()} == bill_before


def test_production_profile_never_writes(sandboxes):
    sandboxes.nav.reset_log()
    sandboxes.bill.reset_log()
    report = run_checks(sandboxes.nav_connection(), sandboxes.bill_connection(), allow_write=False)
    assert report.ok
    for side in ("NAV", "BILL"):
        step = report.step(side, "write")
        assert step.status == SKIPPED and "production" in step.detail
    assert sandboxes.nav.count("PATCH") == 0 and sandboxes.nav.count("POST") == 0
    assert sandboxes.bill.count("PATCH") == 0 and sandboxes.bill.count("POST", "/vendors") == 0


def test_closed_nav_port_names_port_and_firewall(sandboxes):
    port = closed_port()
    report = run_checks(sandboxes.nav_connection(base_url=f"http://127.0.0.1:{port}"), None)
    step = first_failure(report)
    assert step.key == "tcp"
    assert f"Nothing answers on port {port} of 127.0.0.1" in step.detail
    assert "service tier is stopped" in step.detail and "firewall" in step.detail
    assert "DynamicsNAV110" in step.fix and str(port) in step.fix
    assert report.step("NAV", "auth").status == SKIPPED
    assert not report.ok


def test_closed_bill_port(sandboxes):
    port = closed_port()
    report = run_checks(None, sandboxes.bill_connection(base_url=f"http://127.0.0.1:{port}/connect"))
    step = first_failure(report)
    assert step.side == "BILL" and step.key == "tcp" and str(port) in step.detail
    assert report.step("BILL", "login").status == SKIPPED


def test_unknown_host_fails_at_dns(sandboxes):
    report = run_checks(sandboxes.nav_connection(base_url="http://no-such-nav-server.invalid:7048"), None)
    step = first_failure(report)
    assert step.key == "dns" and "no-such-nav-server.invalid" in step.detail and "server name" in step.fix


def test_bad_url_fails_at_address(sandboxes):
    report = run_checks(sandboxes.nav_connection(base_url="navsrv01:7048"), None)
    assert first_failure(report).key == "address"


def test_wrong_instance(sandboxes):
    report = run_checks(sandboxes.nav_connection(server_instance="DynamicsNAV90"), None)
    step = first_failure(report)
    assert step.key == "instance" and "DynamicsNAV90" in step.detail and "wrong instance" in step.detail
    assert "NAV Server Administration" in step.fix
    assert report.step("NAV", "company").status == SKIPPED


def test_wrong_company_lists_the_ones_found(sandboxes):
    report = run_checks(sandboxes.nav_connection(company="CRONUS USA"), None)
    step = first_failure(report)
    assert step.key == "company" and "wrong company" in step.detail
    assert demo_data.COMPANY_NAME in step.detail
    assert report.step("NAV", "auth").status == PASS


def test_bad_web_service_key(sandboxes):
    report = run_checks(sandboxes.nav_connection(web_service_key="not-the-key"), None)
    step = first_failure(report)
    assert step.key == "auth" and "Web Service Access Key" in step.fix and "ADMIN" in step.fix
    assert report.step("NAV", "instance").status == PASS
    assert "not-the-key" not in report.to_json()


def test_missing_settings_are_named(sandboxes):
    report = run_checks(sandboxes.nav_connection(web_service_key="", company=""),
                        sandboxes.bill_connection(dev_key=""))
    nav, bill = report.failures()
    assert nav.key == "settings" and "web-service access key" in nav.detail and "company" in nav.detail
    assert bill.key == "settings" and "developer key" in bill.detail


def test_nav_online_oauth(sandboxes):
    online = dict(mode="online", base_url=f"{sandboxes.nav_url}/v2.0/{demo_data.NAV_TENANT}/production",
                  tenant=demo_data.NAV_TENANT, client_id=demo_data.NAV_CLIENT_ID,
                  client_secret=demo_data.NAV_CLIENT_SECRET, user="", web_service_key="",
                  token_url=f"{sandboxes.nav_url}/{demo_data.NAV_TENANT}/oauth2/v2.0/token")
    report = run_checks(sandboxes.nav_connection(**online), None, allow_write=False)
    assert report.ok, report.as_table()
    bad = run_checks(sandboxes.nav_connection(**{**online, "client_secret": "wrong-secret"}), None)
    step = first_failure(bad)
    assert step.key == "auth" and "Azure AD" in step.fix


def test_wrong_bill_password(sandboxes):
    report = run_checks(None, sandboxes.bill_connection(password="wrong-password"))
    step = first_failure(report)
    assert step.key == "login" and "username or password" in step.detail
    assert "wrong-password" not in report.to_json()


def test_wrong_bill_dev_key(sandboxes):
    report = run_checks(None, sandboxes.bill_connection(dev_key="wrong-dev-key"))
    step = first_failure(report)
    assert step.key == "login" and "developer key" in step.detail and "sandbox" in step.fix


def test_wrong_bill_organization(sandboxes):
    report = run_checks(None, sandboxes.bill_connection(organization_id="00802NOTOURS"))
    step = first_failure(report)
    assert step.key == "organization" and "008" in step.fix
    assert report.step("BILL", "login").status == PASS
    assert report.step("BILL", "read.vendors").status == SKIPPED


def test_server_errors_on_both_sides(sandboxes):
    sandboxes.set_faults("5xx=1")
    report = run_checks(sandboxes.nav_connection(), sandboxes.bill_connection())
    nav, bill = report.failures()
    assert nav.side == "NAV" and nav.key == "instance" and "run the test again" in nav.fix
    assert bill.side == "BILL" and bill.key == "login" and "run the test again" in bill.fix
    assert report.step("NAV", "tcp").status == PASS  # the port answers; the service behind it does not


def test_cancel_stops_between_steps(sandboxes):
    stop = threading.Event()

    def progress(step):
        if step.key == "tcp":
            stop.set()

    report = run_checks(sandboxes.nav_connection(), sandboxes.bill_connection(), progress=progress, cancel=stop)
    assert report.cancelled and not report.ok
    assert report.steps[-1].key == "tcp" and all(s.side == "NAV" for s in report.steps)


def _self_signed_server(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass

    threading.Thread(target=serve, daemon=True).start()
    return listener


def test_untrusted_certificate_fails_at_tls(sandboxes, tmp_path):
    listener = _self_signed_server(tmp_path)
    try:
        port = listener.getsockname()[1]
        report = run_checks(sandboxes.nav_connection(base_url=f"https://localhost:{port}"), None)
    finally:
        listener.close()
    step = first_failure(report)
    assert step.key == "tls" and "not trusted" in step.detail and "certificate" in step.fix


def test_cli_demo_json(navbill_home, capsys):
    from app.__main__ import main

    assert main(["--home", str(navbill_home), "check", "--demo", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True
    assert out["steps"][0]["side"] == "Vault" and out["steps"][0]["status"] == PASS
    assert {s["status"] for s in out["steps"]} <= {PASS, SKIPPED}
    assert not any(s["status"] == FAIL for s in out["steps"])


def test_cli_without_profile_explains(navbill_home, capsys, monkeypatch):
    from keyring.backends import fail

    import app.setup.vault
    from app.__main__ import main

    monkeypatch.setattr(app.setup.vault, "_default_backend", lambda: fail.Keyring())
    navbill_home.mkdir()
    assert main(["--home", str(navbill_home), "check"]) == 2
    assert "No connection profile" in capsys.readouterr().err  # errors go to stderr, as in every command


def test_cli_demo_leaves_real_profiles_and_vault_alone(navbill_home, capsys):
    from sqlalchemy import create_engine

    from app.__main__ import main
    from app.setup.config import app_paths
    from app.setup.profiles import BillSettings, Profile, ProfileStore
    from app.setup.vault import Vault
    from tests.setup.test_vault import MemoryKeyring

    paths = app_paths(navbill_home).ensure()
    vault = Vault.open(create_engine(paths.database_url), keyring_backend=MemoryKeyring())  # a real, keyring vault
    ProfileStore(paths, vault).save(Profile("Cronus production", environment="production",
                                            bill=BillSettings(environment="production")))
    for _ in range(2):  # twice: the demo starts fresh each time
        assert main(["--home", str(navbill_home), "check", "--demo", "--json"]) == 0
    capsys.readouterr()
    real = ProfileStore(paths, vault)
    assert [p.name for p in real.list()] == ["Cronus production"]
    assert real.active().name == "Cronus production"


@pytest.mark.parametrize("fault, expected_in_fix", [
    ("bill.ratelimit=1", "3 requests at once"),  # BDC_1322: another program shares the developer key
    ("bill.expire=1", "ended the session"),  # every session dies at once: not a credentials problem
])
def test_each_bill_fault_gets_its_own_advice(sandboxes, fault, expected_in_fix):
    sandboxes.set_faults(fault)
    report = run_checks(None, sandboxes.bill_connection())
    step = first_failure(report)
    assert step.side == "BILL" and expected_in_fix in step.fix, (step.key, step.detail, step.fix)
    assert "password" not in step.fix.lower()  # the credentials are right: do not send the clerk chasing them


def test_nav_rate_limit_and_latency_are_survived_or_explained(sandboxes):
    sandboxes.set_faults("nav.latency=50ms")
    assert run_checks(sandboxes.nav_connection(), None).ok  # slow is not broken
    sandboxes.set_faults("nav.ratelimit=1")
    step = first_failure(run_checks(sandboxes.nav_connection(), None))
    assert step.side == "NAV" and "run the test again" in step.fix


def test_the_test_counts_its_bill_requests_with_the_syncs_and_stops_at_the_stop_line(sandboxes, tmp_path):
    from app.clients.bill_budget import shared_budget

    budget = shared_budget(tmp_path, demo_data.BILL_ORGANIZATION_ID, limit=40, headroom=0.5)
    report = run_checks(None, sandboxes.bill_connection(), bill_budget=budget)
    step = report.step("BILL", "budget")
    used = budget.status().used
    assert step.status == PASS and used >= 8, report.as_table()
    assert step.detail == (f"BILL requests this hour: {used} / 40. The connector stops at 20 this hour, keeping 20 "
                           f"for the organization's other integrations; the count starts again at "
                           f"{budget.status().resets_at:%H:%M} UTC.")

    while budget.status().left:  # the syncs of this hour used the rest, up to the stop line
        budget.take()
    again = run_checks(None, sandboxes.bill_connection(), bill_budget=shared_budget(
        tmp_path, demo_data.BILL_ORGANIZATION_ID, limit=40, headroom=0.5))
    login = again.step("BILL", "login")
    assert login.status == FAIL and "used up to the stop line (20 of 40 requests; 20 kept for other integrations)" \
        in login.detail, again.as_table()
    assert "lower the setting bill_budget_headroom_percent" in login.fix
    assert again.step("BILL", "budget").status == SKIPPED
    assert budget.status().used == 20  # the refused test sent nothing
