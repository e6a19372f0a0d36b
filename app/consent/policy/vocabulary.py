"""The platform's fixed vocabularies: data categories and document types.

A consent names which categories of a document it discloses. The order of
``DATA_CATEGORIES`` and ``DOCUMENT_TYPES`` is the order in which
:meth:`ExportPolicy.check` examines them, so the first refusal is deterministic.
"""

from __future__ import annotations

DATA_CATEGORIES: tuple[str, ...] = (
    "reference",             # document numbers, dates
    "party",                 # business trading parties
    "personal_information",  # individuals: e-commerce buyers, parcel recipients
    "commercial",            # goods, prices, totals
    "financial",             # payment accounts and method details
    "logistics",             # ports, vessels, containers, weights, routes
    "customs",               # HS codes, declared values, procedure codes, origin criteria
)

DOCUMENT_TYPES: tuple[str, ...] = (
    "commercial_invoice",
    "packing_list",
    "bill_of_lading",
    "certificate_of_origin",
    "customs_declaration",
    "ecommerce_order",
    "payment_record",
    "logistics_waybill",
)

ANY_DESTINATION = "*"
"""In a rule's ``destinations``: every jurisdiction."""
