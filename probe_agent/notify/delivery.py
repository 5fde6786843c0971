"""What one attempt to deliver a notification came to: the value every sender returns.

A receiver failing is data, not an exception: a refused connection, a timeout, a 5xx answer or an SMTP error give
``ok=False``; ``retry`` says whether trying again later may help (a 4xx other than 408/429, a bad address or a
refused login will not). ``answer`` is what the receiver said, short and free of secrets (it is stored in the
outbox and printed by ``notify test``).
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_ANSWER_CHARS = 200


@dataclass(frozen=True, slots=True)
class Delivery:
    ok: bool
    retry: bool
    answer: str

    def __post_init__(self) -> None:
        if self.ok and self.retry:
            raise ValueError("a delivery that succeeded has nothing to retry")

    @classmethod
    def sent(cls, answer: str) -> Delivery:
        return cls(ok=True, retry=False, answer=answer[:MAX_ANSWER_CHARS])

    @classmethod
    def failed(cls, answer: str, *, retry: bool) -> Delivery:
        return cls(ok=False, retry=retry, answer=answer[:MAX_ANSWER_CHARS])
