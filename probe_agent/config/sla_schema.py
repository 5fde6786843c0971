"""The ``slas`` section: what a contract promises, how it counts, and what it pays.

Percentages are exact Decimals in percent (``99.9`` means 99.9 %), durations integer milliseconds, money Decimal
strings. A preset (``use: aws-ec2-region``) is merged under the SLA before validation, so these models only ever
see the merged result.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from probe_agent.config.schema import Ident, Model, _check_zone
from probe_agent.config.values import DurationMs, Percent

Policy = Literal["exclude", "up", "down"]


class Cycle(Model):
    """Monthly cycles from ``anchor_day`` at local midnight, or one explicit ``from``/``to`` cycle."""

    period: Literal["monthly", "explicit"] = "monthly"
    anchor_day: int = 1
    timezone: str | None = None  # None: the agent's zone
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None

    @field_validator("anchor_day")
    @classmethod
    def _anchor_day(cls, v: int) -> int:
        # Every month has days 1-28; a cycle anchored on the 29th-31st needs a rule for the months without that
        # day, which is not defined yet.
        if not 1 <= v <= 28:
            raise ValueError(
                f"anchor_day must be 1-28, not {v}: days 29-31 are missing from some months (a later version lifts "
                "this limit)"
            )
        return v

    @model_validator(mode="before")
    @classmethod
    def _from_to_is_explicit(cls, data: Any) -> Any:
        """A cycle given ``from`` or ``to`` is explicit, whatever ``period`` says (a ``period`` that is not one of
        the choices is left alone, to be reported at its key)."""
        if not isinstance(data, dict) or data.get("period", "monthly") not in ("monthly", "explicit"):
            return data
        if any(data.get(key) is not None for key in ("from", "from_", "to")):
            return {**data, "period": "explicit"}
        return data

    @model_validator(mode="after")
    def _shape(self) -> Cycle:
        if self.from_ is not None or self.to is not None:
            if self.from_ is None or self.to is None:
                raise ValueError("an explicit cycle needs both from and to")
        elif self.period == "explicit":
            raise ValueError("period: explicit needs from and to")
        if self.timezone is not None:
            _check_zone(self.timezone)
        return self


class Counting(Model):
    method: Literal["time", "slices"] = "time"
    unit: DurationMs = 60_000
    partial: Literal["ignore", "count"] = "ignore"
    min_run: int = Field(default=1, ge=1)

    @field_validator("unit")
    @classmethod
    def _unit(cls, v: int) -> int:
        if v < 1000:
            raise ValueError("a slice must be at least 1s")
        return v


class Maintenance(Model):
    """A one-off window (``from``/``to``) or a recurring one (``cron`` + ``duration``, in the SLA's zone)."""

    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    cron: str | None = None
    duration: DurationMs | None = None
    notice: DurationMs | None = None  # the window only counts if announced at least this long before it starts
    announced: str | None = None  # when it was announced (ISO 8601); default: when the config carrying it took effect
    reason: str = ""

    @model_validator(mode="after")
    def _shape(self) -> Maintenance:
        one_off = self.from_ is not None or self.to is not None
        if one_off == (self.cron is not None):
            raise ValueError("a maintenance window has either from/to or cron/duration")
        if one_off and (self.from_ is None or self.to is None):
            raise ValueError("a one-off maintenance window needs both from and to")
        if self.cron is not None:
            if not self.duration:
                raise ValueError("a recurring window (cron) needs a duration")
            if len(self.cron.split()) != 5:
                raise ValueError("cron has five fields: minute hour day-of-month month day-of-week")
        return self


class LatencyObjective(Model):
    percentile: float = Field(gt=0, le=100)
    below: DurationMs


class ErrorRateObjective(Model):
    below: Percent


class Objectives(Model):
    latency: LatencyObjective | None = None
    error_rate: ErrorRateObjective | None = None


class TierModel(Model):
    below: Percent
    credit: Percent

    @field_validator("below")
    @classmethod
    def _positive(cls, v: Decimal) -> Decimal:
        if v <= 0:
            raise ValueError("a tier's `below` must be more than 0% (nothing is below 0%)")
        return v


class PerUnitModel(Model):
    every: DurationMs
    credit: Percent | None = None  # percent of the fee per started unit
    multiplier: Decimal | None = Field(default=None, gt=0)  # x the pro-rated charge for the downtime
    beyond_allowance: bool = True

    @model_validator(mode="after")
    def _one(self) -> PerUnitModel:
        if (self.credit is None) == (self.multiplier is None):
            raise ValueError("per_unit needs exactly one of credit (a percent) or multiplier")
        if self.every <= 0:
            raise ValueError("every must be positive")
        return self


class PerIncidentModel(Model):
    longer_than: DurationMs
    credit: Percent


class ClaimCycles(Model):
    cycles: int = Field(ge=1, le=24)


class CreditsModel(Model):
    fee: Decimal | None = Field(default=None, ge=0)
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    tiers: tuple[TierModel, ...] = ()
    per_unit: PerUnitModel | None = None
    per_incident: PerIncidentModel | None = None
    combine: Literal["sum", "max"] = "max"
    cap: Percent | None = None
    minimum_payout: Decimal | None = Field(default=None, ge=0)
    claim_window: DurationMs | ClaimCycles | None = None
    proration: bool = True
    rounding_places: int | None = Field(default=None, ge=0, le=4)  # default: the currency's minor unit

    @field_validator("fee", "minimum_payout", mode="before")
    @classmethod
    def _money(cls, v: Any) -> Any:
        if isinstance(v, float):
            return repr(v)  # never through binary floating point
        return v

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, v: tuple[TierModel, ...]) -> tuple[TierModel, ...]:
        belows = [t.below for t in v]
        if len(set(belows)) != len(belows):
            raise ValueError("two tiers have the same `below`")
        return tuple(sorted(v, key=lambda t: t.below, reverse=True))


class Source(Model):
    url: str = ""
    version: str = ""
    verified: bool = False


class Sla(Model):
    id: Ident
    customer: str = ""
    provider: str = ""
    use: str | None = None  # the preset it was built on (already merged in)
    source: Source | None = None  # set by presets: where the terms come from
    notes: str = ""
    services: tuple[str, ...] = ()
    endpoints: tuple[str, ...] = ()
    target: Percent
    cycle: Cycle = Field(default_factory=Cycle)
    counting: Counting = Field(default_factory=Counting)
    unknown: Policy = "exclude"
    no_data: Policy = "exclude"
    degraded_counts_as: Literal["up", "down"] = "up"
    # Below this coverage, a warning says how unseen time was counted (absent: agent.coverage_warning, else 90 %).
    coverage_warning: Percent = Decimal("90")
    maintenance: tuple[Maintenance, ...] = ()
    objectives: Objectives = Field(default_factory=Objectives)
    max_incident_duration: DurationMs | None = None
    credits: CreditsModel | None = None
    close_after: DurationMs = 3 * 86_400_000  # the daemon closes a cycle this long after it ends

    @model_validator(mode="after")
    def _scope(self) -> Sla:
        if not self.services and not self.endpoints:
            raise ValueError("an SLA covers services or endpoints: give `services: [...]` or `endpoints: [...]`")
        if self.services and self.endpoints:
            raise ValueError("give either services or endpoints, not both (put endpoints in a service)")
        return self
