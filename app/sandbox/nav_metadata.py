"""``$metadata`` (EDMX, OData v4 CSDL XML) for the sandbox's published pages and its API v2.0.

Classic: ``/ODataV4/$metadata`` lists one EntityType and EntitySet per published service (namespace ``NAV``),
keys from the primary key, Edm types of the page controls, and page 138's part as a containment navigation
property ``<ServiceName>PurchInvLines`` whose entity set is also listed on its own (ground truth §0.2).
API v2.0: ``/api/v2.0/$metadata`` (namespace ``Microsoft.NAV``) with the entity types, their GUID key ``id``,
enum types with the encoded member names, and the parts as containment navigation properties.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import quoteattr

from app.sandbox import nav_enums
from app.sandbox.nav_fields import API_FIELDS
from app.sandbox.nav_pages import CREDIT_LINES_PART, LINES_PART, SERVICES, ClassicPages, field_kind

_HEAD = ('<?xml version="1.0" encoding="utf-8"?>\n<edmx:Edmx Version="4.0" '
         'xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices>')
_TAIL = "</edmx:DataServices></edmx:Edmx>"
_PAGE_TYPES = {"bool": "Edm.Boolean", "int": "Edm.Int32", "date": "Edm.Date", "decimal": "Edm.Decimal"}


def _property(name: str, edm: str, nullable: bool = True) -> str:
    return f"<Property Name={quoteattr(name)} Type={quoteattr(edm)}" + ("" if nullable else ' Nullable="false"') + "/>"


def classic_metadata(pages: ClassicPages) -> str:
    types, sets = [], ['<EntitySet Name="Company" EntityType="NAV.Company"/>']
    types.append('<EntityType Name="Company"><Key><PropertyRef Name="Name"/></Key>'
                 + "".join(_property(n, "Edm.String", n != "Name") for n in ("Name", "Display_Name", "Id",
                                                                             "Business_Profile_Id"))
                 + "</EntityType>")
    services = dict(SERVICES)
    services["PostedPurchaseInvoice" + LINES_PART] = 139
    services["PostedPurchaseCreditMemo" + CREDIT_LINES_PART] = 141
    for service, page in services.items():
        view = pages.view(service)
        if view is None:
            continue
        body = "<Key>" + "".join(f"<PropertyRef Name={quoteattr(k)}/>" for k in view.keys) + "</Key>"
        for name in view.fields:
            body += _property(name, _PAGE_TYPES.get(field_kind(page, name), "Edm.String"), name not in view.keys)
        for part in view.children:
            body += (f"<NavigationProperty Name={quoteattr(part)} Type={quoteattr(f'Collection(NAV.{part})')} "
                     'ContainsTarget="true"><ReferentialConstraint Property="No" ReferencedProperty="Document_No"/>'
                     "</NavigationProperty>")
        types.append(f"<EntityType Name={quoteattr(service)}>{body}</EntityType>")
        sets.append(f"<EntitySet Name={quoteattr(service)} EntityType={quoteattr(f'NAV.{service}')}/>")
    schema = ('<Schema Namespace="NAV" xmlns="http://docs.oasis-open.org/odata/ns/edm">' + "".join(types)
              + '<EntityContainer Name="NAV">' + "".join(sets) + "</EntityContainer></Schema>")
    return _HEAD + schema + _TAIL


# API v2.0 ---------------------------------------------------------------------------------------------
ENTITY_NAMES = {"vendors": "vendor", "purchaseInvoices": "purchaseInvoice",
                "purchaseInvoiceLines": "purchaseInvoiceLine", "accounts": "account", "dimensions": "dimension",
                "dimensionValues": "dimensionValue", "dimensionSetLines": "dimensionSetLine",
                "vendorPaymentJournals": "vendorPaymentJournal", "vendorPayments": "vendorPayment",
                "applyVendorEntries": "applyVendorEntry", "journals": "journal", "journalLines": "journalLine",
                "generalLedgerEntries": "generalLedgerEntry"}
PARTS = {"purchaseInvoices": ("purchaseInvoiceLines", "dimensionSetLines"),
         "purchaseInvoiceLines": ("dimensionSetLines",), "dimensions": ("dimensionValues",),
         "vendorPaymentJournals": ("vendorPayments",), "vendorPayments": ("applyVendorEntries", "dimensionSetLines"),
         "journals": ("journalLines",), "journalLines": ("dimensionSetLines",),
         "generalLedgerEntries": ("dimensionSetLines",)}
ACTIONS = {"purchaseInvoices": "post", "journals": "post"}
ENUMS = {  # (entity set, field) -> (enum type, AL value names)
    ("vendors", "blocked"): ("vendorBlocked", [" ", "Payment", "All"]),
    ("purchaseInvoices", "status"): ("invoiceEntityAggregateStatus",
                                     [" ", "Draft", "In Review", "Open", "Paid", "Canceled", "Corrective"]),
    ("purchaseInvoiceLines", "lineType"): ("invoiceLineAggLineType", list(nav_enums.API_LINE_TYPE.values())),
    ("accounts", "category"): ("glAccountCategory", [n for n, _ in nav_enums.OPTION_SETS["G/L Account Category"]]),
    ("accounts", "accountType"): ("glAccountType", [n for n, _ in nav_enums.OPTION_SETS["G/L Account Type"]]),
    ("dimensionSetLines", "parentType"): ("dimensionSetEntryBufferParentType", [
        " ", "Journal Line", "Sales Order", "Sales Order Line", "Sales Quote", "Sales Quote Line", "Sales Credit Memo",
        "Sales Credit Memo Line", "Sales Invoice", "Sales Invoice Line", "Purchase Invoice", "Purchase Invoice Line",
        "General Ledger Entry", "Time Registration Entry", "Sales Shipment", "Sales Shipment Line",
        "Purchase Receipt", "Purchase Receipt Line", "Purchase Order", "Purchase Order Line", "Purchase Credit Memo",
        "Purchase Credit Memo Line"]),
    ("journalLines", "accountType"): ("genJournalAccountType",
                                      [n for n, _ in nav_enums.OPTION_SETS["Gen. Journal Account Type"]]),
    ("journalLines", "balanceAccountType"): ("genJournalAccountType",
                                             [n for n, _ in nav_enums.OPTION_SETS["Gen. Journal Account Type"]]),
    ("generalLedgerEntries", "documentType"): ("genJournalDocumentType",
                                               [n for n, _ in nav_enums.OPTION_SETS["Gen. Journal Document Type"]]),
    ("applyVendorEntries", "documentType"): ("genJournalDocumentType",
                                             [n for n, _ in nav_enums.OPTION_SETS["Gen. Journal Document Type"]]),
}
_DECIMAL = re.compile(r"[Aa]mount|[Cc]ost|quantity|Percent|balance|netChange|netTax")


def _api_type(entity_set: str, name: str) -> str:
    if (entity_set, name) in ENUMS:
        return f"Microsoft.NAV.{ENUMS[(entity_set, name)][0]}"
    if name == "id" or name.endswith("Id"):
        return "Edm.Guid"
    if name == "lastModifiedDateTime":
        return "Edm.DateTimeOffset"
    if name.endswith("Date"):
        return "Edm.Date"
    if name in ("sequence", "lineNumber", "entryNumber"):
        return "Edm.Int32"
    if name in ("taxLiable", "blocked", "directPosting", "excludeFromConsolidation", "pricesIncludeTax",
                "discountAppliedBeforeTax", "applied"):
        return "Edm.Boolean"
    if _DECIMAL.search(name):
        return "Edm.Decimal"
    return "Edm.String"


def api_metadata() -> str:
    enums, types, sets = {}, [], []
    for (_, _), (enum_type, values) in ENUMS.items():
        enums[enum_type] = values
    for enum_type, values in enums.items():
        members = "".join(f"<Member Name={quoteattr(nav_enums.api_enum(v))} Value=\"{i}\"/>"
                          for i, v in enumerate(values))
        types.append(f"<EnumType Name={quoteattr(enum_type)}>{members}</EnumType>")
    for entity_set, entity in ENTITY_NAMES.items():
        body = '<Key><PropertyRef Name="id"/></Key>'
        for name in API_FIELDS[entity_set]:
            body += _property(name, _api_type(entity_set, name), name != "id")
        for part in PARTS.get(entity_set, ()):
            body += (f"<NavigationProperty Name={quoteattr(part)} "
                     f"Type={quoteattr(f'Collection(Microsoft.NAV.{ENTITY_NAMES[part]})')} ContainsTarget=\"true\"/>")
        types.append(f"<EntityType Name={quoteattr(entity)}>{body}</EntityType>")
        sets.append(f"<EntitySet Name={quoteattr(entity_set)} EntityType={quoteattr(f'Microsoft.NAV.{entity}')}/>")
        if entity_set in ACTIONS:
            types.append(f"<Action Name={quoteattr(ACTIONS[entity_set])} IsBound=\"true\"><Parameter Name=\"bindingParameter\" "
                         f"Type={quoteattr(f'Microsoft.NAV.{entity}')}/></Action>")
    company = ('<EntityType Name="company"><Key><PropertyRef Name="id"/></Key>'
               + "".join(_property(n, "Edm.Guid" if n == "id" else "Edm.String", n != "id")
                         for n in ("id", "systemVersion", "timestamp", "name", "displayName", "businessProfileId",
                                   "systemCreatedAt", "systemCreatedBy", "systemModifiedAt", "systemModifiedBy"))
               + "".join(f"<NavigationProperty Name={quoteattr(s)} Type={quoteattr(f'Collection(Microsoft.NAV.{e})')}"
                         ' ContainsTarget="true"/>' for s, e in ENTITY_NAMES.items()) + "</EntityType>")
    schema = ('<Schema Namespace="Microsoft.NAV" xmlns="http://docs.oasis-open.org/odata/ns/edm">' + company
              + "".join(types) + '<EntityContainer Name="default"><EntitySet Name="companies" '
              'EntityType="Microsoft.NAV.company"/>' + "".join(sets) + "</EntityContainer></Schema>")
    return _HEAD + schema + _TAIL
