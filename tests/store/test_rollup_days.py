"""Daily rollups: built from a day's 24 complete hours (a hand-counted table), unmarked when an hour is rebuilt,
converted from a version-6 file, and read so that objectives come out the same from raw results, hourly rollups
or daily rollups (a hypothesis property over results, day edges, partial days, exclusions and time zones)."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import sqlite_utils
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probe_agent.config.document import Config
from probe_agent.latency import LatencyHistogram
from probe_agent.model import DAY_MS, Outcome, ProbeResult
from probe_agent.reports.build import build_report
from probe_agent.reports.scope import sla_period
from probe_agent.store import open_db
from probe_agent.store.packed_histograms import unpack
from probe_agent.store.records import add_exclusion, import_batch
from probe_agent.store.rollup_reads import rollup_sums
from probe_agent.store.rollups import build_day, build_missing_days, missing_days, rebuild_rollups
from probe_agent.store.rows import RollupSums
from probe_agent.store.schema import MIGRATIONS_TABLE, migrations

from .conftest import HOUR, T0, interval, result
from .test_rollups import _brute_force

MIN = 60_000


def _day_table(conn: sqlite3.Connection) -> list[tuple[object, ...]]:
    rows = conn.execute(
        "SELECT agent, endpoint, day_ms, n_up, n_degraded, n_down, n_unknown, n_recheck, histogram FROM rollup_days "
        "ORDER BY agent, endpoint, day_ms"
    ).fetchall()
    return [(*row[:8], unpack(row[8])) for row in rows]


def _marked_days(conn: sqlite3.Connection) -> list[int]:
    return [d for (d,) in conn.execute("SELECT day_ms FROM rollup_day_marks ORDER BY day_ms")]


# Two UTC days of one pair (ams/api) and one result of another agent. Counted by hand:
# day T0: up 10 ms at 00:00, degraded 100 ms at 05:00, down at 12:00, up 20 ms re-check at 12:01, unknown at 23:59;
# day T0+1d: up 10 ms at 00:00 and up 10 ms at 23:00; fra/api: up 30 ms at 01:00 on day T0.
HAND = [
    result(T0, Outcome.UP, latency_ms=10),
    result(T0 + 5 * HOUR, Outcome.DEGRADED, latency_ms=100),
    result(T0 + 12 * HOUR, Outcome.DOWN, latency_ms=None),
    result(T0 + 12 * HOUR + MIN, Outcome.UP, latency_ms=20, recheck=True),
    result(T0 + DAY_MS - MIN, Outcome.UNKNOWN, latency_ms=None),
    result(T0 + DAY_MS, Outcome.UP, latency_ms=10),
    result(T0 + DAY_MS + 23 * HOUR, Outcome.UP, latency_ms=10),
    result(T0 + HOUR, Outcome.UP, agent="fra", latency_ms=30),
]
HAND_DAYS = [
    # agent, endpoint, day, up, degraded, down, unknown, recheck, histogram (up/degraded incl. re-checks)
    ("ams", "api", T0, 1, 1, 1, 1, 1, LatencyHistogram.of([10, 100, 20])),
    ("ams", "api", T0 + DAY_MS, 2, 0, 0, 0, 0, LatencyHistogram.of([10, 10])),
    ("fra", "api", T0, 1, 0, 0, 0, 0, LatencyHistogram.of([30])),
]


def test_days_are_built_from_their_24_marked_hours_and_match_the_hand_counted_table(conn: sqlite3.Connection) -> None:
    import_batch(conn, HAND, now_ms=0)
    rebuild_rollups(conn, T0, T0 + 2 * DAY_MS - HOUR, complete_before_ms=T0 + 2 * DAY_MS)
    assert missing_days(conn) == [T0]  # the second day's last hour is not rolled up yet
    assert build_day(conn, T0 + DAY_MS, 1) is None and _marked_days(conn) == []
    assert build_missing_days(conn, 1) == 1
    rebuild_rollups(conn, T0 + 2 * DAY_MS - HOUR, T0 + 2 * DAY_MS, complete_before_ms=T0 + 2 * DAY_MS)
    assert build_missing_days(conn, 2) == 1
    assert _day_table(conn) == HAND_DAYS
    assert _marked_days(conn) == [T0, T0 + DAY_MS]
    assert build_day(conn, T0, 3) == 2  # idempotent: the same rows again
    assert _day_table(conn) == HAND_DAYS


def test_rebuilding_an_hour_unmarks_its_day_until_the_day_is_built_again(conn: sqlite3.Connection) -> None:
    import_batch(conn, HAND, now_ms=0)
    rebuild_rollups(conn, T0, T0 + 2 * DAY_MS, complete_before_ms=T0 + 2 * DAY_MS)
    build_missing_days(conn, 0)
    import_batch(conn, [result(T0 + 7 * HOUR, Outcome.DOWN, latency_ms=None)], now_ms=0)  # a late import
    rebuild_rollups(conn, T0 + 7 * HOUR, T0 + 8 * HOUR, complete_before_ms=T0 + 2 * DAY_MS)
    assert _marked_days(conn) == [T0 + DAY_MS]  # the stale day row is no longer read
    assert rollup_sums(conn, T0, T0 + DAY_MS)[("ams", "api")].n_down == 2
    assert build_missing_days(conn, 0) == 1
    assert _day_table(conn)[0][5] == 2 and _marked_days(conn) == [T0, T0 + DAY_MS]
    # A filtered rebuild (one agent) replaces rows of a marked hour: its day is unmarked too.
    rebuild_rollups(conn, T0 + DAY_MS, T0 + DAY_MS + HOUR, agent="ams", complete_before_ms=T0 + 2 * DAY_MS)
    assert _marked_days(conn) == [T0]


def test_a_version_6_file_is_converted_with_the_same_figures_and_its_days_built(db_path: Path) -> None:
    old = sqlite3.connect(db_path, isolation_level=None)
    migrations.apply(sqlite_utils.Database(old, execute_plugins=False), stop_before="m007_rollup_days")
    assert old.execute("PRAGMA user_version").fetchone()[0] == 6
    for h in range(24):  # a whole UTC day of hourly rollups as version 6 wrote them (JSON histograms)
        old.execute(
            "INSERT INTO rollups VALUES ('api', ?, 'ams', 60, 0, ?, 0, 1, ?)",
            (T0 + h * HOUR, h % 2, json.dumps({"40": 30 + h, "41": 29 - h, "90": 1}, separators=(",", ":"))),
        )
        old.execute("INSERT INTO rollup_marks VALUES (?, ?)", (T0 + h * HOUR, T0 + DAY_MS))
    old.execute("INSERT INTO rollups VALUES ('api', ?, 'ams', 5, 0, 0, 0, 0, '{}')", (T0 + DAY_MS,))
    old.close()

    conn = open_db(db_path)
    hour_rows = conn.execute("SELECT hour_ms, histogram FROM rollups ORDER BY hour_ms").fetchall()
    assert [unpack(blob).to_dict() for _, blob in hour_rows[:2]] == [
        {"40": 30, "41": 29, "90": 1},
        {"40": 31, "41": 28, "90": 1},
    ]
    assert hour_rows[24] == (T0 + DAY_MS, b"")  # an empty histogram is the empty blob
    expected = RollupSums(24 * 60, 0, 12, 0, 24, LatencyHistogram({40: 24 * 30 + 276, 41: 24 * 29 - 276, 90: 24}))
    assert rollup_sums(conn, T0, T0 + DAY_MS) == {("ams", "api"): expected}  # from the converted hours
    assert build_missing_days(conn, T0 + 2 * DAY_MS) == 1  # what the daemon's next rollup job does
    assert _day_table(conn) == [("ams", "api", T0, *expected.__dict__.values())]
    assert rollup_sums(conn, T0, T0 + DAY_MS) == {("ams", "api"): expected}  # from the day
    # Its record lost, m007 runs again at the next writable open and changes nothing (the rollups are packed).
    conn.execute(f"DELETE FROM {MIGRATIONS_TABLE} WHERE name = 'm007_rollup_days'")
    conn.close()
    conn = open_db(db_path)
    assert _day_table(conn) == [("ams", "api", T0, *expected.__dict__.values())]
    assert conn.execute("SELECT hour_ms, histogram FROM rollups ORDER BY hour_ms").fetchall() == hour_rows
    conn.close()


# -- objectives are the same from raw results, hours and days ---------------------------------------------------

SPAN = 4 * DAY_MS  # results from T0 - 1 day to T0 + 3 days; the SLA's explicit cycle is 2026-01-01 .. 2026-01-03


def _config(db: Path, zone: str) -> Config:
    return Config.model_validate(
        {
            "agent": {"id": "ams", "database": str(db), "timezone": "UTC"},
            "endpoints": [{"id": "api", "tcp": "127.0.0.1:9"}, {"id": "web", "tcp": "127.0.0.1:9"}],
            "services": [{"id": "shop", "endpoints": ["api", "web"]}],
            "slas": [
                {
                    "id": "gold",
                    "services": ["shop"],
                    "target": "99%",
                    "cycle": {"from": "2026-01-01", "to": "2026-01-03", "timezone": zone},
                    "objectives": {"latency": {"percentile": 90, "below": "50ms"}, "error_rate": {"below": "5%"}},
                    "maintenance": [{"from": "2026-01-01T13:20:00Z", "to": "2026-01-01T14:00:00Z", "reason": "m"}],
                }
            ],
        }
    )


@st.composite
def _results(draw: st.DrawFn) -> list[ProbeResult]:
    offsets = draw(st.lists(st.integers(0, SPAN - 1), unique=True, min_size=1, max_size=50))
    # Some right at midnight (UTC, New York, Kolkata, Chatham) and an hour's edge, or a millisecond either side.
    near = st.tuples(st.integers(1, 3), st.sampled_from([0, 5 * HOUR, 18 * HOUR + 30 * MIN, 10 * HOUR + 15 * MIN]))
    edges = draw(st.lists(st.tuples(near, st.sampled_from([-1, 0, 1])), max_size=8))
    offsets = sorted({*offsets, *(d * DAY_MS + base + e for (d, base), e in edges)})
    return [
        result(
            T0 - DAY_MS + off,
            draw(st.sampled_from(list(Outcome))),
            endpoint=draw(st.sampled_from(["api", "web"])),
            latency_ms=draw(st.one_of(st.none(), st.floats(0, 200))),
            recheck=draw(st.booleans()),
        )
        for off in offsets
    ]


_exclusions = st.lists(
    st.tuples(
        st.sampled_from(["sla:gold", "endpoint:api", "service:shop"]), st.integers(0, SPAN), st.integers(1, DAY_MS)
    ),
    max_size=3,
)


def _objectives(db: Path, cfg: Config, now_ms: int) -> tuple[Any, str]:
    conn = open_db(db, readonly=True)
    try:
        sla = cfg.slas[0]
        doc = build_report(conn, cfg, sla, sla_period(cfg, sla, now_ms), now_ms).doc
    finally:
        conn.close()
    return doc["objectives"], doc["inputs_hash"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    results=_results(),
    exclusions=_exclusions,
    zone=st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]),
    now_offset=st.integers(DAY_MS + HOUR, SPAN + DAY_MS),  # from 01:00 UTC on the first day: every zone has begun
    unmarked=st.lists(st.integers(0, 4 * 24 - 1), max_size=4),
)
def test_objectives_are_the_same_from_raw_results_hourly_rollups_and_daily_rollups(
    results: list[ProbeResult],
    exclusions: list[tuple[str, int, int]],
    zone: str,
    now_offset: int,
    unmarked: list[int],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "p.db"
        conn = open_db(db)
        # The timelines say up throughout (the evaluation needs one); the objectives read the results.
        up = [interval(T0 - DAY_MS, T0 - DAY_MS + SPAN + 2 * DAY_MS, endpoint=e) for e in ("api", "web")]
        import_batch(conn, results, up, now_ms=0)
        for scope, start, length in exclusions:
            kind, scope_id = scope.split(":")
            start_ms = T0 - DAY_MS + start
            add_exclusion(
                conn, scope_kind=kind, scope_id=scope_id, start_ms=start_ms, end_ms=start_ms + length,
                kind="customer", reason="r", author="t", created_ms=0,
            )  # fmt: skip
        cfg, now = _config(db, zone), T0 - DAY_MS + now_offset
        raw = _objectives(db, cfg, now)
        rebuild_rollups(conn, T0 - DAY_MS, T0 - DAY_MS + SPAN, complete_before_ms=T0 + SPAN)
        conn.execute("DELETE FROM rollup_day_marks")
        hourly = _objectives(db, cfg, now)
        assert build_missing_days(conn, 0) == 4
        daily = _objectives(db, cfg, now)
        # Mixed progress: some hours unmarked again (their days too, as a rebuild in progress leaves them).
        for h in unmarked:
            hour_ms = T0 - DAY_MS + h * HOUR
            conn.execute("DELETE FROM rollup_marks WHERE hour_ms = ?", (hour_ms,))
            conn.execute("DELETE FROM rollup_day_marks WHERE day_ms = ?", (hour_ms - hour_ms % DAY_MS,))
        mixed = _objectives(db, cfg, now)
        conn.close()
    assert raw == hourly == daily == mixed


@settings(max_examples=40, deadline=None)
@given(
    results=_results(),
    rebuilt=st.sets(st.integers(0, 4 * 24 - 1)),
    days=st.booleans(),
    a=st.integers(-HOUR, SPAN),
    length=st.integers(1, SPAN + HOUR),
)
def test_rollup_sums_equal_raw_counts_whatever_the_hourly_and_daily_progress(
    results: list[ProbeResult], rebuilt: set[int], days: bool, a: int, length: int
) -> None:
    start = T0 - DAY_MS + a
    with tempfile.TemporaryDirectory() as tmp:
        conn = open_db(Path(tmp) / "p.db")
        import_batch(conn, results, now_ms=0)
        rebuild_rollups(conn, T0 - DAY_MS, T0 + 3 * DAY_MS, complete_before_ms=T0 + 3 * DAY_MS)
        if days:
            build_missing_days(conn, 0)
        for h in rebuilt:  # rebuilt again, not marked: as a late result's hour is before the job marks it
            conn.execute("DELETE FROM rollup_marks WHERE hour_ms = ?", (T0 - DAY_MS + h * HOUR,))
            rebuild_rollups(conn, T0 - DAY_MS + h * HOUR, T0 - DAY_MS + (h + 1) * HOUR, complete_before_ms=0)
        got = rollup_sums(conn, start, start + length)
        counts_only = rollup_sums(conn, start, start + length, with_histograms=False)
        conn.close()
    expected = _brute_force(results, start, start + length)
    assert got == expected
    assert counts_only == {
        k: RollupSums(v.n_up, v.n_degraded, v.n_down, v.n_unknown, v.n_recheck) for k, v in expected.items()
    }
