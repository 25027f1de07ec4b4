"""The demo company both sandboxes are seeded with: "Cronus Fabrication", a small manufacturer.

One source of truth so that NAV and BILL tell a consistent story: some vendors exist on both sides
(some with slightly different spelling, to exercise matching), BILL has a few of its own, and BILL's
chart of accounts does not match NAV's G/L accounts one to one.

``large_vendor_rows(n)`` and ``large_invoice_rows`` generate the benchmark seeds (``large:N``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

COMPANY_NAME = "CRONUS Fabrication"
COMPANY_ID = "3b5c2f1e-6a8d-4e1b-9c7a-0d2f4b6a8c10"  # BC API companies(<id>)
SERVER_INSTANCE = "DynamicsNAV110"  # NAV 2018's default server instance name
BILL_ORGANIZATION_ID = "00802DEMOCRONUSFAB01"
BILL_ORGANIZATION_NAME = "CRONUS Fabrication"

# Demo credentials the sandboxes accept (never real secrets; shown in the README for --demo).
NAV_USER = "ADMIN"
NAV_WEB_SERVICE_KEY = "demo-ws-key-7048"
NAV_CLIENT_ID = "demo-client-id"
NAV_CLIENT_SECRET = "demo-client-secret"
NAV_TENANT = "demo-tenant"
# The Windows account a NAV instance in Windows mode (NavSandbox(windows_auth=True)) accepts over NTLM.
NAV_WINDOWS_DOMAIN = "CRONUS"
NAV_WINDOWS_USER = "apclerk"
NAV_WINDOWS_ACCOUNT = f"{NAV_WINDOWS_DOMAIN}\\{NAV_WINDOWS_USER}"  # CRONUS\apclerk
NAV_WINDOWS_PASSWORD = "demo-windows-pw-7048"
BILL_USERNAME = "ap@cronusfab.example"
BILL_PASSWORD = "demo-bill-password"
BILL_DEV_KEY = "demo-dev-key-0000"


@dataclass(frozen=True)
class DemoVendor:
    number: str
    name: str
    address: str
    city: str
    state: str
    postal_code: str
    email: str
    phone: str
    tax_id: str = ""
    is_1099: bool = False
    blocked: bool = False


_VENDOR_NAMES = [
    ("Acme Steel Supply", "Pittsburgh", "PA", "15222"),
    ("Midwest Fasteners Inc.", "Chicago", "IL", "60607"),
    ("Midwest Fasteners, Inc", "Chicago", "IL", "60608"),  # near-duplicate of the previous one
    ("Great Lakes Aluminum", "Cleveland", "OH", "44114"),
    ("Precision Bearings Co.", "Detroit", "MI", "48226"),
    ("Northern Industrial Gases", "Minneapolis", "MN", "55401"),
    ("Keystone Paint & Coatings", "Harrisburg", "PA", "17101"),
    ("Summit Machine Tools", "Denver", "CO", "80202"),
    ("Blue Ridge Packaging", "Roanoke", "VA", "24011"),
    ("Carolina Freight Lines", "Charlotte", "NC", "28202"),
    ("Pioneer Electric Motors", "Columbus", "OH", "43215"),
    ("Atlas Welding Supplies", "Houston", "TX", "77002"),
    ("Riverbend Plastics", "Louisville", "KY", "40202"),
    ("Ironclad Safety Equipment", "Milwaukee", "WI", "53202"),
    ("Delta Hydraulics LLC", "Memphis", "TN", "38103"),
    ("Evergreen Office Supply", "Portland", "OR", "97204"),
    ("Sunrise Janitorial Services", "Phoenix", "AZ", "85004"),
    ("Patriot Logistics", "Boston", "MA", "02110"),
    ("Granite State Castings", "Manchester", "NH", "03101"),
    ("Heartland Rubber Products", "Omaha", "NE", "68102"),
    ("Lone Star Abrasives", "Dallas", "TX", "75201"),
    ("Bayou Chemical Corp.", "Baton Rouge", "LA", "70801"),
    ("Copper Canyon Wire", "Tucson", "AZ", "85701"),
    ("Allegheny Power & Light", "Pittsburgh", "PA", "15219"),
    ("Tri-County Waste Management", "Akron", "OH", "44308"),
    ("Sierra Calibration Labs", "Sacramento", "CA", "95814"),
    ("Hudson Valley Gaskets", "Albany", "NY", "12207"),
    ("Prairie Tool & Die", "Wichita", "KS", "67202"),
    ("Cascade Forklift Rental", "Seattle", "WA", "98104"),
    ("Magnolia IT Consulting", "Jackson", "MS", "39201"),
    ("Badger Bolt & Nut", "Madison", "WI", "53703"),
    ("Redwood Engineering Group", "San Jose", "CA", "95113"),
    ("Ozark Timber Pallets", "Springfield", "MO", "65806"),
    ("Chesapeake Insurance Agency", "Baltimore", "MD", "21202"),
    ("Silver State Springs", "Reno", "NV", "89501"),
    ("Gulf Coast Industrial Filters", "Mobile", "AL", "36602"),
    ("Tidewater Uniform Services", "Norfolk", "VA", "23510"),
    ("Frontier Telecom", "Cheyenne", "WY", "82001"),
    ("Liberty Legal Partners", "Philadelphia", "PA", "19106"),
    ("J. Alvarez (Contract Welder)", "El Paso", "TX", "79901"),
]


def demo_vendors() -> list[DemoVendor]:
    vendors = []
    for index, (name, city, state, postal) in enumerate(_VENDOR_NAMES, start=1):
        slug = "".join(ch for ch in name.lower() if ch.isalnum())[:18]
        email = f"ap@{slug}.example"
        if index == 16:  # Evergreen Office Supply has no email on file
            email = ""
        vendors.append(
            DemoVendor(
                number=f"V{index * 10:05d}",
                name=name,
                address=f"{100 + index * 7} Industrial Pkwy",
                city=city,
                state=state,
                postal_code=postal,
                email=email,
                phone=f"555-01{index:02d}",
                tax_id=f"{10 + index:02d}-{1000000 + index * 1234:07d}",
                is_1099=name.startswith(("J. Alvarez", "Liberty Legal", "Magnolia IT", "Sierra Calibration")),
                blocked=(index == 38),  # Frontier Telecom is blocked in NAV
            )
        )
    return vendors


# BILL already knows some of these vendors (entered by hand before the connector existed),
# one with a different spelling, plus three vendors only BILL has.
BILL_KNOWN_VENDOR_NUMBERS = {"V00010": "Acme Steel Supply", "V00040": "Great Lakes Aluminium",
                             "V00100": "Carolina Freight Lines", "V00160": "Evergreen Office Supply"}
BILL_ONLY_VENDORS = [
    ("Quick Print Shop", "Pittsburgh", "PA", "15212", "billing@quickprint.example"),
    ("Metro Coffee Service", "Pittsburgh", "PA", "15213", "ar@metrocoffee.example"),
    ("Skyline Parking Garage", "Pittsburgh", "PA", "15222", ""),
]


@dataclass(frozen=True)
class DemoGLAccount:
    number: str
    name: str
    account_type: str = "Posting"
    income_balance: str = "Income Statement"


DEMO_GL_ACCOUNTS = [
    DemoGLAccount("2110", "Accounts Payable", income_balance="Balance Sheet"),
    DemoGLAccount("2910", "Bank - Operating", income_balance="Balance Sheet"),
    DemoGLAccount("5000", "COST OF GOODS SOLD", account_type="Begin-Total"),
    DemoGLAccount("5110", "Raw Materials"),
    DemoGLAccount("5120", "Purchased Components"),
    DemoGLAccount("5130", "Freight In"),
    DemoGLAccount("5999", "TOTAL COST OF GOODS SOLD", account_type="End-Total"),
    DemoGLAccount("6100", "Factory Supplies"),
    DemoGLAccount("6110", "Tools and Small Equipment"),
    DemoGLAccount("6120", "Repairs and Maintenance"),
    DemoGLAccount("6130", "Utilities"),
    DemoGLAccount("6140", "Waste Disposal"),
    DemoGLAccount("6200", "Office Supplies"),
    DemoGLAccount("6210", "Telephone and Internet"),
    DemoGLAccount("6300", "Professional Fees"),
    DemoGLAccount("6310", "Insurance"),
    DemoGLAccount("6320", "Equipment Rental"),
    DemoGLAccount("6400", "Calibration Services"),  # BILL has no matching account: lines here are held
]

# BILL's chart of accounts: close to NAV's but not one to one (different numbering for some,
# missing 6400, an extra account NAV does not have, one archived).
DEMO_BILL_ACCOUNTS = [
    # (number, name, type, archived)
    ("2110", "Accounts Payable", "ACCOUNTS_PAYABLE", False),
    ("1010", "Operating Bank Account", "BANK", False),
    ("5110", "Raw Materials", "COST_OF_GOODS_SOLD", False),
    ("5120", "Purchased Components", "COST_OF_GOODS_SOLD", False),
    ("5130", "Freight-In", "COST_OF_GOODS_SOLD", False),
    ("6100", "Factory Supplies", "EXPENSE", False),
    ("6-110", "Tools & Small Equipment", "EXPENSE", False),
    ("6120", "Repairs & Maintenance", "EXPENSE", False),
    ("6130", "Utilities", "EXPENSE", False),
    ("6140", "Waste Disposal", "EXPENSE", True),  # archived in BILL: mapping must not use it
    ("6200", "Office Supplies", "EXPENSE", False),
    ("6210", "Phone & Internet", "EXPENSE", False),
    ("6300", "Professional Fees", "EXPENSE", False),
    ("6310", "Insurance Expense", "EXPENSE", False),
    ("6320", "Equipment Rental", "EXPENSE", False),
    ("6500", "Meals & Entertainment", "EXPENSE", False),
]

DEMO_DIMENSIONS = {
    "DEPARTMENT": ("Department", [("PROD", "Production"), ("MAINT", "Maintenance"), ("ADMIN", "Administration"),
                                  ("SALES", "Sales")]),
    "PROJECT": ("Project", [("P-1001", "Line 3 Retrofit"), ("P-1002", "Paint Booth Upgrade"),
                            ("P-1003", "ERP Rollout")]),
    # NAV: DEPARTMENT = global dimension 1, PROJECT = global dimension 2, AREA = shortcut dimension 3.
    "AREA": ("Area", [("EAST", "Eastern Plants"), ("WEST", "Western Plants")]),
}
GLOBAL_DIMENSIONS = ("DEPARTMENT", "PROJECT")
SHORTCUT_DIMENSIONS = ("DEPARTMENT", "PROJECT", "AREA")  # shortcut dimensions 1..3 (General Ledger Setup)
# BILL classifications: departments match NAV's DEPARTMENT values by name; projects become accounting classes.
DEMO_BILL_DEPARTMENTS = ["Production", "Maintenance", "Administration", "Sales"]
DEMO_BILL_CLASSES = ["Line 3 Retrofit", "Paint Booth Upgrade"]  # ERP Rollout has no class yet
DEMO_BILL_LOCATIONS = ["Pittsburgh Plant"]

# Which G/L account each vendor usually bills to (by vendor index, cycled).
_VENDOR_ACCOUNTS = ["5110", "5120", "5120", "5110", "5120", "6100", "6100", "6110", "6100", "5130", "5120",
                    "6100", "5110", "6100", "6120", "6200", "6100", "5130", "5110", "5110", "6100", "6100",
                    "5110", "6130", "6140", "6400", "6120", "6110", "6320", "6300", "5120", "6300", "6100",
                    "6310", "5120", "6120", "6100", "6210", "6300", "6120"]


@dataclass(frozen=True)
class DemoInvoiceLine:
    line_no: int
    gl_account: str
    description: str
    quantity: Decimal
    unit_cost: Decimal
    dimensions: dict
    line_type: str = "G/L Account"  # NAV purchase line type; "Item": gl_account holds the item number

    @property
    def amount(self) -> Decimal:
        return (self.quantity * self.unit_cost).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class DemoInvoice:
    number: str
    vendor_number: str
    vendor_invoice_number: str
    posting_date: date
    due_date: date
    lines: tuple[DemoInvoiceLine, ...]
    currency_code: str = ""  # NAV's blank: the local currency


DEMO_TODAY = date(2026, 11, 2)


def demo_posted_invoices() -> list[DemoInvoice]:
    """About 60 posted invoices over the first 30 vendors; a few touch 6400 (unmappable) and P-1003."""
    vendors = demo_vendors()
    invoices = []
    departments = ["PROD", "MAINT", "ADMIN", "PROD"]
    counter = 0
    for index, vendor in enumerate(vendors[:30]):
        for k in range(2):
            counter += 1
            account = _VENDOR_ACCOUNTS[index]
            lines = [
                DemoInvoiceLine(1, account, f"{vendor.name.split()[0]} order {counter}", Decimal(1 + counter % 5),
                                Decimal(125 + (counter * 37) % 900) + Decimal("0.50"),
                                {"DEPARTMENT": departments[counter % 4]}),
            ]
            if counter % 3 == 0:
                project = ["P-1001", "P-1002", "P-1003"][counter % 3 if counter % 9 else 2]
                project_dims = {"DEPARTMENT": "PROD", "PROJECT": project}
                if counter % 4 == 0:
                    project_dims["AREA"] = "EAST" if counter % 8 else "WEST"
                lines.append(DemoInvoiceLine(2, _VENDOR_ACCOUNTS[(index + 5) % 40], "Project materials",
                                             Decimal(2), Decimal(89 + counter), project_dims))
            if counter % 20 == 5:  # a few invoices also buy stock items (Item lines, no G/L account on the line)
                lines.append(DemoInvoiceLine(len(lines) + 1, "1100", "Steel plate 10 mm", Decimal(10),
                                             Decimal("42.00"), {"DEPARTMENT": "PROD"}, line_type="Item"))
            posting = DEMO_TODAY - timedelta(days=60 - counter)
            invoices.append(DemoInvoice(
                number=f"108{counter:03d}",
                vendor_number=vendor.number,
                vendor_invoice_number=f"INV-{vendor.number[1:]}-{k + 1:02d}",
                posting_date=posting,
                due_date=posting + timedelta(days=30),
                lines=tuple(lines),
            ))
    return invoices


def demo_draft_invoices() -> list[DemoInvoice]:
    """Purchase invoices still being entered in NAV (not posted): never to become BILL bills.

    Business Central's purchaseInvoices lists them with status Draft; posting one keeps its API id and
    gives it a posted number."""
    return [
        DemoInvoice("1001", "V00020", "INV-00020-DRAFT", DEMO_TODAY, DEMO_TODAY + timedelta(days=30),
                    (DemoInvoiceLine(1, "5120", "Fasteners, not yet approved", Decimal(4), Decimal("61.25"),
                                     {"DEPARTMENT": "PROD"}),)),
        DemoInvoice("1002", "V00070", "INV-00070-DRAFT", DEMO_TODAY, DEMO_TODAY + timedelta(days=30),
                    (DemoInvoiceLine(1, "6100", "Paint, awaiting receipt", Decimal(1), Decimal("318.40"),
                                     {"DEPARTMENT": "MAINT", "AREA": "WEST"}),)),
    ]


def demo_purchase_orders() -> list[tuple[str, str, Decimal]]:
    """A few open purchase orders: present in NAV, never to be pushed to BILL."""
    return [("106001", "V00010", Decimal("4200.00")), ("106002", "V00050", Decimal("880.00")),
            ("106003", "V00120", Decimal("1530.25"))]


def large_vendor_rows(count: int) -> list[DemoVendor]:
    """Benchmark seed: ``count`` synthetic vendors (cheap to generate, distinct names)."""
    return [
        DemoVendor(number=f"L{i:07d}", name=f"Bench Vendor {i:07d}", address=f"{i} Bench St", city="Pittsburgh",
                   state="PA", postal_code="15222", email=f"v{i}@bench.example", phone=f"555-{i % 10000:04d}")
        for i in range(1, count + 1)
    ]


def large_invoice_rows(vendor_count: int, per_vendor: int = 2) -> list[DemoInvoice]:
    start = DEMO_TODAY - timedelta(days=90)
    rows = []
    n = 0
    for i in range(1, vendor_count + 1):
        for k in range(per_vendor):
            n += 1
            rows.append(DemoInvoice(
                number=f"B{n:08d}", vendor_number=f"L{i:07d}", vendor_invoice_number=f"BI-{i}-{k}",
                posting_date=start + timedelta(days=n % 60), due_date=start + timedelta(days=30 + n % 60),
                lines=(DemoInvoiceLine(1, "5110", "Bench material", Decimal(1), Decimal(100 + n % 500),
                                       {"DEPARTMENT": "PROD"}),),
            ))
    return rows
