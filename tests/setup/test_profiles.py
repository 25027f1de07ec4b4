"""Connection profiles: several companies/environments, one active, secrets only in the vault."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine

from app.domain.errors import ConfigurationError
from app.sandbox import demo_data
from app.setup.config import app_paths
from app.setup.profiles import (
    BillSettings,
    NavSettings,
    Profile,
    ProfileStore,
    bill_session_store,
    build_bill_connection,
    build_nav_connection,
    demo_profile,
    demo_secrets,
    secret_name,
)
from app.setup.vault import Vault

FAST_SCRYPT = 2**14


@pytest.fixture
def vault(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'vault.sqlite3'}")
    return Vault.open_with_passphrase(engine, "profiles test passphrase", scrypt_n=FAST_SCRYPT)


@pytest.fixture
def store(tmp_path, vault):
    return ProfileStore(app_paths(tmp_path).ensure(), vault)


def production_profile() -> Profile:
    return Profile(
        name="Cronus production",
        environment="production",
        nav=NavSettings(server="navsrv01", server_instance="DynamicsNAV110", company="CRONUS Fabrication",
                        user="SYNC"),
        bill=BillSettings(username="ap@cronusfab.example", organization_id="00801PROD", environment="production"),
    )


def test_first_profile_becomes_active_and_others_do_not(store):
    saved = store.save(demo_profile("http://127.0.0.1:7048", "http://127.0.0.1:7080"), demo_secrets())
    assert saved.active
    store.save(production_profile(), {"bill.password": "prod-password-1"})
    assert [p.name for p in store.list()] == ["Demo (sandboxes)", "Cronus production"]
    assert store.active().name == "Demo (sandboxes)"
    store.set_active("Cronus production")
    assert store.active().name == "Cronus production"
    assert store.get("Cronus production").is_production
    assert [p.active for p in store.list()] == [False, True]


def test_secrets_go_to_the_vault_not_the_settings_file(store, vault):
    store.save(production_profile(), {"bill.password": "prod-password-1", "bill.dev_key": "prod-devkey-9",
                                      "nav.web_service_key": "prod-ws-key-5"})
    text = store.path.read_text(encoding="utf-8")
    for value in ("prod-password-1", "prod-devkey-9", "prod-ws-key-5"):
        assert value not in text
    assert json.loads(text)["active"] == "Cronus production"
    assert vault.get("profile/Cronus production/bill.password") == "prod-password-1"
    assert sorted(store.saved_secret_keys("Cronus production")) == ["bill.dev_key", "bill.password",
                                                                     "nav.web_service_key"]


def test_save_leaves_unmentioned_secrets_and_removes_blank_ones(store):
    store.save(production_profile(), {"bill.password": "first-password", "bill.dev_key": "the-devkey"})
    store.save(production_profile(), {"bill.password": "second-password", "bill.dev_key": ""})
    assert store.secret("Cronus production", "bill.password") == "second-password"
    assert store.secret("Cronus production", "bill.dev_key") is None


def test_unknown_secret_key_is_refused_before_writing(store):
    with pytest.raises(ValueError, match="Unknown profile secret"):
        store.save(production_profile(), {"bill.pasword": "typo"})
    assert store.list() == []


def test_delete_removes_profile_and_its_secrets(store, vault):
    store.save(demo_profile("http://127.0.0.1:7048", "http://127.0.0.1:7080"), demo_secrets())
    store.save(production_profile(), {"bill.password": "prod-password-1"})
    store.delete("Demo (sandboxes)")
    assert [p.name for p in store.list()] == ["Cronus production"]
    assert store.active().name == "Cronus production"  # the active one moved on
    assert all(not n.startswith("profile/Demo (sandboxes)/") for n in vault.names())
    assert vault.get("profile/Cronus production/bill.password") == "prod-password-1"
    with pytest.raises(ConfigurationError, match="no connection profile"):
        store.delete("Demo (sandboxes)")


def test_bad_names_and_missing_profiles(store):
    with pytest.raises(ConfigurationError):
        store.save(Profile(name="a/b"))
    with pytest.raises(ConfigurationError):
        store.save(Profile(name="  "))
    with pytest.raises(ConfigurationError):
        store.get("nope")
    with pytest.raises(ConfigurationError):
        store.set_active("nope")
    assert store.active() is None


def test_damaged_settings_file_is_a_clear_error(store):
    store.path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="cannot be read"):
        store.list()


def test_settings_survive_a_new_store(tmp_path, vault):
    ProfileStore(tmp_path / "cfg", vault).save(production_profile())
    again = ProfileStore(tmp_path / "cfg", vault).get("Cronus production")
    assert again.nav.server == "navsrv01" and again.nav.port == 7048
    assert again.bill.organization_id == "00801PROD"


def test_urls_derived_from_settings():
    nav = NavSettings(server="navsrv01", server_instance="DynamicsNAV110")
    assert nav.effective_base_url() == "http://navsrv01:7048"
    assert NavSettings(server="nav.example", port=443, use_https=True).effective_base_url() == \
        "https://nav.example:443"
    online = NavSettings(mode="online", tenant="contoso.onmicrosoft.com", environment_name="production")
    assert online.effective_base_url().startswith("https://api.businesscentral.dynamics.com/v2.0/contoso")
    assert online.effective_token_url() == \
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    assert BillSettings(environment="production").effective_base_urls()[0] == \
        "https://gateway.prod.bill.com/connect"
    assert BillSettings().effective_base_urls()[1] == "https://gateway.stage.bill.com/connect-events"


def test_secret_names_follow_the_documented_scheme():
    assert secret_name("Acme", "bill.session_id") == "profile/Acme/bill.session_id"
    with pytest.raises(ValueError):
        secret_name("Acme", "bill.username")


def test_bill_session_store_round_trip(store, vault):
    profile = store.save(production_profile())
    saved, save = bill_session_store(profile, vault)
    assert saved is None
    save("session-abc-123")
    assert bill_session_store(profile, vault)[0] == "session-abc-123"
    save(None)
    assert bill_session_store(profile, vault)[0] is None


def test_build_connections_from_demo_profile(store, vault):
    pytest.importorskip("app.clients.nav", reason="app/clients/nav.py not written yet")
    pytest.importorskip("app.clients.bill", reason="app/clients/bill.py not written yet")
    profile = store.save(demo_profile("http://127.0.0.1:17048", "http://127.0.0.1:17080"), demo_secrets())
    nav = build_nav_connection(profile, vault)
    assert nav.base_url == "http://127.0.0.1:17048"
    assert nav.server_instance == demo_data.SERVER_INSTANCE and nav.company == demo_data.COMPANY_NAME
    assert nav.web_service_key == demo_data.NAV_WEB_SERVICE_KEY
    bill = build_bill_connection(profile, vault)
    assert bill.base_url == "http://127.0.0.1:17080/connect"
    assert bill.events_base_url == "http://127.0.0.1:17080/connect-events"
    assert (bill.password, bill.dev_key) == (demo_data.BILL_PASSWORD, demo_data.BILL_DEV_KEY)
    assert bill.organization_id == demo_data.BILL_ORGANIZATION_ID
