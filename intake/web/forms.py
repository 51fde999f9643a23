"""What a cadre typed into a form, kept so that a refusal never clears it.

A cadre on a phone who misses one box must not type a meeting result or a reason again:
a refused form comes back with every value and ticked box as sent, and names every
missing required field at once (the procedure itself stops at the first). The required
fields of an action are read from its :class:`~intake.procedure.Transition`, so the
form's marks and the procedure's checks cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from intake.procedure import Transition

#: Free-text fields of the action forms, in the order the forms show them.
TEXT_FIELDS = (
    "meeting_result",
    "reason_detail",
    "helper",
    "measures",
    "measures_due",
    "merge_into",
    "reason",
    "helper_name",
    "helper_phone",
    "helper_work_unit",
    "outcome",
)
#: Checkboxes that confirm a fact.
CHECK_FIELDS = ("home_visit", "consent_confirmed", "applicant_asked")
#: Every field of the action forms in display order (the order missing ones are named).
FORM_ORDER = (
    "home_visit",
    "consent_confirmed",
    "outcome",
    "meeting_result",
    "risk_codes",
    "reason_detail",
    "helper",
    "measures",
    "measures_due",
    "applicant_asked",
    "merge_into",
    "reason",
)
_TICKED = ("on", "true", "1", "yes")


@dataclass(frozen=True)
class Typed:
    """One submitted action form, as typed; ``missing`` names the empty required fields."""

    action: str
    values: dict[str, str] = field(default_factory=dict)
    ticked: frozenset[str] = frozenset()
    risk_codes: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    #: Fields filled in but refused (a date that is no date, an unknown tracking code).
    invalid: tuple[str, ...] = ()

    @classmethod
    def of(cls, form: Any) -> Typed:
        """The values of a submitted form (a Starlette ``FormData``)."""
        values = {name: str(form.get(name) or "") for name in TEXT_FIELDS}
        ticked = frozenset(n for n in CHECK_FIELDS if str(form.get(n) or "") in _TICKED)
        codes = tuple(str(c) for c in form.getlist("risk_codes"))
        return cls(str(form.get("action") or ""), values, ticked, codes)

    def value(self, name: str) -> str:
        """What was typed into field ``name`` (empty if nothing)."""
        return self.values.get(name, "")

    def with_missing(self, transition: Transition) -> Typed:
        """These values, with the fields ``transition`` requires that were left empty."""
        required = required_fields(transition)
        missing = tuple(name for name in required if not self._filled(name))
        return Typed(self.action, self.values, self.ticked, self.risk_codes, missing)

    def refused(self, code: str) -> Typed:
        """These values, with the field a procedure refusal of ``code`` is about marked."""
        field_of = {"bad_date": "measures_due", "bad_merge": "merge_into"}
        field_of["merge_closed"] = "merge_into"
        invalid = (field_of[code],) if code in field_of else ()
        return Typed(self.action, self.values, self.ticked, self.risk_codes, self.missing, invalid)

    def flagged(self, name: str) -> bool:
        """Whether field ``name`` is to be shown as needing the cadre's attention."""
        return name in self.missing or name in self.invalid

    def _filled(self, name: str) -> bool:
        if name in CHECK_FIELDS:
            return name in self.ticked
        if name == "risk_codes":
            return any(code.strip() for code in self.risk_codes)
        return bool(self.value(name).strip())


def required_fields(transition: Transition) -> tuple[str, ...]:
    """The fields a form for ``transition`` must carry, in the form's order."""
    wanted = {*transition.facts, *(("reason",) if transition.reason_required else ())}
    return tuple(name for name in FORM_ORDER if name in wanted)
