"""The stored form of rollup latency histograms: packed fixed-width counts, summed as one integer.

A histogram is stored as a blob: a little-endian signed 16-bit lowest bucket index ``lo``, then the count of every
bucket from ``lo`` to the highest non-empty bucket, each an unsigned 64-bit little-endian field (empty buckets in
between are zero fields; an empty histogram is the empty blob). The blob's fields are read as one Python integer
whose field ``i`` (bits ``64 i`` to ``64 i + 63``) counts bucket ``MIN_INDEX + i`` once shifted into place, so
merging any number of histograms is integer addition, done in C over all buckets at once, instead of a dict
update per bucket (or SQLite's ``json_each`` per bucket, which made a month of hourly JSON histograms cost about
27 ms per (agent, endpoint)).

Addition never carries from one field into the next as long as no bucket's sum reaches 2**64: a sum of counts is
at most the number of stored results, far below that.
"""

from __future__ import annotations

import struct
import sys
from array import array

from probe_agent.latency import MIN_INDEX, LatencyHistogram

FIELD_BITS = 64
_HEADER = 2  # bytes of the lowest bucket index
_MAX_COUNT = 2**FIELD_BITS - 1
_lowest = struct.Struct("<h").unpack_from  # the header, read in place


def pack(histogram: LatencyHistogram) -> bytes:
    """``histogram`` as a blob (see the module docstring); raises ValueError for a count that is negative or does
    not fit 64 bits, or a bucket below ``MIN_INDEX``."""
    counts = histogram.counts
    if 0 in counts.values():  # an empty bucket is not stored (rare: histograms keep only non-empty ones)
        counts = {b: n for b, n in counts.items() if n}
    if not counts:
        return b""
    lo, hi = min(counts), max(counts)
    if lo < MIN_INDEX or hi - MIN_INDEX >= 2**15:
        raise ValueError(f"latency bucket out of the packable range: {lo}..{hi}")
    fields = [0] * (hi - lo + 1)
    for b, n in counts.items():
        fields[b - lo] = n
    try:
        return struct.pack(f"<h{len(fields)}Q", lo, *fields)
    except struct.error:
        bad = next(n for n in counts.values() if not 0 < n <= _MAX_COUNT)
        raise ValueError(f"a histogram count must be in 0..2**64-1, got {bad}") from None


def unpack(blob: bytes) -> LatencyHistogram:
    """The histogram a blob from ``pack`` holds."""
    return histogram_of(value_of(blob))


def value_of(blob: bytes) -> int:
    """A blob as one integer whose field ``i`` counts bucket ``MIN_INDEX + i`` (0 for the empty blob): sum these
    to merge histograms. (Called once per rollup row read: the header is read in place and the fields through a
    memoryview, without copying the blob, which takes a third off its cost.)"""
    if not blob:
        return 0
    lowest: int = _lowest(blob)[0]
    return int.from_bytes(memoryview(blob)[_HEADER:], "little") << (FIELD_BITS * (lowest - MIN_INDEX))


def pack_value(value: int) -> bytes:
    """The blob of a sum of ``value_of`` integers (what ``pack`` of the merged histograms gives)."""
    if value <= 0:
        if value < 0:
            raise ValueError("a packed histogram sum cannot be negative")
        return b""
    lo_field = ((value & -value).bit_length() - 1) // FIELD_BITS
    value >>= FIELD_BITS * lo_field
    n_fields = -(-value.bit_length() // FIELD_BITS)
    return (MIN_INDEX + lo_field).to_bytes(_HEADER, "little", signed=True) + value.to_bytes(8 * n_fields, "little")


def histogram_of(value: int) -> LatencyHistogram:
    """A sum of ``value_of`` integers as a ``LatencyHistogram`` (only the non-empty buckets)."""
    if value <= 0:
        if value < 0:
            raise ValueError("a packed histogram sum cannot be negative")
        return LatencyHistogram()
    lo = MIN_INDEX + ((value & -value).bit_length() - 1) // FIELD_BITS  # the lowest non-empty bucket
    value >>= FIELD_BITS * (lo - MIN_INDEX)
    fields = array("Q", value.to_bytes(8 * -(-value.bit_length() // FIELD_BITS), "little"))
    if sys.byteorder == "big":
        fields.byteswap()
    return LatencyHistogram({lo + i: n for i, n in enumerate(fields) if n})
