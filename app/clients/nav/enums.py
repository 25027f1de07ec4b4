"""Option values as NAV sends them, decoded in one place.

Two encodings reach the connector (NAV-GROUND-TRUTH.md §0.1, §0.2):

* **API v2.0** sends every option as an OData enum: the AL value *name*, never translated, with each
  character that is not allowed in an XML name written as ``_xHHHH_`` (``" "`` → ``_x0020_``,
  ``G/L Account`` → ``G_x002F_L_x0020_Account``, ``Begin-Total`` → ``Begin_x002D_Total``).
* **Classic pages** send the option *caption*, translated into the service's language by default
  (``ServicesOptionFormat = OptionCaption``): a German server says ``Sachkonto`` where an English one says
  ``G/L Account``. Captions are matched case-insensitively against the English caption and the German one we
  know; an unknown caption is reported (``None``), so a hold reason or the connection test can tell the
  administrator to set ``ServicesOptionFormat`` to ``OptionString`` (English names) on the service tier.

Every decoder returns the English AL name (``"G/L Account"``, ``"Payment"``, ``"Posting"``) or ``None``.
"""

from __future__ import annotations

import re

_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def decode_api_enum(value: object) -> str:
    """``G_x002F_L_x0020_Account`` → ``G/L Account``; ``_x0020_`` → ``" "``. Plain names pass through."""
    text = "" if value is None else str(value)
    if "_x" not in text:  # most values (Open, Paid, Account): nothing escaped, no regex pass
        return text
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def encode_api_enum(name: str) -> str:
    """The wire form of an AL enum value name (the inverse of ``decode_api_enum``)."""
    return "".join(ch if ch.isalnum() or ch == "_" else f"_x{ord(ch):04X}_" for ch in name)


# English AL name → the captions a classic page may send for it (English first, then German).
# German captions from the DEU Base Application translations; more languages can be added here.
_CAPTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "line type": {  # Purch. Inv. Line "Type" (page 139)
        " ": (" ", ""),
        "G/L Account": ("G/L Account", "Sachkonto"),
        "Item": ("Item", "Artikel"),
        "Resource": ("Resource", "Ressource"),
        "Fixed Asset": ("Fixed Asset", "Anlage", "Anlagegut"),
        "Charge (Item)": ("Charge (Item)", "Zu-/Abschlag (Artikel)"),
        "Allocation Account": ("Allocation Account", "Verteilungskonto"),
    },
    "document type": {  # Vendor Ledger Entry / Gen. Journal Line "Document Type" (pages 29, 256)
        " ": (" ", ""),
        "Payment": ("Payment", "Zahlung"),
        "Invoice": ("Invoice", "Rechnung"),
        "Credit Memo": ("Credit Memo", "Gutschrift"),
        "Finance Charge Memo": ("Finance Charge Memo", "Zinsrechnung"),
        "Reminder": ("Reminder", "Mahnung"),
        "Refund": ("Refund", "Erstattung"),
    },
    "account type": {  # Gen. Journal Line "Account Type" / "Bal. Account Type"
        "G/L Account": ("G/L Account", "Sachkonto"),
        "Customer": ("Customer", "Debitor"),
        "Vendor": ("Vendor", "Kreditor"),
        "Bank Account": ("Bank Account", "Bankkonto"),
        "Fixed Asset": ("Fixed Asset", "Anlage", "Anlagegut"),
        "IC Partner": ("IC Partner", "IC-Partner"),
        "Employee": ("Employee", "Mitarbeiter"),
        "Allocation Account": ("Allocation Account", "Verteilungskonto"),
    },
    "gl account type": {  # G/L Account "Account Type" (page 16)
        "Posting": ("Posting", "Buchung"),
        "Heading": ("Heading", "Überschrift"),
        "Total": ("Total", "Summe"),
        "Begin-Total": ("Begin-Total", "Von-Summe"),
        "End-Total": ("End-Total", "Bis-Summe"),
    },
    "income balance": {  # G/L Account "Income/Balance"
        "Income Statement": ("Income Statement", "GuV"),
        "Balance Sheet": ("Balance Sheet", "Bilanz"),
    },
    "vendor blocked": {  # Vendor "Blocked" (pages 26/27)
        " ": (" ", ""),
        "Payment": ("Payment", "Zahlung"),
        "All": ("All", "Alle"),
    },
}

_LOOKUP: dict[str, dict[str, str]] = {
    option: {caption.strip().casefold(): name for name, captions in values.items() for caption in captions}
    for option, values in _CAPTIONS.items()
}


def decode_caption(option: str, value: object) -> str | None:
    """A classic page's caption for ``option`` as its English AL name, or ``None`` when it is not known."""
    text = "" if value is None else str(value)
    return _LOOKUP[option].get(text.strip().casefold())


def english_caption(option: str, name: str) -> str:
    """The English caption to write for an AL name (classic pages take captions when written)."""
    return _CAPTIONS[option][name][0]


def is_english_caption(option: str, value: object) -> bool:
    """True when ``value`` is the English caption (so the server sends untranslated captions)."""
    name = decode_caption(option, value)
    return name is not None and str(value).strip().casefold() == _CAPTIONS[option][name][0].strip().casefold()


def api_option(value: object) -> str:
    """An API v2.0 enum value decoded, with the blank option as ``" "``."""
    decoded = decode_api_enum(value)
    return decoded if decoded.strip() else " "
