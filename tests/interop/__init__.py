"""Interoperability tests: independent clients that know only the contract."""
