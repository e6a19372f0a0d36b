"""Firms' public keys and their signatures over document digests (non-repudiation)."""
