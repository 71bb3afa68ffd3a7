"""Where events go: an HTTP webhook, a JSON-lines file, a NATS subject (docs/events.md)."""
