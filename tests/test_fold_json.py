"""``TimelineFold.snapshot_json()`` is the store's ``compact_json(snapshot())``, character for character, at every step
of random timelines (outcomes, error kinds, gaps, run ends), for any agent and endpoint text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from probe_agent.fold import FoldParams, TimelineFold
from probe_agent.model import ErrorKind, Outcome, ProbeResult
from probe_agent.store.rows import compact_json

_STEP = st.tuples(
    st.sampled_from(list(Outcome)),
    st.sampled_from([None, ErrorKind.CONNECT_REFUSED, ErrorKind.HTTP_STATUS, ErrorKind.DNS_TEMPORARY]),
    st.integers(min_value=1, max_value=40_000),  # ms after the previous result: gaps past interval + grace too
    st.booleans(),  # the agent run ends before this result
)


@settings(max_examples=200, deadline=None)
@given(
    agent=st.text(min_size=1, max_size=8),
    endpoint=st.text(min_size=1, max_size=8),
    confirm=st.integers(min_value=1, max_value=4),
    steps=st.lists(_STEP, max_size=25),
)
def test_snapshot_json_is_compact_json_of_the_snapshot(
    agent: str, endpoint: str, confirm: int, steps: list[tuple[Outcome, ErrorKind | None, int, bool]]
) -> None:
    fold = TimelineFold(agent, endpoint, FoldParams(interval_ms=10_000, grace_ms=5_000, confirm=confirm))
    assert fold.snapshot_json() == compact_json(fold.snapshot())  # before any result
    ts = 1_790_000_000_000
    for outcome, kind, gap, run_ends in steps:
        if run_ends:
            fold.end_run(ts + gap // 2)
            assert fold.snapshot_json() == compact_json(fold.snapshot())
        ts += gap
        failed = outcome in (Outcome.DOWN, Outcome.UNKNOWN)
        fold.feed(ProbeResult(ts, agent, endpoint, outcome, error_kind=kind if failed else None))
        assert fold.snapshot_json() == compact_json(fold.snapshot())


def test_snapshot_json_escapes_like_the_encoder() -> None:
    fold = TimelineFold('a"gent\\', "ép\n\u2028", FoldParams(interval_ms=1_000, grace_ms=0, confirm=1))
    fold.feed(ProbeResult(1, fold.agent, fold.endpoint, Outcome.DOWN, error_kind=ErrorKind.CONNECT_REFUSED))
    assert fold.snapshot_json() == compact_json(fold.snapshot())
    assert '"endpoint":"ép\\n\u2028"' in fold.snapshot_json()
