"""Customs edge devices: the registry, their notarized events, the quarantine."""
