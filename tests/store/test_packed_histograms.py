"""The packed rollup histogram: its byte layout, round trips, and sums equal to merged histograms."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probe_agent.latency import MIN_INDEX, LatencyHistogram
from probe_agent.store.packed_histograms import histogram_of, pack, pack_value, unpack, value_of

_histograms = st.dictionaries(st.integers(MIN_INDEX, 400), st.integers(1, 2**40)).map(LatencyHistogram)


def test_the_layout_is_the_lowest_bucket_then_64_bit_little_endian_counts() -> None:
    blob = pack(LatencyHistogram({40: 3, 42: 1}))
    assert blob == (40).to_bytes(2, "little") + bytes([3, 0, 0, 0, 0, 0, 0, 0]) + bytes(8) + bytes([1] + [0] * 7)
    assert pack(LatencyHistogram({MIN_INDEX: 2}))[:2] == (-95).to_bytes(2, "little", signed=True)
    assert pack(LatencyHistogram()) == b"" and unpack(b"") == LatencyHistogram()
    assert value_of(blob) == (3 | 1 << 128) << (64 * (40 - MIN_INDEX))


def test_counts_that_do_not_fit_are_refused() -> None:
    with pytest.raises(ValueError, match="2\\*\\*64"):
        pack(LatencyHistogram({3: -1}))
    with pytest.raises(ValueError, match="2\\*\\*64"):
        pack(LatencyHistogram({3: 2**64}))
    with pytest.raises(ValueError, match="negative"):
        histogram_of(-1)


@given(_histograms)
def test_a_histogram_survives_packing(h: LatencyHistogram) -> None:
    assert unpack(pack(h)) == h


@given(st.lists(_histograms, max_size=8))
def test_summed_values_are_the_merged_histogram(parts: list[LatencyHistogram]) -> None:
    merged = LatencyHistogram()
    for part in parts:
        merged.merge(part)
    total = sum(value_of(pack(part)) for part in parts)
    assert histogram_of(total) == merged
    assert pack_value(total) == pack(merged)


def test_a_bucket_at_the_field_limit_does_not_carry_into_its_neighbour() -> None:
    full = LatencyHistogram({10: 2**63, 11: 5})
    total = value_of(pack(full)) + value_of(pack(LatencyHistogram({10: 2**63 - 1})))
    assert histogram_of(total) == LatencyHistogram({10: 2**64 - 1, 11: 5})
