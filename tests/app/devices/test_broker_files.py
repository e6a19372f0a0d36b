"""Mosquitto's password and ACL files as ``app.devices.broker_config`` writes
them, checked against Mosquitto's own tool and a real broker."""

from __future__ import annotations

import base64

import pytest

from app.devices import broker_config
from app.devices.broker_config import BrokerConfigError, PasswordEntry
from tests.services.mosquitto import MosquittoBroker, make_password_file

from .probe import NOT_AUTHORIZED, Probe


def test_our_hash_is_bit_for_bit_what_mosquitto_passwd_writes(tmp_path):
    password = broker_config.new_device_password()
    line = make_password_file(tmp_path / "passwd", {"dev-a": password}).read_text().strip()
    user, stored = line.split(":", 1)
    iterations, salt, _ = broker_config.parse_password_hash(stored)
    assert user == "dev-a" and stored.startswith("$7$")
    assert broker_config.hash_password(password, iterations=iterations, salt=salt) == stored
    assert broker_config.password_matches(password, stored)
    assert not broker_config.password_matches(password[:-1], stored)


def test_hashes_are_salted_and_shaped_like_mosquittos():
    first, second = (broker_config.hash_password("same password") for _ in range(2))
    assert first != second
    marker, kind, iterations, salt, digest = first.split("$")
    assert (marker, kind, iterations) == ("", "7", "101")
    assert len(base64.b64decode(salt)) == 12 and len(base64.b64decode(digest)) == 64


GOOD = broker_config.hash_password("pw")


@pytest.mark.parametrize("stored", [
    "", "pw", GOOD.replace("$7$", "$6$"), GOOD.replace("$7$101$", "$7$0$"),
    GOOD.replace("$7$101$", "$7$01$"), GOOD + "\nintruder:" + GOOD, GOOD + "$",
    GOOD.rsplit("$", 1)[0] + "$" + base64.b64encode(b"short").decode(),
    "$7$101$" + base64.b64encode(b"x" * 16).decode() + "$" + GOOD.rsplit("$", 1)[1],
    GOOD[:-4] + "!!==",
])
def test_malformed_hashes_are_refused(stored):
    with pytest.raises(BrokerConfigError):
        broker_config.parse_password_hash(stored)
    with pytest.raises(BrokerConfigError):
        broker_config.render_password_file([PasswordEntry("dev-a", stored)])


@pytest.mark.parametrize("username", ["", "a:b", "a b", "a\nb", "gw+", "gw#", "a/b",
                                      "x" * 65, "caf\u00e9"])
def test_user_names_that_could_break_the_files_are_refused(username):
    with pytest.raises(BrokerConfigError):
        broker_config.render_password_file([PasswordEntry(username, GOOD)])
    with pytest.raises(BrokerConfigError):
        broker_config.render_acl_file(username)


def test_a_user_may_appear_only_once():
    with pytest.raises(BrokerConfigError, match="twice"):
        broker_config.render_password_file([PasswordEntry("a", GOOD), PasswordEntry("a", GOOD)])


def test_device_entries_leave_out_the_unusable_and_the_gateways_name():
    rows = [("dev-1", GOOD), ("tz-gateway", GOOD), ("dev-2", None), ("dev-3", "garbage"),
            ("bad:id", GOOD)]
    entries, skipped = broker_config.device_entries(rows, "tz-gateway")
    assert entries == [PasswordEntry("dev-1", GOOD)]
    assert [reason.split(":")[0] for reason in skipped] == ["tz-gateway", "dev-2", "dev-3", "bad"]


def test_the_acl_names_the_gateway_and_the_device_patterns():
    acl = broker_config.render_acl_file("tz-gateway").splitlines()
    rules = [line for line in acl if line and not line.startswith("#")]
    assert rules == ["user tz-gateway", "topic read tz/devices/+/events",
                     "topic read $share/+/tz/devices/+/events", "topic write tz/devices/+/acks",
                     "pattern write tz/devices/%u/events", "pattern read tz/devices/%u/acks"]


def test_the_broker_accepts_exactly_the_passwords_we_hashed(tmp_path):
    device_password = broker_config.new_device_password()
    passwd = tmp_path / "passwd"
    passwd.write_text(broker_config.render_password_file([
        PasswordEntry("tz-gateway", broker_config.hash_password(
            "gateway secret", iterations=broker_config.GATEWAY_ITERATIONS)),
        PasswordEntry("dev-a", broker_config.hash_password(device_password))]))
    passwd.chmod(0o600)
    acl = tmp_path / "acl"
    acl.write_text(broker_config.render_acl_file("tz-gateway"))
    acl.chmod(0o600)
    with MosquittoBroker(allow_anonymous=False, password_file=passwd, acl_file=acl) as broker:
        attempts = {
            "device": ("dev-a", device_password, False),
            "gateway": ("tz-gateway", "gateway secret", False),
            "wrong password": ("dev-a", device_password + "x", True),
            "other user's password": ("tz-gateway", device_password, True),
            "unknown user": ("dev-b", device_password, True),
            "anonymous": (None, None, True),
        }
        for what, (user, password, refused) in attempts.items():
            probe = Probe(broker.host, broker.port, user, password)
            reason = probe.connect()
            assert reason.is_failure == refused, what
            if refused:
                assert reason.value == NOT_AUTHORIZED, (what, reason)
            else:
                probe.close()
