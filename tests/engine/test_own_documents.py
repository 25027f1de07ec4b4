"""Hold reasons name the right document: a journal batch blocked by the connector's OWN unposted lines (an
interrupted posting of another payment) is not "lines the connector did not write"."""

from __future__ import annotations

from app.engine import SyncEngine
from app.store import schema as t

MESSAGE = ("journal batch PAYMENT/BILL holds lines the connector did not write (document BILLPAY000004): give the "
           "connector a batch of its own in Settings, or post or delete those lines.")


def test_the_connectors_own_waiting_document_is_recognised(store):
    engine = SyncEngine(store, object(), object())
    assert engine._flows.payments._own_waiting_documents(MESSAGE, "stpB") == ""  # nothing of ours waits: someone else's lines
    with store.session() as s:
        s.add(t.OutboxEntry(key="nav.payment:stpA", system="NAV", action="post_payment", record="payment stpA",
                            payload={"document": "BILLPAY000004", "payment_id": "stpA"}, state="failed"))
        s.add(t.OutboxEntry(key="nav.payment:stpC", system="NAV", action="post_payment", record="payment stpC",
                            payload={"document": "BILLPAY000040", "payment_id": "stpC"}, state="in_flight"))
    assert engine._flows.payments._own_waiting_documents(MESSAGE, "stpB") == "BILL payment stpA (document BILLPAY000004)"
    assert engine._flows.payments._own_waiting_documents(MESSAGE, "stpA") == ""  # its own lines are not in its way
