"""The MQTT gateway: verifies signed device events and notarizes them (issue 4)."""
