"""Check the ``x-bill-sha-signature`` header BILL puts on every webhook notification.

BILL signs with HMAC-SHA256, key = the subscription's securityKey (UTF-8 text), message = the
notification body, output base64 (https://developer.bill.com/docs/test-with-webhook-security,
https://developer.bill.com/docs/bill-webhook-api-general-rules). Hash the raw bytes as received,
before any JSON parsing: re-serialising changes the bytes and breaks the signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

SIGNATURE_HEADER = "x-bill-sha-signature"


def compute_signature(security_key: str, raw_body: bytes) -> str:
    digest = hmac.new(security_key.encode("utf-8"), raw_body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_signature(security_key: str, raw_body: bytes, signature_header: str | None) -> bool:
    """True only when the header is the base64 HMAC-SHA256 of ``raw_body`` under ``security_key``."""
    if not security_key or not signature_header:
        return False
    expected = compute_signature(security_key, raw_body).encode("ascii")
    try:
        received = signature_header.strip().encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(expected, received)  # constant time: no timing oracle on the key
