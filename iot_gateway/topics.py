"""MQTT topic names of contract section 5."""

from __future__ import annotations

import re

from app.devices.models import DEVICE_ID_PATTERN

_DEVICE_ID = re.compile(DEVICE_ID_PATTERN)
EVENTS_FILTER = "tz/devices/+/events"


def event_topic(device_id: str) -> str:
    return f"tz/devices/{device_id}/events"


def acks_topic(device_id: str) -> str:
    return f"tz/devices/{device_id}/acks"


def device_of_event_topic(topic: str) -> str | None:
    """The device id of ``tz/devices/<id>/events``, or None when the topic has
    another shape or the id is not a valid device id (contract section 6)."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[:2] != ["tz", "devices"] or parts[3] != "events":
        return None
    return parts[2] if _DEVICE_ID.fullmatch(parts[2]) else None


def topic_label(topic: str, limit: int = 128) -> str:
    """What to store as the topic's device for a message on a bad topic:
    the id segment when the shape fits, else the whole topic, cut to ``limit``."""
    parts = topic.split("/")
    if len(parts) == 4 and parts[:2] == ["tz", "devices"]:
        return parts[2][:limit]
    return topic[:limit]
