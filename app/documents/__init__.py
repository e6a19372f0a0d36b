"""Trade documents: typed content, immutable versions, salted digests, eBL control."""
