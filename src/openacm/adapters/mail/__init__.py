"""Outgoing mail: approval messages rendered from templates, delivered over SMTP."""
