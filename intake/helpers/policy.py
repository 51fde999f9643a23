"""The ``helpers:`` section of a region's policy file, validated when it is loaded.

:class:`intake.policy.Policy` carries the section as an opaque mapping so that the core
loader need not know this capability; :func:`helpers_policy` turns it into a checked
:class:`HelpersPolicy` and raises :class:`~intake.policy.PolicyError` naming the key, in
the same shape as the core loader (``gangkou: helpers.reminder_hour: must be ≤ 23``).

Example::

    >>> from intake.policy import default_policy_path, load_policy
    >>> helpers_policy(load_policy(default_policy_path())).reminder_hour
    9
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from intake.policy import Policy, PolicyError

__all__ = ["HelpersPolicy", "helpers_policy"]

Hour = Annotated[int, Field(ge=0, le=23)]
WorkingDays = Annotated[int, Field(ge=1, le=20)]


class HelpersPolicy(BaseModel):
    """When helpers are reminded, when the ladder climbs, how stale a missed fire may be."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    #: The first reminder goes out on this working day of the month (1 = the first).
    reminder_working_day: WorkingDays
    #: Reminders and cadre messages go out from this hour (Beijing time) ...
    reminder_hour: Hour
    #: ... and not at or after this one (working hours end).
    working_hours_end: Hour
    #: The second reminder: this many working days before the month's last working day.
    second_reminder_working_days_before_end: WorkingDays
    #: An overdue household-month reaches the township after this many working days.
    township_escalation_working_days: WorkingDays
    #: A fire missed by more than this (the service was down) is skipped with a note.
    staleness_hours: Annotated[int, Field(ge=1, le=24 * 31)]
    #: In the follow-up year (风险消除 后持续关注), a visit every this many months.
    followup_visit_months: Annotated[int, Field(ge=1, le=12)]

    @model_validator(mode="after")
    def _hours_in_order(self) -> HelpersPolicy:
        if self.working_hours_end <= self.reminder_hour:
            raise ValueError("working_hours_end must be after reminder_hour")
        return self


def helpers_policy(policy: Policy) -> HelpersPolicy:
    """The validated ``helpers:`` section of ``policy``; PolicyError if missing or wrong."""
    file = policy.region.code
    if not policy.helpers:
        raise PolicyError(file, "helpers", "missing section")
    try:
        return HelpersPolicy.model_validate(policy.helpers)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in ("helpers", *first["loc"]))
        problem = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        raise PolicyError(file, key, problem) from None
