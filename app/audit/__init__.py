"""Regulator audit: search, audit bundles."""
