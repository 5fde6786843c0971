"""probe-agent: uptime probing and availability-SLA accounting."""

__version__ = "0.1.0"
