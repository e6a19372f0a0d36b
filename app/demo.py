"""The sample trade that ``make run`` shows a newcomer (``tradezone demo load``).

Six organisations (an exporter, an importer, a carrier, a bank, a customs
authority and a regulator), an invoice, a packing list, a customs
declaration, an electronic bill of lading moved from the shipper to the bank,
a consent letting the foreign buyer read the invoice and packing list, and
three customs edge devices (a container scanner, a seal, a cold-chain
sensor). The README walks on from there: the bank hands the eBL to the
buyer, who surrenders it to the carrier. Tokens go to a 0600 JSON file; the
devices' private keys and MQTT passwords to the simulator's 0600 keys file.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from app.consent import services as consents
from app.devices import services as devices
from app.documents import ebl, services as documents
from app.documents.types import DOCUMENT_TYPES
from app.identity.auth import Principal
from app.identity.models import Role
from app.identity.services import create_organization
from app.platform import Platform
from iot_gateway.simulator import ALGS, KINDS, SimulatedDevice, save_keys_file

CAST = (
    ("exporter", "Shanghai Lotus Export Co.", Role.FIRM),
    ("importer", "Hamburg Nordhandel GmbH", Role.FIRM),
    ("carrier", "Pacific Crescent Lines", Role.FIRM),
    ("bank", "Bund Trade Bank", Role.FIRM),
    ("customs", "Zone Customs Authority", Role.CUSTOMS),
    ("regulator", "Zone Data Regulator", Role.REGULATOR),
)


def devices_file_for(tokens_file: Path) -> Path:
    """Where the sample devices' keys go: beside the tokens file."""
    return tokens_file.with_name("demo-devices.json")


def load_demo(platform: Platform, tokens_file: Path) -> dict[str, Any]:
    """Load the sample unless ``tokens_file`` shows it is loaded; return what exists."""
    if tokens_file.exists():
        return json.loads(tokens_file.read_text())
    now = platform.now()
    with platform.db.write() as session:
        orgs: dict[str, dict[str, str]] = {}
        for name, title, role in CAST:
            org, token = create_organization(session, platform.notary, title, role, now)
            orgs[name] = {"org_id": org.id, "token": token.text, "role": role.value}
        who = {name: Principal(item["org_id"], Role(item["role"])) for name, item in orgs.items()}
        notary = platform.notary

        def issue(owner: str, doc_type: str, **org_fields: str) -> str:
            content = _example(doc_type, {k: orgs[v]["org_id"] for k, v in org_fields.items()})
            draft = documents.prepare(doc_type, content)
            return documents.submit(session, notary, who[owner], draft, now).document.id

        invoice = issue("exporter", "commercial_invoice")
        packing_list = issue("exporter", "packing_list")
        declaration = issue("exporter", "customs_declaration", customs_authority_org_id="customs")
        bill = issue("carrier", "bill_of_lading", **{"shipper.org_id": "exporter",
                                                      "carrier.org_id": "carrier"})
        offer, _ = ebl.offer_transfer(session, notary, who["exporter"], bill,
                                      orgs["bank"]["org_id"], now)
        ebl.decide_transfer(session, notary, who["bank"], bill, offer.id, True, now)
        consent, _ = consents.grant(session, notary, platform.export_policy, who["exporter"],
                                    consents.ConsentTerms(
            recipient_org_id=orgs["importer"]["org_id"],
            purpose="Buyer checks the invoice and packing list before paying",
            document_ids=[invoice, packing_list],
            data_categories=["reference", "party", "commercial", "logistics"],
            destination="DE", expires_at=now + timedelta(days=90)), now)
        simulated = [_register_device(session, notary, who["customs"], n, now) for n in range(3)]
    save_keys_file(devices_file_for(tokens_file), simulated)
    sample = {"organisations": orgs, "documents": {
        "invoice": invoice, "packing_list": packing_list, "customs_declaration": declaration,
        "bill_of_lading": bill}, "consent": consent.id,
        "devices": [device.device_id for device in simulated]}
    _write_private(tokens_file, json.dumps(sample, indent=2))
    return sample


def _register_device(session, notary, customs: Principal, n: int, now) -> SimulatedDevice:
    """Register the simulator's ``n``-th kind of device, as customs would over the API."""
    kind, alg = KINDS[n % len(KINDS)], ALGS[n % len(ALGS)]
    device = SimulatedDevice.new(f"zone-{kind.replace('_', '-')}-{n + 1}", alg, kind)
    device.mqtt_password = secrets.token_urlsafe(24)
    devices.register(session, notary, customs, devices.NewDevice(
        device.device_id, alg, device.public_pem(), kind), device.mqtt_password, now)
    return device


def _example(doc_type: str, org_ids: dict[str, str]) -> dict[str, Any]:
    """The type's example with placeholder org ids removed and the given ones set
    (keys are dotted paths such as ``shipper.org_id``)."""
    content = _without_org_ids(copy.deepcopy(dict(DOCUMENT_TYPES[doc_type].example)))
    for path, org_id in org_ids.items():
        *parents, last = path.split(".")
        target = content
        for part in parents:
            target = target[part]
        target[last] = org_id
    return content


def _without_org_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_org_ids(v) for k, v in value.items() if k != "org_id"}
    if isinstance(value, list):
        return [_without_org_ids(v) for v in value]
    return value


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
