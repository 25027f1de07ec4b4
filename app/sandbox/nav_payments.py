"""BC API v2.0 vendor payment journals for the NAV sandbox, after Microsoft's API reference.

* ``companies({id})/vendorPaymentJournals``: id, code, displayName, balancingAccountId,
  balancingAccountNumber, lastModifiedDateTime. GET (list, ``$filter``), POST (201), GET one.
* ``vendorPaymentJournals({id})/vendorPayments``: id, journalId, journalDisplayName, lineNumber, vendorId,
  vendorNumber, postingDate, documentNumber, externalDocumentNumber, amount, appliesToInvoiceId,
  appliesToInvoiceNumber, description, comment, lastModifiedDateTime. GET (list), POST (201), GET one,
  DELETE (204).
* ``POST vendorPaymentJournals({id})/Microsoft.NAV.post``: posts the journal, answers 204 No Content.

A vendor payment journal is a batch of the PAYMENT journal template: its lines are the very rows the OData
``GeneralJournalLines`` page shows (Journal_Template_Name = PAYMENT, Journal_Batch_Name = code), and posting
goes through the same ``_post_batch`` (vendor ledger entries applied to the invoice, G/L entries, lines
removed), so both paths see one set of data.
"""

from __future__ import annotations

import itertools
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from app.sandbox.base import Request, Response
from app.sandbox.nav_odata import parse_filter

PAYMENT_TEMPLATE = "PAYMENT"
_line_ids = itertools.count(1)


def _err(status: int, code: str, message: str) -> Exception:
    from app.sandbox.nav import ODataError  # nav.py imports this module first

    return ODataError(status, code, message)


def _new_id(kind: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"navbill-sandbox:{kind}:{next(_line_ids)}:{uuid.uuid4()}"))


class PaymentJournalApi:
    """Mixed into NavSandbox: needs its journal, accounts, vendors, invoices tables and helpers."""

    payment_journals: dict[str, dict]

    # -- views -------------------------------------------------------------------------
    def _journal_view(self, journal: dict) -> dict:
        from app.sandbox.nav import _json_value

        return {name: _json_value(value) for name, value in journal.items() if not name.startswith("_")}

    def _payment_view(self, journal: dict, row: dict) -> dict:
        from app.sandbox.nav import _etag, _json_value

        vendor = self.vendors.get(row["Account_No"]) or {}  # type: ignore[attr-defined]
        invoice = self.invoices.get(row["Applies_to_Doc_No"]) if row.get("Applies_to_Doc_No") else None  # type: ignore[attr-defined]
        view = {
            "id": row.get("_id", ""), "journalId": journal["id"], "journalDisplayName": journal["displayName"],
            "lineNumber": row["Line_No"], "vendorId": vendor.get("Id", ""), "vendorNumber": row["Account_No"],
            "postingDate": row["Posting_Date"], "documentNumber": row["Document_No"],
            "externalDocumentNumber": row["External_Document_No"], "amount": row["Amount"],
            "appliesToInvoiceId": (invoice or {}).get("Id", "00000000-0000-0000-0000-000000000000"),
            "appliesToInvoiceNumber": row.get("Applies_to_Doc_No", ""), "description": row["Description"],
            "comment": row.get("_comment", ""), "lastModifiedDateTime": row.get("_modified"),
        }
        return {"@odata.etag": _etag(row.get("_id", ""), row.get("_v", 1)),
                **{name: _json_value(value) for name, value in view.items()}}

    def _journal_lines(self, journal: dict) -> list[tuple[Any, dict]]:
        return [(key, row) for key, row in self.journal.iter_from(None)  # type: ignore[attr-defined]
                if key[:2] == (PAYMENT_TEMPLATE, journal["code"])]

    def _journal_by_id(self, journal_id: str) -> dict:
        journal_id = journal_id.strip().strip("'")
        for journal in self.payment_journals.values():
            if journal["id"] == journal_id:
                return journal
        raise _err(404, "Internal_RecordNotFound",
                         "The Gen. Journal Batch does not exist. Identification fields and values: "
                         f"Id='{{{journal_id.upper()}}}'")

    # -- routing -------------------------------------------------------------------------
    def _payment_journals_api(self, request: Request, segments: list[str], key_args: str | None,
                              context: str) -> Response:
        """``segments`` start after ``companies(<id>)``: [vendorPaymentJournals(...), ...]."""
        from app.sandbox.nav import _split_segment

        if key_args is None:
            if len(segments) > 1:
                raise _err(400, "BadRequest_InvalidRequestUrl", "The segment needs an entity key.")
            if request.method == "GET":
                views = [self._journal_view(j) for j in self.payment_journals.values()]
                if request.query.get("$filter"):
                    predicate = parse_filter(request.query["$filter"], set(views[0]) if views else
                                             {"id", "code", "displayName", "balancingAccountId",
                                              "balancingAccountNumber", "lastModifiedDateTime"})
                    views = [v for v in views if predicate(v)]
                return Response(200, {"@odata.context": context, "value": views})
            if request.method == "POST":
                return Response(201, {"@odata.context": f"{context}/$entity",
                                      **self._journal_view(self._create_payment_journal(request))})
            raise _err(405, "BadRequest_MethodNotAllowed", f"'{request.method}' is not allowed here.")
        journal = self._journal_by_id(key_args)
        if len(segments) == 1:
            if request.method == "GET":
                return Response(200, {"@odata.context": f"{context}/$entity", **self._journal_view(journal)})
            raise _err(405, "BadRequest_MethodNotAllowed", f"'{request.method}' is not allowed here.")
        action, line_args = _split_segment(segments[1])
        if action == "Microsoft.NAV.post" and len(segments) == 2:
            if request.method != "POST":
                raise _err(405, "BadRequest_MethodNotAllowed", "Actions are invoked with POST.")
            self._post_batch(PAYMENT_TEMPLATE, journal["code"])  # type: ignore[attr-defined]
            return Response(204)
        if action != "vendorPayments" or len(segments) > 2:
            raise _err(404, "BadRequest_ResourceNotFound", f"Resource not found for the segment '{action}'.")
        lines_context = f"{context}({journal['id']})/vendorPayments"
        if line_args is None:
            if request.method == "GET":
                return Response(200, {"@odata.context": lines_context,
                                      "value": [self._payment_view(journal, row)
                                                for _, row in self._journal_lines(journal)]})
            if request.method == "POST":
                row = self._create_vendor_payment(request, journal)
                return Response(201, {"@odata.context": f"{lines_context}/$entity",
                                      **self._payment_view(journal, row)})
            raise _err(405, "BadRequest_MethodNotAllowed", f"'{request.method}' is not allowed here.")
        line_id = line_args.strip().strip("'")
        found = next(((key, row) for key, row in self._journal_lines(journal) if row.get("_id") == line_id), None)
        if found is None:
            raise _err(404, "Internal_RecordNotFound",
                             f"The Gen. Journal Line does not exist. Identification fields and values: "
                             f"Id='{{{line_id.upper()}}}'")
        key, row = found
        if request.method == "GET":
            return Response(200, {"@odata.context": f"{lines_context}/$entity", **self._payment_view(journal, row)})
        if request.method == "DELETE":
            given = request.header("If-Match")
            if given and given != "*" and given != self._payment_view(journal, row)["@odata.etag"]:
                raise _err(412, "Request_EntityChanged", "Another user has already changed the record.")
            self.journal.delete(key)  # type: ignore[attr-defined]
            return Response(204)
        raise _err(405, "BadRequest_MethodNotAllowed", f"'{request.method}' is not allowed here.")

    # -- writes --------------------------------------------------------------------------
    def _create_payment_journal(self, request: Request) -> dict:
        body = self._body(request)  # type: ignore[attr-defined]
        unknown = set(body) - {"code", "displayName", "balancingAccountId", "balancingAccountNumber"}
        if unknown:
            raise _err(400, "BadRequest", f"The property '{sorted(unknown)[0]}' does not exist on type "
                             "'Microsoft.NAV.vendorPaymentJournal'.")
        code = str(body.get("code") or "").upper()
        if not code or len(code) > 10:
            raise _err(400, "Application_StringExceededLength" if code else "BadRequest_RequiredParamNotProvided",
                             "The code must have 1 to 10 characters.")
        if code in self.payment_journals:
            raise _err(400, "Internal_EntityWithSameKeyExists",
                             f"The Gen. Journal Batch already exists. Identification fields and values: "
                             f"Journal Template Name='{PAYMENT_TEMPLATE}',Name='{code}'")
        account = None
        if body.get("balancingAccountId"):
            account = next((row for _, row in self.accounts.iter_from(None)  # type: ignore[attr-defined]
                            if row.get("Id") == body["balancingAccountId"]), None)
        elif body.get("balancingAccountNumber"):
            account = self.accounts.get(body["balancingAccountNumber"])  # type: ignore[attr-defined]
        if account is None and (body.get("balancingAccountId") or body.get("balancingAccountNumber")):
            raise _err(400, "Internal_RecordNotFound", "The G/L Account does not exist.")
        journal = {"id": _new_id("payment-journal"), "code": code,
                   "displayName": str(body.get("displayName") or code)[:100],
                   "balancingAccountId": account["Id"] if account else "00000000-0000-0000-0000-000000000000",
                   "balancingAccountNumber": account["No"] if account else "",
                   "lastModifiedDateTime": self.clock.now()}  # type: ignore[attr-defined]
        self.payment_journals[code] = journal
        return journal

    def _create_vendor_payment(self, request: Request, journal: dict) -> dict:
        body = self._body(request)  # type: ignore[attr-defined]
        allowed = {"journalId", "lineNumber", "vendorId", "vendorNumber", "postingDate", "documentNumber",
                   "externalDocumentNumber", "amount", "appliesToInvoiceId", "appliesToInvoiceNumber",
                   "description", "comment"}
        unknown = set(body) - allowed
        if unknown:
            raise _err(400, "BadRequest", f"The property '{sorted(unknown)[0]}' does not exist on type "
                             "'Microsoft.NAV.vendorPayment'.")
        vendor_no = str(body.get("vendorNumber") or "")
        if not vendor_no and body.get("vendorId"):
            vendor_no = next((k for k, row in self.vendors.iter_from(None)  # type: ignore[attr-defined]
                              if row.get("Id") == body["vendorId"]), "")
        invoice_no = str(body.get("appliesToInvoiceNumber") or "")
        if not invoice_no and body.get("appliesToInvoiceId"):
            invoice_no = next((k for k, row in self.invoices.iter_from(None)  # type: ignore[attr-defined]
                               if row.get("Id") == body["appliesToInvoiceId"]), "")
        try:
            amount = Decimal(str(body.get("amount", 0)))
        except InvalidOperation:
            raise _err(400, "BadRequest", "Cannot convert the literal to the expected type 'Edm.Decimal'.") \
                from None
        values: dict[str, Any] = {
            "Journal_Template_Name": PAYMENT_TEMPLATE, "Journal_Batch_Name": journal["code"],
            "Account_Type": "Vendor", "Account_No": vendor_no, "Document_Type": "Payment",
            "Document_No": str(body.get("documentNumber") or ""),
            "External_Document_No": str(body.get("externalDocumentNumber") or ""),
            "Amount": amount, "Description": str(body.get("description") or "")[:100],
            "Bal_Account_Type": "G/L Account", "Bal_Account_No": journal["balancingAccountNumber"],
            "Applies_to_Doc_Type": "Invoice" if invoice_no else "", "Applies_to_Doc_No": invoice_no,
        }
        if body.get("lineNumber"):
            values["Line_No"] = int(body["lineNumber"])
        if body.get("postingDate"):
            from datetime import date

            values["Posting_Date"] = date.fromisoformat(str(body["postingDate"]))
        if not vendor_no:
            raise _err(400, "BadRequest_RequiredParamNotProvided", "Field 'vendorNumber' must not be blank.")
        entity_set = self._odata_sets()["GeneralJournalLines"]  # type: ignore[attr-defined]
        row = self._insert_values(entity_set, values)  # type: ignore[attr-defined]
        row["_comment"] = str(body.get("comment") or "")[:250]
        row["_modified"] = self.clock.now()  # type: ignore[attr-defined]
        return row
