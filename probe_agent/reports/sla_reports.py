"""The SLA report documents a reader asks for: one SLA or every SLA, a billing cycle or a window, as of "now".

``report`` and ``credits`` (the CLI) and ``/api/v1/slas/{id}/report`` and ``/credits`` (the HTTP API) all come
here, so their JSON is one document made by one piece of code. The caller opens the connection (read-only is
enough: nothing is written) and says what "now" is.

Problems with what was asked for raise ``ReportRequestError`` (a ``ValueError``) with a message fit for the user,
worded as the CLI's options (``--cycle``, ``--from``/``--to``); the API checks its parameters before calling, in its
own words, so it meets these only as a last line. ``UnknownSla`` (a ``ReportRequestError``) says the id is not one
of the configured SLAs; ``NoSlas`` that none is configured.
"""

from __future__ import annotations

import sqlite3

from probe_agent.config.document import Config
from probe_agent.config.sla_schema import Sla
from probe_agent.reports import scope
from probe_agent.reports.build import build_report
from probe_agent.reports.closing import apply_closed
from probe_agent.reports.json_types import ReportDoc


class ReportRequestError(ValueError):
    """What was asked for cannot be reported (a bad period, an unknown SLA): the message says why."""


class NoSlas(ReportRequestError):
    """The config has no ``slas:``."""


class UnknownSla(ReportRequestError):
    """The SLA id named is not configured."""


def select_slas(config: Config, sla_id: str | None) -> list[Sla]:
    """Every configured SLA (``sla_id`` None), or the one named. Raises ``NoSlas`` or ``UnknownSla``."""
    if not config.slas:
        raise NoSlas("no SLAs configured: add one under `slas:` (see README.md, 'SLAs and credits')")
    if sla_id is None:
        return list(config.slas)
    try:
        return [config.sla(sla_id)]
    except KeyError:
        raise UnknownSla(f"unknown SLA '{sla_id}' (configured: {', '.join(s.id for s in config.slas)})") from None


def check_period_request(cycle: str | None, from_: str | None, to: str | None) -> None:
    """A cycle and a window exclude each other (``ReportRequestError``); the rest is checked per SLA, in its zone."""
    if cycle and (from_ or to):
        raise ReportRequestError("give --cycle or --from/--to, not both")


def report_docs(
    conn: sqlite3.Connection,
    config: Config,
    sla_id: str | None,
    now_ms: int,
    *,
    cycle: str | None = None,
    from_: str | None = None,
    to: str | None = None,
) -> list[ReportDoc]:
    """One report document per selected SLA (``sla_id`` None: every SLA, in config order) as of ``now_ms``.

    The period is ``cycle`` (``YYYY-MM``: the billing cycle that starts in that month), or ``from_``/``to`` (ISO 8601
    with an offset, or a date at local midnight in the SLA's zone; ``to`` excluded), or by default the cycle that
    holds ``now_ms``; an SLA with one explicit cycle always reports that cycle. A closed cycle shows its stored
    figures, with any drift since noted (``closing.apply_closed``). Reads the store; never writes.
    """
    check_period_request(cycle, from_, to)
    docs = []
    for sla in select_slas(config, sla_id):
        try:
            period = scope.sla_period(config, sla, now_ms, cycle=cycle, from_=from_, to=to)
        except ValueError as exc:
            raise ReportRequestError(str(exc)) from None
        docs.append(apply_closed(conn, build_report(conn, config, sla, period, now_ms)))
    return docs
