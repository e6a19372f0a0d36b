"""Organisations, their roles, and their API tokens."""
