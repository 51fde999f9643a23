"""The report procedure as one explicit state machine.

::

    received ─accept→ accepted ─investigate→ investigating ─answer→ answered ─close→ closed
        │                 └──────────────answer──────────────────────┘    │
        └─ refer (not ours, with where) · mark unfounded (reason) · merge (linked both ways)
    answered / closed ─object (the reporter, once, within N days)→ received, one level up

Every cadre move is one row of :data:`TRANSITIONS`; :func:`apply` is the only way a cadre
changes a report: it checks the row, that the user may act on the report
(:func:`~intake.reports.routing.may_act`), the reason and the facts, stamps the dates,
and writes the audit event, all in the caller's transaction. The reporter's one objection
is :func:`object_to`. Anything else is refused with a :class:`ProcedureError` that says,
Chinese first, what is allowed instead. Answers and reasons are written encrypted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlmodel import Session, select

from intake import audit
from intake.crypto import FieldCipher
from intake.notices import NoticePoster
from intake.queue import ItemKind, QueueItem, find_by_tracking_code
from intake.reports.filing import audit_time, deadlines, local_day
from intake.reports.kinds import Level, ReportKind, ReportRules
from intake.reports.models import FINAL_STATES, SUBJECT_KIND, Report, ReportState, history
from intake.reports.notices import answer_notices
from intake.reports.routing import level_above, may_act
from intake.tracking import normalize_tracking_code
from intake.users import User
from intake.workdays import WorkdayCalendar

__all__ = [
    "TRANSITIONS",
    "Action",
    "Done",
    "ProcedureError",
    "Transition",
    "apply",
    "available",
    "next_due",
    "object_to",
    "objection_open_until",
    "overdue",
]

R = ReportState
_OPEN = frozenset({R.RECEIVED, R.ACCEPTED, R.INVESTIGATING})
MAX_ANSWER = 4000


class Action(StrEnum):
    """What a cadre can do to a report."""

    ACCEPT = "accept"
    INVESTIGATE = "investigate"
    ANSWER = "answer"
    CLOSE = "close"
    REFER = "refer"
    UNFOUNDED = "mark_unfounded"
    MERGE = "merge"
    #: A tip found true: the household's application (the cadre's visit helped it apply,
    #: on the console or in person) is linked both ways, so the two routes meet.
    LINK_APPLICATION = "link_application"


@dataclass(frozen=True)
class Transition:
    """One legal move: from which states, by which action, to which state, with what."""

    sources: frozenset[ReportState]
    action: Action
    target: ReportState
    reason_required: bool = False
    #: Facts the form must carry: ``assignee_id``, ``answer``, ``referred_to``, ``into``.
    facts: tuple[str, ...] = ()


TRANSITIONS: tuple[Transition, ...] = (
    Transition(frozenset({R.RECEIVED}), Action.ACCEPT, R.ACCEPTED, facts=("assignee_id",)),
    Transition(frozenset({R.ACCEPTED}), Action.INVESTIGATE, R.INVESTIGATING),
    Transition(
        frozenset({R.ACCEPTED, R.INVESTIGATING}), Action.ANSWER, R.ANSWERED, facts=("answer",)
    ),
    Transition(frozenset({R.ANSWERED}), Action.CLOSE, R.CLOSED),
    Transition(_OPEN, Action.REFER, R.REFERRED, facts=("referred_to",)),
    Transition(_OPEN, Action.UNFOUNDED, R.UNFOUNDED, reason_required=True),
    Transition(_OPEN, Action.MERGE, R.MERGED, facts=("into",)),
    Transition(
        frozenset({R.ACCEPTED, R.INVESTIGATING}),
        Action.LINK_APPLICATION,
        R.INVESTIGATING,
        facts=("item_code",),
    ),
)
#: Only a tip (线索) is about a household that may apply.
_TIPS_ONLY = frozenset({Action.LINK_APPLICATION})


class ProcedureError(ValueError):
    """A move the procedure does not allow; the message is Chinese first, then English."""


@dataclass(frozen=True)
class Done:
    """A move made: the report, and every report whose reporter should now hear of it
    (the report and those merged into it; a named one by the outbox, the others by code)."""

    report: Report
    notify: tuple[Report, ...] = ()


def available(report: Report) -> list[Action]:
    """The actions the procedure allows from the report's state, in table order."""
    return [
        t.action
        for t in TRANSITIONS
        if ReportState(report.state) in t.sources
        and (t.action not in _TIPS_ONLY or report.kind == ReportKind.TIP)
    ]


def _refuse(zh: str, en: str) -> ProcedureError:
    return ProcedureError(f"{zh} / {en}")


def _transition(report: Report, action: Action) -> Transition:
    state = ReportState(report.state)
    for row in TRANSITIONS:
        if row.action is action and state in row.sources:
            return row
    allowed = "、".join(a.value for a in available(report)) or "—"
    raise _refuse(
        f"当前状态（{state.value}）不能进行此操作；可以：{allowed}。",
        f"{action.value} is not allowed from {state.value}; allowed: {allowed}.",
    )


def _text_fact(facts: Mapping[str, Any], key: str, limit: int) -> str:
    value = str(facts.get(key) or "").strip()
    if not value or len(value) > limit:
        raise _refuse(f"请填写{key}（不超过{limit}字）。", f"Please fill in {key} (≤ {limit}).")
    return value


def _assignee(session: Session, report: Report, facts: Mapping[str, Any]) -> User:
    raw = facts.get("assignee_id")
    user = session.get(User, raw) if isinstance(raw, int) else None
    if user is None or not user.active or not may_act(user.scope(), report):
        raise _refuse(
            "请指定一位能办理这件事的干部（不能是被反映的那一级）。",
            "Please assign a person who may handle this report (not the level it concerns).",
        )
    return user


def _merge_target(session: Session, user: User, report: Report, raw: Any) -> Report:
    target = session.get(Report, raw) if isinstance(raw, int) else None
    same_unit = target is not None and (
        (target.region_code, target.township_code, target.village_code, target.routed_level)
        == (report.region_code, report.township_code, report.village_code, report.routed_level)
    )
    if (
        target is None
        or target.id == report.id
        or ReportState(target.state) in FINAL_STATES
        or not same_unit
        or not may_act(user.scope(), target)
    ):
        raise _refuse(
            "只能并入同一处办理、尚未办结的另一件反映。",
            "A report can only be merged into another open one handled at the same place.",
        )
    return target


def _application_of(session: Session, report: Report, raw: Any) -> QueueItem:
    """The application a tip is linked to: by its tracking code, in the tip's village."""
    if report.kind != ReportKind.TIP:
        raise _refuse("只有线索可以关联申请。", "Only a tip can be linked to an application.")
    code = normalize_tracking_code(str(raw or "")) if str(raw or "").strip() else ""
    item = find_by_tracking_code(session, code) if code else None
    if item is None or item.kind != ItemKind.APPLICATION:
        raise _refuse("没有找到这个申请编号。", "No application has this tracking code.")
    if item.village_code != report.village_code:
        raise _refuse("这个申请不是本村的，不能关联。", "That application is from another village.")
    return item


def _merge(session: Session, user: User, report: Report, target: Report, now: datetime) -> None:
    """Link ``report`` into ``target`` both ways; reports merged into it follow it."""
    assert report.id is not None and target.id is not None
    query = select(Report).where(Report.merged_into_id == report.id)
    followers = [r for r in session.exec(query) if r.id != report.id]
    for follower in (report, *followers):
        follower.merged_into_id = target.id
        session.add(follower)
        _record(session, user, target, "report.merged_from", now, {"from": follower.tracking_code})
        if follower is not report:
            _record(session, user, follower, "report.remerged", now, {"into": target.tracking_code})


def _record(
    session: Session,
    user: User,
    report: Report,
    action: str,
    now: datetime,
    data: dict[str, Any],
    reason: str | None = None,
) -> None:
    assert report.id is not None and user.id is not None
    audit.record(
        session,
        actor=audit.user_actor(user.id),
        action=action,
        subject_kind=SUBJECT_KIND,
        subject_id=report.id,
        at=now,
        reason=reason,
        data=data,
    )


def apply(
    session: Session,
    report: Report,
    action: Action,
    *,
    user: User,
    cipher: FieldCipher,
    now: datetime,
    reason: str | None = None,
    facts: Mapping[str, Any] | None = None,
    post: NoticePoster | None = None,
    rules: ReportRules | None = None,
) -> Done:
    """Make one cadre move on ``report``; :class:`ProcedureError` if it is not allowed.

    With ``post`` (the composition root's outbox writer) and the region's ``rules``, an
    answer is sent to each named reporter's chat in this transaction
    (:func:`~intake.reports.notices.answer_notices`); the others read it by code.
    """
    facts = facts or {}
    if not may_act(user.scope(), report):
        raise _refuse("您不能办理这件反映。", "You may not act on this report.")
    row = _transition(report, action)
    reason = (reason or "").strip() or None
    if row.reason_required and not reason:
        raise _refuse("请写明理由。", "Please give the reason.")
    today = local_day(now)
    data: dict[str, Any] = {"from": report.state, "to": row.target.value}
    notify: tuple[Report, ...] = ()
    if action is Action.ACCEPT:
        report.assignee_id = _assignee(session, report, facts).id
        data["assignee_id"] = report.assignee_id
    elif action is Action.ANSWER:
        answer = _text_fact(facts, "answer", MAX_ANSWER)
        report.answer_cipher = cipher.encrypt(answer)
        report.answered_on = today
        data["answer"] = cipher.encrypt(answer)
        assert report.id is not None
        merged = session.exec(select(Report).where(Report.merged_into_id == report.id))
        notify = (report, *sorted(merged, key=lambda r: r.id or 0))
    elif action is Action.REFER:
        report.referred_to = _text_fact(facts, "referred_to", 128)
        data["referred_to"] = report.referred_to
    elif action is Action.MERGE:
        target = _merge_target(session, user, report, facts.get("into"))
        _merge(session, user, report, target, now)
        data["into"] = target.tracking_code
    elif action is Action.LINK_APPLICATION:
        item = _application_of(session, report, facts.get("item_code"))
        data["item_code"] = item.tracking_code
        assert item.id is not None
        audit.record(
            session, actor=audit.user_actor(user.id or 0), action="item.report_linked",
            subject_kind="queue_item", subject_id=item.id, at=now,
            data={"report": report.tracking_code},
        )  # fmt: skip
    if report.first_response_on is None:
        report.first_response_on = today
    if row.target in FINAL_STATES:
        report.closed_on = today
    report.state = row.target.value
    session.add(report)
    _record(session, user, report, f"report.{action.value}", now, data, cipher.seal(reason))
    if post is not None and rules is not None and action is Action.ANSWER:
        answer = str(facts.get("answer") or "").strip()
        for notice in answer_notices(
            session, notify, answer=answer, answered=report, rules=rules, at=now
        ):
            post(session, notice)
    return Done(report, notify)


def objection_open_until(report: Report, rules: ReportRules) -> date | None:
    """The last day the reporter may object, or ``None`` if they cannot (any more)."""
    if report.objected or report.answered_on is None:
        return None
    if ReportState(report.state) not in (R.ANSWERED, R.CLOSED):
        return None
    return report.answered_on + timedelta(days=rules.objection_days)


def object_to(
    session: Session,
    report: Report,
    *,
    reason: str,
    rules: ReportRules,
    calendar: WorkdayCalendar,
    cipher: FieldCipher,
    now: datetime,
    actor: str = audit.contact_actor(None),
) -> Report:
    """The reporter's one objection: the report reopens, received, at the level above,
    with fresh deadlines counted from today. The answer given stays in the history."""
    last_day = objection_open_until(report, rules)
    today = local_day(now)
    if last_day is None or today > last_day:
        raise _refuse(
            "这件反映已不能再提出异议（每件只能在答复后规定天数内提出一次）。",
            "This report can no longer be objected to (once, within the days after the answer).",
        )
    text = reason.strip()
    if not text or len(text) > MAX_ANSWER:
        raise _refuse("请写下您不同意的地方。", "Please say what you disagree with.")
    rule = rules.kind(report.kind)
    was = report.routed_level
    report.objected = True
    report.routed_level = level_above(Level(report.routed_level)).value
    report.route_reason = "objection"
    report.state = R.RECEIVED.value
    report.assignee_id, report.answer_cipher = None, None
    report.first_response_on, report.answered_on, report.closed_on = None, None, None
    report.clock_from = today
    report.first_response_due, report.answer_due, report.due_estimated = deadlines(
        today, rule.first_response_working_days, rule.answer_working_days, calendar
    )
    session.add(report)
    assert report.id is not None
    audit.record(
        session,
        actor=actor,
        action="report.objected",
        subject_kind=SUBJECT_KIND,
        subject_id=report.id,
        at=_reporter_time(session, report, now),
        reason=cipher.encrypt(text),
        data={"from_level": was, "to_level": report.routed_level},
    )
    return report


def _reporter_time(session: Session, report: Report, now: datetime) -> datetime:
    """When to stamp an anonymous reporter's own act: the start of the day, or the report's
    latest event if later that day, so the history keeps its order while the time still
    says nothing about when the reporter's chat was active."""
    stamp = audit_time(now, anonymous=report.anonymous)
    if not report.anonymous or report.id is None:
        return stamp
    events = history(session, report.id)
    return max(stamp, events[-1].at) if events else stamp


def next_due(report: Report) -> tuple[str, date] | None:
    """What is due next and by when: ``("first_response", day)``, ``("answer", day)``, or
    ``None`` once answered or finished. Overdue reports climb the digest ladder by it."""
    state = ReportState(report.state)
    if state not in _OPEN:
        return None
    if report.first_response_on is None:
        return "first_response", report.first_response_due
    return "answer", report.answer_due


def overdue(reports: list[Report], today: date) -> list[Report]:
    """The reports whose next deadline has passed, oldest deadline first."""
    late = [(due[1], r) for r in reports if (due := next_due(r)) is not None and due[1] < today]
    return [r for _, r in sorted(late, key=lambda pair: (pair[0], pair[1].id or 0))]
