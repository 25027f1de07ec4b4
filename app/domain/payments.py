"""Rules about a BILL payment's state: whether BILL undid it (voided, cancelled, failed) and how to say so."""

from __future__ import annotations

from app.domain.models import Payment

_UNDONE_STATUS = {"VOID": "voided", "CANCELLED": "cancelled", "FAILED": "failed"}
_UNDONE_SINGLE_STATUS = {"VOIDED": "voided", "CANCELED": "cancelled", "FUNDING_FAILED_VOIDED": "failed"}


def undone_in_bill(payment: Payment) -> bool:
    """BILL voided, cancelled or failed the payment: the money did not (or no longer) reach the vendor."""
    single = payment.single_status.upper()
    return (payment.status.upper() in _UNDONE_STATUS or single in _UNDONE_SINGLE_STATUS
            or single.startswith("DISBURSEMENT_FAILED"))


def payment_state(payment: Payment) -> str:
    """The state as a clerk reads it in a hold: "voided", or "failed (DISBURSEMENT_FAILED_X)" when BILL's word
    differs, or "no longer settled (...)"."""
    single = payment.single_status.upper()
    word = (_UNDONE_SINGLE_STATUS.get(single) or _UNDONE_STATUS.get(payment.status.upper())
            or ("failed" if single.startswith("DISBURSEMENT_FAILED") else ""))
    shown = payment.single_status or payment.status
    return word if word and shown.lower().startswith(word[:4]) else f"{word or 'no longer settled'} ({shown})"
