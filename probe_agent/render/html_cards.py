"""The headline cards of the HTML claim report: the summary's figures that a reader looks at first.

The cards are rows of the one summary every format shows (``render/report.py``, ``summary_rows``): the rows named
in ``SUMMARY_CARDS``, in the summary's order, with its labels and (where the row exists) its values; each card adds
a line of context (met or missed and the budget used, the measurement bounds, what coverage means, the fee).
Every value is escaped (``html_parts.esc``).
"""

from __future__ import annotations

from decimal import Decimal

from probe_agent.render.html_parts import Html, esc
from probe_agent.render.report import SUMMARY_CARDS, met_text, summary_rows
from probe_agent.reports.json_types import ReportDoc
from probe_agent.units import dur, pct


def _card(label: str, value: str, sub: object, tone: str) -> str:
    return (
        f'<div class="card {tone}"><div class="label">{esc(label)}</div>'
        f'<div class="value">{esc(value)}</div><div class="sub">{esc(sub)}</div></div>'
    )


def summary_cards(doc: ReportDoc) -> Html:
    """The headline cards: ``SUMMARY_CARDS``, the summary's own labels in the summary's order (``summary_rows``);
    each card's value is the summary row's value where the row exists."""
    met = doc.get("met")
    tone = "neutral" if met is None else ("good" if met else "bad")
    shown = dict(summary_rows(doc))
    bounds = doc.get("bounds")
    avail_sub = (
        f"measurement bounds {pct(bounds['min_availability_percent'])} to {pct(bounds['max_availability_percent'])}"
        if bounds
        else ("nothing was counted (no data)" if doc.get("availability_percent") is None else "")
    )
    budget = doc.get("budget")
    target_sub = met_text(met)
    if budget:
        target_sub += f"; error budget used {dur(budget['used_s'])} of {dur(budget['allowed_s'])}"
    coverage = doc.get("coverage_percent")
    cards = {
        "Target": _card("Target", shown["Target"], target_sub, tone),
        "Availability": _card("Availability", shown["Availability"], avail_sub, tone),
        "Coverage": _card(
            "Coverage",
            shown.get("Coverage", pct(coverage, 2)),
            "of the cycle (less exclusions) had definite data" if coverage is not None else "no data",
            "neutral",
        ),
        "Credit": _credit_card(doc),
    }
    return Html(f'<div class="cards">{"".join(cards[label] for label in SUMMARY_CARDS)}</div>')


def _credit_card(doc: ReportDoc) -> str:
    """The credit as a card: the amount (money as the document holds it), or why there is none."""
    credit = doc.get("credit")
    if credit is None:
        return _card("Credit", "–", doc.get("no_credit_reason") or "the SLA has no credit terms", "neutral")
    sub = f"{credit['percent']}% of {credit['charged_fee']} {credit['currency']}"
    if credit.get("provisional"):
        sub += " (provisional)"
    try:
        has_credit = Decimal(str(credit["amount"])) > 0
    except ArithmeticError:  # InvalidOperation: shown as given, neutral tone
        has_credit = False
    return _card("Credit", f"{credit['amount']} {credit['currency']}", sub, "bad" if has_credit else "good")
