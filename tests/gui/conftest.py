"""GUI fixtures: a real store on a temp SQLite file, filled the way a sync would leave it, and the window on it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from app.domain.models import VENDOR_SYNC_FIELDS


def vendor_fields(name: str, **values) -> dict:
    fields = {f: "" for f in VENDOR_SYNC_FIELDS}
    fields.update(is_1099=False, inactive=False, name=name, city="Pittsburgh", state="PA", country="US")
    fields.update(values)
    return fields


def seed_store(store) -> None:
    """A store as a first sync of the demo company leaves it, written through the schema tables."""
    from app.store import schema as t

    now = datetime.now(UTC)
    with store.session() as s:
        acme = vendor_fields("Acme Steel Supply", email="ap@acme.example", phone="412-555-0100")
        s.add(t.VendorLink(nav_number="V00010", bill_id="00901ACME", name="Acme Steel Supply", status="linked",
                           nav_snapshot=acme, bill_snapshot=dict(acme), synced_at=now))
        keystone = vendor_fields("Keystone Paint & Coatings", city="Harrisburg", phone="717-555-0111")
        s.add(t.VendorLink(nav_number="V00070", bill_id="00901KEYS", name="Keystone Paint & Coatings",
                           status="linked", nav_snapshot=keystone, bill_snapshot=dict(keystone), synced_at=now))
        s.add(t.Conflict(record_key="V00070", bill_id="00901KEYS", field="phone", nav_value="717-555-0199",
                         bill_value="717-555-0123", nav_time=now, bill_time=now))
        s.add(t.Conflict(record_key="V00070", bill_id="00901KEYS", field="email", nav_value="ap@keystone.example",
                         bill_value="billing@keystone.example", nav_time=now, bill_time=now))
        lakes = vendor_fields("Great Lakes Aluminum", city="Cleveland", state="OH")
        s.add(t.VendorLink(nav_number="V00040", bill_id="00901LAKE", name="Great Lakes Aluminum", status="proposed",
                           match_reason="very similar name 'Great Lakes Aluminium'", candidate_ids=["00901LAKE"],
                           nav_snapshot=lakes))
        s.add(t.BillVendorCandidate(bill_id="00901LAKE", exact_name="Great Lakes Aluminium",
                                    name_key="great lakes aluminium", email_key="", tax_key="",
                                    fields=vendor_fields("Great Lakes Aluminium", city="Cleveland", state="OH"),
                                    claimed_by="V00040"))
        s.add(t.VendorLink(nav_number="V00120", bill_id="", name="Riverbend Plastics", status="rejected",
                           nav_snapshot=vendor_fields("Riverbend Plastics", city="Louisville", state="KY")))
        s.add(t.BillVendorCandidate(bill_id="00901ORPH", exact_name="Metro Courier Service",
                                    name_key="metro courier service", email_key="", tax_key="",
                                    fields=vendor_fields("Metro Courier Service", city="Pittsburgh")))
        s.add(t.InvoiceLink(nav_number="PI-1001", vendor_number="V00010", vendor_invoice_number="AC-7781",
                            bill_id="00n01AAA", state="created", amount=Decimal("1250.00"),
                            posting_date=date(2026, 12, 5), document_date=date(2026, 12, 3),
                            due_date=date(2027, 1, 4)))
        s.add(t.InvoiceLink(nav_number="PI-1002", vendor_number="V00040", vendor_invoice_number="GL-332",
                            state="held", amount=Decimal("980.40"), posting_date=date(2026, 10, 20),
                            document_date=date(2026, 10, 20), due_date=date(2026, 11, 19)))
        # Recorded before the store kept invoice dates (schema 3): no dates.
        s.add(t.InvoiceLink(nav_number="PI-1003", vendor_number="V00010", vendor_invoice_number="AC-7790",
                            state="held", amount=Decimal("410.00")))
        s.add(t.QueueItem(kind="invoice", record_key="PI-1002", reason="vendor V00040 is not linked to a BILL vendor"))
        s.add(t.QueueItem(kind="invoice", record_key="PI-1003",  # as app.engine.flows.bill_lines says it
                          reason="line 10000: G/L 6150 Shop Supplies has no BILL account"))
        s.add(t.QueueItem(kind="payment", record_key="stp01FAIL", reason="NAV refused the journal line",
                          last_error="NAV: the journal batch BILL does not exist", retry_count=3, retryable=True))
        s.add(t.PaymentLink(payment_id="stp01PAID", bill_id="00n01AAA", vendor_number="V00010",
                            nav_invoice_number="PI-1001", nav_document_number="BILLPAY000001",
                            amount=Decimal("1250.00"), state="posted", posted_at=now))
        s.add(t.PaymentLink(payment_id="stp01WAIT", bill_id="00n01BBB", vendor_number="V00070",
                            nav_invoice_number="PI-0990", amount=Decimal("300.00"), state="held"))
        for number, name in (("5110", "Raw Materials"), ("6100", "Office Supplies"), ("6150", "Shop Supplies")):
            s.add(t.NavGLAccountCache(number=number, name=name))
        for account_id, number, name in (("0ca01RAW", "5110", "Raw Materials"), ("0ca01OFF", "6100", "Office Supplies"),
                                         ("0ca01SHOP", "6155", "Shop Consumables")):
            s.add(t.BillAccountCache(id=account_id, number=number, name=name))
        s.add(t.AccountMapping(nav_account="5110", bill_account_id="0ca01RAW", source="user"))
        s.add(t.AccountMapping(nav_account="6100", bill_account_id="0ca01OFF", source="suggested",
                               reason="same number 6100"))
        s.add(t.Run(started_at=now - timedelta(minutes=3), finished_at=now - timedelta(minutes=2),
                    status="completed", counts={"vendors": {"created": 2, "updated": 1}}, flows=["vendors"]))
        s.add(t.AuditEntry(system="BILL", action="create_vendor", record="vendor V00010", detail={"id": "00901ACME"}))
        s.add(t.AuditEntry(system="NAV", action="post_payment", record="payment stp01PAID",
                           detail={"document": "BILLPAY000001"}))
        s.add(t.AuditEntry(system="user", action="link", record="vendor V00010"))


@pytest.fixture(autouse=True)
def collect_qt_leftovers():
    """After each GUI test, once its windows have stopped their workers: delete what it left for later (deleteLater)
    and collect its unreachable Qt wrappers now. Left to Python's collector, they were deleted at some later moment,
    inside another test's event loop with its loading worker running, which crashed the process (in test_screens,
    after the demo-window tests, about once in three runs)."""
    import gc

    yield
    from PySide6.QtCore import QCoreApplication, QEvent

    if QCoreApplication.instance() is not None:
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()


@pytest.fixture
def store(tmp_path):
    from app.store import open_store

    opened = open_store(f"sqlite:///{tmp_path / 'gui.sqlite3'}")
    yield opened
    opened.close()


@pytest.fixture
def seeded_store(store):
    seed_store(store)
    return store


@pytest.fixture
def window(qtbot, seeded_store):
    from app.ui.main_window import MainWindow
    from app.ui.store_backend import StoreBackend

    main_window = MainWindow(StoreBackend(seeded_store))
    qtbot.addWidget(main_window)
    with qtbot.waitSignal(main_window.refreshed, timeout=10_000):
        main_window.refresh()
    yield main_window
    main_window.shutdown()


def settings_wizard(qtbot, window, session, first_run: bool = False):
    """Settings (or the first run's wizard) as the app opens it: what it shows is read on a worker, then it opens.
    The UI thread never waits for the store meanwhile, so the window stays usable."""
    from app.ui.application import open_settings

    with qtbot.waitSignal(window.settings_opened, timeout=30_000) as opened:
        open_settings(window, session, first_run=first_run)
        assert window.settings_loading or window.settings_wizard is not None
    return opened.args[0]


def close_window(qtbot, window, session, host=None) -> None:
    """Stop the window's service (when it runs), then close the window as Quit does, and its session."""
    if host is not None and host.running:
        with qtbot.waitSignal(host.stopped, timeout=60_000):
            host.stop()
    window.shutdown()
    window.quitting = True
    window.close()
    window.deleteLater()
    # Delete it now, inside this test, before its session closes: left to a later test's event loop, the deletion of
    # a demo window (its service host, bridge and timers) crashed that loop about once in three runs.
    from PySide6.QtCore import QCoreApplication, QEvent

    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    session.close()


def demo_window(qtbot, home, nav_flavor: str = "bc", size: tuple[int, int] | None = None):
    """(session, window): the window on the demo sandboxes, shown, as a clerk starts it."""
    from app.ui.application import open_session
    from app.ui.main_window import MainWindow

    session = open_session(home, demo=True, nav_flavor=nav_flavor)
    window = MainWindow(session.backend, profile_name=session.profile.name)
    qtbot.addWidget(window)
    if size is not None:
        window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    return session, window


def click_sync_now(qtbot, window, timeout: int = 120_000):
    """Click the toolbar's Sync now, wait for the run and for the screens' reload after it; the run's outcome."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QToolBar

    button = window.findChild(QToolBar, "sync-toolbar").widgetForAction(window.sync_action)
    with qtbot.waitSignal(window.refreshed, timeout=timeout):
        with qtbot.waitSignal(window.sync_finished, timeout=timeout) as done:
            qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    return done.args[0]
