"""The one redaction rule (probe_agent/redaction.py) that logs, config errors and delivery answers share."""

from __future__ import annotations

from probe_agent.redaction import redact


def test_the_longest_secret_goes_first_and_empty_ones_are_skipped() -> None:
    assert redact("token abcdef and abc", ["abc", "abcdef", ""]) == "token *** and ***"


def test_no_secrets_leaves_the_text() -> None:
    assert redact("plain", []) == "plain"
