"""Data-sharing consent: grant, limit, revoke; the zone's export rules."""
