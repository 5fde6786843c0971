"""Logging to stderr in a form journald reads well, with secret values redacted.

Under systemd (``$JOURNAL_STREAM`` set) each line starts with a syslog priority prefix (``<3>`` ...) and no time
stamp, since journald adds its own; elsewhere lines carry an ISO time stamp.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable

from probe_agent.redaction import redact

_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class RedactingFormatter(logging.Formatter):
    def __init__(self, fmt: str, secrets: Iterable[str] = (), journald: bool = False) -> None:
        super().__init__(fmt, datefmt="%Y-%m-%dT%H:%M:%S%z")
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)
        self.journald = journald

    def format(self, record: logging.LogRecord) -> str:
        text = redact(super().format(record), self.secrets)
        if self.journald:
            prefix = f"<{_PRIORITY.get(record.levelno, 6)}>"
            text = "\n".join(prefix + line for line in text.splitlines())
        return text


def setup_logging(verbosity: int = 0, secrets: Iterable[str] = ()) -> None:
    """Configure the root logger once; calling again replaces the handler (e.g. new secrets after a reload)."""
    journald = bool(os.environ.get("JOURNAL_STREAM"))
    fmt = "%(name)s: %(message)s" if journald else "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(fmt, secrets, journald))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO if verbosity == 1 else logging.WARNING)
    logging.getLogger("probe_agent").setLevel(logging.DEBUG if verbosity > 1 else logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
