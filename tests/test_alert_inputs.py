"""The SLA alerts' inputs read from a real store (``reports/alerts.py``), judged by the pure core.

Synthetic data (see ``tests/months.py``, ``confirm: 1``): hourly up results from the cycle's start, then one result
a minute around a 10-minute outage (10 down results, the first up result ends it), so the counted timeline is up
everywhere but the outage and every rate is counted by hand: target 99.9 % (allowed error 1/1000).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path

from probe_agent.config import load_config
from probe_agent.model import DAY_MS, HOUR_MS, MINUTE_MS, dt_to_ms
from probe_agent.reports.alerts import alert_inputs
from probe_agent.reports.sla_status import sla_status
from probe_agent.sla.alert_state import AlertState, step
from probe_agent.sla.alerts import AlertInputs, AlertKey, AlertKind, PairReading, SlaAlerts, evaluate_alerts
from probe_agent.store.schema import open_db
from tests.months import every, import_rows, result, rows_for, utc, write_config

OUTAGE = utc(2026, 10, 15, 8)  # 08:00-08:10 UTC, down


def sla(target: str = "99.9%", extra: str = "") -> str:
    return f"""
        - id: gold
          services: [shop]
          target: {target}
          cycle: {{period: monthly, anchor_day: 1, timezone: UTC}}
          objectives:
            error_rate: {{below: 1%}}
        {extra}"""


def rows(start: datetime, outage: datetime, minutes: int = 10) -> list[dict[str, object]]:
    """Hourly up results from ``start`` until an hour before ``outage``, a result a minute from then until 2 h
    after it, down for ``minutes`` from ``outage``."""
    hourly = every(start, outage - timedelta(hours=1), timedelta(hours=1))
    minutely = every(outage - timedelta(hours=1), outage + timedelta(hours=2), timedelta(minutes=1))
    down = [(outage + timedelta(minutes=i), "down") for i in range(minutes)]
    return rows_for([*hourly, *minutely], down)


def inputs(tmp_path: Path, cfg: Path, at: datetime) -> AlertInputs:
    config = load_config(cfg).config
    conn = open_db(tmp_path / "pa.db")
    try:
        got = alert_inputs(conn, config, dt_to_ms(at))["gold"]
    finally:
        conn.close()
    assert got is not None
    return got


def readings(got: AlertInputs, at: datetime) -> SlaAlerts:
    return evaluate_alerts(got, dt_to_ms(at))


def pair(ev: SlaAlerts, name: str) -> PairReading:
    reading = ev.readings[AlertKey(AlertKind.SLA_AT_RISK, "gold", ev.cycle, name)]
    assert isinstance(reading, PairReading)
    return reading


def test_outage_rates_counted_by_hand(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, sla())
    import_rows(tmp_path, cfg, rows(utc(2026, 10, 1), OUTAGE))
    at = OUTAGE + timedelta(minutes=10)
    got = inputs(tmp_path, cfg, at)
    ev = readings(got, at)
    assert ev.cycle == "2026-10"
    one, six = pair(ev, "1h"), pair(ev, "6h")
    assert (one.long_rate, one.short_rate, one.firing) == (Fraction(500, 3), 1000, True)  # 10/60, 5/5 down
    assert (six.long_rate, six.short_rate, six.firing) == (Fraction(250, 9), Fraction(1000, 3), True)  # 10/360, 10/30
    # The cycle so far: Oct 1 00:00 - Oct 15 08:10 counted (14 d 8 h 10 min), 10 min down; the rest of October
    # (16 d 15 h 50 min) ahead. 10 min is under the 44.64 min that 0.1 % of 31 days allows.
    cycle = got.cycle
    assert cycle.counted_ms == 14 * DAY_MS + 8 * HOUR_MS + 10 * MINUTE_MS
    assert cycle.counted_down_ms == 10 * MINUTE_MS
    assert cycle.ahead_ms == 16 * DAY_MS + 15 * HOUR_MS + 50 * MINUTE_MS
    breach = ev.readings[AlertKey(AlertKind.SLA_BREACHED, "gold", "2026-10")]
    assert breach.firing is False
    # Results in [Oct 1, 08:10): 343 hourly (Oct 1 00:00 - Oct 15 06:00) + 70 a minute (07:00 - 08:09; the one at
    # 08:10 is at now, outside the range); 10 down: 10 / 413 = 2.4 % is not below 1 %, and 413 >= 100 samples.
    assert got.error_rate is not None and got.error_rate.counts.definite == 413 and got.error_rate.counts.down == 10
    objective = ev.readings[AlertKey(AlertKind.OBJECTIVE_BREACHED, "gold", "2026-10", "error_rate")]
    assert objective.firing is True
    assert evaluate_alerts(got, dt_to_ms(at), min_samples=414).readings[objective_key()].firing is None


def objective_key() -> AlertKey:
    return AlertKey(AlertKind.OBJECTIVE_BREACHED, "gold", "2026-10", "error_rate")


def test_breach_agrees_with_the_status_budget(tmp_path: Path) -> None:
    # 45 down minutes > 44.64 allowed (0.1 % of 31 days = 2_678_400 ms); nothing uncounted so far, so the alert's
    # allowance is the status budget's.
    cfg = write_config(tmp_path, sla())
    import_rows(tmp_path, cfg, rows(utc(2026, 10, 1), OUTAGE, minutes=45))
    at = OUTAGE + timedelta(minutes=50)
    got = inputs(tmp_path, cfg, at)
    ev = readings(got, at)
    breach = ev.readings[AlertKey(AlertKind.SLA_BREACHED, "gold", "2026-10")]
    assert breach.firing is True
    conn = open_db(tmp_path / "pa.db")
    try:
        (status,), _ = sla_status(conn, load_config(cfg).config, dt_to_ms(at))
    finally:
        conn.close()
    assert status["budget_allowed_s"] == 2678.4 and status["budget_remaining_s"] == -21.6  # 2678.4 - 2700


def test_the_windows_reach_back_across_the_cycle_start(tmp_path: Path) -> None:
    # Down Oct 31 23:55 - Nov 1 00:05. At 00:05 the cycle 2026-11 holds 5 counted minutes, all down; the 1 h window
    # reaches back into October: 10 down of 60 counted = 166.7 (not 5 of 5 = 1000); the 6 h window: 10 of 360.
    cfg = write_config(tmp_path, sla())
    edge = utc(2026, 10, 31, 23, 55)
    import_rows(tmp_path, cfg, rows(utc(2026, 10, 1), edge))
    at = utc(2026, 11, 1, 0, 5)
    got = inputs(tmp_path, cfg, at)
    assert got.cycle.label == "2026-11" and got.cycle.counted_ms == got.cycle.counted_down_ms == 5 * MINUTE_MS
    assert got.timeline[0].start_ms <= dt_to_ms(at) - 6 * HOUR_MS
    ev = readings(got, at)
    assert pair(ev, "1h").long_rate == Fraction(500, 3)
    assert pair(ev, "6h").long_rate == Fraction(250, 9)
    # The October keys resolve when November is evaluated; November's start fresh.
    october = SlaAlerts(
        "gold", "2026-10", dt_to_ms(at), {AlertKey(AlertKind.SLA_AT_RISK, "gold", "2026-10", "1h"): pair(ev, "1h")}
    )
    state, _, _ = step(AlertState(), october, dt_to_ms(at))
    state, starts, resolves = step(state, ev, dt_to_ms(at))
    assert [r.key.cycle for r in resolves] == ["2026-10"]
    assert {s.key.detail for s in starts if s.key.kind is AlertKind.SLA_AT_RISK} == {"1h", "6h"}


def test_maintenance_window_does_not_count(tmp_path: Path) -> None:
    window = '  maintenance: [{from: "2026-10-15T07:55:00Z", to: "2026-10-15T08:20:00Z", reason: DB upgrade}]'
    cfg = write_config(tmp_path, sla(extra=window))
    import_rows(tmp_path, cfg, rows(utc(2026, 10, 1), OUTAGE))
    at = OUTAGE + timedelta(minutes=10)
    ev = readings(inputs(tmp_path, cfg, at), at)
    one = pair(ev, "1h")
    # 1 h window 07:10-08:10: 45 counted minutes (07:10-07:55), all up; the 5 min window is all maintenance.
    assert (one.long_rate, one.short_rate, one.firing) == (0, None, False)
    assert pair(ev, "6h").firing is False


def test_hundred_percent_target_breaches_at_once_and_is_never_at_risk(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, sla(target="100%"))
    import_rows(tmp_path, cfg, rows(utc(2026, 10, 1), OUTAGE, minutes=1))
    at = OUTAGE + timedelta(minutes=2)
    ev = readings(inputs(tmp_path, cfg, at), at)
    assert {k.kind for k in ev.readings} == {AlertKind.SLA_BREACHED, AlertKind.OBJECTIVE_BREACHED}
    assert ev.readings[AlertKey(AlertKind.SLA_BREACHED, "gold", "2026-10")].firing is True


def test_no_data_in_the_cycle_gives_none(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, sla())
    import_rows(tmp_path, cfg, [result(utc(2026, 11, 1, 12), "up")])
    conn = open_db(tmp_path / "pa.db")
    try:
        assert alert_inputs(conn, load_config(cfg).config, dt_to_ms(utc(2026, 10, 20))) == {"gold": None}
    finally:
        conn.close()


def test_alerts_start_and_resolve_minute_by_minute(tmp_path: Path) -> None:
    # The hand-counted table of tests/sla/test_alerts.py, on stored data: the 1 h pair starts at 08:01 (16.7 and
    # 200) and resolves at 08:15 (no down minute left in the last 5); the 6 h pair starts at 08:03 (8.33 and 100)
    # and resolves at 08:40 (none left in the last 30).
    cfg = write_config(tmp_path, sla())
    import_rows(tmp_path, cfg, rows(utc(2026, 10, 1), OUTAGE))
    config = load_config(cfg).config
    state, log = AlertState(), []
    conn = open_db(tmp_path / "pa.db")
    try:
        for minute in range(-2, 50):
            now = dt_to_ms(OUTAGE + timedelta(minutes=minute))
            got = alert_inputs(conn, config, now)["gold"]
            assert got is not None
            state, starts, resolves = step(state, evaluate_alerts(got, now), now)
            log += [(s.key.kind.value, s.key.detail, "start", minute) for s in starts]
            log += [(r.key.kind.value, r.key.detail, "resolve", minute) for r in resolves]
    finally:
        conn.close()
    assert log == [
        ("sla_at_risk", "1h", "start", 1),
        ("sla_at_risk", "6h", "start", 3),
        ("objective_breached", "error_rate", "start", 5),
        ("sla_at_risk", "1h", "resolve", 15),
        ("sla_at_risk", "6h", "resolve", 40),
    ]
    # The error rate (objective: below 1 %) over the results before now: at 08:04, 4 down of 343 + 60 + 4 = 407
    # (0.98 %); at 08:05, 5 of 408 (1.23 %): it starts; at 08:49 the cycle's rate is still 10 of 452 (2.2 %), so
    # it is still open.
    assert [k.kind for k in state.open] == [AlertKind.OBJECTIVE_BREACHED]
