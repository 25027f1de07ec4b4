"""Domain records as outbox payloads (JSON) and back: what a bulk call or a held invoice keeps in the store."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from app.domain.models import InvoiceLine, NavVendor, PostedInvoice, VendorFields
from app.engine.common import iso, parse_time


def nav_vendor_to_json(vendor) -> dict:
    return {"number": vendor.number, "fields": vendor.fields.as_dict(), "etag": vendor.etag,
            "last_modified": iso(vendor.last_modified)}


def nav_vendor_from_json(data: dict):
    return NavVendor(number=data["number"], fields=VendorFields.from_dict(data["fields"]), etag=data.get("etag", ""),
                     last_modified=parse_time(data.get("last_modified", "")))


def invoice_to_json(invoice: PostedInvoice) -> dict:
    return {
        "number": invoice.number, "vendor_number": invoice.vendor_number,
        "vendor_invoice_number": invoice.vendor_invoice_number, "posting_date": invoice.posting_date.isoformat(),
        "document_date": invoice.document_date.isoformat(), "due_date": invoice.due_date.isoformat(),
        "amount": str(invoice.amount), "amount_including_tax": str(invoice.amount_including_tax),
        "currency": invoice.currency, "cancelled": invoice.cancelled,
        "lines": [{"line_no": line.line_no, "gl_account": line.gl_account, "description": line.description,
                   "amount": str(line.amount), "dimensions": dict(line.dimensions), "quantity": str(line.quantity),
                   "line_type": line.line_type, "object_number": line.object_number}
                  for line in invoice.lines],
    }


def invoice_from_json(data: dict) -> PostedInvoice:
    return PostedInvoice(
        number=data["number"], vendor_number=data["vendor_number"],
        vendor_invoice_number=data["vendor_invoice_number"], posting_date=date.fromisoformat(data["posting_date"]),
        document_date=date.fromisoformat(data["document_date"]), due_date=date.fromisoformat(data["due_date"]),
        amount=Decimal(data["amount"]), amount_including_tax=Decimal(data["amount_including_tax"]),
        currency=data.get("currency", ""), cancelled=bool(data.get("cancelled")),
        lines=tuple(InvoiceLine(line_no=line["line_no"], gl_account=line["gl_account"],
                                description=line["description"], amount=Decimal(line["amount"]),
                                dimensions=dict(line["dimensions"]), quantity=Decimal(line["quantity"]),
                                line_type=line.get("line_type", "G/L Account" if line["gl_account"] else ""),
                                object_number=line.get("object_number", ""))
                    for line in data["lines"]),
    )
