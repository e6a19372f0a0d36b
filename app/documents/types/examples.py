"""One realistic, valid document per type; the tests load every one.

A Shanghai router maker ships FOB Shanghai to a Hamburg importer (invoice,
packing list, bill of lading, export declaration) and under RCEP to Singapore
(certificate of origin); a Shenzhen shop sells earphones to a Singapore
consumer (order, payment, waybill). Every company, person, number and
organisation id is invented.
"""

from __future__ import annotations

from typing import Any

LIANHUA = {
    "kind": "business",
    "name": "Shanghai Lianhua Electronics Co., Ltd.",
    "country": "CN",
    "address": ["No. 88 Zhangjiang Road", "Pudong New Area, Shanghai 201203"],
    "tax_id": "91310115MA1K4ABC2X",
    "org_id": "org_shlianhua2a3b4c5",
}
NORDLICHT = {
    "kind": "business",
    "name": "Nordlicht Netztechnik GmbH",
    "country": "DE",
    "address": ["Am Sandtorkai 50", "20457 Hamburg"],
    "tax_id": "DE123456789",
    "org_id": "org_nordlichtde23456",
}
MERLION = {
    "kind": "business",
    "name": "Merlion Smart Home Pte. Ltd.",
    "country": "SG",
    "address": ["10 Example Industrial Park Road", "#04-12", "Singapore 609999"],
    "tax_id": "201912345K",
}
SONIC = {
    "kind": "business",
    "name": "Shenzhen Qianhai Sonic Gadgets Co., Ltd.",
    "country": "CN",
    "address": ["Building 5, Qianhai Example Park", "Nanshan District, Shenzhen 518052"],
    "org_id": "org_szsonicgadget2ab",
}
CONSUMER = {
    "name": "Tan Mei Ling",
    "phone": "+6591234567",
    "email": "meiling.tan@example.com",
    "delivery_address": {
        "lines": ["Blk 123 Example Avenue 4", "#05-67"],
        "city": "Singapore",
        "postal_code": "560123",
        "country": "SG",
    },
}


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


def sgd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "SGD"}


COMMERCIAL_INVOICE: dict[str, Any] = {
    "invoice_number": "LH-2025-00417",
    "type_code": "380",
    "issue_date": "2025-03-03",
    "purchase_order_reference": "NL-PO-88213",
    "seller": LIANHUA,
    "buyer": NORDLICHT,
    "currency": "USD",
    "incoterms": {"rule": "FOB", "place": "Shanghai"},
    "line_items": [
        {"line_id": "1", "seller_item_id": "AX3000-EU", "description": "Wi-Fi 6 router AX3000",
         "quantity": "1200", "unit_code": "H87", "net_price": usd("38.50"),
         "line_total": usd("46200.00")},
        {"line_id": "2", "seller_item_id": "MN1800-EU", "description": "Wi-Fi 6 mesh node MN1800",
         "quantity": "800", "unit_code": "H87", "net_price": usd("21.125"),
         "line_total": usd("16900.00")},
    ],
    "taxes": [
        {"type_code": "VAT", "category_code": "G", "rate_percent": "0",
         "basis_amount": usd("63100.00"), "tax_amount": usd("0.00")},
    ],
    "totals": {"line_total": usd("63100.00"), "tax_total": usd("0.00"),
               "grand_total": usd("63100.00")},
    "payment_terms": {"description": "T/T 30 days after B/L date", "due_date": "2025-04-07",
                      "means_code": "30", "payee_account": "31001234567890123456",
                      "payee_bic": "BKCHCNBJ300"},
    "customs_classification": [
        {"line_id": "1", "hs_code": "8517620000", "origin_country": "CN"},
        {"line_id": "2", "hs_code": "8517620000", "origin_country": "CN"},
    ],
}

PACKING_LIST: dict[str, Any] = {
    "packing_list_number": "PL-2025-00417",
    "issue_date": "2025-03-03",
    "invoice_number": "LH-2025-00417",
    "shipper": LIANHUA,
    "consignee": NORDLICHT,
    "items": [
        {"line_id": "1", "description": "Wi-Fi 6 router AX3000", "quantity": "1200",
         "unit_code": "H87"},
        {"line_id": "2", "description": "Wi-Fi 6 mesh node MN1800", "quantity": "800",
         "unit_code": "H87"},
    ],
    "packages": [
        {"package_number": "CTN 1-600", "package_code": "CT", "package_count": 600,
         "line_ids": ["1"], "shipping_marks": ["NORDLICHT HAMBURG", "C/NO. 1-600"],
         "gross_weight_kg": "7800.000", "net_weight_kg": "6600.000", "volume_m3": "38.400",
         "container_number": "CSQU3054383"},
        {"package_number": "CTN 601-1000", "package_code": "CT", "package_count": 400,
         "line_ids": ["2"], "shipping_marks": ["NORDLICHT HAMBURG", "C/NO. 601-1000"],
         "gross_weight_kg": "3400.000", "net_weight_kg": "2880.000", "volume_m3": "19.200",
         "container_number": "CBHU8127457"},
    ],
    "totals": {"package_count": 1000, "gross_weight_kg": "11200.000",
               "net_weight_kg": "9480.000"},
}

BILL_OF_LADING: dict[str, Any] = {
    "transport_document_reference": "OSCL2503SHA0417",
    "transport_document_type_code": "BOL",
    "is_electronic": True,
    "is_to_order": True,
    "is_shipped_on_board_type": True,
    "shipped_on_board_date": "2025-03-08",
    "issue_date": "2025-03-08",
    "place_of_issue": "CNSHA",
    "number_of_originals": 1,
    "carrier": {"kind": "business", "name": "Orient Star Container Lines Ltd.", "country": "HK",
                "address": ["1 Example Harbour Road", "Wan Chai, Hong Kong"],
                "org_id": "org_orientstarline23"},
    "carrier_code": "OSCL",
    "carrier_code_list_provider": "NMFTA",
    "shipper": LIANHUA,
    "notify_party": NORDLICHT,
    "freight_payment_term_code": "COL",
    "invoice_payable_at": "DEHAM",
    "terms_and_conditions": "Carriage is subject to the carrier's standard bill of lading "
                            "terms, available on request.",
    "receipt_type_at_origin": "CY",
    "delivery_type_at_destination": "CY",
    "cargo_movement_type_at_origin": "FCL",
    "cargo_movement_type_at_destination": "FCL",
    "transports": {
        "port_of_loading": "CNSHA",
        "port_of_discharge": "DEHAM",
        "planned_departure_date": "2025-03-08",
        "planned_arrival_date": "2025-04-12",
        "vessel_voyages": [{"vessel_name": "ORIENT STAR HARMONY",
                            "carrier_export_voyage_number": "041W"}],
    },
    "consignment_items": [{
        "carrier_booking_reference": "OSCL2503417",
        "description_of_goods": ["Wi-Fi 6 routers and mesh nodes"],
        "hs_codes": ["851762"],
        "cargo_items": [
            {"equipment_reference": "CSQU3054383", "cargo_gross_weight_kg": "7800.000",
             "cargo_net_weight_kg": "6600.000",
             "outer_packaging": {"package_code": "CT", "number_of_packages": 600,
                                 "description": "Cartons"},
             "shipping_marks": ["NORDLICHT HAMBURG", "C/NO. 1-600"]},
            {"equipment_reference": "CBHU8127457", "cargo_gross_weight_kg": "3400.000",
             "cargo_net_weight_kg": "2880.000",
             "outer_packaging": {"package_code": "CT", "number_of_packages": 400,
                                 "description": "Cartons"},
             "shipping_marks": ["NORDLICHT HAMBURG", "C/NO. 601-1000"]},
        ],
    }],
    "utilized_transport_equipments": [
        {"equipment_reference": "CSQU3054383", "iso_equipment_code": "45G1",
         "tare_weight_kg": "3900", "is_shipper_owned": False,
         "seals": [{"number": "OS2503001", "source": "CAR"}]},
        {"equipment_reference": "CBHU8127457", "iso_equipment_code": "45G1",
         "tare_weight_kg": "3900", "is_shipper_owned": False,
         "seals": [{"number": "OS2503002", "source": "CAR"}]},
    ],
}

CERTIFICATE_OF_ORIGIN: dict[str, Any] = {
    "certificate_number": "R255100000417001",
    "certificate_type": "preferential",
    "agreement": "RCEP",
    "issue_date": "2025-03-10",
    "issuing_authority": {"kind": "business",
                          "name": "China Council for the Promotion of International Trade, "
                                  "Shanghai Sub-Council",
                          "country": "CN", "org_id": "org_ccpitshanghai234"},
    "exporter": LIANHUA,
    "consignee": MERLION,
    "producer": LIANHUA,
    "importing_country": "SG",
    "transport": {"mode_of_transport": "sea", "departure_date": "2025-03-11",
                  "vessel_or_flight": "ORIENT STAR LUMEN 112S", "port_of_loading": "CNSHA",
                  "port_of_discharge": "SGSIN"},
    "invoice_references": [{"invoice_number": "LH-2025-00422", "invoice_date": "2025-03-06"}],
    "goods": [
        {"item_number": 1, "marks": "MERLION SG C/NO. 1-150", "package_count": 150,
         "package_code": "CT", "description": "Wi-Fi 6 router AX3000", "quantity": "300",
         "unit_code": "H87", "gross_weight_kg": "1950.000"},
    ],
    "origin_determination": [
        {"item_number": 1, "hs_code": "851762", "origin_country": "CN",
         "origin_criterion": "CTC"},
    ],
}

CUSTOMS_DECLARATION: dict[str, Any] = {
    "declaration_type": "EX",
    "function_code": "9",
    "local_reference_number": "LRN-2025-0417-01",
    "issue_datetime": "2025-03-06T10:15:00+08:00",
    "customs_authority_org_id": "org_shanghaicustoms2",
    "customs_office_code": "2201",
    "declarant": {"kind": "business", "name": "Shanghai Haitong Customs Brokerage Co., Ltd.",
                  "country": "CN", "tax_id": "91310000MA1FL2XY3Z",
                  "org_id": "org_haitongbroker2ab"},
    "exporter": LIANHUA,
    "importer": NORDLICHT,
    "export_country": "CN",
    "destination_country": "DE",
    "transport": {"mode_at_border": "1", "means_identity": "ORIENT STAR HARMONY",
                  "loading_location": "CNSHA", "unloading_location": "DEHAM",
                  "container_numbers": ["CSQU3054383", "CBHU8127457"]},
    "currency": "USD",
    "total_customs_value": usd("63100.00"),
    "goods_items": [
        {"sequence_number": 1, "description": "Wi-Fi 6 router AX3000", "hs_code": "8517620000",
         "origin_country": "CN", "procedure_code": "0110", "customs_value": usd("46200.00"),
         "net_mass_kg": "6600.000", "gross_mass_kg": "7800.000",
         "supplementary_quantity": "1200", "supplementary_unit_code": "H87"},
        {"sequence_number": 2, "description": "Wi-Fi 6 mesh node MN1800",
         "hs_code": "8517620000", "origin_country": "CN", "procedure_code": "0110",
         "customs_value": usd("16900.00"), "net_mass_kg": "2880.000",
         "gross_mass_kg": "3400.000", "supplementary_quantity": "800",
         "supplementary_unit_code": "H87"},
    ],
}

ECOMMERCE_ORDER: dict[str, Any] = {
    "order_number": "SO-20250301-884512",
    "order_datetime": "2025-03-01T21:04:37+08:00",
    "marketplace": {"kind": "business", "name": "Harbour Bazaar Pte. Ltd.", "country": "SG",
                    "org_id": "org_harbourbazaar234"},
    "seller": SONIC,
    "buyer": CONSUMER,
    "currency": "SGD",
    "items": [
        {"sku": "EB-Q30-BLK", "description": "Wireless earphones Q30, black", "quantity": 2,
         "unit_price": sgd("39.90"), "line_total": sgd("79.80")},
        {"sku": "CASE-Q30-SIL", "description": "Silicone case for Q30", "quantity": 1,
         "unit_price": sgd("12.50"), "line_total": sgd("12.50")},
    ],
    "totals": {"items_total": sgd("92.30"), "shipping": sgd("5.00"), "tax": sgd("8.76"),
               "discount": sgd("3.00"), "order_total": sgd("103.06")},
    "payment_reference": "PAY-20250301-551903",
}

PAYMENT_RECORD: dict[str, Any] = {
    "payment_id": "PAY-20250301-551903",
    "provider_transaction_id": "LCP2025030121043900017",
    "order_reference": "SO-20250301-884512",
    "paid_at": "2025-03-01T13:05:02Z",
    "status": "captured",
    "payer": {"name": "Tan Mei Ling", "email": "meiling.tan@example.com"},
    "payee": SONIC,
    "payment_provider": {"kind": "business", "name": "Lion City Payments Pte. Ltd.",
                         "country": "SG", "org_id": "org_lioncitypay23456"},
    "amount": sgd("103.06"),
    "method": {"type": "card", "scheme": "VISA", "account_last4": "4821"},
}

LOGISTICS_WAYBILL: dict[str, Any] = {
    "waybill_number": "PRX250302004417",
    "issue_datetime": "2025-03-02T16:20:00+08:00",
    "order_reference": "SO-20250301-884512",
    "carrier": {"kind": "business", "name": "Pearl River Express Co., Ltd.", "country": "CN",
                "org_id": "org_pearlriverexp2ab"},
    "shipper": SONIC,
    "recipient": CONSUMER,
    "route": {"origin": "CNSZX", "destination": "SGSIN", "mode_of_transport": "air"},
    "parcels": [{"parcel_number": "PRX250302004417-1", "gross_weight_kg": "0.620",
                 "net_weight_kg": "0.450"}],
    "contents": [
        {"item_number": 1, "description": "Wireless earphones", "quantity": 2,
         "value": sgd("79.80")},
        {"item_number": 2, "description": "Silicone earphone case", "quantity": 1,
         "value": sgd("12.50")},
    ],
    "customs": {
        "goods_category": "sale_of_goods",
        "declared_value": sgd("92.30"),
        "duties_paid_by": "sender",
        "items": [{"item_number": 1, "hs_code": "851830", "origin_country": "CN"},
                  {"item_number": 2, "hs_code": "420292", "origin_country": "CN"}],
    },
}
