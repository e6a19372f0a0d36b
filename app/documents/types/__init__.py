"""The trade document types: a strict schema, data categories and an example each.

``DOCUMENT_TYPES`` maps a type name to its :class:`DocumentType`. A type's
schema loads to plain JSON values (amounts and dates stay the validated
strings), ready for RFC 8785 canonicalization. Every top-level field belongs to
one of :data:`DATA_CATEGORIES`; a consent names categories, and the reader gets
the top-level fields in them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from marshmallow import Schema

from . import customs, ecommerce, examples, origin, trade, transport, waybill

DATA_CATEGORIES = ("reference", "party", "personal_information", "commercial", "financial",
                   "logistics", "customs")


class UnknownDocumentType(KeyError):
    """No document type has this name; the message lists the known names."""


@dataclass(frozen=True)
class DocumentType:
    """A document type. ``__post_init__`` raises ValueError unless every top-level
    field of ``schema`` has exactly one known category and ``party_fields`` are fields.

    ``party_fields`` hold a Party (or a list of them) whose optional ``org_id``
    names a Tradezone counterparty.
    """

    name: str
    schema: type[Schema]
    field_categories: Mapping[str, str]
    party_fields: tuple[str, ...]
    example: Mapping[str, Any]
    description: str

    def __post_init__(self) -> None:
        declared = set(self.schema().fields)
        if set(self.field_categories) != declared:
            raise ValueError(f"{self.name}: categorized {sorted(self.field_categories)}, "
                             f"schema fields {sorted(declared)}")
        unknown = set(self.field_categories.values()) - set(DATA_CATEGORIES)
        if unknown:
            raise ValueError(f"{self.name}: unknown categories {sorted(unknown)}")
        if not set(self.party_fields) <= declared:
            raise ValueError(f"{self.name}: party fields {self.party_fields} not all fields")
        object.__setattr__(self, "field_categories", MappingProxyType(dict(self.field_categories)))

    @property
    def schema_name(self) -> str:
        """The content schema's name in the OpenAPI document, e.g. ``CommercialInvoice``."""
        return self.schema.__name__.removesuffix("Schema")

    def fields_in(self, categories: set[str] | frozenset[str]) -> tuple[str, ...]:
        """The top-level fields disclosed by a consent naming ``categories``."""
        return tuple(name for name, category in self.field_categories.items()
                     if category in categories)


_TYPES = (
    DocumentType("commercial_invoice", trade.CommercialInvoiceSchema,
                 trade.COMMERCIAL_INVOICE_CATEGORIES, ("seller", "buyer"),
                 examples.COMMERCIAL_INVOICE,
                 "Commercial invoice (UN/CEFACT Cross Industry Invoice essentials)."),
    DocumentType("packing_list", trade.PackingListSchema, trade.PACKING_LIST_CATEGORIES,
                 ("shipper", "consignee"), examples.PACKING_LIST,
                 "Packing list: packages, marks and weights by invoice line."),
    DocumentType("bill_of_lading", transport.BillOfLadingSchema,
                 transport.BILL_OF_LADING_CATEGORIES,
                 ("carrier", "shipper", "consignee", "notify_party"), examples.BILL_OF_LADING,
                 "Electronic, transferable bill of lading (DCSA eBL 3.0 transport document)."),
    DocumentType("certificate_of_origin", origin.CertificateOfOriginSchema,
                 origin.CERTIFICATE_OF_ORIGIN_CATEGORIES,
                 ("issuing_authority", "exporter", "consignee", "producer"),
                 examples.CERTIFICATE_OF_ORIGIN,
                 "Certificate of origin, non-preferential or under a trade agreement."),
    DocumentType("customs_declaration", customs.CustomsDeclarationSchema,
                 customs.CUSTOMS_DECLARATION_CATEGORIES, ("declarant", "exporter", "importer"),
                 examples.CUSTOMS_DECLARATION,
                 "Export or import goods declaration (WCO Data Model essentials)."),
    DocumentType("ecommerce_order", ecommerce.EcommerceOrderSchema,
                 ecommerce.ECOMMERCE_ORDER_CATEGORIES, ("marketplace", "seller"),
                 examples.ECOMMERCE_ORDER, "Cross-border e-commerce order of a consumer."),
    DocumentType("payment_record", ecommerce.PaymentRecordSchema,
                 ecommerce.PAYMENT_RECORD_CATEGORIES, ("payee", "payment_provider"),
                 examples.PAYMENT_RECORD, "Payment of a cross-border e-commerce order."),
    DocumentType("logistics_waybill", waybill.LogisticsWaybillSchema,
                 waybill.LOGISTICS_WAYBILL_CATEGORIES, ("carrier", "shipper"),
                 examples.LOGISTICS_WAYBILL,
                 "Parcel waybill of a cross-border e-commerce shipment, with customs data."),
)

DOCUMENT_TYPES: Mapping[str, DocumentType] = MappingProxyType({t.name: t for t in _TYPES})


def document_type(name: str) -> DocumentType:
    """The document type called ``name``; raises UnknownDocumentType otherwise."""
    try:
        return DOCUMENT_TYPES[name]
    except KeyError:
        raise UnknownDocumentType(f"unknown document type {name!r}; known types: "
                                  f"{', '.join(sorted(DOCUMENT_TYPES))}") from None
