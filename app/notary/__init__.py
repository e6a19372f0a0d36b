"""The bridge from business events to the ledger: entries, checkpoints, receipts."""
