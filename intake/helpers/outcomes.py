"""The 1-year review and the exit: the outcomes each level decides, and what they change.

Help lasts a year in principle; then the village proposes, the township checks and the
county decides (000 五(二), 001 三(三)) whether the risk is gone:

- ``review`` → **risk eliminated** (风险消除): the household enters its follow-up year
  (category :data:`~intake.helpers.visits.FOLLOWUP`, visits every
  ``followup_visit_months``), or **help continues** for another year;
- ``exit`` (after the follow-up year) → **exit** (退出监测): the household leaves the
  ledger and its helper's list, or **help again** if the risk came back.

Each level's outcome is kept on the :class:`~intake.helpers.models.HelpReview` row; a level
that decides otherwise than the one below must give a reason (the procedure checks it).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Session, select

from intake import audit
from intake.helpers.models import HelperAssignment, HelpReview
from intake.helpers.visits import FOLLOWUP
from intake.households import Household

__all__ = [
    "EXITED",
    "MONITORED",
    "OUTCOMES",
    "Outcome",
    "conclude",
    "record_step",
    "review_of",
    "step_differs",
]

MONITORED = "monitored"
EXITED = "exited"


class Outcome(StrEnum):
    """What a review or an exit can conclude."""

    RISK_ELIMINATED = "risk_eliminated"
    HELP_CONTINUES = "help_continues"
    EXIT = "exit"
    HELP_AGAIN = "help_again"


#: The outcomes open to each kind of item.
OUTCOMES: dict[str, tuple[Outcome, ...]] = {
    "review": (Outcome.RISK_ELIMINATED, Outcome.HELP_CONTINUES),
    "exit": (Outcome.EXIT, Outcome.HELP_AGAIN),
}
#: The household's category after the county's decision.
_CATEGORY = {
    Outcome.RISK_ELIMINATED: FOLLOWUP,
    Outcome.HELP_CONTINUES: MONITORED,
    Outcome.EXIT: EXITED,
    Outcome.HELP_AGAIN: MONITORED,
}
#: Which column each level's decision is kept in.
LEVELS = ("proposed", "checked", "outcome")


def review_of(session: Session, item_id: int) -> HelpReview | None:
    """The review or exit row of a queue item."""
    return session.exec(select(HelpReview).where(HelpReview.queue_item_id == item_id)).first()


def step_differs(review: HelpReview, level: str, outcome: str) -> bool:
    """Whether ``level`` decides otherwise than the level below it did."""
    below = {"checked": review.proposed, "outcome": review.checked}.get(level)
    return below is not None and below != outcome


def record_step(session: Session, review: HelpReview, level: str, outcome: str) -> None:
    """Keep one level's decision on the review row."""
    assert level in LEVELS
    setattr(review, level, outcome)
    session.add(review)


def conclude(
    session: Session, review: HelpReview, outcome: Outcome, *, actor: str, now: datetime
) -> None:
    """The county's decision: the household's category changes (and on exit its helper's
    assignment ends), written to the household's audit trail."""
    record_step(session, review, "outcome", outcome.value)
    review.decided_at = now
    household = session.get(Household, review.household_id)
    if household is None:
        return
    before = household.category
    household.category = _CATEGORY[outcome]
    household.updated_at = now
    session.add(household)
    if outcome is Outcome.EXIT:
        _end_help(session, review.household_id, now)
    audit.record(
        session,
        actor=actor,
        action=f"household.{outcome.value}",
        subject_kind="household",
        subject_id=review.household_id,
        at=now,
        data={"from": before, "to": household.category, "item": review.queue_item_id},
    )


def _end_help(session: Session, household_id: int, now: datetime) -> None:
    """An exited household leaves its helper's list (the history stays)."""
    query = select(HelperAssignment).where(
        HelperAssignment.household_id == household_id,
        HelperAssignment.ended_at == None,  # noqa: E711 (SQL IS NULL)
    )
    for assignment in session.exec(query):
        assignment.ended_at = now
        session.add(assignment)
