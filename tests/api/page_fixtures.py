"""A hand-built database for the status page's tests, with every figure counted by hand.

"Now" is 2026-12-07 12:00 UTC. One agent ``ams-1`` (zone UTC); its intervals are stored by the real store
(``records.import_batch``, as ``import`` stores them). Endpoint URLs and hosts carry the word ``SECRET`` so a test
can show none of them reaches the page.

- ``web-a`` (service ``shop``, SLA ``gold``): up from 100 days ago, down 2026-12-03 10:00-12:00 (one confirmed
  outage), up again until now. That day: 22 h up of 24 -> 91.666667 %. The cycle (December, UTC) so far is 6.5 days
  = 156 h with 2 h down -> 154/156 = 98.717949 %.
- ``web-b`` (service ``api``, SLA ``gold``): monitored from 2026-11-07 12:00, up until 11:00 today, then down (an
  ongoing outage). Today so far 12 h with 1 h down -> 11/12 = 91.666667 %; 2026-11-07 (12:00-24:00 up) 100 %; the
  days before it no data. Cycle: 155/156 = 99.358974 %.
- ``gold`` as a whole (down when either service is): 3 h down of 156 -> 153/156 = 98.076923 %; target 99.9 %.
  Its maintenance window 2026-12-10 01:00-03:00 was announced explicitly and counts: listed, with its reason only
  on the private page.
- ``dns-c`` (service ``batch``, in no SLA): up for the whole window, degraded 2026-12-05 02:00-03:00 (degraded
  counts as up: 100 %).
- ``lone`` (in no service): never probed: no data (private page only).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from probe_agent.config.document import Config
from probe_agent.model import DAY_MS, HOUR_MS, State, StateInterval
from probe_agent.store import records
from probe_agent.store.schema import open_db

NOW_MS = int(datetime(2026, 12, 7, 12, tzinfo=UTC).timestamp() * 1000)
AGENT = "ams-1"
SECRETS = ("SECRET-host-a.example", "10.9.8.7", "SECRET-db.internal", "SECRET-dns.internal", "SECRET-lone.example")
REASON = "SECRET-reason: upgrade of SECRET-db.internal"


def ms(year: int, month: int, day: int, hour: int = 0) -> int:
    """Epoch ms of a UTC time."""
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp() * 1000)


def config_dict(db: Path, *, public: bool = False, tokens: tuple[str, ...] = ()) -> dict[str, Any]:
    api: dict[str, Any] = {"title": "Example <Status> & Co", "public_status": public}
    if tokens:
        api["tokens"] = [{"token": t, "owner": f"owner{i}"} for i, t in enumerate(tokens)]
    return {
        "agent": {"id": AGENT, "database": str(db), "timezone": "UTC"},
        "defaults": {"interval": "1m", "timeout": "10s", "confirm": 1},
        "endpoints": [
            {"id": "web-a", "http": {"url": "https://SECRET-host-a.example:8443/SECRET-path?key=SECRET"}},
            {"id": "web-b", "tcp": {"host": "SECRET-db.internal", "port": 5432}},
            {"id": "dns-c", "dns": {"name": "SECRET-dns.internal"}},
            {"id": "lone", "http": {"url": "http://SECRET-lone.example/health"}},
            {"id": "ipcheck", "tcp": {"host": "10.9.8.7", "port": 22}},
        ],
        "services": [
            {"id": "shop", "endpoints": ["web-a"]},
            {"id": "api", "endpoints": ["web-b"]},
            {"id": "batch", "endpoints": ["dns-c"]},
        ],
        "slas": [
            {
                "id": "gold",
                "services": ["shop", "api"],
                "target": "99.9%",
                "cycle": {"period": "monthly", "anchor_day": 1, "timezone": "UTC"},
                "maintenance": [
                    {
                        "from": "2026-12-10T01:00:00Z",
                        "to": "2026-12-10T03:00:00Z",
                        "announced": "2026-11-20T00:00:00Z",
                        "notice": "1d",
                        "reason": REASON,
                    }
                ],
            }
        ],
        "api": api,
    }


def page_config(db: Path, **kwargs: Any) -> Config:
    return Config.model_validate(config_dict(db, **kwargs))


def iv(endpoint: str, start: int, end: int, state: State, outage: int | None = None) -> StateInterval:
    cause = "http_status" if state is State.DOWN else None
    return StateInterval(AGENT, endpoint, start, end, state, cause, outage)


def build_db(path: Path) -> Path:
    """The database described in the module docstring, at ``path``."""
    down_a = ms(2026, 12, 3, 10)
    up_a = ms(2026, 12, 3, 12)
    b_start = ms(2026, 11, 7, 12)
    b_down = ms(2026, 12, 7, 11)
    deg = ms(2026, 12, 5, 2)
    intervals = [
        iv("web-a", NOW_MS - 100 * DAY_MS, down_a, State.UP),
        iv("web-a", down_a, up_a, State.DOWN, down_a),
        iv("web-a", up_a, NOW_MS, State.UP),
        iv("web-b", b_start, b_down, State.UP),
        iv("web-b", b_down, NOW_MS, State.DOWN, b_down),
        iv("dns-c", NOW_MS - 100 * DAY_MS, deg, State.UP),
        iv("dns-c", deg, deg + HOUR_MS, State.DEGRADED),
        iv("dns-c", deg + HOUR_MS, NOW_MS, State.UP),
    ]
    conn = open_db(path)
    try:
        records.import_batch(conn, intervals=intervals, now_ms=NOW_MS)
    finally:
        conn.close()
    return path
