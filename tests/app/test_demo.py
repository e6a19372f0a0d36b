"""The sample trade ``make run`` loads for a newcomer."""

from __future__ import annotations

import stat

from app.demo import devices_file_for, load_demo
from app.logcheck import check_platform_log
from iot_gateway.simulator import load_keys_file


def test_demo_loads_once_and_the_walkthrough_starts_from_it(platform, app, tmp_path):
    tokens = tmp_path / "demo-tokens.json"
    sample = load_demo(platform, tokens)
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    devices = load_keys_file(devices_file_for(tokens))
    assert [d.device_id for d in devices] == sample["devices"] and len(devices) == 3
    assert all(d.mqtt_password for d in devices)
    assert stat.S_IMODE(devices_file_for(tokens).stat().st_mode) == 0o600
    assert load_demo(platform, tokens) == sample  # a second load changes nothing
    client = app.test_client()

    def headers(name):
        return {"Authorization": f"Bearer {sample['organisations'][name]['token']}"}

    docs = sample["documents"]
    bill = client.get(f"/api/v1/documents/{docs['bill_of_lading']}", headers=headers("bank"))
    assert bill.get_json()["holder_org_id"] == sample["organisations"]["bank"]["org_id"]
    invoice = client.get(f"/api/v1/documents/{docs['invoice']}", headers=headers("importer"))
    assert invoice.get_json()["access"] == "consent"
    declaration = client.get(f"/api/v1/documents/{docs['customs_declaration']}",
                             headers=headers("customs"))
    assert declaration.get_json()["access"] == "full"
    registered = client.get("/api/v1/devices", headers=headers("customs")).get_json()["items"]
    assert sorted(d["device_id"] for d in registered) == sorted(sample["devices"])
    report = check_platform_log(platform)
    assert report.ok and report.size > 15
