"""Option values, in ONE place: how a stored option value looks on a classic page and in API v2.0.

The sandbox's tables store every option by its AL value *name* in English (``"G/L Account"``, ``" "``).

* Classic pages (OData v4 UI pages) send **captions** as plain strings; with the server's default
  ``ServicesOptionFormat = OptionCaption`` they are translated into the service language
  (ground truth §0.2; microsoft/AL #5460 shows German captions from an ODataV4 page). ``language="de"``
  makes the sandbox a German server.
* API v2.0 sends the enum value **name**, never translated, with every character that is not a letter, a
  digit or ``_`` encoded as ``_xHHHH_`` (ground truth §0.1: ``" "`` → ``_x0020_``,
  ``G/L Account`` → ``G_x002F_L_x0020_Account``, ``Begin-Total`` → ``Begin_x002D_Total``).

German captions: taken from German NAV/BC installations as far as known ("Sachkonto", "Kreditor", "Zahlung",
"Rechnung", "Gutschrift", "Artikel"); the rarer ones ("Kosten der verkauften Waren", "Zinsrechnung",
"Erstattung") are plausible choices, not verified against Microsoft's German translation files.
"""

from __future__ import annotations

import re
from functools import lru_cache

# option set -> list of (AL value name, German caption). The English caption equals the name.
OPTION_SETS: dict[str, list[tuple[str, str]]] = {
    "Vendor Blocked": [(" ", " "), ("Payment", "Zahlung"), ("All", "Alle")],
    "Purchase Line Type": [(" ", " "), ("G/L Account", "Sachkonto"), ("Item", "Artikel"), ("Resource", "Ressource"),
                           ("Fixed Asset", "Anlage"), ("Charge (Item)", "Zu-/Abschlag (Artikel)")],
    "Gen. Journal Document Type": [(" ", " "), ("Payment", "Zahlung"), ("Invoice", "Rechnung"),
                                   ("Credit Memo", "Gutschrift"), ("Finance Charge Memo", "Zinsrechnung"),
                                   ("Reminder", "Mahnung"), ("Refund", "Erstattung")],
    "Gen. Journal Account Type": [("G/L Account", "Sachkonto"), ("Customer", "Debitor"), ("Vendor", "Kreditor"),
                                  ("Bank Account", "Bankkonto"), ("Fixed Asset", "Anlage"),
                                  ("IC Partner", "IC-Partner"), ("Employee", "Mitarbeiter")],
    "G/L Account Type": [("Posting", "Konto"), ("Heading", "Überschrift"), ("Total", "Summe"),
                         ("Begin-Total", "Von-Summe"), ("End-Total", "Bis-Summe")],
    "Income/Balance": [("Income Statement", "GuV-Konto"), ("Balance Sheet", "Bilanzkonto")],
    "G/L Account Category": [(" ", " "), ("Assets", "Aktiva"), ("Liabilities", "Passiva"),
                             ("Equity", "Eigenkapital"), ("Income", "Ertrag"),
                             ("Cost of Goods Sold", "Kosten der verkauften Waren"), ("Expense", "Aufwand")],
    "Dimension Value Type": [("Standard", "Standard"), ("Heading", "Überschrift"), ("Total", "Summe"),
                             ("Begin-Total", "Von-Summe"), ("End-Total", "Bis-Summe")],
    "Gen. Posting Type": [(" ", " "), ("Purchase", "Einkauf"), ("Sale", "Verkauf"), ("Settlement", "Ausgleich")],
    "Bank Payment Type": [(" ", " "), ("Computer Check", "Computerscheck"), ("Manual Check", "Manueller Scheck"),
                          ("Electronic Payment", "Elektronische Zahlung")],
    "Application Method": [("Manual", "Manuell"), ("Apply to Oldest", "Älteste ausgleichen")],
    "Partner Type": [(" ", " "), ("Company", "Unternehmen"), ("Person", "Person")],
    "Job Queue Status": [(" ", " "), ("Scheduled for Posting", "Buchung geplant"), ("Error", "Fehler"),
                         ("Posting", "Buchung")],
    "FA Posting Type": [(" ", " "), ("Acquisition Cost", "Anschaffungskosten"), ("Maintenance", "Wartung")],
    "Privacy Blocked": [],
    "Consol. Translation Method": [("Average Rate (Manual)", "Durchschnittskurs (manuell)"),
                                   ("Closing Rate", "Stichtagskurs"), ("Historical Rate", "Historischer Kurs"),
                                   ("Composite Rate", "Mischkurs"), ("Equity Rate", "Eigenkapitalkurs")],
}

# classic page property -> option set (same on every page the property appears on)
PAGE_OPTION_FIELDS: dict[str, str] = {
    "Blocked@26": "Vendor Blocked", "Blocked@27": "Vendor Blocked",
    "Type": "Purchase Line Type", "FilteredTypeField": "Purchase Line Type",
    "Document_Type": "Gen. Journal Document Type", "Applies_to_Doc_Type": "Gen. Journal Document Type",
    "Account_Type@256": "Gen. Journal Account Type", "Account_Type@39": "Gen. Journal Account Type",
    "Bal_Account_Type": "Gen. Journal Account Type",
    "Account_Type@16": "G/L Account Type", "Income_Balance": "Income/Balance",
    "Account_Category": "G/L Account Category", "Dimension_Value_Type": "Dimension Value Type",
    "Gen_Posting_Type": "Gen. Posting Type", "Bal_Gen_Posting_Type": "Gen. Posting Type",
    "Bank_Payment_Type": "Bank Payment Type", "Application_Method": "Application Method",
    "Partner_Type": "Partner Type", "Job_Queue_Status": "Job Queue Status", "FA_Posting_Type": "FA Posting Type",
    "Consol_Translation_Method": "Consol. Translation Method",
}


def page_option_set(page: int, name: str) -> str | None:
    return PAGE_OPTION_FIELDS.get(f"{name}@{page}") or PAGE_OPTION_FIELDS.get(name)


def caption(option_set: str, value: str, language: str = "en") -> str:
    """The caption a classic page sends for a stored option value, in the server's language."""
    if language == "de":
        for name, german in OPTION_SETS.get(option_set, ()):
            if name == value:
                return german
    return value


def from_caption(option_set: str, text: str, language: str = "en") -> str:
    """The stored value for a caption a client wrote to a classic page; ValueError when it is no option.

    The server's own language is accepted, and (leniently) the English name too.
    """
    for name, german in OPTION_SETS.get(option_set, ()):
        if text == name or (language == "de" and text == german):
            return name
    for name, german in OPTION_SETS.get(option_set, ()):  # NAV evaluates options case-insensitively
        if text.lower() == name.lower() or (language == "de" and text.lower() == german.lower()):
            return name
    raise ValueError(text)


def default_value(option_set: str) -> str:
    values = OPTION_SETS.get(option_set) or [("", "")]
    return values[0][0]


_NOT_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]")


@lru_cache(maxsize=1024)  # a handful of values, on every row of every page
def api_enum(value: str) -> str:
    """API v2.0 wire form of an AL enum value name: ``G/L Account`` → ``G_x002F_L_x0020_Account``."""
    return _NOT_IDENTIFIER.sub(lambda match: f"_x{ord(match.group(0)):04X}_", value)


def from_api_enum(text: str) -> str:
    """The AL value name for an API v2.0 wire value (``_x0020_`` → ``" "``)."""
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda match: chr(int(match.group(1), 16)), text)


# API v2.0 enums whose values differ from the table's option values.
# Purchase line type -> enum 5478 "Invoice Line Agg. Line Type" (Comment, Account, Item, Resource, Fixed Asset,
# Charge); ground truth §1.3: G/L Account lines are "Account", never "G/L Account".
API_LINE_TYPE = {" ": "Comment", "G/L Account": "Account", "Item": "Item", "Resource": "Resource",
                 "Fixed Asset": "Fixed Asset", "Charge (Item)": "Charge"}
