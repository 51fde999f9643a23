"""The application procedure of seeds 000 and 001 as one explicit state machine.

Every legal move is one row of :data:`TRANSITIONS`: from which status, by which action, to
which status, who may take it, whether a reason is required and which facts must be
recorded. :func:`apply` is the only way an item changes status: it checks the row, the
actor's role and scope, the reason, the facts and the guard (a public notice cannot end
early), sets the next deadline, writes the audit event (actor, time, reason) and hands the
applicant's notice to the sink, all in the caller's transaction. Anything else is refused
with a :class:`ProcedureError` that says what is allowed instead.

Deadlines come from the policy file: the township decides within
``township_review_working_days`` working days of the village report (official holidays
and adjusted workdays counted), the public notice lasts ``public_notice_days`` calendar
days (it ends at 23:59:59 Beijing time on the day that many days after posting), and the
county confirms within ``decision_days`` days of the notice's end.

The 1-year review (``review`` items) and the exit after the follow-up year (``exit``
items) walk the same ladder as enrolment — village proposes, township checks, county
decides (:mod:`intake.helpers.outcomes`) — each step a recorded decision; a level that
decides otherwise than the one below must say why. Enrolment names a helper from the
place's list, or creates one (:mod:`intake.helpers.assignments`).

A cadre's reasons and free-text facts (meeting result, the detailed reason, measures) may
say what ails a family; they are written encrypted, in the audit log and the enrolment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import event, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapper
from sqlmodel import Field, Session, SQLModel, select

from intake import audit
from intake.applications import Application
from intake.columns import utc_column, utcnow
from intake.crypto import FieldCipher
from intake.helpers import outcomes
from intake.helpers.assignments import assign_helper
from intake.helpers.enrolment import HelperChoiceError, enrolment_helper
from intake.helpers.models import Helper, HelpReview
from intake.households import Household
from intake.policy import Policy
from intake.queue import ItemKind, ItemStatus, QueueItem, find_by_tracking_code
from intake.users import Role, Scope
from intake.workdays import SHANGHAI, WorkdayCalendar

__all__ = [
    "OPEN_APPLICATION",
    "TRANSITIONS",
    "Action",
    "Done",
    "Enrollment",
    "ProcedureError",
    "Transition",
    "apply",
    "available",
    "enrolment_text",
    "estimated_deadline_year",
    "risk_codes_field",
]

S = ItemStatus
_END_OF_DAY = time(23, 59, 59)


class Action(StrEnum):
    """What a cadre can do to an item."""

    START_VILLAGE_REVIEW = "start_village_review"
    VILLAGE_REPORT = "village_report"
    RETURN_TO_VILLAGE = "return_to_village"
    START_NOTICE = "start_notice"
    RECORD_OBJECTION = "record_objection"
    END_NOTICE = "end_notice"
    ENROL = "enrol"
    DECLINE = "decline"
    WITHDRAW = "withdraw"
    MERGE = "merge"
    CLOSE_CALLBACK = "close_callback"
    #: The review and exit ladder (the outcome is a fact of each step).
    PROPOSE_OUTCOME = "propose_outcome"
    CHECK_OUTCOME = "check_outcome"
    CONFIRM_OUTCOME = "confirm_outcome"


_LOCAL = frozenset({Role.VILLAGE, Role.TOWNSHIP, Role.ADMIN})
_TOWNSHIP = frozenset({Role.TOWNSHIP, Role.ADMIN})
_COUNTY = frozenset({Role.COUNTY, Role.ADMIN})
_ANY = frozenset({Role.VILLAGE, Role.TOWNSHIP, Role.COUNTY, Role.ADMIN})


@dataclass(frozen=True)
class Transition:
    """One legal move of the procedure."""

    source: ItemStatus
    action: Action
    target: ItemStatus
    roles: frozenset[Role]
    reason_required: bool = False
    #: Facts the form must carry (see :func:`_check_facts`).
    facts: tuple[str, ...] = ()
    #: The kinds of item the move is for.
    kinds: frozenset[str] = frozenset({ItemKind.APPLICATION})


OPEN_APPLICATION = (S.SUBMITTED, S.VILLAGE_REVIEW, S.TOWNSHIP_REVIEW, S.PUBLIC_NOTICE)
_CLOSABLE = (*OPEN_APPLICATION, S.COUNTY_CONFIRM)
#: Who may record an applicant's withdrawal: the level that holds the item (and the
#: township, which runs the hotline, at every stage). A village cadre cannot pull an item
#: back off the township's or the county's desk, nor the county one it has not received.
_WITHDRAW_ROLES: dict[ItemStatus, frozenset[Role]] = {
    S.SUBMITTED: _LOCAL,
    S.VILLAGE_REVIEW: _LOCAL,
    S.TOWNSHIP_REVIEW: _TOWNSHIP,
    S.PUBLIC_NOTICE: _TOWNSHIP,
    S.COUNTY_CONFIRM: _TOWNSHIP | _COUNTY,
}
#: A merge target must still be a live record of the household: not declined, withdrawn
#: or itself merged away (an enrolled item may take a late duplicate).
MERGE_REFUSED_TARGETS = frozenset({S.NOT_ENROLLED, S.WITHDRAWN, S.MERGED})
_APPLICATION = frozenset({ItemKind.APPLICATION})
_REVIEWS = frozenset({ItemKind.REVIEW, ItemKind.EXIT})
#: The level whose decision each ladder step records (see :mod:`intake.helpers.outcomes`).
_STEP_LEVEL = {"propose_outcome": "proposed", "check_outcome": "checked"}
_STEP_LEVEL["confirm_outcome"] = "outcome"

TRANSITIONS: tuple[Transition, ...] = (
    Transition(S.SUBMITTED, Action.START_VILLAGE_REVIEW, S.VILLAGE_REVIEW, _LOCAL),
    Transition(
        S.VILLAGE_REVIEW,
        Action.VILLAGE_REPORT,
        S.TOWNSHIP_REVIEW,
        _LOCAL,
        facts=("home_visit", "consent_confirmed", "meeting_result"),
    ),
    Transition(
        S.TOWNSHIP_REVIEW,
        Action.RETURN_TO_VILLAGE,
        S.VILLAGE_REVIEW,
        _TOWNSHIP,
        True,
        kinds=_APPLICATION | _REVIEWS,
    ),
    Transition(S.TOWNSHIP_REVIEW, Action.START_NOTICE, S.PUBLIC_NOTICE, _TOWNSHIP),
    Transition(S.TOWNSHIP_REVIEW, Action.DECLINE, S.NOT_ENROLLED, _TOWNSHIP, True),
    Transition(S.PUBLIC_NOTICE, Action.RECORD_OBJECTION, S.TOWNSHIP_REVIEW, _LOCAL, True),
    Transition(S.PUBLIC_NOTICE, Action.END_NOTICE, S.COUNTY_CONFIRM, _TOWNSHIP),
    Transition(S.COUNTY_CONFIRM, Action.ENROL, S.ENROLLED, _COUNTY, facts=("risk_codes", "helper")),
    Transition(S.COUNTY_CONFIRM, Action.DECLINE, S.NOT_ENROLLED, _COUNTY, True),
    *(
        Transition(s, Action.WITHDRAW, S.WITHDRAWN, roles, True, facts=("applicant_asked",))
        for s, roles in _WITHDRAW_ROLES.items()
    ),
    *(Transition(s, Action.MERGE, S.MERGED, _ANY, facts=("merge_into",)) for s in _CLOSABLE),
    Transition(S.OPEN, Action.CLOSE_CALLBACK, S.DONE, _ANY, True, kinds=frozenset({"callback"})),
    Transition(
        S.VILLAGE_REVIEW,
        Action.PROPOSE_OUTCOME,
        S.TOWNSHIP_REVIEW,
        _LOCAL,
        facts=("home_visit", "outcome", "meeting_result"),
        kinds=_REVIEWS,
    ),
    Transition(
        S.TOWNSHIP_REVIEW,
        Action.CHECK_OUTCOME,
        S.COUNTY_CONFIRM,
        _TOWNSHIP,
        facts=("outcome",),
        kinds=_REVIEWS,
    ),
    Transition(
        S.COUNTY_CONFIRM,
        Action.CONFIRM_OUTCOME,
        S.DONE,
        _COUNTY,
        facts=("outcome",),
        kinds=_REVIEWS,
    ),
)
_TABLE: dict[tuple[ItemStatus, Action], Transition] = {(t.source, t.action): t for t in TRANSITIONS}
assert len(_TABLE) == len(TRANSITIONS), "two transitions share a (status, action)"


class ProcedureError(ValueError):
    """A refused action; ``code`` names the rule, ``params`` fill the cadre's message."""

    def __init__(self, code: str, message: str, /, **params: str) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


class Enrollment(SQLModel, table=True):
    """What the county confirmed: risk types, the helper and the measures (台账)."""

    __tablename__ = "enrollment"

    id: int | None = Field(default=None, primary_key=True)
    queue_item_id: int = Field(foreign_key="queue_item.id", unique=True)
    household_id: int | None = Field(default=None, foreign_key="household.id", index=True)
    risk_codes: str = Field(max_length=128)
    #: 详细原因 and 帮扶措施, encrypted since migration 0004 (read with :func:`enrolment_text`).
    reason_detail_cipher: str | None = None
    helper_name: str = Field(max_length=64)
    measures_cipher: str | None = None
    measures_due: date | None = None
    enrolled_by: str = Field(max_length=64)
    enrolled_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


@dataclass(frozen=True)
class Done:
    """A transition carried out."""

    item: QueueItem
    transition: Transition
    at: datetime
    reason: str | None
    facts: Mapping[str, Any] = field(default_factory=dict)
    #: The audit event that records it (also names the applicant's notice).
    event_id: int = 0


#: Receives every carried-out transition inside its transaction (the applicant's notice).
Sink = Callable[[Session, Done], None]


def available(item: QueueItem, scope: Scope) -> list[Transition]:
    """The transitions ``scope``'s user may take on ``item`` now (ignoring guards)."""
    if not scope.can_act or not scope.allows(item):
        return []
    return [
        t
        for t in TRANSITIONS
        if t.source == item.status and scope.role in t.roles and _kind_ok(t, item)
    ]


def _kind_ok(transition: Transition, item: QueueItem) -> bool:
    return item.kind in transition.kinds


def _transition(item: QueueItem, action: str, scope: Scope) -> Transition:
    try:
        wanted = Action(action)
    except ValueError:
        raise ProcedureError("unknown_action", f"no action {action!r}", action=action) from None
    if not scope.allows(item):
        raise ProcedureError("out_of_scope", "this item is outside your area")
    found = _TABLE.get((ItemStatus(item.status), wanted))
    if found is None or not _kind_ok(found, item):
        open_here = [t for t in TRANSITIONS if t.source == item.status and _kind_ok(t, item)]
        allowed = ", ".join(t.action.value for t in open_here) or "-"
        raise ProcedureError(
            "illegal",
            f"cannot {wanted.value} an item in status {item.status}; allowed: {allowed}",
            action=wanted.value,
            status=item.status,
            allowed=allowed,
        )
    if scope.role not in found.roles or not scope.can_act:
        raise ProcedureError("forbidden", f"your role may not {wanted.value}", action=wanted.value)
    return found


def _local_day(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


def _end_of(day: date) -> datetime:
    return datetime.combine(day, _END_OF_DAY, tzinfo=SHANGHAI)


def notice_ends(started: datetime, days: int) -> datetime:
    """When a public notice posted at ``started`` ends (``days`` full calendar days)."""
    return _end_of(_local_day(started) + timedelta(days=days))


def _deadline(
    transition: Transition,
    item: QueueItem,
    policy: Policy,
    calendar: WorkdayCalendar,
    now: datetime,
) -> datetime | None:
    """The next deadline once ``transition`` is taken."""
    limits = policy.time_limits
    if transition.target is S.TOWNSHIP_REVIEW:
        return calendar.end_of_working_day(now, limits.township_review_working_days)
    if transition.target is S.PUBLIC_NOTICE:
        return notice_ends(now, limits.public_notice_days)
    if transition.target is S.COUNTY_CONFIRM:
        return _end_of(_local_day(now) + timedelta(days=limits.decision_days))
    if transition.target is S.VILLAGE_REVIEW:
        return item.due_at if transition.source is S.SUBMITTED else None
    return None


#: Statuses whose deadline counts working days (the others count calendar days).
WORKING_DAY_DEADLINES = frozenset({S.TOWNSHIP_REVIEW})


def estimated_deadline_year(item: QueueItem, calendar: WorkdayCalendar) -> int | None:
    """The year whose holidays the item's working-day deadline was counted without
    (weekends only, see :mod:`intake.workdays`), or None if it is not an estimate."""
    if item.status not in WORKING_DAY_DEADLINES:
        return None
    return calendar.estimated_year(item.due_at)


_CODES = re.compile(r"^[0-9]{2}$")


def risk_codes_field(codes: list[str]) -> str:
    """The queue's filter form of risk-type codes: ``",01,08,"``."""
    return "," + ",".join(codes) + "," if codes else ""


def _text(facts: Mapping[str, Any], name: str, limit: int) -> str | None:
    value = facts.get(name)
    text = str(value).strip() if value is not None else ""
    return text[:limit] if text else None


def _check_facts(
    session: Session,
    transition: Transition,
    item: QueueItem,
    facts: Mapping[str, Any],
    policy: Policy,
    scope: Scope,
) -> dict[str, Any]:
    """The recorded facts of ``transition``, checked; raises ProcedureError if one is missing."""
    checked: dict[str, Any] = {}
    for name in transition.facts:
        if name in ("home_visit", "consent_confirmed", "applicant_asked"):
            if facts.get(name) not in (True, "on", "true", "1", "yes"):
                raise ProcedureError("missing_fact", f"{name} must be confirmed", fact=name)
            checked[name] = True
        elif name == "meeting_result":
            value = _text(facts, name, 500)
            if value is None:
                raise ProcedureError("missing_fact", f"{name} is required", fact=name)
            checked[name] = value
        elif name == "outcome":
            checked[name] = _outcome(item, facts.get(name))
        elif name == "risk_codes":
            checked[name] = _risk_codes(facts.get(name), policy)
        elif name == "merge_into":
            other = _merge_target(session, item, facts.get(name), scope)
            checked[name], checked["merge_code"] = other.id, other.tracking_code
    if transition.action is Action.ENROL:
        checked.update(_measures(facts))
    return checked


def _outcome(item: QueueItem, raw: Any) -> str:
    wanted = str(raw or "").strip()
    if wanted not in outcomes.OUTCOMES.get(item.kind, ()):
        raise ProcedureError("missing_fact", "choose an outcome", fact="outcome")
    return wanted


def _enrolment_helper(
    session: Session,
    item: QueueItem,
    facts: Mapping[str, Any],
    cipher: FieldCipher,
    actor: str,
    now: datetime,
) -> Helper:
    try:
        return enrolment_helper(session, cipher, item, facts, actor=actor, now=now)
    except HelperChoiceError as error:
        raise ProcedureError(error.code, str(error), fact=error.fact) from None


def _risk_codes(raw: Any, policy: Policy) -> list[str]:
    values = raw if isinstance(raw, list | tuple) else [raw] if raw else []
    codes = sorted({str(v).strip() for v in values if str(v).strip()})
    unknown = [c for c in codes if not _CODES.match(c) or policy.risk_type(c) is None]
    if not codes or unknown:
        raise ProcedureError(
            "missing_fact", "choose at least one known risk type", fact="risk_codes"
        )
    return codes


def _measures(facts: Mapping[str, Any]) -> dict[str, Any]:
    due_raw = _text(facts, "measures_due", 10)
    try:
        due = date.fromisoformat(due_raw) if due_raw else None
    except ValueError:
        raise ProcedureError("bad_date", f"not a date: {due_raw}", fact="measures_due") from None
    return {
        "measures": _text(facts, "measures", 2000),
        "measures_due": due.isoformat() if due else None,
        "reason_detail": _text(facts, "reason_detail", 500),
    }


def _merge_target(session: Session, item: QueueItem, raw: Any, scope: Scope) -> QueueItem:
    code = str(raw or "").strip().upper()
    other = find_by_tracking_code(session, code) if code else None
    if other is None or other.id == item.id or not scope.allows(other):
        raise ProcedureError("bad_merge", f"no other item {code!r} in your area", code=code)
    if other.kind != item.kind:
        raise ProcedureError("bad_merge", f"item {code} cannot take a merge", code=code)
    if other.status in MERGE_REFUSED_TARGETS:
        raise ProcedureError(
            "merge_closed",
            f"item {other.tracking_code} is {other.status}; merge into the open one instead",
            code=other.tracking_code,
            status=other.status,
        )
    return other


def _guard(transition: Transition, item: QueueItem, now: datetime) -> None:
    if transition.action is Action.END_NOTICE and item.due_at is not None and now <= item.due_at:
        ends = item.due_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
        raise ProcedureError("notice_running", f"the public notice runs until {ends}", ends=ends)


def apply(
    session: Session,
    item: QueueItem,
    action: str,
    *,
    scope: Scope,
    actor: str,
    policy: Policy,
    calendar: WorkdayCalendar,
    now: datetime,
    cipher: FieldCipher,
    reason: str | None = None,
    facts: Mapping[str, Any] | None = None,
    sink: Sink | None = None,
) -> Done:
    """Carry out ``action`` on ``item`` or raise :class:`ProcedureError` saying why not.

    ``cipher`` encrypts the reason and free-text facts where they are stored; the sink
    still gets them in clear, to tell the applicant.
    """
    transition = _transition(item, action, scope)
    reason = (reason or "").strip()[:2000] or None
    if transition.reason_required and reason is None:
        raise ProcedureError("reason_required", "a reason is required", action=transition.action)
    checked = _check_facts(session, transition, item, facts or {}, policy, scope)
    _guard(transition, item, now)
    review = _review_step(session, item, transition, checked, reason)
    if transition.action is Action.ENROL:
        helper = _enrolment_helper(session, item, facts or {}, cipher, actor, now)
        checked["helper"], checked["helper_id"] = helper.name, helper.id
    due = _deadline(transition, item, policy, calendar, now)
    source = item.status
    item.status = transition.target
    item.due_at = due
    item.updated_at = now
    if transition.action is Action.MERGE:
        item.merged_into_id = checked["merge_into"]
    if transition.action is Action.ENROL:
        _enrol(session, item, checked, actor, cipher, now)
    if review is not None and transition.action is Action.CONFIRM_OUTCOME:
        outcome = outcomes.Outcome(checked["outcome"])
        outcomes.conclude(session, review, outcome, actor=actor, now=now)
    session.add(item)
    assert item.id is not None
    event = audit.record(
        session,
        actor=actor,
        action=f"procedure.{transition.action.value}",
        subject_kind="queue_item",
        subject_id=item.id,
        at=now,
        reason=cipher.seal(reason),
        data=audit.seal_facts(
            {"from": source, "to": item.status, "due_at": due.isoformat() if due else None}
            | checked,
            cipher,
        ),
    )
    session.flush()
    assert event.id is not None
    done = Done(item, transition, now, reason, checked, event.id)
    if sink is not None:
        sink(session, done)
    return done


def _review_step(
    session: Session,
    item: QueueItem,
    transition: Transition,
    checked: dict[str, Any],
    reason: str | None,
) -> HelpReview | None:
    """Record a review or exit level's decision; a level overruling the one below must give
    a reason. The county's decision itself is carried out by :func:`apply`."""
    level = _STEP_LEVEL.get(transition.action.value)
    if level is None:
        return None
    assert item.id is not None
    review = outcomes.review_of(session, item.id)
    if review is None:
        raise ProcedureError("illegal", "no review behind this item", action=transition.action)
    if reason is None and outcomes.step_differs(review, level, checked["outcome"]):
        raise ProcedureError("reason_required", "a reason is required", action=transition.action)
    if level != "outcome":
        outcomes.record_step(session, review, level, checked["outcome"])
    return review


def _enrol(
    session: Session,
    item: QueueItem,
    checked: dict[str, Any],
    actor: str,
    cipher: FieldCipher,
    now: datetime,
) -> None:
    application = session.exec(
        select(Application).where(Application.queue_item_id == item.id)
    ).first()
    due = checked.get("measures_due")
    assert item.id is not None
    household_id = application.household_id if application else None
    household = session.get(Household, household_id) if household_id is not None else None
    if household is not None and household.category != outcomes.MONITORED:
        household.category, household.updated_at = outcomes.MONITORED, now
        session.add(household)
    if household_id is not None:
        assign_helper(session, cipher, household_id=household_id, helper_id=checked["helper_id"],
                      actor=actor, reason="纳入监测 / enrolment", now=now)  # fmt: skip
    session.add(
        Enrollment(
            queue_item_id=item.id,
            household_id=household_id,
            risk_codes=",".join(checked["risk_codes"]),
            reason_detail_cipher=cipher.seal(checked.get("reason_detail")),
            helper_name=checked["helper"],
            measures_cipher=cipher.seal(checked.get("measures")),
            measures_due=date.fromisoformat(due) if due else None,
            enrolled_by=actor,
            enrolled_at=now,
        )
    )
    item.risk_codes = risk_codes_field(checked["risk_codes"])


def enrolment_text(enrollment: Enrollment, cipher: FieldCipher) -> tuple[str, str]:
    """The enrolment's detailed reason and measures in clear (empty when not given)."""
    reason = cipher.unseal(enrollment.reason_detail_cipher)
    return reason or "", cipher.unseal(enrollment.measures_cipher) or ""


@event.listens_for(Application, "after_insert")
@event.listens_for(Application, "after_update")
def _index_risk_codes(_mapper: Mapper[Any], connection: Connection, target: Application) -> None:
    """Copy the assessment's suggested risk types to the queue item, for the queue's filter.

    Only while the item has none: the county's confirmed types (set on enrolment) win.
    """
    if target.queue_item_id is None or not target.assessment:
        return
    codes = [
        str(rt.get("code")) for rt in target.assessment.get("risk_types", []) if rt.get("code")
    ]
    if not codes:
        return
    table = QueueItem.__table__  # type: ignore[attr-defined]
    connection.execute(
        update(table)
        .where(table.c.id == target.queue_item_id, table.c.risk_codes.is_(None))
        .values(risk_codes=risk_codes_field(sorted(set(codes))))
    )
