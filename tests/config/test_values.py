from decimal import Decimal

import pytest

from probe_agent.config.values import format_duration_ms, parse_duration_ms, parse_host_port, parse_percent, parse_size


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("500ms", 500),
        ("10s", 10_000),
        ("5m", 300_000),
        ("1h", 3_600_000),
        ("2d", 172_800_000),
        ("1w", 604_800_000),
        (30, 30_000),
        (0.5, 500),
        ("1.5", 1500),
        ("1h30m", 5_400_000),
        ("2.5s", 2500),
    ],
)
def test_durations(text: object, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize(
    "bad",
    ["", "10 parsecs", "-5s", -1, True, "5m garbage", None, [1], float("inf"), float("nan"), "1e400", "inf", "3654d"],
)
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration_ms(bad)


@pytest.mark.parametrize(("ms", "text"), [(0, "0s"), (90_000, "1m30s"), (500, "500ms"), (86_400_000, "1d")])
def test_format_duration(ms: int, text: str) -> None:
    assert format_duration_ms(ms) == text
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize(
    ("value", "expected"),
    [("99.9%", Decimal("99.9")), (99.9, Decimal("99.9")), ("99.99", Decimal("99.99")), (100, Decimal("100"))],
)
def test_percent_is_exact(value: object, expected: Decimal) -> None:
    assert parse_percent(value) == expected


@pytest.mark.parametrize("bad", ["101%", "-1", "ninety", True, "nan"])
def test_bad_percent(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_percent(bad)


def test_sizes_and_host_port() -> None:
    assert parse_size("1MiB") == 1 << 20
    assert parse_size("512KiB") == 512 * 1024
    assert parse_size(100) == 100
    assert parse_host_port("db.example.com:5432") == ("db.example.com", 5432)
    assert parse_host_port("[::1]:443") == ("::1", 443)
    for bad in ("nope", "::1:443", "h:0", "h:70000", "[::1]443"):
        with pytest.raises(ValueError):
            parse_host_port(bad)
