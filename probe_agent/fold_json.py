"""The fold snapshot's JSON text, written directly: what the daemon stores with every result.

``snapshot_text(...)`` is exactly ``json.dumps(snapshot, separators=(",", ":"), sort_keys=True,
ensure_ascii=False)`` of ``TimelineFold.snapshot()`` (the store's ``compact_json``), character for character
(tests/test_fold_json.py holds it to that over random timelines), without building the dict and walking it with
the encoder: at 1,000 probes/s the snapshot's dict and its serialisation were the fold's and the writer's largest
costs per result on the event loop (bench/bench_store.py: ``fold us/result``, ``submit() us``).

Keys are written in sorted order by hand; strings go through the json module's own string encoder (the one
``ensure_ascii=False`` uses), integers as ``repr`` does, so the text cannot drift from the encoder's.
"""

from __future__ import annotations

from collections.abc import Sequence
from json.encoder import encode_basestring

# One span key: (state, cause, outage start); one pending span: (start, end, state). States are their values.
KeyText = tuple[str, str | None, int | None]


def _s(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


def _i(value: int | None) -> str:
    return "null" if value is None else repr(value)


def _key(key: KeyText) -> str:
    return f"[{_s(key[0])},{_s(key[1])},{_i(key[2])}]"


def snapshot_text(
    *,
    version: int,
    agent: str,
    endpoint: str,
    phase: str,
    count: int,
    suspect_start: int | None,
    suspect_cause: str | None,
    outage_start: int | None,
    outage_cause: str | None,
    cur: tuple[int, int, KeyText] | None,
    pending: Sequence[tuple[int, int, str]],
    last: tuple[int, int, bool, KeyText, bool] | None,
    frontier: int | None,
) -> str:
    """The snapshot as compact JSON with sorted keys; ``last`` is (ts, bound, open, key, pending)."""
    cur_text = "null" if cur is None else f"[{cur[0]!r},{cur[1]!r},{_key(cur[2])[1:-1]}]"
    pending_text = ",".join(f"[{start!r},{end!r},{_s(state)}]" for start, end, state in pending)
    if last is None:
        last_text = "null"
    else:
        ts, bound, is_open, key, is_pending = last
        last_text = (
            f'{{"bound":{bound!r},"key":{_key(key)},"open":{"true" if is_open else "false"},'
            f'"pending":{"true" if is_pending else "false"},"ts":{ts!r}}}'
        )
    return (
        f'{{"agent":{_s(agent)},"count":{count!r},"cur":{cur_text},"endpoint":{_s(endpoint)},'
        f'"frontier":{_i(frontier)},"last":{last_text},"outage_cause":{_s(outage_cause)},'
        f'"outage_start":{_i(outage_start)},"pending":[{pending_text}],"phase":{_s(phase)},'
        f'"suspect_cause":{_s(suspect_cause)},"suspect_start":{_i(suspect_start)},"v":{version!r}}}'
    )
