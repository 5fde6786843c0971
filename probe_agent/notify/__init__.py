"""Notifications: events about what matters for an SLA, routed to channels and delivered at least once."""
