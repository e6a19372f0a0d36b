"""The regulators' audit console: server-rendered pages, no CDN."""
