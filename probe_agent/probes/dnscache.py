"""Addresses kept for at most their DNS TTL, for endpoints with ``dns_cache: ttl`` (one cache per event loop).

Rules:
- Only answers that carry a TTL are kept: those of the configured ``resolvers`` (``dnswire`` reads it). The system
  resolver (``getaddrinfo``) reports none, so config validation refuses ``dns_cache: ttl`` without ``resolvers``.
- An answer is reused until ``start + ttl`` on the monotonic clock, where ``start`` is when its query was *sent*:
  never longer than the nameserver allowed, whatever the query's own round trip. A TTL of 0 is not kept.
- A failed lookup (NXDOMAIN, SERVFAIL, silence) is never kept: the next probe asks again, so a failure is
  measured each time, as without the cache.
- The key is (name, address family, resolvers): a change of ``resolvers`` by a reload asks afresh.
- Expired entries are dropped when next looked up, and all at once whenever the cache has doubled since the last
  sweep, so it holds about as many entries as there are distinct names probed.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

DnsKey = tuple[str, socket.AddressFamily, tuple[str, ...]]


class DnsCache:
    """Addresses by (name, family, resolvers), each with its expiry in monotonic seconds."""

    def __init__(self) -> None:
        self._entries: dict[DnsKey, tuple[tuple[str, ...], float]] = {}
        self._sweep_at = 64  # entries at which expired ones are dropped all at once
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(name: str, family: socket.AddressFamily, resolvers: Sequence[str]) -> DnsKey:
        return (name.rstrip(".").lower(), family, tuple(resolvers))

    def get(self, key: DnsKey, now_s: float) -> list[str] | None:
        """The cached addresses, or None when there are none or they expired (``now_s`` on the monotonic clock)."""
        entry = self._entries.get(key)
        if entry is not None and now_s < entry[1]:
            self.hits += 1
            return list(entry[0])
        if entry is not None:
            del self._entries[key]
        self.misses += 1
        return None

    def put(self, key: DnsKey, addresses: Sequence[str], ttl_s: int | None, asked_s: float) -> None:
        """Keep ``addresses`` until ``asked_s + ttl_s``; nothing is kept without a TTL, with TTL 0 or no address."""
        if ttl_s is None or ttl_s <= 0 or not addresses:
            return
        self._entries[key] = (tuple(addresses), asked_s + ttl_s)
        if len(self._entries) >= self._sweep_at:
            self._entries = {k: v for k, v in self._entries.items() if v[1] > asked_s}
            self._sweep_at = max(64, 2 * len(self._entries))

    def __len__(self) -> int:
        return len(self._entries)
