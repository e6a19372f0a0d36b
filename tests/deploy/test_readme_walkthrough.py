"""The README's walk-through, run as a newcomer would: its shell blocks, word
for word, against the platform ``make run`` starts (deploy/devstack.py).

Only what ties the text to one machine is changed: the API's and the metrics'
ports (free ones here), ``var/`` (a temporary directory) and ``.venv/bin/``
(this interpreter's). Each block runs under ``bash -e -o pipefail``, so a
command that fails stops it; its output is then checked for what the README's
comments promise.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from app.identity.tokens import parse_token
from tests.deploy.test_devstack import _children, _kill
from tests.services.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FIRST_LOOK, DEVICES = "## A first look: the sample trade", "### Devices, the gateway, and the audit"
ORGANISATIONS = "### Organisations and their tokens"


def readme_block(heading: str) -> str:
    """The first ```sh block after ``heading`` in the README."""
    text = README.read_text()
    start = text.index(heading)
    match = re.compile(r"```sh\n(.*?)```", re.DOTALL).search(text, start)
    assert match is not None, f"no shell block after {heading!r}"
    return match.group(1)


def localized(block: str, api_port: int, metrics_port: int, api_metrics_port: int,
              var: Path) -> str:
    bin_dir = Path(sys.executable).parent
    return (block.replace("127.0.0.1:8000", f"127.0.0.1:{api_port}")
            .replace("127.0.0.1:9108", f"127.0.0.1:{metrics_port}")
            .replace("127.0.0.1:9107", f"127.0.0.1:{api_metrics_port}")
            .replace("var/", f"{var}/")
            .replace(".venv/bin/", f"{bin_dir}/"))


def run_block(script: str, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def wait_for_demo(stack: subprocess.Popen, var: Path, api_port: int) -> None:
    """Until the sample is loaded and the simulator's first events are notarized."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert stack.poll() is None, stack.stdout.read()
        tokens = var / "demo-tokens.json"
        if tokens.exists():
            regulator = json.loads(tokens.read_text())["organisations"]["regulator"]["token"]
            found = subprocess.run(
                ["curl", "-sf", "-H", f"Authorization: Bearer {regulator}",
                 f"http://127.0.0.1:{api_port}/api/v1/audit/entries?type=device.event&limit=3"],
                capture_output=True, text=True)
            if found.returncode == 0 and len(json.loads(found.stdout)["entries"]) >= 3:
                return
        time.sleep(1)
    raise AssertionError("the platform did not come up with the sample and the simulator")


def test_the_readme_walkthrough_runs_as_written(tmp_path):
    api_port, mqtt_port, metrics_port = free_port(), free_port(), free_port()
    api_metrics_port = free_port()
    var, work = tmp_path / "var", tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, TZ_VAR_DIR=str(var), TZ_GATEWAY_METRICS_PORT=str(metrics_port),
               TZ_API_METRICS_PORT=str(api_metrics_port))
    for name in ("TZ_DATABASE_URL", "TZ_LEDGER_KEY_FILE"):  # the defaults under var/
        env.pop(name, None)
    stack = subprocess.Popen([sys.executable, str(ROOT / "deploy/devstack.py"),
                              "--port", str(api_port), "--mqtt-port", str(mqtt_port),
                              "--rate", "2"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_demo(stack, var, api_port)
        # The blocks share a shell, as the README says ("In the same shell").
        script = "\n".join(localized(readme_block(heading), api_port, metrics_port,
                                     api_metrics_port, var)
                           for heading in (FIRST_LOOK, DEVICES, ORGANISATIONS))
        assert script.count(str(Path(sys.executable).parent)) >= 4, \
            "the README no longer runs .venv/bin/ commands"
        output = run_block(script, work, env)
    finally:
        children = _children(stack.pid)
        stack.send_signal(signal.SIGINT)
        try:
            stack.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            for pid in [stack.pid, *children]:
                _kill(pid)
            stack.communicate()
            raise

    # The surrender receipt, the redacted invoice and the document and device bundles
    # verify offline.
    assert output.count("OK") >= 4, output
    assert "FAIL" not in output and "Traceback" not in output, output
    receipt = json.loads((work / "receipt.json").read_text())
    logged = [json.loads(base64.b64decode(entry["leaf_data"])) for entry in receipt["entries"]]
    assert [entry["type"] for entry in logged] == ["ebl.surrendered"], logged
    # The redacted invoice verified offline, down to its disclosed fields.
    assert re.search(r"disclosed and verified against entry \d+'s digest: buyer, "
                     r"invoice_number, seller, totals", output), output
    # The consent was limited before it was revoked.
    assert "limited to ['commercial', 'logistics', 'reference']" in output, output
    # After the revocation, the buyer's read is refused, saying why.
    assert re.search(r'"status": ?"Forbidden"', output) and "revoked" in output, output
    # The operator's check of the whole log finds nothing wrong, and so does the
    # backup's of its copy, taken while the gateway was writing.
    assert re.search(r"\b0 problems\b", output), output
    backups = list(var.glob("backup-*.sqlite3"))
    assert len(backups) == 1 and backups[0].stat().st_mode & 0o777 == 0o600, backups
    assert re.search(rf"backup written to {re.escape(str(backups[0]))} .*\n.*\b0 problems\n"
                     r"its latest checkpoint: size \d+", output), output
    # The revoked device heard why from the gateway and stopped; its refused
    # event is in the quarantine with that reason.
    assert "device zone-seal-2: revoked (the gateway's answer), stopped" in output, output
    assert re.search(r'"topic_device_id": ?"zone-seal-2"', output), output
    assert re.search(r'"reason": ?"revoked"', output), output
    # The monitor saw a checkpoint and saved it.
    assert (work / "monitor.json").exists()
    # The admin onboarded a firm whose token worked at once; the exporter's
    # tokens are listed without their secrets.
    firm = json.loads((work / "firm.json").read_text())
    assert firm["role"] == "firm" and firm["token"].startswith("tz_"), firm
    assert '{"items":[],"next":null}' in output, output
    exporter_token = json.loads((var / "demo-tokens.json").read_text())[
        "organisations"]["exporter"]["token"]
    assert re.search(r'"revoked_at": ?null', output), output
    assert parse_token(exporter_token).secret not in output
