"""Opening the 1-year reviews and the exits, once a day (the jobs table calls it).

:func:`open_due_reviews` finds, in every region:

- households helped for a year (category ``monitored``, counted from the county's
  enrolment, or from the last decision that help continues or starts again) without a
  review for that year: a ``review`` item opens in the village's queue;
- households a year into their follow-up (category ``followup``, counted from the
  county's "risk eliminated") without an exit for that year: an ``exit`` item opens.

Each item walks village → township → county (:mod:`intake.procedure`), and the applicant
hears of the opening and each decision in their language (:mod:`intake.notices`). Opening
is idempotent: one :class:`~intake.helpers.models.HelpReview` per household, kind and
year started (a unique key), so a second run, or a second process, opens nothing twice.
A household that came in by the roster import without an enrolment here counts its year
from the day a roster first listed it (PROJECT CHOICE: the roster's columns, seed 001
附件1, carry no date of inclusion); its review opens in its village's queue all the same,
with no applicant to tell.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from intake import audit
from intake.contacts import Contact
from intake.db import Database
from intake.helpers.models import HelpReview, RosterEntry
from intake.helpers.outcomes import MONITORED, Outcome
from intake.helpers.visits import FOLLOWUP
from intake.households import Household
from intake.notices import Notice, NoticePoster
from intake.policy import Policy
from intake.procedure import Enrollment
from intake.queue import ItemKind, ItemStatus, QueueItem, allocate_tracking_code
from intake.workdays import SHANGHAI
from locales import normalize_locale, translate

__all__ = ["Due", "due_reviews", "open_due_reviews", "year_after"]

#: Where each kind of year starts from (the decisions that start a year of help).
_STARTS_HELP = (Outcome.HELP_CONTINUES.value, Outcome.HELP_AGAIN.value)
_OPENING_NOTICE = {ItemKind.REVIEW: "notice.review_opened", ItemKind.EXIT: "notice.exit_opened"}


def year_after(day: date) -> date:
    """The same day a year later (28 February for 29 February)."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return day.replace(year=day.year + 1, day=28)


@dataclass(frozen=True)
class Due:
    """One household whose year is up."""

    household_id: int
    kind: ItemKind
    period_start: date
    #: The enrolment's item (for the place and the applicant to tell); ``None`` for a
    #: household known only from the roster.
    enrolment_item_id: int | None


def _local(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


def _starts(session: Session) -> dict[int, tuple[str, date, int | None]]:
    """Per enrolled or rostered household: the category its current year belongs to, the
    day the year began and the enrolment's item (``None``: only the roster knows it)."""
    enrolled = select(
        Enrollment.household_id,
        func.max(Enrollment.enrolled_at),
        func.max(Enrollment.queue_item_id),
    ).where(col(Enrollment.household_id).is_not(None))
    starts: dict[int, tuple[str, date, int | None]] = {}
    listed = select(RosterEntry.household_id, RosterEntry.listed_at).where(
        col(RosterEntry.listed_at).is_not(None)
    )
    for rostered, listed_at in session.exec(listed):
        starts[int(rostered)] = (MONITORED, _local(listed_at), None)  # type: ignore[arg-type]
    for household_id, at, item_id in session.exec(enrolled.group_by(col(Enrollment.household_id))):
        starts[int(household_id or 0)] = (MONITORED, _local(at), int(item_id))  # enrolment wins
    decided = select(HelpReview).where(col(HelpReview.decided_at).is_not(None))
    for review in session.exec(decided.order_by(col(HelpReview.decided_at))):
        if review.household_id not in starts or review.decided_at is None:
            continue
        _, since, enrolment_item = starts[review.household_id]
        day = _local(review.decided_at)
        if day < since:
            continue  # decided before a later enrolment (the household applied again)
        if review.outcome in _STARTS_HELP:
            starts[review.household_id] = (MONITORED, day, enrolment_item)
        elif review.outcome == Outcome.RISK_ELIMINATED:
            starts[review.household_id] = (FOLLOWUP, day, enrolment_item)
    return starts


def due_reviews(session: Session, today: date) -> list[Due]:
    """The households whose year of help or of follow-up is up and not yet reviewed."""
    starts = _starts(session)
    if not starts:
        return []
    # No list of ids in the SQL: a county's roster would pass PostgreSQL's parameter limit.
    query = select(Household.id, Household.category).where(
        col(Household.category).in_([MONITORED, FOLLOWUP])
    )
    categories = {int(h or 0): c for h, c in session.exec(query)}
    reviews = select(
        col(HelpReview.household_id), col(HelpReview.kind), col(HelpReview.period_start)
    )
    opened = {(int(h), str(k), day) for h, k, day in session.exec(reviews)}
    found = []
    for household_id, (category, start, item_id) in sorted(starts.items()):
        if categories.get(household_id) != category or year_after(start) > today:
            continue
        kind = ItemKind.REVIEW if category == MONITORED else ItemKind.EXIT
        if (household_id, kind.value, start) not in opened:
            found.append(Due(household_id, kind, start, item_id))
    return found


def open_due_reviews(
    db: Database,
    *,
    policies: dict[str, Policy],
    now: datetime,
    new_code: Callable[[], str],
    post_notice: NoticePoster | None = None,
) -> int:
    """Open today's reviews and exits (one transaction each); returns how many opened.

    For the jobs table: call it daily (any time; it is idempotent).
    """
    with db.read() as session:
        due = due_reviews(session, _local(now))
    opened = 0
    for one in due:
        try:
            with db.write() as session:
                opened += _open(session, one, policies, now, new_code, post_notice)
        except IntegrityError:
            continue  # another process opened it first
    return opened


def _open(
    session: Session,
    due: Due,
    policies: dict[str, Policy],
    now: datetime,
    new_code: Callable[[], str],
    post_notice: NoticePoster | None,
) -> int:
    household = session.get(Household, due.household_id)
    enrolment = session.get(QueueItem, due.enrolment_item_id) if due.enrolment_item_id else None
    if household is None:
        return 0
    place = _place(household.village_code, enrolment, policies)
    if place is None:
        return 0  # a village no policy knows any more: nobody's queue to open it in
    policy, region, township = place
    days = policy.time_limits.decision_days
    item = QueueItem(
        kind=due.kind.value,
        status=ItemStatus.VILLAGE_REVIEW,
        tracking_code=allocate_tracking_code(session, new_code),
        region_code=region,
        township_code=township,
        village_code=household.village_code,
        due_at=datetime.combine(_local(now) + timedelta(days=days), time(23, 59, 59), SHANGHAI),
        contact_id=enrolment.contact_id if enrolment else None,
        created_at=now,
        updated_at=now,
    )
    session.add(item)
    session.flush()
    assert item.id is not None
    review = HelpReview(
        queue_item_id=item.id,
        household_id=due.household_id,
        kind=due.kind.value,
        period_start=due.period_start,
        opened_at=now,
    )
    session.add(review)
    session.flush()
    event = audit.record(
        session, actor=audit.SYSTEM, action=f"{due.kind.value}.opened", subject_kind="queue_item",
        subject_id=item.id, at=now,
        data={"household": due.household_id, "since": due.period_start.isoformat()},
    )  # fmt: skip
    session.flush()
    if post_notice is not None:
        _tell(session, item, event.id or 0, now, post_notice)
    return 1


def _place(
    village: str, enrolment: QueueItem | None, policies: dict[str, Policy]
) -> tuple[Policy, str, str] | None:
    """The policy, region and township a review opens under: the enrolment's, or those of
    the household's village."""
    if enrolment is not None:
        policy = policies.get(enrolment.region_code) or next(iter(policies.values()))
        return policy, enrolment.region_code, enrolment.township_code
    for code, policy in policies.items():
        for township, place in policy.villages():
            if place.code == village:
                return policy, code, township.code
    return None


def _tell(
    session: Session, item: QueueItem, event_id: int, now: datetime, post: NoticePoster
) -> None:
    """Tell the household's applicant that the review (or exit) has begun."""
    contact = session.get(Contact, item.contact_id) if item.contact_id else None
    if contact is None or contact.id is None or contact.stopped_at is not None:
        return
    locale = normalize_locale(contact.language)
    kind = ItemKind(item.kind)
    text = "\n".join(
        (
            translate(locale, "notice.header", code=item.tracking_code),
            translate(locale, _OPENING_NOTICE[kind]),
        )
    )
    post(session, Notice(contact.id, contact.channel, contact.external_id, locale, text,
                         f"notice:{item.id}:{event_id}", now))  # fmt: skip
